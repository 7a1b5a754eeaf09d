//! Tests on literal byte arrays (made with scapy's VRRP/VRRPv3 layers, an independent encoder), property tests,
//! and a libFuzzer-free mutation run.

use super::*;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const MCAST4: IpAddr = IpAddr::V4(MULTICAST_V4);
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const MCAST6: IpAddr = IpAddr::V6(MULTICAST_V6);
const VIP1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100));
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 101));
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100));

/// v2, vrid 51, prio 100, 1 address 198.18.0.100, PASS "secret", 1 s.
const V2_PASS: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x77, 0x07, 0xc6, 0x12, 0x00, 0x64, b's', b'e', b'c', b'r',
    b'e', b't', 0x00, 0x00,
];
/// v3 IPv4 (pseudo-header checksum, 198.18.0.1 -> 224.0.0.18), vrid 52, prio 150, 1.00 s, two addresses.
const V3_V4: [u8; 16] = [
    0x31, 0x34, 0x96, 0x02, 0x00, 0x64, 0x04, 0xd0, 0xc6, 0x12, 0x00, 0x64, 0xc6, 0x12, 0x00, 0x65,
];
/// The same with the message-only checksum.
const V3_V4_PLAIN: [u8; 16] = [
    0x31, 0x34, 0x96, 0x02, 0x00, 0x64, 0xab, 0x76, 0xc6, 0x12, 0x00, 0x64, 0xc6, 0x12, 0x00, 0x65,
];
/// v3 IPv6 (fe80::1 -> ff02::12), vrid 53, prio 100, 1.00 s, 2001:2::100.
const V3_V6: [u8; 24] = [
    0x31, 0x35, 0x64, 0x01, 0x00, 0x64, 0x4b, 0x43, 0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0x01, 0x00,
];

fn pass() -> Auth {
    Auth::pass(b"secret")
}

#[test]
fn v2_fields() {
    let p = Packet::new_checked(&V2_PASS[..], Family::V4).expect("valid");
    assert_eq!(
        (
            p.version(),
            p.msg_type(),
            p.vrid(),
            p.priority(),
            p.addr_count()
        ),
        (2, 1, 51, 100, 1)
    );
    assert_eq!(
        (p.auth_type(), p.adver_int(), p.interval_cs(), p.checksum()),
        (1, 1, 100, 0x7707)
    );
    assert_eq!(p.auth_data(), *b"secret\0\0");
    assert_eq!(p.addresses().iter().collect::<Vec<_>>(), [VIP1]);
    assert_eq!(p.verify_checksum(SRC4, MCAST4), Ok(None));
}

#[test]
fn v2_parse_and_emit() {
    let r = parse(&V2_PASS, SRC4, MCAST4, Some(&pass())).expect("valid");
    assert_eq!(r.version, Version::V2);
    assert_eq!((r.vrid, r.priority, r.interval_cs), (51, 100, 100));
    assert_eq!(r.auth, pass());
    assert_eq!(r.checksum_form, None);
    assert!(r.addresses.same_set(&[VIP1]));
    let mut buf = [0u8; 64];
    assert_eq!(r.buffer_len(), 20);
    assert_eq!(r.emit(&mut buf, SRC4, MCAST4), Ok(20));
    assert_eq!(buf[..20], V2_PASS);
}

#[test]
fn v2_checksum_ignores_ip_addresses() {
    let other = IpAddr::V4(Ipv4Addr::new(198, 18, 9, 9));
    assert!(parse(&V2_PASS, other, other, None).is_ok());
}

#[test]
fn v3_ipv4_accepts_both_checksum_forms_and_says_which() {
    let r = parse(&V3_V4, SRC4, MCAST4, None).expect("pseudo");
    assert_eq!(r.checksum_form, Some(ChecksumForm::Pseudo));
    assert_eq!(
        (r.version, r.vrid, r.priority, r.interval_cs),
        (Version::V3, 52, 150, 100)
    );
    assert_eq!(r.addresses.iter().collect::<Vec<_>>(), [VIP1, VIP2]);
    assert_eq!(r.auth, Auth::NONE);
    let r = parse(&V3_V4_PLAIN, SRC4, MCAST4, None).expect("plain");
    assert_eq!(r.checksum_form, Some(ChecksumForm::Plain));
}

