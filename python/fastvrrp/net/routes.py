"""Static and virtual addresses, routes and rules, applied with iproute2 off the takeover path.

static_ipaddress, static_routes and static_rules are added at start and removed at stop.
An instance's virtual_ipaddress_excluded, virtual_routes and virtual_rules are added when it
enters MASTER and removed when it leaves MASTER (and at stop), as keepalived does. The engine
already holds the advertised VIPs; these wait for nothing on the failover path. A failing
command is logged with the config line it came from and never raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from fastvrrp.config.model import Config, Location, Route, Rule, VirtualAddress, VrrpInstance

if TYPE_CHECKING:
    from fastvrrp._native import Event
    from fastvrrp.daemon import Daemon

#: keepalived's state numbers in the engine's status.
MASTER_STATE = 2
#: Words keepalived reads on route/rule lines that iproute2 does not know.
KEEPALIVED_ONLY_WORDS = frozenset({"no_track"})
#: How iproute2 says that what a del removes is not there.
ALREADY_GONE = ("No such process", "No such file or directory", "Cannot assign requested address")
#: One iproute2 command with the config line it came from.
Command = tuple[tuple[str, ...], Location]


def _is_ipv6(word: str) -> bool:
    try:
        return ipaddress.ip_network(word, strict=False).version == 6
    except ValueError:
        return False


def _family(words: tuple[str, ...]) -> tuple[str, ...]:
    return ("-6",) if "inet6" in words or any(_is_ipv6(w) for w in words) else ()


def _ip_words(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in KEEPALIVED_ONLY_WORDS)


def address_commands(address: VirtualAddress, default_dev: str | None
                     ) -> tuple[Command, Command] | None:
    """`ip addr add` and `ip addr del` for one address line; None without an interface."""
    dev = address.dev or default_dev
    if dev is None:
        return None
    family = ("-6",) if address.family == "inet6" else ()
    if address.peer is not None:
        target: tuple[str, ...] = (address.address, "peer", f"{address.peer}/{address.prefix}")
    else:
        target = (f"{address.address}/{address.prefix}",)
    options: list[str] = []
    for key, value in (("brd", address.brd), ("scope", address.scope),
                       ("label", address.label), ("preferred_lft", address.preferred_lft)):
        if value is not None:
            options += [key, str(value)]
    add = ("ip", *family, "addr", "add", *target, "dev", dev, *options)
    delete = ("ip", *family, "addr", "del", *target, "dev", dev)
    return (add, address.location), (delete, address.location)


def _line_commands(line: Route | Rule, obj: str, add: str) -> tuple[Command, Command]:
    """`ip <obj> <add>` and `ip <obj> del` for one route or rule line, as written."""
    words = _ip_words(line.words)
    family = _family(words)
    return ((("ip", *family, obj, add, *words), line.location),
            (("ip", *family, obj, "del", *words), line.location))


def route_commands(route: Route) -> tuple[Command, Command]:
    """`ip route replace` and `ip route del` for one route line, as written."""
    return _line_commands(route, "route", "replace")


def rule_commands(rule: Rule) -> tuple[Command, Command]:
    """`ip rule add` and `ip rule del` for one rule line, as written."""
    return _line_commands(rule, "rule", "add")


class RouteSet:
    """What goes up and comes down together: the adds in config order, the dels reversed."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Command, Command]] = []

    def extend(self, pair: tuple[Command, Command] | None) -> None:
        """Add one (add, del) pair, if there is one."""
        if pair is not None:
            self.pairs.append(pair)

    @property
    def adds(self) -> list[Command]:
        """The commands that bring the set up, in config order."""
        return [add for add, _ in self.pairs]

    @property
    def dels(self) -> list[Command]:
        """The commands that take the set down, in reverse config order."""
        return [delete for _, delete in reversed(self.pairs)]

    def changes_to(self, new: RouteSet) -> list[Command]:
        """What turns this set, up, into `new`, up: dels of lines gone, then adds of new lines.

        Lines are compared by their commands, so a line that only moved in the file stays.
        """
        old_adds = {add[0] for add in self.adds}
        new_adds = {add[0] for add in new.adds}
        gone = [d for (add, _), d in zip(reversed(self.pairs), self.dels, strict=True)
                if add[0] not in new_adds]
        return gone + [add for add in new.adds if add[0] not in old_adds]

    def __bool__(self) -> bool:
        return bool(self.pairs)


def _route_set(addresses: Iterable[VirtualAddress], default_dev: str | None,
               routes: Iterable[Route], rules: Iterable[Rule]) -> RouteSet:
    """Addresses first, so routes can use them; then routes, then rules."""
    out = RouteSet()
    for address in addresses:
        out.extend(address_commands(address, default_dev))
    for route in routes:
        out.extend(route_commands(route))
    for rule in rules:
        out.extend(rule_commands(rule))
    return out


