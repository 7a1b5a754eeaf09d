"""Diagnostics: what the reader and the checks say about a config, with where they say it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fastvrrp.config.model import Location

#: fatal: the config cannot be used at all (exit 4).
#: error: a part of the config is dropped or replaced by a default (exit 5).
#: warning: keepalived warns too; the config runs (exit 5).
#: note: fastvrrp-only remarks, e.g. a keyword fastvrrp does not support yet (exit unchanged).
Severity = Literal["fatal", "error", "warning", "note"]

EXIT_OK = 0
EXIT_FATAL = 4
EXIT_ERRORS = 5
#: keepalived -t's code when scripts would run as root without enable_script_security (and,
#: in 2.2.7, when a checked include is missing).
EXIT_SECURITY = 6


@dataclass(frozen=True)
class Diagnostic:
    """One complaint about the config, at a location."""

    location: Location
    severity: Severity
    message: str

    def __str__(self) -> str:
        loc = self.location
        return f"{loc.file}:{loc.line}:{loc.column}: {self.severity}: {self.message}"


@dataclass
class Diagnostics:
    """The diagnostics collected while reading one config, in the order found."""

    items: list[Diagnostic] = field(default_factory=list)
    #: Set when scripts would run as root without enable_script_security (exit 6).
    security_error: bool = False
    #: Set when an includem/includew/includeb/includea file is missing (exit 6, as 2.2.7).
    missing_include: bool = False

    def add(self, location: Location, severity: Severity, message: str) -> None:
        """Record one diagnostic."""
        self.items.append(Diagnostic(location, severity, message))

    def fatal(self, location: Location, message: str) -> None:
        """Record that the config cannot be used."""
        self.add(location, "fatal", message)

    def error(self, location: Location, message: str) -> None:
        """Record that part of the config is dropped or defaulted."""
        self.add(location, "error", message)

    def warning(self, location: Location, message: str) -> None:
        """Record a warning keepalived also gives."""
        self.add(location, "warning", message)

    def note(self, location: Location, message: str) -> None:
        """Record a fastvrrp-only remark that does not change the exit code."""
        self.add(location, "note", message)

    def exit_code(self) -> int:
        """keepalived -t's exit code: 0 clean, 4 fatal, 6 script security, 5 runnable."""
        severities = {d.severity for d in self.items}
        if "fatal" in severities:
            return EXIT_FATAL
        if self.security_error or self.missing_include:
            return EXIT_SECURITY
        if "error" in severities or "warning" in severities:
            return EXIT_ERRORS
        return EXIT_OK
