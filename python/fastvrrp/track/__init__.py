"""Trackers (scripts, interfaces, files, processes) and sync groups, feeding the engine.

`vrrp_services(config, logger)` gives the daemon what the config needs: the notifier
(scripts, FIFOs, mail) and the tracking service (priorities, faults, sync groups).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastvrrp.config.model import Config
from fastvrrp.notify.runner import ScriptRunner
from fastvrrp.notify.vrrp import VrrpNotifier
from fastvrrp.track.priority import Effect, InstanceTracking, clamp, file_effect, status_effect
from fastvrrp.track.service import TrackingService, needs_tracking

if TYPE_CHECKING:
    from fastvrrp.daemon import Service


def vrrp_services(config: Config, logger: logging.Logger) -> list[Service]:
    """The notify and tracking services `config` asks for (none for a bare config)."""
    runner = ScriptRunner(logger, config.global_defs)
    services: list[Service] = []
    notifier = VrrpNotifier(config, logger, runner) if VrrpNotifier.wanted(config) else None
    if notifier is not None:
        services.append(notifier)
    if needs_tracking(config):
        services.append(TrackingService(config, logger, runner, notifier))
    return services


__all__ = [
    "Effect",
    "InstanceTracking",
    "TrackingService",
    "clamp",
    "file_effect",
    "status_effect",
    "vrrp_services",
]
