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