#[test]
fn v3_ipv4_emits_both_forms() {
    let mut buf = [0u8; 16];
    let mut r = parse(&V3_V4, SRC4, MCAST4, None).expect("valid");
    assert_eq!(r.emit(&mut buf, SRC4, MCAST4), Ok(16));
    assert_eq!(buf, V3_V4);
    r.checksum_form = Some(ChecksumForm::Plain);
    assert_eq!(r.emit(&mut buf, SRC4, MCAST4), Ok(16));
    assert_eq!(buf, V3_V4_PLAIN);
    r.checksum_form = None; // default: pseudo
    assert_eq!(r.emit(&mut buf, SRC4, MCAST4), Ok(16));
    assert_eq!(buf, V3_V4);
}

#[test]
fn unicast_pseudo_header_uses_the_real_destination() {
    let peer = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
    let vips = [VIP1, VIP2];
    let params = AdvertParams {
        version: Version::V3,
        vrid: 52,
        priority: 150,
        interval_cs: 100,
        addresses: &vips,
        auth: Auth::NONE,
        checksum_form: ChecksumForm::Pseudo,
        src: SRC4,
        dst: peer,
    };
    let mut buf = [0u8; MAX_LEN];
    let n = build(&mut buf, &params).expect("emit");
    assert_ne!(buf[..n], V3_V4);
    assert_eq!(
        parse(&buf[..n], SRC4, peer, None).map(|r| r.checksum_form),
        Ok(Some(ChecksumForm::Pseudo))
    );
    assert_eq!(parse(&buf[..n], SRC4, MCAST4, None), Err(Error::Checksum));
}

#[test]
fn v3_ipv6() {
    let r = parse(&V3_V6, SRC6, MCAST6, None).expect("valid");
    assert_eq!((r.vrid, r.priority, r.interval_cs), (53, 100, 100));
    assert_eq!(r.checksum_form, Some(ChecksumForm::Pseudo));
    assert_eq!(r.addresses.iter().collect::<Vec<_>>(), [VIP6]);
    let mut buf = [0u8; 24];
    assert_eq!(r.emit(&mut buf, SRC6, MCAST6), Ok(24));
    assert_eq!(buf, V3_V6);
}

#[test]
fn v3_ipv6_has_no_plain_form() {
    let mut plain = V3_V6;
    plain[6..8].copy_from_slice(&[0, 0]);
    let c = !crate::wire::checksum::fold(crate::wire::checksum::sum(&plain));
    plain[6..8].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse(&plain, SRC6, MCAST6, None), Err(Error::Checksum));
}

