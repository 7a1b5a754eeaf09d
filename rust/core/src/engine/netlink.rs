//! rtnetlink, hand-built: add and remove addresses, list links and addresses, follow link state.
//!
//! The message builders and parsers are pure functions over byte buffers (tested on literal
//! arrays below); [`Rtnl`] and [`RtnlEvents`] are the two sockets that carry them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::sys;

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
pub const IFA_F_SECONDARY: u32 = 0x01;
pub const IFA_F_NODAD: u32 = 0x02;
pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_TENTATIVE: u32 = 0x40;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
/// `ifi_type` of Ethernet-framed devices (veth, macvlan, bridges, NICs).
const ARPHRD_ETHER: u16 = 1;

pub const IFF_UP: u32 = 0x1;
pub const IFF_RUNNING: u32 = 0x40;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Multicast groups (bitmask form for `bind`): links, IPv4 and IPv6 addresses.
pub const GROUPS_LINK_AND_ADDR: u32 = 0x1 | 0x10 | 0x100;

/// An address to add to or remove from an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrRequest {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    /// IFA_LABEL (IPv4 only).
    pub label: Option<String>,
    /// IFA_BROADCAST (IPv4 only).
    pub broadcast: Option<Ipv4Addr>,
}

/// Add or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrOp {
    Add,
    Remove,
}

fn push_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn push_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn pad4(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

fn push_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    // Attribute payloads here are at most a few dozen bytes.
    push_u16(buf, (4 + data.len()) as u16);
    push_u16(buf, ty);
    buf.extend_from_slice(data);
    pad4(buf);
}

/// Start a message at the end of `buf`; returns its offset for [`finish_message`].
fn start_message(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32) -> usize {
    let start = buf.len();
    push_u32(buf, 0); // length, set by finish_message
    push_u16(buf, ty);
    push_u16(buf, flags);
    push_u32(buf, seq);
    push_u32(buf, 0); // port id: the kernel fills ours in
    start
}

fn finish_message(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    if let Some(field) = buf.get_mut(start..start + 4) {
        field.copy_from_slice(&len.to_ne_bytes());
    }
}

fn ip_bytes(addr: &IpAddr) -> ([u8; 16], usize, u8) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            out[..4].copy_from_slice(&a.octets());
            (out, 4, AF_INET)
        }
        IpAddr::V6(a) => (a.octets(), 16, AF_INET6),
    }
}

/// Append an RTM_NEWADDR / RTM_DELADDR request (with ACK) to `buf`.
/// IPv6 addresses are added with IFA_F_NODAD: a VIP must be usable at once.
pub fn push_addr_request(buf: &mut Vec<u8>, op: AddrOp, req: &AddrRequest, seq: u32) {
    let (ty, flags) = match op {
        AddrOp::Add => (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
        AddrOp::Remove => (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    };
    let start = start_message(buf, ty, flags, seq);
    let (bytes, len, family) = ip_bytes(&req.addr);
    let ifa_flags: u8 = if family == AF_INET6 && op == AddrOp::Add {
        IFA_F_NODAD as u8
    } else {
        0
    };
    // struct ifaddrmsg
    buf.push(family);
    buf.push(req.prefix);
    buf.push(ifa_flags);
    buf.push(0); // scope: universe; the kernel derives link scope for fe80::/10
    push_u32(buf, req.ifindex);
    push_attr(buf, IFA_LOCAL, &bytes[..len]);
    push_attr(buf, IFA_ADDRESS, &bytes[..len]);
    if family == AF_INET {
        if let Some(brd) = req.broadcast {
            push_attr(buf, IFA_BROADCAST, &brd.octets());
        }
        if let Some(label) = &req.label {
            let mut name = label.as_bytes().to_vec();
            name.push(0);
            push_attr(buf, IFA_LABEL, &name);
        }
    }
    finish_message(buf, start);
}

/// Append a dump request for all links (RTM_GETLINK) or all addresses (RTM_GETADDR).
fn push_dump_request(buf: &mut Vec<u8>, addresses: bool, seq: u32) {
    let ty = if addresses { RTM_GETADDR } else { RTM_GETLINK };
    let start = start_message(buf, ty, NLM_F_REQUEST | NLM_F_DUMP, seq);
    if addresses {
        buf.extend_from_slice(&[0u8; 8]); // ifaddrmsg, family AF_UNSPEC
    } else {
        buf.extend_from_slice(&[0u8; 16]); // ifinfomsg, family AF_UNSPEC
    }
    finish_message(buf, start);
}

/// The broadcast address of `addr/prefix` (`brd +` in iproute2).
pub fn broadcast_of(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    if prefix >= 31 {
        return addr;
    }
    let host_mask = u32::MAX >> prefix.min(32);
    Ipv4Addr::from(u32::from(addr) | host_mask)
}

// ---------------------------------------------------------------------------------------------
// parsing

/// One netlink message in a received buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Iterate the netlink messages in `buf`, stopping at the first malformed one.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let hdr = rest.get(..NLMSG_HDR_LEN)?;
        let len = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let ty = u16::from_ne_bytes([hdr[4], hdr[5]]);
        let flags = u16::from_ne_bytes([hdr[6], hdr[7]]);
        let seq = u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
        if len < NLMSG_HDR_LEN {
            return None;
        }
        let payload = rest.get(NLMSG_HDR_LEN..len)?;
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
        Some(Message {
            ty,
            flags,
            seq,
            payload,
        })
    })
}

