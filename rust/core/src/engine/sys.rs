//! The syscalls the engine needs, wrapped so that the rest of the engine is safe code.
//!
//! This is the only module of the crate with `unsafe`. Every function returns `io::Result` and
//! takes or returns plain Rust types; the `libc` structures never leave this file.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_len(ret: isize) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

fn owned(ret: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: `fd` was just returned by the kernel for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn socklen<T>() -> libc::socklen_t {
    // The structures passed here are a few dozen bytes: the cast cannot truncate.
    size_of::<T>() as libc::socklen_t
}

/// CLOCK_MONOTONIC in nanoseconds (the same clock as Python's `time.monotonic()`).
pub fn monotonic_ns() -> u64 {
    // SAFETY: an all-zero timespec is a valid value.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// CLOCK_REALTIME in nanoseconds: the clock of the kernel's receive timestamps (SO_TIMESTAMPNS).
pub fn realtime_ns() -> u64 {
    // SAFETY: an all-zero timespec is a valid value.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

// ---------------------------------------------------------------------------------------------
// epoll, timerfd, eventfd

/// A readiness report from [`epoll_wait`]: the token given to [`epoll_add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    pub events: u32,
}

pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant flags.
    owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// Turn input readiness of an `fd` already added with `token` on or off (EPOLL_CTL_MOD).
pub fn epoll_watch(
    epoll: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    token: u64,
    watch: bool,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: if watch { libc::EPOLLIN as u32 } else { 0 },
        u64: token,
    };
    // SAFETY: both fds are open (borrowed); `ev` is a valid epoll_event the kernel copies.
    check(unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_MOD,
            fd.as_raw_fd(),
            &mut ev,
        )
    })
    .map(drop)
}

/// Watch `fd` for input; `token` comes back in [`Ready`].
pub fn epoll_add(epoll: BorrowedFd<'_>, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: both fds are open (borrowed); `ev` is a valid epoll_event the kernel copies.
    check(unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut ev,
        )
    })
    .map(drop)
}

pub fn epoll_del(epoll: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: both fds are open (borrowed); `ev` is ignored by the kernel for EPOLL_CTL_DEL.
    check(unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            fd.as_raw_fd(),
            &mut ev,
        )
    })
    .map(drop)
}

/// Wait (forever) for input; fills `out` and returns how many entries are valid. EINTR gives 0.
pub fn epoll_wait(epoll: BorrowedFd<'_>, out: &mut [Ready]) -> io::Result<usize> {
    epoll_wait_for(epoll, out, true)
}

/// [`epoll_wait`], or with `block == false` only what is ready now (timeout 0).
pub fn epoll_wait_for(epoll: BorrowedFd<'_>, out: &mut [Ready], block: bool) -> io::Result<usize> {
    const MAX: usize = 64;
    let timeout: libc::c_int = if block { -1 } else { 0 };
    // SAFETY: an all-zero epoll_event array is valid.
    let mut evs: [libc::epoll_event; MAX] = unsafe { zeroed() };
    let n = out.len().min(MAX) as libc::c_int;
    // SAFETY: `evs` has room for `n` events; the fd is open.
    let ret = unsafe { libc::epoll_wait(epoll.as_raw_fd(), evs.as_mut_ptr(), n, timeout) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(err)
        };
    }
    let count = usize::try_from(ret).unwrap_or(0);
    for (slot, ev) in out.iter_mut().zip(evs.iter()).take(count) {
        // Copy the (packed) fields out by value.
        let (token, events) = (ev.u64, ev.events);
        *slot = Ready { token, events };
    }
    Ok(count)
}

pub fn timerfd_create() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant flags.
    owned(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
        )
    })
}

/// Arm the timer to fire at the absolute CLOCK_MONOTONIC time `at_ns`, or disarm it with `None`.
pub fn timerfd_set(timer: BorrowedFd<'_>, at_ns: Option<u64>) -> io::Result<()> {
    // SAFETY: an all-zero itimerspec is valid (and means "disarmed").
    let mut spec: libc::itimerspec = unsafe { zeroed() };
    if let Some(at) = at_ns {
        // 0 would disarm: a deadline at time 0 is already past, so 1 ns fires at once.
        let at = at.max(1);
        spec.it_value.tv_sec =
            libc::time_t::try_from(at / 1_000_000_000).unwrap_or(libc::time_t::MAX);
        spec.it_value.tv_nsec = (at % 1_000_000_000) as libc::c_long;
    }
    // SAFETY: the fd is an open timerfd; `spec` is valid; the old value is not wanted (null).
    check(unsafe {
        libc::timerfd_settime(
            timer.as_raw_fd(),
            libc::TFD_TIMER_ABSTIME,
            &spec,
            std::ptr::null_mut(),
        )
    })
    .map(drop)
}

