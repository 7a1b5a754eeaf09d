"""Type stubs for the Rust extension `fastvrrp._native` (checked by mypy.stubtest)."""

from typing import final

__version__: str
BUILD: str

# --- wire (rust/py/src/wire.rs) ---

class WireError(ValueError):
    """A VRRP advertisement failed a receive check."""

    reason: str
    stat: str | None

@final
class Advert:
    """A received, validated VRRP advertisement (immutable)."""

    @property
    def version(self) -> int: ...
    @property
    def vrid(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def interval(self) -> float: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...
    @property
    def auth_type(self) -> int: ...
    @property
    def auth_data(self) -> bytes: ...
    @property
    def checksum_form(self) -> str | None: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def parse_advert(
    payload: bytes,
    src: str,
    dst: str,
    *,
    auth_type: int | None = None,
    auth_data: bytes | None = None,
) -> Advert: ...
def build_advert(
    version: int,
    vrid: int,
    priority: int,
    interval: float,
    addresses: list[str] | tuple[str, ...],
    src: str,
    dst: str,
    auth_type: int = 0,
    auth_data: bytes | None = None,
    checksum_form: str | None = "pseudo",
) -> bytes: ...
def build_garp(mac: str, vip: str) -> bytes: ...
def build_unsolicited_na(mac: str, src: str, vip: str, router: bool = False) -> bytes: ...

# --- engine (rust/py/src/engine.rs) ---

@final
class InstanceSpec:
    """One VRRP instance for the engine (immutable)."""

    def __new__(
        cls,
        *,
        name: str,
        ifname: str,
        vrid: int,
        version: int,
        family: str,
        priority: int,
        advert_interval: float,
        preempt: bool = True,
        preempt_delay: float = 0.0,
        start_master: bool = False,
        auth_type: int = 0,
        auth_pass: bytes = ...,
        vips: list[tuple[str, int, str | None, str | None, str | None]] = ...,
        unicast_src: str | None = None,
        unicast_peers: list[str] | list[str | tuple[str, int, int]] = ...,
        checksum_form: str = "pseudo",
        skip_check_adv_addr: bool = False,
        garp_master_delay: float = 5.0,
        garp_master_repeat: int = 5,
        garp_master_refresh: float = 0.0,
        garp_interval: float = 0.0,
        send_ifname: str | None = None,
        garp_master_refresh_repeat: int = 1,
        garp_lower_prio_repeat: int | None = None,
        garp_lower_prio_delay: float | None = None,
        lower_prio_no_advert: bool = False,
        higher_prio_send_advert: bool = False,
        down_timer_adverts: int = 3,
        sync_group: str | None = None,
        mcast_group: str | None = None,
        unicast_ttl: int = 255,
    ) -> InstanceSpec: ...
    @property
    def name(self) -> str: ...

@final
class Event:
    """A transition, a fault appearing or clearing, or a warning, from the engine thread."""

    @property
    def kind(self) -> str: ...
    @property
    def instance(self) -> str: ...
    @property
    def old_state(self) -> str: ...
    @property
    def new_state(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def monotonic(self) -> float: ...

@final
class Engine:
    """The VRRP engine thread: sockets, timers and state machines without the GIL."""

    def __new__(
        cls,
        *,
        rt_priority: int | None = None,
        no_swap: bool = False,
        nice: int | None = None,
        cpu_affinity: list[int] | None = None,
    ) -> Engine: ...
    def add_instance(self, spec: InstanceSpec) -> None: ...
    def update_instance(self, name: str, spec: InstanceSpec) -> None: ...
    def remove_instance(self, name: str) -> None: ...
    def start(self) -> None: ...
    def event_fd(self) -> int: ...
    def events(self) -> list[Event]: ...
    def set_priority(self, name: str, priority: int) -> None: ...
    def set_fault(self, name: str, fault: bool, reason: str = "") -> None: ...
    def status(self) -> list[dict[str, object]]: ...
    def stop(self, timeout: float = 2.0) -> None: ...