/// Iterate the rtattrs in `buf` as (type, data).
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let hdr = rest.get(..4)?;
        let len = u16::from_ne_bytes([hdr[0], hdr[1]]) as usize;
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff; // strip NLA_F_NESTED/BYTEORDER
        if len < 4 {
            return None;
        }
        let data = rest.get(4..len)?;
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, data))
    })
}

/// The errno of an NLMSG_ERROR payload (0 is an ACK).
pub fn error_code(payload: &[u8]) -> Option<i32> {
    let b = payload.get(..4)?;
    Some(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// A link, from RTM_NEWLINK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    pub flags: u32,
    pub mac: Option<[u8; 6]>,
    /// Ethernet framing (`ARPHRD_ETHER`): whole frames may be sent on it through AF_PACKET.
    pub ether: bool,
    /// IFLA_MTU (0: not given).
    pub mtu: u32,
}

impl Link {
    /// Up and with carrier: what keepalived calls an interface that works.
    pub fn is_running(&self) -> bool {
        self.flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING)
    }
}

/// Parse an RTM_NEWLINK / RTM_DELLINK payload.
pub fn parse_link(payload: &[u8]) -> Option<Link> {
    let hdr = payload.get(..16)?;
    let ifindex = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let flags = u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
    let ether = u16::from_ne_bytes([hdr[2], hdr[3]]) == ARPHRD_ETHER;
    let mut link = Link {
        ifindex,
        name: String::new(),
        flags,
        mac: None,
        ether,
        mtu: 0,
    };
    for (ty, data) in attrs(payload.get(16..)?) {
        match ty {
            IFLA_IFNAME => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                link.name = String::from_utf8_lossy(&data[..end]).into_owned();
            }
            IFLA_ADDRESS => {
                if let Ok(mac) = <[u8; 6]>::try_from(data) {
                    link.mac = Some(mac);
                }
            }
            IFLA_MTU => {
                if let Ok(mtu) = <[u8; 4]>::try_from(data) {
                    link.mtu = u32::from_ne_bytes(mtu);
                }
            }
            _ => {}
        }
    }
    Some(link)
}

/// An interface address, from RTM_NEWADDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    pub flags: u32,
}

impl Addr {
    /// Usable as a source address: not tentative, DAD did not fail.
    pub fn is_usable(&self) -> bool {
        self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
    }
}

