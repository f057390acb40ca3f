//! I/O priorities: the job thread's (`prio`, `prioclass`, `priohint`: fio sets them with
//! `ioprio_set(2)` before the engine starts, `backend.c`) and the per-I/O ones of the `libaio`
//! and `io_uring` engines (`cmdprio_percentage`, `cmdprio_class`, `cmdprio`, `cmdprio_hint`,
//! `cmdprio_bssplit`: fio's `engines/cmdprio.c`).
//!
//! [`IoPrio`] is the value the kernel takes (`IOPRIO_PRIO_VALUE_HINT`); [`CmdPrioOptions`] the
//! options as written, [`CmdPrio`] what fio's `fio_cmdprio_init` makes of them, and
//! [`ThreadPrio`] each thread's choice per I/O (`fio_cmdprio_set_ioprio`), drawn from ChaCha8
//! seeded by the job's seed (fio draws from its `prio_state`, seeded the same way).

use rand_chacha::ChaCha8Rng;

use super::types::{Dir, PerDir};
use super::value;
use crate::rng::{between, seeded};
use vocab::KbBase;

/// `IOPRIO_CLASS_RT`: real time.
pub const IOPRIO_CLASS_RT: u8 = 1;
/// `IOPRIO_CLASS_BE`: best effort (what class 0 stands for).
pub const IOPRIO_CLASS_BE: u8 = 2;
/// `IOPRIO_CLASS_IDLE`.
pub const IOPRIO_CLASS_IDLE: u8 = 3;
/// `IOPRIO_MAX_PRIO_HINT`: the largest hint (10 bits).
pub const IOPRIO_MAX_PRIO_HINT: u16 = (1 << 10) - 1;
/// fio's `BSSPLIT_MAX`: the most entries of one direction's `cmdprio_bssplit`.
const BSSPLIT_MAX: usize = 64;

/// An I/O priority as the kernel packs it (`include/uapi/linux/ioprio.h`): the class in bits
/// 13-15, the hint in bits 3-12, the level in bits 0-2. 0 is "none": the I/O takes its task's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IoPrio(pub u16);

impl IoPrio {
    /// fio's `ioprio_value`: class 0 is taken as best effort.
    pub fn new(class: u8, level: u8, hint: u16) -> IoPrio {
        let class = if class == 0 { IOPRIO_CLASS_BE } else { class };
        IoPrio((u16::from(class) << 13) | (hint << 3) | u16::from(level))
    }

    /// `IOPRIO_PRIO_CLASS`.
    pub fn class(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// `IOPRIO_PRIO_LEVEL`.
    pub fn level(self) -> u8 {
        (self.0 & 7) as u8
    }

    /// `IOPRIO_PRIO_HINT`.
    pub fn hint(self) -> u16 {
        (self.0 >> 3) & IOPRIO_MAX_PRIO_HINT
    }

    /// fio's `ioprio_value_is_class_rt`: what a log's priority column shows without
    /// `log_prio`.
    pub fn is_rt(self) -> bool {
        self.class() == IOPRIO_CLASS_RT
    }
}

/// `prio=`, `prioclass=`, `priohint=`: the job thread's priority (fio's `td->ioprio`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobPrio {
    /// `prioclass=` (0 to 3).
    pub class: Option<u8>,
    /// `prio=` (0 to 7).
    pub level: Option<u8>,
    /// `priohint=` (0 to 1023).
    pub hint: Option<u16>,
}

impl JobPrio {
    /// The priority `ioprio_set(2)` gives the thread, when any of the three is given (fio sets
    /// none otherwise, and its I/Os carry 0).
    pub fn value(&self) -> Option<IoPrio> {
        (self.class.is_some() || self.level.is_some() || self.hint.is_some())
            .then(|| IoPrio::new(self.class.unwrap_or(0), self.level.unwrap_or(0), self.hint.unwrap_or(0)))
    }
}

