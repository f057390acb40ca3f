//! What fio substitutes in option values before reading them: `${VAR}` from the environment,
//! and its keywords `$pagesize`, `$mb_memory` and `$ncpus`, after which a value with `+ - * /`
//! is computed (fio hands it to `bc`; aopsbench evaluates it with fio's arithmetic).

use std::collections::BTreeMap;

/// What fio's keywords stand for: this machine's, or fixed ones for a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// `$pagesize`: bytes per page.
    pub pagesize: u64,
    /// `$mb_memory`: MiB of memory.
    pub mb_memory: u64,
    /// `$ncpus`: CPUs configured.
    pub ncpus: u64,
}

impl HostFacts {
    /// This machine's (`sysconf(3)`).
    pub fn here() -> HostFacts {
        // SAFETY: sysconf has no preconditions.
        let (page, pages, cpus) = unsafe {
            (
                libc::sysconf(libc::_SC_PAGESIZE),
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_NPROCESSORS_CONF),
            )
        };
        let page = u64::try_from(page).unwrap_or(4096).max(1);
        let pages = u64::try_from(pages).unwrap_or(0);
        HostFacts {
            pagesize: page,
            mb_memory: pages.saturating_mul(page) >> 20,
            ncpus: u64::try_from(cpus).unwrap_or(1).max(1),
        }
    }
}

/// Where `${VAR}` values come from: the given ones first, then the process environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Env {
    pub(crate) vars: BTreeMap<String, String>,
}

impl Env {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    }
}

/// `value` with `${VAR}` and the keywords substituted (and computed when a keyword took part
/// in arithmetic), or what went wrong.
pub(crate) fn substitute(value: &str, env: &Env, host: &HostFacts) -> Result<String, String> {
    if !value.contains('$') {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        match env.get(name) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "the environment variable {name} is not set (fio would put nothing there): set it, or give the \
                     option with --set"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let mut replaced = false;
    for (word, v) in [("$pagesize", host.pagesize), ("$mb_memory", host.mb_memory), ("$ncpus", host.ncpus)] {
        if out.contains(word) {
            out = out.replace(word, &v.to_string());
            replaced = true;
        }
    }
    if replaced && out.contains(['+', '-', '*', '/']) && !out.contains('\'') {
        let n = format!("({out})").parse::<vocab::Size>().map_err(|e| format!("computing '{out}': {e}"))?;
        out = n.bytes().to_string();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: HostFacts = HostFacts { pagesize: 4096, mb_memory: 2048, ncpus: 4 };

    #[test]
    fn environment_and_keywords() {
        let env = Env { vars: [("FIO_BS".to_string(), "8k".to_string())].into() };
        assert_eq!(substitute("${FIO_BS}", &env, &HOST), Ok("8k".into()));
        assert_eq!(substitute("a${FIO_BS}b", &env, &HOST), Ok("a8kb".into()));
        assert_eq!(substitute("$pagesize", &env, &HOST), Ok("4096".into()));
        assert_eq!(substitute("$ncpus", &env, &HOST), Ok("4".into()));
        assert_eq!(substitute("$mb_memory/2", &env, &HOST), Ok("1024".into()));
        assert_eq!(substitute("2*$ncpus", &env, &HOST), Ok("8".into()));
        assert_eq!(substitute("dir/$jobnum", &env, &HOST), Ok("dir/$jobnum".into()));
        let e = substitute("${AOPSBENCH_SURELY_UNSET_VAR}", &env, &HOST).unwrap_err();
        assert!(e.starts_with("the environment variable AOPSBENCH_SURELY_UNSET_VAR is not set"), "{e}");
    }

    #[test]
    fn this_machine() {
        let h = HostFacts::here();
        assert!(h.pagesize >= 4096 && h.mb_memory > 0 && h.ncpus > 0, "{h:?}");
    }
}
