"""Command lines for the daemons a lab runs: keepalived (the reference) and fastvrrp."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DaemonFiles:
    """Where one daemon instance keeps its config and pid files (unique per instance)."""

    directory: Path

    @property
    def config(self) -> Path:
        """The config file."""
        return self.directory / "keepalived.conf"

    @property
    def pidfile(self) -> Path:
        """The main process pid file."""
        return self.directory / "main.pid"

    @property
    def vrrp_pidfile(self) -> Path:
        """keepalived's VRRP child pid file."""
        return self.directory / "vrrp.pid"

    @property
    def check_pidfile(self) -> Path:
        """keepalived's checker child pid file."""
        return self.directory / "check.pid"

    @property
    def log(self) -> Path:
        """stdout and stderr of the daemon."""
        return self.directory / "daemon.log"

    def write_config(self, text: str) -> None:
        """Create the directory and write the config."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text)


def keepalived_argv(files: DaemonFiles, extra_args: Sequence[str] = ()) -> list[str]:
    """keepalived in the foreground, logging to the console only (-G: syslog is slow here).

    Every instance gets its own pid files: keepalived refuses to start when they collide.
    """
    return [
        "keepalived", "-n", "-l", "-G", "-D",
        "-f", str(files.config),
        "-p", str(files.pidfile),
        "-r", str(files.vrrp_pidfile),
        "-c", str(files.check_pidfile),
        *extra_args,
    ]


def fastvrrp_argv(files: DaemonFiles, extra_args: Sequence[str] = ()) -> list[str]:
    """fastvrrp from this interpreter, in the foreground, logging to the console.

    Each daemon gets its own control socket beside its config, so several share a filesystem;
    a `--control-socket` in `extra_args` comes later and wins.
    """
    control = files.config.parent / "fastvrrp.sock"
    return [sys.executable, "-m", "fastvrrp", "run", "-n", "-l", "-f", str(files.config),
            "--control-socket", str(control), *extra_args]
