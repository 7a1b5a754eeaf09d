"""The tracking service: trackers and sync groups turned into engine priority and fault commands.

Every tracker change lands in `_push(instance)`, the one place that computes an instance's
effective priority and fault and tells the engine (only what changed).

On reload (`reload(daemon)`) trackers are diffed by name: an unchanged one keeps running with
its status and counters, a changed one is replaced, and the bindings, groups and priorities
are computed again from the new config; the engine hears only what differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastvrrp.config.model import Config, TrackRef, VrrpInstance, VrrpSyncGroup
from fastvrrp.notify.diff import same_block
from fastvrrp.notify.runner import ScriptRunner
from fastvrrp.notify.vrrp import VrrpNotifier, engine_instances
from fastvrrp.reload import plan_reload
from fastvrrp.track.base import Tracker
from fastvrrp.track.file import FileTracker, FileWatcher
from fastvrrp.track.interface import LinkMonitor
from fastvrrp.track.priority import Effect, InstanceTracking, file_effect, status_effect
from fastvrrp.track.process import ProcessTracker, ProcessWatcher
from fastvrrp.track.script import ScriptTracker
from fastvrrp.track.sync_group import SyncGroupState

if TYPE_CHECKING:
    from fastvrrp._native import Engine, Event
    from fastvrrp.daemon import Daemon


@dataclass(frozen=True)
class Binding:
    """One tracker feeding one instance with a weight (0: fault) and a direction."""

    instance: str
    tracker: Tracker
    weight: int
    reverse: bool

    @property
    def source(self) -> str:
        """The key of this binding in the instance's effects."""
        return f"{self.tracker.kind} {self.tracker.name}"

    def effect(self) -> Effect:
        """What the tracker does to the instance now."""
        label = f"{self.tracker.kind} {self.tracker.name}"
        if isinstance(self.tracker, FileTracker):
            return file_effect(label, self.tracker.value, self.weight, self.reverse)
        return status_effect(label, self.tracker.ok, self.weight, self.reverse)


def needs_tracking(config: Config) -> bool:
    """Whether any instance or group tracks something, or any sync group exists."""
    return bool(config.vrrp_sync_groups) or any(
        i.track_interfaces or i.track_scripts or i.track_files or i.track_processes
        for i in config.vrrp_instances
    )


