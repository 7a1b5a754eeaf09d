"""The VRRP engine driven from Python directly (no daemon), in real namespaces.

Each engine is created in a router's namespace (`netns.run_in`), so its thread and sockets live
there; the lab's switch joins the routers' `eth0`s on 198.18.0.0/24.
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastvrrp._native import Engine, Event, InstanceSpec, build_advert
from fastvrrp.lab import Lab, PacketKind, netns, vrrp_pair

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
VIP6 = "2001:2::100"
MASTER, BACKUP, FAULT = 2, 1, 3

EngineFactory = Callable[..., Engine]


@pytest.fixture
def engine_in(lab_factory: Any) -> Iterator[EngineFactory]:
    """`engine_in(lab, host)`: an Engine whose thread lives in `host`'s namespace; stopped after."""
    made: list[Engine] = []

    def make(lab: Lab, host: str, **kwargs: Any) -> Engine:
        engine = netns.run_in(lab.namespace(host), lambda: Engine(**kwargs))
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop()


def spec(**overrides: Any) -> InstanceSpec:
    fields: dict[str, Any] = {
        "name": "VI_1",
        "ifname": "eth0",
        "vrid": 51,
        "version": 3,
        "family": "inet",
        "priority": 100,
        "advert_interval": 0.1,
        "vips": [(VIP, 24, None, None, None)],
    }
    fields.update(overrides)
    return InstanceSpec(**fields)


def status(engine: Engine, name: str = "VI_1") -> dict[str, Any]:
    for entry in engine.status():
        data: dict[str, Any] = entry["data"]  # type: ignore[assignment]
        if data["iname"] == name:
            return entry
    raise KeyError(name)


def state(engine: Engine, name: str = "VI_1") -> int:
    return int(status(engine, name)["data"]["state"])


def stat(engine: Engine, counter: str, name: str = "VI_1") -> int:
    return int(status(engine, name)["stats"][counter])


def wait_state(engine: Engine, want: int, timeout: float = 3.0, name: str = "VI_1") -> bool:
    return Lab.wait_for(lambda: state(engine, name) == want, timeout)


def start_first_as_master(first: Engine, *others: Engine) -> None:
    """Start `first`, let it become master, then start `others`.

    Started together, backups race their Master_Down timers, which differ only by the skew
    time: 20 ms at advert_int 0.1 between priorities 150 and 100. On a busy host the lower one
    may fire first and take over until the higher one preempts it, which is the protocol
    working, but not the story a test of `first` winning means to tell.
    """
    first.start()
    assert wait_state(first, MASTER)
    for engine in others:
        engine.start()


def running_pair(lab: Lab, engine_in: EngineFactory) -> tuple[Engine, Engine]:
    """r1 (priority 150) and r2 (100) with the default instance, r1 started first as master."""
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    r1.add_instance(spec(priority=150))
    r2.add_instance(spec(priority=100))
    start_first_as_master(r1, r2)
    return r1, r2


def transitions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.old_state, e.new_state, e.reason) for e in events if e.kind == "transition"]


def test_master_holds_the_vip_and_the_backup_takes_over_on_stop(
    lab: Lab, engine_in: EngineFactory
) -> None:
    r1, r2 = running_pair(lab, engine_in)

    assert wait_state(r1, MASTER)
    assert select.select([r1.event_fd()], [], [], 1.0)[0], "event fd never became readable"
    assert lab.wait_for(lambda: VIP in lab.addresses("r1", "eth0"), 2.0)
    assert wait_state(r2, BACKUP)
    assert lab.wait_for(lambda: stat(r2, "advert_rcvd") >= 3, 2.0)
    assert VIP not in lab.addresses("r2", "eth0")
    assert ("BACKUP", "MASTER", "Receive advertisement timeout") in transitions(r1.events())
    assert status(r2)["data"]["master_addr"] == "198.18.0.1"

    r2_mac = lab.mac("r2")
    with lab.capture(duration=5.0) as cap:
        r1.stop()
        assert wait_state(r2, MASTER, timeout=2.0)
        garp = cap.wait_for(
            lambda p: p.kind is PacketKind.ARP and p.target_ip == VIP and p.src_ip == VIP, 2.0
        )
    assert garp is not None, "no gratuitous ARP for the VIP after the takeover"
    assert garp.src_mac == r2_mac
    assert lab.wait_for(lambda: VIP in lab.addresses("r2", "eth0"), 2.0)
    assert VIP not in lab.addresses("r1", "eth0")
    assert ("BACKUP", "MASTER", "priority 0 received") in transitions(r2.events())
    assert ("MASTER", "STOP", "shutdown") in transitions(r1.events())
    assert stat(r2, "pri_zero_rcvd") == 1
    assert stat(r1, "pri_zero_sent") == 1


