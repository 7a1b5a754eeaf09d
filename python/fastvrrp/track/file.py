"""track_file: the integer in a file, followed with inotify on its directory (no polling).

Watching the directory rather than the file sees every way a file is updated: rewritten in
place, replaced by a rename, deleted and created again.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import re
import struct

from fastvrrp.config.model import TrackFile
from fastvrrp.track.base import Tracker, TrackerWatch

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")
_NUMBER = re.compile(rb"\s*([+-]?\d+)")


def read_value(path: str) -> int:
    """The number at the start of the file, as strtol reads it; 0 when there is none."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(64)
    except OSError:
        return 0
    match = _NUMBER.match(data)
    return int(match.group(1)) if match else 0


class Inotify:
    """A minimal inotify instance (libc through ctypes): watch directories, read changed names."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd: int = fd
        self.dirs: dict[int, str] = {}

    def watch(self, directory: str) -> None:
        """Watch `directory` for files written, created, moved and deleted."""
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
        self.dirs[wd] = directory

    def read_paths(self) -> set[str]:
        """The paths named by the pending events (empty when there are none)."""
        paths: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return paths
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
                offset += _EVENT.size + length
                name = os.fsdecode(raw.rstrip(b"\0"))
                if wd in self.dirs and name:
                    paths.add(os.path.join(self.dirs[wd], name))

    def close(self) -> None:
        """Release the inotify instance."""
        os.close(self.fd)


class FileTracker(Tracker):
    """One track_file block; `value` is the number in the file."""

    kind = "file"

    def __init__(self, block: TrackFile, logger: logging.Logger) -> None:
        super().__init__(block.name)
        self.block = block
        self.path = os.path.abspath(block.file) if block.file else ""
        self.logger = logger
        self.prepared = False

    def prepare(self) -> None:
        """Write `init_file`'s value when asked to, then take the first reading.

        Once only: a tracker kept across a reload rereads its file instead.
        """
        if self.prepared:
            self.reread()
            return
        self.prepared = True
        if not self.path:
            return
        wants_init = self.block.init_file is not None or self.block.init_overwrite
        if wants_init and (self.block.init_overwrite or not os.path.exists(self.path)):
            try:
                with open(self.path, "w") as handle:
                    handle.write(f"{self.block.init_value}\n")
            except OSError as exc:
                self.logger.warning("track_file %s: cannot write %s: %s",
                                    self.name, self.path, exc.strerror)
        self.value = read_value(self.path)

    def reread(self) -> None:
        """Read the file again; listeners hear about a changed value."""
        value = read_value(self.path)
        if value != self.value:
            self.logger.info("VRRP track file %s now has value %d", self.name, value)
            self.value = value
            self.changed()


class FileWatcher(TrackerWatch[FileTracker]):
    """Follows every tracked file through one inotify instance on the event loop."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self._inotify: Inotify | None = None

    async def start(self) -> None:
        """Initialise the files, read them, and watch their directories."""
        await super().start()
        if not self.trackers:
            return
        for tracker in self.trackers:
            tracker.prepare()
        self._inotify = Inotify()
        for directory in sorted({os.path.dirname(t.path) for t in self.trackers if t.path}):
            try:
                self._inotify.watch(directory)
            except OSError as exc:
                self.logger.warning("track_file: cannot watch %s: %s", directory, exc)
        asyncio.get_running_loop().add_reader(self._inotify.fd, self._on_events)

    async def stop(self) -> None:
        """Stop watching."""
        if self._inotify is not None:
            asyncio.get_running_loop().remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None

    def _on_events(self) -> None:
        assert self._inotify is not None
        paths = self._inotify.read_paths()
        for tracker in self.trackers:
            if tracker.path in paths:
                tracker.reread()