pub fn eventfd_create() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant flags.
    owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

/// Make an eventfd readable.
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    write(fd, &1u64.to_ne_bytes()).map(drop)
}

/// Reset an eventfd or timerfd counter; "nothing to read" is not an error.
pub fn drain_counter(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 8];
    match read(fd, &mut buf) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the fd is open.
    check_len(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes; the fd is open.
    check_len(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

// ---------------------------------------------------------------------------------------------
// sockets

/// The kinds of socket the engine opens. All are non-blocking and close-on-exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// Raw IPv4 socket for an IP protocol (VRRP is 112).
    RawV4(u8),
    /// Raw IPv6 socket for an IP protocol.
    RawV6(u8),
    /// AF_PACKET, SOCK_RAW, protocol 0: sends whole Ethernet frames and receives nothing.
    PacketSend,
    /// NETLINK_ROUTE.
    Netlink,
}

pub fn socket(kind: SocketKind) -> io::Result<OwnedFd> {
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    let (domain, ty, proto) = match kind {
        SocketKind::RawV4(p) => (libc::AF_INET, libc::SOCK_RAW, libc::c_int::from(p)),
        SocketKind::RawV6(p) => (libc::AF_INET6, libc::SOCK_RAW, libc::c_int::from(p)),
        SocketKind::PacketSend => (libc::AF_PACKET, libc::SOCK_RAW, 0),
        SocketKind::Netlink => (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE),
    };
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::socket(domain, ty | flags, proto) })
}

fn setsockopt_raw<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of `size_of::<T>()` bytes; the kernel copies it.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            socklen::<T>(),
        )
    })
    .map(drop)
}

/// setsockopt with an `int` value.
pub fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &val)
}

/// SO_BINDTODEVICE: only traffic of this interface reaches the socket, and it sends through it.
pub fn bind_to_device(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    let name = ifname.as_bytes();
    let len = libc::socklen_t::try_from(name.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `name` is valid for `len` bytes; the kernel copies at most IFNAMSIZ of them.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            len,
        )
    })
    .map(drop)
}

fn in_addr(a: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(a.octets()),
    }
}

fn in6_addr(a: Ipv6Addr) -> libc::in6_addr {
    libc::in6_addr {
        s6_addr: a.octets(),
    }
}

fn ifindex_int(ifindex: u32) -> io::Result<libc::c_int> {
    libc::c_int::try_from(ifindex).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// IP_ADD_MEMBERSHIP for `group` on the interface `ifindex`.
pub fn join_v4(fd: BorrowedFd<'_>, group: Ipv4Addr, ifindex: u32) -> io::Result<()> {
    let mreq = libc::ip_mreqn {
        imr_multiaddr: in_addr(group),
        imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
        imr_ifindex: ifindex_int(ifindex)?,
    };
    setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)
}

/// IP_MULTICAST_IF: send multicast out of the interface `ifindex`.
pub fn multicast_if_v4(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let mreq = libc::ip_mreqn {
        imr_multiaddr: in_addr(Ipv4Addr::UNSPECIFIED),
        imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
        imr_ifindex: ifindex_int(ifindex)?,
    };
    setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)
}

/// IPV6_ADD_MEMBERSHIP for `group` on the interface `ifindex`.
pub fn join_v6(fd: BorrowedFd<'_>, group: Ipv6Addr, ifindex: u32) -> io::Result<()> {
    let mreq = libc::ipv6_mreq {
        ipv6mr_multiaddr: in6_addr(group),
        ipv6mr_interface: ifindex,
    };
    setsockopt_raw(fd, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)
}

/// Bind a netlink socket to the multicast `groups` bitmask (0: requests only).
pub fn bind_netlink(fd: BorrowedFd<'_>, groups: u32) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_nl is valid (pid 0: the kernel assigns one).
    let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    // SAFETY: `sa` is a valid sockaddr_nl of the given length.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            socklen::<libc::sockaddr_nl>(),
        )
    })
    .map(drop)
}

