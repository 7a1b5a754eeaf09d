//! The engine thread: sockets, timers and the state machines, without the GIL.

pub mod netlink;
pub mod sys;
