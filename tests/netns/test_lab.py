"""The netns lab: topology, probes, captures, daemon launchers, and teardown that always happens."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fastvrrp.lab import (
    Host,
    Interface,
    Lab,
    PacketKind,
    Topology,
    vrrp_pair,
)
from fastvrrp.lab import netns as lab_netns
from fastvrrp.lab.capture import parse_frame
from fastvrrp.lab.daemons import DaemonFiles, fastvrrp_argv
from fastvrrp.lab.pytest_fixtures import LabFactory

netns = pytest.mark.netns
VIP = "198.18.0.100"


# -- topology (no root needed)


def test_classic_pair_is_one_call() -> None:
    topo = vrrp_pair()
    assert [h.name for h in topo.hosts] == ["r1", "r2", "client"]
    assert topo.host("r1").interface("eth0").addresses == ("198.18.0.1/24",)
    assert topo.host("client").interface("eth0").addresses == ("198.18.0.10/24",)
    three = vrrp_pair(3, ipv6=True)
    assert three.host("r3").interface("eth0").addresses == ("198.18.0.3/24", "2001:2::3/64")


def test_topology_refuses_addresses_outside_the_lab_ranges() -> None:
    with pytest.raises(ValueError, match="lab addresses"):
        Interface("eth0", ("10.0.0.1/24",))
    with pytest.raises(ValueError, match="lab addresses"):
        Interface("eth0", ("2001:db8::1/64",))


def test_topology_refuses_names_that_would_not_fit() -> None:
    with pytest.raises(ValueError, match="host name"):
        Host("router12")
    with pytest.raises(ValueError, match="bridge port name"):
        Topology((Host("client", (Interface("eth0.1234"),)),))
    with pytest.raises(ValueError, match="duplicate"):
        Topology((Host("r1"), Host("r1")))


def test_capture_decodes_a_v3_advert_frame() -> None:
    eth = bytes.fromhex("01005e000012" "020000000001" "0800")
    ip = bytes.fromhex("45c00020" "00000000" "ff700000" "c6120001" "e0000012")
    vrrp = bytes([0x31, 51, 200, 1, 0x00, 10, 0, 0]) + socket.inet_aton(VIP)
    rec = parse_frame(eth + ip + vrrp, 12.5, "br0")
    assert rec is not None
    assert rec.kind is PacketKind.ADVERT
    assert (rec.src_ip, rec.dst_ip) == ("198.18.0.1", "224.0.0.18")
    assert rec.src_mac == "02:00:00:00:00:01"
    assert (rec.vrid, rec.priority, rec.version, rec.interval) == (51, 200, 3, 0.1)
    assert rec.addresses == (VIP,)


# -- the lab in namespaces


@netns
def test_pair_comes_up_and_client_pings_both_routers(lab: Lab) -> None:
    assert lab.ping("client", "198.18.0.1")
    assert lab.ping("client", "198.18.0.2")
    assert "198.18.0.10" in lab.addresses("client", "eth0")
    assert all(lab_netns.exists(ns) for ns in lab.namespaces)


@netns
def test_the_switch_bridges_without_host_firewalling(lab: Lab) -> None:
    # A real switch does not run the host's iptables on bridged frames; the lab's must not
    # either, or each advert's sender pays for it and CPU figures are skewed.
    if not os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"):
        pytest.skip("this kernel has no br_netfilter")
    for key in ("iptables", "ip6tables", "arptables"):
        value = lab.run(lab.switch, ["cat", f"/proc/sys/net/bridge/bridge-nf-call-{key}"])
        assert value.stdout.strip() == "0"


@netns
def test_ipv6_addresses_work_at_once(lab_factory: LabFactory) -> None:
    lab = lab_factory(vrrp_pair(ipv6=True))
    # No DAD: the address is usable (not tentative) as soon as the lab is up.
    assert lab.ping("client", "2001:2::1")
    assert "2001:2::2" in lab.addresses("r2", "eth0")
    lab.start_responder("r2")
    result = lab.start_probe("client", "2001:2::2", count=20).result()
    assert result.responders() == ["r2"] and result.lost <= 1


@netns
def test_capture_on_a_switch_port_sees_unicast_arp_replies(lab: Lab) -> None:
    cap = lab.capture(lab.switch, "r1-eth0", duration=5.0)
    lab.run("client", ["ip", "neigh", "flush", "all"])
    assert lab.ping("client", "198.18.0.1")
    reply = cap.wait_for(lambda p: p.kind is PacketKind.ARP and p.arp_op == 2, timeout=2.0)
    assert reply is not None
    assert (reply.src_ip, reply.target_ip, reply.src_mac) == (
        "198.18.0.1", "198.18.0.10", lab.mac("r1")
    )
    assert not reply.outgoing  # entering the switch from r1


@netns
def test_address_added_on_r1_is_seen(lab: Lab) -> None:
    assert lab.holder(VIP) is None
    lab.add_address("r1", f"{VIP}/32")
    assert VIP in lab.addresses("r1", "eth0")
    assert VIP not in lab.addresses("r2", "eth0")
    assert lab.holder(VIP) == "r1"
    lab.del_address("r1", f"{VIP}/32")
    assert lab.wait_for(lambda: lab.holder(VIP) is None, timeout=1.0)


@netns
def test_responders_answer_probes_with_their_names(lab: Lab) -> None:
    lab.start_responder("r1")
    lab.start_responder("r2")
    to_r1 = lab.start_probe("client", "198.18.0.1", interval=0.001, count=50)
    to_r2 = lab.start_probe("client", "198.18.0.2", interval=0.001, count=50)
    r1, r2 = to_r1.result(), to_r2.result()
    assert r1.sent == 50 and r2.sent == 50
    assert r1.responders() == ["r1"]
    assert r2.responders() == ["r2"]
    assert r1.lost <= 1 and r2.lost <= 1  # the first probe may wait on ARP


@netns
def test_moving_an_address_shows_as_a_switch_of_responders_with_a_gap(lab: Lab) -> None:
    lab.start_responder("r1")
    lab.start_responder("r2")
    lab.add_address("r1", f"{VIP}/24")
    probe = lab.start_probe("client", VIP, interval=0.001, duration=1.5)
    time.sleep(0.3)
    moved_at = time.monotonic()
    lab.del_address("r1", f"{VIP}/24")
    lab.add_address("r2", f"{VIP}/24")
    lab.send_garp("r2", VIP)  # tells the client's ARP cache, as a new VRRP master does
    result = probe.result()
    assert result.responders() == ["r1", "r2"]
    first_r2 = result.first_reply_from("r2")
    assert first_r2 is not None and first_r2.sent >= moved_at
    gap = result.outage("r1", "r2")
    assert gap is not None and 0 < gap < 1.0
    assert result.lost >= 1


@netns
def test_capture_sees_garp_na_and_advert_sent_from_r1(lab: Lab) -> None:
    cap = lab.capture(duration=5.0)
    before = time.monotonic()
    lab.send_garp("r1", VIP)
    lab.send_na("r1", "2001:2::100")
    _send_advert(lab, "r1", vrid=7, priority=150, addresses=[VIP])
    garp = cap.wait_for(lambda p: p.kind is PacketKind.ARP, timeout=2.0)
    na = cap.wait_for(lambda p: p.kind is PacketKind.NA, timeout=2.0)
    advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, timeout=2.0)
    after = time.monotonic()
    packets = cap.stop()
    r1_mac = lab.mac("r1")

    assert garp is not None and na is not None and advert is not None
    assert (garp.src_mac, garp.src_ip, garp.target_ip, garp.arp_op) == (r1_mac, VIP, VIP, 1)
    assert (na.src_mac, na.target_ip) == (r1_mac, "2001:2::100")
    assert (advert.src_ip, advert.vrid, advert.priority) == ("198.18.0.1", 7, 150)
    assert advert.addresses == (VIP,) and advert.version == 3
    # Kernel timestamps, converted to the monotonic clock the probe uses.
    assert before <= garp.time <= na.time <= advert.time <= after
    assert all(p.ifname == "br0" for p in packets)


def _send_advert(lab: Lab, host: str, vrid: int, priority: int, addresses: list[str]) -> None:
    """A VRRPv3 advert sent from `host` through its kernel (raw IP socket, TTL 255)."""
    body = bytes([0x31, vrid, priority, len(addresses)]) + struct.pack("!HH", 10, 0)
    body += b"".join(socket.inet_aton(a) for a in addresses)
    with lab.socket(host, socket.AF_INET, socket.SOCK_RAW, 112) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        sock.setsockopt(
            socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("198.18.0.1")
        )
        sock.sendto(body, ("224.0.0.18", 0))


@netns
def test_custom_topology_with_three_routers_and_two_interfaces(lab_factory: LabFactory) -> None:
    topo = Topology((
        Host("r1", (Interface("eth0", ("198.18.0.1/24",)), Interface("eth1", ("198.18.1.1/24",)))),
        Host("r2", (Interface("eth0", ("198.18.0.2/24",)),)),
        Host("client", (Interface("eth0", ("198.18.0.10/24", "198.18.1.10/24")),)),
    ))
    lab = lab_factory(topo)
    assert lab.addresses("r1", "eth1") >= {"198.18.1.1"}
    assert lab.ping("client", "198.18.1.1")
    lab.link_down("r1", "eth1")
    assert not lab.ping("client", "198.18.1.1", timeout=0.3)
    lab.link_up("r1", "eth1")
    assert lab.wait_for(lambda: lab.ping("client", "198.18.1.1", timeout=0.3), timeout=3.0)


@netns
def test_teardown_happens_when_the_body_raises_with_processes_running(
    netns_ready: str | None, lab_namespaces_made: list[str], tmp_path: Path
) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    lab = Lab(workdir=tmp_path)
    lab_namespaces_made.extend(lab.namespaces)
    with pytest.raises(RuntimeError, match="boom"), lab:
        spawned = lab.spawn("r1", ["sleep", "60"])
        lab.start_responder("r2")
        # Started behind the lab's back: teardown still finds it by its namespace.
        ns = lab.namespace("client")
        stray = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "60"])
        assert lab.wait_for(lambda: stray.pid in lab_netns.pids_in([ns]), timeout=2.0)
        raise RuntimeError("boom")
    assert not any(lab_netns.exists(ns) for ns in lab.namespaces)
    assert spawned.returncode is not None
    assert stray.wait(timeout=2) == -signal.SIGKILL
    assert lab.teardown_errors == []
    lab.close()  # idempotent


# -- signals: a child python builds a lab, then gets a signal

_CHILD = textwrap.dedent("""
    import json, sys, time
    from fastvrrp.lab import Lab
    mode = sys.argv[1]
    lab = Lab()
    if mode == "with":
        lab.__enter__()
    else:
        lab.up()  # no context manager: only the atexit fallback is left
    proc = lab.spawn("r1", ["sleep", "60"])
    lab.start_responder("r2")
    print(json.dumps({"namespaces": lab.namespaces, "pid": proc.pid}), flush=True)
    if mode == "with":
        with lab:
            time.sleep(30)
    elif mode == "atexit-exit":
        sys.exit(0)
    else:
        time.sleep(30)
