"""The fastvrrp daemon: turns a checked config into a running engine and reacts to its events.

The Rust engine thread owns the sockets, the timers and the state machines; it sends adverts,
adds the VIPs and sends gratuitous ARPs by itself. This module starts it, feeds it the
instances, turns its events into keepalived's log lines, and stops it cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastvrrp._native import Engine, Event, InstanceSpec
from fastvrrp.config.model import Config, GlobalDefs, VrrpInstance
from fastvrrp.net.promote import PromoteSecondaries
from fastvrrp.net.vmac import VirtualMac, vmac_for
from fastvrrp.reload import ReloadPlan, plan_reload

AUTH_TYPES = {None: 0, "PASS": 1, "AH": 2}

EventListener = Callable[[Event], None]


class Service(Protocol):
    """A subsystem that runs beside the engine: trackers, notify, checkers, dataplane, metrics."""

    async def start(self, daemon: Daemon) -> None:
        """Start; may add listeners to `daemon.listeners` and command `daemon.engine`."""

    async def stop(self) -> None:
        """Stop and release what it holds. Called once, in reverse start order."""

    # Optional: `async def reload(self, daemon: Daemon) -> None`. A service that has it is not
    # restarted on SIGHUP: it is called once `daemon.config` holds the new config, and diffs.


def services_for(config: Config, logger: logging.Logger, *, keep_lvs: bool = False,
                 realtime: bool = True) -> list[Service]:
    """The subsystems this config needs besides VRRP; each subsystem adds its line here.

    `keep_lvs` leaves the load-balancer table in place on stop (keepalived's -I); `realtime`
    False keeps the checker thread on normal scheduling (`fastvrrp run --no-realtime`).
    """
    from fastvrrp.track import vrrp_services  # trackers, sync groups, notify, SMTP

    services: list[Service] = []
    services += vrrp_services(config, logger)
    from fastvrrp.net.routes import RouteService  # static/virtual addresses, routes, rules
    if RouteService.wanted(config):
        services.append(RouteService(config, logger))
    if config.virtual_servers:  # checkers and the LVS dataplane
        from fastvrrp.lvs.service import LoadBalancerService
        services.append(LoadBalancerService(config, logger, keep_on_stop=keep_lvs,
                                            realtime_default=realtime))
    return services


def instance_spec(instance: VrrpInstance, global_defs: GlobalDefs) -> InstanceSpec:
    """The engine's view of one vrrp_instance block."""
    return InstanceSpec(
        name=instance.name,
        ifname=instance.interface or "",
        vrid=instance.virtual_router_id,
        version=instance.version,
        family=instance.family,
        priority=instance.priority,
        advert_interval=instance.advert_int,
        preempt=not instance.nopreempt,
        preempt_delay=instance.preempt_delay,
        start_master=instance.state == "MASTER",
        auth_type=AUTH_TYPES.get(instance.auth_type, 0),
        auth_pass=instance.auth_pass,
        vips=[(v.address, v.prefix, v.dev, v.label, v.brd) for v in instance.virtual_ipaddress],
        # keepalived keeps one source address: mcast_src_ip and unicast_src_ip both set it.
        unicast_src=instance.unicast_src_ip or instance.mcast_src_ip,
        unicast_peers=[
            peer.address if (peer.min_ttl, peer.max_ttl) == (0, 255)
            else (peer.address, peer.min_ttl, peer.max_ttl)
            for peer in instance.unicast_peers
        ],
        checksum_form="plain" if instance.v3_checksum_as_v2 else "pseudo",
        skip_check_adv_addr=instance.skip_check_adv_addr or global_defs.vrrp_skip_check_adv_addr,
        garp_master_delay=float(instance.garp_master_delay),
        garp_master_repeat=instance.garp_master_repeat,
        garp_master_refresh=float(instance.garp_master_refresh),
        garp_interval=float(
            global_defs.vrrp_gna_interval
            if instance.family == "inet6"
            else global_defs.vrrp_garp_interval
        ),
        send_ifname=instance.use_vmac,
        garp_master_refresh_repeat=instance.garp_master_refresh_repeat,
        garp_lower_prio_repeat=instance.garp_lower_prio_repeat,
        garp_lower_prio_delay=float(instance.garp_lower_prio_delay),
        lower_prio_no_advert=instance.lower_prio_no_advert,
        higher_prio_send_advert=instance.higher_prio_send_advert,
        down_timer_adverts=instance.down_timer_adverts,
        sync_group=instance.sync_group,
        mcast_group=instance.mcast_dst_ip or (
            global_defs.vrrp_mcast_group6 if instance.family == "inet6"
            else global_defs.vrrp_mcast_group4),
        unicast_ttl=instance.unicast_ttl,
    )


def log_event(logger: logging.Logger, event: Event) -> None:
    """Log an engine event with keepalived's wording, which operators grep for."""
    name = event.instance
    if event.kind != "transition":
        link = event.reason.split()
        if event.kind == "fault" and len(link) == 3 and link[0] == "interface":
            # The engine says "interface eth0 down"; keepalived says "Netlink reports eth0 down".
            logger.info("Netlink reports %s %s", link[1], link[2])
        else:
            logger.warning("(%s) %s", name, event.reason)
        return
    if event.reason == "priority 0 received":
        logger.info("(%s) Backup received priority 0 advertisement", name)
    # The engine moved this member because another member of its sync group moved: keepalived
    # logs the group's line, then the member's usual "Entering ... STATE".
    forced = "forced by sync group "
    if event.reason.startswith(forced) and event.new_state in ("MASTER", "BACKUP"):
        group = event.reason.removeprefix(forced)
        logger.info("VRRP_Group(%s) Syncing instances to %s state", group, event.new_state)
    # keepalived says this whenever its down timer fires: silence, priority 0, or preemption.
    if event.reason in ("Receive advertisement timeout", "priority 0 received", "preempt"):
        logger.info("(%s) Receive advertisement timeout", name)
    elif event.reason.startswith(("Received ", "Master received ")):
        logger.info("(%s) %s", name, event.reason)
    if event.new_state in ("MASTER", "BACKUP", "FAULT"):
        init = " (init)" if event.reason == "startup" else ""
        logger.info("(%s) Entering %s STATE%s", name, event.new_state, init)
    if event.old_state == "MASTER":
        if event.new_state in ("FAULT", "STOP", "INIT"):
            logger.info("(%s) sent 0 priority", name)
        logger.info("(%s) removing VIPs.", name)
    if event.new_state == "MASTER":
        logger.info("(%s) setting VIPs.", name)


#: The engine thread's SCHED_RR priority when the config names none. Any real-time priority runs
#: ahead of every normal process, which is what keeps adverts and takeovers on time on a busy
#: host (corosync runs real-time by default for the same reason); 2 puts VRRP ahead of the
#: checker thread's default 1 (lvs/scheduling.py) and below anything an operator runs real-time.
DEFAULT_ENGINE_RT_PRIORITY = 2


def engine_rt_priority(configured: int | None, realtime: bool) -> int | None:
    """The engine thread's SCHED_RR priority: the config's `vrrp_rt_priority`, else the default
    unless real-time scheduling was turned off."""
    if configured is not None:
        return configured
    return DEFAULT_ENGINE_RT_PRIORITY if realtime else None


@dataclass
class Daemon:
    """One running fastvrrp: an engine, its instances, and the listeners of its events."""

    config: Config
    logger: logging.Logger
    pidfile: str | None = None
    listeners: list[EventListener] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    engine: Engine | None = None
    vmacs: list[VirtualMac] = field(default_factory=list)
    promoted: PromoteSecondaries | None = None
    #: Control socket, metrics, dumps, reload, sd_notify: started after the services, kept
    #: across reloads, stopped first.
    observers: list[Service] = field(default_factory=list)
    #: The started services of the current config (replaced on reload).
    running: list[Service] = field(default_factory=list)
    config_file: str | None = None
    started_at: float = field(default_factory=time.time)
    reloads: int = 0
    #: True while reload() restarts the services (notify then skips STOP and startup notifies).
    reloading: bool = False
    #: What a stopping service leaves for its successor across a reload (e.g. notified states).
    handover: dict[str, Any] = field(default_factory=dict)
    last_reload: dict[str, Any] | None = None
    #: Leave the load-balancer table in place on stop (keepalived's -I).
    keep_lvs: bool = False
    #: Run the engine thread SCHED_RR even when the config sets no `vrrp_rt_priority`
    #: (`fastvrrp run --no-realtime` turns it off).
    realtime: bool = True

    async def run(self) -> int:
        """Run until SIGTERM or SIGINT; return the process exit code."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        self._write_pidfile()
        observing: list[Service] = []
        try:
            engine = self.start()
            loop.add_reader(engine.event_fd(), self.dispatch_events)
            wanted = self.services or services_for(self.config, self.logger,
                                                   keep_lvs=self.keep_lvs, realtime=self.realtime)
            for service in wanted:
                await service.start(self)
                self.running.append(service)
            for observer in self.observers:
                await observer.start(self)
                observing.append(observer)
            self.logger.info("Startup complete")
            await stopping.wait()
            self.logger.info("Stopping")
            loop.remove_reader(engine.event_fd())
        finally:
            for observer in reversed(observing):
                await observer.stop()
            # As keepalived: masters send priority 0 and drop their VIPs before notify_stop runs.
            self.stop_engine()
            for service in reversed(self.running):
                await service.stop()
            self.running.clear()
            self.stop()
            self._remove_pidfile()
        return 0

    def start(self) -> Engine:
        """Create the engine, add every instance, and start its thread."""
        global_defs = self.config.global_defs
        engine = Engine(rt_priority=engine_rt_priority(global_defs.vrrp_rt_priority, self.realtime),
                        no_swap=global_defs.vrrp_no_swap, nice=global_defs.vrrp_priority,
                        cpu_affinity=(list(global_defs.vrrp_cpu_affinity)
                                      if global_defs.vrrp_cpu_affinity else None))
        self.engine = engine
        for instance in self.config.vrrp_instances:
            if instance.use_vmac:
                self.vmacs.append(self._make_vmac(instance))
            engine.add_instance(instance_spec(instance, global_defs))
        self.promoted = PromoteSecondaries(self.logger)
        self.promoted.apply(self.config.vrrp_instances)
        engine.start()
        self.dispatch_events()
        return engine

    async def reload(self, config: Config) -> ReloadPlan:
        """Apply a checked config: diff the instances in the engine, restart the services.

        Unchanged instances are not touched. Changed ones are updated in place when the engine
        offers `update_instance`, otherwise removed and added again.
        """
        engine = self.engine
        if engine is None:
            raise RuntimeError("reload before start")
        plan = plan_reload(self.config, config)
        self.reloading = True
        try:
            wanted = self.services or services_for(config, self.logger, keep_lvs=self.keep_lvs,
                                                   realtime=self.realtime)
            # A service with `reload(daemon)` of a type the new config still wants keeps running
            # and diffs itself (an unchanged real server keeps its state); the others restart.
            kept: dict[type, Service] = {}
            for service in self.running:
                if callable(getattr(service, "reload", None)) and any(
                        type(w) is type(service) for w in wanted):
                    kept.setdefault(type(service), service)
            for service in reversed(self.running):
                if kept.get(type(service)) is not service:
                    await service.stop()
            self.running.clear()
            global_defs = config.global_defs
            update = getattr(engine, "update_instance", None)
            for old in plan.removed:
                engine.remove_instance(old.name)
                self._drop_vmac(old)
            for old, new in plan.changed:
                if update is not None:
                    update(old.name, instance_spec(new, global_defs))
                    continue
                engine.remove_instance(old.name)
                self._drop_vmac(old)
                if new.use_vmac:
                    self.vmacs.append(self._make_vmac(new))
                engine.add_instance(instance_spec(new, global_defs))
            for new in plan.added:
                if new.use_vmac:
                    self.vmacs.append(self._make_vmac(new))
                engine.add_instance(instance_spec(new, global_defs))
            self.config = config
            if self.promoted is not None:
                self.promoted.apply(config.vrrp_instances)
            self.dispatch_events()
            for service in wanted:
                survivor = kept.pop(type(service), None)
                if survivor is not None:
                    await survivor.reload(self)  # type: ignore[attr-defined]
                    self.running.append(survivor)
                else:
                    await service.start(self)
                    self.running.append(service)
        finally:
            self.reloading = False
        return plan

    def note_reload(self, result: str, diagnostics: int) -> None:
        """Remember how the last reload went (shown by `fastvrrp status`)."""
        if result == "ok":
            self.reloads += 1
        self.last_reload = {"result": result, "at": time.time(), "diagnostics": diagnostics}

    def _drop_vmac(self, instance: VrrpInstance) -> None:
        for vmac in [v for v in self.vmacs if v.name == instance.use_vmac]:
            vmac.remove()
            self.vmacs.remove(vmac)

    def stop_engine(self) -> None:
        """Stop the engine thread's instances (masters send priority 0 and drop their VIPs), and
        hand what it said to the log and the listeners."""
        if self.engine is not None:
            self.engine.stop()
            self.dispatch_events()

    def stop(self) -> None:
        """Stop the engine if it still runs, and release the virtual MACs."""
        self.stop_engine()
        self.engine = None
        for vmac in self.vmacs:
            vmac.remove()
        self.vmacs.clear()
        if self.promoted is not None:
            self.promoted.restore()
        self.logger.info("Stopped")

    def dispatch_events(self) -> None:
        """Drain the engine's events: log them, then hand them to the listeners (notify, FIFO)."""
        if self.engine is None:
            return
        for event in self.engine.events():
            log_event(self.logger, event)
            for listener in self.listeners:
                listener(event)

    def _make_vmac(self, instance: VrrpInstance) -> VirtualMac:
        vmac = vmac_for(instance)
        vmac.create()
        return vmac

    def _write_pidfile(self) -> None:
        if self.pidfile:
            with open(self.pidfile, "w") as handle:
                handle.write(f"{os.getpid()}\n")

    def _remove_pidfile(self) -> None:
        if self.pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pidfile)
