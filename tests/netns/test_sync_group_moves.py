"""vrrp_sync_group members move to MASTER and BACKUP together, inside the engine.

Only VI_1 changes: r2's VI_1 tracks a file with a weight (the group says
`sync_group_tracking_weight`). Raised above r1's priority, r2's VI_1 preempts; without the sync
group r2 would hold VI_1's address and r1 VI_2's. With it, VI_2 follows on both routers, and
both addresses move to r2, then back to r1 when the weight goes away.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fastvrrp.lab import Lab
from fastvrrp.lab.process import LabProcess

pytestmark = pytest.mark.netns

VIP1, VIP2 = "198.18.0.100", "198.18.0.101"

CONFIG = """\
vrrp_track_file bump {{
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

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority {priority}
    advert_int 0.1
    virtual_ipaddress {{
        {vip1}/24
    }}
    track_file {{
        bump
    }}
}}

vrrp_instance VI_2 {{
    state BACKUP
    interface eth0
    virtual_router_id 52
    version 3
    priority {priority}
    advert_int 0.1
    virtual_ipaddress {{
        {vip2}/24
    }}
}}
"""


def start(lab: Lab, node: str, priority: int) -> tuple[LabProcess, Path]:
    directory = lab.workdir / f"syncmove-{node}"
    directory.mkdir(parents=True)
    value = directory / "bump"
    proc = lab.start_fastvrrp(node, CONFIG.format(value=value, priority=priority,
                                                  vip1=VIP1, vip2=VIP2))
    return proc, value


def both_on(lab: Lab, node: str) -> bool:
    return lab.holders(VIP1) == [node] and lab.holders(VIP2) == [node]


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
