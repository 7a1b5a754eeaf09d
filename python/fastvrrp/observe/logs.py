"""Logging with keepalived's flags (-l console, -D detail, -G no syslog, -S facility, -g file).

`--log-format json` writes one JSON object per line to the console and the log file, for log
shippers; syslog keeps keepalived's plain text, which is what operators grep.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

# keepalived's VRRP process logs as Keepalived_vrrp; operators grep for the message part.
LOGGER_NAME = "fastvrrp"

LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class LogOptions:
    """Where log lines go and how much detail they carry."""

    console: bool = False
    detail: bool = False
    syslog: bool = True
    log_file: str | None = None
    #: keepalived's -S: 0..7 selects LOG_LOCAL0..LOG_LOCAL7; None is LOG_DAEMON.
    facility: int | None = None
    format: LogFormat = "text"


def syslog_facility(local: int | None) -> int:
    """The syslog facility for keepalived's `-S N` (LOG_LOCALN), LOG_DAEMON without it."""
    handler = logging.handlers.SysLogHandler
    if local is None:
        return handler.LOG_DAEMON
    if not 0 <= local <= 7:
        raise ValueError(f"log facility {local} is not in 0..7")
    return handler.LOG_LOCAL0 + local


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC), level, message, pid, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="microseconds"
            ),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(options: LogOptions) -> logging.Logger:
    """Install handlers on the fastvrrp logger and return it."""
    logger = logging.getLogger(LOGGER_NAME)
    for old in logger.handlers:
        old.close()
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if options.detail else logging.INFO)
    logger.propagate = False
    line_format: logging.Formatter
    if options.format == "json":
        line_format = JsonLineFormatter()
    else:
        # keepalived -l prints "Fri Nov 27 10:03:56 2026: (VI_1) Entering MASTER STATE".
        line_format = logging.Formatter("%(asctime)s: %(message)s", datefmt="%a %b %d %H:%M:%S %Y")
    if options.console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(line_format)
        logger.addHandler(stream)
    if options.log_file:
        file_handler = logging.FileHandler(options.log_file)
        file_handler.setFormatter(line_format)
        logger.addHandler(file_handler)
    if options.syslog and os.path.exists("/dev/log"):
        try:
            sys_handler = logging.handlers.SysLogHandler(
                address="/dev/log", facility=syslog_facility(options.facility)
            )
        except OSError:
            sys_handler = None
        if sys_handler is not None:
            sys_handler.setFormatter(logging.Formatter("Fastvrrp[%(process)d]: %(message)s"))
            logger.addHandler(sys_handler)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger
