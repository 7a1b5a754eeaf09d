"""Telling the outside world: notify scripts, notify FIFOs and SMTP alerts.

The pieces other subsystems reuse (LVS notify_up/notify_down, `VS`/`RS` FIFO lines):

- `ScriptRunner.run(command, args)`: fire-and-forget, reaped by the loop, never a zombie;
  `ScriptRunner.check(command, timeout)`: exit code with a timeout (SIGTERM, then SIGKILL).
- `FifoWriter(fifo, logger, script, runner)`: `open()`, then `write(line)` in order, never blocking.
- `SmtpAlerter(global_defs, logger).send(Alert(subject, body))`: background delivery.
"""

from fastvrrp.notify.fifo import FifoWriter, group_line, instance_line
from fastvrrp.notify.runner import ScriptResult, ScriptRunner, insecure_reason, split_command
from fastvrrp.notify.smtp import Alert, SmtpAlerter, group_alert, instance_alert, router_id
from fastvrrp.notify.vrrp import VrrpNotifier

__all__ = [
    "Alert",
    "FifoWriter",
    "ScriptResult",
    "ScriptRunner",
    "SmtpAlerter",
    "VrrpNotifier",
    "group_alert",
    "group_line",
    "insecure_reason",
    "instance_alert",
    "instance_line",
    "router_id",
    "split_command",
]
