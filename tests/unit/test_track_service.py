"""The tracking service from a real config: which tracker feeds which instance with what
weight, and the commands the engine receives (recorded by a stand-in engine, no network).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from daemon_stand_ins import Host, RecordingEngine, read_config

from fastvrrp.config.model import Config
from fastvrrp.track.service import TrackingService

LOG = logging.getLogger("test.track.service")

CONFIG = """\
global_defs {{
    script_user root
    enable_script_security
}}
vrrp_script chk {{
    script "{script}"
    weight -10
}}
track_file tf {{
    file "{value}"
    weight 5
}}
vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
    track_script {{
        chk
    }}
}}
vrrp_instance VI_1 {{
    interface lo0
    virtual_router_id 1
    priority 100
    virtual_ipaddress {{
        198.18.0.100/24
    }}
    track_file {{
        tf
    }}
}}
vrrp_instance VI_2 {{
    interface lo0
    virtual_router_id 2
    priority 100
    virtual_ipaddress {{
        198.18.0.101/24
    }}
}}
vrrp_instance VI_3 {{
    interface lo0
    virtual_router_id 3
    priority 100
    virtual_ipaddress {{
        198.18.0.102/24
    }}
    track_file {{
        tf weight -3
    }}
}}
"""


def load(tmp_path: Path) -> tuple[Config, Path]:
    tmp_path.chmod(0o755)
    script = tmp_path / "chk.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    value = tmp_path / "value"
    value.write_text("0\n")
    return read_config(tmp_path, CONFIG.format(script=script, value=value)), value


def test_group_tracking_reaches_every_member_and_member_weights_become_faults(
    tmp_path: Path,
) -> None:
    config, _ = load(tmp_path)
    service = TrackingService(config, LOG)
    weights = {(b.instance, b.source): b.weight for b in service.bindings}
    assert weights == {
        ("VI_1", "script chk"): 0,  # group tracking, no sync_group_tracking_weight: fault
        ("VI_2", "script chk"): 0,
        ("VI_1", "file tf"): 0,  # a member's own weight counts as 0 too
        ("VI_3", "file tf"): -3,  # outside a group the reference's weight holds
    }


def test_engine_hears_priorities_and_sync_faults(tmp_path: Path) -> None:
    config, value = load(tmp_path)

    async def main() -> list[tuple[str, ...]]:
        service = TrackingService(config, LOG)
        host = Host(engine=RecordingEngine(("VI_1", "VI_2", "VI_3"), state=1))
        await service.start(host)  # type: ignore[arg-type]
        host.engine.calls.clear()
        value.write_text("4\n")  # VI_3: 4 x -3 = -12; VI_1: weight 0, non-zero = fault
        await asyncio.sleep(0.2)
        calls = list(host.engine.calls)
        await service.stop()
        return calls

    calls = asyncio.run(main())
    assert ("priority", "VI_3", "88") in calls
    assert ("fault", "VI_1", "True", "file tf value 4") in calls
    assert ("fault", "VI_2", "True", "sync group G1: VI_1 in fault") in calls
