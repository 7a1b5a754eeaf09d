"""Golden adverts captured from keepalived 2.2.7 (tests/vectors/capture_keepalived.py): each parses
to the settings of the config that produced it, build() gives the bytes back byte for byte, and
scapy (a second, independent decoder) agrees on every field and on the checksum."""

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Packet

from fastvrrp import wire

VECTORS = sorted((Path(__file__).parent.parent / "vectors").glob("keepalived_*.json"))
AUTH_TYPES = {None: 0, "PASS": 1, "AH": 2}


def cases() -> list[Any]:
    out = []
    for path in VECTORS:
        doc = json.loads(path.read_text())
        for i, advert in enumerate(doc["adverts"]):
            out.append(pytest.param(doc["config"], advert, id=f"{path.stem}-{i}"))
    return out


def test_vectors_exist() -> None:
    names = {p.stem for p in VECTORS}
    assert names >= {"keepalived_v2_pass", "keepalived_v3_ipv4", "keepalived_v3_ipv6"}


def expected_vips(config: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(ipaddress.ip_interface(v).ip) for v in config["virtual_ipaddress"])


def expected_key(config: dict[str, Any]) -> bytes:
    # keepalived cuts auth_pass to 8 bytes.
    return str(config.get("auth_pass", "")).encode()[:8]


@pytest.mark.parametrize(("config", "captured"), cases())
def test_keepalived_advert_parses_to_its_config(
    config: dict[str, Any], captured: dict[str, Any]
) -> None:
    payload = bytes.fromhex(captured["payload"])
    auth_type = AUTH_TYPES[config.get("auth_type")]
    advert = wire.parse(
        payload,
        captured["src"],
        captured["dst"],
        auth_type=auth_type,
        auth_data=expected_key(config),
    )
    assert advert.version == config["vrrp_version"]
    assert advert.vrid == config["vrid"]
    # A stopping keepalived sends priority 0.
    assert advert.priority in (config["priority"], 0)
    assert advert.interval == config["advert_int"]
    assert advert.addresses == expected_vips(config)
    assert (advert.auth_type, advert.auth_data) == (auth_type, expected_key(config))
    # keepalived 2.2.7 always uses the pseudo-header for v3 (no v3_checksum_as_v2 in these configs).
    assert advert.checksum_form == (None if config["vrrp_version"] == 2 else "pseudo")


@pytest.mark.parametrize(("config", "captured"), cases())
def test_build_reproduces_keepalived_bytes(
    config: dict[str, Any], captured: dict[str, Any]
) -> None:
    payload = bytes.fromhex(captured["payload"])
    advert = wire.parse(payload, captured["src"], captured["dst"])
    rebuilt = wire.build(
        advert.version,
        advert.vrid,
        advert.priority,
        advert.interval,
        advert.addresses,
        captured["src"],
        captured["dst"],
        auth_type=advert.auth_type,
        auth_data=advert.auth_data,
        checksum_form=advert.checksum_form,
    )
    assert rebuilt.hex() == payload.hex()


@pytest.mark.parametrize(("config", "captured"), cases())
def test_scapy_agrees_on_keepalived_adverts(
    config: dict[str, Any], captured: dict[str, Any]
) -> None:
    payload = bytes.fromhex(captured["payload"])
    src, dst = captured["src"], captured["dst"]
    pkt: Packet
    if config["family"] == "ipv4":
        pkt = IP(bytes(IP(src=src, dst=dst, proto=112) / payload))
    else:
        pkt = IPv6(bytes(IPv6(src=src, dst=dst, nh=112) / payload))
    layer = pkt[VRRP] if config["vrrp_version"] == 2 else pkt[VRRPv3]
    ours = wire.parse(payload, src, dst)
    assert (layer.vrid, layer.priority) == (ours.vrid, ours.priority)
    assert tuple(layer.addrlist) == ours.addresses
    if config["vrrp_version"] == 2:
        assert layer.adv == ours.interval
        assert layer.authtype == ours.auth_type
    else:
        assert layer.adv == round(ours.interval * 100)
    # scapy recomputes the checksum from scratch: it must equal the captured one.
    captured_sum = layer.chksum
    layer.chksum = None
    assert type(pkt)(bytes(pkt))[type(layer)].chksum == captured_sum
