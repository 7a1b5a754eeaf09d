"""PING_CHECK: an ICMP (or ICMPv6) echo request gets its echo reply."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome, Target, open_socket


def checksum(data: bytes) -> int:
    """The Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(v6: bool, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; ICMPv6's checksum is left to the kernel."""
    kind = 128 if v6 else 8
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    if v6:
        return body
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


@dataclass
class PingProbe:
    """One echo over a raw socket (root), matched by identifier and sequence."""

    target: Target
    deadline: float

    async def attempt(self) -> Outcome:
        """Send one echo request and wait for its reply from the target."""
        v6 = self.target.family == socket.AF_INET6
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        ident, seq = struct.unpack("!HH", os.urandom(4))
        loop = asyncio.get_running_loop()
        sock = open_socket(Target(self.target.ip, None, self.target.bindto, None,
                                  self.target.bind_if, self.target.fwmark), socket.SOCK_RAW, proto)
        try:
            sock.connect((self.target.ip, 0))  # raw: immediate, and no getaddrinfo
            await loop.sock_sendall(sock, echo_request(v6, ident, seq, b"fastvrrp"))
            while True:
                packet = await loop.sock_recv(sock, 2048)
                icmp = packet if v6 else packet[(packet[0] & 0x0F) * 4:]
                if len(icmp) >= 8 and icmp[0] == (129 if v6 else 0) and struct.unpack(
                        "!HH", icmp[4:8]) == (ident, seq):
                    return Outcome()
        except OSError as exc:
            raise CheckFailed(f"ICMP echo failed: {exc.strerror or exc}") from exc
        finally:
            sock.close()
