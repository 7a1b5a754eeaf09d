"""A tiny UDP responder: answers every datagram with the datagram followed by its node name.

It replies from the address the datagram was sent to (IP_PKTINFO), so a probe to a VIP gets its
answer from the VIP, from whichever node holds it. Run it inside a namespace:

    python -m fastvrrp.lab responder --name r1 --port 9000
"""

from __future__ import annotations

import argparse
import select
import signal
import socket
import struct
import time
from collections.abc import Sequence

IP_PKTINFO = 8  # Linux; not exported by the socket module
_IN_PKTINFO = struct.Struct("=i4s4s")
_IN6_PKTINFO = struct.Struct("=16si")
_CMSG_SPACE = socket.CMSG_SPACE(_IN6_PKTINFO.size)


class _Stopped(Exception):
    pass


def bind_sockets(port: int) -> list[socket.socket]:
    """UDP sockets on 0.0.0.0:port and [::]:port (v6-only), ready for `serve`."""
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    v4.bind(("0.0.0.0", port))
    socks = [v4]
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v6.bind(("::", port))
        socks.append(v6)
    except OSError:
        pass  # IPv6 disabled in this namespace
    for sock in socks:
        enable_pktinfo(sock)
    return socks


def enable_pktinfo(sock: socket.socket) -> None:
    """Ask the kernel for each datagram's destination address."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def _reply_cmsg(sock: socket.socket, ancdata: list[tuple[int, int, bytes]]) -> list[
    tuple[int, int, bytes]
]:
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            _, _, dst = _IN_PKTINFO.unpack(data[: _IN_PKTINFO.size])
            return [(level, kind, _IN_PKTINFO.pack(0, dst, bytes(4)))]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            dst6, ifindex = _IN6_PKTINFO.unpack(data[: _IN6_PKTINFO.size])
            return [(level, kind, _IN6_PKTINFO.pack(dst6, ifindex))]
    return []


def serve(socks: Sequence[socket.socket], name: str, max_seconds: float) -> int:
    """Answer datagrams on `socks` until `max_seconds` pass or SIGTERM/SIGINT; return the count."""
    tag = name.encode()

    def on_signal(signum: int, frame: object) -> None:
        raise _Stopped  # select() would otherwise resume after the handler

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    answered = 0
    deadline = time.monotonic() + max_seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(list(socks), [], [], min(left, 1.0))
            for sock in readable:
                try:
                    data, ancdata, _, peer = sock.recvmsg(2048, _CMSG_SPACE)
                    sock.sendmsg([data, tag], _reply_cmsg(sock, ancdata), 0, peer)
                    answered += 1
                except OSError:
                    continue  # e.g. the VIP left between receive and reply
    except _Stopped:
        pass
    return answered


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", required=True, help="node name to answer with")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--fd", type=int, action="append", default=[],
                        help="serve this inherited UDP socket instead of binding (repeatable)")
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    if args.fd:
        socks = [socket.socket(fileno=fd) for fd in args.fd]
        for sock in socks:
            enable_pktinfo(sock)
    else:
        socks = bind_sockets(args.port)
    print(f"responder {args.name} ready", flush=True)
    answered = serve(socks, args.name, args.max_seconds)
    print(f"responder {args.name} answered {answered}", flush=True)
    return 0

