//! The `faults=` parameter of the `bh` and `iomap` targets, and of `ext4` and `xfs` targets on
//! the device the harness serves (`dev=logged`), as written: which bios fail, where, and when
//! the power is cut. The harness turns it into fsimpl's device and allocator faults, or into
//! the served device's faults (all but `enospc=`, which kernel targets refuse).
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
//! | `powercut=armed` | (fsimpl) the harness keeps an undo log and cuts the power when it     |
//! |                  | chooses: `aopsbench diff`'s power cut ops                              |
//!
//! Bios are counted from when the fresh filesystem is mounted (the job's layout included), in
//! the order the filesystem submits them. Example: `bh:faults=write=10+,enospc=5000`.

use std::fmt;
use std::str::FromStr;

use crate::aops::BLOCK_SIZES;
use crate::error::ValueError;
use crate::size::Size;

/// One item of a `faults=` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `read=N[+]`.
    Read {
        /// 1-based bio number.
        n: u64,
        /// `+`: that bio and every later one.
        and_later: bool,
    },
    /// `write=N[+]`.
    Write {
        /// 1-based bio number.
        n: u64,
        /// `+`: that bio and every later one.
        and_later: bool,
    },
    /// `range=FIRST-LAST`: filesystem blocks, inclusive.
    Range {
        /// First block.
        first: u64,
        /// Last block.
        last: u64,
    },
    /// `short=N[@BYTES]`.
    Short {
        /// 1-based write bio number.
        n: u64,
        /// Bytes that land; `None`: one filesystem block.
        landed: Option<Size>,
    },
    /// `enospc=N`: blocks in use or reserved before allocations fail.
    Enospc(u64),
    /// `powercut=N`: after the Nth write bio.
    Powercut(u64),
    /// `powercut=armed`: when the harness says (fsimpl targets only).
    PowercutArmed,
}

/// A `faults=` list, in the order given (a later item of a kind replaces an earlier one, as
/// the harness applies them in turn). Empty: no faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultList(pub Vec<Fault>);

impl FaultList {
    /// Whether no fault is asked for.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the block ranges against a filesystem of `block_size`-byte blocks (parsing
    /// checked them against fsimpl's largest block size; a kernel filesystem's may be larger).
    pub fn check_block_size(&self, block_size: u64) -> Result<(), ValueError> {
        for fault in &self.0 {
            if let Fault::Range { last, .. } = *fault
                && !range_fits(last, block_size)
            {
                return Err(ValueError::new(format!("fault '{fault}': the blocks lie beyond any device")));
            }
        }
        Ok(())
    }
}

/// Whether the byte just past block `last` of `block_size`-byte blocks is a device offset.
fn range_fits(last: u64, block_size: u64) -> bool {
    last.checked_add(1).and_then(|e| e.checked_mul(block_size)).is_some()
}

/// A 1-based bio number.
fn bio_number(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok().filter(|&n| n > 0)
}

impl FromStr for Fault {
    type Err = ValueError;
    fn from_str(item: &str) -> Result<Fault, ValueError> {
        let Some((kind, arg)) = item.split_once('=') else {
            return Err(ValueError::new(format!("fault '{item}' is not kind=value (e.g. write=10)")));
        };
        let bad = |what: &str| ValueError::new(format!("fault '{item}': {what}"));
        Ok(match kind {
            "read" | "write" => {
                let (n, and_later) = match arg.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (arg, false),
                };
                let n = bio_number(n).ok_or_else(|| bad("give a bio number from 1, with + for every later one too"))?;
                if kind == "read" { Fault::Read { n, and_later } } else { Fault::Write { n, and_later } }
            }
            "range" => {
                let (a, b) = arg.split_once('-').ok_or_else(|| bad("give a block range FIRST-LAST"))?;
                let (Ok(first), Ok(last)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
                    return Err(bad("give a block range FIRST-LAST, in filesystem blocks"));
                };
                if first > last {
                    return Err(bad("the first block must not be after the last"));
                }
                if !range_fits(last, BLOCK_SIZES[BLOCK_SIZES.len() - 1]) {
                    return Err(bad("the blocks lie beyond any device"));
                }
                Fault::Range { first, last }
            }
            "short" => {
                let (n, landed) = match arg.split_once('@') {
                    Some((n, bytes)) => {
                        let bytes = bytes
                            .parse::<Size>()
                            .ok()
                            .filter(|b| b.0.is_multiple_of(512))
                            .ok_or_else(|| bad("the bytes that land must be a size, a multiple of 512"))?;
                        (n, Some(bytes))
                    }
                    None => (arg, None),
                };
                let n = bio_number(n).ok_or_else(|| bad("give a write bio number from 1"))?;
                Fault::Short { n, landed }
            }
            "enospc" => Fault::Enospc(arg.trim().parse::<u64>().map_err(|_| bad("give a number of blocks"))?),
            "powercut" if arg.trim() == "armed" => Fault::PowercutArmed,
            "powercut" => {
                Fault::Powercut(bio_number(arg).ok_or_else(|| bad("give a write bio number from 1, or armed"))?)
            }
            _ => {
                return Err(ValueError::new(format!(
                    "unknown fault '{kind}' in '{item}' (known: read, write, range, short, enospc, powercut)"
                )));
            }
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plus = |b: bool| if b { "+" } else { "" };
        match self {
            Fault::Read { n, and_later } => write!(f, "read={n}{}", plus(*and_later)),
            Fault::Write { n, and_later } => write!(f, "write={n}{}", plus(*and_later)),
            Fault::Range { first, last } => write!(f, "range={first}-{last}"),
            Fault::Short { n, landed: None } => write!(f, "short={n}"),
            Fault::Short { n, landed: Some(b) } => write!(f, "short={n}@{b}"),
            Fault::Enospc(n) => write!(f, "enospc={n}"),
            Fault::Powercut(n) => write!(f, "powercut={n}"),
            Fault::PowercutArmed => f.write_str("powercut=armed"),
        }
    }
}

impl FromStr for FaultList {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<FaultList, ValueError> {
        s.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::parse).collect::<Result<_, _>>().map(FaultList)
    }
}

impl fmt::Display for FaultList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fault) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_parses_and_prints_back() {
        let text = "read=5,write=10+,range=1000-1010,short=3,short=2@8k,enospc=100,powercut=50,powercut=armed";
        let list: FaultList = text.parse().unwrap();
        assert_eq!(list.0[1], Fault::Write { n: 10, and_later: true });
        assert_eq!(list.0[4], Fault::Short { n: 2, landed: Some(Size(8192)) });
        assert_eq!(list.to_string(), text);
        assert!("".parse::<FaultList>().unwrap().is_empty());
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        let e = |t: &str| t.parse::<FaultList>().unwrap_err().to_string();
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
        let edge: FaultList = format!("range=0-{}", u64::MAX / 4096 - 1).parse().unwrap();
        assert_eq!(edge.check_block_size(4096), Ok(()));
        assert_eq!(
            edge.check_block_size(65536).unwrap_err().to_string(),
            format!("fault 'range=0-{}': the blocks lie beyond any device", u64::MAX / 4096 - 1)
        );
    }
}
