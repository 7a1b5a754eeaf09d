//! The status of every instance, in keepalived's JSON vocabulary.

use super::*;
use crate::engine::stats::LATENESS_BUCKET_KEYS;

impl Runtime {
    pub fn status(&self) -> Vec<InstanceStatus> {
        self.slots.iter().flatten().map(status_of).collect()
    }

    /// An engine-wide warning (no instance), published with the next events.
    pub(in crate::engine) fn warn_engine(&mut self, reason: String) {
        self.warn("", reason);
    }
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
            ("advert_lateness_sum_ns", lateness.sum_ns),
            ("takeover_garp_ns", slot.takeover_garp_ns),
            ("vip_add_ns", slot.vip_add_ns),
            ("other_masters", other_masters(slot)),
        ]
        .into_iter()
        .chain(LATENESS_BUCKET_KEYS.into_iter().zip(lateness.buckets))
        .collect(),
    }
}

/// Other masters heard within Master_Down while we are master; 0 when we are not.
fn other_masters(slot: &Slot) -> u64 {
    if slot.fsm.state() != State::Master {
        return 0;
    }
    slot.other_masters
        .count(now(), slot.fsm.master_down_interval()) as u64
}
