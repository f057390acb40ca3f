//! fio's NUMA options (`numa_cpu_nodes`, `numa_mem_policy`), as its thread_main applies them
//! through libnuma: the threads run on their nodes' CPUs (`numa_run_on_node_mask`) and
//! allocate by the policy (`set_mempolicy(2)`). Nodes are read from sysfs, as libnuma does.

use workloads::Job;
use workloads::fio::NumaMemPolicy;

const NODES: &str = "/sys/devices/system/node";

/// The online NUMA nodes (`/sys/devices/system/node/online`); node 0 alone where there is no
/// NUMA support.
fn online() -> Vec<usize> {
    std::fs::read_to_string(format!("{NODES}/online")).map_or_else(|_| vec![0], |s| list(&s))
}

/// A sysfs list such as `0-1,4`.
fn list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// Why `job`'s nodes cannot be used here, if a node it names is not online (libnuma's
/// `numa_parse_nodestring` fails fio's parse the same way).
pub fn check(job: &Job) -> Result<(), String> {
    let c = &job.control;
    let here = online();
    let named = c.numa_cpu_nodes.iter().flatten().map(|n| ("numa_cpu_nodes", *n));
    let named = named.chain(c.numa_mem_policy.nodes().iter().map(|n| ("numa_mem_policy", *n)));
    for (option, node) in named {
        if !here.contains(&node) {
            let nodes = here.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
            return Err(format!(
                "{option}: NUMA node {node} is not on this machine (online nodes: {nodes}); fio's libnuma refuses it \
                 too"
            ));
        }
    }
    Ok(())
}

/// The CPUs of the job's `numa_cpu_nodes`, if it has them.
pub fn cpus(job: &Job) -> Option<Vec<usize>> {
    let nodes = job.control.numa_cpu_nodes.as_ref()?;
    let mut cpus: Vec<usize> = nodes
        .iter()
        .flat_map(|n| std::fs::read_to_string(format!("{NODES}/node{n}/cpulist")).map(|s| list(&s)).unwrap_or_default())
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Sets the calling thread's memory policy to the job's; the errno if the kernel refuses.
pub fn set_mem_policy(policy: &NumaMemPolicy) -> Result<(), i32> {
    const MPOL_PREFERRED: i32 = 1;
    const MPOL_BIND: i32 = 2;
    const MPOL_INTERLEAVE: i32 = 3;
    const MPOL_LOCAL: i32 = 4;
    let (mode, nodes) = match policy {
        NumaMemPolicy::Default => return Ok(()),
        NumaMemPolicy::Prefer(n) => (MPOL_PREFERRED, vec![*n]),
        NumaMemPolicy::Bind(n) => (MPOL_BIND, n.clone()),
        NumaMemPolicy::Interleave(n) => (MPOL_INTERLEAVE, n.clone().unwrap_or_else(online)),
        NumaMemPolicy::Local => (MPOL_LOCAL, Vec::new()),
    };
    let mut mask = [0u64; 16];
    for n in nodes.into_iter().filter(|&n| n < 1024) {
        mask[n / 64] |= 1 << (n % 64);
    }
    let (ptr, maxnode) = if mode == MPOL_LOCAL { (std::ptr::null(), 0) } else { (mask.as_ptr(), 1024 + 1) };
    // SAFETY: `mask` holds `maxnode - 1` bits; a null mask with MPOL_LOCAL.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode as libc::c_ulong) };
    if r != 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_lists_and_this_machine() {
        assert_eq!(list("0-1,4\n"), [0, 1, 4]);
        assert_eq!(list(""), Vec::<usize>::new());
        assert!(online().contains(&0));
        // Node 0's policies are taken by the kernel.
        for p in [NumaMemPolicy::Bind(vec![0]), NumaMemPolicy::Prefer(0), NumaMemPolicy::Interleave(None)] {
            set_mem_policy(&p).unwrap_or_else(|e| panic!("{p:?}: errno {e}"));
        }
        set_mem_policy(&NumaMemPolicy::Local).unwrap();
        let far = NumaMemPolicy::Bind(vec![1000]);
        assert_eq!(set_mem_policy(&far), Err(libc::EINVAL));
    }
}