/// Parse an RTM_NEWADDR / RTM_DELADDR payload.
pub fn parse_addr(payload: &[u8]) -> Option<Addr> {
    let hdr = payload.get(..8)?;
    let family = hdr[0];
    let prefix = hdr[1];
    let mut flags = u32::from(hdr[2]);
    let ifindex = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let mut local = None;
    let mut address = None;
    for (ty, data) in attrs(payload.get(8..)?) {
        let ip = match (family, data.len()) {
            (AF_INET, 4) => <[u8; 4]>::try_from(data)
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            (AF_INET6, 16) => <[u8; 16]>::try_from(data)
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        };
        match ty {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            IFA_FLAGS => {
                if let Ok(b) = <[u8; 4]>::try_from(data) {
                    flags = u32::from_ne_bytes(b);
                }
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    let addr = local.or(address)?;
    Some(Addr {
        ifindex,
        addr,
        prefix,
        flags,
    })
}

// ---------------------------------------------------------------------------------------------
// sockets

/// A change the kernel announced on the event socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Link(Link),
    LinkGone(u32),
    Addr(Addr),
    AddrGone(Addr),
}

fn change_of(msg: &Message<'_>) -> Option<Change> {
    match msg.ty {
        RTM_NEWLINK => parse_link(msg.payload).map(Change::Link),
        RTM_DELLINK => parse_link(msg.payload).map(|l| Change::LinkGone(l.ifindex)),
        RTM_NEWADDR => parse_addr(msg.payload).map(Change::Addr),
        RTM_DELADDR => parse_addr(msg.payload).map(Change::AddrGone),
        _ => None,
    }
}

/// The request socket: address changes (acknowledged) and dumps. Blocking, with a timeout.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// The queued address requests: their ops (for what counts as harmless), the sequence
    /// number of the first, and their errnos once acknowledged.
    ops: Vec<AddrOp>,
    first_seq: u32,
    acks: Vec<Option<i32>>,
}

/// Netlink receive buffer: a batch of a few hundred VIP changes is acknowledged while we send
/// the gratuitous ARPs, before we read the acks; the default buffer would drop some.
const RTNL_RECV_BUFFER: libc::c_int = 2 << 20;

/// Errors for address requests that mean "already done".
fn harmless(op: AddrOp, errno: i32) -> bool {
    match op {
        AddrOp::Add => errno == libc::EEXIST,
        AddrOp::Remove => errno == libc::EADDRNOTAVAIL || errno == libc::ENODEV,
    }
}

impl Rtnl {
    pub fn open() -> io::Result<Self> {
        let fd = sys::socket(sys::SocketKind::Netlink)?;
        sys::bind_netlink(fd.as_fd(), 0)?;
        sys::set_blocking(fd.as_fd())?;
        sys::set_recv_timeout(fd.as_fd(), 1000)?;
        let s = fd.as_fd();
        if sys::set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RTNL_RECV_BUFFER).is_err() {
            let _ = sys::set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, RTNL_RECV_BUFFER);
        }
        Ok(Self {
            fd,
            seq: 1,
            out: Vec::with_capacity(4096),
            inbuf: vec![0; 64 * 1024],
            ops: Vec::with_capacity(64),
            first_seq: 0,
            acks: Vec::with_capacity(64),
        })
    }

    /// Queue address requests for one [`Rtnl::send_queued`]; returns the index of the first in
    /// the results of [`Rtnl::collect_acks`].
    pub fn queue_addrs(&mut self, op: AddrOp, reqs: &[AddrRequest]) -> usize {
        if self.ops.is_empty() {
            self.out.clear();
            self.first_seq = self.seq.wrapping_add(1);
        }
        let first = self.ops.len();
        for req in reqs {
            let seq = self.next_seq();
            push_addr_request(&mut self.out, op, req, seq);
            self.ops.push(op);
        }
        first
    }

    /// How many requests are queued (sent or not) and not yet acknowledged.
    pub fn queued(&self) -> usize {
        self.ops.len()
    }

    /// Send the queued requests in one `sendmsg`. rtnetlink handles them in our context during
    /// the call, so the addresses exist when it returns; the acks wait in our receive queue.
    pub fn send_queued(&mut self) -> io::Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        match sys::send(self.fd.as_fd(), &self.out) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.ops.clear();
                Err(e)
            }
        }
    }

    /// Read the acks of the sent requests: one result per request, in queue order ("already
    /// there" / "already gone" count as Ok). Empties the queue.
    pub fn collect_acks(&mut self, results: &mut Vec<io::Result<()>>) -> io::Result<()> {
        results.clear();
        let count = self.ops.len();
        self.acks.clear();
        self.acks.resize(count, None);
        let mut left = count;
        let mut failure = None;
        while left > 0 {
            let n = match sys::recv(self.fd.as_fd(), &mut self.inbuf) {
                Ok(n) => n,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for msg in messages(&self.inbuf[..n]) {
                if msg.ty != NLMSG_ERROR {
                    continue;
                }
                let idx = msg.seq.wrapping_sub(self.first_seq) as usize;
                let Some(slot) = self.acks.get_mut(idx) else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                *slot = Some(error_code(msg.payload).map_or(0, |e| -e));
                left -= 1;
            }
        }
        let ops = std::mem::take(&mut self.ops);
        if let Some(e) = failure {
            self.ops = ops;
            self.ops.clear();
            return Err(e);
        }
        results.extend(ops.iter().zip(&self.acks).map(|(&op, errno)| {
            let errno = errno.unwrap_or(0);
            if errno == 0 || harmless(op, errno) {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(errno))
            }
        }));
        self.ops = ops;
        self.ops.clear();
        Ok(())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Add or remove a batch of addresses in one send; waits for every ACK.
    /// Returns one result per request, in order ("already there" / "already gone" count as Ok).
    /// Requests queued before and not yet acknowledged go in the same batch.
    pub fn change_addrs(
        &mut self,
        op: AddrOp,
        reqs: &[AddrRequest],
        results: &mut Vec<io::Result<()>>,
    ) -> io::Result<()> {
        results.clear();
        if reqs.is_empty() {
            return Ok(());
        }
        let first = self.queue_addrs(op, reqs);
        self.send_queued()?;
        self.collect_acks(results)?;
        results.drain(..first);
        Ok(())
    }

    fn dump(&mut self, addresses: bool, mut each: impl FnMut(&Message<'_>)) -> io::Result<()> {
        self.out.clear();
        let seq = self.next_seq();
        push_dump_request(&mut self.out, addresses, seq);
        sys::send(self.fd.as_fd(), &self.out)?;
        loop {
            let n = sys::recv(self.fd.as_fd(), &mut self.inbuf)?;
            for msg in messages(&self.inbuf[..n]) {
                if msg.seq != seq {
                    continue;
                }
                match msg.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let errno = error_code(msg.payload).map_or(0, |e| -e);
                        return if errno == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(errno))
                        };
                    }
                    _ => each(&msg),
                }
                if msg.flags & NLM_F_MULTI == 0 {
                    return Ok(());
                }
            }
        }
    }

    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut out = Vec::new();
        self.dump(false, |m| {
            if let Some(l) = parse_link(m.payload) {
                out.push(l);
            }
        })?;
        Ok(out)
    }

    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        let mut out = Vec::new();
        self.dump(true, |m| {
            if let Some(a) = parse_addr(m.payload) {
                out.push(a);
            }
        })?;
        Ok(out)
    }
}

