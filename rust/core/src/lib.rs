//! fastvrrp's pure Rust core. No pyo3 here: the bindings live in `rust/py`.
//!
//! - [`wire`]: VRRP v2/v3 packets — parse, validate, authenticate, emit.

pub mod wire;
