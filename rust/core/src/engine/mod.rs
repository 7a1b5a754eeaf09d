//! The engine thread: sockets, timers and the state machines, without the GIL.
//!
//! [`Engine`] is the handle the bindings wrap. Commands (add, remove, priority, fault, status,
//! stop) are applied directly while the engine is not running, and through a queue + eventfd to
//! the engine thread while it runs. Events (transitions, faults, warnings) come back through a
//! queue + eventfd that Python watches with `add_reader`.
//!
//! - [`sys`]: the syscalls (the crate's only `unsafe`).
//! - [`netlink`]: addresses and link state over rtnetlink.
//! - [`socket`]: the raw VRRP sockets.
//! - [`frame`]: whole Ethernet frames for IPv4 multicast adverts (sent through AF_PACKET).
//! - [`event_loop`]: the loop and the per-instance work.
//! - [`stats`]: the engine's counters and the advert lateness histogram.
//! - [`spec`]: instance specs, events and status.

pub mod event_loop;
pub mod frame;
pub mod netlink;
pub mod socket;
pub mod spec;
pub mod stats;
pub mod sys;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, RawFd};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

pub use spec::{Event, InstanceSpec, InstanceStatus, IpFamily, SpecError, Vip};

use event_loop::{Reply, Request, Runtime, Shared};

/// How long a command waits for the running engine thread before giving up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an engine call failed.
#[derive(Debug)]
pub enum EngineError {
    /// The spec is invalid.
    Spec(SpecError),
    /// No instance of that name.
    UnknownInstance(String),
    /// An instance of that name exists already.
    Duplicate(String),
    /// `start` on a running engine.
    AlreadyRunning,
    /// The engine has been stopped.
    Stopped,
    /// The engine thread did not answer in time.
    Timeout,
    /// The engine thread is gone (it panicked).
    Gone,
    /// A syscall failed.
    Io(io::Error),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Spec(e) => write!(f, "{e}"),
            EngineError::UnknownInstance(n) => write!(f, "no VRRP instance named {n:?}"),
            EngineError::Duplicate(n) => write!(f, "a VRRP instance named {n:?} exists already"),
            EngineError::AlreadyRunning => write!(f, "the engine is already running"),
            EngineError::Stopped => write!(f, "the engine has been stopped"),
            EngineError::Timeout => write!(f, "the engine thread did not answer in time"),
            EngineError::Gone => write!(f, "the engine thread has died"),
            EngineError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<io::Error> for EngineError {
    fn from(e: io::Error) -> Self {
        EngineError::Io(e)
    }
}

/// Engine-wide settings (keepalived's `vrrp_rt_priority`, `vrrp_no_swap`, `vrrp_priority`,
/// `vrrp_cpu_affinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// SCHED_RR priority (1–99) for the engine thread.
    pub rt_priority: Option<u8>,
    /// mlockall the process.
    pub no_swap: bool,
    /// Nice value (-20..19) of the engine thread: it counts while the thread is on normal
    /// scheduling (no `rt_priority`, or SCHED_RR refused).
    pub nice: Option<i8>,
    /// The CPUs the engine thread may run on.
    pub cpu_affinity: Option<Vec<u16>>,
}

/// Apply the engine thread's nice value and CPU list, from the thread itself; a failure is one
/// warning event.
fn apply_thread_options(runtime: &mut Runtime, options: &EngineOptions) {
    if let Some(nice) = options.nice {
        if let Err(e) = sys::set_thread_nice(nice) {
            runtime.warn_engine(format!("cannot set vrrp_priority {nice}: {e}"));
        }
    }
    if let Some(cpus) = &options.cpu_affinity {
        if let Err(e) = sys::set_cpu_affinity(cpus) {
            runtime.warn_engine(format!("cannot set vrrp_cpu_affinity {cpus:?}: {e}"));
        }
    }
}

enum Phase {
    /// The thread owns the runtime and gives it back when it stops.
    Running(JoinHandle<Option<Box<Runtime>>>),
    /// The thread has ended; the handle keeps the runtime for `status`.
    Stopped(Box<Runtime>),
    /// The thread died; nothing works any more.
    Broken,
}

/// The handle on the engine. All methods take `&self` and are safe to call from any thread.
///
/// The engine thread starts with the handle (idle until [`Engine::start`]) and inherits the
/// network namespace of the creating thread: every socket lives there.
pub struct Engine {
    shared: Arc<Shared>,
    phase: Mutex<Phase>,
}

