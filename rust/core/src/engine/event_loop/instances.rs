//! Adding, updating and removing instances; their interfaces, sockets, sources and faults.

use super::*;

impl Runtime {
    // -----------------------------------------------------------------------------------------
    // instances

    pub(super) fn id(&self, name: &str) -> Result<usize, EngineError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| EngineError::UnknownInstance(name.to_owned()))
    }

    pub(super) fn slot(&self, id: usize) -> Option<&Slot> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    pub(super) fn slot_mut(&mut self, id: usize) -> Option<&mut Slot> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    pub(super) fn link_by_name(&self, name: &str) -> Option<u32> {
        self.links
            .values()
            .find(|l| l.name == name)
            .map(|l| l.ifindex)
    }

    pub(super) fn add(&mut self, spec: InstanceSpec) -> Result<(), EngineError> {
        spec.validate().map_err(EngineError::Spec)?;
        if self.by_name.contains_key(&spec.name) {
            return Err(EngineError::Duplicate(spec.name));
        }
        let primary = spec.unicast_src.unwrap_or(match spec.family {
            IpFamily::Inet => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let vip_addrs: Vec<IpAddr> = spec.vips.iter().map(|v| v.addr).collect();
        // Any start will do (the kernel's is a hash): differ between instances and runs.
        let ip_ident = (sys::monotonic_ns() as u16) ^ (u16::from(spec.vrid) << 8);
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
            last_arrival: None,
            missing_source_reported: false,
            takeover_garp_ns: 0,
            vip_add_ns: 0,
            takeover_due: None,
            garp_round: 0,
            other_masters: OtherMasters::default(),
            ip_ident,
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

    pub(super) fn remove(&mut self, id: usize) {
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

    pub(super) fn start_one(&mut self, id: usize) {
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

    pub(super) fn start_all(&mut self) {
        self.started = true;
        for id in 0..self.slots.len() {
            self.start_one(id);
        }
    }

    pub(super) fn stop_all(&mut self) {
        let t = now();
        for id in 0..self.slots.len() {
            self.feed(id, t, Input::Shutdown, None);
        }
        self.started = false;
    }

    /// Find the interfaces of an instance and open (or share) their sockets. A missing interface
    /// is a fault of the instance, never an error of the engine.
    pub(super) fn resolve(&mut self, id: usize) {
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
        let group = slot_group(self.slot(id));
        for (via, via_name) in [(ifindex, &ifname), (send_ifindex, &send_ifname)] {
            if let Err(e) = self.join_group(via, family, group) {
                self.warn(&name, format!("cannot join {group} on {via_name}: {e}"));
            }
        }
        let (devs, requests) = self.vip_targets(&name, &vips, send_ifindex);
        // With use_vmac, adverts can arrive on either: a private-mode macvlan takes the frames that
        // carry its own MAC (the master's VMAC) away from the interface, a bridge-mode one does not.
        for via in [ifindex, send_ifindex] {
            let table = self
                .demux
                .entry((via, family))
                .or_insert_with(|| vec![Vec::new(); 256]);
            if let Some(ids) = table.get_mut(usize::from(vrid)) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
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
    pub(super) fn vip_targets(
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
    pub(super) fn update(&mut self, name: &str, spec: InstanceSpec) -> Result<(), EngineError> {
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
            && old.is_unicast() == spec.is_unicast()
            // A new group is joined when the instance is added again.
            && old.group() == spec.group();
        let current = *slot.fsm.config();
        let wanted = fsm_config(&spec, current.primary_address);
        let priority_changed = current.priority != wanted.priority;
        let owner_involved = priority_changed && (old.priority == 255 || spec.priority == 255);
        let changed = wanted != current;
        // The FSM keeps its state through any other change (`Instance::reconfigure`).
        let reconfigurable = !owner_involved
            && wanted.version == current.version
            && spec.unicast_src == old.unicast_src;
        let state = slot.fsm.state();
        if !same_identity || (state == State::Master && !reconfigurable) {
            self.remove(id);
            return self.add(spec);
        }
        let rebuild = !reconfigurable;
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
        slot.spec = spec;
        if changed {
            let mut actions = std::mem::take(&mut self.actions);
            actions.clear();
            if let Some(slot) = self.slot_mut(id) {
                slot.fsm.reconfigure(now(), wanted, &mut actions);
            }
            // `reconfigure` sends nothing today; keep the buffer for the loop.
            self.actions = actions;
            self.reschedule(id);
        }
        if state == State::Master {
            self.diff_master_vips(id, &old_requests);
        }
        Ok(())
    }

    /// A master whose VIP list changed: remove the gone VIPs, add the new ones and announce them.
    pub(super) fn diff_master_vips(&mut self, id: usize, old: &[AddrRequest]) {
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
    pub(super) fn unresolve(&mut self, id: usize) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let (Some(ifindex), Some(send_ifindex)) = (slot.ifindex.take(), slot.send_ifindex.take())
        else {
            return;
        };
        let (family, vrid) = (slot.family(), slot.spec.vrid);
        for via in [ifindex, send_ifindex] {
            if let Some(table) = self.demux.get_mut(&(via, family)) {
                if let Some(ids) = table.get_mut(usize::from(vrid)) {
                    ids.retain(|&i| i != id);
                }
                if table.iter().all(Vec::is_empty) {
                    self.demux.remove(&(via, family));
                }
            }
        }
        self.release_channel(ifindex, family);
        if send_ifindex != ifindex {
            self.release_channel(send_ifindex, family);
        }
    }

    pub(super) fn open_channel(
        &mut self,
        ifindex: u32,
        family: IpFamily,
        ifname: &str,
    ) -> io::Result<()> {
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
            paused: false,
        });
        self.channel_of.insert((ifindex, family), idx);
        Ok(())
    }

    /// Join `group` on the channel of (`ifindex`, `family`) if it is not the default group (the
    /// socket joined that when it opened). The membership stays until the socket closes; the
    /// receive path takes only adverts to each instance's own group.
    pub(super) fn join_group(
        &mut self,
        ifindex: u32,
        family: IpFamily,
        group: IpAddr,
    ) -> io::Result<()> {
        if group == socket::group(family) {
            return Ok(());
        }
        let Some(Some(ch)) = self
            .channel_of
            .get(&(ifindex, family))
            .and_then(|&i| self.channels.get(i))
        else {
            return Ok(());
        };
        let joined = match group {
            IpAddr::V4(g) => sys::join_v4(ch.fd.as_fd(), g, ifindex),
            IpAddr::V6(g) => sys::join_v6(ch.fd.as_fd(), g, ifindex),
        };
        match joined {
            // Another instance on this socket joined it already.
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            other => other,
        }
    }

    pub(super) fn release_channel(&mut self, ifindex: u32, family: IpFamily) {
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
    pub(super) fn source_for(
        &self,
        ifindex: u32,
        family: IpFamily,
        vips: &[IpAddr],
    ) -> Option<IpAddr> {
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

    pub(super) fn refresh_source(&mut self, id: usize) {
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
    /// rebuilt once the address is known, as long as it has done nothing yet (Initialize/Fault);
    /// otherwise the FSM follows a change of the interface's primary address in place.
    pub(super) fn adopt_primary(&mut self, id: usize) {
        let started = self.started;
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let Some(src) = slot.src else { return };
        let known = slot.fsm.config().primary_address;
        if slot.spec.unicast_src.is_some() || known == src {
            return;
        }
        let idle = matches!(slot.fsm.state(), State::Initialize | State::Fault);
        if !known.is_unspecified() || !idle {
            slot.fsm.set_primary_address(src);
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
    pub(super) fn refresh_interface_fault(&mut self, id: usize) {
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
    pub(super) fn set_faults(&mut self, id: usize, change: impl FnOnce(&mut Faults)) {
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
    // link and address changes

    pub(super) fn read_rtnl(&mut self) {
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
        self.local.clear();
        self.local.extend(self.addrs.iter().map(|a| a.addr));
        // Few instances change per event, and this path is never hot: re-check all of them.
        for id in 0..self.slots.len() {
            if self.slot(id).is_some_and(|s| s.ifindex.is_none()) {
                self.resolve(id);
            }
            self.refresh_source(id);
            self.refresh_interface_fault(id);
        }
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

/// The multicast group of a slot's instance (the default IPv4 group for a missing slot).
fn slot_group(slot: Option<&Slot>) -> IpAddr {
    slot.map_or(socket::group(IpFamily::Inet), |s| s.spec.group())
}
