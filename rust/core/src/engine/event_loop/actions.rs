//! Feeding the FSM and executing its actions: adverts, VIPs, gratuitous ARP/NA, transitions.

use super::*;

impl Runtime {
    // -----------------------------------------------------------------------------------------
    // the state machine and its actions

    /// Give the FSM an input, execute its actions (see [`Runtime::execute`]), and re-arm the
    /// instance's timer. `due` is the deadline that fired, to measure how late adverts leave.
    pub(super) fn feed(&mut self, id: usize, now: Timestamp, input: Input, due: Option<Timestamp>) {
        let mut actions = std::mem::take(&mut self.actions);
        let mut batch = std::mem::take(&mut self.batch);
        actions.clear();
        batch.clear();
        if let Some(slot) = self.slot_mut(id) {
            slot.fsm.handle(now, input, &mut actions);
            batch.extend(actions.iter().map(|&a| (id, due, a)));
        }
        self.actions = actions;
        self.execute(now, &batch);
        self.batch = batch;
        self.reschedule(id);
    }

    /// Tick every instance whose deadline is in `due` (id, deadline) and execute all their
    /// actions as one batch, then re-arm their timers.
    pub(super) fn tick_all(&mut self, now: Timestamp, due: &[(usize, Timestamp)]) {
        let mut actions = std::mem::take(&mut self.actions);
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for &(id, at) in due {
            actions.clear();
            if let Some(slot) = self.slot_mut(id) {
                slot.fsm.handle(now, Input::Tick, &mut actions);
                batch.extend(actions.iter().map(|&a| (id, Some(at), a)));
            }
        }
        self.actions = actions;
        self.execute(now, &batch);
        self.batch = batch;
        for &(id, _) in due {
            self.reschedule(id);
        }
    }

    /// Execute the actions of one wake-up, (instance, deadline that fired, action), in phases
    /// so that no instance waits for another's netlink round trip:
    ///
    /// 1. every VIP add, queued into ONE netlink message batch and sent (rtnetlink adds them
    ///    during that `sendmsg`, so they exist when it returns);
    /// 2. every instance's first gratuitous batch;
    /// 3. every advert;
    /// 4. the gratuitous repeats (`garp_master_repeat`);
    /// 5. the netlink acks, read now (failures become warnings);
    /// 6. VIP removals and transitions, in order.
    ///
    /// A new master's first GARP/NA leaves before its advert, although RFC 5798 §6.4.1/§6.4.2
    /// (and keepalived) list the advert first: on a bridge or veth the advert's `sendmsg` runs
    /// the delivery to every other router in our context (40-140 µs measured), which used to
    /// delay the GARP that moves the clients' traffic. The advert follows within microseconds;
    /// that changes no election (a lower backup's Skew_Time is milliseconds longer than ours).
    /// The FSM never pushes a removal together with an add or a gratuitous batch for one
    /// instance, so moving removals last changes no instance's order.
    pub(super) fn execute(&mut self, now: Timestamp, batch: &[(usize, Option<Timestamp>, Action)]) {
        let mut adds = std::mem::take(&mut self.vip_adds);
        adds.clear();
        let t0 = sys::monotonic_ns();
        for &(id, due, action) in batch {
            if action != Action::AddVips {
                continue;
            }
            let Runtime { slots, rtnl, .. } = self;
            if let Some(Some(slot)) = slots.get_mut(id) {
                let first = rtnl.queue_addrs(AddrOp::Add, &slot.vip_requests);
                adds.push((id, first, slot.vip_requests.len()));
                slot.takeover_due = due;
            }
        }
        let sent = if adds.is_empty() {
            Ok(())
        } else {
            self.rtnl.send_queued()
        };
        let send_ns = sys::monotonic_ns().saturating_sub(t0);
        // Each instance's first gratuitous batch, then the repeats (`garp_master_repeat`): the
        // last of 100 instances taking over does not wait behind 400 repeats of the others.
        let mut first = std::mem::take(&mut self.first_garp);
        first.clear();
        self.garp_round = self.garp_round.wrapping_add(1);
        let round = self.garp_round;
        for &(id, _, action) in batch {
            let is_first = action == Action::SendGratuitous
                && self.slot_mut(id).is_some_and(|slot| {
                    let new = slot.garp_round != round;
                    slot.garp_round = round;
                    new
                });
            first.push(is_first);
            if !is_first {
                continue;
            }
            self.send_gratuitous(id, now);
            if let Some(slot) = self.slot_mut(id) {
                if let Some(at) = slot.takeover_due.take() {
                    slot.takeover_garp_ns = sys::monotonic_ns().saturating_sub(at.as_nanos());
                }
            }
        }
        for &(id, due, action) in batch {
            if let Action::SendAdvert { priority } = action {
                self.send_advert(id, priority, due);
            }
        }
        self.flush_adverts();
        for (&(id, _, action), &was_first) in batch.iter().zip(&first) {
            if action == Action::SendGratuitous && !was_first {
                self.send_gratuitous(id, now);
            }
        }
        self.first_garp = first;
        if !adds.is_empty() {
            self.finish_vip_adds(sent, &adds, send_ns);
        }
        self.vip_adds = adds;
        for &(id, _, action) in batch {
            match action {
                Action::RemoveVips => {
                    self.drop_gratuitous(id);
                    self.change_vips(id, AddrOp::Remove);
                }
                Action::Transition { from, to, reason } => {
                    self.report_transition(id, from, to, reason);
                }
                Action::SendAdvert { .. }
                | Action::AddVips
                | Action::SendGratuitous
                | Action::SyncGroup(_) => {}
            }
        }
        // Sync groups last, so the member that moved has sent its packets first. The members'
        // forced transitions push no `SyncGroup`, so this recurses once at most.
        for &(id, _, action) in batch {
            if let Action::SyncGroup(state) = action {
                self.sync_group(id, now, state);
            }
        }
    }

