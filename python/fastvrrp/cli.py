"""The `fastvrrp` command line."""

from __future__ import annotations

import json
import os
import sys

import click

from fastvrrp import NATIVE_BUILD, __version__

DEFAULT_CONTROL_SOCKET = "/run/fastvrrp/fastvrrp.sock"


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
            try:
                json.dump(to_jsonable(result.config), sys.stdout, indent=2)
                sys.stdout.write("\n")
                sys.stdout.flush()
            except BrokenPipeError:
                # `fastvrrp check --dump | head`: the reader left; that is not an error.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = result.exit_code
    except Exception as exc:  # the CLI boundary: report, never a traceback
        sys.stderr.write(f"{config_file}:0:0: fatal: internal error: {type(exc).__name__}: {exc}\n")
        code = 4
    sys.exit(code)


@main.command("status")
@click.option("--control-socket", default=DEFAULT_CONTROL_SOCKET, show_default=True,
              help="The daemon's control socket (as given to `fastvrrp run`).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the live JSON (keepalived's data/stats names per instance).")
def status(control_socket: str, as_json: bool) -> None:
    """Show every instance of a running daemon: state, priorities, master, VIPs, trackers, stats."""
    from fastvrrp.observe.control import ControlError, query
    from fastvrrp.observe.status import status_text

    try:
        snap = query(control_socket)
    except ControlError as exc:
        sys.stderr.write(f"fastvrrp status: {exc}\n")
        sys.exit(1)
    if as_json:
        json.dump(snap, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(status_text(snap))


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
@click.option("-S", "--log-facility", type=click.IntRange(0, 7), default=None,
              help="Syslog facility LOG_LOCAL0..7 (default: LOG_DAEMON), as keepalived's -S.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Console and log-file lines: keepalived's text or JSON.")
@click.option("--control-socket", default=DEFAULT_CONTROL_SOCKET, show_default=True,
              help="Serve live status on this unix socket ('' for none).")
@click.option("--metrics", default=None, metavar="ADDR:PORT",
              help="Serve Prometheus metrics at http://ADDR:PORT/metrics.")
@click.option("--dump-dir", default="/tmp", show_default=True,
              help="Where USR1/USR2/JSON signals write keepalived.data/.stats/.json.")
@click.option("-I", "--dont-release-ipvs", is_flag=True,
              help="Leave the load-balancer table (IPVS or nftables) in place on stop.")
@click.option("--no-realtime", is_flag=True,
              help="Keep the VRRP engine thread on normal scheduling when the config sets no "
                   "vrrp_rt_priority (by default it runs SCHED_RR priority 2).")
def run(config_file: str, dont_fork: bool, log_console: bool, log_detail: bool, no_syslog: bool,
        log_file: str | None, pidfile: str | None, vrrp_pidfile: str | None,
        checkers_pidfile: str | None, config_id: str | None, config_test: bool,
        log_facility: int | None, log_format: str, control_socket: str, metrics: str | None,
        dump_dir: str, dont_release_ipvs: bool, no_realtime: bool) -> None:
    """Run the daemon on a keepalived.conf, in the foreground, until SIGTERM or SIGINT.

    SIGHUP reloads the config; USR1, USR2 and SIGRTMIN+2 write keepalived's dump files.
    """
    import signal

    # A SIGHUP before the reload handler is installed must not kill the daemon.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from fastvrrp.config import check_file
    from fastvrrp.observe.logs import LogOptions, configure_logging

    if metrics:
        from fastvrrp.observe.metrics import parse_address

        try:
            parse_address(metrics)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics") from None
    logger = configure_logging(LogOptions(console=log_console or config_test, detail=log_detail,
                                          syslog=not no_syslog and not config_test,
                                          log_file=log_file, facility=log_facility,
                                          format="json" if log_format == "json" else "text"))
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
    from fastvrrp.observe import ObserveOptions, observers_for

    daemon = Daemon(result.config, logger, pidfile=pidfile or vrrp_pidfile or checkers_pidfile,
                    config_file=config_file, keep_lvs=dont_release_ipvs,
                    realtime=not no_realtime)
    daemon.observers = observers_for(
        ObserveOptions(config_file=config_file, config_id=config_id,
                       control_socket=control_socket or None, metrics=metrics,
                       dump_directory=dump_dir), logger)
    try:
        code = asyncio.run(daemon.run())
    except OSError as exc:
        logger.error("cannot run: %s", exc)
        code = 1
    sys.exit(code)


def _need_root(what: str) -> None:
    import os

    if os.geteuid() != 0:
        raise click.ClickException(
            f"{what} needs root: it builds network namespaces (try: sudo fastvrrp {what})")


@main.command("demo")
@click.option("--advert", type=float, default=1.0, show_default=True,
              help="advert_int in seconds; below 1 the pair runs VRRPv3 without auth.")
@click.option("--keep", is_flag=True,
              help="Leave the lab up at the end and print how to enter it (Ctrl-C tears it down).")
def demo(advert: float, keep: bool) -> None:
    """Fail over a fastvrrp pair in namespaces, live: takeover, failback, measured (root)."""
    _need_root("demo")
    from fastvrrp.lab.demo import DemoError, run_demo

    try:
        sys.exit(run_demo(advert=advert, keep=keep))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("bench")
@click.option("--daemon", "daemons", multiple=True, default=("fastvrrp",), show_default=True,
              type=click.Choice(["fastvrrp", "fastvrrp-no-realtime", "keepalived"]),
              help="Repeat to compare: daemons alternate trial by trial. fastvrrp-no-realtime is "
                   "`fastvrrp run --no-realtime` (normal scheduling, as keepalived's default).")
@click.option("--scenario", "scenarios", multiple=True, show_default=True,
              type=click.Choice(["takeover", "jitter", "scale", "mass"]),
              help="Repeatable; default: all four.")
@click.option("--fail", "fails", multiple=True, default=("link",), show_default=True,
              type=click.Choice(["link", "kill", "stop", "term"]),
              help="How the master fails (takeover, mass); repeatable.")
@click.option("--load", "loads", multiple=True, type=int, default=(0,), show_default=True,
              help="Busy processes during jitter windows; repeatable (e.g. --load 0 --load 4).")
@click.option("--advert", type=float, default=0.1, show_default=True,
              help="advert_int for takeover and mass (s).")
@click.option("--version", "vrrp_version", type=click.Choice(["2", "3"]), default="3",
              show_default=True, help="VRRP version.")
@click.option("--trials", type=int, default=10, show_default=True,
              help="Trials per daemon and setting (takeover, mass).")
@click.option("--jitter-interval", type=float, default=0.01, show_default=True,
              help="advert_int of the jitter scenario (s).")
@click.option("--window", type=float, default=10.0, show_default=True,
              help="Seconds measured per jitter and scale window.")
@click.option("--instances", type=int, default=255, show_default=True,
              help="Instances for the scale scenario.")
@click.option("--scale-interval", type=float, default=0.01, show_default=True,
              help="advert_int of the scale scenario (s).")
@click.option("--vips", type=int, default=100, show_default=True,
              help="VIPs (one instance each) failed at once in the mass scenario.")
@click.option("--rt-priority", type=int, default=None,
              help="vrrp_rt_priority for both daemons (SCHED_RR), as keepalived.conf says it.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None,
              help="Write the results (with machine, versions, settings) here.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG: takeover histograms, jitter CDF (needs matplotlib).")
def bench(daemons: tuple[str, ...], scenarios: tuple[str, ...], fails: tuple[str, ...],
          loads: tuple[int, ...], advert: float, vrrp_version: str, trials: int,
          jitter_interval: float, window: float, instances: int, scale_interval: float,
          vips: int, rt_priority: int | None, json_file: str | None,
          plot_file: str | None) -> None:
    """Measure takeover, advert jitter, CPU at scale and mass failover in namespaces (root)."""
    _need_root("bench")
    from fastvrrp.bench.cli import run_cli

    sys.exit(run_cli(
        daemons=daemons, scenarios=scenarios, fails=fails, loads=loads, advert=advert,
        version=int(vrrp_version), trials=trials, jitter_interval=jitter_interval, window=window,
        instances=instances, scale_interval=scale_interval, vips=vips, json_file=json_file,
        plot_file=plot_file, rt_priority=rt_priority))


@main.command("genhash")
@click.option("-s", "--server", required=True, help="The remote server's address.")
@click.option("-p", "--port", type=int, default=None, help="Its port (80, or 443 with -S).")
@click.option("-u", "--url", default="/", show_default=True, help="The path to GET.")
@click.option("-S", "--use-ssl", is_flag=True, help="Use TLS (the server is not verified).")
@click.option("-I", "--use-sni", "sni", is_flag=True, help="Send the virtualhost as SNI.")
@click.option("-V", "--use-virtualhost", "virtualhost", default=None,
              help="The Host header (default: SERVER:PORT).")
@click.option("-H", "--hash", "hash_name", type=click.Choice(["md5"]), default="md5",
              help="The digest algorithm (md5, as HTTP_GET's digest).")
@click.option("-P", "--protocol", type=click.Choice(["1.0", "1.0c", "1.0C", "1.1"]),
              default="1.0", show_default=True, help="HTTP version of the request.")
@click.option("-t", "--timeout", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("-m", "--fwmark", type=int, default=None, help="Mark the request's packets.")
@click.option("-i", "--bind-interface", default=None, help="Send through this interface.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the headers and status.")
def genhash(server: str, port: int | None, url: str, use_ssl: bool, sni: bool,
            virtualhost: str | None, hash_name: str, protocol: str, timeout: float,
            fwmark: int | None, bind_interface: str | None, verbose: bool) -> None:
    """Fetch a URL as HTTP_GET/SSL_GET does and print the MD5 of the body (keepalived's genhash)."""
    from fastvrrp.check.genhash import GenhashRequest
    from fastvrrp.check.genhash import genhash as run_genhash

    request = GenhashRequest(server, port or (443 if use_ssl else 80), url, use_ssl, virtualhost,
                             protocol.upper(), timeout, fwmark, bind_interface, sni)
    sys.exit(run_genhash(request, verbose))


if __name__ == "__main__":
    main()
