//! The engine's loop: one thread, one epoll over the VRRP sockets, the rtnetlink event socket, a
//! timerfd armed at the earliest FSM deadline and the command eventfd.
//!
//! [`Runtime`] owns every socket and every state machine, and lives on the engine thread from the
//! engine's creation (so its sockets belong to the network namespace of the thread that created the
//! engine). Commands arrive through [`Shared`]'s queue and eventfd; after the thread ends the handle
//! keeps the runtime to answer `status`.
//!
//! - this module: the runtime, the loop, commands and timers;
//! - `instances`: add, update, remove; interfaces, sockets, sources, faults;
//! - `receive`: the checks on received adverts and their `drop` events;
//! - `actions`: feeding the FSM and executing its actions;
//! - `status`: keepalived's status vocabulary.

mod actions;
mod instances;
mod receive;
mod status;

use receive::DropKind;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::SyncSender;
use std::sync::{Mutex, PoisonError};

use super::netlink::{self, AddrOp, AddrRequest, Change, Link, Rtnl, RtnlEvents};
use super::socket::{self, group, is_link_local, split_ipv4};
use super::spec::{Event, InstanceSpec, InstanceStatus, IpFamily, Vip};
use super::stats::{Lateness, OtherMasters, PacketStats};
use super::sys;
use super::{frame, EngineError};
use crate::fsm::{
    Action, AddressListCheck, Input, Instance, InstanceConfig, Reason, StartState, State, Timestamp,
};
use crate::wire::vrrp::Error as WireError;
use crate::wire::{self, arp, ndisc};

const TOKEN_COMMANDS: u64 = 0;
const TOKEN_TIMER: u64 = 1;
const TOKEN_RTNL: u64 = 2;
const TOKEN_FIRST_CHANNEL: u64 = 3;
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Bound on paced gratuitous packets waiting per instance.
const MAX_QUEUED_GRATUITOUS: usize = 4096;
/// The EEVDF slice the engine thread asks for (the kernel's minimum, 0.1 ms). Measured with 4
/// busy processes on 2 cores (kernel 6.18, HZ 250, default slice 1.4 ms; `perf sched`): with
/// the default slice only 36–49 % of the thread's wake-ups ran within 50 µs, the others waited
/// 1–8 ms for the busy task's protected slice to end at a tick; with this one 74 % did. It buys
/// wake-up latency, not CPU share (the weight stays nice's); a real-time thread ignores it.
const FAIR_SLICE_NS: u64 = 100_000;
/// How long a backup-only engine leaves a channel unwatched after reading it (see
/// `pause_channel`).
const RECEIVE_COALESCE: std::time::Duration = std::time::Duration::from_millis(2);
/// How early the loop wakes for a backup's Master_Down deadline (see `arm_timer`).
const TAKEOVER_EARLY_WAKE: std::time::Duration = std::time::Duration::from_micros(200);
/// Room for one IPv4 advert frame in the send batch: headers and the longest v4 message
/// (v2 with authentication and 255 addresses: 1,036 bytes).
const ADVERT_FRAME_ROOM: usize = frame::HEADERS_LEN + 1040;
/// How long a backup's timeout may wait for adverts still unread in a socket.
const MAX_TIMEOUT_DEFERRAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Something the handle asks of the runtime.
pub enum Request {
    Add(Box<InstanceSpec>),
    /// Replace the spec of the instance with this name.
    Update(String, Box<InstanceSpec>),
    Remove(String),
    SetPriority(String, u8),
    SetFault(String, bool, String),
    Status,
    /// Start the instances.
    Start,
    /// Stop the instances and end the thread.
    Stop,
}

/// The runtime's answer.
pub enum Reply {
    Done,
    Status(Vec<InstanceStatus>),
}

pub type ReplyTo = SyncSender<Result<Reply, EngineError>>;

/// What the handle and the thread share: the command queue and the event queue, each with an
/// eventfd that says "something is waiting".
pub struct Shared {
    pub commands: Mutex<VecDeque<(Request, ReplyTo)>>,
    pub command_fd: OwnedFd,
    pub events: Mutex<VecDeque<Event>>,
    pub event_fd: OwnedFd,
}

