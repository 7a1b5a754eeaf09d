"""Comparing config blocks across a reload, where only what they say matters."""

from __future__ import annotations

import dataclasses
from typing import Any


def without_locations(value: Any) -> Any:
    """`value` (a config block) as a comparable tuple, its source locations left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, without_locations(getattr(value, f.name)))
                     for f in dataclasses.fields(value) if f.name != "location")
    if isinstance(value, tuple):
        return tuple(without_locations(v) for v in value)
    return value


def same_block(old: Any, new: Any, *ignore: str) -> bool:
    """Whether two config blocks say the same, wherever they were written (reload's diff).

    Fields named in `ignore` are not compared.
    """
    def view(block: Any) -> Any:
        plain = without_locations(block)
        if not ignore or not isinstance(plain, tuple):
            return plain
        return tuple(item for item in plain if item[0] not in ignore)
    return bool(view(old) == view(new))
