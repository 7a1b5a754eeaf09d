"""fastvrrp and keepalived 2.2.7 on the same `vrrp_mcast_group4`: they hear each other and elect
one master; keepalived's adverts go to the group we send to."""

from __future__ import annotations

import socket
import time

import pytest

from fastvrrp.lab import Lab, LabProcess

pytestmark = [pytest.mark.interop, pytest.mark.netns]

VIP = "198.18.0.100"
GROUP = "239.255.18.18"


def config(priority: int) -> str:
    return (
        f"global_defs {{\n    router_id fv_interop\n    vrrp_mcast_group4 {GROUP}\n}}\n"
        "vrrp_instance VI_1 {\n"
        "    state BACKUP\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        "    version 3\n"
        f"    priority {priority}\n"
        "    advert_int 0.1\n"
        f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


def start(lab: Lab, host: str, daemon: str, conf: str) -> LabProcess:
    if daemon == "fastvrrp":
        return lab.start_fastvrrp(host, conf)
    return lab.start_keepalived(host, conf)


def report(lab: Lab, *procs: LabProcess) -> str:
    parts = [f"holders of {VIP}: {lab.holders(VIP)}"]
    parts += [f"--- {p.host} {p.argv[0]}:\n{p.log_text()}" for p in procs]
    return "\n".join(parts)


def advert_destination(lab: Lab, host: str, src_ip: str, timeout: float = 5.0) -> str | None:
    """The destination of the first VRRP packet from `src_ip` that `host`'s eth0 receives."""
    sock = lab.socket(host, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    try:
        sock.bind(("eth0", 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                ip = sock.recv(2048)[14:]
            except TimeoutError:
                return None
            if len(ip) >= 20 and ip[9] == 112 and socket.inet_ntoa(ip[12:16]) == src_ip:
                return socket.inet_ntoa(ip[16:20])
        return None
    finally:
        sock.close()


@pytest.mark.parametrize("fastvrrp_is", ["master", "backup"])
def test_keepalived_on_the_same_group_elects_with_us(lab: Lab, fastvrrp_is: str) -> None:
    master_daemon, backup_daemon = (
        ("fastvrrp", "keepalived") if fastvrrp_is == "master" else ("keepalived", "fastvrrp")
    )
    master = start(lab, "r1", master_daemon, config(150))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, master)
    assert advert_destination(lab, "r2", "198.18.0.1") == GROUP, report(lab, master)
    backup = start(lab, "r2", backup_daemon, config(100))
    assert lab.wait_for(lambda: "(VI_1) Entering BACKUP STATE" in backup.log_text(), 8.0), (
        report(lab, master, backup))
    deadline = time.monotonic() + 2.0  # 5 master-down intervals
    while time.monotonic() < deadline:
        assert lab.holders(VIP) == ["r1"], report(lab, master, backup)
        time.sleep(0.05)
    assert "(VI_1) Entering MASTER STATE" not in backup.log_text(), report(lab, master, backup)
    # The master leaves: the backup hears its priority 0 on the group and takes over.
    master.stop()
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 3.0), report(lab, master, backup)
    assert backup.running, report(lab, master, backup)