class TrackingService:
    """Runs the trackers the config references and keeps the engine's priorities and faults."""

    def __init__(
        self,
        config: Config,
        logger: logging.Logger,
        runner: ScriptRunner | None = None,
        notifier: VrrpNotifier | None = None,
    ) -> None:
        self.config = config
        self.logger = logger
        self.runner = runner or ScriptRunner(logger, config.global_defs)
        self.notifier = notifier
        self.links = LinkMonitor(logger)
        self.files = FileWatcher(logger)
        self.processes = ProcessWatcher(logger)
        self.scripts: dict[str, ScriptTracker] = {}
        self._file_trackers: dict[str, FileTracker] = {}
        self._process_trackers: dict[str, ProcessTracker] = {}
        self.bindings: list[Binding] = []
        self.tracking: dict[str, InstanceTracking] = {}
        self.groups: dict[str, SyncGroupState] = {}
        self.group_of: dict[str, SyncGroupState] = {}
        self.interface_fault: dict[str, bool] = {}
        self._sent_priority: dict[str, int] = {}
        self._sent_fault: dict[str, str | None] = {}
        self._engine: Engine | None = None
        self._daemon: Daemon | None = None
        self._build()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.bindings = []
        self.tracking = {}
        self.groups = {}
        self.group_of = {}
        groups = {g.name: g for g in self.config.vrrp_sync_groups}
        for group in self.config.vrrp_sync_groups:
            state = SyncGroupState(group)
            self.groups[group.name] = state
            for member in group.group:
                self.group_of[member] = state
        for instance in self.config.vrrp_instances:
            self.tracking[instance.name] = InstanceTracking(instance.name, instance.priority)
            member_of = self.group_of.get(instance.name)
            sync = groups.get(instance.sync_group or "") or (
                member_of.group if member_of is not None else None)
            keep_weights = sync is None or sync.sync_group_tracking_weight
            self._bind(instance.name, instance, keep_weights)
            if sync is not None:
                self._bind(instance.name, sync, sync.sync_group_tracking_weight)

    def _bind(self, name: str, block: VrrpInstance | VrrpSyncGroup, keep_weights: bool) -> None:
        scripts = {s.name: s for s in self.config.vrrp_scripts}
        files = {f.name: f for f in self.config.track_files}
        processes = {p.name: p for p in self.config.track_processes}

        def weight_of(ref: TrackRef, default: int, default_reverse: bool) -> tuple[int, bool]:
            weight, reverse = (default, default_reverse) if ref.weight is None else (
                ref.weight, ref.reverse)
            return (weight if keep_weights else 0), reverse

        for ref in block.track_interfaces:
            weight, reverse = weight_of(ref, 0, False)
            self.bindings.append(Binding(name, self.links.tracker(ref.name), weight, reverse))
        for ref in block.track_scripts:
            script = scripts.get(ref.name)
            if script is None or script.script is None or not self.runner.allowed(script.script):
                continue  # an insecure or missing script is disabled, as keepalived does
            tracker = self.scripts.get(ref.name)
            if tracker is None:
                tracker = self.scripts[ref.name] = ScriptTracker(script, self.runner, self.logger)
            weight, reverse = weight_of(ref, script.weight, script.weight_reverse)
            self.bindings.append(Binding(name, tracker, weight, reverse))
        for ref in block.track_files:
            track_file = files.get(ref.name)
            if track_file is None or track_file.file is None:
                continue
            file_tracker = self._file_trackers.get(ref.name)
            if file_tracker is None:
                file_tracker = self._file_trackers[ref.name] = FileTracker(track_file, self.logger)
                self.files.add(file_tracker)
            weight, reverse = weight_of(ref, track_file.weight, track_file.weight_reverse)
            self.bindings.append(Binding(name, file_tracker, weight, reverse))
        for ref in block.track_processes:
            process = processes.get(ref.name)
            if process is None:
                continue
            proc_tracker = self._process_trackers.get(ref.name)
            if proc_tracker is None:
                proc_tracker = self._process_trackers[ref.name] = ProcessTracker(
                    process, self.logger)
                self.processes.add(proc_tracker)
            weight, reverse = weight_of(ref, process.weight, process.weight_reverse)
            self.bindings.append(Binding(name, proc_tracker, weight, reverse))

    # --- the service ---------------------------------------------------------------------

    async def start(self, daemon: Daemon) -> None:
        """Take the first readings, push them, then follow trackers and engine events."""
        self._daemon = daemon
        self._engine = daemon.engine
        # Started by a reload, the notifier that runs may be the old one, kept: use it.
        running = [s for s in getattr(daemon, "running", []) if isinstance(s, VrrpNotifier)]
        if running:
            self.notifier = running[0]
        for name, state, _ in engine_instances(self._engine):
            # Nothing of ours faults it yet: a FAULT now is the engine's (its interface).
            self.interface_fault[name] = state == "FAULT"
            # After a reload the groups are where they were: remember, do not announce.
            self._member_state(name, state, announce=not daemon.reloading)
        for group in self.groups.values():
            for member in group.members:
                group.set_own_fault(member, self.interface_fault.get(member, False))
        daemon.listeners.append(self.on_event)
        await self.links.start()
        await self.files.start()
        await self.processes.start()
        self._set_effects()
        for tracker in self._bound_trackers():
            tracker.subscribe(self._tracker_changed)
        for name in self.tracking:
            self._push(name)
        for tracker in self.scripts.values():
            await tracker.start()

    async def reload(self, daemon: Daemon) -> None:
        """Take `daemon.config` without losing what the trackers know.

        An unchanged tracker keeps running (a vrrp_script keeps its task, rise/fall counters and
        status); a vrrp_script whose command is the same but whose timing or thresholds changed
        is restarted with its status carried over; one with a new command, and a new tracker,
        start as at startup; removed ones stop. Weights, bindings and sync groups come from the
        new config, and the engine hears a priority or fault only when it differs from what it
        holds.
        """
        new = daemon.config
        # Instances the engine re-created hold the config's priority and no fault again.
        plan = plan_reload(self.config, new)
        recreated = {i.name for _, i in plan.changed} | {i.name for i in plan.added}
        old_scripts = self.scripts
        group_states = {n: g.state for n, g in self.groups.items()}
        self.config = new
        self._daemon = daemon
        self._engine = daemon.engine
        self.runner.update(new.global_defs)
        self.notifier = next(
            (s for s in getattr(daemon, "running", []) if isinstance(s, VrrpNotifier)), None)

        scripts = {b.name: b for b in new.vrrp_scripts}
        files = {b.name: b for b in new.track_files}
        processes = {b.name: b for b in new.track_processes}
        # Seed the trackers worth keeping; _build() reuses them and makes the others.
        self.scripts = {n: t for n, t in old_scripts.items()
                        if n in scripts and same_block(t.script, scripts[n], "weight",
                                                       "weight_reverse")}
        self._file_trackers = {n: t for n, t in self._file_trackers.items()
                               if n in files and same_block(t.block, files[n])}
        self._process_trackers = {n: t for n, t in self._process_trackers.items()
                                  if n in processes and same_block(t.block, processes[n])}
        self._build()
        for group in self.groups.values():
            group.state = group_states.get(group.name)
        bound = self._bound_trackers()
        self.scripts = {n: t for n, t in self.scripts.items() if t in bound}
        self._file_trackers = {n: t for n, t in self._file_trackers.items() if t in bound}
        self._process_trackers = {n: t for n, t in self._process_trackers.items() if t in bound}
        kept = {id(t) for t in old_scripts.values()}
        for name, tracker in self.scripts.items():
            before = old_scripts.get(name)
            if id(tracker) in kept or before is None:
                continue
            if same_block(before.script.script, tracker.script.script):
                tracker.inherit(before)
                self.logger.info("VRRP_Script(%s) changed: restarted, status kept", name)
        # Every effect at once, before anything awaits: a tracker that reports meanwhile
        # must not push a priority made of half the effects.
        self._set_effects()
        for name, tracker in old_scripts.items():
            if self.scripts.get(name) is not tracker:
                tracker.unsubscribe(self._tracker_changed)
                await tracker.stop()

        await self.links.follow({t.name for t in bound if t.kind == "interface"})
        await self.files.follow(list(self._file_trackers.values()))
        await self.processes.follow(list(self._process_trackers.values()))

        # Sync groups start again from where the members are, announcing nothing.
        for name in list(self.interface_fault):
            if name not in self.tracking:
                del self.interface_fault[name]
        for name, state, _ in engine_instances(self._engine):
            if name in recreated:
                self.interface_fault[name] = state == "FAULT"
            self._member_state(name, state, announce=False)
        self._set_effects()
        for group in self.groups.values():
            for member in group.members:
                tracking = self.tracking.get(member)
                group.set_own_fault(member, self.interface_fault.get(member, False) or (
                    tracking is not None and tracking.fault is not None))
        for each in bound:
            each.unsubscribe(self._tracker_changed)
            each.subscribe(self._tracker_changed)
        for name in list(self._sent_priority):
            if name in recreated or name not in self.tracking:
                del self._sent_priority[name]
        for name in list(self._sent_fault):
            if name in recreated or name not in self.tracking:
                del self._sent_fault[name]
        for name in self.tracking:
            self._push(name)
        for name, tracker in self.scripts.items():
            if old_scripts.get(name) is not tracker:
                await tracker.start()

    async def stop(self) -> None:
        """Stop every tracker (running checks are killed).

        Stopped by a reload (the new config tracks nothing), it first gives every instance its
        configured priority back and lifts the faults it set: the instances keep running.
        """
        if self._daemon is not None and self.on_event in self._daemon.listeners:
            self._daemon.listeners.remove(self.on_event)
        if self._daemon is not None and self._daemon.reloading:
            self._release()
        for tracker in self.scripts.values():
            await tracker.stop()
        await self.processes.stop()
        await self.files.stop()
        await self.links.stop()
        self._engine = None

    def on_event(self, event: Event) -> None:
        """Daemon listener: interface faults (for sync groups) and member states."""
        if event.kind == "fault" and event.reason.startswith("interface "):
            faulted = not event.reason.endswith(" up")
            self.interface_fault[event.instance] = faulted
            self._own_fault_changed(event.instance)
        elif event.kind == "transition":
            self._member_state(event.instance, event.new_state)

    def effective_priority(self, name: str) -> int:
        """The priority the trackers give instance `name` now."""
        return self.tracking[name].priority

    # --- internals -----------------------------------------------------------------------

    def _release(self) -> None:
        """Undo what was pushed: base priorities, no faults."""
        for tracking in self.tracking.values():
            tracking.effects.clear()
        for group in self.groups.values():
            for member in group.members:
                group.set_own_fault(member, False)
        for name in self.tracking:
            self._push(name)

    def _set_effects(self) -> None:
        """Every binding's current effect into its instance's tracking (nothing is pushed)."""
        for binding in self.bindings:
            self.tracking[binding.instance].set(binding.source, binding.effect())

    def _bound_trackers(self) -> list[Tracker]:
        """Every tracker some binding uses, once each, in binding order."""
        seen: dict[int, Tracker] = {}
        for binding in self.bindings:
            seen.setdefault(id(binding.tracker), binding.tracker)
        return list(seen.values())

    def _tracker_changed(self, tracker: Tracker) -> None:
        touched: set[str] = set()
        for binding in self.bindings:
            if binding.tracker is tracker:
                self.tracking[binding.instance].set(binding.source, binding.effect())
                touched.add(binding.instance)
        for name in sorted(touched):
            self._push(name)
            self._own_fault_changed(name)

    def _own_fault_changed(self, name: str) -> None:
        group = self.group_of.get(name)
        if group is None:
            return
        own = self.interface_fault.get(name, False) or self.tracking[name].fault is not None
        if group.own_faults.get(name) == own:
            return
        group.set_own_fault(name, own)
        for member in group.members:
            if member != name:
                self._push(member)

    def _member_state(self, name: str, state: str, announce: bool = True) -> None:
        group = self.group_of.get(name)
        if group is None:
            return
        new = group.member_entered(name, state)
        if new is None or self.notifier is None:
            return
        if announce:
            self.notifier.group_changed(group.name, new)
        else:
            self.notifier.group_states[group.name] = new

    def _push(self, name: str) -> None:
        """Send instance `name`'s effective priority and combined fault to the engine."""
        tracking = self.tracking.get(name)
        if tracking is None or self._engine is None:
            return
        priority = tracking.priority
        group = self.group_of.get(name)
        fault = tracking.fault or (group.sync_fault(name) if group else None)
        try:
            # The first push always goes out: after a reload the engine may hold old values.
            sent = self._sent_priority.get(name)
            if sent != priority:
                if priority != tracking.base or sent is not None:
                    self.logger.info("(%s) Changing effective priority from %d to %d", name,
                                     tracking.base if sent is None else sent, priority)
                self._engine.set_priority(name, priority)
                self._sent_priority[name] = priority
            if name not in self._sent_fault or self._sent_fault[name] != fault:
                if fault is not None:
                    self.logger.info("(%s) fault: %s", name, fault)
                self._engine.set_fault(name, fault is not None, fault or "")
                self._sent_fault[name] = fault
        except Exception as exc:  # the engine refused: keep tracking, say why
            self.logger.warning("(%s) cannot update the engine: %s", name, exc)