    /// Bring the other members of `id`'s sync group to `state` (Master or Backup), as keepalived's
    /// `vrrp_sync_master` / `vrrp_sync_backup`; the FSM ignores it for faulted members.
    fn sync_group(&mut self, id: usize, now: Timestamp, state: State) {
        let input = match state {
            State::Master => Input::SyncMaster,
            State::Backup => Input::SyncBackup,
            State::Initialize | State::Fault => return,
        };
        let Some(group) = self.slot(id).and_then(|s| s.spec.sync_group.clone()) else {
            return;
        };
        for other in 0..self.slots.len() {
            let member = other != id
                && self
                    .slot(other)
                    .is_some_and(|s| s.spec.sync_group.as_deref() == Some(group.as_str()));
            if member {
                self.feed(other, now, input, None);
            }
        }
    }

    /// Read the acks of the VIP adds sent by [`Runtime::execute`] (instance, first request,
    /// count) and report the failures.
    fn finish_vip_adds(
        &mut self,
        sent: io::Result<()>,
        adds: &[(usize, usize, usize)],
        send_ns: u64,
    ) {
        let t0 = sys::monotonic_ns();
        let mut results = std::mem::take(&mut self.addr_results);
        let outcome = sent.and_then(|()| self.rtnl.collect_acks(&mut results));
        let spent = send_ns + sys::monotonic_ns().saturating_sub(t0);
        let Runtime {
            slots,
            pending_events,
            ..
        } = self;
        for &(id, first, count) in adds {
            let Some(Some(slot)) = slots.get_mut(id) else {
                continue;
            };
            slot.takeover_due = None;
            slot.vip_add_ns = spent;
            if let Err(e) = &outcome {
                pending_events.push(warning_event(
                    slot,
                    format!("netlink: cannot change VIPs: {e}"),
                ));
                continue;
            }
            let got = results.get(first..first + count).unwrap_or(&[]);
            for (req, result) in slot.vip_requests.iter().zip(got) {
                if let Err(e) = result {
                    pending_events.push(warning_event(
                        slot,
                        format!("cannot add VIP {}/{}: {e}", req.addr, req.prefix),
                    ));
                }
            }
        }
        self.addr_results = results;
    }

