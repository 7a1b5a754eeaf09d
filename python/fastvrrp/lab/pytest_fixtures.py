"""pytest fixtures for lab tests; conftest files import them by name.

    from fastvrrp.lab.pytest_fixtures import lab, lab_factory, lab_namespaces_made, netns_ready
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastvrrp.lab import netns
from fastvrrp.lab.lab import Lab
from fastvrrp.lab.topology import Topology

LabFactory = Callable[..., Lab]


def _netns_unusable_reason() -> str | None:
    if os.geteuid() != 0:
        return "netns tests need root (they create network namespaces)"
    if shutil.which("ip") is None:
        return "netns tests need iproute2's `ip`"
    name = "fvchk" + secrets.token_hex(3)
    try:
        netns.create([name])
    except (netns.NamespaceError, OSError) as exc:
        return f"`ip netns add` does not work here: {exc}"
    finally:
        netns.delete([name])
    return None


@pytest.fixture(scope="session")
def netns_ready() -> str | None:
    """None if namespaces can be made here, else the reason they cannot."""
    return _netns_unusable_reason()


@pytest.fixture(scope="session")
def lab_namespaces_made() -> Iterator[list[str]]:
    """Every namespace a lab fixture made in this session; checked to be gone at the end."""
    netns.sweep_stale()  # labs of earlier runs that were SIGKILLed
    made: list[str] = []
    yield made
    left = [n for n in made if netns.exists(n)]
    if left:
        netns.kill_all_in(left)
        netns.delete(left)
        pytest.fail(f"lab namespaces were left behind (deleted now): {left}")


@pytest.fixture
def lab_factory(
    netns_ready: str | None, lab_namespaces_made: list[str], tmp_path: Path
) -> Iterator[LabFactory]:
    """Build labs for custom topologies: `lab_factory(topology, **Lab kwargs)`; all torn down."""
    if netns_ready is not None:
        pytest.skip(netns_ready)
    labs: list[Lab] = []

    def make(topology: Topology | None = None, **kwargs: object) -> Lab:
        kwargs.setdefault("workdir", tmp_path / f"lab{len(labs)}")
        lab = Lab(topology, **kwargs)  # type: ignore[arg-type]
        lab_namespaces_made.extend(lab.namespaces)
        labs.append(lab)
        return lab.up()

    yield make
    for lab in reversed(labs):
        lab.close()


@pytest.fixture
def lab(lab_factory: LabFactory) -> Lab:
    """The classic VRRP pair: r1 .1, r2 .2, client .10 on 198.18.0.0/24, all on `eth0`."""
    return lab_factory()


@pytest.fixture(scope="session")
def keepalived_ready() -> str | None:
    """None if keepalived can run here, else the reason it cannot."""
    path = shutil.which("keepalived")
    if path is None:
        return "keepalived is not installed"
    proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"keepalived --version failed: {proc.stderr.strip()}"
    return None
