"""`check_file`: read, validate and resolve a keepalived.conf, as `keepalived -t` does."""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from typing import Any

from fastvrrp.config.diagnostics import Diagnostic, Diagnostics
from fastvrrp.config.keywords import TOP_BLOCK, Raw, read_block
from fastvrrp.config.model import Checker, Config, Location
from fastvrrp.config.reader import Reader, Statement
from fastvrrp.config.resolve import resolve
from fastvrrp.config.values import Context

_IFF_LOOPBACK = 0x8


@dataclass(frozen=True)
class CheckResult:
    """What checking a config found: the model (None if fatal), diagnostics and exit code."""

    config: Config | None
    diagnostics: tuple[Diagnostic, ...]
    exit_code: int

    def report(self) -> str:
        """The diagnostics as `FILE:LINE:COL: severity: message` lines."""
        return "".join(f"{d}\n" for d in self.diagnostics)


def default_config_id() -> str:
    """keepalived's default config-id: the host name up to the first dot."""
    return socket.gethostname().split(".", 1)[0]


def namespace_interfaces() -> tuple[frozenset[str], frozenset[str]]:
    """Interface names of the current network namespace, and which of them are loopbacks."""
    names = frozenset(name for _, name in socket.if_nameindex())
    loopbacks = set()
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/flags") as handle:
                if int(handle.read().strip(), 16) & _IFF_LOOPBACK:
                    loopbacks.add(name)
        except (OSError, ValueError):
            if name == "lo":
                loopbacks.add(name)
    return names, frozenset(loopbacks or {"lo"})


def check_file(path: str, config_id: str | None = None, *,
               interfaces: frozenset[str] | bool | None = True) -> CheckResult:
    """Read and check the config at `path`.

    `config_id` selects `@ID` lines (default: the short host name). `interfaces` is the set of
    interface names that exist; True (the default) reads the current network namespace, None
    skips interface checks.
    """
    diagnostics = Diagnostics()
    if interfaces is True:
        names, loopbacks = namespace_interfaces()
    elif interfaces is False or interfaces is None:
        names, loopbacks = None, frozenset({"lo"})
    else:
        names, loopbacks = interfaces, frozenset({"lo"})
    ctx = Context(diagnostics, names, loopbacks)
    if not os.path.exists(path):
        diagnostics.fatal(Location(path, 0, 0), f"config file '{path}' does not exist")
        return CheckResult(None, tuple(diagnostics.items), diagnostics.exit_code())
    raw: Raw = {}

    def read_top(statement: Statement) -> None:
        read_block(ctx, TOP_BLOCK, [statement], raw)

    reader = Reader(config_id if config_id is not None else default_config_id(), diagnostics,
                    on_statement=read_top)
    reader.read(path)
    if diagnostics.exit_code() == 4:
        return CheckResult(None, tuple(diagnostics.items), diagnostics.exit_code())
    config = resolve(ctx, raw, tuple(reader.files))
    return CheckResult(config, _in_file_order(diagnostics.items, reader.files),
                       diagnostics.exit_code())


def _in_file_order(items: list[Diagnostic], files: list[str]) -> tuple[Diagnostic, ...]:
    """Diagnostics sorted by file (in reading order), line and column; stable otherwise."""
    rank = {name: index for index, name in reversed(list(enumerate(files)))}
    return tuple(sorted(items, key=lambda d: (rank.get(d.location.file, -1), d.location.line,
                                              d.location.column)))


def to_jsonable(value: Any) -> Any:
    """The model as plain JSON values: dataclasses become objects (checkers get a `type`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if isinstance(value, Checker):
            out["type"] = _CHECKER_TYPES.get(type(value).__name__, type(value).__name__)
        for f in dataclasses.fields(value):
            out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


_CHECKER_TYPES = {
    "HttpGet": "HTTP_GET", "SslGet": "SSL_GET", "TcpCheck": "TCP_CHECK",
    "SmtpCheck": "SMTP_CHECK", "DnsCheck": "DNS_CHECK", "MiscCheck": "MISC_CHECK",
    "PingCheck": "PING_CHECK", "UdpCheck": "UDP_CHECK", "FileCheck": "FILE_CHECK",
}
