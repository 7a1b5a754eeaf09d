//! What the engine is told (an instance's spec) and what it tells back (events, status).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::fsm::{GratuitousConfig, Version};
use crate::wire::vrrp::{Auth, ChecksumForm};

/// An address family, as keepalived and iproute2 name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamily {
    Inet,
    Inet6,
}

impl IpFamily {
    pub fn of(addr: &IpAddr) -> IpFamily {
        if addr.is_ipv4() {
            IpFamily::Inet
        } else {
            IpFamily::Inet6
        }
    }

    /// `IPv4` or `IPv6`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            IpFamily::Inet => "IPv4",
            IpFamily::Inet6 => "IPv6",
        }
    }

    pub fn parse(s: &str) -> Result<IpFamily, SpecError> {
        match s {
            "inet" => Ok(IpFamily::Inet),
            "inet6" => Ok(IpFamily::Inet6),
            _ => Err(SpecError::Family(s.to_owned())),
        }
    }
}

/// A virtual address: `addr/prefix [brd B] [dev D] [label L]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
    /// The interface it goes on; `None`: the instance's sending interface.
    pub dev: Option<String>,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
}

impl Vip {
    /// Parse the Python tuple form. `brd` is an address, `+` (computed from the prefix) or `-` (none).
    pub fn parse(
        addr: &str,
        prefix: u8,
        dev: Option<String>,
        label: Option<String>,
        brd: Option<&str>,
    ) -> Result<Vip, SpecError> {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| SpecError::Address(addr.to_owned()))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(SpecError::Prefix(format!("{addr}/{prefix}")));
        }
        let broadcast = match (ip, brd) {
            (_, None | Some("-")) => None,
            (IpAddr::V4(v4), Some("+")) => Some(super::netlink::broadcast_of(v4, prefix)),
            (IpAddr::V4(_), Some(b)) => {
                Some(b.parse().map_err(|_| SpecError::Address(b.to_owned()))?)
            }
            (IpAddr::V6(_), Some(b)) => {
                return Err(SpecError::Address(format!("brd {b} on IPv6 {addr}")))
            }
        };
        Ok(Vip {
            addr: ip,
            prefix,
            dev,
            label,
            broadcast,
        })
    }
}

/// One `vrrp_instance`, as the daemon hands it to the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSpec {
    pub name: String,
    pub ifname: String,
    pub vrid: u8,
    pub version: Version,
    pub family: IpFamily,
    pub priority: u8,
    pub advert_interval_cs: u16,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub start_master: bool,
    pub auth: Auth,
    pub vips: Vec<Vip>,
    pub unicast_src: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    /// Per peer (same order), the accepted TTL range `(min_ttl, max_ttl)`; shorter than
    /// `unicast_peers` means "any TTL" for the rest.
    pub unicast_peer_ttl: Vec<(u8, u8)>,
    pub checksum_form: ChecksumForm,
    pub skip_check_adv_addr: bool,
    pub gratuitous: GratuitousConfig,
    /// A `use_vmac` macvlan: adverts, VIPs (by default) and GARPs go out there.
    pub send_ifname: Option<String>,
    /// `lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts` (keepalived 2.3+; 3 by default).
    pub down_timer_adverts: u8,
    /// The `vrrp_sync_group` this instance belongs to: its members move to MASTER and BACKUP
    /// together, within the engine wake-up of the member that moved.
    pub sync_group: Option<String>,
    /// `mcast_dst_ip` / `vrrp_mcast_group4|6`: the group multicast adverts go to and are taken
    /// from; `None`: 224.0.0.18 or ff02::12.
    pub mcast_group: Option<IpAddr>,
    /// `unicast_ttl`: TTL / hop limit of unicast adverts (255).
    pub unicast_ttl: u8,
}

