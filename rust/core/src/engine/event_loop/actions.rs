//! Feeding the FSM and executing its actions: adverts, VIPs, gratuitous ARP/NA, transitions.

use super::*;

impl Runtime {
    // -----------------------------------------------------------------------------------------
    // the state machine and its actions

    /// Give the FSM an input, execute its actions in order, and re-arm the instance's timer.
    /// `due` is the deadline that fired, to measure how late adverts leave.
    pub(super) fn feed(&mut self, id: usize, now: Timestamp, input: Input, due: Option<Timestamp>) {
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

    pub(super) fn send_advert(&mut self, id: usize, priority: u8, due: Option<Timestamp>) {
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
                    "no usable {} address on {} to send adverts from",
                    family.label(),
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
