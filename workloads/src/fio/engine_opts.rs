//! The options of fio's engines that are not read/write I/O engines: `cpuio` (engines/cpu.c),
//! `exec` (exec.c), `net` (net.c), `e4defrag` (e4defrag.c) and the `filestat`/`dirstat`
//! `stat_type` (fileoperations.c), with fio's defaults.

use super::value;

/// `cpumode=` of `cpuio`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CpuMode {
    /// `noop` (fio's default): spin for the chunk.
    #[default]
    Noop,
    /// `qsort`: sort 256 Ki 32-bit numbers four ways per I/O (fio's `do_qsort`).
    Qsort,
}

/// `cpuio`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuOptions {
    /// `cpuload=`: percent of a CPU to use (required; above 100 is 100).
    pub load: u32,
    /// `cpuchunks=`: microseconds of each burn (fio's default 50000).
    pub chunk_us: u64,
    /// `cpumode=`.
    pub mode: CpuMode,
}

/// `exec`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOptions {
    /// `program=`: what to run (required).
    pub program: Option<String>,
    /// `arguments=`: its arguments, split at spaces; `%r` is the runtime in seconds, `%n` the
    /// job's name.
    pub arguments: Option<String>,
    /// `grace_time=`: seconds between SIGTERM and SIGKILL once the runtime is up (default 1).
    pub grace_time: u64,
    /// `std_redirect=`: stdout and stderr to `JOB.stdout` and `JOB.stderr` (default 1).
    pub std_redirect: bool,
}

/// `protocol=` of `net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetProtocol {
    /// `tcp` (fio's default).
    #[default]
    Tcp,
    /// `tcpv6`.
    TcpV6,
    /// `udp`.
    Udp,
    /// `udpv6`.
    UdpV6,
    /// `unix`: a UNIX-domain stream socket at the path `hostname=` names.
    Unix,
    /// `vsock`: an `AF_VSOCK` stream socket (`hostname=` is the CID).
    Vsock,
}

impl NetProtocol {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            NetProtocol::Tcp => "tcp",
            NetProtocol::TcpV6 => "tcpv6",
            NetProtocol::Udp => "udp",
            NetProtocol::UdpV6 => "udpv6",
            NetProtocol::Unix => "unix",
            NetProtocol::Vsock => "vsock",
        }
    }

    /// A datagram protocol.
    pub fn is_udp(self) -> bool {
        matches!(self, NetProtocol::Udp | NetProtocol::UdpV6)
    }
}

/// `net`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetOptions {
    /// `hostname=`: the peer to connect or send to, the multicast group to join, or the UNIX
    /// socket's path.
    pub hostname: Option<String>,
    /// `port=` (fio adds the thread's number, so that `numjobs` threads get their own).
    pub port: u16,
    /// `protocol=`.
    pub protocol: NetProtocol,
    /// `listen`: accept the connection rather than make it (TCP, vsock).
    pub listen: bool,
    /// `pingpong`: each I/O is answered by the peer before the next.
    pub pingpong: bool,
    /// `nodelay`: `TCP_NODELAY`.
    pub nodelay: bool,
    /// `interface=`: the address of the interface multicast goes through.
    pub interface: Option<String>,
    /// `ttl=`: multicast time-to-live (default 1).
    pub ttl: u32,
    /// `window_size=`: `SO_RCVBUF`/`SO_SNDBUF` (0: the kernel's).
    pub window_size: u32,
    /// `mss=`: `TCP_MAXSEG` (0: the kernel's).
    pub mss: u32,
}

/// `e4defrag`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefragOptions {
    /// `donorname=`: the donor file, in the job's directory (required).
    pub donorname: Option<String>,
    /// `inplace=1`: allocate the donor's range before each move and truncate it after,
    /// rather than allocating the whole donor once.
    pub inplace: bool,
}

