//! The engine's loop: one thread, one epoll over the VRRP sockets, the rtnetlink event socket, a
//! timerfd armed at the earliest FSM deadline and the command eventfd.
//!
//! [`Runtime`] owns every socket and every state machine, and lives on the engine thread from the
//! engine's creation (so its sockets belong to the network namespace of the thread that created the
//! engine). Commands arrive through [`Shared`]'s queue and eventfd; after the thread ends the handle
//! keeps the runtime to answer `status`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::SyncSender;
use std::sync::{Mutex, PoisonError};

use super::netlink::{self, AddrOp, AddrRequest, Change, Link, Rtnl, RtnlEvents};
use super::socket::{self, group, is_link_local, split_ipv4};
use super::spec::{Event, InstanceSpec, InstanceStatus, IpFamily, Vip};
use super::stats::{Lateness, PacketStats};
use super::sys;
use super::EngineError;
use crate::fsm::{
    Action, AddressListCheck, Input, Instance, InstanceConfig, Reason, StartState, State, Timestamp,
};
use crate::wire::vrrp::Error as WireError;
use crate::wire::{self, arp, ndisc};

const TOKEN_COMMANDS: u64 = 0;
const TOKEN_TIMER: u64 = 1;
const TOKEN_RTNL: u64 = 2;
const TOKEN_FIRST_CHANNEL: u64 = 3;
/// Packets read from one socket per wake-up, so timers are never starved by a flood.
const RECV_BUDGET: usize = 64;
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// At most one `drop` event per instance and reason in this time.
const DROP_REPORT_INTERVAL_NS: u64 = 1_000_000_000;
/// Bound on paced gratuitous packets waiting per instance.
const MAX_QUEUED_GRATUITOUS: usize = 4096;

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

/// Why an advert was dropped, for rate-limiting the `drop` events.
#[derive(Clone, Copy)]
enum DropKind {
    Length,
    Ttl,
    PeerTtl,
    UnknownPeer,
    Version,
    AuthType,
    AuthMismatch,
    Password,
    Interval,
    Type,
    AddressCount,
    Checksum,
    IntervalMismatch,
    AddressList,
}