/// One entry of `cmdprio_bssplit`: `perc` percent of the I/Os of size `bs` get `prio`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BsPrio {
    /// The I/O size it applies to, bytes.
    pub bs: u64,
    /// Percent of those I/Os (1 to 100; fio drops the entries of 0).
    pub perc: u32,
    /// `bs/perc/class/level[/hint]`; `None` for `bs/perc`: the direction's `cmdprio_class`,
    /// `cmdprio` and `cmdprio_hint`.
    pub prio: Option<IoPrio>,
}

/// The `cmdprio_*` options as given (each `None` when not given: fio takes them only with
/// `ioengine=libaio` or `io_uring`). The trim part of each is ignored, as in fio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdPrioOptions {
    /// `cmdprio_percentage=`: percent of the I/Os (per direction) that get the cmdprio.
    pub percentage: Option<PerDir<u32>>,
    /// `cmdprio_class=` (1 to 3; fio's default when unset is RT).
    pub class: Option<PerDir<u8>>,
    /// `cmdprio=`: the level (0 to 7).
    pub level: Option<PerDir<u8>>,
    /// `cmdprio_hint=` (0 to 1023).
    pub hint: Option<PerDir<u16>>,
    /// `cmdprio_bssplit=`: per direction, entries sorted by size as fio sorts them.
    pub bssplit: Option<PerDir<Vec<BsPrio>>>,
}

impl CmdPrioOptions {
    /// The names of the options given, in fio's table order.
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("cmdprio_percentage", self.percentage.is_some()),
            ("cmdprio_class", self.class.is_some()),
            ("cmdprio_hint", self.hint.is_some()),
            ("cmdprio", self.level.is_some()),
            ("cmdprio_bssplit", self.bssplit.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }

    /// fio's `fio_cmdprio_init` check: a non-zero percentage and a bssplit do not go together.
    pub(crate) fn check(&self) -> Result<(), String> {
        let perc = self.percentage.is_some_and(|p| p.read > 0 || p.write > 0);
        if perc && self.bssplit.is_some() {
            return Err("cmdprio_percentage and cmdprio_bssplit options are mutually exclusive".into());
        }
        Ok(())
    }

    /// The implicit cmdprio of direction `dir` (fio's default class is RT).
    fn implicit(&self, dir: Dir) -> IoPrio {
        let class = self.class.map_or(0, |c| *c.get(dir));
        let class = if class == 0 { IOPRIO_CLASS_RT } else { class };
        IoPrio::new(class, self.level.map_or(0, |l| *l.get(dir)), self.hint.map_or(0, |h| *h.get(dir)))
    }

