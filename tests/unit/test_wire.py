"""fastvrrp.wire from Python: parse/build round trips, every drop reason, argument errors,
GARP/NA frames, and scapy's VRRP layers as an independent oracle."""

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRP, VRRPv3

from fastvrrp import wire

SRC4, MCAST4 = "198.18.0.1", "224.0.0.18"
SRC6, MCAST6 = "fe80::1", "ff02::12"


def v2_pass() -> bytes:
    return wire.build(
        2, 51, 100, 1, ["198.18.0.100"], SRC4, MCAST4, auth_type=1, auth_data=b"secret"
    )


def refill_v2_checksum(msg: bytearray) -> bytes:
    msg[6:8] = b"\0\0"
    total = sum(int.from_bytes(msg[i : i + 2], "big") for i in range(0, len(msg), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    msg[6:8] = (~total & 0xFFFF).to_bytes(2, "big")
    return bytes(msg)


def test_v2_pass_round_trip() -> None:
    payload = v2_pass()
    advert = wire.parse(payload, SRC4, MCAST4, auth_type=1, auth_data=b"secret")
    assert advert.version == 2
    assert (advert.vrid, advert.priority, advert.interval) == (51, 100, 1.0)
    assert advert.addresses == ("198.18.0.100",)
    assert (advert.auth_type, advert.auth_data, advert.checksum_form) == (1, b"secret", None)
    assert (
        repr(advert)
        == "Advert(version=2, vrid=51, priority=100, interval=1.0, addresses=('198.18.0.100',), "
        "auth_type=1, auth_data=b'secret', checksum_form=None)"
    )


@pytest.mark.parametrize("form", ["pseudo", "plain"])
def test_v3_ipv4_both_checksum_forms(form: str) -> None:
    addrs = ["198.18.0.100", "198.18.0.101"]
    payload = wire.build(3, 52, 150, 0.35, addrs, SRC4, MCAST4, checksum_form=form)
    advert = wire.parse(payload, SRC4, MCAST4)
    assert advert.checksum_form == form
    assert advert.interval == 0.35
    assert advert.addresses == tuple(addrs)
    assert (
        wire.build(3, 52, 150, advert.interval, advert.addresses, SRC4, MCAST4, checksum_form=form)
        == payload
    )


def test_v3_ipv6() -> None:
    payload = wire.build(3, 53, 100, 40.95, ["2001:2::100", "2001:2::1:100"], SRC6, MCAST6)
    advert = wire.parse(payload, SRC6, MCAST6)
    assert advert.addresses == ("2001:2::100", "2001:2::1:100")
    assert (advert.interval, advert.checksum_form, advert.auth_data) == (40.95, "pseudo", b"")


def test_unicast_checksum_covers_the_real_destination() -> None:
    payload = wire.build(3, 52, 150, 1, ["198.18.0.100"], SRC4, "198.18.0.2")
    assert wire.parse(payload, SRC4, "198.18.0.2").checksum_form == "pseudo"
    with pytest.raises(wire.WireError) as e:
        wire.parse(payload, SRC4, MCAST4)
    assert e.value.reason == "checksum"


def test_adverts_compare_and_hash_by_value() -> None:
    a = wire.parse(v2_pass(), SRC4, MCAST4)
    b = wire.parse(v2_pass(), "198.18.0.9", MCAST4)  # v2 checksums ignore the IP addresses
    c = wire.parse(wire.build(2, 51, 101, 1, ["198.18.0.100"], SRC4, MCAST4), SRC4, MCAST4)
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert a != "not an advert"


def test_advert_is_frozen() -> None:
    advert = wire.parse(v2_pass(), SRC4, MCAST4)
    with pytest.raises(AttributeError):
        advert.priority = 1  # type: ignore[misc]


def _drop(payload: bytes, **kw: object) -> wire.WireError:
    with pytest.raises(wire.WireError) as e:
        wire.parse(payload, kw.pop("src", SRC4), kw.pop("dst", MCAST4), **kw)  # type: ignore[arg-type]
    return e.value


@pytest.mark.parametrize(
    ("mutate", "reason", "stat"),
    [
        (lambda m: m[:7], "length", "packet_len_err"),
        (lambda m: m[:-1], "length", "packet_len_err"),
        (
            lambda m: refill_v2_checksum(bytearray(m[:3]) + b"\0" + m[4:])[:16],
            "addr_count",
            "addr_list_err",
        ),
        (lambda m: refill_v2_checksum(bytearray(b"\x41" + m[1:])), "version", None),
        (lambda m: refill_v2_checksum(bytearray(b"\x22" + m[1:])), "type", "invalid_type_rcvd"),
        (
            lambda m: refill_v2_checksum(bytearray(m[:5] + b"\0" + m[6:])),
            "interval",
            "advert_interval_err",
        ),
        (
            lambda m: refill_v2_checksum(bytearray(m[:4] + b"\x07" + m[5:])),
            "auth_type_unknown",
            "invalid_authtype",
        ),
        (lambda m: m[:6] + bytes([m[6] ^ 1]) + m[7:], "checksum", None),
    ],
)
def test_each_receive_check_has_its_reason(
    mutate: Callable[[bytes], bytes], reason: str, stat: str | None
) -> None:
    err = _drop(mutate(v2_pass()))
    assert (err.reason, err.stat) == (reason, stat)
    assert isinstance(err, ValueError)


def test_auth_checks() -> None:
    payload = v2_pass()
    assert _drop(payload, auth_type=0).reason == "auth_type"
    err = _drop(payload, auth_type=1, auth_data=b"wrong")
    assert (err.reason, err.stat, str(err)) == ("auth", "auth_failure", "authentication failure")
    # keepalived cuts auth_pass to 8 bytes: an expected key is compared zero-padded.
    assert wire.parse(payload, SRC4, MCAST4, auth_type=1, auth_data=b"secret\0\0").vrid == 51


def test_family_mismatch() -> None:
    payload = wire.build(3, 52, 150, 1, ["198.18.0.100"], SRC4, MCAST4)
    assert _drop(payload, dst=MCAST6).reason == "family"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 4}, "version must be 2 or 3"),
        ({"vrid": 0}, "vrid must be 1..255"),
        ({"vrid": 256}, "vrid must be 1..255"),
        ({"priority": -1}, "priority must be 0..255"),
        ({"interval": 1.5}, "interval out of range"),
        ({"interval": 0.001}, "interval must be a positive multiple of 0.01 s"),
        ({"interval": float("nan")}, "interval must be"),
        ({"addresses": []}, "at least one address"),
        ({"addresses": ["not-an-ip"]}, "not an IP address"),
        ({"addresses": ["2001:2::1"]}, "one family"),
        ({"auth_type": 5}, "auth_type must be"),
        ({"auth_data": b"123456789"}, "at most 8 bytes"),
        ({"checksum_form": "other"}, "checksum_form must be"),
        ({"version": 3, "auth_type": 1}, "only in VRRPv2"),
        ({"src": "198.18.0.300"}, "not an IP address"),
    ],
)
def test_build_rejects_bad_arguments_with_value_error(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "version": 2,
        "vrid": 1,
        "priority": 100,
        "interval": 1,
        "addresses": ["198.18.0.100"],
        "src": SRC4,
        "dst": MCAST4,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        wire.build(**args)  # type: ignore[arg-type]


def test_build_accepts_ipaddress_objects() -> None:
    vip = ipaddress.ip_address("198.18.0.100")
    from_object = wire.build(2, 1, 100, 1, [vip], SRC4, MCAST4)  # type: ignore[list-item]
    assert from_object == wire.build(2, 1, 100, 1, [str(vip)], SRC4, MCAST4)


@pytest.mark.parametrize("count", [1, 16, 17, 40, 255])
def test_build_takes_any_sequence_of_addresses_of_any_length(count: int) -> None:
    # Up to 16 addresses stay on the stack, more go to the heap: both give the same bytes.
    addrs = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(count)]
    from_list = wire.build(3, 7, 100, 1, addrs, SRC4, MCAST4)
    assert wire.build(3, 7, 100, 1, tuple(addrs), SRC4, MCAST4) == from_list
    seq = StrSequence(addrs)
    assert wire.build(3, 7, 100, 1.0, seq, SRC4, MCAST4) == from_list  # type: ignore[arg-type]
    assert wire.parse(from_list, SRC4, MCAST4).addresses == tuple(addrs)


