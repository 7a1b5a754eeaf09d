//! Gratuitous ARP, in the one form Linux honours inside its `locktime`: a broadcast ARP *request* whose sender IP
//! and target IP are both the VIP, with a zero target MAC (RFC 5227 §3 calls it an ARP Announcement).

use core::fmt;
use core::net::Ipv4Addr;

use super::{EmitError, MacAddr};

/// Ethernet header (14) + ARP for IPv4 over Ethernet (28). The NIC pads to the 60-byte minimum.
pub const FRAME_LEN: usize = 42;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethernet broadcast.
pub const BROADCAST: MacAddr = [0xff; 6];

mod field {
    use core::ops::Range;
    pub const ETH_DST: Range<usize> = 0..6;
    pub const ETH_SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// htype 1, ptype 0x0800, hlen 6, plen 4, oper 1 (request).
    pub const ARP_FIXED: Range<usize> = 14..22;
    pub const SHA: Range<usize> = 22..28;
    pub const SPA: Range<usize> = 28..32;
    pub const THA: Range<usize> = 32..38;
    pub const TPA: Range<usize> = 38..42;
}

const ARP_FIXED: [u8; 8] = [0, 1, 0x08, 0x00, 6, 4, 0, 1];

/// A gratuitous ARP announcement of `ip` at `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Ethernet source and ARP sender MAC (the interface's, or the VMAC with `use_vmac`).
    pub mac: MacAddr,
    /// The VIP: both sender and target protocol address.
    pub ip: Ipv4Addr,
}

impl Repr {
    /// Recognise a gratuitous ARP request frame of exactly this form; anything else gives `None`.
    pub fn parse(frame: &[u8]) -> Option<Repr> {
        let frame = frame.get(..FRAME_LEN)?;
        let ok = frame[field::ETH_DST] == BROADCAST
            && frame[field::ETHERTYPE] == ETHERTYPE_ARP.to_be_bytes()
            && frame[field::ARP_FIXED] == ARP_FIXED
            && frame[field::SHA] == frame[field::ETH_SRC]
            && frame[field::THA] == [0; 6]
            && frame[field::SPA] == frame[field::TPA];
        if !ok {
            return None;
        }
        let mac: MacAddr = frame[field::SHA].try_into().ok()?;
        let ip: [u8; 4] = frame[field::SPA].try_into().ok()?;
        Some(Repr {
            mac,
            ip: Ipv4Addr::from(ip),
        })
    }

    /// Length of the frame [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        FRAME_LEN
    }

    /// Write the Ethernet frame into the front of `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let frame = buf.get_mut(..FRAME_LEN).ok_or(EmitError::BufferTooSmall)?;
        frame[field::ETH_DST].copy_from_slice(&BROADCAST);
        frame[field::ETH_SRC].copy_from_slice(&self.mac);
        frame[field::ETHERTYPE].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        frame[field::ARP_FIXED].copy_from_slice(&ARP_FIXED);
        frame[field::SHA].copy_from_slice(&self.mac);
        frame[field::SPA].copy_from_slice(&self.ip.octets());
        frame[field::THA].copy_from_slice(&[0; 6]);
        frame[field::TPA].copy_from_slice(&self.ip.octets());
        Ok(FRAME_LEN)
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mac;
        write!(
            f,
            "GARP who-has {ip} tell {ip} ({:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x})",
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            ip = self.ip
        )
    }
}

/// Write a gratuitous ARP request frame announcing `vip` at `mac` into `buf`; returns [`FRAME_LEN`].
#[inline]
pub fn emit_gratuitous(buf: &mut [u8], mac: MacAddr, vip: Ipv4Addr) -> Result<usize, EmitError> {
    Repr { mac, ip: vip }.emit(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    // who-has 198.18.0.100 tell 198.18.0.100, from the VRID 51 VMAC, as tcpdump shows it.
    const FRAME: [u8; FRAME_LEN] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 0x08,
        0x06, // ethernet
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // ether/ipv4, request
        0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 198, 18, 0, 100, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 100, // target
    ];

    #[test]
    fn emits_the_announcement_form() {
        let mut buf = [0xa5u8; 64];
        assert_eq!(
            emit_gratuitous(&mut buf, MAC, Ipv4Addr::new(198, 18, 0, 100)),
            Ok(FRAME_LEN)
        );
        assert_eq!(buf[..FRAME_LEN], FRAME);
        assert_eq!(buf[FRAME_LEN], 0xa5, "nothing written past the frame");
    }

    #[test]
    fn parses_back() {
        let repr = Repr::parse(&FRAME).expect("a GARP");
        assert_eq!(
            repr,
            Repr {
                mac: MAC,
                ip: Ipv4Addr::new(198, 18, 0, 100)
            }
        );
        assert_eq!(
            repr.to_string(),
            "GARP who-has 198.18.0.100 tell 198.18.0.100 (00:00:5e:00:01:33)"
        );
    }

    #[test]
    fn rejects_other_arp() {
        let mut reply = FRAME;
        reply[21] = 2;
        assert_eq!(Repr::parse(&reply), None);
        let mut probe = FRAME;
        probe[28..32].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Repr::parse(&probe), None);
        assert_eq!(Repr::parse(&FRAME[..41]), None);
    }

    #[test]
    fn short_buffer_is_an_error() {
        let mut buf = [0u8; 41];
        assert_eq!(
            emit_gratuitous(&mut buf, MAC, Ipv4Addr::LOCALHOST),
            Err(EmitError::BufferTooSmall)
        );
    }
}
