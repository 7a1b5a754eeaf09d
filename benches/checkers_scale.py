"""Checkers at scale and the verdict-to-dataplane time, run by hand as root (not a test).

    .venv/bin/python benches/checkers_scale.py [--servers 1000] [--seconds 20] [--warmup 1]
                                               [--rt-priority N] [--busy N]

One namespace, loopback only. A listener process holds SERVERS TCP ports on 198.18.0.1; the
LoadBalancerService (the daemon's own) checks 1,000 distinct real servers with TCP_CHECK
(connect_ip/connect_port pointing at the listener), delay_loop 1, against a live
nftables dataplane in the same namespace. Measured:
- lateness: how late each check starts against its schedule (p50/p99/max);
- CPU: process CPU time (user + kernel) / wall time over the run (the listener process is not
  counted, but the kernel's loopback work for each connection is: it runs in the checker's
  system calls);
- verdict -> dataplane: after the steady phase, the listener closes DOWN ports; for each
  verdict, the time from the checker's verdict to the nftables transaction having returned.
With --busy N, N processes spin on the CPU for the whole run (a busy host: other processes
compete with the checker thread for the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
import time

from fastvrrp.config import model as m
from fastvrrp.lab import netns
from fastvrrp.lvs.nftables import NftablesDataplane
from fastvrrp.lvs.service import LoadBalancerService

HOST = "198.18.0.1"
BASE_PORT = 20000

LISTENER = """
import asyncio, signal, sys
count, base, down = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
async def main():
    async def handle(reader, writer):
        writer.close()
    servers = [await asyncio.start_server(handle, "198.18.0.1", base + i, backlog=64)
               for i in range(count)]
    closing = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, closing.set)
    print("ready", flush=True)
    await closing.wait()
    for server in servers[:down]:
        server.close()
    await asyncio.sleep(3600)
asyncio.run(main())
"""


BUSY = ("import time, sys\nend = time.monotonic() + float(sys.argv[1])\n"
        "while time.monotonic() < end: pass\n")


def config(servers: int, warmup: float | None, rt_priority: int | None = None) -> m.Config:
    # Distinct real servers (198.18.2.1, ...), each checked at its own port of the listener.
    real = tuple(m.RealServer(f"198.18.{2 + i // 250}.{i % 250 + 1}", 80, m.NOWHERE, checkers=(
        m.TcpCheck(connect_ip=HOST, connect_port=BASE_PORT + i, connect_timeout=1.0, retry=0,
                   delay_loop=1.0, warmup=warmup),)) for i in range(servers))
    vs = m.VirtualServer(m.NOWHERE, ip="198.18.0.100", port=80, lvs_sched="wrr",
                         real_servers=real)
    return m.Config(global_defs=m.GlobalDefs(lvs_backend="nftables",
                                             checker_rt_priority=rt_priority),
                    virtual_servers=(vs,))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace, listener: subprocess.Popen[str]) -> dict[str, float]:
    logger = logging.getLogger("bench")
    logger.setLevel(logging.WARNING)
    lateness: list[float] = []
    # Normal scheduling unless --rt-priority (checker_rt_priority) asks for SCHED_RR.
    service = LoadBalancerService(config(args.servers, args.warmup, args.rt_priority), logger,
                                  dataplane=NftablesDataplane(logger), realtime_default=False)
    service.record = lambda due, at: lateness.append(at - due)
    await service.start()
    await asyncio.sleep(2.0)  # let warmup spread the first round
    lateness.clear()
    times0, wall0 = os.times(), time.monotonic()
    await asyncio.sleep(args.seconds)
    times, wall = os.times(), time.monotonic() - wall0
    user, system = (times.user - times0.user) / wall, (times.system - times0.system) / wall
    cpu = user + system
    checks = len(lateness)
    steady = list(lateness)
    service.apply_latencies.clear()
    listener.send_signal(signal.SIGUSR1)
    await asyncio.sleep(3.0)
    applied = list(service.apply_latencies)
    await service.stop()
    return {"checks": checks, "cpu": cpu, "user": user, "system": system,
            "late_p50": percentile(steady, 0.5),
            "late_p99": percentile(steady, 0.99), "late_max": max(steady),
            "verdicts": len(applied),
            "apply_p50": percentile(applied, 0.5) if applied else float("nan"),
            "apply_p99": percentile(applied, 0.99) if applied else float("nan"),
            "apply_max": max(applied) if applied else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--down", type=int, default=20)
    parser.add_argument("--rt-priority", type=int, default=None, metavar="N",
                        help="checker_rt_priority: run the checker thread SCHED_RR N (1-99)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="N processes spinning on the CPU during the run (a busy host)")
    args = parser.parse_args()
    name = "fvbc" + secrets.token_hex(3)
    netns.create([name])
    listener = None
    busy: list[subprocess.Popen[bytes]] = []
    try:
        # Bounded: each spinner stops by itself a little after the run would end.
        busy = [subprocess.Popen([sys.executable, "-c", BUSY, str(args.seconds + 15)])
                for _ in range(args.busy)]
        netns.ip_batch(["link set lo up", f"addr add {HOST}/32 dev lo"], namespace=name)
        listener = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", LISTENER, str(args.servers),
             str(BASE_PORT), str(args.down)], stdout=subprocess.PIPE, text=True)
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        result = netns.run_in(name, lambda: asyncio.run(run(args, listener)))
    finally:
        for spinner in busy:
            spinner.kill()
            spinner.wait()
        if listener is not None:
            listener.kill()
            listener.wait()
        netns.kill_all_in([name])
        netns.delete([name])
    rt = "normal scheduling" if args.rt_priority is None else f"SCHED_RR {args.rt_priority}"
    rt += f", {args.busy} busy processes" if args.busy else ""
    print(f"{args.servers} real servers, TCP_CHECK, delay_loop 1, warmup {args.warmup:g}, "
          f"{args.seconds:g} s, {rt}: {result['checks']:.0f} checks")
    print(f"lateness vs schedule: p50 {result['late_p50'] * 1e3:.2f} ms, "
          f"p99 {result['late_p99'] * 1e3:.2f} ms, max {result['late_max'] * 1e3:.2f} ms")
    print(f"CPU: {result['cpu'] * 100:.1f} % of a core (user {result['user'] * 100:.1f} %, "
          f"kernel {result['system'] * 100:.1f} %)")
    print(f"verdict -> nftables applied ({result['verdicts']:.0f} verdicts, "
          f"{args.servers} destinations in one service): p50 {result['apply_p50'] * 1e3:.2f} ms, "
          f"p99 {result['apply_p99'] * 1e3:.2f} ms, max {result['apply_max'] * 1e3:.2f} ms")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