def test_remove_instance_hands_over_like_a_stop(lab: Lab, engine_in: EngineFactory) -> None:
    r1, r2 = running_pair(lab, engine_in)
    assert wait_state(r1, MASTER) and wait_state(r2, BACKUP)

    r1.remove_instance("VI_1")
    assert r1.status() == []
    assert wait_state(r2, MASTER, timeout=1.0)
    assert lab.wait_for(lambda: VIP not in lab.addresses("r1", "eth0"), 1.0)


def test_ipv6_v3_master_adds_the_vip_and_sends_a_neighbour_advert(
    lab_factory: Any, engine_in: EngineFactory
) -> None:
    lab = lab_factory(vrrp_pair(ipv6=True))
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    v6 = {"family": "inet6", "vips": [(VIP6, 64, None, None, None)]}
    r1.add_instance(spec(priority=150, **v6))
    r2.add_instance(spec(priority=100, **v6))
    with lab.capture(duration=5.0) as cap:
        start_first_as_master(r1, r2)
        assert wait_state(r1, MASTER)
        na = cap.wait_for(lambda p: p.kind is PacketKind.NA and p.target_ip == VIP6, 2.0)
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT and p.priority == 150, 2.0)
    assert na is not None, "no unsolicited NA for the VIP"
    assert advert is not None and advert.dst_ip == "ff02::12"
    assert advert.src_ip.startswith("fe80:")
    assert lab.wait_for(lambda: VIP6 in lab.addresses("r1", "eth0"), 2.0)
    assert wait_state(r2, BACKUP)
    assert lab.wait_for(lambda: stat(r2, "advert_rcvd") >= 3, 2.0)
    assert VIP6 not in lab.addresses("r2", "eth0")


def test_v2_pass_auth_elects_and_a_wrong_password_is_counted_and_ignored(
    lab_factory: Any, engine_in: EngineFactory
) -> None:
    lab = lab_factory(vrrp_pair(routers=3))
    r1, r2, r3 = (engine_in(lab, h) for h in ("r1", "r2", "r3"))
    v2 = {"version": 2, "advert_interval": 1.0, "auth_type": 1}
    r1.add_instance(spec(priority=150, auth_pass=b"secret", **v2))
    r2.add_instance(spec(priority=100, auth_pass=b"secret", **v2))
    r3.add_instance(spec(priority=50, auth_pass=b"not-it", **v2))
    for engine in (r1, r2, r3):
        engine.start()

    # v2 at 1 s: Master_Down is 3 s + skew, whatever `state MASTER` says below priority 255.
    assert wait_state(r1, MASTER, timeout=5.0)
    assert lab.wait_for(lambda: stat(r3, "auth_failure") >= 2, 4.0)
    assert stat(r2, "advert_rcvd") >= 1
    # r3 accepts nothing: r1's and r2's adverts fail its password check, so none is counted.
    # (r3 then claims master itself; its adverts fail r1's and r2's check in turn.)
    assert stat(r3, "advert_rcvd") == 0
    assert "received an invalid passwd!" in {e.reason for e in r3.events() if e.kind == "drop"}
    assert state(r2) == BACKUP
    assert VIP in lab.addresses("r1", "eth0")
    assert VIP not in lab.addresses("r2", "eth0")


def test_unicast_adverts_go_to_the_peer_only(lab: Lab, engine_in: EngineFactory) -> None:
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    r1.add_instance(spec(priority=150, unicast_src="198.18.0.1", unicast_peers=["198.18.0.2"]))
    r2.add_instance(spec(priority=100, unicast_src="198.18.0.2", unicast_peers=["198.18.0.1"]))
    with lab.capture(lab.switch, "r2-eth0", duration=5.0) as cap:
        start_first_as_master(r1, r2)
        assert wait_state(r1, MASTER)
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT and p.priority == 150, 2.0)
    assert advert is not None
    assert (advert.src_ip, advert.dst_ip) == ("198.18.0.1", "198.18.0.2")
    assert wait_state(r2, BACKUP)
    assert lab.wait_for(lambda: stat(r2, "advert_rcvd") >= 3, 2.0)
    assert VIP in lab.addresses("r1", "eth0")


