"""`fastvrrp demo`: the failover story runs end to end, exits 0, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastvrrp.lab import netns as lab_netns

netns = pytest.mark.netns


@netns
def test_demo_fails_over_and_back_and_exits_0(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    demo = subprocess.Popen(
        [sys.executable, "-m", "fastvrrp", "demo", "--advert", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "140"},
    )
    # The demo's own namespaces, by its lab's owner record: other sessions on this host may run
    # a demo (namespaces named alike) at the same time.
    own: set[str] = set()
    try:
        with ThreadPoolExecutor(1) as pool:
            output = pool.submit(demo.communicate, timeout=60)
            while not output.done():
                own.update(lab_netns.owned_by(demo.pid))
                time.sleep(0.02)
            out, err = output.result()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, out + err
    assert "Traceback" not in err
    assert "the client's page says: served by master" in out
    assert "takeover: client outage" in out
    assert "failback: client outage" in out
    assert "takeover: backup" in out and "failback: master" in out  # the summary's rows
    assert {n.rsplit("-", 1)[1] for n in own} >= {"master", "backup", "client"}
    assert not [n for n in own if lab_netns.exists(n)]


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
