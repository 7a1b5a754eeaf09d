//! Fuzz `wire::vrrp::parse`: it must never panic, and whatever it accepts must emit back to a message of the
//! same length that parses to the same values. The first input byte picks the family and the expected auth.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fastvrrp_core::wire::vrrp::{parse, Auth, Family, Packet, MAX_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let (src, dst) = if selector & 1 == 0 {
        (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)))
    } else {
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        )
    };
    let expected = match (selector >> 1) & 3 {
        0 => None,
        1 => Some(Auth::NONE),
        2 => Some(Auth::pass(b"fvsecret")),
        _ => Some(Auth::ah(b"")),
    };
    let packet = Packet::new_unchecked(payload, Family::of(&src));
    let _ = (packet.to_string(), packet.addresses().iter().count(), packet.verify_checksum(src, dst));

    let Ok(repr) = parse(payload, src, dst, expected.as_ref()) else { return };
    let _ = repr.to_string();
    let mut buf = [0u8; MAX_LEN];
    // A parsed advert may still be unsendable (e.g. VRID 0); that is an EmitError, never a panic.
    let Ok(n) = repr.emit(&mut buf, src, dst) else { return };
    assert_eq!(n, payload.len());
    let again = parse(&buf[..n], src, dst, expected.as_ref()).expect("own output parses");
    assert_eq!(again, repr);
});
