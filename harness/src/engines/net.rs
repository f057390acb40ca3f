//! fio's `net` engine (engines/net.c): a job's reads are `recv(2)` and its writes `send(2)` on
//! one socket — TCP (v4, v6), UDP (v4, v6, multicast), a UNIX-domain stream, or vsock. The
//! receiver (`listen`, or every UDP reader) binds `port` plus its thread number and waits for
//! the sender: `accept(2)` for a stream, fio's "link open" datagram for UDP. Making the
//! connection is the engine's setup, before the job's clock starts (fio resets a listener's
//! stats once it accepts). With `pingpong` each I/O is answered before the next. A UDP
//! sender's close sends fio's "link close" datagram, which ends the receiver (fio's
//! `td->done`); a stream's receiver ends at the end of the stream (and at fio's close message
//! when it comes on its own, from fio). UDP writes carry fio's sequence trailer, and readers count the
//! datagrams that never came ([`NetEngine::dropped`]).

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use workloads::fio::{NetOptions, NetProtocol};

use super::{Engine, IoKind, IoReq, IoResult, Queued};
use crate::targets::TargetError;

/// fio's `FIO_LINK_OPEN_CLOSE_MAGIC`, `FIO_LINK_OPEN`, `FIO_LINK_CLOSE`.
const LINK_MAGIC: u32 = 0x6c69_6e6b;
const LINK_OPEN: u32 = 0x98;
const LINK_CLOSE: u32 = 0x89;
/// fio's `FIO_UDP_SEQ_MAGIC`, and the size of its `struct udp_seq` trailer.
const UDP_SEQ_MAGIC: u64 = 0x6573_7571_6e55_6563;
const UDP_SEQ_LEN: usize = 24;
/// How often a wait looks at the job's abort flag and deadline (fio's `poll_wait` wakes for
/// `td->terminate`).
const POLL_SLICE_MS: i32 = 100;

/// What a `net` job thread is.
pub struct NetSetup<'a> {
    /// The job's `net` options.
    pub opts: &'a NetOptions,
    /// The thread's number among `numjobs` (added to `port`).
    pub thread: u32,
    /// Whether the job reads (`td_read`) and writes (`td_write`).
    pub reads: bool,
    /// See `reads`.
    pub writes: bool,
    /// Bytes the job writes in all (`size`), for `MSG_MORE`.
    pub total: u64,
    /// Set when the run aborts: waits give up.
    pub abort: &'a AtomicBool,
    /// How long the job runs once connected: waits past it give up (fio terminates the job).
    pub runtime: Option<Duration>,
}

/// A connected `net` job thread.
pub struct NetEngine<'a> {
    fd: OwnedFd,
    protocol: NetProtocol,
    /// Where datagrams go (UDP); a UDP reader learns its peer from each datagram.
    peer: Option<SocketAddr>,
    pingpong: bool,
    /// A UDP reader: each datagram's sender is the peer its answers go to.
    learns_peer: bool,
    reads: bool,
    writes: bool,
    total: u64,
    written: u64,
    send_seq: u64,
    recv_seq: u64,
    /// A datagram's trailer did not match its size: sequence checking stops (fio's `seq_off`).
    seq_off: bool,
    dropped: u64,
    done: bool,
    abort: &'a AtomicBool,
    runtime: Option<Duration>,
    deadline: Option<Instant>,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn os(op: &'static str) -> TargetError {
    TargetError::Os { op, errno: errno() }
}

fn setup(msg: String) -> TargetError {
    TargetError::Setup(format!("net: {msg}"))
}

