"""What every tracker shares: a name, a current reading, and the callbacks told when it changes."""

from __future__ import annotations

from collections.abc import Callable


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
