"""keepalived's tracking arithmetic, in one place: weights, reverse, faults and the clamp.

- weight 0: the instance faults while the tracker is down (with `reverse`: while it is up);
- a positive weight is added while the tracker is up, a negative one added while it is down;
  `reverse` turns the adjustment around (a positive weight is subtracted while up, a negative
  one is added back while down);
- track_file: the file's value times the weight (negated by `reverse`); below -253 is a fault,
  and with weight 0 any non-zero value is;
- the effective priority is the base plus every adjustment, clamped to 1..254, and an owner's
  255 never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OWNER_PRIORITY = 255
#: A track_file result below this faults the instance.
FILE_FAULT_BELOW = -253


@dataclass(frozen=True)
class Effect:
    """What one tracker does to one instance now: a priority change, or a fault (with why)."""

    delta: int = 0
    fault: str | None = None


def status_effect(name: str, ok: bool, weight: int, reverse: bool) -> Effect:
    """The effect of an up/down tracker (script, interface, process) with `weight [reverse]`."""
    if weight == 0:
        failing = ok if reverse else not ok
        return Effect(fault=f"{name} {'up' if ok else 'down'}" if failing else None)
    if ok == (weight > 0):
        return Effect(delta=-weight if reverse else weight)
    return Effect()


def file_effect(name: str, value: int, weight: int, reverse: bool) -> Effect:
    """The effect of a track_file holding `value`, with `weight [reverse]`."""
    if weight == 0:
        return Effect(fault=f"{name} value {value}" if value != 0 else None)
    result = value * weight * (-1 if reverse else 1)
    if result < FILE_FAULT_BELOW:
        return Effect(fault=f"{name} value {value}")
    return Effect(delta=result)


def clamp(base: int, total: int) -> int:
    """keepalived's effective priority: owner stays 255, everything else within 1..254."""
    if base == OWNER_PRIORITY:
        return OWNER_PRIORITY
    return max(1, min(254, base + total))


@dataclass
class InstanceTracking:
    """Every tracker's current effect on one instance, and the priority and fault they add up to."""

    name: str
    base: int
    effects: dict[str, Effect] = field(default_factory=dict)

    def set(self, source: str, effect: Effect) -> None:
        """Record `source`'s current effect."""
        self.effects[source] = effect

    @property
    def priority(self) -> int:
        """The effective priority (base plus the deltas, clamped)."""
        return clamp(self.base, sum(e.delta for e in self.effects.values()))

    @property
    def fault(self) -> str | None:
        """The first fault reason, or None when no tracker faults the instance."""
        for source, effect in sorted(self.effects.items()):
            if effect.fault is not None:
                return effect.fault or source
        return None
