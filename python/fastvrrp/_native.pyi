"""Type stubs for the Rust extension `fastvrrp._native` (checked by mypy.stubtest)."""

__version__: str
BUILD: str

# --- wire (rust/py/src/wire.rs) ---

# --- engine (rust/py/src/engine.rs) ---