/// A socket address in the kernel's form.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn empty() -> RawAddr {
        // SAFETY: an all-zero sockaddr_storage is valid.
        RawAddr { storage: unsafe { std::mem::zeroed() }, len: std::mem::size_of::<libc::sockaddr_storage>() as _ }
    }

    fn inet(addr: SocketAddr) -> RawAddr {
        let mut r = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
                let sin = unsafe { &mut *(&mut r.storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as _;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                r.len = std::mem::size_of::<libc::sockaddr_in>() as _;
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut r.storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as _;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                r.len = std::mem::size_of::<libc::sockaddr_in6>() as _;
            }
        }
        r
    }

    fn unix(path: &str) -> Result<RawAddr, TargetError> {
        let mut r = RawAddr::empty();
        // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut r.storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as _;
        let bytes = std::path::Path::new(path).as_os_str().as_bytes();
        if bytes.len() >= sun.sun_path.len() {
            return Err(setup(format!("the UNIX socket path {path} is longer than {} bytes", sun.sun_path.len() - 1)));
        }
        for (d, &b) in sun.sun_path.iter_mut().zip(bytes) {
            *d = b as libc::c_char;
        }
        r.len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as _;
        Ok(r)
    }

    fn vsock(cid: u32, port: u32) -> RawAddr {
        let mut r = RawAddr::empty();
        // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_vm.
        let svm = unsafe { &mut *(&mut r.storage as *mut _ as *mut libc::sockaddr_vm) };
        svm.svm_family = libc::AF_VSOCK as _;
        svm.svm_cid = cid;
        svm.svm_port = port;
        r.len = std::mem::size_of::<libc::sockaddr_vm>() as _;
        r
    }

    fn ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    /// The address as an IP socket address, when it is one.
    fn to_inet(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as i32 {
            libc::AF_INET => {
                // SAFETY: the family says it is a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says it is a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(sin6.sin6_port)))
            }
            _ => None,
        }
    }
}

fn socket(domain: i32, ty: i32) -> Result<OwnedFd, TargetError> {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os("socket"));
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T, what: &'static str) -> Result<(), TargetError> {
    // SAFETY: `value` is a valid T of the size given.
    let r = unsafe {
        libc::setsockopt(fd, level, name, value as *const T as *const libc::c_void, std::mem::size_of::<T>() as _)
    };
    if r != 0 { Err(os(what)) } else { Ok(()) }
}

/// fio's `set_window_size` and `set_mss`.
fn tune(fd: RawFd, o: &NetOptions, receiver: bool) -> Result<(), TargetError> {
    if o.window_size > 0 {
        let w = o.window_size as libc::c_int;
        if receiver || o.pingpong {
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &w, "setsockopt SO_RCVBUF")?;
        }
        if !receiver || o.pingpong {
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &w, "setsockopt SO_SNDBUF")?;
        }
    }
    let tcp = matches!(o.protocol, NetProtocol::Tcp | NetProtocol::TcpV6);
    if o.mss > 0 && tcp {
        let m = o.mss as libc::c_int;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, &m, "setsockopt TCP_MAXSEG")?;
    }
    Ok(())
}

fn nodelay(fd: RawFd, o: &NetOptions) -> Result<(), TargetError> {
    if o.nodelay && matches!(o.protocol, NetProtocol::Tcp | NetProtocol::TcpV6) {
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &1 as &libc::c_int, "setsockopt TCP_NODELAY")?;
    }
    Ok(())
}

/// fio's `fio_netio_is_multicast`: an IPv4 address in 224.0.0.0/4.
fn multicast(host: Option<&str>) -> Option<Ipv4Addr> {
    host.and_then(|h| h.parse::<Ipv4Addr>().ok()).filter(Ipv4Addr::is_multicast)
}

/// `host:port` as an address of the protocol's family (fio's `fio_fill_addr`: a literal, else
/// `getaddrinfo`).
fn resolve(host: &str, port: u16, v6: bool) -> Result<SocketAddr, TargetError> {
    let found = (host, port)
        .to_socket_addrs()
        .map_err(|e| setup(format!("cannot resolve hostname={host}: {e}")))?
        .find(|a| a.is_ipv6() == v6);
    found.ok_or_else(|| setup(format!("hostname={host} has no IPv{} address", if v6 { 6 } else { 4 })))
}

impl<'a> NetEngine<'a> {
    /// Sets up the thread's socket: listens and waits for the peer, or connects to it.
    pub fn new(s: &NetSetup<'a>) -> Result<Self, TargetError> {
        let o = s.opts;
        let port = u32::from(o.port) + s.thread;
        let udp = o.protocol.is_udp();
        // fio: a datagram reader listens (fio_netio_init sets listen = td_read).
        let listen = if udp || o.protocol == NetProtocol::Unix { o.listen || s.reads } else { o.listen };
        let mut e = NetEngine {
            fd: socket(libc::AF_UNIX, libc::SOCK_STREAM)?,
            protocol: o.protocol,
            peer: None,
            pingpong: o.pingpong,
            learns_peer: udp && listen,
            reads: s.reads,
            writes: s.writes,
            total: s.total,
            written: 0,
            send_seq: 0,
            recv_seq: 0,
            seq_off: false,
            dropped: 0,
            done: false,
            abort: s.abort,
            runtime: s.runtime,
            deadline: None,
        };
        if port > 65535 && o.protocol != NetProtocol::Vsock {
            return Err(setup(format!("port {port} (port={} plus thread {}) is above 65535", o.port, s.thread)));
        }
        // Waiting for the peer is bounded by the runtime too (fio waits until it is terminated).
        e.deadline = s.runtime.map(|r| Instant::now() + r);
        if listen {
            e.listen(o, port)?;
        } else {
            e.connect(o, port)?;
        }
        // The job's own time starts with its first I/O.
        e.deadline = None;
        Ok(e)
    }

