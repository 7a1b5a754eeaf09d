"""VRRP notifications: notify_* scripts, the generic `notify`, the FIFOs and SMTP alerts.

For each instance (and sync group) entering MASTER, BACKUP, FAULT or STOP, in keepalived's order:
the state's own script, the generic `notify` script with `INSTANCE|GROUP NAME STATE PRIORITY`
appended, the FIFO line, then the mail. Nothing here waits for a script or a mail server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, NamedTuple

from fastvrrp.config.model import Command, Config, GlobalDefs, VrrpInstance, VrrpSyncGroup
from fastvrrp.notify.diff import same_block
from fastvrrp.notify.fifo import FifoWriter, group_line, instance_line
from fastvrrp.notify.runner import ScriptRunner
from fastvrrp.notify.smtp import SmtpAlerter, group_alert, instance_alert

if TYPE_CHECKING:
    from fastvrrp._native import Engine, Event
    from fastvrrp.daemon import Daemon

#: The states that are notified (INIT is not).
NOTIFIED_STATES = ("MASTER", "BACKUP", "FAULT", "STOP")
#: keepalived's numeric states in its JSON/status.
STATE_NAMES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}
#: Where the notified instance states wait for the next notifier across a reload.
HANDOVER_KEY = "notify.instance_states"
#: keepalived gives notify_stop scripts this long before it exits.
STOP_SCRIPT_WAIT = 1.0


class EngineInstance(NamedTuple):
    """One instance as the engine's status reports it."""

    name: str
    state: str
    priority: int


def engine_instances(engine: Engine | None) -> list[EngineInstance]:
    """The instances `engine` runs (none without an engine), with state names."""
    out = []
    for entry in engine.status() if engine is not None else []:
        data = entry.get("data")
        if isinstance(data, dict):
            out.append(EngineInstance(str(data.get("iname")),
                                      STATE_NAMES.get(int(data.get("state", 0)), "INIT"),
                                      int(data.get("effective_priority", 0))))
    return out


def state_script(
    block: VrrpInstance | VrrpSyncGroup, state: str
) -> Command | None:
    """The notify_master/backup/fault/stop script of `block` for `state`."""
    return {
        "MASTER": block.notify_master,
        "BACKUP": block.notify_backup,
        "FAULT": block.notify_fault,
        "STOP": block.notify_stop,
    }.get(state)


def smtp_alert_enabled(block: VrrpInstance | VrrpSyncGroup, global_defs: GlobalDefs) -> bool:
    """An instance/group mails when it says `smtp_alert`, or the globals say so for VRRP."""
    if block.smtp_alert:
        return True
    default = global_defs.smtp_alert_vrrp
    if default is None:
        default = global_defs.smtp_alert
    return bool(default)


