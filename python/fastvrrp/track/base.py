"""What every tracker shares: a name, a current reading, and the callbacks told when it changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` (if there is one) and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Tracker:
    """A tracked thing (script, interface, file, process) with an up/down status or a value.

    Subclasses set `ok` (up/down trackers) or `value` (track_file) and call `changed()`.
    """

    kind = "tracker"

    def __init__(self, name: str) -> None:
        self.name = name
        self.ok = True
        self.value = 0
        self._listeners: list[Callable[[Tracker], None]] = []

    def subscribe(self, listener: Callable[[Tracker], None]) -> None:
        """Call `listener(self)` whenever the reading changes."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Tracker], None]) -> None:
        """Stop calling `listener` (every subscription of it)."""
        self._listeners = [known for known in self._listeners if known != listener]

    def changed(self) -> None:
        """Tell the listeners the reading changed."""
        for listener in self._listeners:
            listener(self)

    async def start(self) -> None:
        """Start watching (the first reading may come later)."""

    async def stop(self) -> None:
        """Stop watching and release what it holds."""


T = TypeVar("T", bound=Tracker)


class TrackerWatch(Generic[T]):
    """One watch (an inotify instance, a /proc scan) shared by trackers of one kind.

    Subclasses implement `start()` (begin watching `self.trackers`; it must set `_following`)
    and `stop()`.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        #: The trackers the running watch was started with (ids).
        self._following: set[int] = set()
        self.trackers: list[T] = []

    def add(self, tracker: T) -> None:
        """Watch `tracker` too (before `start`)."""
        self.trackers.append(tracker)

    async def follow(self, trackers: list[T]) -> None:
        """Watch exactly `trackers` from now on (a reload); kept ones keep their reading."""
        if {id(t) for t in trackers} == self._following:
            self.trackers = list(trackers)
            return
        await self.stop()
        self.trackers = list(trackers)
        await self.start()

    async def start(self) -> None:
        """Begin watching `self.trackers`."""
        self._following = {id(t) for t in self.trackers}

    async def stop(self) -> None:
        """Stop watching."""
