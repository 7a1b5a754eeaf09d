"""Turn captures, probe records and /proc counters into benchmark figures (milliseconds)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fastvrrp.bench.configs import master_down_interval, skew_time
from fastvrrp.lab.capture import CapturedPacket, PacketKind
from fastvrrp.lab.probe import ProbeResult


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, min, p50, p90, p99, max and mean of the values that are not None (NaN dropped)."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return {"n": 0, "min": None, "p50": None, "p90": None, "p99": None, "max": None,
                "mean": None}
    return {
        "n": len(kept),
        "min": min(kept),
        "p50": percentile(kept, 50),
        "p90": percentile(kept, 90),
        "p99": percentile(kept, 99),
        "max": max(kept),
        "mean": sum(kept) / len(kept),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


@dataclass(frozen=True)
class Floor:
    """The earliest moment the protocol lets the backup take over, and what it was derived from."""

    time: float
    basis: str  # "master_down" (last advert + Master_Down_Interval) or "skew" (priority 0 + Skew)
    old_advert: float


@dataclass(frozen=True)
class Takeover:
    """One takeover, measured three ways, in milliseconds after the protocol floor.

    `client_overhead`: the client's first reply from the new master; `client_outage`: from the
    last reply of the old master to the first of the new one; `first_advert` / `first_garp`:
    the new master's first advert and first gratuitous ARP for the VIP, on the wire.
    """

    floor_basis: str | None
    client_outage: float | None
    client_overhead: float | None
    first_advert: float | None
    first_garp: float | None
    lost: int | None


def protocol_floor(
    packets: Sequence[CapturedPacket], *, old_ip: str, new_ip: str, vrid: int, failed_at: float,
    backup_priority: int, interval: float, version: int,
) -> Floor | None:
    """The floor of a takeover of `vrid` from `old_ip` to `new_ip` after `failed_at`.

    A priority-0 advert from the old master after the failure sets the floor at its time plus
    Skew_Time; otherwise the old master's last advert before the new master's first one, plus
    Master_Down_Interval.
    """
    adverts = [p for p in packets if p.kind is PacketKind.ADVERT and p.vrid == vrid]
    for p in adverts:
        if p.src_ip == old_ip and p.priority == 0 and p.time >= failed_at:
            return Floor(p.time + skew_time(backup_priority, interval, version), "skew", p.time)
    first_new = next(
        (p.time for p in adverts if p.src_ip == new_ip and p.time >= failed_at), math.inf
    )
    old = [p.time for p in adverts if p.src_ip == old_ip and p.priority and p.time < first_new]
    if not old:
        return None
    last = old[-1]
    return Floor(last + master_down_interval(backup_priority, interval, version), "master_down",
                 last)


def first_advert_from(
    packets: Sequence[CapturedPacket], src_ip: str, vrid: int, after: float
) -> float | None:
    """Time of the first advert of `vrid` from `src_ip` at or after `after`."""
    return next(
        (p.time for p in packets
         if p.kind is PacketKind.ADVERT and p.vrid == vrid and p.src_ip == src_ip
         and p.time >= after),
        None,
    )


def first_garp(
    packets: Sequence[CapturedPacket], vip: str, src_mac: str, after: float
) -> float | None:
    """Time of the first gratuitous ARP for `vip` from `src_mac` at or after `after`."""
    return next(
        (p.time for p in packets
         if p.kind is PacketKind.ARP and p.target_ip == vip and p.src_ip == vip
         and p.src_mac == src_mac and p.time >= after),
        None,
    )


def takeover(
    packets: Sequence[CapturedPacket], probe: ProbeResult | None, *, old: str, new: str,
    old_ip: str, new_ip: str, new_mac: str, vrid: int, vip: str, failed_at: float,
    backup_priority: int, interval: float, version: int,
) -> Takeover:
    """Measure one takeover from its capture and (optionally) its probe records."""
    floor = protocol_floor(
        packets, old_ip=old_ip, new_ip=new_ip, vrid=vrid, failed_at=failed_at,
        backup_priority=backup_priority, interval=interval, version=version,
    )
    advert = first_advert_from(packets, new_ip, vrid, failed_at)
    garp = first_garp(packets, vip, new_mac, failed_at)
    overhead = outage = None
    lost = None
    if probe is not None:
        reply = probe.first_reply_from(new, failed_at)
        outage = probe.outage(old, new, failed_at)
        if reply is not None and reply.replied is not None and floor is not None:
            overhead = reply.replied - floor.time
        lost = probe.lost_between(failed_at, reply.sent if reply is not None else math.inf)
    at = floor.time if floor is not None else math.nan
    return Takeover(
        floor.basis if floor is not None else None,
        _ms(outage),
        _ms(overhead),
        None if advert is None or floor is None else (advert - at) * 1000,
        None if garp is None or floor is None else (garp - at) * 1000,
        lost,
    )


def advert_gaps(
    packets: Sequence[CapturedPacket], src_ip: str, vrid: int
) -> list[float]:
    """Seconds between consecutive adverts of `vrid` sent by `src_ip` (as received, in order)."""
    times = [
        p.time for p in packets
        if p.kind is PacketKind.ADVERT and p.vrid == vrid and p.src_ip == src_ip
        and not p.outgoing and p.priority
    ]
    return [b - a for a, b in itertools.pairwise(times)]


# -- CPU from /proc

def group_pids(pgid: int) -> list[int]:
    """The pids of the processes in process group `pgid` (a daemon and its children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat_fields(int(entry))
        if stat is not None and int(stat[2]) == pgid:
            found.append(int(entry))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], pgrp [2], utime [11])."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU seconds used so far by these processes (all their threads)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pids: Iterable[int]) -> int:
    """Resident memory of these processes, summed."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
