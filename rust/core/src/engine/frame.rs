//! Whole Ethernet frames for IPv4 multicast adverts, sent through AF_PACKET.
//!
//! The kernel's raw-socket path does, per advert, a route lookup (a new dst for each multicast
//! send), the IP output hooks and the neighbour output, before the same device transmit. An
//! advert to 224.0.0.18 needs none of it: the engine writes the Ethernet and IPv4 headers itself,
//! with what the kernel put there (TTL 255, TOS 0xC0, DF, an IP ID that counts up per sender), so
//! the wire bytes are the same.

use std::net::Ipv4Addr;

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
/// Where the VRRP message starts in a frame.
pub const HEADERS_LEN: usize = ETH_LEN + IPV4_LEN;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;
const TTL: u8 = 255;
const DONT_FRAGMENT: u16 = 0x4000;
const PROTOCOL_VRRP: u8 = crate::wire::vrrp::PROTOCOL;

/// The Ethernet address of an IPv4 multicast group: 01:00:5e and the group's low 23 bits.
pub fn multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// Write the Ethernet and IPv4 headers in front of the `payload_len`-byte VRRP message already
/// at `buf[HEADERS_LEN..]`; returns the frame's length. `None` if `buf` is too short for it or
/// the packet too long for an IPv4 header.
pub fn write_headers(
    buf: &mut [u8],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    group: Ipv4Addr,
    ident: u16,
    payload_len: usize,
) -> Option<usize> {
    let total = IPV4_LEN.checked_add(payload_len)?;
    let total_u16 = u16::try_from(total).ok()?;
    let frame_len = ETH_LEN + total;
    let head = buf.get_mut(..HEADERS_LEN)?;
    let (eth, ip) = head.split_at_mut(ETH_LEN);
    eth[..6].copy_from_slice(&multicast_mac(group));
    eth[6..12].copy_from_slice(&src_mac);
    eth[12..].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    ip[0] = 0x45;
    ip[1] = TOS_INTERNETWORK_CONTROL;
    ip[2..4].copy_from_slice(&total_u16.to_be_bytes());
    ip[4..6].copy_from_slice(&ident.to_be_bytes());
    ip[6..8].copy_from_slice(&DONT_FRAGMENT.to_be_bytes());
    ip[8] = TTL;
    ip[9] = PROTOCOL_VRRP;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&group.octets());
    let sum = header_checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    (buf.len() >= frame_len).then_some(frame_len)
}

/// The IPv4 header checksum: the ones' complement of the ones' complement sum of its 16-bit
/// words (with the checksum field zero).
fn header_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An advert the kernel's raw socket sent on a lab veth (tcpdump -xx): VRRPv3, VRID 51,
    /// priority 150, 10 cs, VIP 198.18.0.100, from 198.18.0.1.
    const KERNEL_FRAME: [u8; 46] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x2a, 0x73, 0xde, 0xd7, 0x57, 0x65, 0x08,
        0x00, // eth
        0x45, 0xc0, 0x00, 0x20, 0x5f, 0xaa, 0x40, 0x00, 0xff, 0x70, 0x74, 0xdd, // ip
        0xc6, 0x12, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x12, //
        0x31, 0x33, 0x96, 0x01, 0x00, 0x0a, 0xcb, 0xa7, 0xc6, 0x12, 0x00, 0x64, // vrrp
    ];

    #[test]
    fn writes_the_bytes_the_kernel_sends() {
        let mut buf = [0u8; 64];
        buf[HEADERS_LEN..46].copy_from_slice(&KERNEL_FRAME[HEADERS_LEN..]);
        let mac = [0x2a, 0x73, 0xde, 0xd7, 0x57, 0x65];
        let len = write_headers(
            &mut buf,
            mac,
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(224, 0, 0, 18),
            0x5faa,
            12,
        );
        assert_eq!(len, Some(46));
        assert_eq!(buf[..46], KERNEL_FRAME);
    }

    #[test]
    fn maps_groups_to_multicast_macs() {
        assert_eq!(
            multicast_mac(Ipv4Addr::new(224, 0, 0, 18)),
            [1, 0, 0x5e, 0, 0, 0x12]
        );
        assert_eq!(
            multicast_mac(Ipv4Addr::new(239, 255, 1, 2)),
            [1, 0, 0x5e, 0x7f, 1, 2]
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut short = [0u8; 40];
        let (mac, src, grp) = (
            [2; 6],
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(224, 0, 0, 18),
        );
        assert_eq!(write_headers(&mut short, mac, src, grp, 1, 12), None);
        assert_eq!(write_headers(&mut short[..10], mac, src, grp, 1, 0), None);
        let mut big = [0u8; 64];
        assert_eq!(write_headers(&mut big, mac, src, grp, 1, 70_000), None);
    }

    #[test]
    fn checksum_of_a_header_with_its_checksum_is_zero() {
        assert_eq!(header_checksum(&KERNEL_FRAME[ETH_LEN..HEADERS_LEN]), 0);
    }
}
