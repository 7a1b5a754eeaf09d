"""One trial of each benchmark scenario, each in a fresh lab that is always torn down.

Every trial builds its own lab, so no state carries over from one trial or daemon to the next,
and a crashed daemon ends its trial with a `BenchError` that quotes the daemon's log.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from fastvrrp.bench.configs import (
    MULTI_VIP_ROUTE,
    PairSettings,
    master_down_interval,
    router_config,
)
from fastvrrp.bench.measure import (
    advert_gaps,
    cpu_seconds,
    first_garp,
    group_pids,
    protocol_floor,
    rss_bytes,
    takeover,
)
from fastvrrp.lab.lab import Lab
from fastvrrp.lab.process import LabProcess
from fastvrrp.lab.topology import Topology, vrrp_pair

MASTER_PRIORITY = 150
BACKUP_PRIORITY = 100  # as in KEEPALIVED.md's measurements: v3 skew at 0.1 s is 60.9 ms
FAIL_MODES = ("link", "kill", "stop", "term")
MAX_TRIAL_SECONDS = 60.0

LabFactory = Callable[[Topology], Lab]
Starter = Callable[[Lab, str, str], LabProcess]


class BenchError(RuntimeError):
    """A trial could not be measured (a daemon died, a VIP never moved); the message says why."""


@dataclass(frozen=True)
class DaemonKind:
    """A VRRP daemon the bench can run: its name and how to start it in a lab host."""

    name: str
    start: Starter


DAEMONS: dict[str, DaemonKind] = {
    "fastvrrp": DaemonKind("fastvrrp", lambda lab, host, text: lab.start_fastvrrp(host, text)),
    # fastvrrp on normal scheduling, as keepalived runs by default: what the code does alone.
    "fastvrrp-no-realtime": DaemonKind(
        "fastvrrp-no-realtime",
        lambda lab, host, text: lab.start_fastvrrp(host, text, ("--no-realtime",)),
    ),
    "keepalived": DaemonKind(
        "keepalived", lambda lab, host, text: lab.start_keepalived(host, text)
    ),
}


def default_lab(topology: Topology) -> Lab:
    """A lab with a temporary workdir."""
    return Lab(topology)


def _log_tail(proc: LabProcess, lines: int = 15) -> str:
    return "\n".join(proc.log_text().splitlines()[-lines:])


def _check_alive(procs: Sequence[LabProcess], daemon: str) -> None:
    for proc in procs:
        if not proc.running:
            raise BenchError(
                f"{daemon} in {proc.host} exited with status {proc.returncode}; its log ends:\n"
                f"{_log_tail(proc)}"
            )


def _wait(lab: Lab, what: str, predicate: Callable[[], bool], timeout: float,
          procs: Sequence[LabProcess], daemon: str) -> None:
    """Wait for `predicate`, failing fast (with the log) if a daemon dies meanwhile."""
    def done() -> bool:
        _check_alive(procs, daemon)
        return predicate()

    if not lab.wait_for(done, timeout, 0.02):
        tails = "\n".join(f"--- {p.host}:\n{_log_tail(p)}" for p in procs)
        raise BenchError(f"{daemon}: {what} did not happen within {timeout:g} s\n{tails}")


def _start_pair(lab: Lab, daemon: DaemonKind, settings: PairSettings) -> tuple[LabProcess, ...]:
    r1 = daemon.start(lab, "r1", router_config(
        settings, priority=MASTER_PRIORITY, master=True, router_id="r1"))
    r2 = daemon.start(lab, "r2", router_config(
        settings, priority=BACKUP_PRIORITY, master=False, router_id="r2"))
    vips = set(settings.all_vips())
    _wait(lab, "r1 holding every VIP",
          lambda: vips <= lab.addresses("r1", "eth0") and not vips & lab.addresses("r2", "eth0"),
          15 + settings.instances * 0.05, (r1, r2), daemon.name)
    return r1, r2


def fail_master(lab: Lab, proc: LabProcess, how: str) -> None:
    """Fail r1 as `how` says: its link down, SIGKILL, SIGSTOP (frozen) or SIGTERM (graceful)."""
    if how == "link":
        lab.link_down(proc.host)
    elif how == "kill":
        proc.kill_group(signal.SIGKILL)  # the whole group: keepalived's children die too
    elif how == "stop":
        proc.kill_group(signal.SIGSTOP)
    elif how == "term":
        proc.send_signal(signal.SIGTERM)
    else:
        raise ValueError(f"unknown failure {how!r}; expected one of {FAIL_MODES}")


def takeover_trial(
    daemon: DaemonKind, settings: PairSettings, fail: str, *, load: int = 0,
    lab_factory: LabFactory = default_lab, settle: float | None = None,
) -> dict[str, object]:
    """Fail the master of a fresh pair once; the takeover measured at the client and on the wire.

    `load` busy processes run from before the failure until after the takeover. Returns the
    `Takeover` figures (ms after the floor) plus the floor's basis.
    """
    vip = settings.all_vips()[0]
    vrid = settings.vrid(0)
    down = master_down_interval(BACKUP_PRIORITY, settings.advert, settings.version)
    with lab_factory(vrrp_pair()) as lab:
        lab.start_responder("r1")
        lab.start_responder("r2")
        r1, r2 = _start_pair(lab, daemon, settings)
        new_mac = lab.mac("r2")
        cap = lab.capture(duration=MAX_TRIAL_SECONDS)
        busy = [lab.spawn("client", _busy_argv(down + 10.0)) for _ in range(load)]
        # Let the backup hear a few adverts, as a long-running backup would have.
        time.sleep(settle if settle is not None else max(0.3, 3 * settings.advert))
        probe = lab.start_probe("client", vip, interval=0.001, duration=MAX_TRIAL_SECONDS)
        time.sleep(0.05)
        _check_alive((r1, r2), daemon.name)
        failed_at = time.monotonic()
        fail_master(lab, r1, fail)
        garp = cap.wait_for(
            lambda p: first_garp([p], vip, new_mac, failed_at) is not None, down + 5.0
        )
        time.sleep(0.03)  # the client's first reply from r2 comes just after the GARP
        records = probe.stop()
        packets = cap.stop()
        for hog in busy:
            hog.kill_group()
        _check_alive((r2,), daemon.name)
        if garp is None:
            raise BenchError(f"{daemon.name}: r2 sent no GARP for {vip} after r1's {fail}\n"
                             f"{_log_tail(r2)}")
        measured = takeover(
            packets, records, old="r1", new="r2", old_ip="198.18.0.1", new_ip="198.18.0.2",
            new_mac=new_mac, vrid=vrid, vip=vip, failed_at=failed_at,
            backup_priority=BACKUP_PRIORITY, interval=settings.advert, version=settings.version,
        )
    return asdict(measured)


def _busy_argv(seconds: float) -> list[str]:
    """A CPU hog that ends by itself after `seconds`."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return [sys.executable, "-c", code]


