//! Unsolicited Neighbour Advertisement (RFC 4861 §7.2.6) for a VIP: the IPv6 counterpart of gratuitous ARP.
//! Sent to ff02::1 with hop limit 255, Override set, Solicited clear, and the target link-layer address option.

use core::fmt;
use core::net::Ipv6Addr;

use super::{checksum, EmitError, MacAddr};

/// IPv6 header (40) + NA (24) + target link-layer address option (8).
pub const PACKET_LEN: usize = 72;
/// Ethernet header (14) + [`PACKET_LEN`].
pub const FRAME_LEN: usize = 14 + PACKET_LEN;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ICMPv6 next header.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbour Advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// All-nodes multicast.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Ethernet address of ff02::1 (33:33 + the low 32 bits).
pub const ALL_NODES_MAC: MacAddr = [0x33, 0x33, 0, 0, 0, 1];
/// The R flag: the sender is a router.
pub const FLAG_ROUTER: u8 = 0x80;
/// The S flag: a reply to a solicitation (never set here).
pub const FLAG_SOLICITED: u8 = 0x40;
/// The O flag: override cached link-layer addresses.
pub const FLAG_OVERRIDE: u8 = 0x20;

const ICMP_LEN: usize = PACKET_LEN - 40;

mod field {
    use core::ops::Range;
    // Offsets inside the IPv6 packet.
    pub const VERSION: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
    pub const ICMP: Range<usize> = 40..72;
    pub const ICMP_TYPE: usize = 40;
    pub const ICMP_CODE: usize = 41;
    pub const ICMP_CHECKSUM: Range<usize> = 42..44;
    pub const FLAGS: Range<usize> = 44..48;
    pub const TARGET: Range<usize> = 48..64;
    pub const OPT_TYPE: usize = 64;
    pub const OPT_LEN: usize = 65;
    pub const OPT_MAC: Range<usize> = 66..72;
}

/// An unsolicited NA announcing `target` at `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Ethernet source and target link-layer address (the interface's, or the VMAC).
    pub mac: MacAddr,
    /// IPv6 source: the interface's link-local address.
    pub src: Ipv6Addr,
    /// The VIP.
    pub target: Ipv6Addr,
    /// Set the R flag (the interface forwards, as keepalived does when forwarding is on).
    pub router: bool,
}

impl Repr {
    /// Recognise an unsolicited NA packet (IPv6 header first) of this form; anything else gives `None`.
    pub fn parse_packet(packet: &[u8]) -> Option<Repr> {
        let p = packet.get(..PACKET_LEN)?;
        let flags = p[field::FLAGS.start];
        let ok = p[field::VERSION.start] >> 4 == 6
            && p[field::PAYLOAD_LEN] == (ICMP_LEN as u16).to_be_bytes()
            && p[field::NEXT_HEADER] == NEXT_HEADER_ICMPV6
            && p[field::HOP_LIMIT] == 255
            && p[field::DST] == ALL_NODES.octets()
            && p[field::ICMP_TYPE] == TYPE_NEIGHBOR_ADVERT
            && p[field::ICMP_CODE] == 0
            && flags & (FLAG_SOLICITED | FLAG_OVERRIDE) == FLAG_OVERRIDE
            && p[field::OPT_TYPE] == 2
            && p[field::OPT_LEN] == 1;
        if !ok {
            return None;
        }
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[field::SRC]).ok()?);
        let acc = checksum::sum(&p[field::ICMP])
            + checksum::pseudo_v6(src, ALL_NODES, NEXT_HEADER_ICMPV6, ICMP_LEN);
        if !checksum::verifies(acc) {
            return None;
        }
        Some(Repr {
            mac: p[field::OPT_MAC].try_into().ok()?,
            src,
            target: Ipv6Addr::from(<[u8; 16]>::try_from(&p[field::TARGET]).ok()?),
            router: flags & FLAG_ROUTER != 0,
        })
    }

    /// Recognise an Ethernet frame carrying an unsolicited NA of this form.
    pub fn parse_frame(frame: &[u8]) -> Option<Repr> {
        let (eth, packet) = frame.split_first_chunk::<14>()?;
        if eth[..6] != ALL_NODES_MAC || eth[12..14] != ETHERTYPE_IPV6.to_be_bytes() {
            return None;
        }
        Repr::parse_packet(packet)
    }

    /// Write the IPv6 packet (no Ethernet header) into the front of `buf`; returns [`PACKET_LEN`].
    pub fn emit_packet(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let p = buf.get_mut(..PACKET_LEN).ok_or(EmitError::BufferTooSmall)?;
        p[field::VERSION].copy_from_slice(&[0x60, 0, 0, 0]);
        p[field::PAYLOAD_LEN].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
        p[field::NEXT_HEADER] = NEXT_HEADER_ICMPV6;
        p[field::HOP_LIMIT] = 255;
        p[field::SRC].copy_from_slice(&self.src.octets());
        p[field::DST].copy_from_slice(&ALL_NODES.octets());
        p[field::ICMP_TYPE] = TYPE_NEIGHBOR_ADVERT;
        p[field::ICMP_CODE] = 0;
        p[field::ICMP_CHECKSUM].copy_from_slice(&[0, 0]);
        let flags = FLAG_OVERRIDE | if self.router { FLAG_ROUTER } else { 0 };
        p[field::FLAGS].copy_from_slice(&[flags, 0, 0, 0]);
        p[field::TARGET].copy_from_slice(&self.target.octets());
        p[field::OPT_TYPE] = 2;
        p[field::OPT_LEN] = 1;
        p[field::OPT_MAC].copy_from_slice(&self.mac);
        let acc = checksum::sum(&p[field::ICMP])
            + checksum::pseudo_v6(self.src, ALL_NODES, NEXT_HEADER_ICMPV6, ICMP_LEN);
        p[field::ICMP_CHECKSUM].copy_from_slice(&checksum::complement(acc).to_be_bytes());
        Ok(PACKET_LEN)
    }

    /// Write the whole Ethernet frame (to 33:33:00:00:00:01) into the front of `buf`; returns [`FRAME_LEN`].
    pub fn emit_frame(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let frame = buf.get_mut(..FRAME_LEN).ok_or(EmitError::BufferTooSmall)?;
        let (eth, packet) = frame.split_at_mut(14);
        eth[..6].copy_from_slice(&ALL_NODES_MAC);
        eth[6..12].copy_from_slice(&self.mac);
        eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        self.emit_packet(packet)?;
        Ok(FRAME_LEN)
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mac;
        write!(
            f,
            "unsolicited NA tgt={} lladdr={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} from {}{}",
            self.target,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            self.src,
            if self.router { " [router]" } else { "" }
        )
    }
}

