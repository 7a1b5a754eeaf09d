"""Argument parsing shared by the keyword handlers: numbers, booleans, addresses, commands.

Each parser reports into the context's diagnostics with keepalived's wording and returns None
when the value is unusable, so the caller keeps its default.
"""

from __future__ import annotations

import math
import re
import socket
from dataclasses import dataclass

from fastvrrp.config.diagnostics import Diagnostics
from fastvrrp.config.model import Command
from fastvrrp.config.reader import Statement

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)\Z")
BOOL_WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


@dataclass
class Context:
    """What handlers need while reading: where to report, and which interfaces exist."""

    diagnostics: Diagnostics
    #: Interfaces of the network namespace the check runs in; None skips interface checks.
    interfaces: frozenset[str] | None = None
    loopbacks: frozenset[str] = frozenset({"lo"})
    #: Rules without a preference get keepalived's descending defaults from here.
    next_rule_preference: int = 16384
    #: Set once an interface was found missing: keepalived then skips its script checks.
    saw_missing_interface: bool = False

    def interface_missing(self, name: str) -> bool:
        """True when interface checks are on and `name` is not in the namespace."""
        missing = self.interfaces is not None and name not in self.interfaces
        if missing:
            self.saw_missing_interface = True
        return missing


def missing_parameter(ctx: Context, st: Statement, position: int = 1) -> None:
    """keepalived's complaint for a keyword without its value."""
    ctx.diagnostics.error(
        st.location,
        f"Configuration line starting `{st.keyword}` is missing a parameter after keyword "
        f"`{st.keyword}` at word position {position + 1}",
    )


def arg(ctx: Context, st: Statement, index: int = 0) -> str | None:
    """Argument `index`, or None (reported) when it is missing."""
    if index < len(st.args):
        return st.args[index]
    missing_parameter(ctx, st, index + 1)
    return None


def parse_int(ctx: Context, st: Statement, index: int, low: int, high: int,
              text: str | None = None) -> int | None:
    """An integer argument within [low, high]."""
    if text is None:
        text = arg(ctx, st, index)
        if text is None:
            return None
    try:
        value = int(text, 10)
    except ValueError:
        ctx.diagnostics.error(st.arg_location(index), f"invalid number '{text}'")
        return None
    if not low <= value <= high:
        ctx.diagnostics.error(st.arg_location(index),
                              f"number '{text}' outside range [{low}, {high}]")
        return None
    return value


def parse_float(ctx: Context, st: Statement, index: int, low: float, high: float,
                text: str | None = None) -> float | None:
    """A decimal argument (seconds) within [low, high]."""
    if text is None:
        text = arg(ctx, st, index)
        if text is None:
            return None
    # keepalived reads plain decimals only: no exponent, inf, nan or underscores.
    if not _DECIMAL.match(text):
        ctx.diagnostics.error(st.arg_location(index), f"invalid number '{text}'")
        return None
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        ctx.diagnostics.error(st.arg_location(index),
                              f"number '{text}' outside range [{low:f}, {high:f}]")
        return None
    return value


def parse_bool(ctx: Context, st: Statement, index: int = 0) -> bool | None:
    """An optional BOOL argument: absent means true."""
    if index >= len(st.args):
        return True
    text = st.args[index]
    value = BOOL_WORDS.get(text.lower())
    if value is None:
        ctx.diagnostics.error(st.arg_location(index), f"invalid boolean '{text}'")
    return value


def parse_address(text: str) -> str | None:
    """A normalised IP address, or None."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        # inet_pton/ntop: the C parser, much cheaper than ipaddress on big configs.
        return socket.inet_ntop(family, socket.inet_pton(family, text.split("%", 1)[0]))
    except (OSError, ValueError):
        return None


def parse_prefix(text: str) -> tuple[str, int | None] | None:
    """`ADDR[/LEN]` as (normalised address, length or None); None if the address is bad."""
    address, _, length = text.partition("/")
    normal = parse_address(address)
    if normal is None:
        return None
    if not length:
        return normal, None
    try:
        return normal, int(length, 10)
    except ValueError:
        return None


def parse_command(ctx: Context, st: Statement, index: int = 0) -> Command | None:
    """`SCRIPT [user [group]]`, as notify_* and quorum_* take it."""
    text = arg(ctx, st, index)
    if text is None:
        return None
    user = st.args[index + 1] if len(st.args) > index + 1 else None
    group = st.args[index + 2] if len(st.args) > index + 2 else None
    return Command(text, user, group, st.location)