impl Shared {
    pub fn new() -> io::Result<Self> {
        Ok(Shared {
            commands: Mutex::new(VecDeque::new()),
            command_fd: sys::eventfd_create()?,
            events: Mutex::new(VecDeque::new()),
            event_fd: sys::eventfd_create()?,
        })
    }
}

fn now() -> Timestamp {
    Timestamp::from_nanos(sys::monotonic_ns())
}

/// The sources of a fault; the FSM sees one level (Fault while any is set).
#[derive(Default)]
struct Faults {
    interface: Option<String>,
    user: Option<String>,
}

impl Faults {
    fn reason(&self) -> Option<&str> {
        self.interface.as_deref().or(self.user.as_deref())
    }
}

/// One instance and everything the engine keeps about it.
struct Slot {
    spec: InstanceSpec,
    fsm: Instance,
    stats: PacketStats,
    lateness: Lateness,
    /// The VIPs in advert order (for `build` and the address-list check).
    vip_addrs: Vec<IpAddr>,
    /// Netlink requests for the VIPs whose device exists.
    vip_requests: Vec<AddrRequest>,
    /// Where each VIP's gratuitous packet goes (`None`: its device is missing).
    vip_ifindex: Vec<Option<u32>>,
    ifindex: Option<u32>,
    send_ifindex: Option<u32>,
    /// Source of multicast adverts: the interface's primary address (v4) or link-local (v6).
    src: Option<IpAddr>,
    faults: Faults,
    deadline: Option<Timestamp>,
    sending_failed: bool,
    /// VIP indices waiting for their paced gratuitous packet.
    garp_queue: VecDeque<usize>,
    garp_due: Option<Timestamp>,
    /// The last advert taken: (source, first 8 bytes, interface, when), to drop its copy from the
    /// other interface (use_vmac).
    last_arrival: Option<(IpAddr, u64, u32, Timestamp)>,
    /// When each kind of drop was last reported (ns; 0: never).
    drop_reported: [u64; DropKind::COUNT],
    /// The last takeover by timer: deadline to first gratuitous packet sent (ns).
    takeover_garp_ns: u64,
    /// The last VIP add through netlink, all VIPs and acks (ns).
    vip_add_ns: u64,
    /// A takeover's deadline, until its first gratuitous packet leaves (for `takeover_garp_ns`).
    takeover_due: Option<Timestamp>,
    /// The `Runtime::garp_round` in which this instance last sent a gratuitous batch.
    garp_round: u64,
    missing_source_reported: bool,
    /// Other masters heard while we were master (the split-brain gauge).
    other_masters: OtherMasters,
    /// IP ID of the next advert frame written by the engine (see `frame`).
    ip_ident: u16,
}

impl Slot {
    fn family(&self) -> IpFamily {
        self.spec.family
    }
}

struct Channel {
    fd: OwnedFd,
    key: (u32, IpFamily),
    users: usize,
    /// Not watched by epoll until `resume_at` (receive coalescing).
    paused: bool,
}