def test_a_missing_interface_faults_that_instance_only_until_it_appears(
    lab: Lab, engine_in: EngineFactory
) -> None:
    r1 = engine_in(lab, "r1")
    gone_vip = "198.18.0.101"
    r1.add_instance(
        spec(name="VI_GONE", ifname="nope0", vrid=52, vips=[(gone_vip, 24, None, None, None)])
    )
    r1.add_instance(spec())
    r1.start()

    assert wait_state(r1, MASTER)
    assert state(r1, "VI_GONE") == FAULT
    events = [e for e in r1.events() if e.instance == "VI_GONE"]
    assert ("INIT", "FAULT", "interface nope0 not found") in transitions(events)

    # The interface shows up (a macvlan on eth0): the instance leaves FAULT and, alone, wins.
    for cmd in (
        "link add nope0 link eth0 type macvlan mode bridge",
        "addr add 198.18.0.21/24 dev nope0",
        "link set nope0 up",
    ):
        lab.run("r1", ["ip", *cmd.split()])
    assert wait_state(r1, MASTER, name="VI_GONE", timeout=3.0)
    assert lab.wait_for(lambda: gone_vip in lab.addresses("r1", "nope0"), 1.0)
    assert status(r1, "VI_GONE")["data"]["master_addr"] == "198.18.0.21"


def test_link_down_faults_and_link_up_recovers(lab: Lab, engine_in: EngineFactory) -> None:
    r1 = engine_in(lab, "r1")
    r1.add_instance(spec())
    r1.start()
    assert wait_state(r1, MASTER)
    assert lab.wait_for(lambda: VIP in lab.addresses("r1", "eth0"), 1.0)
    r1.events()

    lab.link_down("r1")
    assert wait_state(r1, FAULT, timeout=1.0)
    assert lab.wait_for(lambda: VIP not in lab.addresses("r1", "eth0"), 1.0)
    assert ("MASTER", "FAULT", "interface eth0 down") in transitions(r1.events())

    lab.link_up("r1")
    assert wait_state(r1, MASTER, timeout=3.0)
    assert ("FAULT", "BACKUP", "fault cleared") in transitions(r1.events())


def test_set_priority_and_set_fault_from_python(lab: Lab, engine_in: EngineFactory) -> None:
    r1, r2 = running_pair(lab, engine_in)
    assert wait_state(r1, MASTER) and wait_state(r2, BACKUP)

    # A tracker lowers r1 below r2: r2 preempts.
    r1.set_priority("VI_1", 50)
    assert wait_state(r2, MASTER, timeout=2.0)
    assert wait_state(r1, BACKUP)
    assert status(r1)["data"]["effective_priority"] == 50

    r2.set_fault("VI_1", True, "tracked script chk_web failed")
    assert wait_state(r2, FAULT, timeout=1.0)
    assert ("MASTER", "FAULT", "tracked script chk_web failed") in transitions(r2.events())
    assert wait_state(r1, MASTER, timeout=2.0)

    with pytest.raises(ValueError, match="no VRRP instance"):
        r1.set_priority("VI_NOPE", 10)
    with pytest.raises(ValueError, match="exists already"):
        r1.add_instance(spec())


def test_bad_adverts_are_counted_by_keepalived_name_and_ignored(
    lab: Lab, engine_in: EngineFactory
) -> None:
    r1 = engine_in(lab, "r1")
    # A 1 s interval keeps r1 in BACKUP (Master_Down 3.6 s) for the whole test.
    r1.add_instance(spec(priority=100, advert_interval=1.0))
    r1.start()
    assert wait_state(r1, BACKUP)

    # The client forges adverts for VRID 51 from 198.18.0.10.
    sock = lab.socket("client", socket.AF_INET, socket.SOCK_RAW, 112)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("198.18.0.10"))
    src, dst = "198.18.0.10", "224.0.0.18"
    good = build_advert(3, 51, 200, 0.1, [VIP], src, dst)
    other_vips = build_advert(3, 51, 200, 0.1, ["198.18.0.101"], src, dst)
    wrong_type = bytes([0x32]) + good[1:]

    def send(payload: bytes, ttl: int = 255) -> None:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.sendto(payload, (dst, 0))

    try:
        send(good, ttl=64)
        send(good[:6])
        send(wrong_type)
        send(other_vips)
        assert lab.wait_for(lambda: stat(r1, "addr_list_err") == 1, 1.0)
        assert stat(r1, "ip_ttl_err") == 1
        assert stat(r1, "packet_len_err") == 1
        assert stat(r1, "invalid_type_rcvd") == 1
        assert state(r1) == BACKUP
        assert status(r1)["data"]["master_addr"] is None
        drops = {e.reason for e in r1.events() if e.kind == "drop"}
        assert drops >= {
            "invalid TTL/HL. Received 64 and expect 255",
            "vrrp packet too short, length 26 and expect 32",
            "Invalid packet type. 2 and expect 1",
            "ip address associated with VRID 51 not present in MASTER advert : 198.18.0.100",
        }, drops

        # A good advert from a higher priority is followed.
        send(good)
        assert lab.wait_for(lambda: status(r1)["data"]["master_addr"] == src, 1.0)
        assert stat(r1, "advert_rcvd") == 2  # the address-list drop counts as received too
    finally:
        sock.close()


