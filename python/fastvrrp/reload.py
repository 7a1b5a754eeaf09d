"""Reload on SIGHUP with keepalived's semantics.

The new config is checked first; with a fatal error or an error the old one keeps running and
every diagnostic is logged with its file and line. Otherwise old and new instances are matched
as keepalived matches them: by VRID, family, interface and unicast/multicast, never by name.

- an unchanged instance is left alone: the engine keeps its state, timers and VIPs;
- a changed one is updated in place when the engine can (`Engine.update_instance`), otherwise
  it is removed and added again (a master then hands over with priority 0);
- a removed one sends priority 0 and drops its VIPs;
- a new one starts as at startup.

The reload runs on the asyncio thread; the engine thread keeps sending adverts meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastvrrp.config.model import Config, VrrpInstance

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

#: Instance fields the services own (trackers, notify, sync groups): changing them alone never
#: touches the engine's copy of the instance.
SERVICE_FIELDS = frozenset({
    "location", "track_interfaces", "track_scripts", "track_files", "track_processes",
    "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
    "notify_master_rx_lower_pri", "smtp_alert", "sync_group", "dont_track_primary",
})

#: global_defs fields that end up in the engine's instance specs.
ENGINE_GLOBALS = ("vrrp_skip_check_adv_addr", "vrrp_garp_interval", "vrrp_gna_interval",
                  "vrrp_mcast_group4", "vrrp_mcast_group6")

InstanceKey = tuple[int, str, str, bool, str | None]


def instance_key(instance: VrrpInstance) -> InstanceKey:
    """keepalived's reload identity: VRID, family, interface, unicast or multicast (and then its
    `mcast_dst_ip`: one VRID may run on two groups of an interface)."""
    return (instance.virtual_router_id, instance.family, instance.interface or "",
            bool(instance.unicast_peers),
            None if instance.unicast_peers else instance.mcast_dst_ip)


def _without_locations(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(
            (f.name, _without_locations(getattr(value, f.name)))
            for f in dataclasses.fields(value)
            if f.name != "location"
        )
    if isinstance(value, tuple):
        return tuple(_without_locations(v) for v in value)
    return value


def engine_view(instance: VrrpInstance, config: Config) -> Any:
    """What the engine sees of an instance: everything but the services' fields and locations."""
    own = tuple(
        (f.name, _without_locations(getattr(instance, f.name)))
        for f in dataclasses.fields(instance)
        if f.name not in SERVICE_FIELDS
    )
    shared = tuple(getattr(config.global_defs, name) for name in ENGINE_GLOBALS)
    return own, shared


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload does to the engine's instances."""

    unchanged: tuple[VrrpInstance, ...]
    #: (old, new) pairs matched by key whose engine view differs.
    changed: tuple[tuple[VrrpInstance, VrrpInstance], ...]
    removed: tuple[VrrpInstance, ...]
    added: tuple[VrrpInstance, ...]

    def summary(self) -> str:
        """One log line: what changed, by instance name."""
        def names(items: tuple[VrrpInstance, ...]) -> str:
            return ",".join(i.name for i in items) or "-"
        return (f"unchanged {names(self.unchanged)}; changed "
                f"{names(tuple(new for _, new in self.changed))}; removed "
                f"{names(self.removed)}; added {names(self.added)}")


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """Match old and new instances by keepalived's key and sort them into the four groups."""
    olds = {instance_key(i): i for i in old.vrrp_instances}
    unchanged, changed, added = [], [], []
    for instance in new.vrrp_instances:
        before = olds.pop(instance_key(instance), None)
        if before is None:
            added.append(instance)
        elif engine_view(before, old) == engine_view(instance, new):
            unchanged.append(instance)
        else:
            changed.append((before, instance))
    return ReloadPlan(tuple(unchanged), tuple(changed), tuple(olds.values()), tuple(added))


def refusal(diagnostics: tuple[Any, ...], has_config: bool) -> bool:
    """Whether a checked config must not replace the running one (fatal or any error)."""
    return not has_config or any(d.severity in ("fatal", "error") for d in diagnostics)


@dataclass
class ReloadOnHangup:
    """A service: SIGHUP re-reads the config file and applies it to the running daemon.

    `before` and `after` run around each reload (sd_notify RELOADING=1 / READY=1).
    """

    config_file: str
    config_id: str | None
    logger: logging.Logger
    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None
    _daemon: Daemon | None = None
    _pending: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self, daemon: Daemon) -> None:
        """Install the SIGHUP handler and the task that runs reloads one at a time."""
        self._daemon = daemon
        self._pending = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._pending.set)
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Remove the handler (a late SIGHUP is ignored) and end the task."""
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self) -> None:
        assert self._pending is not None
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Check the file and apply it; returns whether the new config is running."""
        assert self._daemon is not None
        from fastvrrp.config import check_file

        daemon = self._daemon
        if self.before is not None:
            self.before()
        started = time.monotonic()
        self.logger.info("Reloading")
        try:
            result = await asyncio.to_thread(check_file, self.config_file, self.config_id)
            for diagnostic in result.diagnostics:
                self.logger.warning("%s", diagnostic)
            if refusal(result.diagnostics, result.config is not None) or result.config is None:
                self.logger.error(
                    "Reload of %s refused: the config has errors; still running the previous one",
                    self.config_file,
                )
                daemon.note_reload("refused", len(result.diagnostics))
                return False
            plan = await daemon.reload(result.config)
            self.logger.info("Reload finished in %.1f ms: %s",
                             (time.monotonic() - started) * 1000, plan.summary())
            daemon.note_reload("ok", len(result.diagnostics))
            return True
        except Exception as exc:  # a failed reload must never kill the running daemon
            self.logger.exception("Reload failed: %s", exc)
            daemon.note_reload("failed", 0)
            return False
        finally:
            if self.after is not None:
                self.after()