/// Block on receive for at most `millis` (for the netlink request socket's acks).
pub fn set_recv_timeout(fd: BorrowedFd<'_>, millis: u32) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::from(millis / 1000),
        tv_usec: libc::suseconds_t::from((millis % 1000) * 1000),
    };
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

/// Clear O_NONBLOCK (sockets are created non-blocking).
pub fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an open fd with integer flags.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })
        .map(drop)
}

/// What `recvmsg` learnt about a received IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes in the buffer (for IPv4 raw sockets this includes the IP header).
    pub len: usize,
    /// The packet was longer than the buffer.
    pub truncated: bool,
    pub src: IpAddr,
    /// The header's destination, from IP_PKTINFO / IPV6_PKTINFO.
    pub dst: Option<IpAddr>,
    /// The interface it arrived on (0 when unknown).
    pub ifindex: u32,
    /// TTL / hop limit, from IP_TTL / IPV6_HOPLIMIT.
    pub ttl: Option<u8>,
    /// When the kernel received it (CLOCK_REALTIME ns), from SO_TIMESTAMPNS when turned on.
    pub rx_realtime_ns: Option<u64>,
}

/// Control-message space, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// Receive one packet from a raw IP socket, with its source, destination, interface and TTL.
/// IPv6 needs IPV6_RECVPKTINFO + IPV6_RECVHOPLIMIT turned on for `dst`, `ifindex` and `ttl`;
/// IPv4 fills them from IP_PKTINFO + IP_RECVTTL when those are on (the IP header has them too).
pub fn recv_ip(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    let mut cmsg = CmsgBuf([0; 128]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers are set below.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = socklen::<libc::sockaddr_storage>();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.0.len() as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer of the declared size.
    let len = check_len(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) })?;
    decode(&msg, &from, len)
}

/// Most packets [`recv_ip_batch`] takes in one call.
pub const MAX_PACKETS_PER_CALL: usize = 32;

/// [`recv_ip`] for up to [`MAX_PACKETS_PER_CALL`] packets in one `recvmmsg`: packet `i` goes
/// to `buf[i * room..(i + 1) * room]` and its metadata to `out[i]` (as many as both allow).
/// Returns how many were received; `WouldBlock` when none wait. A packet without a source
/// address is returned with `len` 0 (skip it).
pub fn recv_ip_batch(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    room: usize,
    out: &mut [Received],
) -> io::Result<usize> {
    let count = out
        .len()
        .min(MAX_PACKETS_PER_CALL)
        .min(buf.len().checked_div(room).unwrap_or(0));
    if count == 0 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr values are valid; the pointers are
    // set below before the kernel sees them.
    let mut from: [libc::sockaddr_storage; MAX_PACKETS_PER_CALL] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut iov: [libc::iovec; MAX_PACKETS_PER_CALL] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_PACKETS_PER_CALL] = unsafe { zeroed() };
    let mut cmsg: [CmsgBuf; MAX_PACKETS_PER_CALL] = std::array::from_fn(|_| CmsgBuf([0; 128]));
    for (i, chunk) in buf.chunks_exact_mut(room).take(count).enumerate() {
        iov[i].iov_base = chunk.as_mut_ptr().cast();
        iov[i].iov_len = chunk.len();
    }
    for i in 0..count {
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = (&mut from[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = socklen::<libc::sockaddr_storage>();
        hdr.msg_iov = &mut iov[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = cmsg[i].0.as_mut_ptr().cast();
        hdr.msg_controllen = cmsg[i].0.len() as _;
    }
    // `count` is at most 32: the cast cannot truncate.
    let vlen = count as libc::c_uint;
    // SAFETY: `msgs[..count]` point to live `from`, `iov` (inside `buf`) and `cmsg` entries of
    // the declared sizes, which outlive the call; a null timeout is allowed (non-blocking fd).
    let ret = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            vlen,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let got = usize::try_from(check(ret)?).unwrap_or(0).min(count);
    for i in 0..got {
        let len = msgs[i].msg_len as usize;
        out[i] = decode(&msgs[i].msg_hdr, &from[i], len).unwrap_or(Received {
            len: 0,
            truncated: false,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: None,
            ifindex: 0,
            ttl: None,
            rx_realtime_ns: None,
        });
    }
    Ok(got)
}

/// What the kernel filled in for one received message: `msg` (its control data) and `from`.
fn decode(msg: &libc::msghdr, from: &libc::sockaddr_storage, len: usize) -> io::Result<Received> {
    let truncated = msg.msg_flags & libc::MSG_TRUNC != 0;

    let src = match libc::c_int::from(from.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into the storage.
            let sin =
                unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6) into the storage.
            let sin6 =
                unsafe { &*(from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no source address",
            ))
        }
    };

    let mut out = Received {
        len,
        truncated,
        src,
        dst: None,
        ifindex: 0,
        ttl: None,
        rx_realtime_ns: None,
    };
    // SAFETY: `msg` was filled by recvmsg / recvmmsg; CMSG_FIRSTHDR/NXTHDR stay within
    // msg_controllen.
    let mut hdr = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !hdr.is_null() {
        // SAFETY: `hdr` is non-null and points into `cmsg`, as CMSG_FIRSTHDR/NXTHDR guarantee.
        let (level, ty) = unsafe { ((*hdr).cmsg_level, (*hdr).cmsg_type) };
        // SAFETY: the data of a cmsg starts CMSG_DATA bytes in; each read below matches the
        // type the kernel documents for that (level, type) and is unaligned-safe.
        unsafe {
            let data = libc::CMSG_DATA(hdr);
            match (level, ty) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    out.ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
                    out.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                }
                (libc::IPPROTO_IP, libc::IP_TTL) => {
                    let ttl = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    out.ttl = u8::try_from(ttl).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    out.ifindex = info.ipi6_ifindex;
                    out.dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
                    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
                    out.rx_realtime_ns =
                        Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let hops = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    out.ttl = u8::try_from(hops).ok();
                }
                _ => {}
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        hdr = unsafe { libc::CMSG_NXTHDR(msg, hdr) };
    }
    Ok(out)
}