/// The event socket: link and address changes, non-blocking, polled by the engine's epoll.
pub struct RtnlEvents {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl RtnlEvents {
    pub fn open() -> io::Result<Self> {
        let fd = sys::socket(sys::SocketKind::Netlink)?;
        sys::bind_netlink(fd.as_fd(), GROUPS_LINK_AND_ADDR)?;
        Ok(Self {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Read everything pending. Returns `Ok(false)` if the kernel dropped events (ENOBUFS):
    /// the caller must then re-read the full state.
    pub fn read(&mut self, out: &mut Vec<Change>) -> io::Result<bool> {
        loop {
            let n = match sys::recv(self.fd.as_fd(), &mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(false),
                Err(e) => return Err(e),
            };
            out.extend(messages(&self.buf[..n]).filter_map(|m| change_of(&m)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_an_ipv4_address_with_label_and_broadcast() {
        let req = AddrRequest {
            ifindex: 3,
            addr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)),
            prefix: 24,
            label: Some("eth0:1".into()),
            broadcast: Some(Ipv4Addr::new(198, 18, 0, 255)),
        };
        let mut buf = Vec::new();
        push_addr_request(&mut buf, AddrOp::Add, &req, 7);
        let mut expected: Vec<u8> = Vec::new();
        expected.extend_from_slice(&60u32.to_ne_bytes());
        expected.extend_from_slice(&20u16.to_ne_bytes()); // RTM_NEWADDR
        expected.extend_from_slice(&0x405u16.to_ne_bytes()); // REQUEST | ACK | CREATE
        expected.extend_from_slice(&7u32.to_ne_bytes());
        expected.extend_from_slice(&0u32.to_ne_bytes());
        expected.extend_from_slice(&[2, 24, 0, 0]);
        expected.extend_from_slice(&3u32.to_ne_bytes());
        for (ty, data) in [
            (2u16, &[198u8, 18, 0, 100][..]),
            (1, &[198, 18, 0, 100]),
            (4, &[198, 18, 0, 255]),
        ] {
            expected.extend_from_slice(&8u16.to_ne_bytes());
            expected.extend_from_slice(&ty.to_ne_bytes());
            expected.extend_from_slice(data);
        }
        expected.extend_from_slice(&11u16.to_ne_bytes());
        expected.extend_from_slice(&3u16.to_ne_bytes());
        expected.extend_from_slice(b"eth0:1\0\0");
        assert_eq!(buf, expected);
    }

    #[test]
    fn adds_ipv6_without_dad_and_removes_without_create() {
        let req = AddrRequest {
            ifindex: 9,
            addr: "2001:2::100".parse().expect("addr"),
            prefix: 64,
            label: Some("ignored".into()),
            broadcast: None,
        };
        let mut buf = Vec::new();
        push_addr_request(&mut buf, AddrOp::Add, &req, 1);
        assert_eq!(buf.len(), 16 + 8 + 20 + 20);
        assert_eq!(&buf[16..20], &[10, 64, 0x02, 0]);
        push_addr_request(&mut buf, AddrOp::Remove, &req, 2);
        let msgs: Vec<_> = messages(&buf).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[1].ty, msgs[1].flags, msgs[1].seq), (21, 0x5, 2));
        assert_eq!(msgs[1].payload[..4], [10, 64, 0, 0]);
    }

    #[test]
    fn parses_an_ack_and_an_error() {
        let mut buf = Vec::new();
        for (seq, err) in [(5u32, 0i32), (6, -17)] {
            buf.extend_from_slice(&36u32.to_ne_bytes());
            buf.extend_from_slice(&2u16.to_ne_bytes());
            buf.extend_from_slice(&0x100u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&err.to_ne_bytes());
            buf.extend_from_slice(&[0u8; 16]); // the original header (capped ack)
        }
        let codes: Vec<_> = messages(&buf)
            .map(|m| (m.seq, error_code(m.payload)))
            .collect();
        assert_eq!(codes, vec![(5, Some(0)), (6, Some(-17))]);
    }

    #[test]
    fn parses_a_link_and_an_address() {
        let mut link = Vec::new();
        link.extend_from_slice(&[0, 0, 1, 0]);
        link.extend_from_slice(&4u32.to_ne_bytes());
        link.extend_from_slice(&0x11043u32.to_ne_bytes());
        link.extend_from_slice(&0u32.to_ne_bytes());
        link.extend_from_slice(&[9, 0, 3, 0]);
        link.extend_from_slice(b"veth0\0\0\0");
        link.extend_from_slice(&[10, 0, 1, 0, 2, 0, 0x5e, 0, 1, 7, 0, 0]);
        link.extend_from_slice(&[8, 0, 4, 0]);
        link.extend_from_slice(&1500u32.to_ne_bytes());
        let parsed = parse_link(&link).expect("link");
        assert_eq!(parsed.ifindex, 4);
        assert_eq!(parsed.name, "veth0");
        assert_eq!(parsed.mac, Some([2, 0, 0x5e, 0, 1, 7]));
        assert!(parsed.is_running());
        assert!(parsed.ether);
        assert_eq!(parsed.mtu, 1500);
        link[2] = 0x18; // ARPHRD_NONE (0xfffe) is not Ethernet; 0x0118 neither
        assert!(!parse_link(&link).expect("link").ether);

        let addr = [
            10u8, 64, 0x80, 253, 4, 0, 0, 0, 20, 0, 1, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 1,
        ];
        let parsed = parse_addr(&addr[..]).expect("addr");
        let expected_ifindex = u32::from_ne_bytes([4, 0, 0, 0]);
        assert_eq!(parsed.ifindex, expected_ifindex);
        assert_eq!(parsed.addr, "fe80::1".parse::<IpAddr>().expect("ip"));
        assert!(parsed.is_usable());
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let junk = [0xffu8, 0xff, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3];
        for end in 0..junk.len() {
            let _ = messages(&junk[..end]).count();
            let _ = parse_link(&junk[..end]);
            let _ = parse_addr(&junk[..end]);
        }
    }

    #[test]
    fn broadcast_is_the_top_of_the_prefix() {
        assert_eq!(
            broadcast_of(Ipv4Addr::new(198, 18, 0, 100), 24),
            Ipv4Addr::new(198, 18, 0, 255)
        );
        assert_eq!(
            broadcast_of(Ipv4Addr::new(198, 18, 0, 100), 32),
            Ipv4Addr::new(198, 18, 0, 100)
        );
        assert_eq!(
            broadcast_of(Ipv4Addr::new(198, 18, 0, 100), 0),
            Ipv4Addr::BROADCAST
        );
    }
}
