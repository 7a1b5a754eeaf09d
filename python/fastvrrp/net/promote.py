"""`promote_secondaries`: keep the other addresses of a subnet when its primary is removed.

Linux deletes every secondary address of a subnet with its primary unless the interface's
`promote_secondaries` sysctl is set; a VIP in the interface's own subnet is such a secondary.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fastvrrp.config.model import VrrpInstance


def _sysctl(ifname: str) -> Path:
    return Path("/proc/sys/net/ipv4/conf") / ifname / "promote_secondaries"


@dataclass
class PromoteSecondaries:
    """The interfaces on which fastvrrp set the flag, with the value each had before."""

    logger: logging.Logger
    before: dict[str, str] = field(default_factory=dict)

    def apply(self, instances: Iterable[VrrpInstance]) -> None:
        """Set the flag on the interface of every instance that asks for it (use_vmac does)."""
        for instance in instances:
            ifname = instance.use_vmac or instance.interface
            if instance.promote_secondaries and ifname and ifname not in self.before:
                self._set(ifname)

    def _set(self, ifname: str) -> None:
        path = _sysctl(ifname)
        try:
            old = path.read_text().strip()
            if old != "1":
                path.write_text("1\n")
        except OSError as exc:
            self.logger.warning("cannot set promote_secondaries on %s: %s", ifname,
                                exc.strerror or exc)
            return
        self.before[ifname] = old

    def restore(self) -> None:
        """Put back what each interface had (one that has gone needs nothing)."""
        for ifname, old in self.before.items():
            if old == "1":
                continue
            with contextlib.suppress(OSError):  # the interface has gone: nothing to restore
                _sysctl(ifname).write_text(f"{old}\n")
        self.before.clear()