impl Engine {
    /// Spawn the engine thread, which opens its sockets (netlink, timer) and reads the interfaces.
    /// The instances start with [`Engine::start`].
    pub fn new(options: EngineOptions) -> Result<Engine, EngineError> {
        let shared = Arc::new(Shared::new()?);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("fastvrrp-engine".into())
            .spawn(move || match Runtime::new(&thread_shared) {
                Ok(mut runtime) => {
                    apply_thread_options(&mut runtime, &options);
                    let _ = ready_tx.send(Ok(()));
                    Some(Box::new(runtime.run(
                        &thread_shared,
                        options.rt_priority,
                        options.no_swap,
                    )))
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    None
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(EngineError::Io(e));
            }
            Err(_) => return Err(EngineError::Gone),
        }
        Ok(Engine {
            shared,
            phase: Mutex::new(Phase::Running(handle)),
        })
    }

    fn call(&self, req: Request) -> Result<Reply, EngineError> {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *phase {
            Phase::Stopped(runtime) => match req {
                Request::Status => runtime.apply(req),
                _ => Err(EngineError::Stopped),
            },
            Phase::Running(handle) if handle.is_finished() => Err(EngineError::Gone),
            Phase::Running(_) => {
                let (tx, rx) = mpsc::sync_channel(1);
                self.shared
                    .commands
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back((req, tx));
                sys::eventfd_signal(self.shared.command_fd.as_fd())?;
                // Holding the phase lock keeps `stop` from joining under us; the thread never takes it.
                match rx.recv_timeout(COMMAND_TIMEOUT) {
                    Ok(reply) => reply,
                    Err(RecvTimeoutError::Timeout) => Err(EngineError::Timeout),
                    Err(RecvTimeoutError::Disconnected) => Err(EngineError::Gone),
                }
            }
            Phase::Broken => Err(EngineError::Gone),
        }
    }

    /// Add an instance (before or after `start`). A missing interface puts it in FAULT; only an
    /// invalid spec or a duplicate name is an error.
    pub fn add_instance(&self, spec: InstanceSpec) -> Result<(), EngineError> {
        spec.validate().map_err(EngineError::Spec)?;
        self.call(Request::Add(Box::new(spec))).map(drop)
    }

    /// Replace the spec of instance `name` (reload), keeping its state where possible; see
    /// the runtime's `update` for what is kept.
    pub fn update_instance(&self, name: &str, spec: InstanceSpec) -> Result<(), EngineError> {
        spec.validate().map_err(EngineError::Spec)?;
        self.call(Request::Update(name.to_owned(), Box::new(spec)))
            .map(drop)
    }

    /// Remove an instance; a master sends priority 0 and removes its VIPs first.
    pub fn remove_instance(&self, name: &str) -> Result<(), EngineError> {
        self.call(Request::Remove(name.to_owned())).map(drop)
    }

    /// The effective priority from the trackers.
    pub fn set_priority(&self, name: &str, priority: u8) -> Result<(), EngineError> {
        self.call(Request::SetPriority(name.to_owned(), priority))
            .map(drop)
    }

    /// A fault from Python (trackers, sync groups): `reason` shows in the FAULT transition.
    pub fn set_fault(&self, name: &str, fault: bool, reason: &str) -> Result<(), EngineError> {
        self.call(Request::SetFault(name.to_owned(), fault, reason.to_owned()))
            .map(drop)
    }

    /// Every instance's data and counters.
    pub fn status(&self) -> Result<Vec<InstanceStatus>, EngineError> {
        match self.call(Request::Status)? {
            Reply::Status(s) => Ok(s),
            Reply::Done => Ok(Vec::new()),
        }
    }

    /// Start the instances (Backup, Fault, or Master for an owner).
    pub fn start(&self) -> Result<(), EngineError> {
        self.call(Request::Start).map(drop)
    }

    /// Stop: masters send priority 0 and remove their VIPs; the thread ends. Waits up to `timeout`.
    /// Stopping a stopped engine does nothing.
    pub fn stop(&self, timeout: Duration) -> Result<(), EngineError> {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        match &*phase {
            Phase::Stopped(_) => return Ok(()),
            Phase::Broken => return Err(EngineError::Gone),
            Phase::Running(_) => {}
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((Request::Stop, tx));
        sys::eventfd_signal(self.shared.command_fd.as_fd())?;
        match rx.recv_timeout(timeout) {
            Ok(_) | Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => return Err(EngineError::Timeout),
        }
        let Phase::Running(handle) = std::mem::replace(&mut *phase, Phase::Broken) else {
            return Err(EngineError::Gone);
        };
        match handle.join() {
            Ok(Some(runtime)) => {
                *phase = Phase::Stopped(runtime);
                Ok(())
            }
            _ => Err(EngineError::Gone),
        }
    }

    /// Readable when events are waiting; [`Engine::events`] makes it unreadable again.
    pub fn event_fd(&self) -> RawFd {
        sys::raw(&self.shared.event_fd)
    }

    /// Take every pending event (never blocks).
    pub fn events(&self) -> Vec<Event> {
        // Reset the fd first: an event queued after this read signals it again.
        let _ = sys::drain_counter(self.shared.event_fd.as_fd());
        self.shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(2));
    }
}
