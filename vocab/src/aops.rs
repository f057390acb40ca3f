//! What the fsimpl backends are set up with: the backend, the writeback mode, and the
//! parameters a job (`aops_*` options) or a target spec (`bh:block_size=1k`) gives them.

use std::fmt;
use std::str::FromStr;

use crate::error::ValueError;
use crate::flag::{parse_bool, parse_percent};
use crate::size::Size;

/// Which buffered-I/O implementation an fsimpl mount uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// ext4's classic `ext4_da_aops` over buffer heads (target kind `bh`).
    #[default]
    BufferHead,
    /// `ext4_iomap_aops` over iomap, with large folios (target kind `iomap`).
    Iomap,
}

impl Backend {
    /// "bh" or "iomap": the target kind.
    pub fn name(self) -> &'static str {
        match self {
            Backend::BufferHead => "bh",
            Backend::Iomap => "iomap",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "bh" => Ok(Backend::BufferHead),
            "iomap" => Ok(Backend::Iomap),
            _ => Err(ValueError::new("expected bh or iomap")),
        }
    }
}

/// When dirty data goes to the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WritebackMode {
    /// `on`: background writeback once dirty data passes the background threshold (the default).
    #[default]
    On,
    /// `off`: no background writeback (`dirty_writeback_centisecs=0`, dirty ratios 100: the
    /// "cache" rows of the kernel series' tables); only fsync, sync, unmount or a full cache
    /// write data back.
    Off,
    /// `dontcache`: every write is written back at once and its folios dropped (RWF_DONTCACHE).
    DontCache,
}

impl WritebackMode {
    /// The name that reads back: `on`, `off`, `dontcache`.
    pub fn name(self) -> &'static str {
        match self {
            WritebackMode::On => "on",
            WritebackMode::Off => "off",
            WritebackMode::DontCache => "dontcache",
        }
    }
}

impl fmt::Display for WritebackMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WritebackMode {
    type Err = ValueError;
    /// `on` (or `1`), `off` (or `0`), `dontcache`; any case.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "on" | "1" => Ok(WritebackMode::On),
            "off" | "0" => Ok(WritebackMode::Off),
            "dontcache" => Ok(WritebackMode::DontCache),
            _ => Err(ValueError::new("expected on, off or dontcache")),
        }
    }
}

/// Who does background writeback and runs I/O completion work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Flusher {
    /// `thread`: a flusher per mount (`wb_workfn`) writes back; writers are throttled without
    /// doing I/O; I/O completion work runs on worker threads (the kernel's way, the default).
    #[default]
    Thread,
    /// `inline`: no background thread: the writer that crosses the background threshold runs
    /// the flusher's work (`wb_do_writeback`) itself, to the end, and completion work runs in
    /// the thread that waits for it — the same work, done deterministically, for exact
    /// counters (tests, the CI gate, diff).
    Inline,
}

impl Flusher {
    /// The name that reads back: `thread`, `inline`.
    pub fn name(self) -> &'static str {
        match self {
            Flusher::Thread => "thread",
            Flusher::Inline => "inline",
        }
    }
}

impl fmt::Display for Flusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Flusher {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "thread" => Ok(Flusher::Thread),
            "inline" => Ok(Flusher::Inline),
            _ => Err(ValueError::new("expected thread or inline")),
        }
    }
}

/// The block sizes fsimpl formats with.
pub const BLOCK_SIZES: [u64; 3] = [1024, 2048, 4096];
/// The smallest and largest folio fsimpl allocates.
pub const FOLIO_RANGE: (u64, u64) = (4096, 2 << 20);
/// The smallest page cache fsimpl mounts with.
pub const MIN_CACHE: u64 = 2 << 20;

