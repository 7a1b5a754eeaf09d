"""Set and map element changes sent straight to nf_tables over netlink: the verdict path.

libnftables reads the kernel's tables, chains, sets and objects (six netlink round trips) and
parses JSON before each transaction. A verdict only adds and deletes a few elements of sets
whose types fastvrrp declared itself, so it encodes them here and sends one batch: one
sendmsg, then one acknowledgement per message.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
# nf_tables attributes.
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM = 1
NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_DATA, NFTA_SET_ELEM_USERDATA = 1, 2, 6
NFTA_DATA_VALUE = 1
#: libnftnl's user-data tag of an element comment.
NFTNL_UDATA_SET_ELEM_COMMENT = 0
FAMILIES = {"ip": socket.AF_INET, "ip6": socket.AF_INET6}


class NetlinkError(OSError):
    """nf_tables refused the batch, or did not answer in time."""


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _nested(kind: int, payload: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, payload)


def address(text: str) -> bytes:
    """An ipv4_addr or ipv6_addr value: network byte order."""
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def address_port(text: str, port: int) -> bytes:
    """An `addr . inet_service` concatenation: each field padded to 4 bytes."""
    return address(text) + struct.pack("!H", port) + b"\0\0"


def integer(value: int) -> bytes:
    """A 32-bit integer key as numgen and jhash produce it: host byte order."""
    return struct.pack("=I", value)


def comment(text: str) -> bytes:
    """An element comment, as nft stores it in the element's user data."""
    value = text.encode() + b"\0"
    return struct.pack("=BB", NFTNL_UDATA_SET_ELEM_COMMENT, len(value)) + value


@dataclass(frozen=True)
class Element:
    """One element: its key, and its data (maps) and user data (comments) if any."""

    key: bytes
    data: bytes | None = None
    userdata: bytes | None = None

    def encode(self) -> bytes:
        body = _nested(NFTA_SET_ELEM_KEY, _attr(NFTA_DATA_VALUE, self.key))
        if self.data is not None:
            body += _nested(NFTA_SET_ELEM_DATA, _attr(NFTA_DATA_VALUE, self.data))
        if self.userdata is not None:
            body += _attr(NFTA_SET_ELEM_USERDATA, self.userdata)
        return _nested(NFTA_LIST_ELEM, body)


@dataclass(frozen=True)
class ElementChange:
    """Add (True) or delete (False) elements of one set or map."""

    add: bool
    set_name: str
    elements: tuple[Element, ...]


class ElementWriter:
    """Sends element changes to nf_tables, one atomic batch per call, in this network namespace
    (the one of the thread that made it)."""

    def __init__(self, timeout: float = 1.0) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self._sock.bind((0, 0))
        self._sock.settimeout(timeout)
        self._seq = 0

    def _message(self, kind: int, flags: int, family: int, res_id: int, body: bytes) -> bytes:
        self._seq += 1
        if self._seq > 0xFFFF0000:  # keep a batch's numbers increasing (no wrap inside one)
            self._seq = 1
        nfgen = struct.pack("=BBH", family, 0, socket.htons(res_id))
        return struct.pack("=IHHII", 16 + len(nfgen) + len(body), kind, flags, self._seq,
                           0) + nfgen + body

    def run(self, family: str, table: str, changes: Sequence[ElementChange]) -> None:
        """Apply `changes` to `table` of `family` ("ip", "ip6") as one transaction."""
        proto = FAMILIES[family]
        table_attr = _attr(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0")
        parts = [self._message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, socket.AF_UNSPEC,
                               NFNL_SUBSYS_NFTABLES, b"")]
        begin = self._seq
        for change in changes:
            body = (table_attr + _attr(NFTA_SET_ELEM_LIST_SET, change.set_name.encode() + b"\0")
                    + _nested(NFTA_SET_ELEM_LIST_ELEMENTS,
                              b"".join(e.encode() for e in change.elements)))
            kind = NFNL_SUBSYS_NFTABLES << 8 | (NFT_MSG_NEWSETELEM if change.add
                                                 else NFT_MSG_DELSETELEM)
            flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE if change.add else 0)
            parts.append(self._message(kind, flags, proto, 0, body))
        last = self._seq
        parts.append(self._message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, socket.AF_UNSPEC,
                                   NFNL_SUBSYS_NFTABLES, b""))
        try:
            self._sock.send(b"".join(parts))
            self._acknowledged(begin, last)
        except TimeoutError:
            raise NetlinkError("nf_tables did not acknowledge the batch") from None

    def _acknowledged(self, begin: int, last: int) -> None:
        """Read one acknowledgement per message (begin+1..last); raise on the first error."""
        waiting = set(range(begin + 1, last + 1))
        error = 0
        while waiting:
            data = self._sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
                # Answers to an earlier batch that timed out carry older numbers: skipped.
                if kind == NLMSG_ERROR and begin <= seq <= last:
                    code = struct.unpack_from("=i", data, offset + 16)[0]
                    error = error or -code
                    if seq == begin:  # the batch itself was refused
                        waiting.clear()
                    waiting.discard(seq)
                offset += max(length + (-length % 4), 16)
        if error:
            raise NetlinkError(error, f"nf_tables: {errno.errorcode.get(error, error)}: "
                                      f"{os.strerror(error)}")

    def close(self) -> None:
        """Close the netlink socket."""
        self._sock.close()
