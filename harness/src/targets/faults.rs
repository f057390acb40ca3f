//! The `faults=` parameter of the `bh` and `iomap` targets, and of `ext4` and `xfs` targets on
//! the served device (read by [`vocab::target::FaultList`], where its items are listed), as
//! fsimpl's device faults ([`FaultDev`](fsimpl::dev::FaultDev), or the served device's,
//! [`DevState`](super::fusedev::DevState)) and allocator faults (fsimpl's mount options).

use fsimpl::FsFaults;
use fsimpl::dev::{BadRange, FaultPlan, NthBio, PowerCut, ShortWrite};
use vocab::target::{Fault, FaultList};

/// What a `faults=` value asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSpec {
    /// Device faults.
    pub plan: FaultPlan,
    /// Allocator faults.
    pub fs: FsFaults,
}

impl FaultSpec {
    /// The faults of `list` on a filesystem of `block_size`-byte blocks (one the list's block
    /// ranges were checked against: parsing checks them against fsimpl's block sizes, a kernel
    /// target's spec against its own with [`FaultList::check_block_size`]). A later item of a
    /// kind replaces an earlier one.
    pub fn new(list: &FaultList, block_size: u64) -> FaultSpec {
        let mut spec = FaultSpec::default();
        for fault in &list.0 {
            match *fault {
                Fault::Read { n, and_later } => spec.plan.read = Some(NthBio { n, sticky: and_later }),
                Fault::Write { n, and_later } => spec.plan.write = Some(NthBio { n, sticky: and_later }),
                Fault::Range { first, last } => {
                    spec.plan.bad_ranges.push(BadRange { start: first * block_size, end: (last + 1) * block_size });
                }
                Fault::Short { n, landed } => {
                    spec.plan.short_write = Some(ShortWrite { n, landed: landed.map_or(block_size, |b| b.0) });
                }
                Fault::Enospc(n) => spec.fs.alloc_limit = Some(n),
                Fault::Powercut(n) => spec.plan.power_cut = Some(PowerCut::AfterWrite(n)),
                Fault::PowercutArmed => spec.plan.power_cut = Some(PowerCut::OnDemand),
            }
        }
        spec
    }

    /// The list that asks for these faults on `block_size`-byte blocks: the inverse of
    /// [`FaultSpec::new`], for a target's normalised spec.
    pub fn to_list(&self, block_size: u64) -> FaultList {
        let mut v = Vec::new();
        let p = &self.plan;
        if let Some(n) = p.read {
            v.push(Fault::Read { n: n.n, and_later: n.sticky });
        }
        if let Some(n) = p.write {
            v.push(Fault::Write { n: n.n, and_later: n.sticky });
        }
        for r in &p.bad_ranges {
            v.push(Fault::Range { first: r.start / block_size, last: r.end / block_size - 1 });
        }
        if let Some(s) = p.short_write {
            v.push(Fault::Short { n: s.n, landed: Some(vocab::Size(s.landed)) });
        }
        if let Some(n) = self.fs.alloc_limit {
            v.push(Fault::Enospc(n));
        }
        if let Some(PowerCut::AfterWrite(n)) = p.power_cut {
            v.push(Fault::Powercut(n));
        }
        FaultList(v)
    }

    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty() && self.fs == FsFaults::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_becomes_its_plan() {
        let list: FaultList = "read=5,write=10+,range=1000-1010,short=3,enospc=100,powercut=50".parse().unwrap();
        let s = FaultSpec::new(&list, 4096);
        assert_eq!(s.plan.read, Some(NthBio::once(5)));
        assert_eq!(s.plan.write, Some(NthBio::from_then_on(10)));
        assert_eq!(s.plan.bad_ranges, vec![BadRange { start: 1000 * 4096, end: 1011 * 4096 }]);
        assert_eq!(s.plan.short_write, Some(ShortWrite { n: 3, landed: 4096 }));
        assert_eq!(s.fs.alloc_limit, Some(100));
        assert_eq!(s.plan.power_cut, Some(PowerCut::AfterWrite(50)));
        let armed: FaultList = "powercut=armed".parse().unwrap();
        assert_eq!(FaultSpec::new(&armed, 4096).plan.power_cut, Some(PowerCut::OnDemand));
        let short: FaultList = "short=2@8k".parse().unwrap();
        assert_eq!(FaultSpec::new(&short, 1024).plan.short_write, Some(ShortWrite { n: 2, landed: 8192 }));
        assert!(FaultSpec::new(&FaultList::default(), 4096).is_empty());
        assert_eq!(s.to_list(4096).to_string(), "read=5,write=10+,range=1000-1010,short=3@4k,enospc=100,powercut=50");
        let max: FaultList = format!("range=0-{}", u64::MAX / 4096 - 1).parse().unwrap();
        assert_eq!(FaultSpec::new(&max, 4096).plan.bad_ranges[0].end, u64::MAX / 4096 * 4096);
    }
}