#[test]
fn errors_by_reason() {
    let cases: &[(&[u8], Error)] = &[
        (&[], Error::Length),
        (&V2_PASS[..7], Error::Length),
        (&V2_PASS[..19], Error::Length),
        (
            &[
                0x41, 0x33, 0x64, 0x01, 0x01, 0x01, 0x77, 0x07, 0xc6, 0x12, 0x00, 0x64, 0, 0, 0, 0,
                0, 0, 0, 0,
            ],
            Error::Version,
        ),
        (
            &[
                0x21, 0x33, 0x64, 0x00, 0x01, 0x01, 0x77, 0x07, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            Error::AddressCount,
        ),
        (
            &[
                0x21, 0x33, 0x64, 0x02, 0x01, 0x01, 0x77, 0x07, 0xc6, 0x12, 0x00, 0x64, 0, 0, 0, 0,
                0, 0, 0, 0,
            ],
            Error::AddressCount,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            parse(bytes, SRC4, MCAST4, Some(&pass())),
            Err(*want),
            "{bytes:02x?}"
        );
    }
}

/// Change one byte of a valid v2 message and re-fill its checksum, so only the intended check fails.
fn v2_with(i: usize, v: u8) -> [u8; 20] {
    let mut b = V2_PASS;
    b[i] = v;
    let mut p = Packet::new_unchecked(&mut b[..], Family::V4);
    p.fill_checksum(ChecksumForm::Pseudo, SRC4, MCAST4)
        .expect("v4");
    b
}

#[test]
fn v2_auth_checks() {
    let unknown = v2_with(4, 3);
    assert_eq!(
        parse(&unknown, SRC4, MCAST4, None),
        Err(Error::AuthTypeUnknown)
    );
    assert_eq!(
        parse(&V2_PASS, SRC4, MCAST4, Some(&Auth::NONE)),
        Err(Error::AuthTypeMismatch)
    );
    assert_eq!(
        parse(&V2_PASS, SRC4, MCAST4, Some(&Auth::pass(b"secreT"))),
        Err(Error::Auth)
    );
    // keepalived cuts keys to 8 bytes.
    let long = v2_with(19, b'x');
    assert_eq!(
        parse(&long, SRC4, MCAST4, Some(&Auth::pass(b"secret\0xyz"))).map(|r| r.vrid),
        Ok(51)
    );
    // No expectation: any known type passes, and is reported.
    let ah = v2_with(4, 2);
    assert_eq!(
        parse(&ah, SRC4, MCAST4, None).map(|r| r.auth.kind),
        Ok(AuthType::Ah)
    );
    assert_eq!(
        parse(&ah, SRC4, MCAST4, Some(&Auth::ah(b""))).map(|r| r.auth.kind),
        Ok(AuthType::Ah)
    );
}

#[test]
fn interval_type_checksum() {
    assert_eq!(
        parse(&v2_with(5, 0), SRC4, MCAST4, None),
        Err(Error::Interval)
    );
    assert_eq!(
        parse(&v2_with(0, 0x22), SRC4, MCAST4, None),
        Err(Error::Type)
    );
    let mut bad = V2_PASS;
    bad[7] ^= 0x40;
    assert_eq!(parse(&bad, SRC4, MCAST4, None), Err(Error::Checksum));
    let mut v3 = V3_V4;
    v3[4..6].copy_from_slice(&[0xf0, 0x00]); // reserved bits set, interval 0
    assert_eq!(parse(&v3, SRC4, MCAST4, None), Err(Error::Interval));
}

#[test]
fn family_and_v2_over_ipv6() {
    assert_eq!(parse(&V3_V4, SRC4, MCAST6, None), Err(Error::Family));
    let v2_as_v6 = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(parse(&v2_as_v6, SRC6, MCAST6, None), Err(Error::Version));
}

#[test]
fn reasons_and_stats_are_stable() {
    let got: Vec<_> = Error::ALL
        .iter()
        .map(|e| (e.reason(), e.keepalived_stat(), e.index()))
        .collect();
    assert_eq!(
        got,
        [
            ("length", Some("packet_len_err"), 0),
            ("version", None, 1),
            ("family", None, 2),
            ("addr_count", Some("addr_list_err"), 3),
            ("auth_type_unknown", Some("invalid_authtype"), 4),
            ("auth_type", Some("authtype_mismatch"), 5),
            ("auth", Some("auth_failure"), 6),
            ("interval", Some("advert_interval_err"), 7),
            ("type", Some("invalid_type_rcvd"), 8),
            ("checksum", None, 9),
            ("addr_list", Some("addr_list_err"), 10),
        ]
    );
}

#[test]
fn same_set_is_keepalived_vip_check() {
    let r = parse(&V3_V4, SRC4, MCAST4, None).expect("valid");
    assert!(r.addresses.same_set(&[VIP2, VIP1]));
    assert!(!r.addresses.same_set(&[VIP1]));
    assert!(!r.addresses.same_set(&[VIP1, VIP1]));
    assert!(!r
        .addresses
        .same_set(&[VIP1, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 102))]));
    assert_eq!(r.addresses, AddressList::Ips(&[VIP1, VIP2]));
    assert_ne!(r.addresses, AddressList::Ips(&[VIP2, VIP1]));
}