    /// The options that were given, as `(key, value)` lines that read back the same.
    pub(crate) fn to_fio(&self) -> Vec<(&'static str, String)> {
        fn pair<T: ToString>(p: &PerDir<T>) -> String {
            format!("{},{},{}", p.read.to_string(), p.write.to_string(), p.trim.to_string())
        }
        let mut out = Vec::new();
        if let Some(p) = &self.percentage {
            out.push(("cmdprio_percentage", pair(p)));
        }
        if let Some(c) = &self.class {
            out.push(("cmdprio_class", pair(c)));
        }
        if let Some(h) = &self.hint {
            out.push(("cmdprio_hint", pair(h)));
        }
        if let Some(l) = &self.level {
            out.push(("cmdprio", pair(l)));
        }
        if let Some(s) = &self.bssplit {
            let dir = |v: &[BsPrio]| {
                v.iter()
                    .map(|e| match e.prio {
                        None => format!("{}/{}", value::format_size(e.bs), e.perc),
                        Some(p) => {
                            format!("{}/{}/{}/{}/{}", value::format_size(e.bs), e.perc, p.class(), p.level(), p.hint())
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(":")
            };
            out.push(("cmdprio_bssplit", format!("{},{}", dir(&s.read), dir(&s.write))));
        }
        out
    }
}

/// `cmdprio_bssplit=READ[,WRITE[,TRIM]]` as fio's `str_split_parse` cuts it: one part is for
/// both directions; the trim part is not read.
pub(crate) fn parse_bssplit(s: &str, kb: KbBase) -> Result<PerDir<Vec<BsPrio>>, String> {
    let s = s.trim();
    let (read, write) = match s.split_once(',') {
        None => (s, s),
        Some((r, rest)) => (r, rest.split_once(',').map_or(rest, |(w, _trim)| w)),
    };
    Ok(PerDir { read: bssplit_dir(read, kb)?, write: bssplit_dir(write, kb)?, trim: Vec::new() })
}

/// One direction (fio's `split_parse_prio_ddir`): `bs/perc[/class/level[/hint]]` entries
/// joined by `:`, the entries of 0 percent dropped, sorted by size; the percentages of one
/// size may add up to 100 at most (`fio_cmdprio_fill_bsprio`). fio clamps a class above 3, a
/// level above 7 and a hint above 1023 to those; so does this.
fn bssplit_dir(s: &str, kb: KbBase) -> Result<Vec<BsPrio>, String> {
    const FORMAT: &str = "entries are bs/percent or bs/percent/class/level[/hint], joined by ':'";
    let entries: Vec<&str> = s.trim().trim_end_matches(':').split(':').filter(|e| !e.trim().is_empty()).collect();
    if entries.len() > BSSPLIT_MAX {
        return Err(format!("too many cmdprio_bssplit entries ({}, at most {BSSPLIT_MAX})", entries.len()));
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let fields: Vec<&str> = entry.split('/').map(str::trim).collect();
        let bs = value::nonzero_size(fields[0], kb).map_err(|e| format!("'{entry}': {e}; {FORMAT}"))?;
        let num = |i: usize| -> Result<u64, String> {
            match fields.get(i) {
                None | Some(&"") => Ok(0),
                Some(f) => f.parse::<u64>().map_err(|_| format!("'{entry}': '{f}' is not a whole number; {FORMAT}")),
            }
        };
        let perc = num(1)?.min(100) as u32;
        let prio = match fields.len() {
            1 | 2 => None,
            4 | 5 => {
                let class = num(2)?.min(3) as u8;
                let level = num(3)?.min(7) as u8;
                let hint = num(4)?.min(u64::from(IOPRIO_MAX_PRIO_HINT)) as u16;
                Some(IoPrio::new(class, level, hint))
            }
            _ => return Err(format!("'{entry}': invalid cmdprio_bssplit format: {FORMAT}")),
        };
        if perc > 0 {
            out.push(BsPrio { bs, perc, prio });
        }
    }
    out.sort_by_key(|e| e.bs);
    for group in out.chunk_by(|a, b| a.bs == b.bs) {
        let total: u32 = group.iter().map(|e| e.perc).sum();
        if total > 100 {
            return Err(format!(
                "the percentages for bs {} add up to {total}: cmdprio_bssplit total percentage for a block size \
                 exceeds 100",
                value::format_size(group[0].bs)
            ));
        }
    }
    Ok(out)
}

/// A priority an I/O may get, with its place in the direction's list of priorities (fio's
/// `struct cmdprio_prio`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Choice {
    prio: IoPrio,
    perc: u32,
    index: u16,
}

/// The cmdprio entries of one size (fio's `struct cmdprio_bsprio`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct BsChoices {
    bs: u64,
    tot_perc: u32,
    prios: Vec<Choice>,
}

/// What fio's `fio_cmdprio_init` makes of the options for a job, per direction (reads,
/// writes): which I/Os get which priority, and the priorities its statistics are kept for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdPrio {
    /// `cmdprio_percentage`: one choice per direction.
    perc: [Option<Choice>; 2],
    /// `cmdprio_bssplit`: the choices of each size.
    bsprios: [Vec<BsChoices>; 2],
    /// The priorities of each direction fio keeps latencies for (`ts->clat_prio`): the job's
    /// first (index 0), then each cmdprio in order of first use; `None` for a direction
    /// without cmdprio.
    clat_prios: [Option<Vec<IoPrio>>; 2],
}

/// Index of a read or write direction in [`CmdPrio`]'s arrays; trims take no cmdprio.
fn dir_index(dir: Dir) -> Option<usize> {
    match dir {
        Dir::Read => Some(0),
        Dir::Write => Some(1),
        Dir::Trim => None,
    }
}

