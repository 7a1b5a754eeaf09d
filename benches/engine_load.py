"""Rough engine load numbers, run by hand as root (not a test).

    .venv/bin/python benches/engine_load.py [--part jitter|cpu|all] [--seconds 5] [--perf DIR]

1. Jitter: one master at advert_int 0.01 for 5 s, without and with rt_priority (SCHED_RR); the
   engine's send lateness (send time minus the FSM's deadline) and the inter-arrival times of its
   adverts on the lab bridge.
2. CPU: 255 instances (VRIDs 1-255, one VIP each) at advert_int 0.01 on r1 (master, priority 150)
   and r2 (backup), 5 s; CPU time of each engine thread from /proc.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastvrrp._native import Engine, InstanceSpec
from fastvrrp.lab import Lab, PacketKind, netns

SECONDS = 5.0


def spec(vrid: int, priority: int) -> InstanceSpec:
    return InstanceSpec(
        name=f"VI_{vrid}",
        ifname="eth0",
        vrid=vrid,
        version=3,
        family="inet",
        priority=priority,
        advert_interval=0.01,
        vips=[(f"198.19.{vrid // 256}.{vrid % 256}", 32, None, None, None)],
    )


def engine_threads() -> list[int]:
    return [
        int(tid)
        for tid in os.listdir("/proc/self/task")
        if Path(f"/proc/self/task/{tid}/comm").read_text().strip() == "fastvrrp-engine"
    ]


def cpu_seconds(tid: int) -> float:
    # schedstat's first field is the time on a CPU in ns (stat's utime + stime count 10 ms ticks).
    schedstat = Path(f"/proc/self/task/{tid}/schedstat")
    if schedstat.exists():
        return int(schedstat.read_text().split()[0]) / 1e9
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def data(engine: Engine, i: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = engine.status()[i]["data"]  # type: ignore[assignment]
    return entry


def jitter(lab: Lab, rt_priority: int | None) -> None:
    r1 = netns.run_in(lab.namespace("r1"), lambda: Engine(rt_priority=rt_priority))
    try:
        r1.add_instance(spec(51, 150))
        r1.start()
        if not lab.wait_for(lambda: data(r1)["state"] == 2, 3.0):
            raise RuntimeError("no master")
        with lab.capture(duration=SECONDS + 1) as cap:
            time.sleep(SECONDS)
            packets = cap.stop()
        engine = data(r1)["engine"]
    finally:
        r1.stop()
    times = [p.time for p in packets if p.kind is PacketKind.ADVERT]
    gaps_ms = sorted((b - a) * 1e3 for a, b in itertools.pairwise(times))
    dev = [abs(g - 10.0) for g in gaps_ms]
    dev.sort()
    print(f"jitter at 10 ms, rt_priority {rt_priority}: {len(times)} adverts in {SECONDS:.0f} s")
    print(
        f"  wire inter-arrival |gap-10ms|: p50 {statistics.median(dev):.3f} ms, "
        f"p99 {dev[int(len(dev) * 0.99)]:.3f} ms, max {dev[-1]:.3f} ms"
    )
    print(
        f"  engine send lateness: p50 <= {engine['advert_lateness_p50_us']} us, "
        f"p99 <= {engine['advert_lateness_p99_us']} us, max {engine['advert_lateness_max_us']} us"
    )


def cpu(lab: Lab, perf_dir: Path | None = None) -> None:
    before = set(engine_threads())
    r1 = netns.run_in(lab.namespace("r1"), Engine)
    r1_tid = (set(engine_threads()) - before).pop()
    r2 = netns.run_in(lab.namespace("r2"), Engine)
    r2_tid = (set(engine_threads()) - before - {r1_tid}).pop()
    try:
        for vrid in range(1, 256):
            r1.add_instance(spec(vrid, 150))
            r2.add_instance(spec(vrid, 100))
        r1.start()
        r2.start()

        def states(engine: Engine) -> list[int]:
            out = []
            for entry in engine.status():
                fields: dict[str, int] = entry["data"]  # type: ignore[assignment]
                out.append(fields["state"])
            return out

        def settled() -> bool:
            return states(r1) == [2] * 255 and states(r2) == [1] * 255

        if not lab.wait_for(settled, 10.0, interval=0.2):
            raise RuntimeError("instances did not settle")
        perf = []
        if perf_dir is not None:
            # `perf record -g` on each engine thread for the window (perf from linux-perf).
            perf_dir.mkdir(parents=True, exist_ok=True)
            for role, tid in (("master", r1_tid), ("backup", r2_tid)):
                out = perf_dir / f"{role}.data"
                cmd = ["perf", "record", "-q", "-g", "-t", str(tid), "-o", str(out)]
                perf.append(subprocess.Popen([*cmd, "--", "sleep", str(SECONDS)]))
        c1, c2 = cpu_seconds(r1_tid), cpu_seconds(r2_tid)
        t0 = time.monotonic()
        time.sleep(SECONDS)
        elapsed = time.monotonic() - t0
        for proc in perf:
            proc.wait(timeout=SECONDS + 30)
        u1 = (cpu_seconds(r1_tid) - c1) / elapsed * 100
        u2 = (cpu_seconds(r2_tid) - c2) / elapsed * 100
        sent = 0
        for entry in r1.status():
            stats: dict[str, int] = entry["stats"]  # type: ignore[assignment]
            sent += stats["advert_sent"]
    finally:
        r1.stop()
        r2.stop()
    print(f"255 instances at 10 ms: master thread {u1:.1f} % of a core, backup thread {u2:.1f} %")
    print(f"  adverts sent by the master in total: {sent}")


def main() -> int:
    global SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("jitter", "cpu", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="window per measurement")
    parser.add_argument(
        "--perf", type=Path, metavar="DIR", help="cpu part: perf record -g each engine thread"
    )
    args = parser.parse_args()
    SECONDS = args.seconds
    if args.part in ("jitter", "all"):
        with Lab() as lab:
            jitter(lab, None)
            jitter(lab, 10)
    if args.part in ("cpu", "all"):
        with Lab() as lab:
            cpu(lab, args.perf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
