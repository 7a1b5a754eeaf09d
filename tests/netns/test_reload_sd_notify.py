"""The daemon under a real NOTIFY_SOCKET: READY, RELOADING/READY, WATCHDOG, STOPPING."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from ops_helpers import VIP, instance_conf, start

from fastvrrp.lab import Lab

pytestmark = pytest.mark.netns


def messages(sock: socket.socket, until: str, timeout: float = 5.0) -> list[str]:
    """Datagrams received until one contains `until` (or the timeout passes)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in out[-1]:
            break
    return out


def test_daemon_speaks_sd_notify(lab: Lab, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        proc = start(lab, "r1", instance_conf(150))

        got = messages(sock, "READY=1")
        assert got and got[-1].startswith("READY=1\n")
        assert f"MAINPID={proc.pid}" in got[-1]
        # Ready means started: the instance is running (it becomes master shortly after).
        assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 3)

        pings = messages(sock, "never", timeout=0.5)
        assert pings.count("WATCHDOG=1") >= 3

        proc.send_signal(signal.SIGHUP)
        got = [m for m in messages(sock, "READY=1") if m != "WATCHDOG=1"]
        assert got[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert got[-1].startswith("READY=1")

        proc.send_signal(signal.SIGTERM)
        got = messages(sock, "STOPPING=1")
        assert got[-1] == "STOPPING=1"
        assert proc.wait(5) == 0