def test_rt_priority_puts_the_engine_thread_in_sched_rr(lab: Lab, engine_in: EngineFactory) -> None:
    engine = engine_in(lab, "r1", rt_priority=1)
    engine.add_instance(spec())
    engine.start()
    assert wait_state(engine, MASTER)
    tids = [
        int(tid)
        for tid in os.listdir("/proc/self/task")
        if Path(f"/proc/self/task/{tid}/comm").read_text().strip() == "fastvrrp-engine"
    ]
    assert tids, "no engine thread found"
    assert os.SCHED_RR in {os.sched_getscheduler(tid) for tid in tids}
    assert not [e for e in engine.events() if e.kind == "warning"]


def test_use_vmac_sends_from_the_virtual_mac(lab: Lab, engine_in: EngineFactory) -> None:
    vmac = "00:00:5e:00:01:33"  # VRID 51
    for cmd in (
        f"link add vrrp.51 link eth0 address {vmac} type macvlan mode bridge",
        "link set vrrp.51 up",
    ):
        lab.run("r1", ["ip", *cmd.split()])
    r1 = engine_in(lab, "r1")
    r1.add_instance(spec(send_ifname="vrrp.51"))
    with lab.capture(duration=5.0) as cap:
        r1.start()
        assert wait_state(r1, MASTER)
        garp = cap.wait_for(lambda p: p.kind is PacketKind.ARP and p.target_ip == VIP, 2.0)
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, 2.0)
    assert garp is not None and garp.src_mac == vmac
    assert advert is not None and advert.src_mac == vmac
    assert advert.src_ip == "198.18.0.1"
    assert lab.wait_for(lambda: VIP in lab.addresses("r1", "vrrp.51"), 1.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vrid": 0}, "vrid 0 out of range"),
        ({"version": 2, "advert_interval": 0.5}, "whole seconds"),
        ({"family": "inet6"}, r"VIP 198.18.0.100 is not of the instance's family \(IPv6\)"),
        ({"family": "inet6", "version": 2, "advert_interval": 1.0}, "VRRPv2 is IPv4 only"),
        ({"version": 3, "auth_type": 1}, "only in VRRPv2"),
        ({"version": 2, "advert_interval": 1.0, "auth_type": 2}, "AH"),
        ({"vips": [("198.18.0.300", 24, None, None, None)]}, "invalid address"),
        ({"checksum_form": "crc"}, "checksum_form"),
    ],
)
def test_invalid_specs_are_value_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_garp_interval_paces_every_packet(lab: Lab, engine_in: EngineFactory) -> None:
    vips = [(VIP, 24, None, None, None), ("198.18.0.101", 24, None, None, None)]
    r1 = engine_in(lab, "r1")
    r1.add_instance(
        spec(vips=vips, garp_interval=0.05, garp_master_repeat=2, garp_master_delay=0.0)
    )
    with lab.capture(duration=5.0) as cap:
        r1.start()
        assert wait_state(r1, MASTER)
        assert lab.wait_for(
            lambda: len([p for p in cap.packets() if p.kind is PacketKind.ARP]) >= 4, 2.0
        )
        lab.wait_for(lambda: False, 0.2)  # nothing more should come
        garps = [p for p in cap.stop() if p.kind is PacketKind.ARP]
    assert [p.target_ip for p in garps] == [VIP, "198.18.0.101", VIP, "198.18.0.101"]
    gaps = [b.time - a.time for a, b in itertools.pairwise(garps)]
    assert all(gap > 0.04 for gap in gaps), gaps


def test_unicast_peer_ttl_range_is_checked(lab: Lab, engine_in: EngineFactory) -> None:
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    r1.add_instance(spec(priority=150, unicast_src="198.18.0.1", unicast_peers=["198.18.0.2"]))
    # r1 sends with TTL 255, outside the range r2 accepts from it.
    r2.add_instance(
        spec(priority=100, unicast_src="198.18.0.2", unicast_peers=[("198.18.0.1", 1, 254)])
    )
    r1.start()
    r2.start()
    assert lab.wait_for(lambda: stat(r2, "ip_ttl_err") >= 2, 2.0)
    assert stat(r2, "advert_rcvd") == 0