/// Send `payload` from a raw IP socket to `dst`, choosing the source address `src` and the
/// outgoing interface `ifindex` with IP_PKTINFO / IPV6_PKTINFO.
pub fn send_ip(
    fd: BorrowedFd<'_>,
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ifindex: u32,
) -> io::Result<usize> {
    let mut cmsg = CmsgBuf([0; 128]);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: an all-zero msghdr / sockaddr_in / sockaddr_in6 is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    // SAFETY: as above.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    // SAFETY: as above.
    let mut sin6: libc::sockaddr_in6 = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast();
    let ifindex_c = ifindex_int(ifindex)?;

    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr = in_addr(dst);
            msg.msg_name = (&mut sin as *mut libc::sockaddr_in).cast();
            msg.msg_namelen = socklen::<libc::sockaddr_in>();
            let info = libc::in_pktinfo {
                ipi_ifindex: ifindex_c,
                ipi_spec_dst: in_addr(src),
                ipi_addr: in_addr(Ipv4Addr::UNSPECIFIED),
            };
            // SAFETY: CMSG_SPACE is a pure size computation.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(socklen::<libc::in_pktinfo>()) } as _;
            // SAFETY: `cmsg` has room for one cmsg of CMSG_SPACE(in_pktinfo) bytes (< 128), so
            // the header and data writes stay inside it.
            unsafe {
                let hdr = libc::CMSG_FIRSTHDR(&msg);
                (*hdr).cmsg_level = libc::IPPROTO_IP;
                (*hdr).cmsg_type = libc::IP_PKTINFO;
                (*hdr).cmsg_len = libc::CMSG_LEN(socklen::<libc::in_pktinfo>()) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(hdr).cast::<libc::in_pktinfo>(), info);
            }
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr = in6_addr(dst);
            sin6.sin6_scope_id = ifindex;
            msg.msg_name = (&mut sin6 as *mut libc::sockaddr_in6).cast();
            msg.msg_namelen = socklen::<libc::sockaddr_in6>();
            let info = libc::in6_pktinfo {
                ipi6_addr: in6_addr(src),
                ipi6_ifindex: ifindex,
            };
            // SAFETY: CMSG_SPACE is a pure size computation.
            msg.msg_controllen = unsafe { libc::CMSG_SPACE(socklen::<libc::in6_pktinfo>()) } as _;
            // SAFETY: `cmsg` has room for one cmsg of CMSG_SPACE(in6_pktinfo) bytes (< 128).
            unsafe {
                let hdr = libc::CMSG_FIRSTHDR(&msg);
                (*hdr).cmsg_level = libc::IPPROTO_IPV6;
                (*hdr).cmsg_type = libc::IPV6_PKTINFO;
                (*hdr).cmsg_len = libc::CMSG_LEN(socklen::<libc::in6_pktinfo>()) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(hdr).cast::<libc::in6_pktinfo>(), info);
            }
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination families differ",
            ))
        }
    }
    // SAFETY: every pointer in `msg` refers to a live local of the declared size.
    check_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, 0) })
}

