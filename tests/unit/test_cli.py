"""The command line a user types first."""

from click.testing import CliRunner

import fastvrrp
from fastvrrp.cli import main


def test_version_reports_package_and_native_build() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert fastvrrp.__version__ in result.output
    assert "fastvrrp-core" in result.output


def test_help_lists_usage() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
