"""vrrp_sync_group: members fault together, and the group has its own state for notify.

What fastvrrp does, after keepalived:
- a member that faults on its own (interface, or a tracker) faults every other member
  ("sync group" fault), and they all leave FAULT when no member has a fault of its own;
- the group becomes FAULT, MASTER or BACKUP once every member is in that state (a member's
  fault brings every member to FAULT); the group's notify scripts, FIFO line and mail follow;
- the group's track_* entries apply to every member; members' own tracking weights count as 0
  (fault on failure) unless the group says `sync_group_tracking_weight`.

Moving the other members to MASTER or BACKUP when one member changes is the engine's job (each
InstanceSpec names its `sync_group`); see docs/trackers-and-notify.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastvrrp.config.model import VrrpSyncGroup


@dataclass
class SyncGroupState:
    """One sync group's members: their states and whether each has a fault of its own."""

    group: VrrpSyncGroup
    states: dict[str, str] = field(default_factory=dict)
    own_faults: dict[str, bool] = field(default_factory=dict)
    state: str | None = None

    @property
    def name(self) -> str:
        """The group's name."""
        return self.group.name

    @property
    def members(self) -> tuple[str, ...]:
        """The member instances' names."""
        return self.group.group

    def sync_fault(self, member: str) -> str | None:
        """Why `member` is faulted by the group (another member's own fault), or None."""
        for other in self.members:
            if other != member and self.own_faults.get(other, False):
                return f"sync group {self.name}: {other} in fault"
        return None

    def set_own_fault(self, member: str, faulted: bool) -> None:
        """Record whether `member` has a fault of its own."""
        self.own_faults[member] = faulted

    def member_entered(self, member: str, state: str) -> str | None:
        """Record `member`'s new state; return the group's new state when it changes."""
        self.states[member] = state
        states = [self.states.get(m) for m in self.members]
        new: str | None = None
        if all(s == "FAULT" for s in states):
            new = "FAULT"  # keepalived announces it once every member is in FAULT
        elif all(s == "MASTER" for s in states):
            new = "MASTER"
        elif all(s == "BACKUP" for s in states):
            new = "BACKUP"
        elif all(s == "STOP" for s in states):
            new = "STOP"
        if new is None or new == self.state:
            return None
        self.state = new
        return new
