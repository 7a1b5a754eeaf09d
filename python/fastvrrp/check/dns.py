"""DNS_CHECK: a query for `name` of `type` gets a NOERROR answer with at least one record."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome, Target, open_socket

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "RRSIG": 46, "DNSKEY": 48}


def encode_query(query_id: int, name: str, qtype: str) -> bytes:
    """A recursive query with one question, class IN."""
    labels = [label for label in name.rstrip(".").split(".") if label]
    qname = b"".join(bytes([len(p)]) + p.encode("idna") for p in labels) + b"\0"
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + qname + struct.pack(
        "!HH", TYPES[qtype.upper()], 1)


def check_reply(reply: bytes, query_id: int) -> None:
    """Raise CheckFailed unless the reply answers our query with NOERROR and records."""
    if len(reply) < 12:
        raise CheckFailed("DNS reply too short")
    rid, flags, _qd, ancount, _ns, _ar = struct.unpack("!HHHHHH", reply[:12])
    if rid != query_id or not flags & 0x8000:
        raise CheckFailed("DNS reply does not match the query")
    if flags & 0x000F:
        raise CheckFailed(f"DNS reply rcode {flags & 0x000F}")
    if ancount == 0:
        raise CheckFailed("DNS reply has no answer")


@dataclass
class DnsProbe:
    """One UDP query."""

    target: Target
    deadline: float
    qtype: str = "SOA"
    name: str = "."

    async def attempt(self) -> Outcome:
        """Send the query and wait for the matching reply."""
        query_id = int.from_bytes(os.urandom(2), "big")
        loop = asyncio.get_running_loop()
        sock = open_socket(self.target, socket.SOCK_DGRAM)
        try:
            await loop.sock_connect(sock, (self.target.ip, self.target.port or 53))
            await loop.sock_sendall(sock, encode_query(query_id, self.name, self.qtype))
            while True:
                reply = await loop.sock_recv(sock, 4096)
                if reply[:2] == query_id.to_bytes(2, "big"):
                    break
        except OSError as exc:
            raise CheckFailed(f"DNS query failed: {exc.strerror or exc}") from exc
        finally:
            sock.close()
        check_reply(reply, query_id)
        return Outcome()
