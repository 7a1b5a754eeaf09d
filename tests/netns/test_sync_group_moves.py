"""vrrp_sync_group members move to MASTER and BACKUP together, inside the engine.

Only VI_1 changes: r2's VI_1 tracks a file with a weight (the group says
`sync_group_tracking_weight`). Raised above r1's priority, r2's VI_1 preempts; without the sync
group r2 would hold VI_1's address and r1 VI_2's. With it, VI_2 follows on both routers, and
both addresses move to r2, then back to r1 when the weight goes away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_helpers import VIP as VIP1
from ops_helpers import VIP2, both_on, instance_block

from fastvrrp._native import Engine, Event, InstanceSpec
from fastvrrp.lab import Lab, netns
from fastvrrp.lab.process import LabProcess

pytestmark = pytest.mark.netns

# keepalived's line for a master that yields, as the engine reports it.
YIELD_TO_R2 = "Master received advert from 198.18.0.2 with higher priority 120, ours 100"
YIELD_TO_R1 = "Master received advert from 198.18.0.1 with higher priority 100, ours 90"


def config(value: Path, priority: int) -> str:
    """Group G1 of VI_1 and VI_2, VI_1 tracking the number in `value` with weight 1."""
    return f"""vrrp_track_file bump {{
    file "{value}"
    weight 1
    init_file 0 overwrite
}}

vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
    sync_group_tracking_weight
}}

""" + (instance_block(priority, vips=(VIP1,), body="    track_file {\n        bump\n    }")
           + "\n" + instance_block(priority, name="VI_2", vrid=52, vips=(VIP2,)))


def start(lab: Lab, node: str, priority: int) -> tuple[LabProcess, Path]:
    directory = lab.workdir / f"syncmove-{node}"
    directory.mkdir(parents=True)
    value = directory / "bump"
    return lab.start_fastvrrp(node, config(value, priority)), value


def stays(lab: Lab, node: str, seconds: float) -> bool:
    """Both addresses on `node` alone at every look for `seconds` (no thrashing)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not both_on(lab, node):
            return False
        time.sleep(0.05)
    return True


def test_one_member_preempted_takes_the_whole_group_and_back(lab: Lab) -> None:
    r1, _ = start(lab, "r1", 100)
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=5)
    r2, bump = start(lab, "r2", 90)
    assert stays(lab, "r1", 1.0)

    # r2's VI_1 alone goes to 120: it preempts, and VI_2 follows on both routers.
    bump.write_text("30\n")
    assert lab.wait_for(lambda: both_on(lab, "r2"), timeout=3)
    assert stays(lab, "r2", 1.5)

    # The weight goes away: r1's VI_1 preempts back, and VI_2 follows again.
    bump.write_text("0\n")
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=3)
    assert stays(lab, "r1", 1.5)

    # The forced members' transitions are logged as keepalived logs them.
    log2, log1 = r2.log_text(), r1.log_text()
    assert "VRRP_Group(G1) Syncing instances to MASTER state" in log2
    assert "(VI_2) Entering MASTER STATE" in log2
    assert "VRRP_Group(G1) Syncing instances to BACKUP state" in log1
    assert "(VI_2) Entering BACKUP STATE" in log1


# ---- the engine alone (no daemon): who moved, why, and in which order ----

EngineFactory = Callable[[Lab, str], Engine]


@pytest.fixture
def engine_in() -> Iterator[EngineFactory]:
    """`engine_in(lab, host)`: an Engine whose thread lives in `host`'s namespace; stopped after."""
    made: list[Engine] = []

    def make(lab: Lab, host: str) -> Engine:
        engine = netns.run_in(lab.namespace(host), Engine)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop()


def member(name: str, vrid: int, vip: str, priority: int, **extra: Any) -> InstanceSpec:
    return InstanceSpec(name=name, ifname="eth0", vrid=vrid, version=3, family="inet",
                        priority=priority, advert_interval=0.1,
                        vips=[(vip, 24, None, None, None)], sync_group="G1", **extra)


def group_on(engine: Engine, priority: int) -> None:
    engine.add_instance(member("VI_1", 51, VIP1, priority))
    engine.add_instance(member("VI_2", 52, VIP2, priority))
    engine.start()


def group_pair(lab: Lab, engine_in: EngineFactory) -> tuple[Engine, Engine]:
    """r1 (100) master of both members, r2 (90) backup of both; their events so far read."""
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    group_on(r1, 100)
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=5)
    group_on(r2, 90)
    assert lab.wait_for(lambda: states(r2) == {"VI_1": "BACKUP", "VI_2": "BACKUP"}, timeout=3)
    r1.events(), r2.events()
    return r1, r2


def states(engine: Engine) -> dict[str, str]:
    names = {1: "BACKUP", 2: "MASTER", 3: "FAULT"}
    out: dict[str, str] = {}
    for entry in engine.status():
        data: dict[str, Any] = entry["data"]  # type: ignore[assignment]
        out[str(data["iname"])] = names.get(int(data["state"]), "INIT")
    return out


def moves(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.instance, e.new_state, e.reason) for e in events if e.kind == "transition"]


def test_the_engine_moves_the_other_member_right_after_the_first(
    lab: Lab, engine_in: EngineFactory
) -> None:
    r1, r2 = group_pair(lab, engine_in)

    r2.set_priority("VI_1", 120)
    assert lab.wait_for(lambda: both_on(lab, "r2"), timeout=3)
    assert stays(lab, "r2", 1.0)
    # Each forced move is the event right after the move that caused it.
    assert moves(r2.events()) == [("VI_1", "MASTER", "preempt"),
                                  ("VI_2", "MASTER", "forced by sync group G1")]
    assert moves(r1.events()) == [
        ("VI_1", "BACKUP", YIELD_TO_R2),
        ("VI_2", "BACKUP", "forced by sync group G1")]

    r2.set_priority("VI_1", 90)
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=3)
    assert stays(lab, "r1", 1.0)
    assert moves(r1.events()) == [("VI_1", "MASTER", "preempt"),
                                  ("VI_2", "MASTER", "forced by sync group G1")]
    assert moves(r2.events()) == [
        ("VI_1", "BACKUP", YIELD_TO_R1),
        ("VI_2", "BACKUP", "forced by sync group G1")]


def test_a_faulted_member_is_not_forced(lab: Lab, engine_in: EngineFactory) -> None:
    r1, r2 = group_pair(lab, engine_in)
    r2.set_fault("VI_2", True, "test fault")
    r2.set_priority("VI_1", 120)
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["r2"], timeout=3)
    assert states(r2) == {"VI_1": "MASTER", "VI_2": "FAULT"}
    # r1's VI_2 is forced to backup; with nobody else on VRID 52 it takes over again, and the
    # VI_1 it forces to master meets r2's better advert and steps down alone: no ping-pong.
    seen: list[tuple[str, str, str]] = []

    def back_on_r1() -> bool:
        seen.extend(moves(r1.events()))
        return ("VI_2", "MASTER", "Receive advertisement timeout") in seen

    assert lab.wait_for(back_on_r1, timeout=5)
    assert seen[:2] == [
        ("VI_1", "BACKUP", YIELD_TO_R2),
        ("VI_2", "BACKUP", "forced by sync group G1")]
    assert lab.holders(VIP2) == ["r1"]
    assert lab.wait_for(lambda: lab.holders(VIP1) == ["r2"], timeout=2)
    time.sleep(1.0)
    assert lab.holders(VIP1) == ["r2"] and lab.holders(VIP2) == ["r1"]
