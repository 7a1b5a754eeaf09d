"""Fixtures for tests against keepalived: the same lab fixtures as tests/netns."""

from fastvrrp.lab.pytest_fixtures import (
    keepalived_ready,
    lab,
    lab_factory,
    lab_namespaces_made,
    netns_ready,
)

__all__ = ["keepalived_ready", "lab", "lab_factory", "lab_namespaces_made", "netns_ready"]
