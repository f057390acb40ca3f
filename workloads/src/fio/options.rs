//! The option table: each supported fio option (and aopsbench's `aops_*` ones) applied to a
//! [`Job`].

use vocab::{AopsParams, TimeUnit};

use super::job::{BlockSize, IoEngine, Job, Prealloc, RandomDistribution, ReadWrite};
use super::value;

/// Why an option could not be applied.
pub(crate) enum OptionError {
    /// Not an option aopsbench supports; `hint` is ` (did you mean 'x'?)` or empty.
    Unsupported { hint: String },
    /// The value does not parse; `expected` says what would.
    BadValue { expected: String },
}

/// Every option name accepted (aliases included), for "did you mean".
pub const SUPPORTED: &[&str] = &[
    "name",
    "description",
    "thread",
    "filename",
    "directory",
    "rw",
    "readwrite",
    "rwmixread",
    "rwmixwrite",
    "bs",
    "blocksize",
    "bsrange",
    "blocksize_range",
    "bssplit",
    "blockalign",
    "ba",
    "size",
    "filesize",
    "offset",
    "nrfiles",
    "nr_files",
    "numjobs",
    "iodepth",
    "ioengine",
    "direct",
    "buffered",
    "fsync",
    "fdatasync",
    "end_fsync",
    "fsync_on_close",
    "overwrite",
    "fallocate",
    "create_on_open",
    "runtime",
    "timeout",
    "time_based",
    "ramp_time",
    "loops",
    "randrepeat",
    "randseed",
    "random_distribution",
    "norandommap",
    "rate_iops",
    "thinktime",
    "stonewall",
    "wait_for_previous",
    "new_group",
    "group_reporting",
    "percentile_list",
    "aops_writeback",
    "aops_cache",
    "aops_block_size",
    "aops_max_folio",
    "aops_large_folios",
    "aops_dirty_background_ratio",
    "aops_dirty_ratio",
];