pub struct Runtime {
    epoll: OwnedFd,
    timer: OwnedFd,
    armed: Option<u64>,
    rtnl: Rtnl,
    rtnl_events: RtnlEvents,
    packet: OwnedFd,
    links: HashMap<u32, Link>,
    addrs: Vec<netlink::Addr>,
    /// Every address of the host (from `addrs`): an advert from one of them is our own.
    local: HashSet<IpAddr>,
    channels: Vec<Option<Channel>>,
    channel_of: HashMap<(u32, IpFamily), usize>,
    slots: Vec<Option<Slot>>,
    by_name: HashMap<String, usize>,
    /// The instances taking adverts per (interface, family), indexed by VRID (256 entries): one
    /// hash lookup per received batch, not per advert.
    demux: HashMap<(u32, IpFamily), Vec<Vec<usize>>>,
    timers: BTreeSet<(Timestamp, usize)>,
    /// Paced gratuitous packets (`garp_interval`), apart from the FSM's deadlines.
    garp_timers: BTreeSet<(Timestamp, usize)>,
    started: bool,
    actions: Vec<Action>,
    /// The actions of one wake-up: (instance, deadline that fired, action).
    batch: Vec<(usize, Option<Timestamp>, Action)>,
    /// The instances whose timers fired in this wake-up: (instance, deadline).
    due: Vec<(usize, Timestamp)>,
    /// VIP adds in the current netlink batch: (instance, first request, count).
    vip_adds: Vec<(usize, usize, usize)>,
    /// Backup timeouts held back while adverts wait unread: (deadline, instance).
    deferred: Vec<(Timestamp, usize)>,
    /// When the paused channels are watched again (see `pause_channel`).
    resume_at: Option<Timestamp>,
    /// Counts `execute` calls, to find each instance's first gratuitous batch in one.
    garp_round: u64,
    /// Per action of the batch: whether it is its instance's first gratuitous batch.
    first_garp: Vec<bool>,
    rxbuf: Vec<u8>,
    txbuf: Vec<u8>,
    /// IPv4 multicast advert frames waiting for one `sendmmsg` (see `send_advert`), each at a
    /// multiple of [`ADVERT_FRAME_ROOM`]: (offset, length, ifindex) in `advert_queue`, and the
    /// (instance, deadline that fired) of each in `advert_owners`.
    advert_frames: Vec<u8>,
    advert_queue: Vec<(usize, usize, u32)>,
    advert_owners: Vec<(usize, Option<Timestamp>)>,
    frame: [u8; 128],
    addr_results: Vec<io::Result<()>>,
    changes: Vec<Change>,
    pending_events: Vec<Event>,
}

