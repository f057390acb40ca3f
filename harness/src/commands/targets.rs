//! `aopsbench targets`: every kind, whether it can run here, and why not.

use anyhow::Result;
use vocab::target::KINDS;

/// Prints one line per kind.
pub fn list() -> Result<()> {
    for (kind, params, what) in KINDS {
        let (ok, why) = crate::targets::availability(kind);
        let status = if ok { "available".to_string() } else { format!("unavailable: {}", why.unwrap_or_default()) };
        let params = if params.is_empty() { String::new() } else { format!(" [{}]", params.join(", ")) };
        println!("{kind:<6} {status:<40} {what}{params}");
    }
    Ok(())
}
