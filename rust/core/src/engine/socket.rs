//! Opening the VRRP sockets: one raw socket per (interface, family), bound to the interface and
//! joined to the VRRP group there.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};

use super::spec::IpFamily;
use super::sys;
use crate::wire::vrrp::{MULTICAST_V4, MULTICAST_V6, PROTOCOL};

/// The TOS keepalived sends with: precedence "internetwork control".
const TOS_INTERNETWORK_CONTROL: libc::c_int = 0xc0;
/// Receive buffer: 255 instances at 10 ms is 25,500 adverts/s; the default (~200 KB, a few
/// hundred packets) would overflow after ~10 ms of a stalled thread and fake a master-down.
const RECV_BUFFER: libc::c_int = 4 << 20;

/// A large receive buffer: SO_RCVBUFFORCE (CAP_NET_ADMIN) past `rmem_max`, else what SO_RCVBUF gets.
fn grow_receive_buffer(s: std::os::fd::BorrowedFd<'_>) {
    if sys::set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RECV_BUFFER).is_err() {
        let _ = sys::set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, RECV_BUFFER);
    }
    // The kernel's receive time: timers count from the advert's arrival, not from when the
    // engine thread got to it. Without it the engine uses its own clock.
    let _ = sys::set_int(s, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
}

/// The VRRP multicast group of a family.
pub fn group(family: IpFamily) -> IpAddr {
    match family {
        IpFamily::Inet => IpAddr::V4(MULTICAST_V4),
        IpFamily::Inet6 => IpAddr::V6(MULTICAST_V6),
    }
}

/// TTL / hop limit of adverts: multicast always, unicast unless `unicast_ttl` says otherwise.
pub const DEFAULT_TTL: u8 = 255;

/// Set the TTL (IPv4) or hop limit (IPv6) of the socket's unicast sends.
pub fn set_unicast_ttl(
    s: std::os::fd::BorrowedFd<'_>,
    family: IpFamily,
    ttl: u8,
) -> io::Result<()> {
    match family {
        IpFamily::Inet => sys::set_int(s, libc::IPPROTO_IP, libc::IP_TTL, ttl.into()),
        IpFamily::Inet6 => sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl.into()),
    }
}

/// A raw VRRP socket on `ifname` (`ifindex`): TTL/hop limit 255 both ways, no loopback of our own
/// multicast, and the receive metadata the IP header does not give turned on (IPv6: destination,
/// interface, hop limit; both: the receive stamp).
pub fn open_vrrp(family: IpFamily, ifindex: u32, ifname: &str) -> io::Result<OwnedFd> {
    match family {
        IpFamily::Inet => open_v4(ifindex, ifname),
        IpFamily::Inet6 => open_v6(ifindex, ifname),
    }
}

fn open_v4(ifindex: u32, ifname: &str) -> io::Result<OwnedFd> {
    let fd = sys::socket(sys::SocketKind::RawV4(PROTOCOL))?;
    let s = fd.as_fd();
    sys::bind_to_device(s, ifname)?;
    sys::set_int(s, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
    sys::set_int(s, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 255)?;
    sys::set_int(s, libc::IPPROTO_IP, libc::IP_TOS, TOS_INTERNETWORK_CONTROL)?;
    sys::set_int(s, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)?;
    sys::multicast_if_v4(s, ifindex)?;
    sys::join_v4(s, MULTICAST_V4, ifindex)?;
    // No IP_PKTINFO / IP_RECVTTL on receive: a raw IPv4 socket hands us the IP header, which has
    // the TTL and the destination, and the socket is bound to its interface; two control
    // messages less to build and copy per advert. (IP_PKTINFO on send needs no option.)
    grow_receive_buffer(s);
    Ok(fd)
}

fn open_v6(ifindex: u32, ifname: &str) -> io::Result<OwnedFd> {
    let fd = sys::socket(sys::SocketKind::RawV6(PROTOCOL))?;
    let s = fd.as_fd();
    let index = libc::c_int::try_from(ifindex).map_err(|_| io::ErrorKind::InvalidInput)?;
    sys::bind_to_device(s, ifname)?;
    // No IPV6_CHECKSUM: the VRRP checksum is ours (wire computes it with the pseudo-header).
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, 255)?;
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)?;
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, index)?;
    sys::join_v6(s, MULTICAST_V6, ifindex)?;
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    sys::set_int(s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    grow_receive_buffer(s);
    Ok(fd)
}

/// The parts of a received IPv4 packet the engine needs: (payload, TTL, destination).
/// Raw IPv4 sockets deliver the IP header; this strips it. `None` if it is not a sane header.
pub fn split_ipv4(packet: &[u8]) -> Option<(&[u8], u8, Ipv4Addr)> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    let end = total.min(packet.len());
    let payload = packet.get(ihl..end)?;
    let ttl = *packet.get(8)?;
    let dst = packet.get(16..20)?;
    Some((payload, ttl, Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3])))
}

/// Link-local unicast (fe80::/10): the only valid source for IPv6 VRRP adverts and NAs.
pub fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_ipv4_header() {
        let mut pkt = vec![
            0x45, 0xc0, 0x00, 0x1c, 0, 0, 0, 0, 255, 112, 0, 0, 198, 18, 0, 1, 224, 0, 0, 18,
        ];
        pkt.extend_from_slice(&[0x31, 51, 100, 1, 0, 100, 0, 0]);
        pkt.extend_from_slice(&[0xde, 0xad]); // trailing padding beyond total length
        let (payload, ttl, dst) = split_ipv4(&pkt).expect("ipv4");
        assert_eq!(payload, &[0x31, 51, 100, 1, 0, 100, 0, 0]);
        assert_eq!(ttl, 255);
        assert_eq!(dst, Ipv4Addr::new(224, 0, 0, 18));
    }

    #[test]
    fn refuses_bad_headers() {
        assert!(split_ipv4(&[]).is_none());
        assert!(split_ipv4(&[0x65; 40]).is_none());
        assert!(split_ipv4(&[0x44; 40]).is_none());
        assert!(split_ipv4(&[0x46, 0, 0, 20, 0, 0, 0, 0, 255, 112]).is_none());
    }

    #[test]
    fn knows_link_local() {
        assert!(is_link_local(&"fe80::1".parse().expect("v6")));
        assert!(!is_link_local(&"2001:2::1".parse().expect("v6")));
    }
}
