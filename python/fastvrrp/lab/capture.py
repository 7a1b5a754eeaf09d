"""Capture VRRP adverts, ARP and IPv6 neighbour advertisements with kernel timestamps.

An AF_PACKET socket, opened inside a lab namespace, gets a classic BPF filter that only lets
those three kinds through, so a busy lab does not fill its buffer. The kernel stamps every
packet on arrival (SO_TIMESTAMPNS, CLOCK_REALTIME); we convert the stamps to CLOCK_MONOTONIC
with an offset measured at start, so they compare directly with probe records.
"""

from __future__ import annotations

import ctypes
import enum
import ipaddress
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
VRRP_PROTO = 112
_TIMESPEC = struct.Struct("=qq")


class PacketKind(enum.Enum):
    """What a captured packet is."""

    ADVERT = "advert"
    ARP = "arp"
    NA = "na"


@dataclass(frozen=True)
class CapturedPacket:
    """One captured packet. `time` is CLOCK_MONOTONIC seconds (as `time.monotonic()`).

    For adverts: `vrid`, `priority`, `version`, `interval` (seconds), `addresses`.
    For ARP: `target_ip` and `arp_op` (1 request, 2 reply); a GARP has src_ip == target_ip.
    For NA: `target_ip`.
    """

    time: float
    kind: PacketKind
    src_mac: str
    src_ip: str
    dst_ip: str
    ifname: str
    outgoing: bool
    vrid: int | None = None
    priority: int | None = None
    version: int | None = None
    interval: float | None = None
    addresses: tuple[str, ...] = ()
    target_ip: str | None = None
    arp_op: int | None = None