def jitter_window(
    daemon: DaemonKind, *, interval: float, version: int, load: int, window: float,
    rt_priority: int | None = None, lab_factory: LabFactory = default_lab,
) -> list[float]:
    """Advert inter-send gaps (ms) of a lone master over `window` s, with `load` busy processes.

    The gaps come from kernel timestamps on the master's switch port.
    """
    settings = PairSettings(advert=interval, version=version, rt_priority=rt_priority)
    with lab_factory(vrrp_pair(1)) as lab:
        r1 = daemon.start(lab, "r1", router_config(
            settings, priority=MASTER_PRIORITY, master=True, router_id="r1"))
        vips = set(settings.all_vips())
        _wait(lab, "r1 holding its VIP", lambda: vips <= lab.addresses("r1", "eth0"), 15,
              (r1,), daemon.name)
        for _ in range(load):
            lab.spawn("client", _busy_argv(window + 2.0))
        time.sleep(0.5)
        cap = lab.capture(lab.switch, "r1-eth0", duration=window + 5.0)
        time.sleep(window)
        packets = cap.stop()
        _check_alive((r1,), daemon.name)
    return [g * 1000 for g in advert_gaps(packets, "198.18.0.1", settings.vrid(0))]


def scale_window(
    daemon: DaemonKind, *, instances: int, interval: float, version: int, window: float,
    rt_priority: int | None = None, lab_factory: LabFactory = default_lab,
) -> dict[str, object]:
    """CPU of a master and a backup running `instances` instances at `interval`, over `window` s.

    CPU is % of one core (utime+stime of the daemon's process group, from /proc); a false
    takeover is the backup entering MASTER state during the window.
    """
    settings = PairSettings(advert=interval, version=version, instances=instances, first_vrid=1,
                            rt_priority=rt_priority)
    with lab_factory(vrrp_pair()) as lab:
        r1, r2 = _start_pair(lab, daemon, settings)
        time.sleep(1.0)
        seen = {p.host: len(p.log_text()) for p in (r1, r2)}
        groups = {p.host: group_pids(p.pid) for p in (r1, r2)}
        before = {h: cpu_seconds(pids) for h, pids in groups.items()}
        sent_before = {h: _tx_packets(lab, h) for h in groups}
        t0 = time.monotonic()
        time.sleep(window)
        after = {h: cpu_seconds(pids) for h, pids in groups.items()}
        sent_after = {h: _tx_packets(lab, h) for h in groups}
        elapsed = time.monotonic() - t0
        _check_alive((r1, r2), daemon.name)
        new_logs = {p.host: p.log_text()[seen[p.host]:] for p in (r1, r2)}
        backup_vips = set(settings.all_vips()) & lab.addresses("r2", "eth0")
        rss = {h: rss_bytes(pids) for h, pids in groups.items()}
    return {
        "master_cpu_pct": 100 * (after["r1"] - before["r1"]) / elapsed,
        "backup_cpu_pct": 100 * (after["r2"] - before["r2"]) / elapsed,
        # What the daemons sent: the master should send instances/interval adverts a second.
        "expected_adverts_per_s": instances / interval,
        "master_sent_per_s": (sent_after["r1"] - sent_before["r1"]) / elapsed,
        "backup_sent_per_s": (sent_after["r2"] - sent_before["r2"]) / elapsed,
        "false_takeovers": new_logs["r2"].count("Entering MASTER STATE"),
        "master_lost": new_logs["r1"].count("Entering BACKUP STATE"),
        "backup_vips_at_end": len(backup_vips),
        "master_rss_mb": rss["r1"] / 2**20,
        "backup_rss_mb": rss["r2"] / 2**20,
        "processes": {h: len(p) for h, p in groups.items()},
        "window_s": elapsed,
    }


