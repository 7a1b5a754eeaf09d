"""Fixtures for tests against keepalived: the lab fixtures of tests/netns, and a `lab` that
skips when keepalived cannot run here (every test in this folder runs it)."""

from typing import Any

import pytest

from fastvrrp.lab import Lab
from fastvrrp.lab.pytest_fixtures import (
    keepalived_ready,
    lab_factory,
    lab_namespaces_made,
    netns_ready,
)

__all__ = ["keepalived_ready", "lab", "lab_factory", "lab_namespaces_made", "netns_ready"]


@pytest.fixture
def lab(keepalived_ready: str | None, lab_factory: Any) -> Lab:
    """The classic pair, or a skip when keepalived cannot run here."""
    if keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    made: Lab = lab_factory()
    return made