impl CmdPrio {
    /// fio's `fio_cmdprio_init`: `None` when neither a percentage nor a bssplit is given
    /// (`CMDPRIO_MODE_NONE`). A direction the job does not do (`reads`, `writes`) gets
    /// nothing; `job` is the thread's own priority (fio's `ts->ioprio`, 0 when none).
    pub fn new(o: &CmdPrioOptions, reads: bool, writes: bool, job: IoPrio) -> Option<CmdPrio> {
        let perc_mode = o.percentage.is_some_and(|p| p.read > 0 || p.write > 0);
        if o.bssplit.is_none() && !perc_mode {
            return None;
        }
        let mut c = CmdPrio { perc: [None, None], bsprios: [Vec::new(), Vec::new()], clat_prios: [None, None] };
        for (dir, on) in [(Dir::Read, reads), (Dir::Write, writes)] {
            let d = dir_index(dir).unwrap_or(0);
            let mut values = vec![job];
            // fio's assign_clat_prio_index.
            let mut index_of = |p: IoPrio| -> u16 {
                match values.iter().position(|&v| v == p) {
                    Some(i) => i as u16,
                    None => {
                        values.push(p);
                        (values.len() - 1) as u16
                    }
                }
            };
            match &o.bssplit {
                Some(split) => {
                    let entries = split.get(dir);
                    if !on || entries.is_empty() {
                        continue;
                    }
                    let implicit = o.implicit(dir);
                    for group in entries.chunk_by(|a, b| a.bs == b.bs) {
                        let prios: Vec<Choice> = group
                            .iter()
                            .map(|e| {
                                let prio = e.prio.unwrap_or(implicit);
                                Choice { prio, perc: e.perc, index: index_of(prio) }
                            })
                            .collect();
                        let tot_perc = prios.iter().map(|p| p.perc).sum();
                        c.bsprios[d].push(BsChoices { bs: group[0].bs, tot_perc, prios });
                    }
                }
                None => {
                    let perc = o.percentage.map_or(0, |p| *p.get(dir));
                    if !on || perc == 0 {
                        continue;
                    }
                    let prio = o.implicit(dir);
                    c.perc[d] = Some(Choice { prio, perc, index: index_of(prio) });
                }
            }
            c.clat_prios[d] = Some(values);
        }
        Some(c)
    }

    /// The priorities whose latencies fio keeps for `dir` (index 0: the job's), or `None`
    /// when the direction has no cmdprio.
    pub fn clat_prios(&self, dir: Dir) -> Option<&[IoPrio]> {
        dir_index(dir).and_then(|d| self.clat_prios[d].as_deref())
    }

    /// fio's `fio_cmdprio_percentage`: the percent of `dir` I/Os of `bs` bytes that get a
    /// cmdprio, with the size's entries in bssplit mode.
    fn percentage(&self, d: usize, bs: u64) -> (u32, Option<&BsChoices>) {
        if let Some(c) = self.perc[d] {
            return (c.perc, None);
        }
        match self.bsprios[d].iter().find(|b| b.bs == bs) {
            Some(b) => (b.tot_perc, Some(b)),
            None => (0, None),
        }
    }
}

/// The priority one I/O goes out with (fio's `io_u->ioprio` and `io_u->clat_prio_index`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoPrioChoice {
    /// The priority: the thread's (0 when the job sets none), or the one cmdprio chose.
    pub prio: IoPrio,
    /// Whether cmdprio chose it (libaio then passes it with `IOCB_FLAG_IOPRIO`).
    pub cmdprio: bool,
    /// Its index in [`CmdPrio::clat_prios`] of the I/O's direction.
    pub index: u16,
}

/// One thread's priorities: its own (set with `ioprio_set(2)` before the engine starts) and
/// the per-I/O choice of cmdprio.
#[derive(Clone, Debug)]
pub struct ThreadPrio {
    /// `prio`/`prioclass`/`priohint`, when given.
    pub job: Option<IoPrio>,
    /// cmdprio, when the job uses it.
    pub cmdprio: Option<CmdPrio>,
    rng: ChaCha8Rng,
}