/// Apply `key[=value]` to `job`.
pub(crate) fn apply(job: &mut Job, key: &str, value: Option<&str>) -> Result<(), OptionError> {
    let bad = |expected: String| OptionError::BadValue { expected };
    let key_lc = key.to_ascii_lowercase();
    // Options that take no value.
    let flag = || value::boolean(value).map_err(bad);
    // Options that need one.
    let text = || value.filter(|v| !v.is_empty()).ok_or_else(|| bad("this option needs a value (key=value)".into()));
    match key_lc.as_str() {
        "name" => job.name = text()?.to_string(),
        "description" => job.description = Some(text()?.to_string()),
        // fio's `thread` picks pthreads over processes; aopsbench always runs threads.
        "thread" => {
            flag()?;
        }
        "filename" => {
            let names = text()?;
            if names.split(':').any(str::is_empty) {
                return Err(bad("expected file names separated by ':'".into()));
            }
            job.filename = Some(names.to_string());
        }
        "directory" => job.directory = Some(text()?.trim_end_matches('/').to_string()),
        "rw" | "readwrite" => {
            let v = text()?;
            job.rw = match v.to_ascii_lowercase().as_str() {
                "read" => ReadWrite::Read,
                "write" => ReadWrite::Write,
                "randread" => ReadWrite::RandRead,
                "randwrite" => ReadWrite::RandWrite,
                "rw" | "readwrite" => ReadWrite::ReadWrite,
                "randrw" => ReadWrite::RandRw,
                other if other.contains(':') => {
                    return Err(bad(
                        "rw modifiers (':N') are not supported; use read, write, randread, randwrite, rw or randrw"
                            .into(),
                    ));
                }
                "trim" | "randtrim" | "trimwrite" | "randtrimwrite" => {
                    return Err(bad(
                        "trim workloads are not supported; use read, write, randread, randwrite, rw or randrw".into(),
                    ));
                }
                _ => {
                    return Err(bad("expected read, write, randread, randwrite, rw (readwrite) or randrw".into()));
                }
            };
        }
        "rwmixread" => job.rwmixread = value::percent(text()?).map_err(bad)?,
        "rwmixwrite" => job.rwmixread = 100 - value::percent(text()?).map_err(bad)?,
        "bs" | "blocksize" => {
            job.bs = value::per_dir(text()?, &job.bs, |s| value::nonzero_size(s).map(BlockSize::Fixed)).map_err(bad)?;
        }
        "bsrange" | "blocksize_range" => {
            job.bs = value::per_dir(text()?, &job.bs, value::size_range).map_err(bad)?;
        }
        "bssplit" => job.bs = value::per_dir(text()?, &job.bs, value::bssplit).map_err(bad)?,
        "blockalign" | "ba" => {
            job.blockalign =
                value::per_dir(text()?, &job.blockalign, |s| value::nonzero_size(s).map(Some)).map_err(bad)?;
        }
        "size" => job.size = Some(value::nonzero_size(text()?).map_err(bad)?),
        "filesize" => {
            let v = text()?;
            if v.contains(['-', ':']) {
                return Err(bad("file size ranges are not supported; give one size".into()));
            }
            job.filesize = Some(value::nonzero_size(v).map_err(bad)?);
        }
        "offset" => job.offset = value::size(text()?).map_err(bad)?,
        "nrfiles" | "nr_files" => job.nrfiles = value::int_in(text()?, 1, 1 << 20).map_err(bad)? as u32,
        "numjobs" => job.numjobs = value::int_in(text()?, 1, 4096).map_err(bad)? as u32,
        "iodepth" => job.control.iodepth = value::int_in(text()?, 1, 65536).map_err(bad)? as u32,
        "ioengine" => {
            job.control.ioengine = match text()?.to_ascii_lowercase().as_str() {
                "psync" => IoEngine::Psync,
                "sync" => IoEngine::Sync,
                "io_uring" => IoEngine::IoUring,
                "null" => IoEngine::Null,
                _ => return Err(bad("aopsbench runs psync, sync, io_uring or null".into())),
            };
        }
        "direct" => job.control.direct = flag()?,
        "buffered" => job.control.direct = !flag()?,
        "fsync" => job.fsync = value::integer(text()?).map_err(bad)?,
        "fdatasync" => job.fdatasync = value::integer(text()?).map_err(bad)?,
        "end_fsync" => job.end_fsync = flag()?,
        "fsync_on_close" => job.fsync_on_close = flag()?,
        "overwrite" => job.overwrite = flag()?,
        "fallocate" => {
            job.fallocate = match text()?.to_ascii_lowercase().as_str() {
                "none" | "0" => Prealloc::None,
                "native" => Prealloc::Native,
                "posix" | "1" => Prealloc::Posix,
                "keep" => Prealloc::Keep,
                "truncate" => Prealloc::Truncate,
                _ => return Err(bad("expected none, native, posix, keep or truncate".into())),
            };
        }
        "create_on_open" => job.create_on_open = flag()?,
        "runtime" | "timeout" => job.control.runtime = Some(value::time(text()?, TimeUnit::Seconds).map_err(bad)?),
        "time_based" => job.control.time_based = flag()?,
        "ramp_time" => job.control.ramp_time = Some(value::time(text()?, TimeUnit::Seconds).map_err(bad)?),
        "loops" => job.loops = value::int_in(text()?, 1, u64::from(u32::MAX)).map_err(bad)? as u32,
        "randrepeat" => job.randrepeat = flag()?,
        "randseed" => job.randseed = Some(value::integer(text()?).map_err(bad)?),
        "random_distribution" => job.random_distribution = distribution(text()?).map_err(bad)?,
        "norandommap" => job.norandommap = flag()?,
        "rate_iops" => {
            job.control.rate_iops = value::per_dir(text()?, &job.control.rate_iops, |s| {
                value::integer(s)
                    .and_then(|n| if n == 0 { Err("expected I/Os per second above zero".into()) } else { Ok(Some(n)) })
            })
            .map_err(bad)?;
        }
        "thinktime" => job.control.thinktime = value::time(text()?, TimeUnit::Micros).map_err(bad)?,
        "stonewall" | "wait_for_previous" => job.control.stonewall = flag()?,
        "new_group" => job.control.new_group = flag()?,
        "group_reporting" => job.control.group_reporting = flag()?,
        "percentile_list" => {
            job.control.percentile_list = text()?.parse().map_err(|e: vocab::ValueError| bad(e.expected))?
        }
        aops if aops.strip_prefix("aops_").is_some_and(|k| AopsParams::KEYS.contains(&k)) => {
            job.aops.set(&aops["aops_".len()..], value).map_err(|e| bad(e.expected))?;
        }
        _ => {
            return Err(OptionError::Unsupported { hint: suggestion(&key_lc) });
        }
    }
    Ok(())
}

