"""The `fastvrrp` command line."""

from __future__ import annotations

import click

from fastvrrp import NATIVE_BUILD, __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-v", "--version", message=f"fastvrrp %(version)s ({NATIVE_BUILD})"
)
def main() -> None:
    """fastvrrp: keepalived-compatible VRRP failover and load balancing."""


if __name__ == "__main__":
    main()