impl ThreadPrio {
    /// Thread `thread` of a job with these options and seed.
    pub fn new(job: Option<IoPrio>, cmdprio: Option<CmdPrio>, seed: u64, job_index: u32, thread: u32) -> ThreadPrio {
        ThreadPrio { job, cmdprio, rng: seeded(b"aopsprio", seed, u64::from(job_index), u64::from(thread)) }
    }

    /// fio's `fio_cmdprio_set_ioprio` after `io_u->ioprio = td->ioprio`: an I/O of `dir` and
    /// `bs` bytes gets the thread's priority, unless a draw from 0 to 99 falls below the
    /// percentage for its direction and size, when it gets the cmdprio (in bssplit mode the
    /// entry the draw falls in). No draw is made when the percentage is 0, as in fio.
    #[inline]
    pub fn choose(&mut self, dir: Dir, bs: u64) -> IoPrioChoice {
        let own = IoPrioChoice { prio: self.job.unwrap_or_default(), cmdprio: false, index: 0 };
        let (Some(c), Some(d)) = (&self.cmdprio, dir_index(dir)) else { return own };
        let (p, bsprio) = c.percentage(d, bs);
        if p == 0 {
            return own;
        }
        let rand = between(&mut self.rng, 0, 99) as u32;
        if rand >= p {
            return own;
        }
        let pick = match (c.perc[d], bsprio) {
            (Some(choice), _) => Some(choice),
            (None, Some(b)) => {
                let mut upto = 0;
                b.prios
                    .iter()
                    .find(|pr| {
                        upto += pr.perc;
                        rand < upto
                    })
                    .copied()
            }
            (None, None) => None,
        };
        pick.map_or(own, |ch| IoPrioChoice { prio: ch.prio, cmdprio: true, index: ch.index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<PerDir<Vec<BsPrio>>, String> {
        parse_bssplit(s, KbBase::Binary)
    }

    #[test]
    fn values_pack_as_the_kernel_packs_them() {
        assert_eq!(IoPrio::new(1, 0, 0), IoPrio(0x2000));
        assert_eq!(IoPrio::new(3, 0, 0), IoPrio(0x6000));
        assert_eq!(IoPrio::new(0, 7, 0), IoPrio(0x4007), "class 0 is best effort");
        let p = IoPrio::new(2, 0, 3);
        assert_eq!((p.class(), p.level(), p.hint(), p.0), (2, 0, 3, 0x4018));
        assert!(IoPrio::new(1, 4, 0).is_rt());
        assert_eq!(JobPrio::default().value(), None);
        assert_eq!(JobPrio { level: Some(7), ..JobPrio::default() }.value(), Some(IoPrio(0x4007)));
    }

    #[test]
    fn bssplit_reads_as_fio_reads_it() {
        // fio's examples/cmdprio-bssplit.fio.
        let s = split("64k/25/1/1:64k/75/3/2:1024k/0,1024k/0").unwrap();
        let k64 = 64 << 10;
        assert_eq!(
            s.read,
            [
                BsPrio { bs: k64, perc: 25, prio: Some(IoPrio(0x2001)) },
                BsPrio { bs: k64, perc: 75, prio: Some(IoPrio(0x6002)) }
            ]
        );
        assert!(s.write.is_empty(), "entries of 0 percent are dropped");
        let h = split("1M/10/2/0/1:1M/30/2/0/2:2M/90/2/0/0").unwrap();
        assert_eq!(h.read, h.write, "one part is for both directions");
        assert_eq!(h.read[0].prio, Some(IoPrio(0x4008)));
        assert_eq!(h.read[2].bs, 2 << 20, "sorted by size");
        assert_eq!(split("8k/10:4k/20").unwrap().read[0].bs, 4096);
        assert_eq!(split("4k/50/9/9/5000").unwrap().read[0].prio, Some(IoPrio::new(3, 7, 1023)), "clamped as fio");
        assert!(split("4k/50/1").unwrap_err().contains("invalid cmdprio_bssplit format"));
        assert!(split("4k/60:4k/50").unwrap_err().contains("bs 4k add up to 110"));
        assert!(split("4k/x").unwrap_err().contains("'x' is not a whole number"));
        assert!(split("zz/5").is_err());
        assert_eq!(split("4k/10,8k/20,garbage").unwrap().write[0].bs, 8192, "the trim part is not read");
    }

    #[test]
    fn cmdprio_resolves_as_fio_cmdprio_init() {
        let o = CmdPrioOptions { percentage: Some(PerDir::all(20)), ..CmdPrioOptions::default() };
        let c = CmdPrio::new(&o, true, false, IoPrio(0x6000)).unwrap();
        assert_eq!(c.clat_prios(Dir::Read), Some(&[IoPrio(0x6000), IoPrio(0x2000)][..]), "default class RT");
        assert_eq!(c.clat_prios(Dir::Write), None, "the job does not write");
        assert_eq!(CmdPrio::new(&CmdPrioOptions::default(), true, true, IoPrio(0)), None);
        let adv = CmdPrioOptions {
            bssplit: Some(split("64k/25/1/1:64k/75/3/2:1024k/0,1024k/0").unwrap()),
            ..CmdPrioOptions::default()
        };
        let c = CmdPrio::new(&adv, true, true, IoPrio(0)).unwrap();
        assert_eq!(c.clat_prios(Dir::Read), Some(&[IoPrio(0), IoPrio(0x2001), IoPrio(0x6002)][..]));
        assert_eq!(c.clat_prios(Dir::Write), None, "no write entry of more than 0 percent");
        let both = CmdPrioOptions { percentage: Some(PerDir::all(5)), ..adv };
        assert!(both.check().unwrap_err().contains("mutually exclusive"));
    }

    #[test]
    fn the_choice_follows_the_percentage_exactly_for_a_seed() {
        let o = CmdPrioOptions {
            percentage: Some(PerDir::all(20)),
            class: Some(PerDir::all(1)),
            ..CmdPrioOptions::default()
        };
        let job = Some(IoPrio(0x6000));
        let mut t = ThreadPrio::new(job, CmdPrio::new(&o, true, false, IoPrio(0x6000)), 0xb189_9bed, 0, 0);
        let mut again = t.clone();
        let chosen: Vec<IoPrioChoice> = (0..10_000).map(|_| t.choose(Dir::Read, 4096)).collect();
        let high = chosen.iter().filter(|c| c.cmdprio).count();
        // Each I/O draws from 0 to 99 from the thread's generator and gets RT below 20: for this
        // seed, exactly this many.
        let mut rng = seeded(b"aopsprio", 0xb189_9bed, 0, 0);
        let rule = (0..10_000).filter(|_| between(&mut rng, 0, 99) < 20).count();
        assert_eq!((high, rule), (2042, 2042));
        assert!(chosen.iter().all(|c| (c.cmdprio, c.prio, c.index) == (true, IoPrio(0x2000), 1)
            || (c.cmdprio, c.prio, c.index) == (false, IoPrio(0x6000), 0)));
        assert_eq!(chosen, (0..10_000).map(|_| again.choose(Dir::Read, 4096)).collect::<Vec<_>>());
        // Writes are not enabled for a read job: never a cmdprio, and no draw.
        assert!(!t.choose(Dir::Write, 4096).cmdprio);
    }

    #[test]
    fn bssplit_choices_split_the_draw_between_entries() {
        let o = CmdPrioOptions {
            bssplit: Some(split("64k/25/1/1:64k/75/3/2:1024k/0,1024k/0").unwrap()),
            ..CmdPrioOptions::default()
        };
        let mut t = ThreadPrio::new(None, CmdPrio::new(&o, true, true, IoPrio(0)), 7, 0, 0);
        let mut n = [0usize; 3];
        for _ in 0..4000 {
            n[usize::from(t.choose(Dir::Read, 64 << 10).index)] += 1;
        }
        assert_eq!(n[0], 0, "100 percent of the 64k reads get a cmdprio");
        assert_eq!(n[1] + n[2], 4000);
        assert!((900..1100).contains(&n[1]), "{n:?}");
        assert_eq!(t.choose(Dir::Read, 1 << 20), IoPrioChoice::default(), "1024k/0: none");
        assert_eq!(t.choose(Dir::Write, 1 << 20), IoPrioChoice::default());
    }
}