/// `stat_type=` of `filestat` and `dirstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StatType {
    /// `stat` (fio's default).
    #[default]
    Stat,
    /// `lstat`.
    Lstat,
    /// `statx`.
    Statx,
}

/// The options of every engine that has its own (fio's `struct ioengine_ops` `options`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// `cpuio`.
    pub cpu: CpuOptions,
    /// `exec`.
    pub exec: ExecOptions,
    /// `net`.
    pub net: NetOptions,
    /// `e4defrag`.
    pub defrag: DefragOptions,
    /// `filestat`, `dirstat`.
    pub stat_type: StatType,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            cpu: CpuOptions { load: 0, chunk_us: 50_000, mode: CpuMode::Noop },
            exec: ExecOptions { program: None, arguments: None, grace_time: 1, std_redirect: true },
            net: NetOptions {
                hostname: None,
                port: 0,
                protocol: NetProtocol::Tcp,
                listen: false,
                pingpong: false,
                nodelay: false,
                interface: None,
                ttl: 1,
                window_size: 0,
                mss: 0,
            },
            defrag: DefragOptions { donorname: None, inplace: false },
            stat_type: StatType::Stat,
        }
    }
}

/// Every engine option name this module takes.
pub(crate) const NAMES: &[&str] = &[
    "cpuload",
    "cpuchunks",
    "cpumode",
    "program",
    "arguments",
    "grace_time",
    "std_redirect",
    "hostname",
    "port",
    "protocol",
    "proto",
    "listen",
    "pingpong",
    "nodelay",
    "interface",
    "ttl",
    "window_size",
    "mss",
    "donorname",
    "inplace",
    "stat_type",
];

impl EngineOptions {
    /// Applies `key[=value]` (lower case); `None` when `key` is not an engine option here,
    /// `Some(Err(expected))` when the value does not parse.
    pub(crate) fn apply(&mut self, key: &str, value: Option<&str>) -> Option<Result<(), String>> {
        let text =
            || value.filter(|v| !v.is_empty()).ok_or_else(|| "this option needs a value (key=value)".to_string());
        let int = |lo: u64, hi: u64| text().and_then(|t| value::int_in(t, lo, hi));
        let flag = || value::boolean(value);
        let r = (|| -> Result<(), String> {
            match key {
                "cpuload" => self.cpu.load = int(0, u64::from(u32::MAX))?.min(100) as u32,
                "cpuchunks" => self.cpu.chunk_us = int(1, u64::from(u32::MAX))?,
                "cpumode" => {
                    self.cpu.mode = match text()?.to_ascii_lowercase().as_str() {
                        "noop" => CpuMode::Noop,
                        "qsort" => CpuMode::Qsort,
                        _ => return Err("expected noop or qsort".into()),
                    }
                }
                "program" => self.exec.program = Some(text()?.to_string()),
                "arguments" => self.exec.arguments = Some(text()?.to_string()),
                "grace_time" => self.exec.grace_time = int(0, 3600)?,
                "std_redirect" => self.exec.std_redirect = flag()?,
                "hostname" => self.net.hostname = Some(text()?.to_string()),
                "port" => self.net.port = int(1, 65535)? as u16,
                "protocol" | "proto" => {
                    self.net.protocol = match text()?.to_ascii_lowercase().as_str() {
                        "tcp" => NetProtocol::Tcp,
                        "tcpv6" => NetProtocol::TcpV6,
                        "udp" => NetProtocol::Udp,
                        "udpv6" => NetProtocol::UdpV6,
                        "unix" => NetProtocol::Unix,
                        "vsock" => NetProtocol::Vsock,
                        _ => return Err("expected tcp, tcpv6, udp, udpv6, unix or vsock".into()),
                    }
                }
                "listen" => self.net.listen = flag()?,
                "pingpong" => self.net.pingpong = flag()?,
                "nodelay" => self.net.nodelay = flag()?,
                "interface" => self.net.interface = Some(text()?.to_string()),
                "ttl" => self.net.ttl = int(0, 255)? as u32,
                "window_size" => self.net.window_size = int(0, u64::from(u32::MAX / 2))? as u32,
                "mss" => self.net.mss = int(0, 65535)? as u32,
                "donorname" => self.defrag.donorname = Some(text()?.to_string()),
                "inplace" => self.defrag.inplace = int(0, 1)? == 1,
                "stat_type" => {
                    self.stat_type = match text()?.to_ascii_lowercase().as_str() {
                        "stat" => StatType::Stat,
                        "lstat" => StatType::Lstat,
                        "statx" => StatType::Statx,
                        _ => return Err("expected stat, lstat or statx".into()),
                    }
                }
                _ => return Err(String::new()),
            }
            Ok(())
        })();
        match r {
            Err(e) if e.is_empty() => None,
            r => Some(r),
        }
    }