/// The fsimpl parameters a job or a target spec sets; `None` leaves the other's setting, or
/// fsimpl's default. A job names them with the prefix `aops_` (`aops_block_size=1k`), a
/// target spec without (`bh:block_size=1k`); a spec's own win over a job's ([`AopsParams::or`]).
///
/// | parameter | value | meaning |
/// |---|---|---|
/// | `block_size` | 1k, 2k, 4k | filesystem block size |
/// | `max_folio` | 4k..2m, power of two | largest folio |
/// | `large_folios` | bool | large folios on the buffer_head backend (iomap always has them) |
/// | `cache` | size, at least 2m | page-cache memory |
/// | `writeback` | `on`, `off`, `dontcache` | see [`WritebackMode`] |
/// | `dirty_background_ratio` | percent, from 1 | like `vm.dirty_background_ratio`, of the cache |
/// | `dirty_ratio` | percent | like `vm.dirty_ratio`, of the cache |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AopsParams {
    /// `block_size`.
    pub block_size: Option<Size>,
    /// `max_folio`.
    pub max_folio: Option<Size>,
    /// `large_folios`.
    pub large_folios: Option<bool>,
    /// `cache`: page-cache limit.
    pub cache: Option<Size>,
    /// `writeback`.
    pub writeback: Option<WritebackMode>,
    /// `dirty_background_ratio`.
    pub dirty_background_ratio: Option<u32>,
    /// `dirty_ratio`.
    pub dirty_ratio: Option<u32>,
}

impl AopsParams {
    /// The parameter names, in the order they print.
    pub const KEYS: [&'static str; 7] =
        ["block_size", "max_folio", "large_folios", "cache", "writeback", "dirty_background_ratio", "dirty_ratio"];

    /// Sets parameter `key` (one of [`AopsParams::KEYS`]) from its text, checked; a bare
    /// boolean (`None`) is true.
    pub fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), ValueError> {
        if key == "large_folios" {
            self.large_folios = Some(parse_bool(value)?);
            return Ok(());
        }
        let text = value.filter(|v| !v.trim().is_empty()).ok_or_else(|| ValueError::new("expected a value"))?;
        match key {
            "block_size" => self.block_size = Some(text.parse()?),
            "max_folio" => self.max_folio = Some(text.parse()?),
            "cache" => self.cache = Some(text.parse()?),
            "writeback" => self.writeback = Some(text.parse()?),
            "dirty_background_ratio" => self.dirty_background_ratio = Some(parse_percent(text)?),
            "dirty_ratio" => self.dirty_ratio = Some(parse_percent(text)?),
            _ => return Err(ValueError::new(format!("not an fsimpl parameter (known: {})", Self::KEYS.join(", ")))),
        }
        self.check(key)
    }

    /// The range rule of one parameter, if it is set.
    fn check(&self, key: &str) -> Result<(), ValueError> {
        let ok = match key {
            "block_size" => self.block_size.is_none_or(|s| BLOCK_SIZES.contains(&s.0)),
            "max_folio" => {
                self.max_folio.is_none_or(|s| s.0.is_power_of_two() && (FOLIO_RANGE.0..=FOLIO_RANGE.1).contains(&s.0))
            }
            "cache" => self.cache.is_none_or(|s| s.0 >= MIN_CACHE),
            "dirty_background_ratio" => self.dirty_background_ratio.is_none_or(|r| r >= 1),
            _ => true,
        };
        if ok {
            return Ok(());
        }
        Err(ValueError::new(match key {
            "block_size" => "expected 1k, 2k or 4k (the block sizes fsimpl formats with)",
            "max_folio" => "expected a power of two from 4k to 2m",
            "cache" => "expected a cache size of at least 2m",
            _ => "expected a percentage from 1 to 100 (0 would write back at once: use writeback=dontcache)",
        }))
    }

    /// Checks every parameter and how they fit together; the error names the parameter with
    /// `prefix` before it (`aops_` in job files, nothing in target specs).
    pub fn validate(&self, prefix: &str) -> Result<(), ValueError> {
        for key in Self::KEYS {
            self.check(key).map_err(|e| ValueError::new(format!("{prefix}{key}: {e}")))?;
        }
        if let (Some(bg), Some(hard)) = (self.dirty_background_ratio, self.dirty_ratio)
            && bg > hard
        {
            return Err(ValueError::new(format!(
                "{prefix}dirty_background_ratio ({bg}) is above {prefix}dirty_ratio ({hard})"
            )));
        }
        Ok(())
    }

    /// Each parameter of `self`, else of `fallback`.
    pub fn or(self, fallback: AopsParams) -> AopsParams {
        AopsParams {
            block_size: self.block_size.or(fallback.block_size),
            max_folio: self.max_folio.or(fallback.max_folio),
            large_folios: self.large_folios.or(fallback.large_folios),
            cache: self.cache.or(fallback.cache),
            writeback: self.writeback.or(fallback.writeback),
            dirty_background_ratio: self.dirty_background_ratio.or(fallback.dirty_background_ratio),
            dirty_ratio: self.dirty_ratio.or(fallback.dirty_ratio),
        }
    }

