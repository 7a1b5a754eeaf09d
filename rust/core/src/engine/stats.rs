//! The engine's own per-instance counters (the packet-level drops the FSM never sees) and the advert
//! send-lateness histogram behind the jitter metric.

use std::net::IpAddr;
use std::time::Duration;

use crate::timer::Timestamp;
use crate::wire::vrrp::Error as WireError;

/// Drops counted before an advert reaches the FSM. keepalived's names where keepalived has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// `packet_len_err`: too short, truncated, or a length no address count explains.
    pub packet_len_err: u64,
    /// `ip_ttl_err`: TTL / hop limit other than 255 in multicast mode.
    pub ip_ttl_err: u64,
    /// `invalid_type_rcvd`.
    pub invalid_type_rcvd: u64,
    /// `addr_list_err` from the wire check (address count); the FSM counts VIP list mismatches.
    pub addr_list_err: u64,
    /// `invalid_authtype`.
    pub invalid_authtype: u64,
    /// `authtype_mismatch`.
    pub authtype_mismatch: u64,
    /// `auth_failure`.
    pub auth_failure: u64,
    /// `advert_interval_err` from the wire check (interval 0); the FSM counts v2 mismatches.
    pub advert_interval_err: u64,
    /// No keepalived counter: bad checksum.
    pub checksum_err: u64,
    /// No keepalived counter: a version other than the instance's.
    pub version_err: u64,
    /// No keepalived counter: unicast mode, source not among the peers.
    pub unknown_peer: u64,
    /// No keepalived counter: an advert, GARP or NA the kernel refused to send.
    pub send_err: u64,
}

impl PacketStats {
    /// Count a drop reported by the wire parser.
    pub fn count(&mut self, err: WireError) {
        let counter = match err {
            WireError::Length | WireError::Family => &mut self.packet_len_err,
            WireError::Version => &mut self.version_err,
            WireError::AddressCount | WireError::AddressList => &mut self.addr_list_err,
            WireError::AuthTypeUnknown => &mut self.invalid_authtype,
            WireError::AuthTypeMismatch => &mut self.authtype_mismatch,
            WireError::Auth => &mut self.auth_failure,
            WireError::Interval => &mut self.advert_interval_err,
            WireError::Type => &mut self.invalid_type_rcvd,
            WireError::Checksum => &mut self.checksum_err,
        };
        *counter += 1;
    }
}

/// Upper bounds (µs) of the lateness buckets; the last bucket is everything above.
pub const LATENESS_BOUNDS_US: [u64; 12] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
];

/// The status keys of the lateness buckets, one per bound of [`LATENESS_BOUNDS_US`] (counts per
/// bucket, not cumulative), so a scraper can rebuild the histogram.
pub const LATENESS_BUCKET_KEYS: [&str; 12] = [
    "advert_lateness_le_10_us",
    "advert_lateness_le_20_us",
    "advert_lateness_le_50_us",
    "advert_lateness_le_100_us",
    "advert_lateness_le_200_us",
    "advert_lateness_le_500_us",
    "advert_lateness_le_1000_us",
    "advert_lateness_le_2000_us",
    "advert_lateness_le_5000_us",
    "advert_lateness_le_10000_us",
    "advert_lateness_le_20000_us",
    "advert_lateness_le_50000_us",
];

/// Other routers heard advertising for our VRID while we were master: a split brain when any
/// is recent. Empty (no allocation) in the normal case.
#[derive(Debug, Default)]
pub struct OtherMasters {
    heard: Vec<(IpAddr, Timestamp)>,
}

impl OtherMasters {
    /// Note an advert from `src` received while master; sources quiet for `window` are forgotten.
    pub fn heard(&mut self, src: IpAddr, now: Timestamp, window: Duration) {
        self.heard
            .retain(|(_, at)| now.saturating_duration_since(*at) <= window);
        match self.heard.iter_mut().find(|(a, _)| *a == src) {
            Some(entry) => entry.1 = now,
            None => self.heard.push((src, now)),
        }
    }

    /// How many distinct sources were heard within `window` before `now`.
    pub fn count(&self, now: Timestamp, window: Duration) -> usize {
        self.heard
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) <= window)
            .count()
    }
}

/// How late adverts left compared with when the FSM scheduled them (send time − deadline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lateness {
    /// Per bucket of [`LATENESS_BOUNDS_US`], plus one overflow bucket.
    pub buckets: [u64; LATENESS_BOUNDS_US.len() + 1],
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
}

impl Lateness {
    pub fn record(&mut self, late_ns: u64) {
        let us = late_ns / 1_000;
        let idx = LATENESS_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENESS_BOUNDS_US.len());
        if let Some(b) = self.buckets.get_mut(idx) {
            *b += 1;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(late_ns);
        self.max_ns = self.max_ns.max(late_ns);
    }

    /// The bucket bound (µs) under which `q` (0..1) of the samples fall; `None` without samples or
    /// when the quantile lies in the overflow bucket.
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // Counts are far below 2^52: the float conversion is exact enough for a rank.
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LATENESS_BOUNDS_US.get(i).copied();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn other_masters_counts_distinct_recent_sources() {
        use super::OtherMasters;
        use crate::timer::Timestamp;
        use std::net::{IpAddr, Ipv4Addr};
        use std::time::Duration;

        let a = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3));
        let window = Duration::from_secs(1);
        let at = |ms: u64| Timestamp::from_nanos(ms * 1_000_000);
        let mut seen = OtherMasters::default();
        assert_eq!(seen.count(at(0), window), 0);
        seen.heard(a, at(0), window);
        seen.heard(a, at(100), window);
        seen.heard(b, at(200), window);
        assert_eq!(seen.count(at(300), window), 2);
        // a was last heard at 100 ms: gone after the window, b still counts.
        assert_eq!(seen.count(at(1_150), window), 1);
        assert_eq!(seen.count(at(1_300), window), 0);
    }

    #[test]
    fn lateness_bucket_keys_name_the_bounds() {
        for (key, bound) in super::LATENESS_BUCKET_KEYS
            .iter()
            .zip(super::LATENESS_BOUNDS_US)
        {
            assert_eq!(*key, format!("advert_lateness_le_{bound}_us"));
        }
    }

    use super::*;

    #[test]
    fn lateness_buckets_and_quantiles() {
        let mut l = Lateness::default();
        for ns in [3_000, 8_000, 15_000, 400_000, 90_000_000] {
            l.record(ns);
        }
        assert_eq!(l.buckets[0], 2);
        assert_eq!(l.buckets[1], 1);
        assert_eq!(l.buckets[5], 1);
        assert_eq!(l.buckets[12], 1);
        assert_eq!(l.count, 5);
        assert_eq!(l.max_ns, 90_000_000);
        assert_eq!(l.quantile_bound_us(0.5), Some(20));
        assert_eq!(l.quantile_bound_us(0.8), Some(500));
        assert_eq!(l.quantile_bound_us(1.0), None);
        assert_eq!(Lateness::default().quantile_bound_us(0.5), None);
    }

    #[test]
    fn wire_errors_land_in_keepalived_counters() {
        let mut s = PacketStats::default();
        for e in WireError::ALL {
            s.count(e);
        }
        assert_eq!(s.addr_list_err, 2);
        assert_eq!(s.packet_len_err, 2);
        assert_eq!(
            (s.auth_failure, s.authtype_mismatch, s.invalid_authtype),
            (1, 1, 1)
        );
        assert_eq!(
            (
                s.invalid_type_rcvd,
                s.advert_interval_err,
                s.checksum_err,
                s.version_err
            ),
            (1, 1, 1, 1)
        );
    }
}