def test_update_instance_diffs_a_masters_vips_without_an_election(
    lab: Lab, engine_in: EngineFactory
) -> None:
    vip2, vip3 = "198.18.0.101", "198.18.0.102"
    r1, r2 = engine_in(lab, "r1"), engine_in(lab, "r2")
    before = [(VIP, 24, None, None, None), (vip2, 24, None, None, None)]
    after = [(VIP, 24, None, None, None), (vip3, 24, None, None, None)]
    r1.add_instance(spec(priority=150, vips=before))
    r2.add_instance(spec(priority=100, vips=before))
    start_first_as_master(r1, r2)
    assert wait_state(r1, MASTER) and wait_state(r2, BACKUP)
    assert lab.wait_for(lambda: {VIP, vip2} <= lab.addresses("r1", "eth0"), 1.0)
    r1.events()

    with lab.capture(duration=3.0) as cap:
        r1.update_instance("VI_1", spec(name="VI_RENAMED", priority=150, vips=after))
        r2.update_instance("VI_1", spec(priority=100, vips=after))
        garp = cap.wait_for(lambda p: p.kind is PacketKind.ARP and p.target_ip == vip3, 1.0)
    assert garp is not None, "the new VIP was not announced"
    addresses = lab.addresses("r1", "eth0")
    assert {VIP, vip3} <= addresses and vip2 not in addresses
    assert state(r1, "VI_RENAMED") == MASTER
    assert stat(r1, "become_master", "VI_RENAMED") == 1
    assert not transitions(r1.events())
    assert state(r2) == BACKUP

    # A higher priority on the backup is a priority change: it preempts, no restart.
    r2.update_instance("VI_1", spec(priority=200, vips=after))
    assert wait_state(r2, MASTER, timeout=2.0)
    assert status(r2)["data"]["base_priority"] == 200
    assert ("BACKUP", "MASTER", "preempt") in transitions(r2.events())


def test_update_instance_keeps_the_master_through_interval_preempt_and_garp_changes(
    lab: Lab, engine_in: EngineFactory
) -> None:
    r1, r2 = running_pair(lab, engine_in)
    assert wait_state(r1, MASTER) and wait_state(r2, BACKUP)
    r1.events()
    r2.events()

    changed = {"advert_interval": 0.05, "preempt": False, "garp_master_refresh": 2.0}
    with lab.capture(duration=1.5) as cap:
        r1.update_instance("VI_1", spec(priority=150, **changed))
        r2.update_instance("VI_1", spec(priority=100, **changed))
        start = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT and p.interval == 0.05, 1.0)
        assert start is not None, "no advert with the new interval"
        time.sleep(0.5)
        packets = cap.stop()
    adverts = [
        p for p in packets
        if p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.1" and p.time >= start.time
    ]
    # Still master, never handed over (no priority 0), adverts every 50 ms.
    assert state(r1) == MASTER and state(r2) == BACKUP
    assert all(p.priority == 150 and p.interval == 0.05 for p in adverts)
    gaps = [b.time - a.time for a, b in itertools.pairwise(adverts)]
    assert len(gaps) >= 5 and max(gaps) < 0.08
    assert stat(r1, "pri_zero_sent") == 0 and stat(r1, "become_master") == 1
    assert not transitions(r1.events()) and not transitions(r2.events())
    assert status(r1)["data"]["adver_int"] == 0.05


@pytest.mark.parametrize("mode", ["private", "bridge"])
def test_use_vmac_pair_elects_one_master_and_counts_each_advert_once(
    lab: Lab, engine_in: EngineFactory, mode: str
) -> None:
    vmac = "00:00:5e:00:01:33"  # VRID 51, the same on both routers
    engines = {}
    for host, priority in (("r1", 150), ("r2", 100)):
        for cmd in (
            f"link add vrrp.51 link eth0 address {vmac} type macvlan mode {mode}",
            "link set vrrp.51 up",
        ):
            lab.run(host, ["ip", *cmd.split()])
        engines[host] = engine_in(lab, host)
        engines[host].add_instance(spec(priority=priority, send_ifname="vrrp.51"))
    r1, r2 = engines["r1"], engines["r2"]
    start_first_as_master(r1, r2)
    assert wait_state(r1, MASTER)
    assert wait_state(r2, BACKUP)
    assert lab.wait_for(lambda: stat(r2, "advert_rcvd") >= 5, 2.0)
    assert state(r2) == BACKUP
    assert stat(r2, "advert_rcvd") <= stat(r1, "advert_sent") + 1
    assert VIP in lab.addresses("r1", "vrrp.51")
    assert VIP not in lab.addresses("r2", "vrrp.51")
