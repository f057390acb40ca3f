//! The `faults=` parameter of the `bh` and `iomap` targets: device faults for fsimpl's
//! [`FaultDev`](fsimpl::dev::FaultDev) and allocator faults for its mount options.
//!
//! A comma-separated list (no `:`, which separates target parameters):
//!
//! | item             | fault                                                                 |
//! |------------------|-----------------------------------------------------------------------|
//! | `read=N`         | the Nth read bio fails with EIO; `read=N+`: it and every later one    |
//! | `write=N`        | the Nth write bio fails with EIO; `write=N+`: it and every later one  |
//! | `range=A-B`      | every bio touching filesystem blocks A to B (inclusive) fails, EIO    |
//! | `short=N`        | the Nth write bio lands only its first block, then fails with EIO     |
//! | `short=N@BYTES`  | the same, landing BYTES (a multiple of 512; `8k` style suffixes)      |
//! | `enospc=N`       | ENOSPC once N data blocks are in use or reserved                      |
//! | `powercut=N`     | power cut right after the Nth write bio: writes since the last flush  |
//! |                  | are undone, later ones dropped until the next remount, which mounts   |
//! |                  | from what the device kept                                             |
//! | `powercut=armed` | the harness keeps an undo log and cuts the power when it chooses      |
//! |                  | (`diff --powercut-every K`)                                           |
//!
//! Bios are counted from when the fresh filesystem is mounted (the job's layout included), in
//! the order the filesystem submits them. Example: `bh:faults=write=10+,enospc=5000`.

use fsimpl::FsFaults;
use fsimpl::dev::{BadRange, FaultPlan, NthBio, PowerCut, ShortWrite};

use super::spec::parse_size;

/// What a `faults=` value asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSpec {
    /// Device faults.
    pub plan: FaultPlan,
    /// Allocator faults.
    pub fs: FsFaults,
}

impl FaultSpec {
    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty() && self.fs == FsFaults::default()
    }
}

/// Parses a `faults=` value for a filesystem of `block_size`-byte blocks. The error is one
/// line saying which item is wrong and what is expected.
pub fn parse_faults(value: &str, block_size: u64) -> Result<FaultSpec, String> {
    let mut spec = FaultSpec::default();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((kind, arg)) = item.split_once('=') else {
            return Err(format!("fault '{item}' is not kind=value (e.g. write=10)"));
        };
        let bad = |what: &str| format!("fault '{item}': {what}");
        match kind {
            "read" | "write" => {
                let (n, sticky) = match arg.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (arg, false),
                };
                let n = bio_number(n).ok_or_else(|| bad("give a bio number from 1, with + for every later one too"))?;
                let nth = Some(NthBio { n, sticky });
                if kind == "read" {
                    spec.plan.read = nth;
                } else {
                    spec.plan.write = nth;
                }
            }
            "range" => {
                let (a, b) = arg.split_once('-').ok_or_else(|| bad("give a block range FIRST-LAST"))?;
                let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
                    return Err(bad("give a block range FIRST-LAST, in filesystem blocks"));
                };
                let start = a.checked_mul(block_size);
                let end = b.checked_add(1).and_then(|e| e.checked_mul(block_size));
                if a > b {
                    return Err(bad("the first block must not be after the last"));
                }
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(bad("the blocks lie beyond any device"));
                };
                spec.plan.bad_ranges.push(BadRange { start, end });
            }
            "short" => {
                let (n, landed) = match arg.split_once('@') {
                    Some((n, bytes)) => {
                        let bytes = parse_size(bytes)
                            .filter(|b| b.is_multiple_of(512))
                            .ok_or_else(|| bad("the bytes that land must be a size, a multiple of 512"))?;
                        (n, bytes)
                    }
                    None => (arg, block_size),
                };
                let n = bio_number(n).ok_or_else(|| bad("give a write bio number from 1"))?;
                spec.plan.short_write = Some(ShortWrite { n, landed });
            }
            "enospc" => {
                let n = arg.parse::<u64>().map_err(|_| bad("give a number of blocks"))?;
                spec.fs.alloc_limit = Some(n);
            }
            "powercut" if arg.trim() == "armed" => spec.plan.power_cut = Some(PowerCut::OnDemand),
            "powercut" => {
                let n = bio_number(arg).ok_or_else(|| bad("give a write bio number from 1, or armed"))?;
                spec.plan.power_cut = Some(PowerCut::AfterWrite(n));
            }
            _ => {
                return Err(format!(
                    "unknown fault '{kind}' in '{item}' (known: read, write, range, short, enospc, powercut)"
                ));
            }
        }
    }
    Ok(spec)
}