    /// The parameters that are set, as `(key, value)` text that [`AopsParams::set`] reads back,
    /// in [`AopsParams::KEYS`] order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let yes = |b: bool| if b { "1" } else { "0" }.to_string();
        let mut v = Vec::new();
        let mut push = |k: &'static str, s: Option<String>| {
            if let Some(s) = s {
                v.push((k, s));
            }
        };
        push("block_size", self.block_size.map(|s| s.to_string()));
        push("max_folio", self.max_folio.map(|s| s.to_string()));
        push("large_folios", self.large_folios.map(yes));
        push("cache", self.cache.map(|s| s.to_string()));
        push("writeback", self.writeback.map(|w| w.to_string()));
        push("dirty_background_ratio", self.dirty_background_ratio.map(|n| n.to_string()));
        push("dirty_ratio", self.dirty_ratio.map(|n| n.to_string()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_check_and_print_back() {
        let mut p = AopsParams::default();
        for (k, v) in [
            ("block_size", "1k"),
            ("max_folio", "64k"),
            ("large_folios", "on"),
            ("cache", "64m"),
            ("writeback", "dontcache"),
            ("dirty_background_ratio", "5"),
            ("dirty_ratio", "30%"),
        ] {
            p.set(k, Some(v)).unwrap();
        }
        assert_eq!(p.block_size, Some(Size(1024)));
        assert_eq!(p.writeback, Some(WritebackMode::DontCache));
        assert!(p.validate("").is_ok());
        let mut again = AopsParams::default();
        for (k, v) in p.pairs() {
            again.set(k, Some(&v)).unwrap();
        }
        assert_eq!(again, p);
        assert_eq!(p.pairs()[2], ("large_folios", "1".to_string()));
    }

    #[test]
    fn bad_params_say_what_is_expected() {
        let mut p = AopsParams::default();
        let e = |p: &mut AopsParams, k, v| p.set(k, Some(v)).unwrap_err().to_string();
        assert_eq!(e(&mut p, "block_size", "512"), "expected 1k, 2k or 4k (the block sizes fsimpl formats with)");
        assert_eq!(e(&mut p, "block_size", "8k"), "expected 1k, 2k or 4k (the block sizes fsimpl formats with)");
        assert_eq!(e(&mut p, "max_folio", "3k"), "expected a power of two from 4k to 2m");
        assert_eq!(e(&mut p, "max_folio", "4m"), "expected a power of two from 4k to 2m");
        assert_eq!(e(&mut p, "cache", "1m"), "expected a cache size of at least 2m");
        assert!(e(&mut p, "dirty_background_ratio", "0").starts_with("expected a percentage from 1 to 100"));
        assert_eq!(e(&mut p, "writeback", "sometimes"), "expected on, off or dontcache");
        assert_eq!(e(&mut p, "dirty_ratio", "101"), "expected a percentage from 0 to 100");
        assert!(e(&mut p, "colour", "red").starts_with("not an fsimpl parameter"));
        let p = AopsParams { dirty_background_ratio: Some(50), dirty_ratio: Some(20), ..Default::default() };
        assert_eq!(
            p.validate("aops_").unwrap_err().to_string(),
            "aops_dirty_background_ratio (50) is above aops_dirty_ratio (20)"
        );
        let p = AopsParams { block_size: Some(Size(8192)), ..Default::default() };
        assert_eq!(
            p.validate("").unwrap_err().to_string(),
            "block_size: expected 1k, 2k or 4k (the block sizes fsimpl formats with)"
        );
    }

    #[test]
    fn a_spec_wins_over_a_job() {
        let spec = AopsParams { cache: Some(Size(64 << 20)), ..Default::default() };
        let job = AopsParams { cache: Some(Size(1 << 30)), block_size: Some(Size(1024)), ..Default::default() };
        let both = spec.or(job);
        assert_eq!((both.cache, both.block_size), (Some(Size(64 << 20)), Some(Size(1024))));
    }

    #[test]
    fn writeback_modes_read_back() {
        for m in [WritebackMode::On, WritebackMode::Off, WritebackMode::DontCache] {
            assert_eq!(m.to_string().parse::<WritebackMode>(), Ok(m));
        }
        assert_eq!("1".parse::<WritebackMode>(), Ok(WritebackMode::On));
        assert_eq!("bh".parse::<Backend>(), Ok(Backend::BufferHead));
        assert_eq!(Backend::Iomap.to_string(), "iomap");
    }
}