/// Send a whole Ethernet frame out of `ifindex` from an AF_PACKET socket.
pub fn send_frame(
    fd: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    dst_mac: [u8; 6],
    ethertype: u16,
) -> io::Result<usize> {
    // SAFETY: an all-zero sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex_int(ifindex)?;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&dst_mac);
    // SAFETY: `frame` is valid for its length; `sll` is a valid sockaddr_ll of the given size.
    check_len(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            socklen::<libc::sockaddr_ll>(),
        )
    })
}

/// Most frames [`send_frames`] hands to the kernel in one call.
pub const MAX_FRAMES_PER_CALL: usize = 64;

/// Send whole Ethernet frames from an AF_PACKET socket with one `sendmmsg`: frame `i` is
/// `buf[offset..offset + len]` out of `ifindex`, for each `(offset, len, ifindex)` of `frames`
/// (at most [`MAX_FRAMES_PER_CALL`]; the rest are left). Returns how many the kernel took, in
/// order; when that is fewer than asked, the first one not taken failed (send it alone to learn
/// why). A range outside `buf` is an `InvalidInput` error before anything is sent.
pub fn send_frames(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    frames: &[(usize, usize, u32)],
    ethertype: u16,
) -> io::Result<usize> {
    let count = frames.len().min(MAX_FRAMES_PER_CALL);
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: all-zero iovec, sockaddr_ll and mmsghdr values are valid (null pointers, zero
    // lengths); the pointers are set below before the kernel sees them.
    let mut iov: [libc::iovec; MAX_FRAMES_PER_CALL] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut sll: [libc::sockaddr_ll; MAX_FRAMES_PER_CALL] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_FRAMES_PER_CALL] = unsafe { zeroed() };
    for (i, &(offset, len, ifindex)) in frames.iter().take(count).enumerate() {
        let frame = offset
            .checked_add(len)
            .and_then(|end| buf.get(offset..end))
            .ok_or(io::ErrorKind::InvalidInput)?;
        iov[i].iov_base = frame.as_ptr().cast_mut().cast();
        iov[i].iov_len = frame.len();
        sll[i].sll_family = libc::AF_PACKET as libc::c_ushort;
        sll[i].sll_protocol = ethertype.to_be();
        sll[i].sll_ifindex = ifindex_int(ifindex)?;
    }
    for i in 0..count {
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = (&mut sll[i] as *mut libc::sockaddr_ll).cast();
        hdr.msg_namelen = socklen::<libc::sockaddr_ll>();
        hdr.msg_iov = &mut iov[i];
        hdr.msg_iovlen = 1;
    }
    // `count` is at most 64: the cast cannot truncate.
    let vlen = count as libc::c_uint;
    // SAFETY: `msgs[..count]` point to live `sll` / `iov` entries, whose buffers are inside
    // `buf` (checked above) and outlive the call; the kernel only reads them (and writes each
    // `msg_len`, inside `msgs`).
    let ret = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), vlen, 0) };
    check(ret).map(|n| usize::try_from(n).unwrap_or(0))
}

/// `send(2)` on a socket with a default destination (netlink: the kernel).
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for its length; the fd is open.
    check_len(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) })
}

/// `recv(2)`.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; the fd is open.
    check_len(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

// ---------------------------------------------------------------------------------------------
// the thread and the process

/// SCHED_RR at `priority` (1-99) for the calling thread.
pub fn set_realtime(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    check(unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) }).map(drop)
}

/// Nice value (-20..19) of the calling thread (keepalived's `vrrp_priority`).
pub fn set_thread_nice(nice: i8) -> io::Result<()> {
    // SAFETY: gettid has no arguments; setpriority on our own thread id takes plain integers.
    check(unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            nice.into(),
        )
    })
    .map(drop)
}

/// Run the calling thread only on these CPUs (keepalived's `vrrp_cpu_affinity`); CPUs past
/// 1023 are refused.
pub fn set_cpu_affinity(cpus: &[u16]) -> io::Result<()> {
    let mut mask = [0u64; 16];
    for &cpu in cpus {
        let word = mask
            .get_mut(usize::from(cpu / 64))
            .ok_or(io::ErrorKind::InvalidInput)?;
        *word |= 1 << (cpu % 64);
    }
    // SAFETY: pid 0 is the calling thread; `mask` is readable for the size passed.
    check(unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr().cast()) })
        .map(drop)
}

