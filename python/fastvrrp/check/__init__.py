"""Health checkers: one probe class per keepalived checker, run on asyncio with hard deadlines."""

from fastvrrp.check.base import CheckFailed, Outcome, Probe, Target
from fastvrrp.check.build import probe_for, schedule_for, target_for
from fastvrrp.check.runner import CheckRunner, Schedule

__all__ = ["CheckFailed", "CheckRunner", "Outcome", "Probe", "Schedule", "Target", "probe_for",
           "schedule_for", "target_for"]
