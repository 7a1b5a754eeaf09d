"""`fastvrrp bench`: run the scenarios for each daemon, alternating trial by trial, and report."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fastvrrp.bench.configs import PairSettings
from fastvrrp.bench.measure import summary
from fastvrrp.bench.scenarios import (
    DAEMONS,
    BenchError,
    DaemonKind,
    LabFactory,
    default_lab,
    jitter_window,
    mass_trial,
    scale_window,
    takeover_trial,
)

SCENARIOS = ("takeover", "jitter", "scale", "mass")
TAKEOVER_METRICS = ("client_overhead", "client_outage", "first_advert", "first_garp")
#: The scenarios run as trials: the unit of their results, and the metrics summarised.
TRIAL_METRICS = {
    "takeover": ("ms after the protocol floor", TAKEOVER_METRICS),
    "mass": ("ms after each instance's floor", ("garp_p50", "garp_max", "floor_spread",
                                                 "all_moved")),
}


@dataclass(frozen=True)
class BenchSettings:
    """Everything that decides what `fastvrrp bench` measures; recorded with the results."""

    daemons: tuple[str, ...] = ("fastvrrp",)
    scenarios: tuple[str, ...] = SCENARIOS
    fails: tuple[str, ...] = ("link",)
    loads: tuple[int, ...] = (0,)
    advert: float = 0.1
    version: int = 3
    trials: int = 10
    jitter_interval: float = 0.01
    window: float = 10.0
    instances: int = 255
    scale_interval: float = 0.01
    vips: int = 100
    rt_priority: int | None = None
    command: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Step:
    """One unit of work: a trial or a window of one scenario for one daemon."""

    scenario: str
    daemon: str
    setting: str
    label: str
    run: Callable[[], Any]


def plan(settings: BenchSettings, daemons: dict[str, DaemonKind] | None = None,
         lab_factory: LabFactory = default_lab) -> list[Step]:
    """The steps in run order: within each scenario, daemons alternate trial by trial."""
    kinds = daemons if daemons is not None else DAEMONS
    steps: list[Step] = []
    rt = settings.rt_priority
    pair = PairSettings(advert=settings.advert, version=settings.version, rt_priority=rt)
    mass = replace(pair, instances=settings.vips, first_vrid=1)
    for scenario in settings.scenarios:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
        repeats = settings.trials if scenario in ("takeover", "mass") else 1
        for trial in range(repeats):
            for name in settings.daemons:
                kind = kinds[name]
                for setting, run in _settings_of(scenario, kind, settings, pair, mass,
                                                 lab_factory):
                    label = f"{setting} trial={trial}" if repeats > 1 else setting
                    steps.append(Step(scenario, name, setting, label, run))
    return steps


def _settings_of(
    scenario: str, kind: DaemonKind, settings: BenchSettings, pair: PairSettings,
    mass: PairSettings, lab_factory: LabFactory,
) -> list[tuple[str, Callable[[], Any]]]:
    """(setting label, runner) for one trial of `scenario` with daemon `kind`."""
    rt = "" if settings.rt_priority is None else f" rt={settings.rt_priority}"
    if scenario == "takeover":
        return [(f"fail={fail} load={load}{rt}",
                 _bind(takeover_trial, kind, pair, fail, load=load, lab_factory=lab_factory))
                for fail in settings.fails for load in settings.loads]
    if scenario == "mass":
        return [(f"fail={fail} vips={settings.vips}{rt}",
                 _bind(mass_trial, kind, mass, fail, lab_factory=lab_factory))
                for fail in settings.fails]
    if scenario == "jitter":
        return [(f"load={load}{rt}",
                 _bind(jitter_window, kind, interval=settings.jitter_interval,
                       version=settings.version, load=load, window=settings.window,
                       rt_priority=settings.rt_priority, lab_factory=lab_factory))
                for load in settings.loads]
    return [(f"instances={settings.instances}{rt}",
             _bind(scale_window, kind, instances=settings.instances,
                   interval=settings.scale_interval, version=settings.version,
                   window=settings.window, rt_priority=settings.rt_priority,
                   lab_factory=lab_factory))]


def _bind(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: fn(*args, **kwargs)


def machine() -> dict[str, object]:
    """The machine the run happened on: CPU model, cores, kernel, load, Python."""
    model = ""
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 - short read
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def versions(daemons: Sequence[str]) -> dict[str, str]:
    """Versions of the daemons compared."""
    from fastvrrp import NATIVE_BUILD, __version__

    found = {"fastvrrp": f"{__version__} ({NATIVE_BUILD})"}
    if "keepalived" in daemons and shutil.which("keepalived"):
        proc = subprocess.run(["keepalived", "--version"], capture_output=True, text=True,
                              check=False)
        found["keepalived"] = (proc.stderr or proc.stdout).splitlines()[0].strip()
    return found


def results_of(settings: BenchSettings, done: list[tuple[Step, Any]]) -> dict[str, Any]:
    """Per scenario: the raw trials and a summary per daemon (and setting)."""
    out: dict[str, Any] = {}
    for scenario in settings.scenarios:
        rows = [(s, r) for s, r in done if s.scenario == scenario]
        if scenario in TRIAL_METRICS:
            unit, metrics = TRIAL_METRICS[scenario]
            trials = [{"daemon": s.daemon, "setting": s.setting, **r} for s, r in rows]
            out[scenario] = {"unit": unit, "trials": trials,
                             "summary": _summaries(trials, metrics)}
        elif scenario == "jitter":
            windows = []
            for s, gaps in rows:
                interval_ms = settings.jitter_interval * 1000
                deviation = [abs(g - interval_ms) for g in gaps]
                # |gap - interval| counts a late advert twice for a sender that keeps its
                # cadence (a long gap, then a short one) and once for one that re-arms from
                # each send (keepalived), which sends fewer adverts instead. `late` is what a
                # backup sees: how much longer than the interval it waited, once per advert;
                # `mean_gap_ms` shows the lost adverts.
                late = [max(0.0, g - interval_ms) for g in gaps]
                windows.append({"daemon": s.daemon, "setting": s.setting, "gaps_ms": gaps,
                                "deviation": summary(deviation), "late": summary(late),
                                "mean_gap_ms": sum(gaps) / len(gaps) if gaps else None})
            out[scenario] = {"unit": "ms, |gap - interval|; late: gap - interval, when > 0",
                             "windows": windows}
        elif scenario == "scale":
            out[scenario] = {"unit": "% of one core",
                             "windows": [{"daemon": s.daemon, **r} for s, r in rows]}
    out["ratios"] = ratios(out)
    return out


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """keepalived's figure over fastvrrp's, per scenario, setting and metric (>1: fastvrrp wins).

    Takeover and mass compare p50s; jitter compares p99s (of |gap - interval| and of late);
    scale compares CPU.
    """
    found: dict[str, float] = {}

    def put(key: str, ka: float | None, fv: float | None) -> None:
        if ka is not None and fv is not None and fv > 0:
            found[key] = ka / fv

    for scenario in ("takeover", "mass"):
        summaries = results.get(scenario, {}).get("summary", {})
        for key, metrics in summaries.items():
            if not key.startswith("fastvrrp "):
                continue
            setting = key.removeprefix("fastvrrp ")
            other = summaries.get(f"keepalived {setting}")
            if other is None:
                continue
            for metric, s in metrics.items():
                put(f"{scenario} {setting} {metric} p50", other[metric]["p50"], s["p50"])
    windows = results.get("jitter", {}).get("windows", [])
    for w in windows:
        if w["daemon"] == "fastvrrp":
            for o in windows:
                if o["daemon"] == "keepalived" and o["setting"] == w["setting"]:
                    put(f"jitter {w['setting']} p99", o["deviation"]["p99"],
                        w["deviation"]["p99"])
                    if "late" in o and "late" in w:
                        put(f"jitter {w['setting']} late p99", o["late"]["p99"],
                            w["late"]["p99"])
    scale = {w["daemon"]: w for w in results.get("scale", {}).get("windows", [])}
    if {"fastvrrp", "keepalived"} <= set(scale):
        for role in ("master_cpu_pct", "backup_cpu_pct"):
            put(f"scale {role}", scale["keepalived"][role], scale["fastvrrp"][role])
    return found


def _summaries(trials: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    grouped: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(f"{t['daemon']} {t['setting']}" for t in trials):
        mine = [t for t in trials if f"{t['daemon']} {t['setting']}" == key]
        grouped[key] = {m: summary(t.get(m) for t in mine) for m in metrics}
    return grouped


def run(settings: BenchSettings, *, console: Any = None,
        daemons: dict[str, DaemonKind] | None = None,
        lab_factory: LabFactory = default_lab) -> dict[str, Any]:
    """Run every step with a rich progress bar on `console`; return the JSON-able results.

    A step that fails (`BenchError`: a daemon died, a VIP never moved) is listed under
    "failed" with its reason, and the run goes on.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    steps = plan(settings, daemons, lab_factory)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    head: dict[str, Any] = {
        "tool": "fastvrrp bench",
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(settings.daemons),
        "settings": asdict(settings),
    }
    done: list[tuple[Step, Any]] = []
    failed: list[dict[str, str]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("bench", total=len(steps))
        for step in steps:
            progress.update(task, description=f"{step.scenario:<8} {step.daemon:<10} {step.label}")
            try:
                done.append((step, step.run()))
            except BenchError as exc:  # keep the rest of the run; report this step as failed
                failed.append({"scenario": step.scenario, "daemon": step.daemon,
                               "setting": step.label, "error": str(exc)})
                progress.console.print(f"[red]{step.scenario} {step.daemon} {step.label} "
                                       f"failed:[/red] {str(exc).splitlines()[0]}")
            progress.advance(task)
    head["duration_s"] = round(time.monotonic() - t0, 1)
    head["results"] = results_of(settings, done)
    head["failed"] = failed
    return head


def command_line() -> tuple[str, ...]:
    """This process's command line, for the record."""
    return tuple(["fastvrrp", *sys.argv[1:]])
