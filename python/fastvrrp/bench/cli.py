"""The body of `fastvrrp bench`: check the options, run, print tables, write JSON and the plot."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from fastvrrp.bench.runner import SCENARIOS, BenchSettings, command_line, run
from fastvrrp.bench.scenarios import BenchError
from fastvrrp.lab.lab import LabError


def run_cli(
    *, daemons: Sequence[str], scenarios: Sequence[str], fails: Sequence[str],
    loads: Sequence[int], advert: float, version: int, trials: int, jitter_interval: float,
    window: float, instances: int, scale_interval: float, vips: int, json_file: str | None,
    plot_file: str | None, rt_priority: int | None = None,
) -> int:
    """Run the bench as the options say; return the exit code (errors printed, no traceback)."""
    from rich.console import Console

    console = Console(stderr=True)
    problem = _check(daemons, loads, advert, version, trials, jitter_interval, window,
                     instances, scale_interval, vips, rt_priority)
    if problem is None and plot_file is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            problem = "--plot needs matplotlib: pip install 'fastvrrp[bench]'"
    if problem is not None:
        console.print(f"[red]error:[/red] {problem}")
        return 2
    settings = BenchSettings(
        daemons=tuple(dict.fromkeys(daemons)),
        scenarios=tuple(dict.fromkeys(scenarios)) or SCENARIOS,
        fails=tuple(dict.fromkeys(fails)), loads=tuple(dict.fromkeys(loads)), advert=advert,
        version=version, trials=trials, jitter_interval=jitter_interval, window=window,
        instances=instances, scale_interval=scale_interval, vips=vips, rt_priority=rt_priority,
        command=command_line(),
    )
    try:
        results = run(settings, console=console)
    except (BenchError, LabError) as exc:
        console.print(f"[red]bench failed:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("interrupted; the labs are torn down")
        return 130
    out = Console()
    for table in _tables(results):
        out.print(table)
    out.print(f"{results['duration_s']} s on {results['machine']['cpu_model']}, "
              f"{results['machine']['cores']} cores, kernel {results['machine']['kernel']}")
    if json_file is not None:
        Path(json_file).write_text(json.dumps(results, indent=1) + "\n")
        out.print(f"results: {json_file}")
    if plot_file is not None:
        from fastvrrp.bench.report import plot

        plot(results, Path(plot_file))
        out.print(f"plot: {plot_file}")
    for failure in results["failed"]:
        console.print(f"[red]failed:[/red] {failure['scenario']} {failure['daemon']} "
                      f"{failure['setting']}: {failure['error']}")
    return 1 if results["failed"] else 0


def _tables(results: dict[str, object]) -> list[object]:
    from fastvrrp.bench.report import tables

    return list(tables(results))


def _check(
    daemons: Sequence[str], loads: Sequence[int], advert: float, version: int, trials: int,
    jitter_interval: float, window: float, instances: int, scale_interval: float, vips: int,
    rt_priority: int | None,
) -> str | None:
    if "keepalived" in daemons and shutil.which("keepalived") is None:
        return "keepalived is not installed (drop --daemon keepalived)"
    if version == 2 and min(advert, jitter_interval, scale_interval) < 1:
        return "VRRPv2 adverts are whole seconds: use --version 3 for sub-second intervals"
    if not 0.01 <= min(advert, jitter_interval, scale_interval) <= 40.95:
        return "advert intervals must be between 0.01 and 40.95 s"
    if trials < 1 or window <= 0:
        return "--trials must be at least 1 and --window positive"
    if not 1 <= instances <= 255:
        return "--instances must be between 1 and 255 (one VRID each)"
    if not 1 <= vips <= 255:
        return "--vips must be between 1 and 255 (one instance and VRID each)"
    if rt_priority is not None and not 1 <= rt_priority <= 99:
        return "--rt-priority must be between 1 and 99"
    if any(n < 0 or n > 64 for n in loads):
        return "--load must be between 0 and 64"
    if sys.platform != "linux":
        return "the bench needs Linux network namespaces"
    return None