def _tx_packets(lab: Lab, host: str) -> int:
    """Packets sent on `host`'s eth0 so far (its interface counters)."""
    stats = lab.run(host, ["cat", "/sys/class/net/eth0/statistics/tx_packets"])
    return int(stats.stdout.strip())


def mass_trial(
    daemon: DaemonKind, settings: PairSettings, fail: str, *,
    lab_factory: LabFactory = default_lab,
) -> dict[str, object]:
    """Fail a master of `settings.instances` instances (one VIP each) at once.

    Per VIP: its GARP from the new master, ms after that instance's own floor. Returns the
    median and the maximum over the VIPs (the maximum: when the last VIP was announced), the
    spread of the floors, and `all_moved`: the last GARP, ms after the earliest floor.
    """
    vips = settings.all_vips()
    down = master_down_interval(BACKUP_PRIORITY, settings.advert, settings.version)
    with lab_factory(vrrp_pair()) as lab:
        lab.run("client", ["ip", "route", "add", MULTI_VIP_ROUTE, "dev", "eth0"])
        r1, r2 = _start_pair(lab, daemon, settings)
        new_mac = lab.mac("r2")
        cap = lab.capture(duration=MAX_TRIAL_SECONDS, limit=1_000_000)
        time.sleep(max(0.3, 3 * settings.advert))
        failed_at = time.monotonic()
        fail_master(lab, r1, fail)
        _wait(lab, "r2 holding every VIP", lambda: set(vips) <= lab.addresses("r2", "eth0"),
              down + 10.0, (r2,), daemon.name)
        time.sleep(0.05)
        packets = cap.stop()
    readiness: list[float] = []
    floors: list[float] = []
    garps: list[float] = []
    missing = 0
    for i, vip in enumerate(vips):
        floor = protocol_floor(
            packets, old_ip="198.18.0.1", new_ip="198.18.0.2", vrid=settings.vrid(i),
            failed_at=failed_at, backup_priority=BACKUP_PRIORITY, interval=settings.advert,
            version=settings.version,
        )
        garp = first_garp(packets, vip, new_mac, failed_at)
        if floor is None or garp is None:
            missing += 1
        else:
            readiness.append((garp - floor.time) * 1000)
            floors.append(floor.time)
            garps.append(garp)
    readiness.sort()
    return {
        "vips": len(vips),
        "garp_p50": readiness[len(readiness) // 2] if readiness else None,
        "garp_max": readiness[-1] if readiness else None,
        # How the old master spread its adverts, and how long the whole move took.
        "floor_spread": (max(floors) - min(floors)) * 1000 if floors else None,
        "all_moved": (max(garps) - min(floors)) * 1000 if floors else None,
        "unmeasured": missing,
    }