""")


@netns
@pytest.mark.parametrize(
    ("mode", "sig"),
    [
        ("with", signal.SIGINT),
        ("with", signal.SIGTERM),
        ("atexit", signal.SIGINT),
        ("atexit", signal.SIGTERM),
        ("atexit-exit", None),
    ],
)
def test_signal_or_exit_during_a_lab_leaves_nothing_behind(
    netns_ready: str | None, mode: str, sig: signal.Signals | None
) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        if sig is not None:
            child.send_signal(sig)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    names, pid = info["namespaces"], info["pid"]
    leftovers = [n for n in names if lab_netns.exists(n)]
    if leftovers:  # do not leak them into the machine even when the test fails
        lab_netns.kill_all_in(leftovers)
        lab_netns.delete(leftovers)
    assert leftovers == []
    assert Lab.wait_for(lambda: not _alive(pid), timeout=2.0)


@netns
def test_a_sigkilled_lab_is_swept_by_the_next_run(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "with"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    info = json.loads(child.stdout.readline())
    child.kill()  # nothing can run in the child now: its lab stays behind
    child.wait(timeout=10)
    names, pid = info["namespaces"], info["pid"]
    assert all(lab_netns.exists(n) for n in names)
    swept = lab_netns.sweep_stale()
    assert set(names) <= set(swept)
    assert not any(lab_netns.exists(n) for n in names)
    assert Lab.wait_for(lambda: not _alive(pid), timeout=2.0)


_PYTEST_CHILD_TEST = textwrap.dedent("""
    import json, os, time
    from fastvrrp.lab.pytest_fixtures import lab, lab_factory, lab_namespaces_made, netns_ready

    def test_sleeps_in_a_lab(lab):
        proc = lab.spawn("r1", ["sleep", "60"])
        with open(os.environ["LAB_INFO"], "w") as f:
            json.dump({"namespaces": lab.namespaces, "pid": proc.pid}, f)
        time.sleep(30)