    fn report_transition(&mut self, id: usize, from: State, to: State, reason: Reason) {
        let Some(slot) = self.slot(id) else { return };
        let text = match (to, slot.faults.reason(), slot.spec.sync_group.as_deref()) {
            (State::Fault, Some(r), _) => r.to_owned(),
            // "forced by sync group G1": the daemon logs keepalived's VRRP_Group line from it.
            (_, _, Some(group))
                if matches!(reason, Reason::SyncGroupMaster | Reason::SyncGroupBackup) =>
            {
                format!("forced by sync group {group}")
            }
            _ => stepped_down_text(&slot.fsm, reason).unwrap_or_else(|| reason.as_str().to_owned()),
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

    pub(super) fn reschedule(&mut self, id: usize) {
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

    /// Send one advert, or queue it for [`Runtime::flush_adverts`] (which `execute` calls after
    /// its adverts): an IPv4 multicast advert on an Ethernet interface becomes a whole frame
    /// (see `frame`) and leaves with the others of the wake-up in one `sendmmsg` on the AF_PACKET
    /// socket. IPv6, unicast, and anything that does not fit go through the raw socket.
    pub(super) fn send_advert(&mut self, id: usize, priority: u8, due: Option<Timestamp>) {
        if self.advert_queue.len() >= sys::MAX_FRAMES_PER_CALL {
            self.flush_adverts();
        }
        let Runtime {
            slots,
            channels,
            channel_of,
            links,
            txbuf,
            advert_frames,
            advert_queue,
            advert_owners,
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
                    "no usable {} address on {} to send adverts from",
                    family.label(),
                    slot.spec.ifname
                );
                let ev = warning_event(slot, msg);
                self.pending_events.push(ev);
            }
            return;
        };
        let multicast = [slot.spec.group()];
        let dsts: &[IpAddr] = if slot.spec.is_unicast() {
            &slot.spec.unicast_peers
        } else {
            &multicast
        };
        let params = |dst| wire::AdvertParams {
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
        // The frame path: IPv4 multicast out of an Ethernet interface whose MTU takes it. Not
        // unicast: one peer also makes a one-address `dsts`, but its frame needs the peer's MAC
        // (the kernel's neighbour lookup) and `unicast_ttl`.
        let link = links
            .get(&send_ifindex)
            .filter(|l| l.ether && !slot.spec.is_unicast());
        if let (IpAddr::V4(src4), [IpAddr::V4(group4)], Some(link), Some(mac)) =
            (src, dsts, link, link.and_then(|l| l.mac))
        {
            let offset = advert_queue.len() * ADVERT_FRAME_ROOM;
            let room = advert_frames.get_mut(offset..offset + ADVERT_FRAME_ROOM);
            let framed = room.and_then(|room| {
                let payload = room.get_mut(frame::HEADERS_LEN..)?;
                let len = wire::build(payload, &params(dsts[0])).ok()?;
                let fits = link.mtu == 0 || frame::IPV4_LEN + len <= link.mtu as usize;
                fits.then_some(())?;
                frame::write_headers(room, mac, src4, *group4, slot.ip_ident, len)
            });
            if let Some(len) = framed {
                slot.ip_ident = slot.ip_ident.wrapping_add(1);
                advert_queue.push((offset, len, send_ifindex));
                advert_owners.push((id, due));
                return;
            }
        }
        let mut failure = None;
        // `unicast_ttl`: the socket is shared, so set it around this instance's sends.
        let ttl = slot.spec.unicast_ttl;
        let custom_ttl = slot.spec.is_unicast() && ttl != socket::DEFAULT_TTL;
        if custom_ttl {
            if let Err(e) = socket::set_unicast_ttl(ch.fd.as_fd(), family, ttl) {
                failure = Some(format!("cannot set unicast_ttl {ttl}: {e}"));
            }
        }
        for &dst in dsts {
            let sent = match wire::build(txbuf, &params(dst)) {
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
        if custom_ttl {
            let _ = socket::set_unicast_ttl(ch.fd.as_fd(), family, socket::DEFAULT_TTL);
        }
        self.advert_done(id, due, failure);
    }

    /// Send the advert frames queued by [`Runtime::send_advert`]: one `sendmmsg`, or more when
    /// one fails (the kernel stops at it; it is counted and the rest go on).
    pub(super) fn flush_adverts(&mut self) {
        let mut queue = std::mem::take(&mut self.advert_queue);
        let mut owners = std::mem::take(&mut self.advert_owners);
        let mut next = 0;
        while next < queue.len() {
            let rest = queue.get(next..).unwrap_or(&[]);
            let sent = sys::send_frames(
                self.packet.as_fd(),
                &self.advert_frames,
                rest,
                frame::ETHERTYPE_IPV4,
            );
            let taken = match sent {
                Ok(n) if n > 0 => n,
                failed => {
                    let e = failed
                        .err()
                        .unwrap_or_else(|| io::ErrorKind::WriteZero.into());
                    if let Some(&(id, due)) = owners.get(next) {
                        let mut dst = group(IpFamily::Inet);
                        if let Some(slot) = self.slot_mut(id) {
                            slot.stats.send_err += 1;
                            dst = slot.spec.group();
                        }
                        self.advert_done(
                            id,
                            due,
                            Some(format!("cannot send advert to {dst}: {e}")),
                        );
                    }
                    next += 1;
                    continue;
                }
            };
            for &(id, due) in owners.iter().skip(next).take(taken) {
                self.advert_done(id, due, None);
            }
            next += taken;
        }
        queue.clear();
        owners.clear();
        self.advert_queue = queue;
        self.advert_owners = owners;
    }

    /// After an advert left (or failed; the caller counts `send_err`): its lateness, and the
    /// first failure of a run of failures as a warning, not every advert.
    fn advert_done(&mut self, id: usize, due: Option<Timestamp>, failure: Option<String>) {
        let Runtime {
            slots,
            pending_events,
            ..
        } = self;
        let Some(Some(slot)) = slots.get_mut(id) else {
            return;
        };
        if let Some(at) = due {
            slot.lateness
                .record(sys::monotonic_ns().saturating_sub(at.as_nanos()));
        }
        match failure {
            Some(msg) if !slot.sending_failed => {
                slot.sending_failed = true;
                pending_events.push(warning_event(slot, msg));
            }
            Some(_) => {}
            None => slot.sending_failed = false,
        }
    }

    pub(super) fn change_vips(&mut self, id: usize, op: AddrOp) {
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
    pub(super) fn send_gratuitous(&mut self, id: usize, now: Timestamp) {
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
    pub(super) fn pace_gratuitous(&mut self, id: usize, now: Timestamp) {
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
    pub(super) fn drop_gratuitous(&mut self, id: usize) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.garp_queue.clear();
        if let Some(at) = slot.garp_due.take() {
            self.garp_timers.remove(&(at, id));
        }
    }

    pub(super) fn send_gratuitous_one(&mut self, id: usize, vip: usize) {
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
}

/// keepalived's line for a master that yields to another router's advert, e.g. "Master received
/// advert from 198.18.0.2 with higher priority 150, ours 100". None for other reasons.
fn stepped_down_text(fsm: &Instance, reason: Reason) -> Option<String> {
    let (from, theirs) = (fsm.master_address()?, fsm.master_priority()?);
    let ours = fsm.effective_priority();
    match reason {
        Reason::HigherPriorityAdvert => Some(format!(
            "Master received advert from {from} with higher priority {theirs}, ours {ours}"
        )),
        Reason::EqualPriorityHigherAddress => Some(format!(
            "Master received advert from {from} with same priority {theirs} but higher IP address than ours"
        )),
        _ => None,
    }
}
