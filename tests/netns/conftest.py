"""Fixtures for tests in real network namespaces: `lab` (the classic pair) and `lab_factory`."""

from fastvrrp.lab.pytest_fixtures import (
    keepalived_ready,
    lab,
    lab_factory,
    lab_namespaces_made,
    netns_ready,
)

__all__ = ["keepalived_ready", "lab", "lab_factory", "lab_namespaces_made", "netns_ready"]
