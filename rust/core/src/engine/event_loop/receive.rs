//! Receiving adverts: the checks before the FSM, in keepalived's order, and their `drop` events.

use super::*;

use std::time::Duration;

/// A received packet, as the socket gave it.
#[derive(Clone, Copy)]
pub(super) struct Arrival<'a> {
    /// The interface of the socket it came from.
    pub via: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: Option<u8>,
    pub truncated: bool,
    /// Bytes of IP header before `payload` (IPv4), for keepalived's length messages.
    pub ip_header_len: usize,
    pub payload: &'a [u8],
}

/// Packets read from one socket per wake-up, so timers are never starved by a flood.
const RECV_BUDGET: usize = 512;
/// Receive room per packet in `Runtime::rxbuf` (the longest advert with its IP header fits).
pub(super) const RX_ROOM: usize = 4096 + 64;
/// Placeholder metadata for `recv_ip_batch` to overwrite (`len` 0 is skipped).
const NOTHING_RECEIVED: sys::Received = sys::Received {
    len: 0,
    truncated: false,
    src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    dst: None,
    ifindex: 0,
    ttl: None,
    rx_realtime_ns: None,
};
/// The same advert seen on the interface and on its VMAC within this time is one advert.
const DUPLICATE_WINDOW: Duration = Duration::from_millis(2);
/// A kernel receive stamp older than this is not trusted (a realtime clock step): `now` is used.
const MAX_ARRIVAL_AGE_NS: u64 = 1_000_000_000;
/// At most one `drop` event per instance and reason in this time.
const DROP_REPORT_INTERVAL_NS: u64 = 1_000_000_000;

/// Why an advert was dropped, for rate-limiting the `drop` events.
#[derive(Clone, Copy)]
pub(super) enum DropKind {
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
    pub(super) const COUNT: usize = DropKind::AddressList as usize + 1;
}

impl Runtime {
    // -----------------------------------------------------------------------------------------
    // receive

    /// Read what the socket of `token` holds, up to [`RECV_BUDGET`] packets. Returns, when the
    /// budget ran out before the socket was empty, the arrival time of the last packet read:
    /// every advert that arrived before it has been seen, later ones may still wait.
    pub(super) fn receive(&mut self, token: u64) -> Option<Timestamp> {
        let idx = token
            .checked_sub(TOKEN_FIRST_CHANNEL)
            .and_then(|i| usize::try_from(i).ok())?;
        let mut last_arrival = None;
        let mut emptied = false;
        let mut buf = std::mem::take(&mut self.rxbuf);
        // Kernel receive stamps are CLOCK_REALTIME: map them onto our monotonic clock once per
        // wake-up (a clock step between the two reads is caught by the bounds below).
        let mono_now = sys::monotonic_ns();
        let real_offset = sys::realtime_ns().wrapping_sub(mono_now);
        let mut budget = RECV_BUDGET;
        let mut last_src: Option<(IpAddr, bool)> = None;
        // The instances of this socket by VRID, taken out of `demux` while reading (nothing on
        // this path adds or removes instances) and put back after.
        let table_key = self
            .channels
            .get(idx)
            .and_then(Option::as_ref)
            .map(|c| c.key);
        let table = table_key
            .and_then(|k| self.demux.remove(&k))
            .unwrap_or_default();
        while budget > 0 {
            let Some(Some(ch)) = self.channels.get(idx) else {
                break;
            };
            let key = ch.key;
            let mut meta = [NOTHING_RECEIVED; sys::MAX_PACKETS_PER_CALL];
            let want = budget.min(sys::MAX_PACKETS_PER_CALL);
            let got = match sys::recv_ip_batch(ch.fd.as_fd(), &mut buf, RX_ROOM, &mut meta[..want])
            {
                Ok(n) => n,
                Err(_) => {
                    emptied = true;
                    break;
                }
            };
            budget -= got;
            // Every packet of the batch arrived before this (for `arrival_time`'s bounds).
            let batch_now = now();
            for (i, got) in meta.iter().take(got).enumerate() {
                let now = arrival_time(got.rx_realtime_ns, real_offset, batch_now);
                last_arrival = Some(now);
                let data = buf.get(i * RX_ROOM..i * RX_ROOM + got.len).unwrap_or(&[]);
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
                // Our own advert (or another local instance's)? One lookup per source in a row:
                // a batch is mostly one master's adverts.
                let local = match last_src {
                    Some((a, local)) if a == got.src => local,
                    _ => {
                        let local = self.local.contains(&got.src);
                        last_src = Some((got.src, local));
                        local
                    }
                };
                if local {
                    continue;
                }
                let ids = table.get(usize::from(vrid)).map_or(&[][..], Vec::as_slice);
                for &id in ids {
                    let arrival = Arrival {
                        via: key.0,
                        src: got.src,
                        dst,
                        ttl,
                        truncated: got.truncated,
                        ip_header_len,
                        payload,
                    };
                    self.advert_for(id, now, &arrival);
                }
            }
            if got < want {
                emptied = true;
                break;
            }
        }
        if let (Some(k), false) = (table_key, table.is_empty()) {
            self.demux.insert(k, table);
        }
        self.rxbuf = buf;
        if emptied {
            None
        } else {
            last_arrival
        }
    }

