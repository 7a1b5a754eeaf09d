"""Running operators' scripts: notify hooks (fire and forget) and checks (exit code, timeout).

Every child runs in its own session, so a timeout kills the script and whatever it started, and
every child is waited for by the event loop, so none is left as a zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import shlex
import shutil
import signal
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from fastvrrp.config.model import Command, GlobalDefs

#: keepalived runs scripts as this user when it exists and no script_user is given.
DEFAULT_SCRIPT_USER = "keepalived_script"
#: How long a timed-out script gets between SIGTERM and SIGKILL.
KILL_GRACE = 0.5


@dataclass(frozen=True)
class Identity:
    """Who a script runs as; None means: as the daemon itself."""

    uid: int | None = None
    gid: int | None = None
    user: str = "root"


@dataclass(frozen=True)
class ScriptResult:
    """A check script's outcome: its exit code, or None when it timed out or did not start."""

    returncode: int | None
    timed_out: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the script exited with status 0."""
        return self.returncode == 0


def split_command(text: str) -> list[str]:
    """The argv of a script line, split like keepalived does (shell-like quoting, no shell)."""
    return shlex.split(text)


def insecure_reason(path: str, run_as_uid: int) -> str | None:
    """Why `path` is unsafe to run as `run_as_uid`; None when only root or that user can change it.

    keepalived's rule: a script run as root is refused if the file or any directory above it can be
    written by a non-root user (a world-writable directory with the sticky bit is fine).
    """
    try:
        real = os.path.realpath(path)
        current = real
        while True:
            st = os.stat(current)
            kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
            if st.st_uid not in (0, run_as_uid):
                return f"{kind} {current} is owned by uid {st.st_uid}"
            if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
                return f"{kind} {current} is writable by group {st.st_gid}"
            if st.st_mode & stat.S_IWOTH and not (
                stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
            ):
                return f"{kind} {current} is writable by everyone"
            parent = os.path.dirname(current)
            if parent == current:
                return None
            current = parent
    except OSError as exc:
        return f"cannot check {path}: {exc.strerror}"


async def finish(tasks: Collection[asyncio.Task[object]], grace: float) -> None:
    """Give `tasks` `grace` seconds to end, then cancel the rest and wait for them."""
    if tasks:
        await asyncio.wait(list(tasks), timeout=grace)
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


class ScriptRunner:
    """Starts scripts as keepalived does: as `user [group]` or `script_user`, security-checked.

    `run()` is fire-and-forget for notify hooks; `check()` waits for the exit code with a timeout.
    Both need a running asyncio loop. `close()` reaps (or kills) what is still running.
    """

    def __init__(self, logger: logging.Logger, global_defs: GlobalDefs | None = None) -> None:
        self.logger = logger
        self.global_defs = global_defs or GlobalDefs()
        self._tasks: set[asyncio.Task[object]] = set()
        # Check scripts in flight: killed on close. Notify scripts are left to finish.
        self._checks: set[asyncio.subprocess.Process] = set()
        self._verdicts: dict[tuple[str, int | None], str | None] = {}

    # --- public API ---------------------------------------------------------------------

    def update(self, global_defs: GlobalDefs) -> None:
        """Take a reloaded config's script_user/group and script security for the next runs.

        Scripts already running go on; the security verdicts are made again.
        """
        self.global_defs = global_defs
        self._verdicts.clear()

    def run(self, command: Command, args: Sequence[str] = ()) -> asyncio.Task[object] | None:
        """Start `command` with `args` appended and return at once; the exit is logged, not awaited.

        Returns the task that reaps the child (None if the script was refused or unparsable).
        """
        argv = self._argv(command, args)
        if argv is None:
            return None
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            self._reap(command, argv)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def check(
        self, command: Command, timeout: float, args: Sequence[str] = ()
    ) -> ScriptResult:
        """Run `command` to completion; kill it (and its session) after `timeout` seconds."""
        argv = self._argv(command, args)
        if argv is None:
            return ScriptResult(None, error="refused")
        try:
            proc = await self._spawn(command, argv)
        except OSError as exc:
            self.logger.warning("Failed to exec %s: %s", argv[0], exc.strerror)
            return ScriptResult(None, error=exc.strerror)
        self._checks.add(proc)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.logger.info("Process [%d] (%s) timed out", proc.pid, command.command)
            await self._kill(proc)
            return ScriptResult(None, timed_out=True)
        except asyncio.CancelledError:
            await self._kill(proc)  # the tracker stopped: the check must not outlive it
            raise
        finally:
            self._checks.discard(proc)
        return ScriptResult(code)

    async def close(self, grace: float = 1.0) -> None:
        """Kill running checks; give notify scripts `grace` seconds, then stop waiting for them.

        A notify script still running is not killed (keepalived leaves them too); the loop's
        child watcher still reaps it when it exits.
        """
        for proc in list(self._checks):
            await self._kill(proc)
        await finish(self._tasks, grace)

    def allowed(self, command: Command) -> bool:
        """Whether `command` may run: it parses, exists, and passes script security.

        A refusal is logged once, with the reason (keepalived disables such a script).
        """
        return self._argv(command, ()) is not None

    def identity(self, command: Command) -> Identity:
        """The user and group `command` runs as (keepalived's defaults)."""
        user = command.user or self.global_defs.script_user
        group = command.group if command.user else (command.group or self.global_defs.script_group)
        if user is None:
            try:
                entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
            except KeyError:
                return Identity(user=pwd.getpwuid(os.geteuid()).pw_name)
        else:
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        gid = entry.pw_gid
        if group is not None:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        return Identity(uid=entry.pw_uid, gid=gid, user=entry.pw_name)

    # --- internals ----------------------------------------------------------------------

    def _argv(self, command: Command, args: Sequence[str]) -> list[str] | None:
        try:
            argv = split_command(command.command)
        except ValueError as exc:
            self.logger.error("Cannot parse script '%s': %s", command.command, exc)
            return None
        if not argv:
            return None
        resolved = argv[0] if "/" in argv[0] else shutil.which(argv[0])
        if resolved is None:
            self.logger.warning("Cannot find script %s - ignoring", argv[0])
            return None
        argv[0] = resolved
        try:
            uid = self.identity(command).uid
        except (KeyError, ValueError):
            self.logger.warning("Unknown user for script %s - ignoring", command.command)
            return None
        key = (resolved, uid)
        if key not in self._verdicts:
            reason = self._refusal(resolved, uid if uid is not None else os.geteuid())
            self._verdicts[key] = reason
            if reason is not None:
                self.logger.warning(
                    "WARNING - script '%s' is not executable or is insecure (%s) - disabling",
                    command.command, reason,
                )
        if self._verdicts[key] is not None:
            return None
        return [*argv, *args]

    def _refusal(self, path: str, uid: int) -> str | None:
        """Why `path` may not run as `uid`: not executable, or (root, script security) unsafe."""
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            return f"{path} is not an executable file"
        if uid == 0 and self.global_defs.enable_script_security:
            return insecure_reason(path, uid)
        return None

    async def _spawn(self, command: Command, argv: list[str]) -> asyncio.subprocess.Process:
        who = self._switch_to(command)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            user=who.uid,
            group=who.gid,
            extra_groups=[] if who.gid is not None else None,
        )
        return proc

    def _switch_to(self, command: Command) -> Identity:
        """The identity to switch to, or an empty one when it is the daemon's own (or not root)."""
        try:
            who = self.identity(command)
        except (KeyError, ValueError):
            return Identity()
        if os.geteuid() != 0 or (who.uid == os.geteuid() and who.gid == os.getegid()):
            return Identity()
        return who

    async def _reap(self, command: Command, argv: list[str]) -> object:
        try:
            proc = await self._spawn(command, argv)
        except OSError as exc:
            self.logger.warning("Failed to exec %s: %s", argv[0], exc.strerror)
            return None
        code = await proc.wait()
        if code != 0:
            self.logger.info("Script %s exited with status %d", command.command, code)
        return code

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the script's session, SIGKILL it after a grace time, and reap it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), KILL_GRACE)
                break
            except asyncio.TimeoutError:
                continue
        # The script is gone; make sure children it left in its session go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