#[test]
fn display() {
    let r = parse(&V2_PASS, SRC4, MCAST4, None).expect("valid");
    assert_eq!(
        r.to_string(),
        "VRRPv2 vrid=51 prio=100 int=1.00s addrs=[198.18.0.100] auth=Pass"
    );
    let r = parse(&V3_V4_PLAIN, SRC4, MCAST4, None).expect("valid");
    assert_eq!(
        r.to_string(),
        "VRRPv3 vrid=52 prio=150 int=1.00s addrs=[198.18.0.100,198.18.0.101] csum=plain"
    );
    let p = Packet::new_unchecked(&V3_V4[..], Family::V4);
    assert_eq!(
        p.to_string(),
        "VRRP v3 type=1 vrid=52 prio=150 count=2 int_cs=100 csum=0x04d0"
    );
    assert_eq!(
        Packet::new_unchecked(&[0x31][..], Family::V4).to_string(),
        "VRRP (bad VRRP packet length)"
    );
}

#[test]
fn unchecked_accessors_never_panic() {
    let p = Packet::new_unchecked(&[][..], Family::V6);
    assert_eq!(
        (p.version(), p.vrid(), p.checksum(), p.max_adver_int()),
        (0, 0, 0, 0)
    );
    assert_eq!(p.addresses().len(), 0);
    assert_eq!(p.auth_data(), [0; 8]);
    let mut empty: [u8; 0] = [];
    let mut p = Packet::new_unchecked(&mut empty[..], Family::V4);
    p.set_vrid(1);
    p.set_address(3, VIP1);
    p.set_auth_data(&[1; 8]);
    p.set_checksum(7);
}

#[test]
fn emit_rejects_bad_parameters() {
    let v4 = [VIP1];
    let base = AdvertParams {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        interval_cs: 100,
        addresses: &v4,
        auth: Auth::NONE,
        checksum_form: ChecksumForm::Pseudo,
        src: SRC4,
        dst: MCAST4,
    };
    let mut buf = [0u8; MAX_LEN];
    assert_eq!(build(&mut buf, &base), Ok(20));
    let many = [VIP1; 256];
    let v6 = [VIP6];
    let mixed = [VIP1, VIP6];
    let cases = [
        (AdvertParams { vrid: 0, ..base }, EmitError::Vrid),
        (
            AdvertParams {
                addresses: &[],
                ..base
            },
            EmitError::NoAddresses,
        ),
        (
            AdvertParams {
                addresses: &many,
                ..base
            },
            EmitError::TooManyAddresses,
        ),
        (
            AdvertParams {
                addresses: &mixed,
                ..base
            },
            EmitError::AddressFamily,
        ),
        (
            AdvertParams {
                addresses: &v6,
                ..base
            },
            EmitError::AddressFamily,
        ),
        (
            AdvertParams {
                addresses: &v6,
                src: SRC6,
                dst: MCAST6,
                ..base
            },
            EmitError::V2OverIpv6,
        ),
        (
            AdvertParams {
                interval_cs: 150,
                ..base
            },
            EmitError::Interval,
        ),
        (
            AdvertParams {
                interval_cs: 25600,
                ..base
            },
            EmitError::Interval,
        ),
        (
            AdvertParams {
                interval_cs: 0,
                ..base
            },
            EmitError::Interval,
        ),
        (
            AdvertParams {
                version: Version::V3,
                interval_cs: 4096,
                ..base
            },
            EmitError::Interval,
        ),
        (
            AdvertParams {
                version: Version::V3,
                auth: pass(),
                ..base
            },
            EmitError::AuthInV3,
        ),
        (
            AdvertParams {
                version: Version::V3,
                addresses: &v6,
                src: SRC6,
                dst: MCAST6,
                checksum_form: ChecksumForm::Plain,
                ..base
            },
            EmitError::ChecksumForm,
        ),
    ];
    for (params, want) in cases {
        assert_eq!(build(&mut buf, &params), Err(want), "{params:?}");
    }
    assert_eq!(build(&mut buf[..19], &base), Err(EmitError::BufferTooSmall));
    // v3 with the maximum interval (40.95 s) and 255 IPv6 addresses fills MAX_LEN exactly.
    let full = [VIP6; 255];
    let big = AdvertParams {
        version: Version::V3,
        interval_cs: MAX_V3_INTERVAL_CS,
        addresses: &full,
        src: SRC6,
        dst: MCAST6,
        ..base
    };
    assert_eq!(build(&mut buf, &big), Ok(MAX_LEN));
    assert_eq!(
        parse(&buf, SRC6, MCAST6, None).map(|r| r.interval_cs),
        Ok(4095)
    );
}