    /// Datagrams a UDP reader found missing by their sequence numbers (fio's `drop_io_u`).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// fio's `fio_netio_setup_listen` and `fio_netio_accept` (and `udp_recv_open`).
    fn listen(&mut self, o: &NetOptions, port: u32) -> Result<(), TargetError> {
        let host = o.hostname.as_deref();
        let listener = match o.protocol {
            NetProtocol::Unix => {
                let path = host.unwrap_or_default();
                let addr = RawAddr::unix(path)?;
                let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
                let c = CString::new(path).map_err(|_| setup(format!("bad socket path {path}")))?;
                // SAFETY: a NUL-terminated path; a stale socket is removed, as fio does.
                unsafe { libc::unlink(c.as_ptr()) };
                self.bind(&fd, &addr, "bind")?;
                fd
            }
            NetProtocol::Vsock => {
                let fd = socket(libc::AF_VSOCK, libc::SOCK_STREAM)?;
                setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &1 as &libc::c_int, "setsockopt")?;
                self.bind(&fd, &RawAddr::vsock(libc::VMADDR_CID_ANY, port), "bind")?;
                fd
            }
            p => {
                let v6 = matches!(p, NetProtocol::TcpV6 | NetProtocol::UdpV6);
                let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
                let ty = if p.is_udp() { libc::SOCK_DGRAM } else { libc::SOCK_STREAM };
                let fd = socket(domain, ty)?;
                let one: libc::c_int = 1;
                setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &one, "setsockopt SO_REUSEADDR")?;
                setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, &one, "setsockopt SO_REUSEPORT")?;
                tune(fd.as_raw_fd(), o, true)?;
                let mut bind_ip: IpAddr = if v6 { IpAddr::from([0u16; 8]) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
                if let Some(h) = host {
                    let Some(group) = multicast(Some(h)).filter(|_| p.is_udp() && !v6) else {
                        return Err(setup(format!(
                            "hostname={h} on a receiver: only a UDP (IPv4) multicast group can be given there"
                        )));
                    };
                    let interface = match &o.interface {
                        Some(i) => {
                            i.parse::<Ipv4Addr>().map_err(|_| setup(format!("interface={i} is not an IPv4 address")))?
                        }
                        None => Ipv4Addr::UNSPECIFIED,
                    };
                    let mr = libc::ip_mreq {
                        imr_multiaddr: libc::in_addr { s_addr: u32::from(group).to_be() },
                        imr_interface: libc::in_addr { s_addr: u32::from(interface).to_be() },
                    };
                    setsockopt(
                        fd.as_raw_fd(),
                        libc::IPPROTO_IP,
                        libc::IP_ADD_MEMBERSHIP,
                        &mr,
                        "setsockopt IP_ADD_MEMBERSHIP",
                    )?;
                    bind_ip = IpAddr::V4(group);
                }
                self.bind(&fd, &RawAddr::inet(SocketAddr::new(bind_ip, port as u16)), "bind")?;
                fd
            }
        };
        if self.protocol.is_udp() {
            self.fd = listener;
            return self.udp_recv_open();
        }
        // SAFETY: listen(2) on our bound socket.
        if unsafe { libc::listen(listener.as_raw_fd(), 10) } != 0 {
            return Err(os("listen"));
        }
        self.poll(listener.as_raw_fd(), libc::POLLIN)?;
        if self.done {
            return Err(setup(match self.abort.load(Relaxed) {
                true => "stopped waiting for a peer: another job of the run failed".into(),
                false => "no peer connected within the job's runtime".into(),
            }));
        }
        // SAFETY: accept(2) on our listening socket; the peer's address is not kept.
        let fd = unsafe {
            libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC)
        };
        if fd < 0 {
            return Err(os("accept"));
        }
        // SAFETY: a new descriptor we own.
        self.fd = unsafe { OwnedFd::from_raw_fd(fd) };
        nodelay(self.fd.as_raw_fd(), o)
    }

    fn bind(&self, fd: &OwnedFd, addr: &RawAddr, what: &'static str) -> Result<(), TargetError> {
        // SAFETY: bind(2) with an address of the length given.
        if unsafe { libc::bind(fd.as_raw_fd(), addr.ptr(), addr.len) } != 0 {
            return Err(os(what));
        }
        Ok(())
    }

    /// fio's `fio_netio_connect` (and `send_open` for a UDP writer).
    fn connect(&mut self, o: &NetOptions, port: u32) -> Result<(), TargetError> {
        let host = o.hostname.as_deref().unwrap_or_default();
        let (fd, addr) = match o.protocol {
            NetProtocol::Unix => (socket(libc::AF_UNIX, libc::SOCK_STREAM)?, RawAddr::unix(host)?),
            NetProtocol::Vsock => {
                let cid: u32 =
                    host.parse().map_err(|_| setup(format!("hostname={host}: vsock needs a CID (a number)")))?;
                (socket(libc::AF_VSOCK, libc::SOCK_STREAM)?, RawAddr::vsock(cid, port))
            }
            p => {
                let v6 = matches!(p, NetProtocol::TcpV6 | NetProtocol::UdpV6);
                let to = resolve(host, port as u16, v6)?;
                let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
                let ty = if p.is_udp() { libc::SOCK_DGRAM } else { libc::SOCK_STREAM };
                (socket(domain, ty)?, RawAddr::inet(to))
            }
        };
        let raw = fd.as_raw_fd();
        nodelay(raw, o)?;
        tune(raw, o, false)?;
        self.fd = fd;
        if self.protocol.is_udp() {
            self.peer = addr.to_inet();
            if multicast(Some(host)).is_some() {
                if let Some(i) = &o.interface {
                    let ip =
                        i.parse::<Ipv4Addr>().map_err(|_| setup(format!("interface={i} is not an IPv4 address")))?;
                    let a = libc::in_addr { s_addr: u32::from(ip).to_be() };
                    setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &a, "setsockopt IP_MULTICAST_IF")?;
                }
                let ttl = o.ttl as libc::c_int;
                setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &ttl, "setsockopt IP_MULTICAST_TTL")?;
            }
            if self.writes {
                // fio's send_open: the magic and command in network order.
                let msg = link_msg(LINK_MAGIC.to_be(), LINK_OPEN.to_be());
                self.sendto(&msg, 0).map_err(|errno| TargetError::Os { op: "sendto udp link open", errno })?;
            }
            return Ok(());
        }
        // SAFETY: connect(2) with an address of the length given.
        if unsafe { libc::connect(raw, addr.ptr(), addr.len) } != 0 {
            let e = errno();
            let hint = match (o.protocol, e) {
                (NetProtocol::Vsock, libc::ENODEV | libc::EADDRNOTAVAIL) => {
                    " (no vsock transport reaches that CID: on one host, load vsock_loopback and use hostname=1)"
                }
                _ => "",
            };
            return Err(setup(format!(
                "connect to {}{}: {}{hint}",
                if host.is_empty() { "(no hostname)" } else { host },
                if o.protocol == NetProtocol::Unix { String::new() } else { format!(" port {port}") },
                std::io::Error::from_raw_os_error(e)
            )));
        }
        Ok(())
    }

    /// fio's `fio_netio_udp_recv_open`: waits for the writer's "link open".
    fn udp_recv_open(&mut self) -> Result<(), TargetError> {
        let mut msg = [0u8; 8];
        loop {
            self.poll(self.fd.as_raw_fd(), libc::POLLIN)?;
            if self.done {
                return Err(setup(match self.abort.load(Relaxed) {
                    true => "stopped waiting for a writer: another job of the run failed".into(),
                    false => "no writer sent its link-open datagram within the job's runtime".into(),
                }));
            }
            let (n, from) = self.recvfrom(&mut msg, libc::MSG_DONTWAIT);
            match n {
                8 => {
                    let (magic, cmd) = read_link_msg(&msg);
                    if u32::from_be(magic) != LINK_MAGIC || u32::from_be(cmd) != LINK_OPEN {
                        return Err(setup(format!(
                            "bad udp open magic {:x}/{:x}",
                            u32::from_be(magic),
                            u32::from_be(cmd)
                        )));
                    }
                    self.peer = from;
                    return Ok(());
                }
                n if n < 0 && errno() == libc::EAGAIN => continue,
                n if n < 0 => return Err(os("recvfrom udp link open")),
                _ => continue,
            }
        }
    }

    /// fio's `poll_wait`: waits for `events` on `fd`, giving up (done) when the run aborts or
    /// the job's time is up.
    fn poll(&mut self, fd: RawFd, events: libc::c_short) -> Result<(), TargetError> {
        loop {
            if self.abort.load(Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.done = true;
                return Ok(());
            }
            let mut p = libc::pollfd { fd, events, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, POLL_SLICE_MS) };
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(os("poll"));
            }
            if r > 0 {
                return Ok(());
            }
        }
    }

    fn sendto(&self, buf: &[u8], flags: i32) -> Result<usize, i32> {
        let flags = flags | libc::MSG_NOSIGNAL;
        let fd = self.fd.as_raw_fd();
        // SAFETY: `buf` is valid for its length; the address, when given, for its length.
        let n = unsafe {
            match self.peer.filter(|_| self.protocol.is_udp()) {
                Some(p) => {
                    let a = RawAddr::inet(p);
                    libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags, a.ptr(), a.len)
                }
                None => libc::send(fd, buf.as_ptr().cast(), buf.len(), flags),
            }
        };
        if n < 0 { Err(errno()) } else { Ok(n as usize) }
    }

    fn recvfrom(&self, buf: &mut [u8], flags: i32) -> (isize, Option<SocketAddr>) {
        let mut from = RawAddr::empty();
        // SAFETY: `buf` is valid for its length; `from` holds any address.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                &mut from.storage as *mut _ as *mut libc::sockaddr,
                &mut from.len,
            )
        };
        (n, from.to_inet())
    }

    /// fio's `fio_netio_send`: `send` (with `MSG_MORE` while more of the job's bytes follow,
    /// on a stream without pingpong), or `sendto` the peer with the sequence trailer (UDP).
    fn send(&mut self, buf: &mut [u8]) -> IoResult {
        let mut flags = 0;
        if self.protocol.is_udp() {
            if buf.len() >= UDP_SEQ_LEN {
                let (at, bs) = (buf.len() - UDP_SEQ_LEN, buf.len() as u64);
                buf[at..at + 8].copy_from_slice(&UDP_SEQ_MAGIC.to_le_bytes());
                buf[at + 8..at + 16].copy_from_slice(&bs.to_le_bytes());
                buf[at + 16..].copy_from_slice(&self.send_seq.to_le_bytes());
                self.send_seq += 1;
            }
        } else if self.written + (buf.len() as u64) < self.total && !self.pingpong {
            flags |= libc::MSG_MORE;
        }
        loop {
            match self.sendto(buf, flags | libc::MSG_DONTWAIT) {
                Ok(n) if n > 0 => {
                    self.written += n as u64;
                    return Ok(n as u64);
                }
                Err(e) if e != libc::EAGAIN => return Err(e),
                _ => {}
            }
            self.poll(self.fd.as_raw_fd(), libc::POLLOUT).map_err(|e| e.errno().unwrap_or(libc::EIO))?;
            if self.done {
                return Ok(0);
            }
        }
    }

    /// fio's `fio_netio_recv`: one `recv` (a UDP reader learns its peer from it); fio's "link
    /// close" message, or the end of a stream, ends the job.
    fn recv(&mut self, buf: &mut [u8]) -> IoResult {
        let mut flags = libc::MSG_DONTWAIT;
        loop {
            let (n, from) = self.recvfrom(buf, flags);
            if n == 8 && is_close(&buf[..8]) {
                self.done = true;
                return Ok(0);
            }
            if n > 0 {
                if self.protocol.is_udp() {
                    if self.learns_peer && from.is_some() {
                        self.peer = from;
                    }
                    self.check_seq(&buf[..n as usize]);
                }
                return Ok(n as u64);
            }
            if n == 0 && flags & libc::MSG_WAITALL != 0 {
                // The stream ended.
                self.done = true;
                return Ok(0);
            }
            if n < 0 && errno() != libc::EAGAIN {
                return Err(errno());
            }
            self.poll(self.fd.as_raw_fd(), libc::POLLIN).map_err(|e| e.errno().unwrap_or(libc::EIO))?;
            if self.done {
                return Ok(0);
            }
            flags |= libc::MSG_WAITALL;
        }
    }

    /// fio's `verify_udp_seq`: a gap in the sequence counts the datagrams dropped.
    fn check_seq(&mut self, buf: &[u8]) {
        if buf.len() < UDP_SEQ_LEN || self.seq_off {
            return;
        }
        let at = buf.len() - UDP_SEQ_LEN;
        let word = |i: usize| u64::from_le_bytes(buf[at + i..at + i + 8].try_into().expect("8 bytes"));
        if word(0) != UDP_SEQ_MAGIC {
            return;
        }
        if word(8) != buf.len() as u64 {
            self.seq_off = true;
            return;
        }
        let seq = word(16);
        if seq > self.recv_seq {
            self.dropped += seq - self.recv_seq;
        }
        self.recv_seq = seq + 1;
    }

    fn transfer(&mut self, kind: IoKind, buf: &mut [u8]) -> IoResult {
        match kind {
            IoKind::Write => self.send(buf),
            IoKind::Read => self.recv(buf),
        }
    }
}

