"""`fastvrrp bench`: a short run writes JSON and a PNG; a crashed daemon leaves no lab."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from fastvrrp.bench.configs import PairSettings, master_down_interval, router_config, skew_time
from fastvrrp.bench.measure import percentile, protocol_floor
from fastvrrp.bench.runner import BenchSettings, run
from fastvrrp.bench.scenarios import DAEMONS, BenchError, DaemonKind, takeover_trial
from fastvrrp.lab import Lab, PacketKind
from fastvrrp.lab import netns as lab_netns
from fastvrrp.lab.capture import CapturedPacket
from fastvrrp.lab.topology import Topology

netns = pytest.mark.netns


# -- pure parts (no root)


def _advert(at: float, src: str, priority: int) -> CapturedPacket:
    return CapturedPacket(at, PacketKind.ADVERT, "02:00:00:00:00:01", src, "224.0.0.18", "br0",
                          False, vrid=51, priority=priority, version=3, interval=0.1)


def test_floor_is_last_advert_plus_master_down_or_priority_0_plus_skew() -> None:
    adverts = [_advert(10.0, "198.18.0.1", 150), _advert(10.1, "198.18.0.1", 150),
               _advert(10.5, "198.18.0.2", 100)]
    floor = protocol_floor(adverts, old_ip="198.18.0.1", new_ip="198.18.0.2", vrid=51,
                           failed_at=10.15, backup_priority=100, interval=0.1, version=3)
    assert floor is not None and floor.basis == "master_down"
    assert floor.time == pytest.approx(10.1 + 0.3 + 156 * 0.1 / 256)
    graceful = [*adverts[:2], _advert(10.2, "198.18.0.1", 0)]
    floor = protocol_floor(graceful, old_ip="198.18.0.1", new_ip="198.18.0.2", vrid=51,
                           failed_at=10.15, backup_priority=100, interval=0.1, version=3)
    assert floor is not None and floor.basis == "skew"
    assert floor.time == pytest.approx(10.2 + 0.0609375)


def test_timers_follow_the_rfcs() -> None:
    assert skew_time(100, 0.1, 3) == pytest.approx(0.0609375)
    assert skew_time(90, 1.0, 2) == pytest.approx(166 / 256)  # v2: not scaled by the interval
    assert master_down_interval(100, 0.1, 3) == pytest.approx(0.3609375)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert math.isnan(percentile([], 99))


def test_one_text_serves_both_daemons() -> None:
    text = router_config(PairSettings(instances=3, first_vrid=1), priority=150, master=True,
                         router_id="r1")
    assert text.count("vrrp_instance") == 3
    assert "198.18.2.3/32" in text and "virtual_router_id 3" in text
    v2 = router_config(PairSettings(advert=1, version=2, auth_pass="1111"), priority=100,
                       master=True, router_id="r1")
    assert "auth_pass 1111" in v2 and "198.18.0.100/24" in v2


# -- in namespaces


@netns
def test_the_no_realtime_kind_runs_fastvrrp_with_no_realtime() -> None:
    started: list[tuple[str, str, tuple[str, ...]]] = []

    class Starts:
        def start_fastvrrp(self, host: str, text: str, extra_args: tuple[str, ...] = ()) -> None:
            started.append((host, text, extra_args))

    DAEMONS["fastvrrp-no-realtime"].start(Starts(), "r1", "conf")  # type: ignore[arg-type]
    DAEMONS["fastvrrp"].start(Starts(), "r2", "conf")  # type: ignore[arg-type]
    assert started == [("r1", "conf", ("--no-realtime",)), ("r2", "conf", ())]


def test_short_bench_writes_json_and_png(netns_ready: str | None, tmp_path: Path) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    daemons = ["fastvrrp"] + (["keepalived"] if shutil.which("keepalived") else [])
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = [sys.executable, "-m", "fastvrrp", "bench", "--trials", "1", "--window", "0.5",
            "--instances", "4", "--vips", "3", "--json", str(out), "--plot", str(png)]
    for d in daemons:
        argv += ["--daemon", d]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "140"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["machine"]["kernel"] and results["machine"]["cores"]
    assert set(results["versions"]) == set(daemons)
    assert results["settings"]["daemons"] == daemons and results["settings"]["trials"] == 1
    assert results["failed"] == []
    res = results["results"]
    assert set(res) == {"takeover", "jitter", "scale", "mass", "ratios"}
    if len(daemons) == 2:
        assert res["ratios"]["takeover fail=link load=0 client_outage p50"] > 0
    for d in daemons:
        took = res["takeover"]["summary"][f"{d} fail=link load=0"]
        # Each of the three ways measured: the client, the new master's advert and its GARP.
        for metric in ("client_overhead", "client_outage", "first_advert", "first_garp"):
            assert took[metric]["n"] == 1, (d, metric, took)
        # The client cannot be served before the protocol lets the backup take over.
        assert took["client_overhead"]["p50"] > 0
        assert res["mass"]["summary"][f"{d} fail=link vips=3"]["garp_max"]["n"] == 1
    jitter = {w["daemon"]: w for w in res["jitter"]["windows"]}
    assert set(jitter) == set(daemons)
    assert all(w["deviation"]["n"] >= 10 for w in jitter.values())
    scale = {w["daemon"]: w for w in res["scale"]["windows"]}
    assert all(w["false_takeovers"] == 0 and w["backup_vips_at_end"] == 0
               for w in scale.values())
    assert all(w["master_cpu_pct"] >= 0 for w in scale.values())
    assert "takeover" in proc.stdout and "scale" in proc.stdout


class RecordingLabs:
    """A lab factory that keeps every lab it made, to check afterwards that all are gone."""

    def __init__(self) -> None:
        self.made: list[Lab] = []

    def __call__(self, topology: Topology) -> Lab:
        lab = Lab(topology)
        self.made.append(lab)
        return lab

    def all_gone(self) -> bool:
        """Whether none of the labs' namespaces exists any more."""
        return all(not lab_netns.exists(n) for lab in self.made for n in lab.namespaces)


@netns
def test_a_crashing_daemon_ends_the_trial_and_its_lab(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    labs = RecordingLabs()
    crashing = DaemonKind("crashing", lambda lab, host, text: lab.spawn(
        host, ["sh", "-c", "echo 'segfault, pretend'; sleep 0.2; exit 3"]))
    with pytest.raises(BenchError, match="exited with status 3") as caught:
        takeover_trial(crashing, PairSettings(), "link", lab_factory=labs)
    assert "segfault, pretend" in str(caught.value)
    assert labs.made and labs.all_gone()


@netns
def test_a_failed_step_is_reported_and_the_run_goes_on(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    labs = RecordingLabs()
    crashing = DaemonKind(
        "crashing", lambda lab, host, text: lab.spawn(host, ["sh", "-c", "exit 7"]))
    settings = BenchSettings(daemons=("crashing", "fastvrrp"), scenarios=("jitter",), window=0.3)
    results = run(settings, console=Console(file=io.StringIO()), lab_factory=labs,
                  daemons={"crashing": crashing, "fastvrrp": DAEMONS["fastvrrp"]})
    assert [(f["daemon"], f["setting"]) for f in results["failed"]] == [("crashing", "load=0")]
    assert "exited with status 7" in results["failed"][0]["error"]
    windows = results["results"]["jitter"]["windows"]
    assert [w["daemon"] for w in windows] == ["fastvrrp"] and windows[0]["deviation"]["n"] > 5
    assert len(labs.made) == 2 and labs.all_gone()
