"""Logging set-up with keepalived's flags (-l console, -D detail, -G no syslog)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass

# keepalived's VRRP process logs as Keepalived_vrrp; operators grep for the message part.
LOGGER_NAME = "fastvrrp"


@dataclass(frozen=True)
class LogOptions:
    """Where log lines go and how much detail they carry."""

    console: bool = False
    detail: bool = False
    syslog: bool = True
    log_file: str | None = None


def configure_logging(options: LogOptions) -> logging.Logger:
    """Install handlers on the fastvrrp logger and return it."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if options.detail else logging.INFO)
    logger.propagate = False
    # keepalived -l prints "Fri Nov 27 10:03:56 2026: (VI_1) Entering MASTER STATE".
    console_format = logging.Formatter("%(asctime)s: %(message)s", datefmt="%a %b %d %H:%M:%S %Y")
    if options.console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(console_format)
        logger.addHandler(stream)
    if options.log_file:
        file_handler = logging.FileHandler(options.log_file)
        file_handler.setFormatter(console_format)
        logger.addHandler(file_handler)
    if options.syslog and os.path.exists("/dev/log"):
        try:
            sys_handler = logging.handlers.SysLogHandler(
                address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
        except OSError:
            sys_handler = None
        if sys_handler is not None:
            sys_handler.setFormatter(logging.Formatter("Fastvrrp[%(process)d]: %(message)s"))
            logger.addHandler(sys_handler)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger
