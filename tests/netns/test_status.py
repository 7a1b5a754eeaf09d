"""`fastvrrp status` and keepalived's signal dumps on a live master/backup pair."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from ops_helpers import (
    VIP,
    control_path,
    dump_dir,
    instance,
    instance_conf,
    ready,
    scrape,
    start,
    status_json,
)

from fastvrrp.lab import Lab

pytestmark = pytest.mark.netns

MASTER, BACKUP = 2, 1


def test_status_json_agrees_with_where_the_vip_is(lab: Lab) -> None:
    start(lab, "r1", instance_conf(150))
    start(lab, "r2", instance_conf(100))
    assert lab.wait_for(lambda: ready(lab, "r1") and ready(lab, "r2"), 10)
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 5)
    assert lab.wait_for(lambda: instance(lab, "r2")["data"]["master_addr"] == "198.18.0.1", 3)

    master, backup = instance(lab, "r1"), instance(lab, "r2")
    assert master["data"]["state"] == MASTER
    assert backup["data"]["state"] == BACKUP
    assert master["data"]["vips"] == [f"{VIP}/24 dev eth0 scope global set"]
    assert (master["data"]["base_priority"], master["data"]["effective_priority"]) == (150, 150)
    assert backup["data"]["master_addr"] == "198.18.0.1"
    assert master["stats"]["advert_sent"] > 0 and backup["stats"]["advert_rcvd"] > 0
    assert master["stats"]["become_master"] >= 1
    before = backup["stats"]["become_master"]

    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holder(VIP) == "r2", 5)
    assert lab.wait_for(lambda: instance(lab, "r2")["data"]["state"] == MASTER, 2)
    assert instance(lab, "r2")["stats"]["become_master"] == before + 1


def test_status_text_names_state_priority_and_vips(lab: Lab) -> None:
    start(lab, "r1", instance_conf(150))
    assert lab.wait_for(lambda: ready(lab, "r1"), 10)
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 5)
    out = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "status", "--control-socket",
         str(control_path(lab, "r1"))], capture_output=True, text=True, check=True).stdout
    assert "VI_1: MASTER" in out
    assert "priority 150 (base 150)" in out
    assert f"{VIP}/24" in out


def test_status_without_a_daemon_says_so(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "status", "--control-socket", "/nonexistent/x.sock"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "cannot query /nonexistent/x.sock" in proc.stderr


def test_usr1_usr2_and_json_signal_write_keepalived_files(lab: Lab) -> None:
    proc = start(lab, "r1", instance_conf(150))
    assert lab.wait_for(lambda: ready(lab, "r1"), 10)
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 5)
    where = dump_dir(lab, "r1")
    json_signum = int(subprocess.run(["keepalived", "--signum=JSON"], capture_output=True,
                                     text=True, check=True).stdout) \
        if lab.run("r1", ["sh", "-c", "command -v keepalived"], check=False).returncode == 0 \
        else signal.SIGRTMIN + 2
    for signum in (signal.SIGUSR1, signal.SIGUSR2, json_signum):
        proc.send_signal(signum)
    files = [where / f"keepalived.{k}" for k in ("data", "stats", "json")]
    assert lab.wait_for(lambda: all(f.exists() for f in files), 3)
    data, stats, js = (f.read_text() for f in files)
    assert " VRRP Instance = VI_1\n   VRRP Version = 3\n   State = MASTER\n" in data
    assert f"     {VIP}/24 dev eth0 scope global set\n" in data
    assert stats.startswith("VRRP Instance: VI_1\n  Advertisements:\n    Received: 0\n")
    dumped = json.loads(js)
    assert [e["data"]["iname"] for e in dumped] == ["VI_1"]
    assert dumped[0]["data"]["state"] == MASTER
    assert set(dumped[0]) == {"data", "stats"}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert proc.running


TRACKED = """
global_defs {
    enable_script_security
    script_user root
}
vrrp_script chk_down {
    script "/bin/false"
    interval 0.2
    weight -20
}
"""


def test_status_and_metrics_show_trackers(lab: Lab) -> None:
    start(lab, "r1", instance_conf(150, extra=TRACKED, tracker="chk_down"), metrics=True)
    assert lab.wait_for(lambda: ready(lab, "r1"), 10)
    assert lab.wait_for(lambda: instance(lab, "r1")["data"]["effective_priority"] == 130, 5)
    data = instance(lab, "r1")["data"]
    assert data["base_priority"] == 150
    assert data["track_script"] == [{"name": "chk_down", "status": "BAD", "weight": -20}]
    assert status_json(lab, "r1")["vrrp_scripts"] == [{"name": "chk_down", "status": "BAD"}]
    out = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "status", "--control-socket",
         str(control_path(lab, "r1"))], capture_output=True, text=True, check=True).stdout
    assert "track_script chk_down: BAD" in out
    assert 'keepalived_script_status{name="chk_down"} 0' in scrape(lab, "r1")


def test_json_log_format_keeps_keepalived_messages(lab: Lab) -> None:
    proc = start(lab, "r1", instance_conf(150), "--log-format", "json")
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 10)
    assert lab.wait_for(lambda: "Entering MASTER STATE" in proc.log_text(), 2)
    entries = [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]
    messages = [e["message"] for e in entries]
    assert "(VI_1) Entering MASTER STATE" in messages
    assert all({"time", "level", "message", "pid"} <= set(e) for e in entries)