/// A small deterministic PRNG (xorshift64*), so the mutation run needs no extra crate and repeats exactly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// "Fuzz-ish": 100k random and mutated inputs through parse, Packet accessors and Display; none may panic.
/// (The libFuzzer target is rust/core/fuzz; this runs everywhere, in `cargo test`.)
#[test]
fn parse_survives_100k_mutated_inputs() {
    let seeds: [&[u8]; 4] = [&V2_PASS, &V3_V4, &V3_V4_PLAIN, &V3_V6];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 600];
    let mut accepted = 0u32;
    for i in 0..100_000u32 {
        let len = if i % 4 == 0 {
            // Fully random bytes of a random length.
            let len = (rng.next() % 600) as usize;
            for b in &mut buf[..len] {
                *b = rng.next() as u8;
            }
            len
        } else {
            let seed = seeds[(rng.next() % 4) as usize];
            buf[..seed.len()].copy_from_slice(seed);
            let mut len = seed.len();
            for _ in 0..=(rng.next() % 4) {
                match rng.next() % 4 {
                    0 => buf[(rng.next() as usize) % len.max(1)] = rng.next() as u8,
                    1 => len = (rng.next() as usize) % (len + 1),
                    2 => len = (len + (rng.next() % 40) as usize).min(buf.len()),
                    _ => buf[(rng.next() as usize) % len.max(1)] ^= 1 << (rng.next() % 8),
                }
            }
            len
        };
        let data = &buf[..len];
        let (src, dst) = if i % 3 == 0 {
            (SRC6, MCAST6)
        } else {
            (SRC4, MCAST4)
        };
        if let Ok(r) = parse(
            data,
            src,
            dst,
            if i % 2 == 0 { Some(&Auth::NONE) } else { None },
        ) {
            accepted += 1;
            let _ = r.to_string();
            let mut out = [0u8; MAX_LEN];
            // Whatever parses re-emits to the same length (bytes may differ only in reserved bits/checksum form).
            if let Ok(n) = r.emit(&mut out, src, dst) {
                assert_eq!(n, len);
            }
        }
        let p = Packet::new_unchecked(data, Family::of(&src));
        let _ = (
            p.to_string(),
            p.addresses().iter().count(),
            p.auth_data(),
            p.verify_checksum(src, dst),
        );
    }
    assert!(
        accepted > 100,
        "the mutations should keep some inputs valid, got {accepted}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn v4() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
    }

    fn v6() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
    }

    #[derive(Debug, Clone)]
    struct Case {
        version: Version,
        vrid: u8,
        priority: u8,
        interval_cs: u16,
        addresses: Vec<IpAddr>,
        auth: Auth,
        form: ChecksumForm,
        src: IpAddr,
        dst: IpAddr,
    }

    fn auth() -> impl Strategy<Value = Auth> {
        (0u8..3, any::<[u8; 8]>()).prop_map(|(k, data)| Auth {
            kind: AuthType::from_u8(k).unwrap_or(AuthType::None),
            data,
        })
    }

    fn case() -> impl Strategy<Value = Case> {
        let v2 = (
            1u8..=255,
            any::<u8>(),
            1u16..=255,
            prop::collection::vec(v4(), 1..20),
            auth(),
            v4(),
            v4(),
        )
            .prop_map(|(vrid, priority, secs, addresses, auth, src, dst)| Case {
                version: Version::V2,
                vrid,
                priority,
                interval_cs: secs * 100,
                addresses,
                auth,
                form: ChecksumForm::Pseudo,
                src,
                dst,
            });
        let v3v4 = (
            1u8..=255,
            any::<u8>(),
            1u16..=4095,
            prop::collection::vec(v4(), 1..20),
            any::<bool>(),
            v4(),
            v4(),
        )
            .prop_map(
                |(vrid, priority, interval_cs, addresses, plain, src, dst)| Case {
                    version: Version::V3,
                    vrid,
                    priority,
                    interval_cs,
                    addresses,
                    auth: Auth::NONE,
                    form: if plain {
                        ChecksumForm::Plain
                    } else {
                        ChecksumForm::Pseudo
                    },
                    src,
                    dst,
                },
            );
        let v3v6 = (
            1u8..=255,
            any::<u8>(),
            1u16..=4095,
            prop::collection::vec(v6(), 1..20),
            v6(),
            v6(),
        )
            .prop_map(|(vrid, priority, interval_cs, addresses, src, dst)| Case {
                version: Version::V3,
                vrid,
                priority,
                interval_cs,
                addresses,
                auth: Auth::NONE,
                form: ChecksumForm::Pseudo,
                src,
                dst,
            });
        prop_oneof![v2, v3v4, v3v6]
    }

    proptest! {
        #[test]
        fn emit_then_parse_is_identity(c in case()) {
            let params = AdvertParams {
                version: c.version,
                vrid: c.vrid,
                priority: c.priority,
                interval_cs: c.interval_cs,
                addresses: &c.addresses,
                auth: c.auth,
                checksum_form: c.form,
                src: c.src,
                dst: c.dst,
            };
            let mut buf = [0u8; MAX_LEN];
            let n = build(&mut buf, &params).expect("valid params");
            let r = parse(&buf[..n], c.src, c.dst, Some(&c.auth)).expect("own output parses");
            prop_assert_eq!(r.version, c.version);
            prop_assert_eq!((r.vrid, r.priority, r.interval_cs), (c.vrid, c.priority, c.interval_cs));
            prop_assert_eq!(r.addresses, AddressList::Ips(&c.addresses));
            prop_assert_eq!(r.auth, c.auth);
            // A plain checksum can coincide with the pseudo one only if the pseudo-header sums to zero.
            if c.version == Version::V3 {
                prop_assert!(r.checksum_form.is_some());
            } else {
                prop_assert_eq!(r.checksum_form, None);
            }
            prop_assert_eq!(r.buffer_len(), n);
            let mut again = [0u8; MAX_LEN];
            let r2 = Repr { checksum_form: c.version.eq(&Version::V3).then_some(c.form), ..r };
            prop_assert_eq!(r2.emit(&mut again, c.src, c.dst), Ok(n));
            prop_assert_eq!(&again[..n], &buf[..n]);
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), v6 in any::<bool>(),
                              check in any::<bool>()) {
            let (src, dst) = if v6 { (SRC6, MCAST6) } else { (SRC4, MCAST4) };
            let expected = Auth::pass(b"k");
            let _ = parse(&bytes, src, dst, check.then_some(&expected));
            let p = Packet::new_unchecked(&bytes[..], Family::of(&src));
            let _ = (p.to_string(), p.addresses().iter().count(), p.verify_checksum(src, dst));
        }
    }
}
