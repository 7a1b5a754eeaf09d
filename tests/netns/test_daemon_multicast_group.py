"""keepalived's advert transport keywords: `vrrp_mcast_group4`, `mcast_dst_ip`, `unicast_ttl`,
and `vrrp_priority` (the engine thread's nice value)."""

from __future__ import annotations

import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fastvrrp.lab import Lab, LabProcess, PacketKind

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
GROUP = "239.255.18.18"
GROUP_MAC = "01:00:5e:7f:12:12"
ETH_P_IP = 0x0800
PROTO_VRRP = 112


@dataclass(frozen=True)
class Frame:
    dst_mac: str
    src_ip: str
    dst_ip: str
    ttl: int


def vrrp_frame(lab: Lab, host: str, src_ip: str, timeout: float = 5.0) -> Frame | None:
    """The first VRRP frame from `src_ip` that `host`'s eth0 receives (Ethernet and IP header)."""
    sock = lab.socket(host, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    try:
        sock.bind(("eth0", 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(2048)
            except TimeoutError:
                return None
            ip = data[14:]
            if len(ip) < 20 or ip[9] != PROTO_VRRP or socket.inet_ntoa(ip[12:16]) != src_ip:
                continue
            return Frame(dst_mac=":".join(f"{b:02x}" for b in data[:6]),
                         src_ip=src_ip, dst_ip=socket.inet_ntoa(ip[16:20]), ttl=ip[8])
        return None
    finally:
        sock.close()


def config(priority: int, *, globals_: str = "", instance: str = "") -> str:
    return (
        f"global_defs {{\n{globals_}}}\n"
        "vrrp_instance VI_1 {\n"
        "    state BACKUP\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        "    version 3\n"
        f"    priority {priority}\n"
        "    advert_int 0.1\n"
        f"{instance}"
        f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


def logs(*procs: LabProcess) -> str:
    return "\n".join(f"--- {p.host}:\n{p.log_text()}" for p in procs)


@pytest.mark.parametrize("where", ["global", "instance"])
def test_adverts_go_to_the_configured_group(lab: Lab, where: str) -> None:
    text = (config(150, globals_=f"    vrrp_mcast_group4 {GROUP}\n") if where == "global"
            else config(150, instance=f"    mcast_dst_ip {GROUP}\n"))
    r1 = lab.start_fastvrrp("r1", text)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    frame = vrrp_frame(lab, "r2", "198.18.0.1")
    assert frame is not None, r1.log_text()
    assert (frame.dst_ip, frame.dst_mac, frame.ttl) == (GROUP, GROUP_MAC, 255)
    assert "not supported" not in r1.log_text()
    assert r1.stop() == 0


def test_a_backup_on_the_same_group_hears_the_master(lab: Lab) -> None:
    group = f"    vrrp_mcast_group4 {GROUP}\n"
    r1 = lab.start_fastvrrp("r1", config(150, globals_=group))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    r2 = lab.start_fastvrrp("r2", config(100, globals_=group))
    time.sleep(3.0)  # 7 master-down intervals
    assert lab.holders(VIP) == ["r1"], logs(r1, r2)
    assert r2.stop() == 0
    assert r1.stop() == 0


def test_a_backup_on_the_default_group_does_not_hear_the_master(lab: Lab) -> None:
    # keepalived's behaviour too: routers on different groups do not see each other.
    r1 = lab.start_fastvrrp("r1", config(150, globals_=f"    vrrp_mcast_group4 {GROUP}\n"))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    r2 = lab.start_fastvrrp("r2", config(100))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1", "r2"], 10.0), logs(r1, r2)
    assert r2.stop() == 0
    assert r1.stop() == 0


def test_the_same_vrid_on_two_groups_of_one_interface_are_two_routers(lab: Lab) -> None:
    # keepalived: "It is also possible to duplicate virtual_router_ids on an interface with
    # multicasting if different multicast addresses are used".
    vip2 = "198.18.0.101"
    two = config(150, instance=f"    mcast_dst_ip {GROUP}\n") + config(100).replace(
        "VI_1", "VI_2").replace(VIP, vip2)
    r1 = lab.start_fastvrrp("r1", two)
    r2 = lab.start_fastvrrp("r2", config(120).replace(VIP, vip2))  # VI_2's peer
    assert lab.wait_for(
        lambda: lab.holders(VIP) == ["r1"] and lab.holders(vip2) == ["r2"], 10.0
    ), logs(r1, r2)
    time.sleep(1.0)
    assert (lab.holders(VIP), lab.holders(vip2)) == (["r1"], ["r2"]), logs(r1, r2)
    assert r2.stop() == 0
    assert r1.stop() == 0


def test_unicast_adverts_carry_the_configured_ttl(lab: Lab) -> None:
    unicast = ("    unicast_src_ip 198.18.0.1\n    unicast_ttl 17\n"
               "    unicast_peer {\n        198.18.0.2\n    }\n")
    r1 = lab.start_fastvrrp("r1", config(150, instance=unicast))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    frame = vrrp_frame(lab, "r2", "198.18.0.1")
    assert frame is not None, r1.log_text()
    assert (frame.dst_ip, frame.dst_mac, frame.ttl) == ("198.18.0.2", lab.mac("r2"), 17)
    assert r1.stop() == 0


def engine_thread(pid: int) -> Path | None:
    """/proc/PID/task/TID of the `fastvrrp-engine` thread of `pid` or of a descendant."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "comm").read_text().strip() == "fastvrrp-engine":
                return task
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found = engine_thread(int(child))
            if found is not None:
                return found
    return None


def engine_nice(pid: int) -> int | None:
    task = engine_thread(pid)
    if task is None:
        return None
    return int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])


def engine_cpus(pid: int) -> str | None:
    task = engine_thread(pid)
    if task is None:
        return None
    for line in (task / "status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return None


def test_vrrp_priority_sets_the_engine_threads_nice_value(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", config(150, globals_="    vrrp_priority -5\n"),
                            extra_args=["--no-realtime"])
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    assert engine_nice(r1.pid) == -5, r1.log_text()
    assert "cannot set" not in r1.log_text()
    assert r1.stop() == 0


def reload_with(proc: LabProcess, text: str) -> None:
    done = proc.log_text().count("Reload finished")
    Path(proc.argv[proc.argv.index("-f") + 1]).write_text(text)
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and proc.log_text().count("Reload finished") == done:
        time.sleep(0.02)
    assert proc.log_text().count("Reload finished") > done, proc.log_text()


@pytest.mark.parametrize("where", ["global", "instance"])
def test_a_reload_moves_the_instance_to_the_new_group(lab: Lab, where: str) -> None:
    r1 = lab.start_fastvrrp("r1", config(150))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    r2 = lab.start_fastvrrp("r2", config(100))
    time.sleep(1.0)
    assert lab.holders(VIP) == ["r1"], logs(r1, r2)
    # r1 alone on the new group: r2 no longer hears it.
    def on_group(priority: int) -> str:
        if where == "global":
            return config(priority, globals_=f"    vrrp_mcast_group4 {GROUP}\n")
        return config(priority, instance=f"    mcast_dst_ip {GROUP}\n")

    reload_with(r1, on_group(150))
    frame = vrrp_frame(lab, "r2", "198.18.0.1")
    assert frame is not None and frame.dst_ip == GROUP, logs(r1, r2)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1", "r2"], 5.0), logs(r1, r2)
    # r2 joins it: one master again, r1 (higher priority, preempting).
    reload_with(r2, on_group(100))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 5.0), logs(r1, r2)
    assert r2.stop() == 0
    assert r1.stop() == 0


def test_ipv6_adverts_use_the_configured_group(lab: Lab) -> None:
    vip6, group6 = "2001:2::100", "ff02::1:18"

    def config6(priority: int) -> str:
        return config(priority, globals_=f"    vrrp_mcast_group6 {group6}\n").replace(
            f"{VIP}/24", f"{vip6}/64")

    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", config6(150))
        assert lab.wait_for(lambda: lab.holders(vip6) == ["r1"], 10.0), r1.log_text()
        r2 = lab.start_fastvrrp("r2", config6(100))
        time.sleep(1.5)
        assert lab.holders(vip6) == ["r1"], logs(r1, r2)
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, 3.0)
    assert advert is not None and advert.dst_ip == group6, logs(r1, r2)
    assert r2.stop() == 0
    assert r1.stop() == 0


def test_vrrp_cpu_affinity_pins_the_engine_thread(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", config(150, globals_="    vrrp_cpu_affinity 0\n"))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    assert engine_cpus(r1.pid) == "0", r1.log_text()
    assert "cannot set" not in r1.log_text()
    assert r1.stop() == 0