def static_set(config: Config) -> RouteSet:
    """The static addresses, routes and rules."""
    return _route_set(config.static_ipaddress, None, config.static_routes, config.static_rules)


def master_set(instance: VrrpInstance) -> RouteSet:
    """What `instance` adds on MASTER besides its advertised VIPs."""
    return _route_set(instance.virtual_ipaddress_excluded, instance.use_vmac or instance.interface,
                      instance.virtual_routes, instance.virtual_rules)


class RouteService:
    """The daemon service that applies the static set at start and each master set on MASTER.

    Commands run one at a time in one task, in the order the transitions came, so a quick
    MASTER -> BACKUP -> MASTER ends with the routes present.
    """

    def __init__(self, config: Config, logger: logging.Logger) -> None:
        self.logger = logger
        self.static = static_set(config)
        self.masters = {i.name: s for i in config.vrrp_instances if (s := master_set(i))}
        self.up: set[str] = set()
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._daemon: Daemon | None = None

    @staticmethod
    def wanted(config: Config) -> bool:
        """Whether `config` has any static or per-instance address, route or rule."""
        return bool(static_set(config)) or any(master_set(i) for i in config.vrrp_instances)

    async def start(self, daemon: Daemon) -> None:
        """Add the static set, listen to transitions, and bring up instances already MASTER."""
        self._daemon = daemon
        await self._run_all(self.static.adds)
        self._worker = asyncio.create_task(self._work())
        daemon.listeners.append(self.on_event)
        if daemon.engine is not None:
            for entry in daemon.engine.status():
                data = entry.get("data")
                if isinstance(data, dict) and int(data.get("state", 0)) == MASTER_STATE:
                    self._set(str(data.get("iname")), True)

    def on_event(self, event: Event) -> None:
        """Queue the master set of an instance entering or leaving MASTER."""
        if event.kind != "transition" or event.old_state == event.new_state:
            return
        if event.new_state == "MASTER":
            self._set(event.instance, True)
        elif event.old_state == "MASTER":
            self._set(event.instance, False)

    async def stop(self) -> None:
        """Take down every master set still up, then the static set."""
        if self._daemon is not None and self.on_event in self._daemon.listeners:
            self._daemon.listeners.remove(self.on_event)
        for name in sorted(self.up):
            self._set(name, False)
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
            self._worker = None
        await self._run_all(self.static.dels)

    async def reload(self, daemon: Daemon) -> None:
        """Take `daemon.config` without a flap: only the lines that changed are removed/added."""
        self._daemon = daemon
        static = static_set(daemon.config)
        masters = {i.name: s for i in daemon.config.vrrp_instances if (s := master_set(i))}
        commands = self.static.changes_to(static)
        for name in sorted(self.up):
            commands += self.masters.get(name, RouteSet()).changes_to(
                masters.get(name, RouteSet()))
        names = {i.name for i in daemon.config.vrrp_instances}
        self.up &= names  # a removed master's instance left MASTER (its event said so)
        self.static, self.masters = static, masters
        self._queue.put_nowait(lambda: self._run_all(commands))

    def _set(self, name: str, master: bool) -> None:
        """Track every instance's MASTER state; queue its set when it has one."""
        if (name in self.up) == master:
            return
        if master:
            self.up.add(name)
        else:
            self.up.discard(name)
        routes = self.masters.get(name)
        if routes:
            commands = routes.adds if master else routes.dels
            self._queue.put_nowait(lambda: self._run_all(commands))

    async def _work(self) -> None:
        while (job := await self._queue.get()) is not None:
            await job()

    async def _run_all(self, commands: list[Command]) -> None:
        for argv, location in commands:
            await self._run(argv, location)

    async def _run(self, argv: tuple[str, ...], location: Location) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
        except OSError as exc:
            self.logger.error("%s:%d: %s: %s", location.file, location.line, " ".join(argv), exc)
            return
        message = err.decode(errors="replace").strip()
        deleting = "del" in argv[:5]  # ip [-6] addr|route|rule del ...
        if proc.returncode != 0 and deleting and message.endswith(ALREADY_GONE):
            # Gone already (a link going down takes its routes with it): what a del wants.
            self.logger.debug("%s:%d: %s: %s", location.file, location.line, " ".join(argv),
                              message)
        elif proc.returncode != 0:
            self.logger.error("%s:%d: %s failed: %s", location.file, location.line,
                              " ".join(argv), message)