fn link_msg(magic: u32, cmd: u32) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&magic.to_ne_bytes());
    m[4..].copy_from_slice(&cmd.to_ne_bytes());
    m
}

fn read_link_msg(m: &[u8]) -> (u32, u32) {
    let w = |i: usize| u32::from_ne_bytes(m[i..i + 4].try_into().expect("4 bytes"));
    (w(0), w(4))
}

/// fio's `is_close_msg`: the magic and "close" in little-endian order.
fn is_close(m: &[u8]) -> bool {
    let (magic, cmd) = read_link_msg(m);
    u32::from_le(magic) == LINK_MAGIC && u32::from_le(cmd) == LINK_CLOSE
}

impl Engine for NetEngine<'_> {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        if self.deadline.is_none() {
            self.deadline = self.runtime.map(|r| Instant::now() + r);
        }
        // SAFETY: the caller keeps `buf` valid for `len` bytes until the I/O completes, which
        // is before this call returns.
        let buf = unsafe { std::slice::from_raw_parts_mut(req.buf, req.len) };
        let r = self.transfer(req.kind, buf);
        if !self.pingpong || self.done || !matches!(r, Ok(n) if n > 0) {
            return Queued::Done(r);
        }
        // fio's ping-pong: a reader answers what it got, a writer waits for the answer.
        let n = r.unwrap_or(0) as usize;
        let reply = match req.kind {
            IoKind::Read if self.reads => self.send(&mut buf[..n]),
            IoKind::Write if self.writes => self.recv(&mut buf[..n]),
            _ => Ok(0),
        };
        Queued::Done(reply.map(|_| n as u64))
    }
    fn done(&self) -> bool {
        self.done
    }
}

