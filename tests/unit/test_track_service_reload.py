"""The tracking service across a reload: trackers diffed by name, the engine told only changes.

A stand-in engine records the commands (no network); the scripts are real.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from daemon_stand_ins import Host, RecordingEngine, lo_instance, read_config

from fastvrrp.config.model import Config
from fastvrrp.track.service import TrackingService

LOG = logging.getLogger("test.track.reload")


def script(tmp_path: Path, name: str, code: int) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\nexit {code}\n")
    path.chmod(0o755)
    return path


def load(tmp_path: Path, scripts: str, track: str) -> Config:
    tmp_path.chmod(0o755)
    block = f"    track_script {{\n{track}    }}\n" if track else ""
    return read_config(tmp_path, scripts + lo_instance(body=block))


def vrrp_script(name: str, path: Path, interval: int = 1, weight: int = -10,
                fall: int = 1) -> str:
    return (f'vrrp_script {name} {{\n    script "{path}"\n    interval {interval}\n'
            f"    weight {weight}\n    fall {fall}\n}}\n")


def run_reloads(first: Config, *then: Config) -> tuple[list[list[tuple[str, ...]]],
                                                       list[dict[str, object]]]:
    """Start on `first`, reload each of `then` after 0.3 s; the engine's calls after each
    step, and which tracker objects and statuses the service held."""

    async def main() -> tuple[list[list[tuple[str, ...]]], list[dict[str, object]]]:
        host = Host(first)
        service = TrackingService(first, LOG)
        await service.start(host)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        calls = [list(host.engine.calls)]
        held = [dict(service.scripts)]
        for config in then:
            host.engine.calls.clear()
            host.config = config
            await service.reload(host)  # type: ignore[arg-type]
            await asyncio.sleep(0.3)
            calls.append(list(host.engine.calls))
            held.append(dict(service.scripts))
        await service.stop()
        return calls, held

    return asyncio.run(main())


def test_an_unchanged_failing_script_keeps_its_tracker_and_the_engine_hears_nothing(
        tmp_path: Path) -> None:
    down = script(tmp_path, "down.sh", 1)
    up = script(tmp_path, "up.sh", 0)
    first = load(tmp_path, vrrp_script("chk", down), "        chk\n")
    # Another script appears and is tracked with weight 0 (it succeeds): nothing to push.
    second = load(tmp_path, vrrp_script("chk", down) + vrrp_script("other", up, weight=0),
                  "        chk\n        other\n")
    calls, held = run_reloads(first, second)
    assert ("priority", "VI_1", "90") in calls[0]
    assert calls[1] == []
    assert held[1]["chk"] is held[0]["chk"]


def test_a_new_weight_is_pushed_without_restarting_the_script(tmp_path: Path) -> None:
    down = script(tmp_path, "down.sh", 1)
    first = load(tmp_path, vrrp_script("chk", down), "        chk\n")
    heavier = load(tmp_path, vrrp_script("chk", down, weight=-30), "        chk\n")
    calls, held = run_reloads(first, heavier)
    assert calls[1] == [("priority", "VI_1", "70")]
    assert held[1]["chk"] is held[0]["chk"]


def test_a_changed_interval_restarts_the_script_with_its_status(tmp_path: Path) -> None:
    down = script(tmp_path, "down.sh", 1)
    first = load(tmp_path, vrrp_script("chk", down, fall=3), "        chk\n")
    slower = load(tmp_path, vrrp_script("chk", down, interval=2, fall=3), "        chk\n")
    calls, held = run_reloads(first, slower)
    assert ("priority", "VI_1", "90") in calls[0]
    assert calls[1] == []  # still down: no blip back to 100
    assert held[1]["chk"] is not held[0]["chk"]


def test_a_removed_tracker_gives_the_priority_back(tmp_path: Path) -> None:
    down = script(tmp_path, "down.sh", 1)
    first = load(tmp_path, vrrp_script("chk", down), "        chk\n")
    untracked = load(tmp_path, vrrp_script("chk", down), "")
    calls, held = run_reloads(first, untracked)
    assert calls[1] == [("priority", "VI_1", "100")]
    assert held[1] == {}


def test_stopped_by_a_reload_it_gives_the_configured_priority_back(tmp_path: Path) -> None:
    down = script(tmp_path, "down.sh", 1)
    config = load(tmp_path, vrrp_script("chk", down), "        chk\n")

    async def main() -> list[tuple[str, ...]]:
        host = Host(config)
        service = TrackingService(config, LOG)
        await service.start(host)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        host.engine.calls.clear()
        host.reloading = True  # the new config tracks nothing: the service goes
        await service.stop()
        return host.engine.calls

    assert asyncio.run(main()) == [("priority", "VI_1", "100")]


def grouped(fifo: Path, scripts: str) -> str:
    """VI_1 (tracking chk) and VI_2 in sync group G1, their states on a vrrp_notify_fifo."""
    return f"""global_defs {{
    vrrp_notify_fifo {fifo}
}}
{scripts}
vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
}}
""" + (lo_instance(body="    track_script {\n        chk\n    }\n")
           + lo_instance("VI_2", 2, "198.18.0.101"))


def test_a_sync_group_is_not_announced_again_by_a_reload(tmp_path: Path) -> None:
    import os

    from fastvrrp.notify.vrrp import VrrpNotifier

    up = script(tmp_path, "up.sh", 0)
    fifo = tmp_path / "fifo"
    configs = [read_config(tmp_path, grouped(fifo, vrrp_script("chk", up, weight=weight)))
               for weight in (-10, -20)]

    async def main() -> list[str]:
        host = Host(configs[0], RecordingEngine(("VI_1", "VI_2")))
        notifier = VrrpNotifier(configs[0], LOG)
        tracking = TrackingService(configs[0], LOG, notifier.runner, notifier)
        for service in (notifier, tracking):
            await service.start(host)  # type: ignore[arg-type]
            host.running.append(service)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        await asyncio.sleep(0.2)
        host.config = configs[1]
        host.reloading = True
        for service in (notifier, tracking):
            await service.reload(host)  # type: ignore[arg-type]
        host.reloading = False
        await asyncio.sleep(0.2)
        data = os.read(reader, 1 << 16).decode()
        os.close(reader)
        await tracking.stop()
        await notifier.stop()
        return data.splitlines()

    lines = asyncio.run(main())
    # Once each, from startup: the reload announces neither the instances nor the group.
    assert lines == ['INSTANCE "VI_1" MASTER 100', 'INSTANCE "VI_2" MASTER 100',
                     'GROUP "G1" MASTER 0']