/// Write an unsolicited NA Ethernet frame for `vip` at `mac` from link-local `src`; returns [`FRAME_LEN`].
#[inline]
pub fn emit_unsolicited_na_frame(
    buf: &mut [u8],
    mac: MacAddr,
    src: Ipv6Addr,
    vip: Ipv6Addr,
    router: bool,
) -> Result<usize, EmitError> {
    Repr {
        mac,
        src,
        target: vip,
        router,
    }
    .emit_frame(buf)
}

/// Write an unsolicited NA IPv6 packet (no Ethernet header); returns [`PACKET_LEN`].
#[inline]
pub fn emit_unsolicited_na_packet(
    buf: &mut [u8],
    mac: MacAddr,
    src: Ipv6Addr,
    vip: Ipv6Addr,
    router: bool,
) -> Result<usize, EmitError> {
    Repr {
        mac,
        src,
        target: vip,
        router,
    }
    .emit_packet(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100);

    // From fe80::1 to ff02::1, NA for 2001:2::100, override, lladdr 02:00:00:00:00:01.
    // The checksum (0x351a) was checked with scapy's ICMPv6ND_NA / ICMPv6NDOptDstLLAddr.
    const FRAME: [u8; FRAME_LEN] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86,
        0xdd, // ethernet
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // ipv6: len 32, icmpv6, hop 255
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // dst
        0x88, 0x00, 0x35, 0x1a, 0x20, 0x00, 0x00, 0x00, // NA, checksum, O flag
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // target link-layer address option
    ];

    #[test]
    fn emits_frame() {
        let mut buf = [0u8; 128];
        assert_eq!(
            emit_unsolicited_na_frame(&mut buf, MAC, SRC, VIP, false),
            Ok(FRAME_LEN)
        );
        assert_eq!(buf[..FRAME_LEN], FRAME);
    }

    #[test]
    fn emits_packet_and_parses_back() {
        let mut buf = [0u8; PACKET_LEN];
        assert_eq!(
            emit_unsolicited_na_packet(&mut buf, MAC, SRC, VIP, true),
            Ok(PACKET_LEN)
        );
        assert_eq!(buf[field::FLAGS.start], FLAG_ROUTER | FLAG_OVERRIDE);
        let repr = Repr::parse_packet(&buf).expect("an NA");
        assert_eq!(
            repr,
            Repr {
                mac: MAC,
                src: SRC,
                target: VIP,
                router: true
            }
        );
        assert_eq!(
            Repr::parse_frame(&FRAME),
            Some(Repr {
                mac: MAC,
                src: SRC,
                target: VIP,
                router: false
            })
        );
    }

    #[test]
    fn rejects_bad_checksum_and_short() {
        let mut bad = FRAME;
        bad[60] ^= 1;
        assert_eq!(Repr::parse_frame(&bad), None);
        assert_eq!(Repr::parse_frame(&FRAME[..FRAME_LEN - 1]), None);
        let mut buf = [0u8; FRAME_LEN - 1];
        assert_eq!(
            emit_unsolicited_na_frame(&mut buf, MAC, SRC, VIP, false),
            Err(EmitError::BufferTooSmall)
        );
    }

    #[test]
    fn display() {
        let repr = Repr {
            mac: MAC,
            src: SRC,
            target: VIP,
            router: false,
        };
        assert_eq!(
            repr.to_string(),
            "unsolicited NA tgt=2001:2::100 lladdr=02:00:00:00:00:01 from fe80::1"
        );
    }
}