/// A 1-based bio number.
fn bio_number(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok().filter(|&n| n > 0)
}

/// The normal form of a fault spec, as `parse_faults` reads it back.
pub fn format_faults(spec: &FaultSpec, block_size: u64) -> String {
    let mut items = Vec::new();
    let nth = |kind: &str, n: NthBio| format!("{kind}={}{}", n.n, if n.sticky { "+" } else { "" });
    if let Some(n) = spec.plan.read {
        items.push(nth("read", n));
    }
    if let Some(n) = spec.plan.write {
        items.push(nth("write", n));
    }
    for r in &spec.plan.bad_ranges {
        items.push(format!("range={}-{}", r.start / block_size, r.end / block_size - 1));
    }
    if let Some(s) = spec.plan.short_write {
        items.push(format!("short={}@{}", s.n, s.landed));
    }
    if let Some(n) = spec.fs.alloc_limit {
        items.push(format!("enospc={n}"));
    }
    match spec.plan.power_cut {
        Some(PowerCut::AfterWrite(n)) => items.push(format!("powercut={n}")),
        Some(PowerCut::OnDemand) => items.push("powercut=armed".into()),
        None => {}
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_parses_and_prints_back() {
        let text = "read=5,write=10+,range=1000-1010,short=3,enospc=100,powercut=50";
        let s = parse_faults(text, 4096).unwrap();
        assert_eq!(s.plan.read, Some(NthBio::once(5)));
        assert_eq!(s.plan.write, Some(NthBio::from_then_on(10)));
        assert_eq!(s.plan.bad_ranges, vec![BadRange { start: 1000 * 4096, end: 1011 * 4096 }]);
        assert_eq!(s.plan.short_write, Some(ShortWrite { n: 3, landed: 4096 }));
        assert_eq!(s.fs.alloc_limit, Some(100));
        assert_eq!(s.plan.power_cut, Some(PowerCut::AfterWrite(50)));
        let printed = format_faults(&s, 4096);
        assert_eq!(printed, "read=5,write=10+,range=1000-1010,short=3@4096,enospc=100,powercut=50");
        assert_eq!(parse_faults(&printed, 4096).unwrap(), s);
        assert_eq!(parse_faults("short=2@8k", 1024).unwrap().plan.short_write, Some(ShortWrite { n: 2, landed: 8192 }));
        assert!(parse_faults("", 4096).unwrap().is_empty());
        let armed = parse_faults("powercut=armed", 4096).unwrap();
        assert_eq!(armed.plan.power_cut, Some(PowerCut::OnDemand));
        assert_eq!(format_faults(&armed, 4096), "powercut=armed");
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        let e = |t: &str| parse_faults(t, 4096).unwrap_err();
        assert_eq!(e("read"), "fault 'read' is not kind=value (e.g. write=10)");
        assert_eq!(e("read=0"), "fault 'read=0': give a bio number from 1, with + for every later one too");
        assert_eq!(e("range=9-3"), "fault 'range=9-3': the first block must not be after the last");
        assert_eq!(e("range=x"), "fault 'range=x': give a block range FIRST-LAST");
        assert_eq!(e("short=1@100"), "fault 'short=1@100': the bytes that land must be a size, a multiple of 512");
        assert_eq!(e("enospc=-1"), "fault 'enospc=-1': give a number of blocks");
        assert_eq!(
            e("explode=1"),
            "unknown fault 'explode' in 'explode=1' (known: read, write, range, short, enospc, powercut)"
        );
        assert_eq!(
            e(&format!("range=0-{}", u64::MAX)),
            format!("fault 'range=0-{}': the blocks lie beyond any device", u64::MAX)
        );
    }
}
