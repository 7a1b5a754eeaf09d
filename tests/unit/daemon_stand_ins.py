"""Stand-ins for the daemon and its engine, for unit tests of the services (no network)."""

from __future__ import annotations

from pathlib import Path

from fastvrrp.config import check_file
from fastvrrp.config.model import Config


class RecordingEngine:
    """Records what a service tells the engine; its status lists `instances`, each in `state`
    (keepalived's number: 1 BACKUP, 2 MASTER) at priority 100."""

    def __init__(self, instances: tuple[str, ...] = ("VI_1",), state: int = 2) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.instances = instances
        self.state = state

    def set_priority(self, name: str, priority: int) -> None:
        self.calls.append(("priority", name, str(priority)))

    def set_fault(self, name: str, fault: bool, reason: str = "") -> None:
        self.calls.append(("fault", name, str(fault), reason))

    def status(self) -> list[dict[str, object]]:
        return [{"data": {"iname": n, "state": self.state, "effective_priority": 100}}
                for n in self.instances]


class Host:
    """The part of the daemon the services use."""

    def __init__(self, config: Config | None = None,
                 engine: RecordingEngine | None = None) -> None:
        self.config = config
        self.engine = engine if engine is not None else RecordingEngine()
        self.listeners: list[object] = []
        self.running: list[object] = []
        self.reloading = False
        self.handover: dict[str, object] = {}


def lo_instance(name: str = "VI_1", vrid: int = 1, vip: str = "198.18.0.100",
                body: str = "") -> str:
    """A vrrp_instance on lo0 (the interface `read_config` says exists); `body`: more lines."""
    return f"""vrrp_instance {name} {{
    interface lo0
    virtual_router_id {vrid}
    priority 100
    virtual_ipaddress {{
        {vip}/24
    }}
{body}}}
"""


def read_config(tmp_path: Path, text: str) -> Config:
    """`text` as a new config file in `tmp_path`, read as `fastvrrp check` reads it (with lo0)."""
    conf = tmp_path / f"k{len(list(tmp_path.glob('k*.conf')))}.conf"
    conf.write_text(text)
    result = check_file(str(conf), interfaces=frozenset({"lo0"}))
    assert result.config is not None, result.report()
    return result.config