impl Drop for NetEngine<'_> {
    /// fio's `fio_netio_close_file`: tell the peer the link closes, then close. fio sends the
    /// message on streams too, in-band, where a reader can get it joined to the last data (and
    /// count it as 8 bytes more); here a stream's end says it (the reader ends at EOF), and
    /// the message goes to UDP readers only.
    fn drop(&mut self) {
        if self.writes && self.protocol.is_udp() {
            let msg = link_msg(LINK_MAGIC.to_le(), LINK_CLOSE.to_le());
            let _ = self.sendto(&msg, libc::MSG_DONTWAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_messages_are_fios() {
        let close = link_msg(LINK_MAGIC.to_le(), LINK_CLOSE.to_le());
        assert_eq!(close, [0x6b, 0x6e, 0x69, 0x6c, 0x89, 0, 0, 0]);
        assert!(is_close(&close));
        let open = link_msg(LINK_MAGIC.to_be(), LINK_OPEN.to_be());
        assert_eq!(open, [0x6c, 0x69, 0x6e, 0x6b, 0, 0, 0, 0x98]);
        assert!(!is_close(&open));
        assert_eq!(multicast(Some("239.0.0.0")), Some(Ipv4Addr::new(239, 0, 0, 0)));
        assert_eq!(multicast(Some("127.0.0.1")), None);
    }
}
