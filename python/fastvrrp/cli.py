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


if __name__ == "__main__":
    main()