/// Why a spec was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError {
    Name,
    Vrid(i64),
    Version(i64),
    Family(String),
    Priority(i64),
    Interval(String),
    Auth(String),
    Address(String),
    Prefix(String),
    WrongFamily(String),
    ChecksumForm(String),
    Duration(String),
    /// Not a multicast group adverts may use.
    Group(String),
    /// `unicast_ttl` 0.
    Ttl,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Name => write!(f, "instance name must not be empty"),
            SpecError::Vrid(v) => write!(f, "vrid {v} out of range 1..255"),
            SpecError::Version(v) => write!(f, "VRRP version {v} is not 2 or 3"),
            SpecError::Family(s) => write!(f, "family {s:?} is not \"inet\" or \"inet6\""),
            SpecError::Priority(p) => write!(f, "priority {p} out of range 1..255"),
            SpecError::Interval(s) => write!(f, "advert_interval {s}"),
            SpecError::Auth(s) => write!(f, "{s}"),
            SpecError::Address(s) => write!(f, "invalid address {s:?}"),
            SpecError::Prefix(s) => write!(f, "invalid prefix length in {s}"),
            SpecError::WrongFamily(s) => write!(f, "{s}"),
            SpecError::ChecksumForm(s) => {
                write!(f, "checksum_form {s:?} is not \"pseudo\" or \"plain\"")
            }
            SpecError::Duration(s) => write!(f, "{s}"),
            SpecError::Group(s) => write!(
                f,
                "multicast group {s} is not IPv4 multicast or IPv6 link-local multicast (ffX2::)"
            ),
            SpecError::Ttl => write!(f, "unicast_ttl 0 out of range 1..255"),
        }
    }
}

impl std::error::Error for SpecError {}

/// Seconds as a float (Python's unit) to a Duration, refusing negative and non-finite values.
pub fn seconds(what: &str, s: f64) -> Result<Duration, SpecError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| SpecError::Duration(format!("{what} {s} is not a valid duration")))
}

/// keepalived's `advert_int` in seconds to centiseconds: v3 0.01–40.95 s, v2 whole seconds 1–255.
pub fn advert_interval_cs(version: Version, secs: f64) -> Result<u16, SpecError> {
    if !secs.is_finite() {
        return Err(SpecError::Interval(format!("{secs} is not a number")));
    }
    let cs = (secs * 100.0).round();
    match version {
        Version::V3 if (1.0..=4095.0).contains(&cs) => Ok(cs as u16),
        Version::V3 => Err(SpecError::Interval(format!(
            "{secs} out of range 0.01..40.95 for VRRPv3"
        ))),
        Version::V2 if (100.0..=25500.0).contains(&cs) && cs % 100.0 == 0.0 => Ok(cs as u16),
        Version::V2 => Err(SpecError::Interval(format!(
            "{secs} must be whole seconds 1..255 for VRRPv2"
        ))),
    }
}

/// Parse the checksum form name.
pub fn checksum_form(s: &str) -> Result<ChecksumForm, SpecError> {
    match s {
        "pseudo" => Ok(ChecksumForm::Pseudo),
        "plain" | "message" | "v2" => Ok(ChecksumForm::Plain),
        _ => Err(SpecError::ChecksumForm(s.to_owned())),
    }
}

/// Parse the protocol version.
pub fn version(v: i64) -> Result<Version, SpecError> {
    match v {
        2 => Ok(Version::V2),
        3 => Ok(Version::V3),
        _ => Err(SpecError::Version(v)),
    }
}

/// keepalived's `auth_type` (0 none, 1 PASS, 2 AH) and `auth_pass` (cut to 8 bytes).
pub fn auth(version: Version, auth_type: i64, pass: &[u8]) -> Result<Auth, SpecError> {
    match (auth_type, version) {
        (0, _) => Ok(Auth::NONE),
        (1, Version::V2) => Ok(Auth::pass(pass)),
        (2, _) => Err(SpecError::Auth("AH authentication is not supported".into())),
        (1, Version::V3) => Err(SpecError::Auth(
            "authentication exists only in VRRPv2".into(),
        )),
        (t, _) => Err(SpecError::Auth(format!(
            "auth_type {t} is not 0 (none), 1 (PASS) or 2 (AH)"
        ))),
    }
}

impl InstanceSpec {
    /// Cross-field checks: families agree, IPv6 is v3, the VRID and priority are in range.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.is_empty() {
            return Err(SpecError::Name);
        }
        if self.vrid == 0 {
            return Err(SpecError::Vrid(0));
        }
        if self.priority == 0 {
            return Err(SpecError::Priority(0));
        }
        if self.family == IpFamily::Inet6 && self.version == Version::V2 {
            return Err(SpecError::WrongFamily(
                "VRRPv2 is IPv4 only: IPv6 needs version 3".into(),
            ));
        }
        let wrong = |what: &str, a: &IpAddr| {
            SpecError::WrongFamily(format!(
                "{what} {a} is not of the instance's family ({})",
                self.family.label()
            ))
        };
        for vip in &self.vips {
            if IpFamily::of(&vip.addr) != self.family {
                return Err(wrong("VIP", &vip.addr));
            }
        }
        for peer in &self.unicast_peers {
            if IpFamily::of(peer) != self.family {
                return Err(wrong("unicast peer", peer));
            }
        }
        if let Some(src) = &self.unicast_src {
            if IpFamily::of(src) != self.family {
                return Err(wrong("unicast_src", src));
            }
        }
        if let Some(group) = &self.mcast_group {
            if IpFamily::of(group) != self.family {
                return Err(wrong("multicast group", group));
            }
            check_group(group)?;
        }
        if self.unicast_ttl == 0 {
            return Err(SpecError::Ttl);
        }
        Ok(())
    }

    /// The interface adverts and GARPs leave from.
    pub fn send_ifname(&self) -> &str {
        self.send_ifname.as_deref().unwrap_or(&self.ifname)
    }

    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// The multicast group of this instance's adverts.
    pub fn group(&self) -> IpAddr {
        self.mcast_group
            .unwrap_or_else(|| super::socket::group(self.family))
    }
}

