"""The `_native.pyi` stub matches the built extension (mypy.stubtest), as pydantic-core does."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

# pyo3 fills the module's __all__ itself; the stub declares each name instead.
ALLOWLIST = "fastvrrp._native.__all__\n"


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_native_stub_matches_the_extension(tmp_path: Path) -> None:
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(ALLOWLIST)
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fastvrrp._native", "--allowlist", str(allowlist)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