""")


@netns
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_pytest_during_a_lab_test_leaves_nothing_behind(
    netns_ready: str | None, tmp_path: Path, sig: signal.Signals
) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    (tmp_path / "test_child.py").write_text(_PYTEST_CHILD_TEST)
    info_path = tmp_path / "info.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "tmp"), str(tmp_path)],
        env={**os.environ, "LAB_INFO": str(info_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert Lab.wait_for(info_path.exists, timeout=20.0, interval=0.05)
        time.sleep(0.1)  # let the json land whole
        child.send_signal(sig)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    info = json.loads(info_path.read_text())
    names, pid = info["namespaces"], info["pid"]
    leftovers = [n for n in names if lab_netns.exists(n)]
    if leftovers:
        lab_netns.kill_all_in(leftovers)
        lab_netns.delete(leftovers)
    assert leftovers == [], out
    assert child.returncode != 0  # the run stopped, it did not carry on
    assert Lab.wait_for(lambda: not _alive(pid), timeout=2.0)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# -- daemon launchers

KEEPALIVED_CONF = """
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 0.1
    version 3
    virtual_ipaddress {{
        198.18.0.100/24
    }}
}}
"""


@netns
@pytest.mark.interop
def test_keepalived_pair_fails_over_when_the_master_link_goes_down(
    lab: Lab, keepalived_ready: str | None
) -> None:
    if keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    cap = lab.capture(duration=10.0)
    lab.start_keepalived("r1", KEEPALIVED_CONF.format(priority=200))
    lab.start_keepalived("r2", KEEPALIVED_CONF.format(priority=100))
    lab.start_responder("r1")
    lab.start_responder("r2")
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", timeout=5.0)
    probe = lab.start_probe("client", VIP, duration=1.5)
    time.sleep(0.3)
    down_at = time.monotonic()
    lab.link_down("r1")
    result = probe.result()
    packets = cap.stop()
    assert result.responders() == ["r1", "r2"]
    assert lab.holder(VIP) == "r2"
    r2_adverts = [
        p for p in packets
        if p.kind is PacketKind.ADVERT and p.src_ip == "198.18.0.2" and p.time > down_at
    ]
    assert r2_adverts and r2_adverts[0].vrid == 51 and r2_adverts[0].priority == 100
    assert any(p.kind is PacketKind.ARP and p.target_ip == VIP and p.time > down_at
               for p in packets)


@netns
@pytest.mark.interop
def test_two_keepalived_in_one_host_get_their_own_pid_files(
    lab: Lab, keepalived_ready: str | None
) -> None:
    if keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    first = lab.start_keepalived("r1", KEEPALIVED_CONF.format(priority=200))
    second = lab.start_keepalived(
        "r1", KEEPALIVED_CONF.format(priority=150).replace("51", "52").replace(".100", ".101")
    )
    assert lab.wait_for(lambda: {VIP, "198.18.0.101"} <= lab.addresses("r1", "eth0"), 5.0)
    assert first.running and second.running
    assert first.stop() == 0
    assert second.running


def test_fastvrrp_launcher_runs_this_interpreter() -> None:
    files = DaemonFiles(Path("/tmp/x"))
    argv = fastvrrp_argv(files, ["-D"])
    conf = "/tmp/x/keepalived.conf"
    assert argv == [sys.executable, "-m", "fastvrrp", "run", "-n", "-l", "-f", conf,
                    "--control-socket", "/tmp/x/fastvrrp.sock", "-D"]


def test_fastvrrp_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "Usage: fastvrrp" in proc.stdout
