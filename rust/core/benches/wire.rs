//! Criterion benches of `fastvrrp_core::wire`: parse + validate (the receive path) and emit (the send path).
//! Run: `cargo bench -p fastvrrp-core --bench wire -- --warm-up-time 1 --measurement-time 2`

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fastvrrp_core::wire::{
    arp, ndisc,
    vrrp::{self, AdvertParams, Auth, ChecksumForm, Version},
};

const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const MCAST4: IpAddr = IpAddr::V4(vrrp::MULTICAST_V4);
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
const MCAST6: IpAddr = IpAddr::V6(vrrp::MULTICAST_V6);

fn advert(version: Version, vips: &[IpAddr], auth: Auth, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let params = AdvertParams {
        version,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addresses: vips,
        auth,
        checksum_form: ChecksumForm::Pseudo,
        src,
        dst,
    };
    let mut buf = [0u8; vrrp::MAX_LEN];
    let n = vrrp::build(&mut buf, &params).unwrap_or(0);
    buf[..n].to_vec()
}

fn bench_parse(c: &mut Criterion) {
    let vip4 = [IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100))];
    let vip6 = [IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100))];
    let key = Auth::pass(b"secret");
    let v2 = advert(Version::V2, &vip4, key, SRC4, MCAST4);
    let v3 = advert(Version::V3, &vip4, Auth::NONE, SRC4, MCAST4);
    let v3_6 = advert(Version::V3, &vip6, Auth::NONE, SRC6, MCAST6);

    let mut g = c.benchmark_group("wire/parse");
    g.bench_function("v2_pass", |b| {
        b.iter(|| {
            let r = vrrp::parse(
                black_box(&v2),
                black_box(SRC4),
                black_box(MCAST4),
                Some(&key),
            );
            black_box(r.map(|r| r.addresses.same_set(&vip4)))
        })
    });
    g.bench_function("v3_ipv4", |b| {
        b.iter(|| {
            let r = vrrp::parse(black_box(&v3), black_box(SRC4), black_box(MCAST4), None);
            black_box(r.map(|r| r.addresses.same_set(&vip4)))
        })
    });
    g.bench_function("v3_ipv6", |b| {
        b.iter(|| {
            let r = vrrp::parse(black_box(&v3_6), black_box(SRC6), black_box(MCAST6), None);
            black_box(r.map(|r| r.addresses.same_set(&vip6)))
        })
    });
    g.finish();
}

fn bench_emit(c: &mut Criterion) {
    let vip4 = [IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100))];
    let params = AdvertParams {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addresses: &vip4,
        auth: Auth::NONE,
        checksum_form: ChecksumForm::Pseudo,
        src: SRC4,
        dst: MCAST4,
    };
    let mut g = c.benchmark_group("wire/emit");
    let mut buf = [0u8; vrrp::MAX_LEN];
    g.bench_function("v3_ipv4", |b| {
        b.iter(|| black_box(vrrp::build(&mut buf, black_box(&params))))
    });
    let mut frame = [0u8; 128];
    let mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    g.bench_function("garp", |b| {
        b.iter(|| {
            black_box(arp::emit_gratuitous(
                &mut frame,
                mac,
                black_box(Ipv4Addr::new(198, 18, 0, 100)),
            ))
        })
    });
    let (src, vip) = (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100),
    );
    g.bench_function("unsolicited_na", |b| {
        b.iter(|| {
            black_box(ndisc::emit_unsolicited_na_frame(
                &mut frame,
                mac,
                src,
                black_box(vip),
                false,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_emit);
criterion_main!(benches);
