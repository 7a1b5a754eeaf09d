"""Rough engine takeover numbers, run by hand as root (not a test).

    .venv/bin/python benches/engine_takeover.py [--fail link|stop] [--rounds 10] [--rt N]

With --rt N, both engine threads run SCHED_RR at priority N.

Two engines in a lab (v3, advert_int 0.1, r1 priority 150, r2 priority 100, one VIP). Each round
fails r1 and r2 takes over. `link` cuts r1's link: the floor is r1's last advert + Master_Down
(3 x 0.1 s + skew 60.9375 ms). `stop` stops r1's engine (a priority-0 advert, as on SIGTERM): the
floor is that advert + Skew_Time (60.9375 ms); r1 is built again for the next round.
Measured on the bridge capture, from the floor: r2's first advert and first gratuitous ARP. Also
the engine's own view: deadline -> GARP sent, and the VIP add.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from fastvrrp._native import Engine, InstanceSpec
from fastvrrp.lab import CapturedPacket, Lab, PacketKind, netns

VIP = "198.18.0.100"
SKEW = (256 - 100) * 0.1 / 256
MASTER_DOWN = 3 * 0.1 + SKEW


def spec(priority: int) -> InstanceSpec:
    return InstanceSpec(
        name="VI_1",
        ifname="eth0",
        vrid=51,
        version=3,
        family="inet",
        priority=priority,
        advert_interval=0.1,
        vips=[(VIP, 24, None, None, None)],
    )


def state(engine: Engine) -> int:
    data: dict[str, Any] = engine.status()[0]["data"]  # type: ignore[assignment]
    return int(data["state"])


def engine_stat(engine: Engine, name: str) -> int:
    data: dict[str, Any] = engine.status()[0]["data"]  # type: ignore[assignment]
    return int(data["engine"][name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail", choices=("link", "stop"), default="link")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rt", type=int, metavar="N", help="SCHED_RR priority of both engines")
    args = parser.parse_args()
    rt_priority: int | None = args.rt
    advert_ms: list[float] = []
    garp_ms: list[float] = []
    inside_ms: list[float] = []
    vip_add_ms: list[float] = []
    with Lab() as lab:

        def build_r1() -> Engine:
            engine = netns.run_in(lab.namespace("r1"), lambda: Engine(rt_priority=rt_priority))
            engine.add_instance(spec(150))
            engine.start()
            return engine

        r1 = build_r1()
        r2 = netns.run_in(lab.namespace("r2"), lambda: Engine(rt_priority=rt_priority))
        r1_running = True
        try:
            r2.add_instance(spec(100))
            r2.start()
            for _ in range(args.rounds):

                def settled(master: Engine = r1) -> bool:
                    return state(master) == 2 and state(r2) == 1

                if not lab.wait_for(settled, 5.0):
                    print("r1 did not become master again", file=sys.stderr)
                    return 1
                mac2 = lab.mac("r2")

                def is_garp(p: CapturedPacket, mac: str = mac2) -> bool:
                    return p.kind is PacketKind.ARP and p.target_ip == VIP and p.src_mac == mac

                with lab.capture(duration=3.0) as cap:
                    cap.wait_for(
                        lambda p: p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.1", 1.0
                    )
                    if args.fail == "link":
                        lab.link_down("r1")
                    else:
                        r1.stop()
                        r1_running = False
                    garp = cap.wait_for(is_garp, 2.0)
                    packets = cap.stop()
                if garp is None:
                    print("no GARP seen", file=sys.stderr)
                    return 1
                adverts = [p for p in packets if p.kind is PacketKind.ADVERT]
                first_r2 = min(p.time for p in adverts if p.src_ip == "198.18.0.2")
                if args.fail == "link":
                    last_r1 = max(p.time for p in adverts if p.src_ip == "198.18.0.1")
                    floor = last_r1 + MASTER_DOWN
                else:
                    last_r1 = min(
                        p.time for p in adverts if p.src_ip == "198.18.0.1" and p.priority == 0
                    )
                    floor = last_r1 + SKEW
                advert_ms.append((first_r2 - floor) * 1e3)
                garp_ms.append((garp.time - floor) * 1e3)
                inside_ms.append(engine_stat(r2, "takeover_garp_ns") / 1e6)
                vip_add_ms.append(engine_stat(r2, "vip_add_ns") / 1e6)
                if args.fail == "link":
                    lab.link_up("r1")
                else:
                    r1 = build_r1()
                    r1_running = True
        finally:
            if r1_running:
                r1.stop()
            r2.stop()

    def show(what: str, xs: list[float]) -> None:
        print(f"{what:48s} p50 {statistics.median(xs):.3f} ms  max {max(xs):.3f} ms  (n={len(xs)})")

    show("first advert after the floor (wire)", advert_ms)
    show("first GARP after the floor (wire)", garp_ms)
    show("deadline -> GARP sent (engine clock)", inside_ms)
    show("VIP add via netlink, with ack (engine clock)", vip_add_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