class VrrpNotifier:
    """The notify service: a daemon listener that turns transitions into scripts, lines and mail."""

    def __init__(
        self, config: Config, logger: logging.Logger, runner: ScriptRunner | None = None
    ) -> None:
        self.config = config
        self.logger = logger
        self.runner = runner or ScriptRunner(logger, config.global_defs)
        self.smtp = SmtpAlerter(config.global_defs, logger)
        self.fifos: list[FifoWriter] = []
        self.instances = {i.name: i for i in config.vrrp_instances}
        self.groups = {g.name: g for g in config.vrrp_sync_groups}
        self.instance_states: dict[str, str] = {}
        self.group_states: dict[str, str] = {}
        self._priorities: dict[str, int] = {}
        self._daemon: Daemon | None = None
        self._stop_tasks: list[asyncio.Task[object]] = []
        #: Mail senders replaced by a reload, finishing their queue in the background.
        self._retiring: set[asyncio.Task[None]] = set()

    @staticmethod
    def wanted(config: Config) -> bool:
        """Whether `config` asks for any VRRP notification at all."""
        g = config.global_defs
        blocks: list[VrrpInstance | VrrpSyncGroup] = [
            *config.vrrp_instances, *config.vrrp_sync_groups
        ]
        return bool(
            g.notify_fifo or g.vrrp_notify_fifo
            or any(b.notify_master or b.notify_backup or b.notify_fault or b.notify_stop
                   or b.notify or smtp_alert_enabled(b, g) for b in blocks)
        )

    def _open_fifos(self, keep: list[FifoWriter]) -> None:
        """Open the config's FIFOs; one in `keep` with the same settings stays open as it is."""
        g = self.config.global_defs
        self.fifos = []
        for fifo, script in ((g.notify_fifo, g.notify_fifo_script),
                             (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script)):
            if fifo is None:
                continue
            same = next((w for w in keep if same_block(w.fifo, fifo)
                         and same_block(w.script, script)), None)
            if same is not None:
                keep.remove(same)  # its reader sees no end-of-file and no line twice
                self.fifos.append(same)
                continue
            writer = FifoWriter(fifo, self.logger, script, self.runner)
            try:
                writer.open()
            except OSError as exc:
                self.logger.error("Cannot open notify FIFO %s: %s", fifo.path, exc.strerror)
                continue
            self.fifos.append(writer)

    async def start(self, daemon: Daemon) -> None:
        """Open the FIFOs, start listening, and notify the states instances already entered."""
        self._open_fifos([])
        self._daemon = daemon
        daemon.listeners.append(self.on_event)
        known = daemon.handover.pop(HANDOVER_KEY, {}) if daemon.reloading else {}
        # Transitions before we listened (startup into BACKUP/FAULT) are notified now.
        for name, state, prio in engine_instances(daemon.engine):
            if daemon.reloading and name in known:
                # A reload is not a transition: remember the state, notify nothing.
                self.instance_states[name] = state
                self._priorities[name] = prio
            else:  # startup, or an instance the reload added
                self.instance_changed(name, state, prio)

    async def reload(self, daemon: Daemon) -> None:
        """Take `daemon.config`: new scripts, FIFOs and mail settings, no state notified again.

        An unchanged FIFO stays open (its reader sees neither end-of-file nor a repeated line);
        a changed or removed one is closed, a new one opened. Instances that keep running are
        not notified; an instance the reload adds is notified as at startup.
        """
        old = self.config
        self.config = daemon.config
        self._daemon = daemon
        g = self.config.global_defs
        self.runner.update(g)
        if not same_block(old.global_defs, g):
            retired = self.smtp
            self.smtp = SmtpAlerter(g, self.logger)
            task = asyncio.get_running_loop().create_task(retired.close(grace=1.0))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        stale = list(self.fifos)
        # Close before opening: a FIFO whose reader script changed is made again at its path.
        for writer in [w for w in stale if not self._still_wanted(w)]:
            writer.close()
            stale.remove(writer)
        self._open_fifos(stale)
        self.instances = {i.name: i for i in self.config.vrrp_instances}
        self.groups = {g.name: g for g in self.config.vrrp_sync_groups}
        for name in [n for n in self.instance_states if n not in self.instances]:
            del self.instance_states[name]
            self._priorities.pop(name, None)
        for name in [n for n in self.group_states if n not in self.groups]:
            del self.group_states[name]
        if self.on_event not in daemon.listeners:
            daemon.listeners.append(self.on_event)
        for name, state, prio in engine_instances(daemon.engine):
            if name in self.instance_states:
                # It keeps running (maybe re-created by the engine): remember, say nothing.
                if state in NOTIFIED_STATES:
                    self.instance_states[name] = state
                    self._priorities[name] = prio
            else:  # an instance the reload added
                self.instance_changed(name, state, prio)

    def _still_wanted(self, writer: FifoWriter) -> bool:
        g = self.config.global_defs
        return any(fifo is not None and same_block(writer.fifo, fifo)
                   and same_block(writer.script, script)
                   for fifo, script in ((g.notify_fifo, g.notify_fifo_script),
                                        (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script)))

    def on_event(self, event: Event) -> None:
        """Daemon listener: notify each transition into a notified state.

        What the engine reports while a reload re-creates instances is not notified; reload()
        takes the states afterwards.
        """
        if event.kind == "transition" and not (self._daemon is not None
                                               and self._daemon.reloading):
            self.instance_changed(event.instance, event.new_state, event.priority)

    def instance_changed(self, name: str, state: str, priority: int) -> None:
        """Run the scripts, write the FIFO line and send the mail for instance `name`."""
        if state not in NOTIFIED_STATES or self.instance_states.get(name) == state:
            return
        instance = self.instances.get(name)
        if instance is None:
            return
        self.instance_states[name] = state
        self._priorities[name] = priority
        tasks = self._run_scripts(instance, "INSTANCE", state, priority)
        self._write(instance_line(name, state, priority))
        if smtp_alert_enabled(instance, self.config.global_defs):
            alert = instance_alert(self.config.global_defs, name, state)
            if alert is not None:
                self.smtp.send(alert)
        if state == "STOP":
            self._stop_tasks.extend(tasks)

    def group_changed(self, name: str, state: str) -> None:
        """Run the scripts, write the FIFO line and send the mail for sync group `name`."""
        if state not in NOTIFIED_STATES or self.group_states.get(name) == state:
            return
        group = self.groups.get(name)
        if group is None:
            return
        self.group_states[name] = state
        self.logger.info("(%s) Syncing instances to %s state", name, state)
        tasks = self._run_scripts(group, "GROUP", state, 0)
        self._write(group_line(name, state))
        if smtp_alert_enabled(group, self.config.global_defs):
            alert = group_alert(self.config.global_defs, name, state)
            if alert is not None:
                self.smtp.send(alert)
        if state == "STOP":
            self._stop_tasks.extend(tasks)

    async def stop(self) -> None:
        """Notify STOP for every instance and group (as keepalived on shutdown), then clean up.

        During a reload (`daemon.reloading`) nothing is notified: the instances keep running.
        """
        if self._daemon is not None and self.on_event in self._daemon.listeners:
            self._daemon.listeners.remove(self.on_event)
        if self._daemon is not None and self._daemon.reloading:
            self._daemon.handover[HANDOVER_KEY] = dict(self.instance_states)
        if self._daemon is not None and not self._daemon.reloading:
            for name in self.instances:
                self.instance_changed(name, "STOP", self._priorities.get(name, 0))
            for name in self.groups:
                self.group_changed(name, "STOP")
        if self._stop_tasks:
            await asyncio.wait(self._stop_tasks, timeout=STOP_SCRIPT_WAIT)
        for fifo in self.fifos:
            fifo.close()  # its reader script sees end-of-file and exits by itself
        self.fifos.clear()
        await self.runner.close(grace=0.2)
        await self.smtp.close(grace=0.5)
        if self._retiring:
            await asyncio.wait(list(self._retiring), timeout=1.0)

    def _run_scripts(
        self, block: VrrpInstance | VrrpSyncGroup, kind: str, state: str, priority: int
    ) -> list[asyncio.Task[object]]:
        tasks = []
        script = state_script(block, state)
        if script is not None:
            tasks.append(self.runner.run(script))
        if block.notify is not None:
            tasks.append(self.runner.run(block.notify, [kind, block.name, state, str(priority)]))
        return [t for t in tasks if t is not None]

    def _write(self, line: str) -> None:
        for fifo in self.fifos:
            fifo.write(line)
