//! The `fastvrrp._native` extension: thin pyo3 bindings over `fastvrrp-core`.
//! Type conversion, GIL release and error mapping only; no protocol logic here.

use pyo3::prelude::*;

mod engine;
mod wire;

/// Version and build facts of the native module, shown by `fastvrrp --version`.
fn build_info() -> String {
    format!(
        "fastvrrp-core {} ({} build)",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    )
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD", build_info())?;
    wire::register(m)?;
    engine::register(m)?;
    Ok(())
}
