//! fastvrrp's pure Rust core. No pyo3 here: the bindings live in `rust/py`.
//!
//! - [`wire`]: VRRP v2/v3 packets, gratuitous ARP and unsolicited NA — parse, validate, emit.
//! - [`fsm`]: the sans-IO VRRP state machine, driven by time and events, returning actions.
//! - [`engine`]: the thread that owns sockets and the clock and drives the state machines.

pub mod engine;
pub mod fsm;
pub mod timer;
pub mod wire;
