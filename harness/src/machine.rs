//! What `run.json` records about the machine and the moment.

use serde_json::{Value, json};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Kernel release (`uname -r`).
pub fn kernel_release() -> String {
    read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_else(|| "unknown".into())
}

/// CPU model, CPU count, memory.
pub fn machine() -> Value {
    let cpu = read("/proc/cpuinfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_kb = read("/proc/meminfo")
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_bytes": mem_kb * 1024,
        "hostname": read("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()),
    })
}

/// `YYYYMMDD-HHMMSS` in UTC, for run directory names.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_are_calendar_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_478_400 + 3661);
        assert_eq!(utc_stamp(t), "20261124-010101");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101-000000");
    }
}