class StrSequence:
    """A sequence that is neither a list nor a tuple."""

    def __init__(self, items: list[str]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> str:
        return self.items[i]


def test_build_refuses_256_addresses() -> None:
    addrs = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(256)]
    with pytest.raises(ValueError):
        wire.build(3, 7, 100, 1, addrs, SRC4, MCAST4)


@pytest.mark.parametrize(("as_int", "as_float"), [(1, 1.0), (3, 3.0), (255, 255.0)])
def test_build_interval_int_or_float(as_int: int, as_float: float) -> None:
    assert wire.build(2, 7, 100, as_int, [SRC4], SRC4, MCAST4) == wire.build(
        2, 7, 100, as_float, [SRC4], SRC4, MCAST4
    )


@pytest.mark.parametrize("interval", [0.004, 0.006, 0.015, 0.0149999, 40.951, 10**30, -1, 0])
def test_build_interval_must_be_a_centisecond_multiple(interval: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        wire.build(3, 7, 100, interval, [SRC4], SRC4, MCAST4)


# --- scapy as a second, independent encoder/decoder ---


def test_scapy_v2_pass_matches() -> None:
    ours = v2_pass()
    theirs = bytes(
        IP(src=SRC4, dst=MCAST4)
        / VRRP(
            vrid=51,
            priority=100,
            addrlist=["198.18.0.100"],
            authtype=1,
            adv=1,
            auth1=0x73656372,
            auth2=0x65740000,
        )
    )[20:]
    assert ours == theirs
    layer = IP(bytes(IP(src=SRC4, dst=MCAST4, proto=112) / ours))[VRRP]
    assert (layer.vrid, layer.priority, layer.addrlist, layer.adv) == (51, 100, ["198.18.0.100"], 1)


def test_scapy_v3_ipv4_pseudo_checksum_matches() -> None:
    theirs = bytes(
        IP(src=SRC4, dst=MCAST4) / VRRPv3(vrid=9, priority=200, addrlist=["198.18.1.1"], adv=25)
    )[20:]
    assert wire.build(3, 9, 200, 0.25, ["198.18.1.1"], SRC4, MCAST4) == theirs
    advert = wire.parse(theirs, SRC4, MCAST4)
    assert (advert.vrid, advert.priority, advert.interval, advert.checksum_form) == (
        9,
        200,
        0.25,
        "pseudo",
    )


def test_scapy_v3_ipv6_matches() -> None:
    vips = ["2001:2::100", "2001:2::200"]
    theirs = bytes(
        IPv6(src=SRC6, dst=MCAST6) / VRRPv3(vrid=200, priority=1, addrlist=vips, adv=4095)
    )[40:]
    assert wire.build(3, 200, 1, 40.95, vips, SRC6, MCAST6) == theirs
    assert wire.parse(theirs, SRC6, MCAST6).addresses == tuple(vips)


def test_scapy_decodes_our_adverts() -> None:
    ours = wire.build(3, 77, 123, 0.5, ["198.18.0.7"], SRC4, MCAST4)
    pkt = IP(bytes(IP(src=SRC4, dst=MCAST4, proto=112) / ours))
    layer = pkt[VRRPv3]
    assert (layer.version, layer.vrid, layer.priority, layer.adv, layer.addrlist) == (
        3,
        77,
        123,
        50,
        ["198.18.0.7"],
    )
    # scapy recomputes the checksum with its own pseudo-header code: same value.
    layer.chksum = None
    assert bytes(pkt)[20:] == ours


# --- announcement frames ---


def test_garp_frame_is_an_arp_request_with_sender_ip_equal_target_ip() -> None:
    frame = wire.build_garp("00:00:5e:00:01:33", "198.18.0.100")
    pkt = Ether(frame)
    assert pkt.dst == "ff:ff:ff:ff:ff:ff"
    assert pkt.src == "00:00:5e:00:01:33"
    arp = pkt[ARP]
    assert (arp.op, arp.psrc, arp.pdst, arp.hwsrc, arp.hwdst) == (
        1,
        "198.18.0.100",
        "198.18.0.100",
        "00:00:5e:00:01:33",
        "00:00:00:00:00:00",
    )


def test_unsolicited_na_frame() -> None:
    frame = wire.build_unsolicited_na("02:00:00:00:00:01", "fe80::1", "2001:2::100", router=True)
    pkt = Ether(frame)
    assert pkt.dst == "33:33:00:00:00:01"
    assert (pkt[IPv6].dst, pkt[IPv6].hlim) == ("ff02::1", 255)
    na = pkt[ICMPv6ND_NA]
    assert (na.tgt, na.R, na.S, na.O) == ("2001:2::100", 1, 0, 1)
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:01"
    checksum = na.cksum
    na.cksum = None
    assert Ether(bytes(pkt))[ICMPv6ND_NA].cksum == checksum


@pytest.mark.parametrize("mac", ["02:00:00:00:00", "02:00:00:00:00:01:02", "zz:00:00:00:00:01", ""])
def test_frame_builders_reject_bad_mac(mac: str) -> None:
    with pytest.raises(ValueError, match="not a MAC address"):
        wire.build_garp(mac, "198.18.0.100")


# --- address text: every spelling of an address means the same address ---


@given(st.integers(0, 2**128 - 1), st.integers(0, 2**128 - 1))
@settings(max_examples=300, deadline=None)
def test_any_ipv6_spelling_gives_the_same_checksum(src: int, dst: int) -> None:
    s, d = ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst)
    payload = wire.build(3, 1, 100, 1, ["2001:2::1"], s.compressed, d.compressed)
    for src_text, dst_text in ((s.exploded, d.exploded), (s.exploded.upper(), d.compressed)):
        assert wire.build(3, 1, 100, 1, ["2001:2::1"], src_text, dst_text) == payload
        assert wire.parse(payload, src_text, dst_text).checksum_form == "pseudo"


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@settings(max_examples=300, deadline=None)
def test_ipv4_text_round_trips(src: int, vip: int) -> None:
    s, v = str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(vip))
    payload = wire.build(3, 1, 100, 1, [v], s, MCAST4)
    assert wire.parse(payload, s, MCAST4).addresses == (v,)


@pytest.mark.parametrize("text", ["01.2.3.4", "1.2.3", "256.1.1.1", "1:2:3:4:5:6:7:8:9", "1::2::3"])
def test_malformed_address_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        wire.parse(b"", text, MCAST4)