    /// Check one received advert for instance `id` and hand it to the FSM, or count (and report)
    /// why it is dropped, in keepalived's order and words. The caller has dropped our own adverts.
    pub(super) fn advert_for(&mut self, id: usize, now: Timestamp, arrival: &Arrival<'_>) {
        let Arrival {
            via,
            src,
            dst,
            ttl,
            truncated,
            ip_header_len,
            payload,
        } = *arrival;
        let started = self.started;
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        if !started || slot.fsm.state() == State::Initialize {
            return;
        }
        // A multicast advert to another group (the socket may be in several): not ours.
        if !slot.spec.is_unicast() && dst != slot.spec.group() {
            return;
        }
        // With use_vmac the advert may reach us on the interface and on the VMAC: take it once.
        let head = payload.get(..8).map_or(0, |h| {
            u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
        });
        let seen = (src, head, via, now);
        if let Some((last_src, last_head, last_via, at)) = slot.last_arrival {
            let recent = now.saturating_duration_since(at) < DUPLICATE_WINDOW;
            if last_src == src && last_head == head && last_via != via && recent {
                return;
            }
        }
        slot.last_arrival = Some(seen);
        let Some(slot) = self.slot(id) else { return };
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
        if slot.fsm.state() == State::Master && advert.priority > 0 {
            let window = slot.fsm.master_down_interval();
            if let Some(slot) = self.slot_mut(id) {
                slot.other_masters.heard(src, now, window);
            }
        }
        let Some(slot) = self.slot(id) else { return };
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
    pub(super) fn report_drop(
        &mut self,
        id: usize,
        kind: DropKind,
        message: impl FnOnce() -> String,
    ) {
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
}

/// When an advert arrived on our monotonic clock: the kernel's receive stamp (realtime, shifted
/// by `real_offset` = realtime − monotonic), trusted only within [`MAX_ARRIVAL_AGE_NS`] before
/// `now`; otherwise (no stamp, or a realtime clock step) `now`.
fn arrival_time(rx_realtime_ns: Option<u64>, real_offset: u64, now: Timestamp) -> Timestamp {
    let Some(rx) = rx_realtime_ns else { return now };
    let at = rx.wrapping_sub(real_offset);
    let age = now.as_nanos().wrapping_sub(at);
    if age <= MAX_ARRIVAL_AGE_NS {
        Timestamp::from_nanos(at)
    } else {
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_time_uses_the_kernel_stamp_only_when_plausible() {
        let now = Timestamp::from_nanos(5_000_000_000);
        let offset = 1_700_000_000_000_000_000u64;
        // Received 40 µs before `now`.
        let stamp = Some(offset + 5_000_000_000 - 40_000);
        assert_eq!(
            arrival_time(stamp, offset, now),
            Timestamp::from_nanos(4_999_960_000)
        );
        assert_eq!(arrival_time(None, offset, now), now);
        // In the future (a clock step forward) or far in the past: ignored.
        assert_eq!(arrival_time(Some(offset + 6_000_000_000), offset, now), now);
        assert_eq!(arrival_time(Some(offset + 1_000_000_000), offset, now), now);
        assert_eq!(arrival_time(Some(0), offset, now), now);
    }
}
