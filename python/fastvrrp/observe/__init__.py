"""Observability and operations: logs, the control socket, metrics, keepalived's dumps, systemd.

`observers_for` builds the services that watch the daemon; they outlive reloads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastvrrp.observe.control import DEFAULT_CONTROL_SOCKET, ControlSocket
from fastvrrp.observe.dumps import DEFAULT_DUMP_DIRECTORY, SignalDumps
from fastvrrp.observe.metrics import MetricsServer, parse_address
from fastvrrp.observe.status import daemon_snapshot
from fastvrrp.observe.systemd import SystemdNotifier
from fastvrrp.reload import ReloadOnHangup

if TYPE_CHECKING:
    from fastvrrp.daemon import Service


@dataclass(frozen=True)
class ObserveOptions:
    """The `fastvrrp run` options that say how the daemon is watched and reloaded."""

    config_file: str
    config_id: str | None = None
    control_socket: str | None = DEFAULT_CONTROL_SOCKET
    metrics: str | None = None
    dump_directory: str = DEFAULT_DUMP_DIRECTORY


def observers_for(options: ObserveOptions, logger: logging.Logger) -> list[Service]:
    """The observers in start order; sd_notify comes last, so READY=1 follows everything."""
    notifier = SystemdNotifier.from_environment(logger)
    observers: list[Service] = []
    if options.control_socket:
        observers.append(ControlSocket(options.control_socket, logger, daemon_snapshot))
    if options.metrics:
        host, port = parse_address(options.metrics)
        observers.append(MetricsServer(host, port, logger))
    observers.append(SignalDumps(logger, options.dump_directory))
    observers.append(ReloadOnHangup(options.config_file, options.config_id, logger,
                                    before=notifier.reloading, after=notifier.reloaded))
    observers.append(notifier)
    return observers


__all__ = ["DEFAULT_CONTROL_SOCKET", "ObserveOptions", "observers_for"]
