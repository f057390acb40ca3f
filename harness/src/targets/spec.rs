//! Target specs: `KIND[:key=value[:key=value...]]`.

use super::{Result, TargetError};

/// A parsed target spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpec {
    /// The kind: bh, iomap, null, dir, ext4, xfs, tmpfs.
    pub kind: String,
    /// `key=value` parameters, in the order given.
    pub params: Vec<(String, String)>,
}

/// Every kind, with the parameters it takes (for messages and `aopsbench targets`).
pub const KINDS: &[(&str, &[&str], &str)] = &[
    (
        "bh",
        &[
            "block_size",
            "max_folio",
            "large_folios",
            "backing",
            "size",
            "cache",
            "writeback",
            "engine",
            "qd",
            "poison",
            "bug",
            "faults",
        ],
        "fsimpl, ext4's buffer_head aops",
    ),
    (
        "iomap",
        &[
            "block_size",
            "max_folio",
            "backing",
            "size",
            "cache",
            "writeback",
            "engine",
            "qd",
            "poison",
            "bug",
            "faults",
        ],
        "fsimpl, ext4's iomap aops with large folios",
    ),
    ("null", &[], "discards writes, reads zeros: measures the harness itself"),
    ("dir", &["path"], "files in a directory of any mounted filesystem"),
    (
        "ext4",
        &["opts", "size", "backing", "mkfs_opts", "dev", "faults"],
        "an ext4 loop mount the harness makes (root; dev=logged: on a device it serves through FUSE)",
    ),
    (
        "xfs",
        &["opts", "size", "backing", "mkfs_opts", "dev", "faults"],
        "an xfs loop mount the harness makes (root, mkfs.xfs; dev=logged: on a device it serves through FUSE)",
    ),
    ("tmpfs", &["opts", "size"], "a tmpfs mount the harness makes (root)"),
];

impl TargetSpec {
    /// Parses `KIND[:key=value...]`.
    pub fn parse(text: &str) -> Result<TargetSpec> {
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(TargetError::Setup(format!(
                "target '{}' holds the control character U+{:04X}: give KIND[:key=value...] as plain text",
                text.escape_debug(),
                c as u32
            )));
        }
        let mut parts = text.split(':');
        let kind = parts.next().unwrap_or_default().trim().to_string();
        let Some((_, allowed, _)) = KINDS.iter().find(|(k, _, _)| *k == kind) else {
            let kinds: Vec<&str> = KINDS.iter().map(|(k, _, _)| *k).collect();
            return Err(TargetError::Setup(format!(
                "unknown target kind '{kind}' in '{text}': use one of {}",
                kinds.join(", ")
            )));
        };
        let mut params = Vec::new();
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                return Err(TargetError::Setup(format!(
                    "target '{text}': parameter '{p}' is not key=value (e.g. {kind}:{}=...)",
                    allowed.first().unwrap_or(&"key")
                )));
            };
            if !allowed.contains(&k) {
                let valid = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
                return Err(TargetError::Setup(format!(
                    "target '{text}': unknown parameter '{k}' for {kind} (valid: {valid})"
                )));
            }
            params.push((k.to_string(), v.to_string()));
        }
        Ok(TargetSpec { kind, params })
    }

    /// The value of parameter `key`, if given (the last one wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets `key` unless given.
    pub fn default_param(&mut self, key: &str, value: impl Into<String>) {
        if self.get(key).is_none() {
            self.params.push((key.to_string(), value.into()));
        }
    }

    /// A parameter as a size with fio's suffixes (k, m, g, t; base 1024).
    pub fn size(&self, key: &str) -> Result<Option<u64>> {
        self.get(key)
            .map(|v| {
                parse_size(v).ok_or_else(|| {
                    TargetError::Setup(format!("target {}: {key}={v} is not a size (e.g. 4k, 64m, 1g)", self.kind))
                })
            })
            .transpose()
    }
}

impl std::fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind)?;
        for (k, v) in &self.params {
            write!(f, ":{k}={v}")?;
        }
        Ok(())
    }
}

/// A size with fio's suffixes: `4k`, `1m`, `2g`, `1t` (base 1024), or plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix("ib").or_else(|| s.strip_suffix('b')).unwrap_or(&s);
    let (num, shift) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 10),
        'm' => (&s[..s.len() - 1], 20),
        'g' => (&s[..s.len() - 1], 30),
        't' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Parses `--targets a,b,c` (kinds without parameters) and `--target SPEC` values.
pub fn parse_all(targets: &[String], target_lists: &[String]) -> Result<Vec<TargetSpec>> {
    let mut out = Vec::new();
    for list in target_lists {
        for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            out.push(TargetSpec::parse(k)?);
        }
    }
    for t in targets {
        out.push(TargetSpec::parse(t)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        let s = TargetSpec::parse("bh:block_size=1024:backing=mem").unwrap();
        assert_eq!(s.kind, "bh");
        assert_eq!(s.get("block_size"), Some("1024"));
        assert_eq!(s.to_string(), "bh:block_size=1024:backing=mem");
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = TargetSpec::parse("btrfs").unwrap_err().to_string();
        assert!(e.contains("unknown target kind 'btrfs'") && e.contains("bh, iomap"), "{e}");
        let e = TargetSpec::parse("bh:blocksize=4k").unwrap_err().to_string();
        assert!(e.contains("unknown parameter 'blocksize'") && e.contains("block_size"), "{e}");
        let e = TargetSpec::parse("iomap:mem").unwrap_err().to_string();
        assert!(e.contains("not key=value"), "{e}");
        let e = TargetSpec::parse("bh:cache=1g\nrm -rf").unwrap_err().to_string();
        assert_eq!(
            e,
            "target 'bh:cache=1g\\nrm -rf' holds the control character U+000A: give KIND[:key=value...] as plain text"
        );
    }
}
