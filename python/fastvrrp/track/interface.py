"""track_interface: link up/down from netlink RTM_NEWLINK/RTM_DELLINK events (no polling).

An interface is up when it is administratively up and has carrier (IFF_UP and IFF_RUNNING);
a missing interface is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pyroute2 import AsyncIPRoute  # type: ignore[import-untyped]

from fastvrrp.track.base import Tracker

IFF_UP = 0x1
IFF_RUNNING = 0x40


def link_is_up(flags: int) -> bool:
    """keepalived's view of a link: up and running."""
    return bool(flags & IFF_UP and flags & IFF_RUNNING)


class InterfaceTracker(Tracker):
    """One tracked interface; its status is set by the `LinkMonitor`."""

    kind = "interface"

    def __init__(self, ifname: str) -> None:
        super().__init__(ifname)
        self.ok = False

    def set_up(self, up: bool) -> None:
        """Record the link's status; listeners hear only about changes."""
        if up != self.ok:
            self.ok = up
            self.changed()


class LinkMonitor:
    """One netlink socket subscribed to link events, feeding every `InterfaceTracker`."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.trackers: dict[str, InterfaceTracker] = {}
        #: The interfaces the running socket was started for.
        self._following: set[str] = set()
        self._ipr: AsyncIPRoute | None = None
        self._task: asyncio.Task[None] | None = None

    def tracker(self, ifname: str) -> InterfaceTracker:
        """The tracker for `ifname` (one per interface, shared)."""
        if ifname not in self.trackers:
            self.trackers[ifname] = InterfaceTracker(ifname)
        return self.trackers[ifname]

    async def follow(self, names: set[str]) -> None:
        """Track exactly the interfaces `names` from now on (a reload).

        Kept trackers keep their status; the netlink socket is re-made only when the set changes.
        """
        if names == self._following:
            return
        await self.stop()
        self.trackers = {n: t for n, t in self.trackers.items() if n in names}
        for name in names:
            self.tracker(name)
        await self.start()

    async def start(self) -> None:
        """Subscribe to link events first, then read the current links, then follow events."""
        self._following = set(self.trackers)
        if not self.trackers:
            return
        ipr = AsyncIPRoute()
        await ipr.setup_endpoint()
        await ipr.bind()
        self._ipr = ipr
        for msg in [m async for m in await ipr.link("dump")]:
            self._apply(msg, initial=True)
        for name, tracker in self.trackers.items():
            if not tracker.ok:
                self.logger.info("Tracked interface %s is down at startup", name)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        """Stop following events and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._ipr is not None:
            with contextlib.suppress(Exception):
                await self._ipr.close()
            self._ipr = None

    async def _follow(self) -> None:
        assert self._ipr is not None
        while True:
            try:
                async for msg in self._ipr.get():
                    self._apply(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad message must not end tracking
                self.logger.warning("netlink link monitor: %s", exc)
                await asyncio.sleep(0.1)

    def _apply(self, msg: Any, initial: bool = False) -> None:
        event = msg.get("event")
        if event not in ("RTM_NEWLINK", "RTM_DELLINK"):
            return
        name = msg.get("ifname") or msg.get_attr("IFLA_IFNAME")
        tracker = self.trackers.get(name)
        if tracker is None:
            return
        up = event == "RTM_NEWLINK" and link_is_up(int(msg.get("flags", 0)))
        if up != tracker.ok and not initial:
            self.logger.info("Netlink reports %s %s", name, "up" if up else "down")
        tracker.set_up(up)
