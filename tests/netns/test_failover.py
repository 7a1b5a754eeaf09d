"""`fastvrrp run` pairs in the lab: who holds the VIP, what a client sees, what the logs say.

Each test runs real daemons (`python -m fastvrrp run -n -l -f CONF`) in the lab's routers, r1
(198.18.0.1) and r2 (198.18.0.2). v3 tests use `advert_int 0.1`, so Master_Down is about 0.35 s;
v2 cannot go below 1 s, so its tests take seconds. Bounds on times are loose on purpose: they
tell a protocol timer from another one (skew time vs Master_Down, preempt_delay vs none), they
do not measure speed (benches/ does that).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastvrrp.lab import Lab, LabProcess, PacketKind, ProbeRun, vrrp_pair

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
VIP6 = "2001:2::100"
SEED = Path(__file__).parent.parent / "configs" / "seed"


def instance(
    *,
    priority: int,
    state: str = "BACKUP",
    version: int = 3,
    advert_int: str = "0.1",
    vips: tuple[str, ...] = (f"{VIP}/24",),
    auth_pass: str | None = None,
    extra: str = "",
) -> str:
    """A `vrrp_instance VI_1` block on eth0, VRID 51; `extra` lines go inside it."""
    auth = (
        f"    authentication {{\n        auth_type PASS\n        auth_pass {auth_pass}\n    }}\n"
        if auth_pass is not None
        else ""
    )
    addresses = "".join(f"        {v}\n" for v in vips)
    return (
        "vrrp_instance VI_1 {\n"
        f"    state {state}\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        f"    version {version}\n"
        f"    priority {priority}\n"
        f"    advert_int {advert_int}\n"
        f"{auth}"
        f"    virtual_ipaddress {{\n{addresses}    }}\n"
        f"{extra}"
        "}\n"
    )


def seed_config(name: str) -> str:
    """A seed config as shipped, with its interface set to the lab's eth0."""
    text = (SEED / name).read_text()
    return re.sub(r"(?m)^(\s*interface\s+)\S+", r"\1eth0", text)


def log_lines(proc: LabProcess) -> list[str]:
    return proc.log_text().splitlines()


def count(proc: LabProcess, text: str) -> int:
    """How many log lines of `proc` contain `text`."""
    return sum(1 for line in log_lines(proc) if text in line)


def logged(proc: LabProcess, text: str, after: int = 0) -> bool:
    """Whether a log line after the first `after` lines contains `text`."""
    return any(text in line for line in log_lines(proc)[after:])


def report(lab: Lab, *procs: LabProcess) -> str:
    """What to show when an assertion fails: who holds the VIPs, and the daemons' logs."""
    parts = [f"holders of {VIP}: {lab.holders(VIP)}"]
    for proc in procs:
        parts.append(f"--- {proc.host} (exit {proc.returncode}):\n{proc.log_text()}")
    return "\n".join(parts)