/// Ask the fair scheduler (EEVDF) for a time slice of `ns` for the calling thread, keeping its
/// policy and nice value. Linux 6.12+ reads `sched_runtime` of a SCHED_OTHER thread as its
/// slice (clamped to 0.1–100 ms); a woken thread whose slice is shorter than the running
/// task's preempts it at once instead of waiting for that task's slice to run out at a tick.
/// Older kernels ignore the field. A thread that is not SCHED_OTHER is left alone.
pub fn set_fair_slice_ns(ns: u64) -> io::Result<()> {
    // SAFETY: an all-zero sched_attr is a valid value.
    let mut attr: libc::sched_attr = unsafe { zeroed() };
    // 48 bytes (SCHED_ATTR_SIZE_VER0): the cast cannot truncate.
    let size = size_of::<libc::sched_attr>() as libc::c_uint;
    // SAFETY: pid 0 is the calling thread; `attr` is writable and `size` bytes long.
    let ret = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if attr.sched_policy != libc::SCHED_OTHER as u32 {
        return Ok(());
    }
    attr.size = size;
    attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
    attr.sched_runtime = ns;
    // SAFETY: pid 0 is the calling thread; `attr` is a valid sched_attr of `attr.size` bytes.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lock all current and future pages in memory (keepalived's `vrrp_no_swap`).
pub fn lock_memory() -> io::Result<()> {
    // SAFETY: plain syscall with constant flags.
    check(unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) }).map(drop)
}

/// Timer slack of the calling thread: the kernel may delay our wake-ups by this much.
pub fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    let ns = libc::c_ulong::try_from(ns).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            ns,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

/// Raw fd number of an owned fd, for Python's `add_reader`.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// `(field, value)` of this thread's scheduler entry (e.g. "se.slice").
    fn own_sched_field(field: &str) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == field).then(|| value.trim().parse().ok())?
        })
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let found: (u32, u32) = (
            parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        );
        found >= (major, minor)
    }

    #[test]
    fn a_fair_slice_keeps_the_policy_and_nice_value() {
        std::thread::spawn(|| {
            // SAFETY: plain syscalls on the calling thread (who 0 with PRIO_PROCESS is the
            // calling thread on Linux).
            let set = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 3) };
            assert_eq!(set, 0);
            set_fair_slice_ns(100_000).expect("sched_setattr");
            // SAFETY: as above.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            assert_eq!(nice, 3);
            assert_eq!(own_sched_field("policy"), Some(0));
            if kernel_at_least(6, 12) {
                assert_eq!(own_sched_field("se.slice"), Some(100_000));
            }
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn addresses_reach_the_kernel_in_network_order() {
        assert_eq!(
            in_addr(Ipv4Addr::new(198, 18, 0, 1)).s_addr.to_ne_bytes(),
            [198, 18, 0, 1]
        );
        let v6: Ipv6Addr = "ff02::12".parse().expect("v6");
        assert_eq!(
            in6_addr(v6).s6_addr,
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12]
        );
    }

    #[test]
    fn eventfd_wakes_epoll_with_its_token() {
        let ep = epoll_create().expect("epoll");
        let ev = eventfd_create().expect("eventfd");
        epoll_add(ep.as_fd(), ev.as_fd(), 7).expect("add");
        eventfd_signal(ev.as_fd()).expect("signal");
        let mut out = [Ready {
            token: 0,
            events: 0,
        }; 4];
        assert_eq!(epoll_wait(ep.as_fd(), &mut out).expect("wait"), 1);
        assert_eq!(out[0].token, 7);
        drain_counter(ev.as_fd()).expect("drain");
        drain_counter(ev.as_fd()).expect("drain twice is fine");
    }

    #[test]
    fn timerfd_fires_at_an_absolute_time() {
        let ep = epoll_create().expect("epoll");
        let t = timerfd_create().expect("timerfd");
        epoll_add(ep.as_fd(), t.as_fd(), 1).expect("add");
        let start = monotonic_ns();
        timerfd_set(t.as_fd(), Some(start + 2_000_000)).expect("arm");
        let mut out = [Ready {
            token: 0,
            events: 0,
        }; 4];
        assert_eq!(epoll_wait(ep.as_fd(), &mut out).expect("wait"), 1);
        assert!(monotonic_ns() >= start + 2_000_000);
    }
}