def realtime_offset(samples: int = 7) -> float:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, in seconds, from the tightest of a few readings."""
    best = (float("inf"), 0.0)
    for _ in range(samples):
        a = time.monotonic_ns()
        r = time.time_ns()
        b = time.monotonic_ns()
        best = min(best, (b - a, (r - (a + b) / 2) / 1e9))
    return best[1]


def _filter_program() -> list[tuple[int, int, int, int]]:
    """Classic BPF: accept ARP, IPv4/IPv6 proto 112, and ICMPv6 type 136; drop the rest."""
    ldh, ldb, jeq, ret = 0x28, 0x30, 0x15, 0x06
    # (op, k, jump-if-true label, jump-if-false label); labels resolve to offsets below.
    prog: list[tuple[str | None, int, int, str | None, str | None]] = [
        (None, ldh, 12, None, None),
        (None, jeq, 0x0806, "accept", None),
        (None, jeq, 0x0800, "v4", None),
        (None, jeq, 0x86DD, "v6", "drop"),
        ("v4", ldb, 23, None, None),
        (None, jeq, VRRP_PROTO, "accept", "drop"),
        ("v6", ldb, 20, None, None),
        (None, jeq, VRRP_PROTO, "accept", None),
        (None, jeq, 58, None, "drop"),
        (None, ldb, 54, None, None),
        (None, jeq, 136, "accept", "drop"),
        ("accept", ret, 0xFFFF, None, None),
        ("drop", ret, 0, None, None),
    ]
    where = {label: i for i, (label, *_) in enumerate(prog) if label}
    out = []
    for i, (_, op, k, jt, jf) in enumerate(prog):
        t = where[jt] - i - 1 if jt else 0
        f = where[jf] - i - 1 if jf else 0
        out.append((op, t, f, k))
    return out


def attach_filter(sock: socket.socket) -> None:
    """Attach the advert/ARP/NA filter to an AF_PACKET socket."""
    prog = _filter_program()
    code = b"".join(struct.pack("=HBBI", *insn) for insn in prog)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip(b: bytes) -> str:
    return str(ipaddress.ip_address(b))


def parse_frame(
    frame: bytes, at: float, ifname: str = "", outgoing: bool = False
) -> CapturedPacket | None:
    """Decode an Ethernet frame into a record, or None if it is none of the kinds we keep."""
    if len(frame) < 14:
        return None
    src_mac = _mac(frame[6:12])
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x0806 and len(frame) >= 42:
        op = int.from_bytes(frame[20:22], "big")
        return CapturedPacket(
            at, PacketKind.ARP, src_mac, _ip(frame[28:32]), _ip(frame[38:42]), ifname, outgoing,
            target_ip=_ip(frame[38:42]), arp_op=op,
        )
    if ethertype == 0x0800 and len(frame) >= 34:
        hlen = (frame[14] & 0x0F) * 4
        if frame[23] != VRRP_PROTO:
            return None
        src, dst = frame[26:30], frame[30:34]
        payload = frame[14 + hlen:]
        return _advert(at, src_mac, src, dst, payload, 4, ifname, outgoing)
    if ethertype == 0x86DD and len(frame) >= 54:
        src, dst = frame[22:38], frame[38:54]
        payload = frame[54:]
        if frame[20] == VRRP_PROTO:
            return _advert(at, src_mac, src, dst, payload, 16, ifname, outgoing)
        if frame[20] == 58 and len(payload) >= 24 and payload[0] == 136:
            return CapturedPacket(
                at, PacketKind.NA, src_mac, _ip(src), _ip(dst), ifname, outgoing,
                target_ip=_ip(payload[8:24]),
            )
    return None


def _advert(
    at: float, src_mac: str, src: bytes, dst: bytes, vrrp: bytes, alen: int, ifname: str,
    outgoing: bool,
) -> CapturedPacket | None:
    if len(vrrp) < 8:
        return None
    version = vrrp[0] >> 4
    count = vrrp[3]
    # v3: 12-bit max advert interval in centiseconds; v2: one byte of seconds.
    interval = (
        (int.from_bytes(vrrp[4:6], "big") & 0x0FFF) / 100 if version == 3 else float(vrrp[5])
    )
    addrs = tuple(
        _ip(vrrp[8 + i * alen: 8 + (i + 1) * alen])
        for i in range(count)
        if len(vrrp) >= 8 + (i + 1) * alen
    )
    return CapturedPacket(
        at, PacketKind.ADVERT, src_mac, _ip(src), _ip(dst), ifname, outgoing,
        vrid=vrrp[1], priority=vrrp[2], version=version, interval=interval, addresses=addrs,
    )


class Capture:
    """A running capture on an AF_PACKET socket; stops by itself after `duration` or `limit`.

    Use as a context manager, or call `stop()`; both return or keep the records.
    """

    def __init__(self, sock: socket.socket, *, duration: float, limit: int) -> None:
        self._sock = sock
        self._offset = realtime_offset()
        self._records: list[CapturedPacket] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._deadline = time.monotonic() + duration
        self._limit = limit
        self._thread = threading.Thread(target=self._run, name="lab-capture", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        open_socket: Callable[[int, int, int], socket.socket],
        ifname: str,
        *,
        duration: float = 10.0,
        limit: int = 100_000,
    ) -> Capture:
        """Open, filter and bind a packet socket on `ifname` with `open_socket`, and start."""
        sock = open_socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            # Filter before binding to a protocol, so nothing unfiltered gets queued.
            attach_filter(sock)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            sock.bind((ifname, ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        return cls(sock, duration=duration, limit=limit)

    def _run(self) -> None:
        cmsg_space = socket.CMSG_SPACE(_TIMESPEC.size)
        try:
            while not self._stop.is_set():
                left = self._deadline - time.monotonic()
                if left <= 0 or len(self._records) >= self._limit:
                    break
                ready, _, _ = select.select([self._sock], [], [], min(left, 0.05))
                if not ready:
                    continue
                frame, ancdata, _, addr = self._sock.recvmsg(65535, cmsg_space)
                at = time.time()
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                        at = sec + nsec / 1e9
                rec = parse_frame(
                    frame, at - self._offset, addr[0], addr[2] == socket.PACKET_OUTGOING
                )
                if rec is not None:
                    with self._cond:
                        self._records.append(rec)
                        self._cond.notify_all()
        except (OSError, ValueError):
            pass  # socket closed under us by stop()
        finally:
            with self._cond:
                self._stop.set()
                self._cond.notify_all()

    @property
    def running(self) -> bool:
        """Whether the capture is still recording."""
        return not self._stop.is_set()

    def packets(self) -> list[CapturedPacket]:
        """The records so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def wait_for(
        self, predicate: Callable[[CapturedPacket], bool], timeout: float
    ) -> CapturedPacket | None:
        """The first record matching `predicate`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for rec in self._records[seen:]:
                    if predicate(rec):
                        return rec
                seen = len(self._records)
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(left)

    def stop(self) -> list[CapturedPacket]:
        """Stop recording, close the socket, and return the records. Idempotent."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()
        return self.packets()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
