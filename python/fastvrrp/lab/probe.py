"""A client-side UDP probe: one datagram every `interval` to a VIP, replies name the responder.

Times are CLOCK_MONOTONIC seconds (`time.monotonic()`), comparable with `Capture` records and
with anything else on the machine. Run it inside a namespace:

    python -m fastvrrp.lab probe --target 198.18.0.100 --port 9000 --duration 5 --out probe.txt
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_INTERVAL = 0.0002
MAX_DURATION = 3600.0
_PAYLOAD = struct.Struct("!IQ")  # seq, send time in ns; the responder appends its name


@dataclass(frozen=True)
class ProbeRecord:
    """One probe: when it was sent, when (and by whom) it was answered."""

    seq: int
    sent: float
    replied: float | None = None
    responder: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """All probes of one run, in send order."""

    records: tuple[ProbeRecord, ...]
    duplicates: int = 0

    @property
    def sent(self) -> int:
        """How many probes were sent."""
        return len(self.records)

    @property
    def lost(self) -> int:
        """How many probes got no reply."""
        return sum(1 for r in self.records if r.replied is None)

    def replies(self, name: str | None = None) -> list[ProbeRecord]:
        """Answered probes (only those answered by `name`, if given), in send order."""
        return [
            r for r in self.records
            if r.replied is not None and (name is None or r.responder == name)
        ]

    def responders(self) -> list[str]:
        """Who answered, in order, with repeats collapsed: e.g. ["r1", "r2"] after a failover."""
        seq: list[str] = []
        for r in self.replies():
            if r.responder is not None and (not seq or seq[-1] != r.responder):
                seq.append(r.responder)
        return seq

    def first_reply_from(self, name: str, after: float = -math.inf) -> ProbeRecord | None:
        """The earliest probe answered by `name` with a reply time after `after`."""
        best: ProbeRecord | None = None
        for r in self.replies(name):
            assert r.replied is not None
            if r.replied > after and (best is None or r.replied < (best.replied or math.inf)):
                best = r
        return best

    def last_reply_from(self, name: str, before: float = math.inf) -> ProbeRecord | None:
        """The latest probe answered by `name` with a reply time before `before`."""
        best: ProbeRecord | None = None
        for r in self.replies(name):
            assert r.replied is not None
            if r.replied < before and (best is None or r.replied > (best.replied or -math.inf)):
                best = r
        return best

    def outage(self, old: str, new: str, after: float = -math.inf) -> float | None:
        """Seconds between the last reply from `old` and the first reply from `new` after it.

        `after` skips replies from `new` earlier than that time. None if either side is missing.
        """
        first_new = self.first_reply_from(new, after)
        if first_new is None or first_new.replied is None:
            return None
        last_old = self.last_reply_from(old, first_new.replied)
        if last_old is None or last_old.replied is None:
            return None
        return first_new.replied - last_old.replied

    def lost_between(self, start: float, end: float) -> int:
        """Unanswered probes sent in [start, end)."""
        return sum(1 for r in self.records if start <= r.sent < end and r.replied is None)

    def dump(self, path: Path) -> None:
        """Write the records, one line each: `seq sent_ns replied_ns|- responder|-`."""
        lines = [f"# duplicates {self.duplicates}"]
        for r in self.records:
            replied = "-" if r.replied is None else str(round(r.replied * 1e9))
            lines.append(f"{r.seq} {round(r.sent * 1e9)} {replied} {r.responder or '-'}")
        path.write_text("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: Path) -> ProbeResult:
        """Read what `dump` wrote."""
        records = []
        duplicates = 0
        for line in path.read_text().splitlines():
            if line.startswith("# duplicates"):
                duplicates = int(line.split()[2])
                continue
            seq, sent, replied, name = line.split(" ", 3)
            records.append(ProbeRecord(
                int(seq),
                int(sent) / 1e9,
                None if replied == "-" else int(replied) / 1e9,
                None if name == "-" else name,
            ))
        return cls(tuple(records), duplicates)


def run_probe(
    sock: socket.socket,
    target: tuple[str, int],
    *,
    interval: float = 0.001,
    duration: float = 10.0,
    count: int | None = None,
    linger: float = 0.1,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProbeResult:
    """Send probes on `sock` to `target` and collect replies.

    Stops sending after `count` probes or `duration` seconds, whichever is first, or as soon as
    `should_stop()` is true; then waits `linger` for the replies still on their way, so the last
    probes are not counted as lost.
    """
    if interval < MIN_INTERVAL:
        raise ValueError(f"interval must be at least {MIN_INTERVAL} s")
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION}] s")
    interval_ns = round(interval * 1e9)
    limit = count if count is not None else math.inf
    sock.setblocking(False)
    sent: list[int] = []
    replied: dict[int, tuple[int, str]] = {}
    duplicates = 0
    start = time.monotonic_ns()
    end = start + round(duration * 1e9)
    next_send = start
    linger_end: int | None = None

    while True:
        now = time.monotonic_ns()
        if linger_end is None and (now >= end or should_stop()):
            linger_end = now + round(linger * 1e9)
        if linger_end is not None and now >= linger_end:
            break
        if linger_end is None and now >= next_send:
            seq = len(sent)
            # A send error (no route, failed ARP) just makes this probe lost.
            with contextlib.suppress(OSError):
                sock.sendto(_PAYLOAD.pack(seq, now), target)
            sent.append(now)
            next_send += interval_ns
            if next_send < now:  # we stalled: keep the pace, do not burst
                next_send = now + interval_ns
            if len(sent) >= limit:
                linger_end = now + round(linger * 1e9)
        wake = linger_end if linger_end is not None else min(next_send, end)
        timeout = max(0, wake - time.monotonic_ns()) / 1e9
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # ICMP errors surface here; the probe is simply lost
            at = time.monotonic_ns()
            if len(data) < _PAYLOAD.size:
                continue
            seq, _ = _PAYLOAD.unpack_from(data)
            if seq >= len(sent):
                continue
            if seq in replied:
                duplicates += 1
            else:
                replied[seq] = (at, data[_PAYLOAD.size:].decode(errors="replace"))

    records = []
    for seq, t in enumerate(sent):
        got = replied.get(seq)
        records.append(ProbeRecord(
            seq, t / 1e9, None if got is None else got[0] / 1e9, None if got is None else got[1]
        ))
    return ProbeResult(tuple(records), duplicates)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: probe, then write the records to --out."""
    parser = argparse.ArgumentParser(description="UDP failover probe")
    parser.add_argument("--target", required=True)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--interval", type=float, default=0.001)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    family = socket.AF_INET6 if ipaddress.ip_address(args.target).version == 6 else socket.AF_INET
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        print("probe sending", flush=True)
        result = run_probe(
            sock,
            (args.target, args.port),
            interval=args.interval,
            duration=args.duration,
            count=args.count,
            should_stop=lambda: stop,
        )
    tmp = args.out.with_suffix(".tmp")
    result.dump(tmp)
    tmp.replace(args.out)  # the lab waits for this file: make it appear whole
    print(f"probe sent {result.sent} lost {result.lost}", flush=True)
    return 0