/// `random`, `zipf[:θ]`, `pareto[:h]`, `normal[:σ]` (or `gauss`), with fio's defaults for a
/// missing parameter (zipf 1.1, pareto 0.2, normal 0 = uniform).
fn distribution(s: &str) -> Result<RandomDistribution, String> {
    let (kind, param) = match s.split_once(':') {
        Some((k, p)) => (k, Some(p)),
        None => (s, None),
    };
    let num = |default: f64| -> Result<f64, String> {
        match param {
            None => Ok(default),
            Some(p) => p.trim().parse::<f64>().map_err(|_| format!("'{p}' is not a number")),
        }
    };
    match kind.trim().to_ascii_lowercase().as_str() {
        "random" if param.is_none() => Ok(RandomDistribution::Uniform),
        "zipf" => match num(1.1)? {
            t if t > 0.0 && t.is_finite() => Ok(RandomDistribution::Zipf(t)),
            _ => Err("zipf needs θ above 0, such as zipf:1.2".into()),
        },
        "pareto" => match num(0.2)? {
            h if h > 0.0 && h < 1.0 => Ok(RandomDistribution::Pareto(h)),
            _ => Err("pareto needs h between 0 and 1, such as pareto:0.2".into()),
        },
        "normal" | "gauss" => match num(0.0)? {
            0.0 => Ok(RandomDistribution::Uniform),
            d if d > 0.0 && d <= 100.0 => Ok(RandomDistribution::Normal(d)),
            _ => Err("normal needs σ in percent of the region, from 0 to 100, such as normal:10".into()),
        },
        _ => Err("expected random, zipf:θ, pareto:h or normal:σ".into()),
    }
}

/// ` (did you mean 'x'?)` for a near miss of a supported option, else empty.
fn suggestion(key: &str) -> String {
    SUPPORTED
        .iter()
        .map(|s| (edit_distance(key, s), *s))
        .filter(|&(d, s)| d <= 2 && d < s.len() / 2 + 1)
        .min()
        .map(|(_, s)| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_typos_only() {
        assert_eq!(suggestion("iodepht"), " (did you mean 'iodepth'?)");
        assert_eq!(suggestion("runtim"), " (did you mean 'runtime'?)");
        assert_eq!(suggestion("write_lat_log"), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn distributions() {
        assert_eq!(distribution("zipf:1.2"), Ok(RandomDistribution::Zipf(1.2)));
        assert_eq!(distribution("zipf"), Ok(RandomDistribution::Zipf(1.1)));
        assert_eq!(distribution("pareto:0.3"), Ok(RandomDistribution::Pareto(0.3)));
        assert_eq!(distribution("normal:5"), Ok(RandomDistribution::Normal(5.0)));
        assert_eq!(distribution("random"), Ok(RandomDistribution::Uniform));
        assert!(distribution("zoned:50/5:50/95").is_err());
        assert!(distribution("pareto:1.5").is_err());
    }
}
