"""FILE_CHECK: the number in a track_file fails the server or adjusts its weight."""

from __future__ import annotations

from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome

#: A weighted value at or below this is a failure, as keepalived treats -254 and under.
FAILED = -254


def read_value(path: str) -> int:
    """The integer at the start of the file; a missing or unreadable file counts as 0."""
    try:
        with open(path) as handle:
            text = handle.read(64).split()
    except OSError:
        return 0
    try:
        return int(text[0]) if text else 0
    except ValueError:
        return 0


@dataclass
class FileProbe:
    """Weight 0: any non-zero value fails. Otherwise value x weight (negated if reverse)."""

    path: str
    deadline: float
    weight: int = 1
    reverse: bool = False

    async def attempt(self) -> Outcome:
        """Read the file once."""
        value = read_value(self.path)
        if self.weight == 0:
            if value:
                raise CheckFailed(f"track file {self.path} value {value}")
            return Outcome()
        delta = value * self.weight * (-1 if self.reverse else 1)
        if delta <= FAILED:
            raise CheckFailed(f"track file {self.path} value {value}")
        return Outcome(weight_delta=delta)
