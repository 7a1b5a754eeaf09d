"""Hand-made announcement frames for lab tests: gratuitous ARP and unsolicited NA."""

from __future__ import annotations

import ipaddress
import struct

BROADCAST = b"\xff" * 6


def garp(mac: bytes, address: str) -> bytes:
    """A gratuitous ARP request (sender IP == target IP), broadcast, padded to 60 bytes.

    Linux updates an existing neighbour entry from this form even inside its `locktime`.
    """
    ip = ipaddress.IPv4Address(address).packed
    eth = BROADCAST + mac + b"\x08\x06"
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + bytes(6) + ip
    return (eth + arp).ljust(60, b"\0")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def unsolicited_na(mac: bytes, address: str, source: str | None = None) -> bytes:
    """An unsolicited neighbour advertisement (override flag) for `address` to ff02::1."""
    target = ipaddress.IPv6Address(address).packed
    src = ipaddress.IPv6Address(source or address).packed
    dst = ipaddress.IPv6Address("ff02::1").packed
    body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + target + b"\x02\x01" + mac
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", _checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + src + dst
    eth = b"\x33\x33\x00\x00\x00\x01" + mac + b"\x86\xdd"
    return eth + ip6 + body

