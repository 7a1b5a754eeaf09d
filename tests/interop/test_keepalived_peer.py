"""fastvrrp and keepalived 2.2.7 in the same VRID: they see each other and elect as one.

One router runs `fastvrrp run`, the other `keepalived -n -l -G -D`, with the same config apart
from the priority. In both roles and in v2 (PASS) and v3: the master takes the VIP, the backup
stays backup (no dual master), the VIP moves to the backup when the master's link goes down and
comes back when it returns (preempt).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from fastvrrp.lab import Lab, LabProcess, vrrp_pair

pytestmark = [pytest.mark.interop, pytest.mark.netns]

VIP = "198.18.0.100"
VIP6 = "2001:2::100"


def config(priority: int, state: str, version: int, vip: str = f"{VIP}/24") -> str:
    if version == 2:
        timing = (
            "    advert_int 1\n"
            "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n"
        )
    else:
        timing = "    advert_int 0.1\n"
    return (
        "global_defs {\n    router_id fv_interop\n}\n"
        "vrrp_instance VI_1 {\n"
        f"    state {state}\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        f"    version {version}\n"
        f"    priority {priority}\n"
        f"{timing}"
        f"    virtual_ipaddress {{\n        {vip}\n    }}\n"
        "}\n"
    )


def report(lab: Lab, *procs: LabProcess) -> str:
    parts = [f"holders of {VIP}: {lab.holders(VIP)}"]
    parts += [f"--- {p.host} {p.argv[0]} (exit {p.returncode}):\n{p.log_text()}" for p in procs]
    return "\n".join(parts)


def lines_with(proc: LabProcess, text: str) -> int:
    return sum(1 for line in proc.log_text().splitlines() if text in line)


def holds_throughout(lab: Lab, want: list[str], seconds: float, vip: str = VIP) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lab.holders(vip) != want:
            return False
        time.sleep(0.05)
    return lab.holders(vip) == want


def start(lab: Lab, host: str, daemon: str, conf: str) -> LabProcess:
    if daemon == "fastvrrp":
        return lab.start_fastvrrp(host, conf)
    return lab.start_keepalived(host, conf)


@pytest.mark.parametrize("version", [2, 3], ids=["v2-pass", "v3"])
@pytest.mark.parametrize("fastvrrp_is", ["master", "backup"])
def test_fastvrrp_and_keepalived_elect_together_and_the_vip_moves_both_ways(
    lab: Lab, fastvrrp_is: str, version: int
) -> None:
    master_daemon, backup_daemon = (
        ("fastvrrp", "keepalived") if fastvrrp_is == "master" else ("keepalived", "fastvrrp")
    )
    # v2 at 1 s: Master_Down up to 4 s; v3 at 0.1 s: under 0.4 s.
    master_down = 4.0 if version == 2 else 0.4
    master = start(lab, "r1", master_daemon, config(150, "MASTER", version))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], master_down + 8), report(lab, master)
    backup = start(lab, "r2", backup_daemon, config(100, "BACKUP", version))
    assert lab.wait_for(lambda: lines_with(backup, "(VI_1) Entering BACKUP STATE") > 0, 8.0), (
        report(lab, master, backup)
    )
    # The backup hears the master for well over its Master_Down: one master, on r1.
    assert holds_throughout(lab, ["r1"], master_down), report(lab, master, backup)
    assert lines_with(backup, "(VI_1) Entering MASTER STATE") == 0, report(lab, master, backup)

    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], master_down + 3), (
        report(lab, master, backup)
    )
    assert lines_with(master, "(VI_1) Entering FAULT STATE") == 1, report(lab, master, backup)

    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], master_down + 3), (
        report(lab, master, backup)
    )
    assert holds_throughout(lab, ["r1"], 1.0), report(lab, master, backup)
    assert lines_with(backup, "(VI_1) Entering BACKUP STATE") == 2, report(lab, master, backup)
    assert lines_with(master, "(VI_1) Entering MASTER STATE") == 2, report(lab, master, backup)
    for proc in (master, backup):
        assert proc.running, report(lab, master, backup)
        assert "Traceback" not in proc.log_text()


@pytest.mark.parametrize("fastvrrp_on", ["r1", "r2"])
def test_equal_priorities_across_implementations_the_higher_address_wins(
    lab: Lab, fastvrrp_on: str
) -> None:
    # Cut r2's bridge port (its link stays up) so both become master, then heal the split.
    lab.run(lab.switch, ["bridge", "link", "set", "dev", "r2-eth0", "state", "0"])
    procs = [
        start(lab, host, "fastvrrp" if host == fastvrrp_on else "keepalived",
              config(100, "BACKUP", 3))
        for host in ("r1", "r2")
    ]
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1", "r2"], 10.0), report(lab, *procs)
    lab.run(lab.switch, ["bridge", "link", "set", "dev", "r2-eth0", "state", "3"])
    # 198.18.0.2 > 198.18.0.1: r2 stays master, r1 steps down.
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, *procs)
    assert holds_throughout(lab, ["r2"], 1.0), report(lab, *procs)
    assert lines_with(procs[0], "(VI_1) Entering BACKUP STATE") == 2, report(lab, *procs)
    assert lines_with(procs[1], "(VI_1) Entering BACKUP STATE") == 1, report(lab, *procs)


@pytest.mark.parametrize("fastvrrp_is", ["master", "backup"])
def test_ipv6_v3_with_keepalived(lab_factory: Any, keepalived_ready: str | None,
                                 fastvrrp_is: str) -> None:
    if keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    lab = lab_factory(vrrp_pair(ipv6=True))
    master_daemon, backup_daemon = (
        ("fastvrrp", "keepalived") if fastvrrp_is == "master" else ("keepalived", "fastvrrp")
    )
    master = start(lab, "r1", master_daemon, config(150, "MASTER", 3, f"{VIP6}/64"))
    assert lab.wait_for(lambda: lab.holders(VIP6) == ["r1"], 10.0), report(lab, master)
    backup = start(lab, "r2", backup_daemon, config(100, "BACKUP", 3, f"{VIP6}/64"))
    assert lab.wait_for(lambda: lines_with(backup, "(VI_1) Entering BACKUP STATE") > 0, 8.0), (
        report(lab, master, backup)
    )
    assert holds_throughout(lab, ["r1"], 1.0, VIP6), report(lab, master, backup)
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP6) == ["r2"], 3.0), report(lab, master, backup)
    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP6) == ["r1"], 3.0), report(lab, master, backup)
    assert lab.ping("client", VIP6)


@pytest.mark.parametrize("fastvrrp_is", ["master", "backup"])
def test_a_v3_backup_adopts_the_other_implementations_interval(
    lab: Lab, fastvrrp_is: str
) -> None:
    master_daemon, backup_daemon = (
        ("fastvrrp", "keepalived") if fastvrrp_is == "master" else ("keepalived", "fastvrrp")
    )
    slow = config(150, "MASTER", 3).replace("advert_int 0.1", "advert_int 0.5")
    master = start(lab, "r1", master_daemon, slow)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, master)
    backup = start(lab, "r2", backup_daemon, config(100, "BACKUP", 3))
    assert lab.wait_for(lambda: lines_with(backup, "(VI_1) Entering BACKUP STATE") > 0, 8.0), (
        report(lab, master, backup)
    )
    # Before it hears the first advert, a backup runs on its own interval: it may be master
    # for a moment (keepalived does that too). Once it has heard the master, it must adopt
    # its 0.5 s: at its own 0.1 s it would time out after 0.36 s.
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 2.0), report(lab, master, backup)
    time.sleep(0.6)
    masters = lines_with(backup, "(VI_1) Entering MASTER STATE")
    assert holds_throughout(lab, ["r1"], 3.0), report(lab, master, backup)
    assert lines_with(backup, "(VI_1) Entering MASTER STATE") == masters, (
        report(lab, master, backup)
    )