def holds_throughout(predicate: Callable[[], bool], seconds: float) -> bool:
    """Whether `predicate` stays true every time it is polled for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(0.02)
    return predicate()


def start_pair(
    lab: Lab, conf_r1: str, conf_r2: str, vip: str = VIP, timeout: float = 10.0
) -> tuple[LabProcess, LabProcess]:
    """Start r1 (meant to win), let it take the VIP, then start r2 and let it settle as backup."""
    r1 = lab.start_fastvrrp("r1", conf_r1)
    # A daemon that dies while starting fails the test at once, with its log in the report.
    assert lab.wait_for(lambda: lab.holders(vip) == ["r1"] or not r1.running, timeout)
    assert lab.holders(vip) == ["r1"], report(lab, r1)
    r2 = lab.start_fastvrrp("r2", conf_r2)
    assert lab.wait_for(
        lambda: logged(r2, "(VI_1) Entering BACKUP STATE") or not r2.running, timeout
    )
    assert logged(r2, "(VI_1) Entering BACKUP STATE"), report(lab, r1, r2)
    return r1, r2


def start_client(lab: Lab, vip: str, duration: float) -> ProbeRun:
    """UDP responders on both routers and a client probing `vip` every 10 ms, already answered."""
    lab.start_responder("r1")
    lab.start_responder("r2")
    assert lab.ping("client", vip), "the client cannot reach the VIP"
    probe = lab.start_probe("client", vip, interval=0.01, duration=duration)
    time.sleep(0.3)
    return probe


def test_seed_configs_put_the_vip_on_the_master_only(lab: Lab) -> None:
    # Both start together, as an operator would start them; the master wins the election.
    master = lab.start_fastvrrp("r1", seed_config("master.conf"))
    backup = lab.start_fastvrrp("r2", seed_config("backup.conf"))

    # v2, advert_int 1: Master_Down is 3 s + skew, plus the interpreter's start.
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, master, backup)
    # The backup has heard the master for longer than its Master_Down: it holds nothing.
    assert holds_throughout(lambda: lab.holders(VIP) == ["r1"], 4.0), report(lab, master, backup)
    assert VIP not in lab.addresses("r2")
    assert logged(master, "(VI_1) Entering MASTER STATE")
    assert logged(master, "(VI_1) setting VIPs.")
    # Their start-up timers differ by only ~40 ms, so the backup may win the first round if it
    # started first; the master then preempts. Either way the backup ends as backup.
    states = [line for line in log_lines(backup) if "(VI_1) Entering" in line]
    assert states and "Entering BACKUP STATE" in states[-1], report(lab, master, backup)
    assert lab.ping("client", VIP)
    for proc in (master, backup):
        assert "Traceback" not in proc.log_text()
        assert proc.running


def test_sigterm_on_the_master_hands_over_after_the_skew_time(lab: Lab) -> None:
    master, backup = start_pair(lab, seed_config("master.conf"), seed_config("backup.conf"))
    probe = start_client(lab, VIP, duration=6.0)
    with lab.capture(duration=8.0) as cap:
        assert cap.wait_for(
            lambda p: p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.1", 2.0
        ), "the master sends no adverts"
        assert master.stop(signal.SIGTERM) == 0, report(lab, master, backup)
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 3.0), report(lab, master, backup)
        first_r2 = cap.wait_for(
            lambda p: p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.2", 1.0
        )
        time.sleep(0.5)
    result = probe.stop()

    adverts = [p for p in cap.packets() if p.kind is PacketKind.ADVERT]
    zero = next((p for p in adverts if p.src_ip == "198.18.0.1" and p.priority == 0), None)
    assert zero is not None, "the stopping master sent no priority-0 advert"
    last = max(p.time for p in adverts if p.src_ip == "198.18.0.1" and p.priority)
    assert first_r2 is not None and first_r2.priority
    # The seed's chk_httpd fails here (no httpd), so the priorities are 100 - 20 and 90 - 20.
    # Skew_Time for priority 70 in v2 is (256 - 70) / 256 = 0.73 s; Master_Down is 3.73 s.
    skew = (256 - first_r2.priority) / 256
    assert skew - 0.3 < first_r2.time - zero.time < skew + 0.8, (zero, first_r2)
    assert first_r2.time - last < 3 + skew - 1.0, "the backup waited for Master_Down, not the skew"

    assert logged(backup, "(VI_1) Backup received priority 0 advertisement")
    assert logged(backup, "(VI_1) Entering MASTER STATE")
    assert logged(master, "(VI_1) sent 0 priority")
    assert logged(master, "(VI_1) removing VIPs.")
    assert VIP not in lab.addresses("r1")
    # The client: answers from r1, then from r2, with a gap of about the skew time.
    assert result.responders() == ["r1", "r2"], result.responders()
    outage = result.outage("r1", "r2")
    assert outage is not None and outage < 1.5, outage


@pytest.mark.parametrize(
    ("version", "advert_int", "extra_auth"),
    [(3, "0.1", None), (2, "1", "1111")],
    ids=["v3", "v2-pass"],
)
def test_master_link_down_backup_takes_over_and_master_preempts_on_return(
    lab: Lab, version: int, advert_int: str, extra_auth: str | None
) -> None:
    common: dict[str, Any] = {"version": version, "advert_int": advert_int, "auth_pass": extra_auth}
    r1, r2 = start_pair(
        lab,
        instance(priority=150, state="MASTER", **common),
        instance(priority=100, **common),
    )
    master_down = 3 * float(advert_int) + 1.0  # skew is under 1 s in v2, under 1 interval in v3
    probe = start_client(lab, VIP, duration=4 * master_down + 10)

    mark = len(log_lines(r2))
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], master_down + 2), report(lab, r1, r2)
    assert logged(r1, "Netlink reports eth0 down")
    assert logged(r1, "(VI_1) Entering FAULT STATE")
    assert logged(r2, "(VI_1) Receive advertisement timeout", after=mark)
    assert logged(r2, "(VI_1) Entering MASTER STATE", after=mark)
    time.sleep(0.3)  # the client reaches r2 before r1 comes back

    mark, mark1 = len(log_lines(r2)), len(log_lines(r1))
    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], master_down + 2), report(lab, r1, r2)
    # As keepalived: the preempting node's down timer fires, in the words operators grep for.
    assert logged(r1, "(VI_1) Receive advertisement timeout", after=mark1), report(lab, r1, r2)
    assert logged(r2, "(VI_1) Master received advert from 198.18.0.1 with higher priority 150, "
                      "ours 100", after=mark), report(lab, r1, r2)
    assert logged(r2, "(VI_1) Entering BACKUP STATE", after=mark)
    assert logged(r2, "(VI_1) removing VIPs.", after=mark)
    time.sleep(0.3)
    result = probe.stop()
    assert result.responders() == ["r1", "r2", "r1"], result.responders()
    assert "Traceback" not in r1.log_text() + r2.log_text()


def test_nopreempt_keeps_the_vip_on_the_backup_when_the_master_returns(lab: Lab) -> None:
    r1, r2 = start_pair(
        lab, instance(priority=150, extra="    nopreempt\n"), instance(priority=100)
    )
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, r1, r2)

    mark = len(log_lines(r1))
    lab.link_up("r1")
    assert lab.wait_for(lambda: logged(r1, "(VI_1) Entering BACKUP STATE", after=mark), 2.0)
    # Many times Master_Down (0.35 s): r1 hears a lower priority and accepts it.
    assert holds_throughout(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, r1, r2)
    assert not logged(r1, "(VI_1) Entering MASTER STATE", after=mark)


def test_preempt_delay_keeps_the_lower_master_for_about_the_delay(lab: Lab) -> None:
    delay = 2.0
    r1, r2 = start_pair(
        lab, instance(priority=150, extra=f"    preempt_delay {delay:g}\n"), instance(priority=100)
    )
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, r1, r2)

    up = time.monotonic()
    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], delay + 4.0), report(lab, r1, r2)
    moved = time.monotonic() - up
    # Without the delay r1 would preempt after Master_Down (0.35 s); with it, after ~2 s.
    assert delay - 0.5 < moved < delay + 2.5, moved
    assert logged(r2, "(VI_1) Entering BACKUP STATE")


def test_equal_priorities_the_higher_primary_address_wins(lab: Lab) -> None:
    # Cut r2's bridge port (its link stays up), so both become master: a split brain.
    lab.run(lab.switch, ["bridge", "link", "set", "dev", "r2-eth0", "state", "0"])
    r1 = lab.start_fastvrrp("r1", instance(priority=100))
    r2 = lab.start_fastvrrp("r2", instance(priority=100))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1", "r2"], 10.0), report(lab, r1, r2)

    # Heal it: each hears the other at the same priority; 198.18.0.2 > 198.18.0.1.
    mark1, mark2 = len(log_lines(r1)), len(log_lines(r2))
    lab.run(lab.switch, ["bridge", "link", "set", "dev", "r2-eth0", "state", "3"])
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, r1, r2)
    assert holds_throughout(lambda: lab.holders(VIP) == ["r2"], 1.0), report(lab, r1, r2)
    assert logged(r1, "(VI_1) Entering BACKUP STATE", after=mark1)
    assert not logged(r2, "(VI_1) Entering BACKUP STATE", after=mark2)


def test_ipv6_v3_pair_fails_over_and_back(lab_factory: Any) -> None:
    lab = lab_factory(vrrp_pair(ipv6=True))
    v6 = (f"{VIP6}/64",)
    r1, r2 = start_pair(
        lab, instance(priority=150, vips=v6), instance(priority=100, vips=v6), vip=VIP6
    )
    with lab.capture(duration=10.0) as cap:
        probe = start_client(lab, VIP6, duration=10.0)
        lab.link_down("r1")
        assert lab.wait_for(lambda: lab.holders(VIP6) == ["r2"], 2.0), report(lab, r1, r2)
        time.sleep(0.5)
        lab.link_up("r1")
        assert lab.wait_for(lambda: lab.holders(VIP6) == ["r1"], 2.0), report(lab, r1, r2)
        time.sleep(0.3)
        result = probe.stop()
    adverts = [p for p in cap.packets() if p.kind is PacketKind.ADVERT]
    assert adverts and all(p.version == 3 and p.dst_ip == "ff02::12" for p in adverts)
    assert {p.priority for p in adverts} >= {100, 150}
    assert any(p.kind is PacketKind.NA and p.target_ip == VIP6 for p in cap.packets())
    assert result.responders() == ["r1", "r2", "r1"], result.responders()


def test_unicast_peers_elect_and_fail_over_without_multicast(lab: Lab) -> None:
    def unicast(me: str, peer: str) -> str:
        return f"    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n"

    # r1's port on the switch sees all of r1's traffic, unicast included, and what is flooded.
    with lab.capture(lab.switch, "r1-eth0", duration=10.0) as cap:
        r1, r2 = start_pair(
            lab,
            instance(priority=150, extra=unicast("198.18.0.1", "198.18.0.2")),
            instance(priority=100, extra=unicast("198.18.0.2", "198.18.0.1")),
        )
        assert holds_throughout(lambda: lab.holders(VIP) == ["r1"], 1.0), report(lab, r1, r2)
        lab.link_down("r1")
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, r1, r2)
        lab.link_up("r1")
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 2.0), report(lab, r1, r2)
    adverts = [p for p in cap.packets() if p.kind is PacketKind.ADVERT]
    pairs = {(p.src_ip, p.dst_ip) for p in adverts}
    assert ("198.18.0.1", "198.18.0.2") in pairs and ("198.18.0.2", "198.18.0.1") in pairs
    assert pairs <= {("198.18.0.1", "198.18.0.2"), ("198.18.0.2", "198.18.0.1")}, pairs


def test_a_v3_backup_adopts_the_masters_slower_interval(lab: Lab) -> None:
    # r2 would declare r1 dead after 0.3 s of its own interval; r1 sends every 0.5 s.
    global_v3 = "global_defs {\n    vrrp_version 3\n}\n"
    r1, r2 = start_pair(
        lab,
        global_v3 + instance(priority=150, advert_int="0.5").replace("    version 3\n", ""),
        global_v3 + instance(priority=100, advert_int="0.1").replace("    version 3\n", ""),
    )
    # Until its first advert arrives r2 runs on its own 0.1 s and may be master for a moment
    # (keepalived too); once it has heard r1 it must keep quiet.
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 2.0), report(lab, r1, r2)
    time.sleep(0.6)
    masters = count(r2, "(VI_1) Entering MASTER STATE")
    assert holds_throughout(lambda: lab.holders(VIP) == ["r1"], 3.0), report(lab, r1, r2)
    assert count(r2, "(VI_1) Entering MASTER STATE") == masters, report(lab, r1, r2)
    # And it still takes over when r1 goes: after 3 x 0.5 s + skew, not never.
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 4.0), report(lab, r1, r2)


def test_a_crashed_master_is_replaced_after_master_down(lab: Lab) -> None:
    r1, r2 = start_pair(lab, instance(priority=150), instance(priority=100))
    with lab.capture(duration=5.0) as cap:
        assert cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, 1.0)
        r1.kill_group(signal.SIGKILL)  # no priority 0: the backup must time out
        assert lab.wait_for(lambda: VIP in lab.addresses("r2"), 3.0), report(lab, r1, r2)
        first_r2 = cap.wait_for(
            lambda p: p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.2", 1.0
        )
    last_r1 = max(p.time for p in cap.packets()
                  if p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.1")
    assert first_r2 is not None
    # Master_Down for priority 100 at 0.1 s: 0.3 + 0.061 s.
    assert 0.25 < first_r2.time - last_r1 < 1.5, first_r2.time - last_r1
    assert logged(r2, "(VI_1) Receive advertisement timeout")
    assert not logged(r2, "priority 0")


def test_an_owner_at_priority_255_takes_over_at_once(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", instance(priority=100, version=2, advert_int="1"))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, r1)
    r2 = lab.start_fastvrrp(
        "r2", instance(priority=255, state="MASTER", version=2, advert_int="1")
    )
    assert lab.wait_for(lambda: logged(r2, "Startup complete"), 10.0), report(lab, r1, r2)
    started = time.monotonic()
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 5.0), report(lab, r1, r2)
    # A non-owner would wait Master_Down, 3 s + 1/256 s here.
    assert time.monotonic() - started < 1.5, report(lab, r1, r2)
    assert logged(r1, "(VI_1) Entering BACKUP STATE")


def test_sigint_stops_the_master_cleanly_too(lab: Lab) -> None:
    r1, r2 = start_pair(lab, instance(priority=150), instance(priority=100))
    assert r1.stop(signal.SIGINT) == 0, report(lab, r1, r2)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 1.0), report(lab, r1, r2)
    assert logged(r1, "(VI_1) sent 0 priority")
    assert logged(r2, "(VI_1) Backup received priority 0 advertisement")
    assert "Traceback" not in r1.log_text()