impl Runtime {
    pub fn new(shared: &Shared) -> io::Result<Self> {
        let epoll = sys::epoll_create()?;
        let timer = sys::timerfd_create()?;
        let rtnl_events = RtnlEvents::open()?;
        let mut rtnl = Rtnl::open()?;
        sys::epoll_add(epoll.as_fd(), shared.command_fd.as_fd(), TOKEN_COMMANDS)?;
        sys::epoll_add(epoll.as_fd(), timer.as_fd(), TOKEN_TIMER)?;
        sys::epoll_add(epoll.as_fd(), rtnl_events.fd(), TOKEN_RTNL)?;
        let links = rtnl.links()?.into_iter().map(|l| (l.ifindex, l)).collect();
        let addrs = rtnl.addrs()?;
        Ok(Runtime {
            epoll,
            timer,
            armed: None,
            rtnl,
            rtnl_events,
            packet: sys::socket(sys::SocketKind::PacketSend)?,
            links,
            local: addrs.iter().map(|a| a.addr).collect(),
            addrs,
            channels: Vec::new(),
            channel_of: HashMap::new(),
            slots: Vec::new(),
            by_name: HashMap::new(),
            demux: HashMap::new(),
            timers: BTreeSet::new(),
            garp_timers: BTreeSet::new(),
            started: false,
            actions: Vec::with_capacity(32),
            batch: Vec::with_capacity(64),
            due: Vec::with_capacity(64),
            vip_adds: Vec::new(),
            deferred: Vec::new(),
            resume_at: None,
            garp_round: 0,
            first_garp: Vec::with_capacity(64),
            rxbuf: vec![0; sys::MAX_PACKETS_PER_CALL * receive::RX_ROOM],
            txbuf: vec![0; wire::vrrp::MAX_LEN + 64],
            advert_frames: vec![0; sys::MAX_FRAMES_PER_CALL * ADVERT_FRAME_ROOM],
            advert_queue: Vec::with_capacity(sys::MAX_FRAMES_PER_CALL),
            advert_owners: Vec::with_capacity(sys::MAX_FRAMES_PER_CALL),
            frame: [0; 128],
            addr_results: Vec::new(),
            changes: Vec::new(),
            pending_events: Vec::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // the loop

    /// Serve requests until a `Stop`; returns the runtime (stopped) so the handle can keep it.
    /// The instances start with a `Start` request.
    pub fn run(mut self, shared: &Shared, rt_priority: Option<u8>, no_swap: bool) -> Self {
        // Our deadlines are exact: do not let the kernel batch our wake-ups.
        let _ = sys::set_timer_slack_ns(1);
        // On normal scheduling (no rt_priority, or SCHED_RR refused), a short slice lets each
        // wake-up preempt a busy task at once instead of at its next tick (see FAIR_SLICE_NS).
        let _ = sys::set_fair_slice_ns(FAIR_SLICE_NS);
        if let Some(prio) = rt_priority {
            if let Err(e) = sys::set_realtime(prio) {
                self.warn("", format!("cannot set SCHED_RR priority {prio}: {e}"));
            }
        }
        if no_swap {
            if let Err(e) = sys::lock_memory() {
                self.warn("", format!("cannot lock memory (no_swap): {e}"));
            }
        }
        self.publish(shared);
        let mut ready = [sys::Ready {
            token: 0,
            events: 0,
        }; 32];
        loop {
            let block = self.arm_timer();
            let n = match sys::epoll_wait_for(self.epoll.as_fd(), &mut ready, block) {
                Ok(n) => n,
                Err(e) => {
                    self.warn("", format!("epoll_wait failed: {e}"));
                    0
                }
            };
            let mut stop = None;
            // Set when a socket still holds adverts: received up to this time only.
            let mut seen_until: Option<Timestamp> = None;
            for r in ready.iter().take(n) {
                match r.token {
                    TOKEN_COMMANDS => {
                        let _ = sys::drain_counter(shared.command_fd.as_fd());
                        stop = self.take_commands(shared);
                    }
                    TOKEN_TIMER => {
                        let _ = sys::drain_counter(self.timer.as_fd());
                    }
                    TOKEN_RTNL => self.read_rtnl(),
                    token => {
                        if let Some(t) = self.receive(token) {
                            seen_until = Some(seen_until.map_or(t, |s| s.min(t)));
                        }
                        self.pause_channel(token);
                    }
                }
                if stop.is_some() {
                    break;
                }
            }
            if stop.is_none() {
                let t = now();
                if self.resume_at.is_some() && self.timers.first().is_some_and(|(at, _)| *at <= t) {
                    // A deadline is due while adverts may wait in paused sockets: read them first.
                    for idx in 0..self.channels.len() {
                        if self.channels[idx].as_ref().is_some_and(|c| c.paused) {
                            if let Some(t) = self.receive(TOKEN_FIRST_CHANNEL + idx as u64) {
                                seen_until = Some(seen_until.map_or(t, |s| s.min(t)));
                            }
                        }
                    }
                }
                if self.resume_at.is_some_and(|at| at <= t) {
                    self.resume_channels();
                }
                self.fire_timers(seen_until);
            }
            self.publish(shared);
            if let Some(reply) = stop {
                self.stop_all();
                self.publish(shared);
                let _ = reply.send(Ok(Reply::Done));
                return self;
            }
        }
    }

    /// Arm the timerfd for the earliest deadline; returns whether the loop may block.
    ///
    /// A backup's Master_Down deadline (a takeover) is armed [`TAKEOVER_EARLY_WAKE`] early and
    /// the loop then polls without blocking until it passes: the wake-up latency of an idle
    /// CPU (40–130 µs measured on this 2-vCPU VM) is taken before the deadline, not after it.
    /// Adverts still count while polling. Costs at most that much CPU per takeover; a backup
    /// hearing its master never gets that close to its deadline.
    fn arm_timer(&mut self) -> bool {
        let fsm = self.timers.first().copied();
        let garp = self.garp_timers.first().map(|(t, _)| *t);
        let mut block = true;
        let fsm = fsm.map(|(at, id)| {
            let takeover = self
                .slot(id)
                .is_some_and(|s| s.fsm.state() == State::Backup);
            if !takeover {
                return at;
            }
            let early = at.saturating_sub(TAKEOVER_EARLY_WAKE);
            if now() >= early {
                block = false;
            }
            early
        });
        let next = fsm
            .into_iter()
            .chain(garp)
            .chain(self.resume_at)
            .min()
            .map(Timestamp::as_nanos);
        if next != self.armed {
            if let Err(e) = sys::timerfd_set(self.timer.as_fd(), next) {
                self.warn("", format!("timerfd_settime failed: {e}"));
            }
            self.armed = next;
        }
        block
    }

    /// Receive coalescing: while no instance is master (and every backup's Skew_Time is at
    /// least twice the pause), a channel that has just been read is not watched for
    /// [`RECEIVE_COALESCE`]; what arrives meanwhile is read in one go then (or
    /// before any deadline fires). A backup's timers count from each advert's kernel receive
    /// stamp, so reading later changes no deadline; it only saves the wake-ups (a master
    /// sending 255 adverts in a burst woke the backup for nearly every one). A master reads at
    /// once: a higher priority must make it step down now.
    fn pause_channel(&mut self, token: u64) {
        let Some(idx) = token
            .checked_sub(TOKEN_FIRST_CHANNEL)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        // A priority-0 advert shortens a backup's timer to Skew_Time: reading it late must not
        // push the takeover past it, so only coalesce while every Skew_Time is well above the
        // pause.
        let may_wait = self.slots.iter().flatten().all(|s| match s.fsm.state() {
            State::Master => false,
            State::Backup => {
                let skew = crate::fsm::skew_time(
                    s.spec.version,
                    s.fsm.effective_priority(),
                    s.fsm.master_advert_interval_cs(),
                );
                skew >= RECEIVE_COALESCE * 2
            }
            State::Initialize | State::Fault => true,
        });
        if !may_wait {
            return;
        }
        let Some(Some(ch)) = self.channels.get_mut(idx) else {
            return;
        };
        if ch.paused || sys::epoll_watch(self.epoll.as_fd(), ch.fd.as_fd(), token, false).is_err() {
            return;
        }
        ch.paused = true;
        self.resume_at = self.resume_at.or(Some(now() + RECEIVE_COALESCE));
    }

    /// Watch the paused channels again.
    fn resume_channels(&mut self) {
        self.resume_at = None;
        for (idx, ch) in self.channels.iter_mut().enumerate() {
            let Some(ch) = ch.as_mut().filter(|c| c.paused) else {
                continue;
            };
            let token = TOKEN_FIRST_CHANNEL + idx as u64;
            if sys::epoll_watch(self.epoll.as_fd(), ch.fd.as_fd(), token, true).is_ok() {
                ch.paused = false;
            } else {
                // Try again on the next round rather than lose the channel.
                self.resume_at = Some(now() + RECEIVE_COALESCE);
            }
        }
    }

    /// Apply queued commands; returns the reply channel of a `Stop`, which ends the loop.
    fn take_commands(&mut self, shared: &Shared) -> Option<ReplyTo> {
        loop {
            let next = shared
                .commands
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let (req, reply) = next?;
            if let Request::Stop = req {
                return Some(reply);
            }
            let result = self.apply(req);
            // A command's events are visible before its caller returns.
            self.publish(shared);
            let _ = reply.send(result);
        }
    }

    /// Apply one request.
    pub fn apply(&mut self, req: Request) -> Result<Reply, EngineError> {
        match req {
            Request::Add(spec) => self.add(*spec).map(|()| Reply::Done),
            Request::Update(name, spec) => self.update(&name, *spec).map(|()| Reply::Done),
            Request::Remove(name) => {
                let id = self.id(&name)?;
                self.remove(id);
                Ok(Reply::Done)
            }
            Request::SetPriority(name, prio) => {
                let id = self.id(&name)?;
                self.feed(id, now(), Input::SetPriority(prio), None);
                Ok(Reply::Done)
            }
            Request::SetFault(name, fault, reason) => {
                let id = self.id(&name)?;
                let user = fault.then(|| {
                    if reason.is_empty() {
                        "fault".to_owned()
                    } else {
                        reason
                    }
                });
                self.set_faults(id, |f| f.user = user);
                Ok(Reply::Done)
            }
            Request::Status => Ok(Reply::Status(self.status())),
            Request::Start if self.started => Err(EngineError::AlreadyRunning),
            Request::Start => {
                self.start_all();
                Ok(Reply::Done)
            }
            Request::Stop => {
                self.stop_all();
                Ok(Reply::Done)
            }
        }
    }

    /// Hand the events of this round to Python and wake it once.
    pub fn publish(&mut self, shared: &Shared) {
        if self.pending_events.is_empty() {
            return;
        }
        shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(self.pending_events.drain(..));
        let _ = sys::eventfd_signal(shared.event_fd.as_fd());
    }

    /// Tick the instances whose deadlines have passed. With `seen_until` (adverts still wait in
    /// a socket, read up to that arrival time), a backup whose Master_Down deadline is later
    /// waits for the next round: the master's advert may be among the unread ones. That wait is
    /// bounded by [`MAX_TIMEOUT_DEFERRAL`], so a flood cannot hold a takeover back for long.
    fn fire_timers(&mut self, seen_until: Option<Timestamp>) {
        let now = now();
        let mut due = std::mem::take(&mut self.due);
        let mut deferred = std::mem::take(&mut self.deferred);
        due.clear();
        deferred.clear();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(Some(slot)) = self.slots.get_mut(id) else {
                continue;
            };
            let unread_may_matter = seen_until.is_some_and(|seen| at > seen)
                && slot.fsm.state() == State::Backup
                && now.saturating_duration_since(at) < MAX_TIMEOUT_DEFERRAL;
            if unread_may_matter {
                deferred.push((at, id));
                continue;
            }
            slot.deadline = None;
            due.push((id, at));
        }
        if !deferred.is_empty() {
            self.timers.extend(deferred.iter().copied());
            // The timerfd has fired for these already: arm it again (in the past: at once), in
            // case the socket was emptied by the last read and epoll has nothing else to say.
            self.armed = None;
        }
        if !due.is_empty() {
            self.tick_all(now, &due);
        }
        self.due = due;
        self.deferred = deferred;
        while let Some(&(at, id)) = self.garp_timers.first() {
            if at > now {
                break;
            }
            self.garp_timers.pop_first();
            if let Some(slot) = self.slot_mut(id) {
                slot.garp_due = None;
            }
            self.pace_gratuitous(id, now);
        }
    }

    // -----------------------------------------------------------------------------------------
    // reporting

    fn event(
        &mut self,
        kind: &'static str,
        instance: String,
        old_state: &'static str,
        new_state: &'static str,
        reason: String,
        priority: u8,
    ) {
        self.pending_events.push(Event {
            kind,
            instance,
            old_state,
            new_state,
            reason,
            priority,
            monotonic_ns: sys::monotonic_ns(),
        });
    }

    fn warn(&mut self, instance: &str, reason: String) {
        self.pending_events.push(Event {
            kind: "warning",
            instance: instance.to_owned(),
            old_state: "",
            new_state: "",
            reason,
            priority: 0,
            monotonic_ns: sys::monotonic_ns(),
        });
    }
}

fn warning_event(slot: &Slot, reason: String) -> Event {
    Event {
        kind: "warning",
        instance: slot.spec.name.clone(),
        old_state: state_name(slot.fsm.state()),
        new_state: state_name(slot.fsm.state()),
        reason,
        priority: slot.fsm.effective_priority(),
        monotonic_ns: sys::monotonic_ns(),
    }
}

/// keepalived's words; Initialize reads INIT.
fn state_name(state: State) -> &'static str {
    state.as_str()
}

fn wire_version(v: crate::fsm::Version) -> wire::Version {
    match v {
        crate::fsm::Version::V2 => wire::Version::V2,
        crate::fsm::Version::V3 => wire::Version::V3,
    }
}
