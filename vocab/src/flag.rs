//! fio's booleans and percentages.

use crate::error::ValueError;

/// fio's booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` (any case); a bare option
/// (no value) means true.
pub fn parse_bool(v: Option<&str>) -> Result<bool, ValueError> {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        _ => Err(ValueError::new("expected 1 or 0 (or true/false, yes/no, on/off)")),
    }
}

/// A whole percentage from 0 to 100, with or without `%`.
pub fn parse_percent(s: &str) -> Result<u32, ValueError> {
    let t = s.trim();
    let t = t.strip_suffix('%').unwrap_or(t);
    match t.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(ValueError::new("expected a percentage from 0 to 100")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_percentages() {
        assert_eq!(parse_bool(None), Ok(true));
        assert_eq!(parse_bool(Some("off")), Ok(false));
        assert_eq!(parse_bool(Some("Yes")), Ok(true));
        assert!(parse_bool(Some("maybe")).is_err());
        assert_eq!(parse_percent("70%"), Ok(70));
        assert_eq!(parse_percent("0"), Ok(0));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
    }
}
