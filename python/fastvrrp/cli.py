"""The `fastvrrp` command line."""

from __future__ import annotations

import json
import sys

import click

from fastvrrp import NATIVE_BUILD, __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-v", "--version", message=f"fastvrrp %(version)s ({NATIVE_BUILD})"
)
def main() -> None:
    """fastvrrp: keepalived-compatible VRRP failover and load balancing."""


@main.command("check")
@click.option("-f", "--use-file", "config_file", default="/etc/keepalived/keepalived.conf",
              show_default=True, help="The keepalived.conf to check.")
@click.option("-i", "--config-id", default=None,
              help="Select @ID lines (default: the short host name).")
@click.option("--dump", is_flag=True, help="Print the resolved model as JSON on stdout.")
def check(config_file: str, config_id: str | None, dump: bool) -> None:
    """Check a config as `keepalived -t` does: exit 0 clean, 4 fatal, 5 errors or warnings."""
    try:
        from fastvrrp.config import check_file, to_jsonable

        result = check_file(config_file, config_id)
        sys.stderr.write(result.report())
        if dump and result.config is not None:
            json.dump(to_jsonable(result.config), sys.stdout, indent=2)
            sys.stdout.write("\n")
        code = result.exit_code
    except Exception as exc:  # the CLI boundary: report, never a traceback
        sys.stderr.write(f"{config_file}:0:0: fatal: internal error: {type(exc).__name__}: {exc}\n")
        code = 4
    sys.exit(code)


@main.command("run")
@click.option("-f", "--use-file", "config_file", default="/etc/keepalived/keepalived.conf",
              show_default=True, help="The keepalived.conf to run.")
@click.option("-n", "--dont-fork", is_flag=True,
              help="Stay in the foreground (fastvrrp always does; kept for keepalived's flags).")
@click.option("-l", "--log-console", is_flag=True, help="Log to the console (stderr).")
@click.option("-D", "--log-detail", is_flag=True, help="Detailed log messages.")
@click.option("-G", "--no-syslog", is_flag=True, help="Do not log to syslog.")
@click.option("-g", "--log-file", default=None, help="Also write log lines to this file.")
@click.option("-p", "--pid", "pidfile", default=None, help="Write the daemon's pid to this file.")
@click.option("-r", "--vrrp_pid", "vrrp_pidfile", default=None, hidden=True,
              help="Accepted for keepalived compatibility (one process: same as --pid).")
@click.option("-c", "--checkers_pid", "checkers_pidfile", default=None, hidden=True,
              help="Accepted for keepalived compatibility (one process: same as --pid).")
@click.option("-i", "--config-id", default=None,
              help="Select @ID lines (default: the short host name).")
@click.option("-t", "--config-test", is_flag=True,
              help="Check the config and exit, as `fastvrrp check` (keepalived's -t).")
def run(config_file: str, dont_fork: bool, log_console: bool, log_detail: bool, no_syslog: bool,
        log_file: str | None, pidfile: str | None, vrrp_pidfile: str | None,
        checkers_pidfile: str | None, config_id: str | None, config_test: bool) -> None:
    """Run the daemon on a keepalived.conf, in the foreground, until SIGTERM or SIGINT."""
    from fastvrrp.config import check_file
    from fastvrrp.observe.logs import LogOptions, configure_logging

    logger = configure_logging(LogOptions(console=log_console or config_test, detail=log_detail,
                                          syslog=not no_syslog and not config_test,
                                          log_file=log_file))
    try:
        result = check_file(config_file, config_id)
    except Exception as exc:  # the CLI boundary: report, never a traceback
        sys.stderr.write(f"{config_file}:0:0: fatal: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(4)
    for diagnostic in result.diagnostics:
        logger.warning("%s", diagnostic)
    if config_test or result.config is None:
        sys.exit(result.exit_code)
    logger.info("Starting fastvrrp %s (%s)", __version__, NATIVE_BUILD)
    logger.info("Configuration file %s", config_file)
    import asyncio

    from fastvrrp.daemon import Daemon

    daemon = Daemon(result.config, logger, pidfile=pidfile or vrrp_pidfile or checkers_pidfile)
    try:
        code = asyncio.run(daemon.run())
    except OSError as exc:
        logger.error("cannot run: %s", exc)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
