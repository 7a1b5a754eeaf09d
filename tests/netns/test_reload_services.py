"""Services across a reload: one with `reload(daemon)` keeps running and diffs, others restart."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from ops_helpers import instance_conf

from fastvrrp.config import check_file
from fastvrrp.config.model import Config
from fastvrrp.daemon import Daemon
from fastvrrp.lab import Lab, netns

pytestmark = pytest.mark.netns


class Restarting:
    def __init__(self, log: list[tuple[str, ...]], name: str) -> None:
        self.log, self.name = log, name

    async def start(self, daemon: Daemon) -> None:
        self.log.append(("start", self.name))

    async def stop(self) -> None:
        self.log.append(("stop", self.name))


class Diffing(Restarting):
    async def reload(self, daemon: Daemon) -> None:
        priority = daemon.config.vrrp_instances[0].priority
        self.log.append(("reload", self.name, str(priority)))


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / f"k{len(list(tmp_path.glob('*.conf')))}.conf"
    path.write_text(text)
    result = check_file(str(path), "x", interfaces=frozenset({"eth0"}))
    assert result.config is not None, result.report()
    return result.config


def test_a_service_with_reload_is_kept_and_the_others_restart(lab: Lab, tmp_path: Path) -> None:
    log: list[tuple[str, ...]] = []
    before, after = load(tmp_path, instance_conf(150)), load(tmp_path, instance_conf(120))

    async def scenario() -> Any:
        daemon = Daemon(before, logging.getLogger("test"),
                        services=[Restarting(log, "plain"), Diffing(log, "diffing")])
        daemon.start()
        try:
            for service in daemon.services:
                await service.start(daemon)
                daemon.running.append(service)
            plan = await daemon.reload(after)
            return plan, [type(s).__name__ for s in daemon.running]
        finally:
            daemon.stop()

    plan, running = netns.run_in(lab.namespace("r1"), lambda: asyncio.run(scenario()))
    assert [(o.priority, n.priority) for o, n in plan.changed] == [(150, 120)]
    assert log == [("start", "plain"), ("start", "diffing"), ("stop", "plain"),
                   ("start", "plain"), ("reload", "diffing", "120")]
    assert running == ["Restarting", "Diffing"]