/// A multicast group keepalived accepts: IPv4 multicast (224/4), or IPv6 link-local scope
/// multicast (ffX2::), since adverts never leave the link.
pub fn check_group(group: &IpAddr) -> Result<(), SpecError> {
    let ok = match group {
        IpAddr::V4(a) => a.is_multicast(),
        IpAddr::V6(a) => a.segments()[0] & 0xff0f == 0xff02,
    };
    if ok {
        Ok(())
    } else {
        Err(SpecError::Group(group.to_string()))
    }
}

/// What the engine reports to Python.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `transition`; `fault` (a fault source appeared or cleared); `drop` (an advert failed a
    /// receive check: the reason is keepalived's log text, at most once a second per instance
    /// and check); `warning` (the engine could not do something: send, add a VIP, ...).
    pub kind: &'static str,
    pub instance: String,
    /// `INIT`, `BACKUP`, `MASTER`, `FAULT`, or `STOP` (new state of a stopped or removed
    /// instance); empty for engine-wide warnings.
    pub old_state: &'static str,
    pub new_state: &'static str,
    pub reason: String,
    pub priority: u8,
    /// CLOCK_MONOTONIC nanoseconds.
    pub monotonic_ns: u64,
}

/// One instance's status, in keepalived's JSON vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceStatus {
    pub iname: String,
    pub ifname: String,
    pub vrid: u8,
    /// keepalived's code: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.
    pub state: u8,
    pub wantstate: u8,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Seconds.
    pub adver_int: f64,
    pub master_adver_int: f64,
    pub vips: Vec<String>,
    /// CLOCK_MONOTONIC seconds of the last transition (0 if none).
    pub last_transition: f64,
    pub master_addr: Option<IpAddr>,
    /// keepalived's `stats` names and values.
    pub stats: Vec<(&'static str, u64)>,
    /// The engine's own counters, not in keepalived.
    pub engine: Vec<(&'static str, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_keepalived_ranges() {
        assert_eq!(advert_interval_cs(Version::V3, 0.1), Ok(10));
        assert_eq!(advert_interval_cs(Version::V3, 40.95), Ok(4095));
        assert!(advert_interval_cs(Version::V3, 41.0).is_err());
        assert!(advert_interval_cs(Version::V3, 0.001).is_err());
        assert_eq!(advert_interval_cs(Version::V2, 1.0), Ok(100));
        assert!(advert_interval_cs(Version::V2, 0.5).is_err());
        assert!(advert_interval_cs(Version::V2, f64::NAN).is_err());
    }

    #[test]
    fn vips_parse_broadcast_forms() {
        let v = Vip::parse("198.18.0.100", 24, None, None, Some("+")).expect("vip");
        assert_eq!(v.broadcast, Some(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(Vip::parse("198.18.0.100", 33, None, None, None).is_err());
        assert!(Vip::parse("2001:2::1", 64, None, None, Some("+")).is_err());
        assert!(Vip::parse("nope", 24, None, None, None).is_err());
    }

    #[test]
    fn groups_are_multicast_and_v6_link_local() {
        let g = |s: &str| check_group(&s.parse().expect("ip"));
        assert_eq!(g("224.0.0.18"), Ok(()));
        assert_eq!(g("239.255.1.2"), Ok(()));
        assert!(g("198.18.0.1").is_err());
        assert_eq!(g("ff02::12"), Ok(()));
        assert_eq!(g("ff12::1:2"), Ok(()));
        assert!(g("ff05::12").is_err());
        assert!(g("fe80::1").is_err());
    }

    #[test]
    fn auth_only_in_v2() {
        assert!(auth(Version::V3, 1, b"x").is_err());
        assert!(auth(Version::V2, 2, b"x").is_err());
        assert_eq!(
            auth(Version::V2, 1, b"secret").map(|a| a.kind),
            Ok(crate::wire::AuthType::Pass)
        );
    }
}
