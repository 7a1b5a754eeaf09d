"""`fastvrrp demo`: the failover story runs end to end, exits 0, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

netns = pytest.mark.netns


def _lab_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith("fv")}


@netns
def test_demo_fails_over_and_back_and_exits_0(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    before = _lab_namespaces()
    proc = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "demo", "--advert", "0.1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
        env={**os.environ, "COLUMNS": "140"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    assert "the client's page says: served by master" in out
    assert "takeover: client outage" in out
    assert "failback: client outage" in out
    assert "takeover: backup" in out and "failback: master" in out  # the summary's rows
    # The demo's own namespaces are gone (others' labs may come and go meanwhile).
    left = {n for n in _lab_namespaces() - before if n.endswith(("-master", "-backup"))}
    assert not left


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop root")
def test_demo_without_root_says_so_without_traceback() -> None:
    if os.geteuid() != 0:
        argv = [sys.executable, "-m", "fastvrrp", "demo"]
    else:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                sys.executable, "-m", "fastvrrp", "demo"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, "HOME": "/tmp"})
    if "Permission denied" in proc.stderr and "needs root" not in proc.stderr:
        pytest.skip("the venv is not readable by nobody here")
    assert proc.returncode == 1
    assert "needs root" in proc.stderr
    assert "Traceback" not in proc.stderr
