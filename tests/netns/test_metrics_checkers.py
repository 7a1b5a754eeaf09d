"""Checker verdicts per real server, in `fastvrrp status` and in the metrics.

    director eth0 198.18.0.1 ── rs1 198.18.0.11 (listening on 80), rs2 198.18.0.12 (nothing)
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ops_helpers import ready, status_json

from fastvrrp.lab import Host, Interface, Lab, Topology

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
LISTENER = """
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(16)
while True:
    c, _ = s.accept(); c.close()
"""


def topology() -> Topology:
    return Topology(hosts=(
        Host("dir", (Interface("eth0", ("198.18.0.1/24",)),)),
        Host("rs1", (Interface("eth0", ("198.18.0.11/24",)),)),
        Host("rs2", (Interface("eth0", ("198.18.0.12/24",)),)),
    ))


CONF = f"""
global_defs {{
    lvs_backend nftables
}}
virtual_server {VIP} 80 {{
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.18.0.11 80 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
            delay_loop 0.3
        }}
    }}
    real_server 198.18.0.12 80 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
            delay_loop 0.3
        }}
    }}
}}
"""


def scrape(lab: Lab) -> str:
    with lab.socket("dir", socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(("198.18.0.1", 9477))
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).partition(b"\r\n\r\n")[2].decode()


def test_real_server_verdicts_in_status_and_metrics(lab_factory: object, tmp_path: Path) -> None:
    lab: Lab = lab_factory(topology())  # type: ignore[operator]
    lab.add_address("dir", f"{VIP}/32")
    script = tmp_path / "listen.py"
    script.write_text(LISTENER)
    lab.spawn("rs1", [sys.executable, str(script)])
    sock = Path(lab.workdir) / "dir" / "fastvrrp.sock"
    proc = lab.start_fastvrrp("dir", CONF, extra_args=[
        "--control-socket", str(sock), "--metrics", "198.18.0.1:9477"])
    assert lab.wait_for(lambda: ready(lab, "dir"), 10), proc.log_text()

    def verdicts() -> dict[str, bool]:
        servers = status_json(lab, "dir").get("virtual_servers", [])
        return {rs["address"]: rs["alive"] for vs in servers for rs in vs["real_servers"]}

    assert lab.wait_for(lambda: verdicts() == {"198.18.0.11": True, "198.18.0.12": False}, 10), (
        proc.log_text())
    text = scrape(lab)
    assert 'fastvrrp_real_server_up{virtual_server="[198.18.0.100]:tcp:80",' \
           'real_server="[198.18.0.11]:tcp:80"} 1' in text
    assert 'real_server="[198.18.0.12]:tcp:80"} 0' in text
    human = subprocess.run([sys.executable, "-m", "fastvrrp", "status", "--control-socket",
                            str(sock)], capture_output=True, text=True, check=True).stdout
    assert "virtual_servers:" in human and "alive False" in human