    /// The options that differ from fio's defaults, as `(key, value)` for a job section.
    pub(crate) fn to_fio(&self) -> Vec<(&'static str, String)> {
        let d = EngineOptions::default();
        let mut out = Vec::new();
        let yes = |b: bool| if b { "1".to_string() } else { "0".to_string() };
        if self.cpu.load != d.cpu.load {
            out.push(("cpuload", self.cpu.load.to_string()));
        }
        if self.cpu.chunk_us != d.cpu.chunk_us {
            out.push(("cpuchunks", self.cpu.chunk_us.to_string()));
        }
        if self.cpu.mode == CpuMode::Qsort {
            out.push(("cpumode", "qsort".into()));
        }
        let e = &self.exec;
        let strings = [
            ("program", &e.program),
            ("arguments", &e.arguments),
            ("hostname", &self.net.hostname),
            ("interface", &self.net.interface),
            ("donorname", &self.defrag.donorname),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        if e.grace_time != d.exec.grace_time {
            out.push(("grace_time", e.grace_time.to_string()));
        }
        if e.std_redirect != d.exec.std_redirect {
            out.push(("std_redirect", yes(e.std_redirect)));
        }
        let n = &self.net;
        if n.port != d.net.port {
            out.push(("port", n.port.to_string()));
        }
        if n.protocol != d.net.protocol {
            out.push(("protocol", n.protocol.fio_name().into()));
        }
        for (k, v, dv) in [("listen", n.listen, false), ("pingpong", n.pingpong, false), ("nodelay", n.nodelay, false)]
        {
            if v != dv {
                out.push((k, yes(v)));
            }
        }
        for (k, v, dv) in [("ttl", n.ttl, d.net.ttl), ("window_size", n.window_size, 0), ("mss", n.mss, 0)] {
            if v != dv {
                out.push((k, v.to_string()));
            }
        }
        if self.defrag.inplace {
            out.push(("inplace", "1".into()));
        }
        match self.stat_type {
            StatType::Stat => {}
            StatType::Lstat => out.push(("stat_type", "lstat".into())),
            StatType::Statx => out.push(("stat_type", "statx".into())),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_with_fio_defaults_and_limits() {
        let mut o = EngineOptions::default();
        assert_eq!(o.apply("cpuload", Some("150")), Some(Ok(())));
        assert_eq!(o.cpu.load, 100, "fio caps cpuload at 100");
        assert_eq!(o.apply("cpumode", Some("qsort")), Some(Ok(())));
        assert_eq!(o.apply("protocol", Some("udp")), Some(Ok(())));
        assert!(o.net.protocol.is_udp());
        assert_eq!(o.apply("listen", None), Some(Ok(())));
        assert!(o.net.listen);
        assert_eq!(o.apply("port", Some("0")).map(|r| r.is_err()), Some(true));
        assert_eq!(o.apply("inplace", Some("2")).map(|r| r.is_err()), Some(true));
        assert_eq!(o.apply("rw", Some("read")), None);
        let keys: Vec<&str> = o.to_fio().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["cpuload", "cpumode", "protocol", "listen"]);
    }
}
