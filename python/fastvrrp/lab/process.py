"""Background processes started in a lab namespace, each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


class LabProcess:
    """A process running in a lab namespace (`ip netns exec NS argv`), in its own session.

    stdout and stderr go to `log_path`. Use `stop()` to end it; the lab stops whatever is still
    running at teardown.
    """

    def __init__(
        self,
        host: str,
        namespace: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.namespace = namespace
        self.argv = tuple(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self._popen = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group; Ctrl-C on the terminal misses it
                pass_fds=tuple(pass_fds),
                env=env,
            )

    def __repr__(self) -> str:
        return f"LabProcess({self.host}, pid={self.pid}, argv={list(self.argv)!r})"

    @property
    def pid(self) -> int:
        """The process id (also its process group id); `ip netns exec` execs in place."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while running."""
        return self._popen.poll()

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self._popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the process itself (not its group), e.g. SIGHUP to reload a daemon."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the whole process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit status; None if still running after `timeout` seconds."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int | None:
        """Send `sig` to the process, wait up to `timeout`, then SIGKILL the group.

        Returns the exit status. Leftover members of the group are killed too.
        """
        self.send_signal(sig)
        code = self.wait(timeout)
        self.kill_group(signal.SIGKILL)
        if code is None:
            code = self.wait(timeout)
        return code

    def log_text(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