impl DropKind {
    const COUNT: usize = DropKind::AddressList as usize + 1;
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
    /// When each kind of drop was last reported (ns; 0: never).
    drop_reported: [u64; DropKind::COUNT],
    /// The last takeover by timer: deadline to first gratuitous packet sent (ns).
    takeover_garp_ns: u64,
    /// The last VIP add through netlink, all VIPs and acks (ns).
    vip_add_ns: u64,
    missing_source_reported: bool,
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
    channels: Vec<Option<Channel>>,
    channel_of: HashMap<(u32, IpFamily), usize>,
    slots: Vec<Option<Slot>>,
    by_name: HashMap<String, usize>,
    demux: HashMap<(u32, IpFamily, u8), Vec<usize>>,
    timers: BTreeSet<(Timestamp, usize)>,
    /// Paced gratuitous packets (`garp_interval`), apart from the FSM's deadlines.
    garp_timers: BTreeSet<(Timestamp, usize)>,
    started: bool,
    actions: Vec<Action>,
    rxbuf: Vec<u8>,
    txbuf: Vec<u8>,
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
            rxbuf: vec![0; 4096],
            txbuf: vec![0; wire::vrrp::MAX_LEN + 64],
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
            self.arm_timer();
            let n = match sys::epoll_wait(self.epoll.as_fd(), &mut ready) {
                Ok(n) => n,
                Err(e) => {
                    self.warn("", format!("epoll_wait failed: {e}"));
                    0
                }
            };
            let mut stop = None;
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
                    token => self.receive(token),
                }
                if stop.is_some() {
                    break;
                }
            }
            if stop.is_none() {
                self.fire_timers();
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

    fn arm_timer(&mut self) {
        let fsm = self.timers.first().map(|(t, _)| *t);
        let garp = self.garp_timers.first().map(|(t, _)| *t);
        let next = fsm.into_iter().chain(garp).min().map(Timestamp::as_nanos);
        if next != self.armed {
            if let Err(e) = sys::timerfd_set(self.timer.as_fd(), next) {
                self.warn("", format!("timerfd_settime failed: {e}"));
            }
            self.armed = next;
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

    fn fire_timers(&mut self) {
        let now = now();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(Some(slot)) = self.slots.get_mut(id) {
                slot.deadline = None;
            }
            self.feed(id, now, Input::Tick, Some(at));
        }
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
    // instances

    fn id(&self, name: &str) -> Result<usize, EngineError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| EngineError::UnknownInstance(name.to_owned()))
    }

    fn slot(&self, id: usize) -> Option<&Slot> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, id: usize) -> Option<&mut Slot> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    fn link_by_name(&self, name: &str) -> Option<u32> {
        self.links
            .values()
            .find(|l| l.name == name)
            .map(|l| l.ifindex)
    }

    fn add(&mut self, spec: InstanceSpec) -> Result<(), EngineError> {
        spec.validate().map_err(EngineError::Spec)?;
        if self.by_name.contains_key(&spec.name) {
            return Err(EngineError::Duplicate(spec.name));
        }
        let primary = spec.unicast_src.unwrap_or(match spec.family {
            IpFamily::Inet => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let vip_addrs: Vec<IpAddr> = spec.vips.iter().map(|v| v.addr).collect();
        let mut slot = Slot {
            fsm: Instance::new(fsm_config(&spec, primary)),
            spec,
            stats: PacketStats::default(),
            lateness: Lateness::default(),
            vip_addrs,
            vip_requests: Vec::new(),
            vip_ifindex: Vec::new(),
            ifindex: None,
            send_ifindex: None,
            src: None,
            faults: Faults::default(),
            deadline: None,
            sending_failed: false,
            garp_queue: VecDeque::new(),
            garp_due: None,
            drop_reported: [0; DropKind::COUNT],
            missing_source_reported: false,
            takeover_garp_ns: 0,
            vip_add_ns: 0,
        };
        // The tie-break needs our primary address: learn it before the FSM is built.
        if slot.spec.unicast_src.is_none() {
            if let Some(ifindex) = self.link_by_name(&slot.spec.ifname) {
                if let Some(src) = self.source_for(ifindex, slot.family(), &slot.vip_addrs) {
                    slot.fsm = Instance::new(fsm_config(&slot.spec, src));
                }
            }
        }
        let id = self
            .slots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.slots.len());
        if id == self.slots.len() {
            self.slots.push(None);
        }
        self.by_name.insert(slot.spec.name.clone(), id);
        self.slots[id] = Some(slot);
        self.resolve(id);
        self.refresh_interface_fault(id);
        if self.started {
            self.start_one(id);
        }
        Ok(())
    }

    fn remove(&mut self, id: usize) {
        self.feed(id, now(), Input::Shutdown, None);
        self.drop_gratuitous(id);
        self.unresolve(id);
        if let Some(slot) = self.slots.get_mut(id).and_then(Option::take) {
            self.by_name.remove(&slot.spec.name);
            if let Some(at) = slot.deadline {
                self.timers.remove(&(at, id));
            }
        }
    }

    fn start_one(&mut self, id: usize) {
        let Some(slot) = self.slot(id) else { return };
        let faulted = slot.faults.reason().is_some();
        let t = now();
        if faulted {
            self.feed(id, t, Input::Fault, None);
        }
        self.feed(
            id,
            t,
            Input::Startup {
                interface_up: !faulted,
            },
            None,
        );
    }

    fn start_all(&mut self) {
        self.started = true;
        for id in 0..self.slots.len() {
            self.start_one(id);
        }
    }

    fn stop_all(&mut self) {
        let t = now();
        for id in 0..self.slots.len() {
            self.feed(id, t, Input::Shutdown, None);
        }
        self.started = false;
    }

    /// Find the interfaces of an instance and open (or share) their sockets. A missing interface
    /// is a fault of the instance, never an error of the engine.
    fn resolve(&mut self, id: usize) {
        let Some(slot) = self.slot(id) else { return };
        if slot.ifindex.is_some() {
            return;
        }
        let (name, family, vrid) = (slot.spec.name.clone(), slot.family(), slot.spec.vrid);
        let (ifname, send_ifname) = (slot.spec.ifname.clone(), slot.spec.send_ifname().to_owned());
        let vips = slot.spec.vips.clone();
        let (Some(ifindex), Some(send_ifindex)) =
            (self.link_by_name(&ifname), self.link_by_name(&send_ifname))
        else {
            return;
        };
        if let Err(e) = self.open_channel(ifindex, family, &ifname) {
            self.warn(&name, format!("cannot open VRRP socket on {ifname}: {e}"));
            return;
        }
        if send_ifindex != ifindex {
            if let Err(e) = self.open_channel(send_ifindex, family, &send_ifname) {
                self.release_channel(ifindex, family);
                self.warn(
                    &name,
                    format!("cannot open VRRP socket on {send_ifname}: {e}"),
                );
                return;
            }
        }
        let (devs, requests) = self.vip_targets(&name, &vips, send_ifindex);
        self.demux
            .entry((ifindex, family, vrid))
            .or_default()
            .push(id);
        if let Some(slot) = self.slot_mut(id) {
            slot.ifindex = Some(ifindex);
            slot.send_ifindex = Some(send_ifindex);
            slot.vip_ifindex = devs;
            slot.vip_requests = requests;
        }
        self.refresh_source(id);
    }

    /// Where each VIP goes (its `dev`, else the sending interface) and the netlink requests for
    /// those whose interface exists; a missing one is a warning.
    fn vip_targets(
        &mut self,
        name: &str,
        vips: &[Vip],
        send_ifindex: u32,
    ) -> (Vec<Option<u32>>, Vec<AddrRequest>) {
        let devs: Vec<Option<u32>> = vips
            .iter()
            .map(|v| {
                v.dev
                    .as_deref()
                    .map_or(Some(send_ifindex), |d| self.link_by_name(d))
            })
            .collect();
        let mut requests = Vec::with_capacity(vips.len());
        for (v, dev) in vips.iter().zip(&devs) {
            match dev {
                Some(ifindex) => requests.push(AddrRequest {
                    ifindex: *ifindex,
                    addr: v.addr,
                    prefix: v.prefix,
                    label: v.label.clone(),
                    broadcast: v.broadcast,
                }),
                None => {
                    let dev = v.dev.as_deref().unwrap_or_default();
                    self.warn(name, format!("VIP {}: interface {dev} not found", v.addr));
                }
            }
        }
        (devs, requests)
    }

    /// Replace an instance's spec keeping its state and timers where the FSM allows it: VIPs,
    /// auth, peers and the name change in place (a master's VIPs are diffed, the new ones
    /// announced); a priority change is a priority input. Other FSM settings rebuild a
    /// non-master, and make a master hand over (remove and add), as would a different
    /// interface, VRID, family or unicast mode.
    fn update(&mut self, name: &str, spec: InstanceSpec) -> Result<(), EngineError> {
        spec.validate().map_err(EngineError::Spec)?;
        let id = self.id(name)?;
        if spec.name != name && self.by_name.contains_key(&spec.name) {
            return Err(EngineError::Duplicate(spec.name));
        }
        let Some(slot) = self.slot(id) else {
            return Err(EngineError::UnknownInstance(name.to_owned()));
        };
        let old = &slot.spec;
        let same_identity = old.ifname == spec.ifname
            && old.send_ifname == spec.send_ifname
            && old.family == spec.family
            && old.vrid == spec.vrid
            && old.is_unicast() == spec.is_unicast();
        let current = *slot.fsm.config();
        let wanted = fsm_config(&spec, current.primary_address);
        let priority_changed = current.priority != wanted.priority;
        let owner_involved = priority_changed && (old.priority == 255 || spec.priority == 255);
        let same_fsm = InstanceConfig {
            priority: wanted.priority,
            ..current
        } == wanted
            && spec.unicast_src == old.unicast_src;
        let state = slot.fsm.state();
        if !same_identity || (state == State::Master && (!same_fsm || owner_involved)) {
            self.remove(id);
            return self.add(spec);
        }
        let rebuild = !same_fsm || owner_involved;
        let old_requests = slot.vip_requests.clone();
        let old_name = slot.spec.name.clone();
        let send_ifindex = slot.send_ifindex;
        self.drop_gratuitous(id);
        let (devs, requests) = match send_ifindex {
            Some(send_ifindex) => self.vip_targets(&spec.name, &spec.vips, send_ifindex),
            None => (Vec::new(), Vec::new()),
        };
        self.by_name.remove(&old_name);
        self.by_name.insert(spec.name.clone(), id);
        let Some(slot) = self.slot_mut(id) else {
            return Ok(());
        };
        slot.vip_addrs = spec.vips.iter().map(|v| v.addr).collect();
        slot.vip_ifindex = devs;
        slot.vip_requests = requests;
        if rebuild {
            slot.fsm = Instance::new(fsm_config(&spec, current.primary_address));
            slot.spec = spec;
            if let Some(at) = slot.deadline.take() {
                self.timers.remove(&(at, id));
            }
            if self.started {
                self.start_one(id);
            }
            return Ok(());
        }
        let new_priority = spec.priority;
        slot.spec = spec;
        if state == State::Master {
            self.diff_master_vips(id, &old_requests);
        }
        if priority_changed {
            self.feed(id, now(), Input::SetPriority(new_priority), None);
        }
        Ok(())
    }

    /// A master whose VIP list changed: remove the gone VIPs, add the new ones and announce them.
    fn diff_master_vips(&mut self, id: usize, old: &[AddrRequest]) {
        let same = |a: &AddrRequest, b: &AddrRequest| {
            a.ifindex == b.ifindex && a.addr == b.addr && a.prefix == b.prefix
        };
        let Some(slot) = self.slot(id) else { return };
        let gone: Vec<AddrRequest> = old
            .iter()
            .filter(|o| !slot.vip_requests.iter().any(|n| same(o, n)))
            .cloned()
            .collect();
        let added: Vec<AddrRequest> = slot
            .vip_requests
            .iter()
            .filter(|n| !old.iter().any(|o| same(o, n)))
            .cloned()
            .collect();
        let announce: Vec<usize> = slot
            .vip_addrs
            .iter()
            .enumerate()
            .filter(|(_, a)| added.iter().any(|r| r.addr == **a))
            .map(|(i, _)| i)
            .collect();
        for (op, reqs) in [(AddrOp::Remove, gone), (AddrOp::Add, added)] {
            let mut results = Vec::new();
            let outcome = self.rtnl.change_addrs(op, &reqs, &mut results);
            let failed = outcome.err().map(|e| e.to_string()).or_else(|| {
                results
                    .iter()
                    .find_map(|r| r.as_ref().err().map(ToString::to_string))
            });
            if let Some(e) = failed {
                let name = self
                    .slot(id)
                    .map(|s| s.spec.name.clone())
                    .unwrap_or_default();
                self.warn(&name, format!("reload: cannot change VIPs: {e}"));
            }
        }
        for vip in announce {
            self.send_gratuitous_one(id, vip);
        }
    }

    /// Forget an instance's interfaces (removed, or the instance goes away).
    fn unresolve(&mut self, id: usize) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let (Some(ifindex), Some(send_ifindex)) = (slot.ifindex.take(), slot.send_ifindex.take())
        else {
            return;
        };
        let (family, vrid) = (slot.family(), slot.spec.vrid);
        if let Some(ids) = self.demux.get_mut(&(ifindex, family, vrid)) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                self.demux.remove(&(ifindex, family, vrid));
            }
        }
        self.release_channel(ifindex, family);
        if send_ifindex != ifindex {
            self.release_channel(send_ifindex, family);
        }
    }

    fn open_channel(&mut self, ifindex: u32, family: IpFamily, ifname: &str) -> io::Result<()> {
        if let Some(&idx) = self.channel_of.get(&(ifindex, family)) {
            if let Some(Some(ch)) = self.channels.get_mut(idx) {
                ch.users += 1;
                return Ok(());
            }
        }
        let fd = socket::open_vrrp(family, ifindex, ifname)?;
        let idx = self
            .channels
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.channels.len());
        sys::epoll_add(
            self.epoll.as_fd(),
            fd.as_fd(),
            TOKEN_FIRST_CHANNEL + idx as u64,
        )?;
        if idx == self.channels.len() {
            self.channels.push(None);
        }
        self.channels[idx] = Some(Channel {
            fd,
            key: (ifindex, family),
            users: 1,
        });
        self.channel_of.insert((ifindex, family), idx);
        Ok(())
    }

    fn release_channel(&mut self, ifindex: u32, family: IpFamily) {
        let Some(&idx) = self.channel_of.get(&(ifindex, family)) else {
            return;
        };
        let Some(slot) = self.channels.get_mut(idx) else {
            return;
        };
        let close = match slot {
            Some(ch) => {
                ch.users = ch.users.saturating_sub(1);
                ch.users == 0
            }
            None => false,
        };
        if close {
            if let Some(ch) = slot.take() {
                let _ = sys::epoll_del(self.epoll.as_fd(), ch.fd.as_fd());
            }
            self.channel_of.remove(&(ifindex, family));
        }
    }

    /// Pick the advert source: the first primary IPv4 address of the interface, or its first usable
    /// link-local IPv6 address; never one of our VIPs.
    fn source_for(&self, ifindex: u32, family: IpFamily, vips: &[IpAddr]) -> Option<IpAddr> {
        let candidates = self.addrs.iter().filter(|a| {
            a.ifindex == ifindex
                && IpFamily::of(&a.addr) == family
                && a.is_usable()
                && !vips.contains(&a.addr)
        });
        match family {
            IpFamily::Inet => {
                let mut first = None;
                for a in candidates {
                    if a.flags & netlink::IFA_F_SECONDARY == 0 {
                        return Some(a.addr);
                    }
                    first = first.or(Some(a.addr));
                }
                first
            }
            IpFamily::Inet6 => candidates
                .map(|a| a.addr)
                .find(|a| matches!(a, IpAddr::V6(v6) if is_link_local(v6))),
        }
    }

    fn refresh_source(&mut self, id: usize) {
        let Some(slot) = self.slot(id) else { return };
        let Some(ifindex) = slot.ifindex else { return };
        let src = self.source_for(ifindex, slot.family(), &slot.vip_addrs);
        if let Some(slot) = self.slot_mut(id) {
            if src.is_some() {
                slot.missing_source_reported = false;
            }
            slot.src = src;
        }
        self.adopt_primary(id);
    }

    /// The FSM learns our primary address (for the equal-priority tie-break) when it is built.
    /// An instance built before its interface had one (missing interface, no address yet) is
    /// rebuilt once the address is known, as long as it has done nothing yet (Initialize/Fault).
    fn adopt_primary(&mut self, id: usize) {
        let started = self.started;
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let Some(src) = slot.src else { return };
        let idle = matches!(slot.fsm.state(), State::Initialize | State::Fault);
        if slot.spec.unicast_src.is_some()
            || !slot.fsm.config().primary_address.is_unspecified()
            || !idle
        {
            return;
        }
        let was_running = started && slot.fsm.state() == State::Fault;
        slot.fsm = Instance::new(fsm_config(&slot.spec, src));
        if let Some(at) = slot.deadline.take() {
            self.timers.remove(&(at, id));
        }
        if was_running {
            // Replay the start quietly: the user already saw this instance enter FAULT.
            let seen = self.pending_events.len();
            self.start_one(id);
            self.pending_events.truncate(seen);
        }
    }

    /// Interface fault: missing, or not up and running.
    fn refresh_interface_fault(&mut self, id: usize) {
        let Some(slot) = self.slot(id) else { return };
        let reason = match (slot.ifindex, slot.send_ifindex) {
            (Some(i), Some(s)) => {
                let down = |ix: u32, name: &str| {
                    (!self.links.get(&ix).is_some_and(Link::is_running))
                        .then(|| format!("interface {name} down"))
                };
                down(i, &slot.spec.ifname).or_else(|| down(s, slot.spec.send_ifname()))
            }
            _ => {
                let name = if self.link_by_name(&slot.spec.ifname).is_none() {
                    &slot.spec.ifname
                } else {
                    slot.spec.send_ifname()
                };
                Some(format!("interface {name} not found"))
            }
        };
        self.set_faults(id, |f| f.interface = reason);
    }

    /// Change an instance's fault sources and tell the FSM when the level changes.
    fn set_faults(&mut self, id: usize, change: impl FnOnce(&mut Faults)) {
        let started = self.started;
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let before = slot.faults.reason().map(str::to_owned);
        let iface_before = slot.faults.interface.clone();
        change(&mut slot.faults);
        let after = slot.faults.reason().map(str::to_owned);
        let iface_after = slot.faults.interface.clone();
        let (name, state, prio) = (
            slot.spec.name.clone(),
            slot.fsm.state(),
            slot.fsm.effective_priority(),
        );
        if iface_before != iface_after {
            let reason = match (&iface_before, &iface_after) {
                (_, Some(r)) => r.clone(),
                (Some(_), None) => format!("interface {} up", slot.spec.ifname),
                (None, None) => String::new(),
            };
            self.event(
                "fault",
                name,
                state_name(state),
                state_name(state),
                reason,
                prio,
            );
        }
        if !started {
            return;
        }
        match (before.is_some(), after.is_some()) {
            (false, true) => self.feed(id, now(), Input::Fault, None),
            (true, false) => self.feed(id, now(), Input::Unfault, None),
            _ => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // the state machine and its actions

    /// Give the FSM an input, execute its actions in order, and re-arm the instance's timer.
    /// `due` is the deadline that fired, to measure how late adverts leave.
    fn feed(&mut self, id: usize, now: Timestamp, input: Input, due: Option<Timestamp>) {
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        match self.slot_mut(id) {
            Some(slot) => slot.fsm.handle(now, input, &mut actions),
            None => {
                self.actions = actions;
                return;
            }
        }
        let mut took_over = false;
        for action in &actions {
            match *action {
                Action::SendAdvert { priority } => self.send_advert(id, priority, due),
                Action::AddVips => {
                    let t0 = sys::monotonic_ns();
                    self.change_vips(id, AddrOp::Add);
                    let spent = sys::monotonic_ns().saturating_sub(t0);
                    if let Some(slot) = self.slot_mut(id) {
                        slot.vip_add_ns = spent;
                    }
                    took_over = true;
                }
                Action::RemoveVips => {
                    self.drop_gratuitous(id);
                    self.change_vips(id, AddrOp::Remove);
                }
                Action::SendGratuitous => {
                    self.send_gratuitous(id, now);
                    if let (true, Some(at)) = (took_over, due) {
                        let spent = sys::monotonic_ns().saturating_sub(at.as_nanos());
                        if let Some(slot) = self.slot_mut(id) {
                            slot.takeover_garp_ns = spent;
                        }
                        took_over = false;
                    }
                }
                Action::Transition { from, to, reason } => {
                    let Some(slot) = self.slot(id) else { continue };
                    let text = match (to, slot.faults.reason()) {
                        (State::Fault, Some(r)) => r.to_owned(),
                        _ => reason.as_str().to_owned(),
                    };
                    let (name, prio) = (slot.spec.name.clone(), slot.fsm.effective_priority());
                    // keepalived calls the state a stopped instance enters STOP (notify_stop).
                    let to = if reason == Reason::Shutdown {
                        "STOP"
                    } else {
                        state_name(to)
                    };
                    self.event("transition", name, state_name(from), to, text, prio);
                }
            }
        }
        self.actions = actions;
        self.reschedule(id);
    }

    fn reschedule(&mut self, id: usize) {
        let Some(slot) = self.slots.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let next = slot.fsm.next_deadline();
        if next != slot.deadline {
            if let Some(old) = slot.deadline {
                self.timers.remove(&(old, id));
            }
            if let Some(new) = next {
                self.timers.insert((new, id));
            }
            slot.deadline = next;
        }
    }

    fn send_advert(&mut self, id: usize, priority: u8, due: Option<Timestamp>) {
        let Runtime {
            slots,
            channels,
            channel_of,
            txbuf,
            ..
        } = self;
        let Some(Some(slot)) = slots.get_mut(id) else {
            return;
        };
        let Some(send_ifindex) = slot.send_ifindex else {
            return;
        };
        let family = slot.family();
        let Some(Some(ch)) = channel_of
            .get(&(send_ifindex, family))
            .and_then(|&i| channels.get(i))
        else {
            return;
        };
        let src = slot.spec.unicast_src.or(slot.src);
        let Some(src) = src else {
            if !slot.missing_source_reported {
                slot.missing_source_reported = true;
                let msg = format!(
                    "no usable {family:?} address on {} to send adverts from",
                    slot.spec.ifname
                );
                let ev = warning_event(slot, msg);
                self.pending_events.push(ev);
            }
            return;
        };
        let multicast = [group(family)];
        let dsts: &[IpAddr] = if slot.spec.is_unicast() {
            &slot.spec.unicast_peers
        } else {
            &multicast
        };
        let mut failure = None;
        for &dst in dsts {
            let params = wire::AdvertParams {
                version: wire_version(slot.spec.version),
                vrid: slot.spec.vrid,
                priority,
                interval_cs: slot.spec.advert_interval_cs,
                addresses: &slot.vip_addrs,
                auth: slot.spec.auth,
                checksum_form: slot.spec.checksum_form,
                src,
                dst,
            };
            let sent = match wire::build(txbuf, &params) {
                Ok(len) => {
                    sys::send_ip(ch.fd.as_fd(), &txbuf[..len], src, dst, send_ifindex).map(drop)
                }
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, e.to_string())),
            };
            if let Err(e) = sent {
                slot.stats.send_err += 1;
                failure = Some(format!("cannot send advert to {dst}: {e}"));
            }
        }
        if let Some(at) = due {
            slot.lateness
                .record(sys::monotonic_ns().saturating_sub(at.as_nanos()));
        }
        // Report the first failure of a run of failures, not every advert.
        match failure {
            Some(msg) if !slot.sending_failed => {
                slot.sending_failed = true;
                let ev = warning_event(slot, msg);
                self.pending_events.push(ev);
            }
            Some(_) => {}
            None => slot.sending_failed = false,
        }
    }

    fn change_vips(&mut self, id: usize, op: AddrOp) {
        let Runtime {
            slots,
            rtnl,
            addr_results,
            pending_events,
            ..
        } = self;
        let Some(Some(slot)) = slots.get_mut(id) else {
            return;
        };
        if let Err(e) = rtnl.change_addrs(op, &slot.vip_requests, addr_results) {
            pending_events.push(warning_event(
                slot,
                format!("netlink: cannot change VIPs: {e}"),
            ));
            return;
        }
        for (req, result) in slot.vip_requests.iter().zip(addr_results.iter()) {
            if let Err(e) = result {
                let verb = if op == AddrOp::Add { "add" } else { "remove" };
                pending_events.push(warning_event(
                    slot,
                    format!("cannot {verb} VIP {}/{}: {e}", req.addr, req.prefix),
                ));
            }
        }
    }

    /// One gratuitous batch: one GARP / unsolicited NA per VIP. With `garp_interval` the packets
    /// join the instance's queue and leave one per interval, as keepalived paces them.
    fn send_gratuitous(&mut self, id: usize, now: Timestamp) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let count = slot.vip_addrs.len();
        if slot.spec.gratuitous.interval.is_zero() {
            for vip in 0..count {
                self.send_gratuitous_one(id, vip);
            }
            return;
        }
        let room = MAX_QUEUED_GRATUITOUS.saturating_sub(slot.garp_queue.len());
        slot.garp_queue.extend((0..count).take(room));
        if slot.garp_due.is_none() {
            self.pace_gratuitous(id, now);
        }
    }

    /// Send the next queued gratuitous packet and schedule the one after.
    fn pace_gratuitous(&mut self, id: usize, now: Timestamp) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let Some(vip) = slot.garp_queue.pop_front() else {
            return;
        };
        let next = (!slot.garp_queue.is_empty()).then(|| now + slot.spec.gratuitous.interval);
        slot.garp_due = next;
        if let Some(at) = next {
            self.garp_timers.insert((at, id));
        }
        self.send_gratuitous_one(id, vip);
    }

    /// Forget queued gratuitous packets (the VIPs are gone).
    fn drop_gratuitous(&mut self, id: usize) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.garp_queue.clear();
        if let Some(at) = slot.garp_due.take() {
            self.garp_timers.remove(&(at, id));
        }
    }

    fn send_gratuitous_one(&mut self, id: usize, vip: usize) {
        let Runtime {
            slots,
            links,
            addrs,
            packet,
            frame,
            ..
        } = self;
        let Some(Some(slot)) = slots.get_mut(id) else {
            return;
        };
        let (Some(addr), Some(Some(ifindex))) =
            (slot.vip_addrs.get(vip), slot.vip_ifindex.get(vip))
        else {
            return;
        };
        let ifindex = *ifindex;
        let Some(mac) = links.get(&ifindex).and_then(|l| l.mac) else {
            return;
        };
        let sent = match addr {
            IpAddr::V4(v4) => arp::emit_gratuitous(frame, mac, *v4).map(|n| {
                sys::send_frame(
                    packet.as_fd(),
                    &frame[..n],
                    ifindex,
                    arp::BROADCAST,
                    arp::ETHERTYPE_ARP,
                )
            }),
            IpAddr::V6(v6) => {
                let src = addrs.iter().find_map(|a| match a.addr {
                    IpAddr::V6(s) if a.ifindex == ifindex && is_link_local(&s) && a.is_usable() => {
                        Some(s)
                    }
                    _ => None,
                });
                let Some(src) = src else { return };
                ndisc::emit_unsolicited_na_frame(frame, mac, src, *v6, false).map(|n| {
                    sys::send_frame(
                        packet.as_fd(),
                        &frame[..n],
                        ifindex,
                        ALL_NODES_MAC,
                        ETHERTYPE_IPV6,
                    )
                })
            }
        };
        if !matches!(sent, Ok(Ok(_))) {
            slot.stats.send_err += 1;
        }
    }

    // -----------------------------------------------------------------------------------------
    // receive

    fn receive(&mut self, token: u64) {
        let Some(idx) = token
            .checked_sub(TOKEN_FIRST_CHANNEL)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let mut buf = std::mem::take(&mut self.rxbuf);
        for _ in 0..RECV_BUDGET {
            let Some(Some(ch)) = self.channels.get(idx) else {
                break;
            };
            let key = ch.key;
            let got = match sys::recv_ip(ch.fd.as_fd(), &mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            };
            let now = now();
            let data = buf.get(..got.len).unwrap_or(&[]);
            let (payload, ttl, dst) = match key.1 {
                IpFamily::Inet => match split_ipv4(data) {
                    Some((p, ttl, dst)) => (p, Some(ttl), IpAddr::V4(dst)),
                    None => continue,
                },
                IpFamily::Inet6 => (
                    data,
                    got.ttl,
                    got.dst.unwrap_or_else(|| group(IpFamily::Inet6)),
                ),
            };
            let ip_header_len = data.len() - payload.len();
            let Some(&vrid) = payload.get(1) else {
                continue;
            };
            let count = self.demux.get(&(key.0, key.1, vrid)).map_or(0, Vec::len);
            for k in 0..count {
                let Some(&id) = self.demux.get(&(key.0, key.1, vrid)).and_then(|v| v.get(k)) else {
                    break;
                };
                self.advert_for(
                    id,
                    now,
                    got.src,
                    dst,
                    ttl,
                    got.truncated,
                    ip_header_len,
                    payload,
                );
            }
        }
        self.rxbuf = buf;
    }

    /// Check one received advert for instance `id` and hand it to the FSM, or count (and report)
    /// why it is dropped, in keepalived's order and words.
    #[allow(clippy::too_many_arguments)]
    fn advert_for(
        &mut self,
        id: usize,
        now: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        ttl: Option<u8>,
        truncated: bool,
        ip_header_len: usize,
        payload: &[u8],
    ) {
        let own = |a: &IpAddr, ifindex: Option<u32>| {
            self.addrs
                .iter()
                .any(|x| Some(x.ifindex) == ifindex && x.addr == *a)
        };
        let Some(slot) = self.slot(id) else { return };
        if !self.started || slot.fsm.state() == State::Initialize {
            return;
        }
        if slot.src == Some(src) || slot.spec.unicast_src == Some(src) || own(&src, slot.ifindex) {
            return; // our own advert
        }
        let unicast = slot.spec.is_unicast();
        let peer = slot.spec.unicast_peers.iter().position(|p| *p == src);
        let ttl_range = peer
            .and_then(|i| slot.spec.unicast_peer_ttl.get(i))
            .copied();
        let expected_auth = slot.spec.auth;
        let our_version = wire_version(slot.spec.version);
        let our_count = slot.vip_addrs.len();
        let byte = |i: usize| payload.get(i).copied().unwrap_or(0);
        let received = ip_header_len + payload.len();
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        if truncated {
            slot.stats.packet_len_err += 1;
            return self.report_drop(id, DropKind::Length, || {
                format!("vrrp packet too long, length {received} and more")
            });
        }
        let ttl_shown = ttl.map_or(-1, i32::from);
        if unicast {
            if peer.is_none() {
                slot.stats.unknown_peer += 1;
                return self.report_drop(id, DropKind::UnknownPeer, || {
                    format!("unicast source address {src} not a unicast peer")
                });
            }
            // keepalived's per-peer `min_ttl`/`max_ttl`; no range configured: any TTL.
            if let Some((lo, hi)) = ttl_range {
                if !ttl.is_some_and(|t| (lo..=hi).contains(&t)) {
                    slot.stats.ip_ttl_err += 1;
                    return self.report_drop(id, DropKind::PeerTtl, || {
                        format!("TTL/HL {ttl_shown} not in range {lo} - {hi}")
                    });
                }
            }
        } else if ttl != Some(255) {
            slot.stats.ip_ttl_err += 1;
            return self.report_drop(id, DropKind::Ttl, || {
                format!("invalid TTL/HL. Received {ttl_shown} and expect 255")
            });
        }
        let version = byte(0) >> 4;
        if payload.len() >= wire::vrrp::HEADER_LEN && version != our_version as u8 {
            slot.stats.version_err += 1;
            let ours = our_version as u8;
            return self.report_drop(id, DropKind::Version, || {
                format!("wrong version. Received {version} and expect {ours}")
            });
        }
        let advert = match wire::parse(payload, src, dst, Some(&expected_auth)) {
            Ok(a) => a,
            Err(e) => {
                slot.stats.count(e);
                let (kind, count, auth) = (byte(0) & 0x0f, byte(3), byte(4));
                let ours = expected_auth.kind as u8;
                let expected = ip_header_len
                    + wire::vrrp::message_len(
                        our_version,
                        wire::Family::of(&src),
                        usize::from(count),
                    );
                return match e {
                    WireError::Length | WireError::Family => {
                        self.report_drop(id, DropKind::Length, || {
                            let size = if received > expected { "long" } else { "short" };
                            format!("vrrp packet too {size}, length {received} and expect {expected}")
                        })
                    }
                    WireError::Version => self.report_drop(id, DropKind::Version, || {
                        format!("wrong version. Received {version} and expect {}", our_version as u8)
                    }),
                    WireError::AuthTypeUnknown => self.report_drop(id, DropKind::AuthType, || {
                        format!("Invalid auth type: {auth}")
                    }),
                    WireError::AuthTypeMismatch => self.report_drop(id, DropKind::AuthMismatch, || {
                        format!("received a {auth} auth, expecting {ours}!")
                    }),
                    WireError::Auth => self.report_drop(id, DropKind::Password, || {
                        "received an invalid passwd!".to_owned()
                    }),
                    WireError::Interval => self.report_drop(id, DropKind::Interval, || {
                        "advertisement interval is zero".to_owned()
                    }),
                    WireError::Type => self.report_drop(id, DropKind::Type, || {
                        format!("Invalid packet type. {kind} and expect 1")
                    }),
                    WireError::AddressCount | WireError::AddressList => {
                        self.report_drop(id, DropKind::AddressCount, || {
                            format!("received an unexpected ip number count {count}, expected {our_count}!")
                        })
                    }
                    WireError::Checksum => self.report_drop(id, DropKind::Checksum, || {
                        format!("Invalid VRRPv{version} checksum")
                    }),
                };
            }
        };
        let addresses_match = advert.addresses.same_set(&slot.vip_addrs);
        let their_count = advert.addresses.len();
        let missing = slot
            .vip_addrs
            .iter()
            .find(|v| !advert.addresses.contains(v))
            .copied();
        let vrid = slot.spec.vrid;
        let their_interval = advert.interval_cs;
        let before = *slot.fsm.stats();
        let input = Input::AdvertReceived {
            src,
            priority: advert.priority,
            interval_cs: advert.interval_cs,
            addresses_match,
        };
        self.feed(id, now, input, None);
        // The FSM's own drops (v2 interval, address list), in keepalived's words.
        let Some(slot) = self.slot(id) else { return };
        let after = *slot.fsm.stats();
        let ours = slot.spec.advert_interval_cs;
        if after.advert_interval_err > before.advert_interval_err {
            self.report_drop(id, DropKind::IntervalMismatch, || {
                format!(
                    "advertisement interval mismatch mine={} sec rcv'd={} sec",
                    ours / 100,
                    their_interval / 100
                )
            });
        } else if after.addr_list_err > before.addr_list_err {
            self.report_drop(id, DropKind::AddressList, || match missing {
                Some(vip) if their_count == our_count => {
                    format!("ip address associated with VRID {vrid} not present in MASTER advert : {vip}")
                }
                _ => format!("expected {our_count} VIPs but received {their_count}"),
            });
        }
    }

    /// Report a dropped advert as a `drop` event, at most once a second per instance and reason:
    /// a misconfigured peer at 10 ms would otherwise flood the log.
    fn report_drop(&mut self, id: usize, kind: DropKind, message: impl FnOnce() -> String) {
        let now_ns = sys::monotonic_ns();
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let Some(last) = slot.drop_reported.get_mut(kind as usize) else {
            return;
        };
        if *last != 0 && now_ns.saturating_sub(*last) < DROP_REPORT_INTERVAL_NS {
            return;
        }
        *last = now_ns;
        let (state, prio) = (state_name(slot.fsm.state()), slot.fsm.effective_priority());
        let name = slot.spec.name.clone();
        self.event("drop", name, state, state, message(), prio);
    }

    // -----------------------------------------------------------------------------------------
    // link and address changes

    fn read_rtnl(&mut self) {
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        let complete = match self.rtnl_events.read(&mut changes) {
            Ok(complete) => complete,
            Err(e) => {
                self.warn("", format!("netlink events: {e}"));
                true
            }
        };
        if !complete {
            // The kernel dropped events: re-read everything.
            if let Ok(links) = self.rtnl.links() {
                self.links = links.into_iter().map(|l| (l.ifindex, l)).collect();
            }
            if let Ok(addrs) = self.rtnl.addrs() {
                self.addrs = addrs;
            }
        }
        for change in changes.drain(..) {
            match change {
                Change::Link(link) => {
                    self.links.insert(link.ifindex, link);
                }
                Change::LinkGone(ifindex) => {
                    self.links.remove(&ifindex);
                    self.addrs.retain(|a| a.ifindex != ifindex);
                    for id in 0..self.slots.len() {
                        let uses = self.slot(id).is_some_and(|s| {
                            s.ifindex == Some(ifindex) || s.send_ifindex == Some(ifindex)
                        });
                        if uses {
                            self.unresolve(id);
                        }
                    }
                }
                Change::Addr(addr) => {
                    if let Some(known) = self
                        .addrs
                        .iter_mut()
                        .find(|a| a.ifindex == addr.ifindex && a.addr == addr.addr)
                    {
                        *known = addr;
                    } else {
                        self.addrs.push(addr);
                    }
                }
                Change::AddrGone(addr) => self
                    .addrs
                    .retain(|a| !(a.ifindex == addr.ifindex && a.addr == addr.addr)),
            }
        }
        self.changes = changes;
        // Few instances change per event, and this path is never hot: re-check all of them.
        for id in 0..self.slots.len() {
            if self.slot(id).is_some_and(|s| s.ifindex.is_none()) {
                self.resolve(id);
            }
            self.refresh_source(id);
            self.refresh_interface_fault(id);
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

    pub fn status(&self) -> Vec<InstanceStatus> {
        self.slots.iter().flatten().map(status_of).collect()
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

fn fsm_config(spec: &InstanceSpec, primary: IpAddr) -> InstanceConfig {
    let mut c = InstanceConfig::new(spec.vrid, spec.version, primary);
    c.priority = spec.priority;
    c.advert_interval_cs = spec.advert_interval_cs;
    c.preempt = spec.preempt;
    c.preempt_delay = spec.preempt_delay;
    c.start_state = if spec.start_master {
        StartState::Master
    } else {
        StartState::Backup
    };
    c.address_list_check = if spec.skip_check_adv_addr {
        AddressListCheck::SkipFromCurrentMaster
    } else {
        AddressListCheck::Drop
    };
    c.gratuitous = spec.gratuitous;
    c.lower_prio_no_advert = spec.lower_prio_no_advert;
    c.higher_prio_send_advert = spec.higher_prio_send_advert;
    c.down_timer_adverts = spec.down_timer_adverts;
    c
}

fn status_of(slot: &Slot) -> InstanceStatus {
    let fsm = &slot.fsm;
    let f = fsm.stats();
    let e = &slot.stats;
    let secs = |cs: u16| f64::from(cs) / 100.0;
    let lateness = &slot.lateness;
    InstanceStatus {
        iname: slot.spec.name.clone(),
        ifname: slot.spec.ifname.clone(),
        vrid: slot.spec.vrid,
        state: fsm.state().keepalived_code(),
        wantstate: if slot.spec.start_master {
            State::Master
        } else {
            State::Backup
        }
        .keepalived_code(),
        // The configured priority: a reload changes it through a priority input.
        base_priority: slot.spec.priority,
        effective_priority: fsm.effective_priority(),
        adver_int: secs(fsm.advert_interval_cs()),
        master_adver_int: secs(fsm.master_advert_interval_cs()),
        vips: slot.spec.vips.iter().map(|v| v.addr.to_string()).collect(),
        last_transition: fsm
            .last_transition()
            .map_or(0.0, |t| t.as_nanos() as f64 / 1e9),
        master_addr: match fsm.state() {
            State::Master => slot.spec.unicast_src.or(slot.src),
            _ => fsm.master_address(),
        },
        stats: vec![
            ("advert_rcvd", f.advert_rcvd),
            ("advert_sent", f.advert_sent),
            ("become_master", f.become_master),
            ("release_master", f.release_master),
            ("packet_len_err", e.packet_len_err),
            (
                "advert_interval_err",
                e.advert_interval_err + f.advert_interval_err,
            ),
            ("ip_ttl_err", e.ip_ttl_err),
            ("invalid_type_rcvd", e.invalid_type_rcvd),
            ("addr_list_err", e.addr_list_err + f.addr_list_err),
            ("invalid_authtype", e.invalid_authtype),
            ("authtype_mismatch", e.authtype_mismatch),
            ("auth_failure", e.auth_failure),
            ("pri_zero_rcvd", f.pri_zero_rcvd),
            ("pri_zero_sent", f.pri_zero_sent),
        ],
        engine: vec![
            ("checksum_err", e.checksum_err),
            ("version_err", e.version_err),
            ("unknown_peer", e.unknown_peer),
            ("send_err", e.send_err),
            ("advert_lateness_count", lateness.count),
            (
                "advert_lateness_p50_us",
                lateness.quantile_bound_us(0.5).unwrap_or(0),
            ),
            (
                "advert_lateness_p99_us",
                lateness.quantile_bound_us(0.99).unwrap_or(0),
            ),
            ("advert_lateness_max_us", lateness.max_ns / 1_000),
            ("takeover_garp_ns", slot.takeover_garp_ns),
            ("vip_add_ns", slot.vip_add_ns),
        ],
    }
}
