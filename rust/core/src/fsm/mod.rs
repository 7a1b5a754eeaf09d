//! The sans-IO VRRP state machine (RFC 5798 §6 / RFC 9568 §6, with keepalived's Fault state).
//!
//! One [`Instance`] is one `vrrp_instance`. It owns no socket and no clock: the engine feeds it
//! [`Input`]s stamped with a monotonic [`Timestamp`] and executes the [`Action`]s it pushes, in order. The
//! engine calls [`Instance::handle`] with [`Input::Tick`] whenever `now >= next_deadline()`; a `Tick` with
//! nothing due does nothing, so spurious wake-ups are harmless.
//!
//! # States
//!
//! - [`State::Initialize`]: before [`Input::Startup`] and after [`Input::Shutdown`]. No timers; adverts are
//!   ignored (not even counted).
//! - [`State::Backup`]: listens; the Master_Down timer runs.
//! - [`State::Master`]: owns the VIPs; the Adver timer runs, plus the gratuitous ARP/NA schedule.
//! - [`State::Fault`]: interface down, failed tracker or faulted sync group. Nothing is sent, no timer runs;
//!   received adverts are counted but change nothing. Leaving fault goes to Backup.
//!
//! # Timers
//!
//! `Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + Skew_Time` (`down_timer_adverts` is 3
//! unless configured, as in keepalived 2.3+), where `Master_Adver_Interval` is our own advert interval until a
//! v3 master tells us its own, and `Skew_Time` uses the *effective* priority:
//!
//! - v2: `(256 − priority) / 256` seconds, not scaled by the interval (RFC 3768);
//! - v3: `(256 − priority) × Master_Adver_Interval / 256` (RFC 5798/9568).
//!
//! Both are computed in nanoseconds (truncated), so v3 priority 100 at 100 cs gives a skew of exactly
//! 609.375 ms and a Master_Down of 3.609375 s; v2 priority 100 gives the same skew at any interval.
//! [`skew_time`] and [`master_down_interval`] expose the formulas.
//!
//! The Adver timer is re-armed from the deadline that fired (not from the late `now` of the tick), so the
//! engine's wake-up latency does not stretch every period; when the tick is more than an interval late it is
//! re-armed from `now`, so an engine woken very late sends one advert, not a burst of catch-up adverts. The
//! other timers (Master_Down on an advert, an advert sent in answer) count from `now`.
//!
//! # Choices where keepalived and the RFC differ (what this module does)
//!
//! - **Startup** does what keepalived 2.2.7 does, measured here (v3, 1 s, notify timestamps): priority 255
//!   with `state MASTER` becomes master at once (keepalived arms a 1 µs timer; we skip it). Everything else,
//!   including `state MASTER` below 255 and `state BACKUP` at 255, starts in Backup with the full
//!   Master_Down_Interval (priority 100 became master 3.61 s after startup with either `state`). Some later
//!   keepalived sources arm only `interval + skew(255)` for `state MASTER` below 255; 2.2.7 does not, and
//!   neither do we. An interface that is down at startup gives Fault.
//! - **Leaving fault** always goes to Backup with the full Master_Down_Interval, even for an owner with
//!   `state MASTER` (measured on 2.2.7: BACKUP at link-up, MASTER 3.00 s later).
//! - **Adverts that arrive after a deadline but before the engine ticked** are processed first: the advert
//!   proves the master alive, which avoids a split brain when the engine thread was starved. The engine should
//!   still tick as soon as a deadline passes.
//! - **Backup, lower priority, preempt on**: the advert is ignored and the timer is not reset (RFC and
//!   keepalived agree). With `preempt_delay`, lower-priority adverts are *accepted* (the timer is reset) until
//!   the preempt deadline passes. That deadline is armed at startup and when leaving fault (the delay counts
//!   from there), cleared when an advert with priority ≥ ours arrives or when we leave master, and re-armed by
//!   the first lower-priority advert heard while it is clear (keepalived 2.x semantics).
//! - **Master, priority 0 or lower priority received**: send an advert at once and reset the Adver timer
//!   (RFC 9568; keepalived does not reset its timer). A lower priority (or an equal priority from a lower
//!   address) also starts a gratuitous batch of `garp_lower_prio_repeat` (keepalived; 0 turns it off), with a
//!   second batch after `garp_lower_prio_delay`. `lower_prio_no_advert` suppresses the advert (keepalived).
//! - **Two owners**: a master at 255 hearing another 255 from a different address lowers its own priority to
//!   254 for good (keepalived's "CONFIGURATION ERROR" workaround), and then steps down if that address wins.
//! - **Priority changes** ([`Input::SetPriority`]): a Backup's running Master_Down timer moves by the change
//!   in Skew_Time (keepalived 2.x). Moved earlier it may already be due: the engine re-reads
//!   [`Instance::next_deadline`] after every input anyway. A Master sends nothing at once; its next adverts
//!   carry the new priority, and a higher backup then preempts through its own timer.
//! - **v2 interval mismatch**: the FSM drops the advert and counts `advert_interval_err` (so it is testable);
//!   the advert is not counted in `advert_rcvd` (keepalived checks the interval before counting). The engine
//!   passes v2 intervals converted to centiseconds.
//! - **Address list mismatch** (`addresses_match == false`): see [`AddressListCheck`]. A dropped advert counts
//!   in `advert_rcvd` and `addr_list_err` (keepalived order).
//! - **Tie-break**: equal priorities are decided by the primary address, compared as an unsigned integer of the
//!   same family (IPv4 as u32, IPv6 as u128); the higher wins. An advert from our own address, or of another
//!   family, never wins the tie-break.
//! - **Gratuitous ARP/NA**: the FSM owns all timing. One [`Action::SendGratuitous`] is one batch (one packet
//!   per VIP). On becoming master: `garp_master_repeat` batches, the first right after [`Action::AddVips`] and
//!   the others `garp_interval` apart (all at once when the interval is 0); the same again after
//!   `garp_master_delay` (0: off); then `garp_master_refresh_repeat` batches every `garp_master_refresh`
//!   (0: off). keepalived paces every packet by `vrrp_garp_interval`; we pace batches, so an engine with many
//!   VIPs and a non-zero interval should pace packets within a batch itself. keepalived checks the refresh only
//!   when it sends an advert; we refresh on time.
//! - **Statistics** ([`Stats`], keepalived's names): `advert_sent` and `pri_zero_sent` count adverts the FSM
//!   asked for (the engine's send errors are its own counters). `release_master` counts Master → Backup and
//!   Master → Fault, not shutdown.
//! - **Reload** ([`Instance::reconfigure`]): a new configuration is taken in place, the state, the master
//!   followed and the running timers kept (a master stays master through interval, preempt, preempt delay or
//!   gratuitous changes); timers move by the change in their interval. [`Instance::set_primary_address`]
//!   follows a change of the interface's primary address for the tie-break.
//! - **Sync groups** (`vrrp_sync_group`; the engine routes [`Action::SyncGroup`] to the other members):
//!   a member that becomes master on its own (Master_Down timer, preemption, priority 0) asks the
//!   others to follow ([`Input::SyncMaster`]), and a master that steps down to a higher (or equal,
//!   higher-address) advert asks them to back off ([`Input::SyncBackup`]), as keepalived's
//!   `vrrp_sync_master` / `vrrp_sync_backup`. Forced transitions never ask in turn, and a forced
//!   master that meets a better master steps down alone. To avoid thrashing (keepalived prefers
//!   backup), a member forced to backup does not preempt a lower-priority master until it is next
//!   master: it follows it like `nopreempt`, and still takes over when that master falls silent.
//!   Faulted and stopped members ignore both inputs.
//! - **Fault and Unfault are levels**: the engine aggregates its fault sources (interface, trackers, sync
//!   group) and sends `Fault` when the first appears and `Unfault` when the last clears; repeats are no-ops.
//!   A fault before startup is remembered: `Startup` then enters Fault. `Shutdown` forgets it: the next
//!   `Startup { interface_up }` says again whether the interface is up.

mod instance;
#[cfg(test)]
mod tests;

use core::fmt;
use core::time::Duration;
use std::net::IpAddr;

pub use crate::timer::Timestamp;
pub use instance::Instance;

/// The owner's priority: it owns the VIPs and never changes priority.
pub const PRIORITY_OWNER: u8 = 255;
/// The priority a master sends when it gives up (shutdown, fault).
pub const PRIORITY_STOP: u8 = 0;
/// The longest advert interval VRRPv3 can carry (12 bits of centiseconds).
pub const MAX_ADVERT_INTERVAL_CS: u16 = 4095;

/// The protocol version of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in whole seconds, skew not scaled by the interval.
    V2,
    /// RFC 5798 / RFC 9568: interval in centiseconds, backups adopt the master's interval.
    V3,
}

/// The state of an instance, numbered as keepalived's JSON and SNMP do ([`State::keepalived_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or stopped.
    Initialize,
    /// Listening for the master.
    Backup,
    /// Owning the VIPs and advertising.
    Master,
    /// Unable to take part (interface down, failed tracker, faulted sync group).
    Fault,
}

impl State {
    /// keepalived's number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.
    pub const fn keepalived_code(self) -> u8 {
        match self {
            State::Initialize => 0,
            State::Backup => 1,
            State::Master => 2,
            State::Fault => 3,
        }
    }

    /// The word keepalived logs, notifies and writes to the FIFO: `INIT`, `BACKUP`, `MASTER`, `FAULT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// keepalived's `state` keyword: the state the instance wants at startup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartState {
    /// `state BACKUP` (the default): wait a full Master_Down_Interval before claiming mastership.
    Backup,
    /// `state MASTER`: as owner (255), master at once; below 255 the same as `Backup` (keepalived 2.2.7).
    Master,
}

/// What to do with an advert whose VIP list differs from ours (`addresses_match == false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressListCheck {
    /// keepalived 2.2.7's default: drop it ("bogus VRRP packet") and count `addr_list_err`.
    Drop,
    /// `vrrp_skip_check_adv_addr`: a backup does not check adverts from the master it already follows (same
    /// source address as the last accepted advert); other adverts, and all adverts seen by a master, are
    /// checked as with [`AddressListCheck::Drop`].
    SkipFromCurrentMaster,
    /// keepalived 2.3.3+: process it anyway, still counting `addr_list_err`.
    Accept,
}

/// Gratuitous ARP / unsolicited NA schedule (keepalived's `garp_*` keywords). One batch is one packet per VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GratuitousConfig {
    /// `garp_master_delay`: a second round of `master_repeat` batches this long after becoming master
    /// (keepalived default 5 s; zero turns it off).
    pub master_delay: Duration,
    /// `garp_master_repeat`: batches sent on becoming master (keepalived default 5).
    pub master_repeat: u32,
    /// `garp_master_refresh`: period of refresh rounds while master (default zero: off).
    pub master_refresh: Duration,
    /// `garp_master_refresh_repeat`: batches per refresh round (default 1).
    pub master_refresh_repeat: u32,
    /// `vrrp_garp_interval` / `vrrp_gna_interval`: the gap between batches of one round (default zero: all at
    /// once).
    pub interval: Duration,
    /// `garp_lower_prio_repeat`: batches a master sends when it hears a lower priority (keepalived defaults it
    /// to `garp_master_repeat`, and to 0 under `vrrp_strict`).
    pub lower_prio_repeat: u32,
    /// `garp_lower_prio_delay`: a second such round this long later (defaults to `garp_master_delay`; zero: off).
    pub lower_prio_delay: Duration,
}

impl Default for GratuitousConfig {
    /// keepalived's defaults.
    fn default() -> Self {
        GratuitousConfig {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            interval: Duration::ZERO,
            lower_prio_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
        }
    }
}

/// The configuration of one instance. Build it with [`InstanceConfig::new`] (keepalived's defaults) and set
/// fields. Out-of-range values are clamped, never rejected: the config layer validates and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstanceConfig {
    /// `virtual_router_id`, 1–255. Informational here (the engine demultiplexes by VRID).
    pub vrid: u8,
    /// `vrrp_version` (IPv6 is always V3).
    pub version: Version,
    /// `priority`, the base priority: 255 is the owner; 1–254 otherwise (0 is treated as 1).
    pub priority: u8,
    /// `advert_int` in centiseconds (v2: a multiple of 100). Clamped to 1–4095.
    pub advert_interval_cs: u16,
    /// `false` with `nopreempt`: a backup then never takes over from a live master.
    pub preempt: bool,
    /// `preempt_delay`: how long a higher-priority backup keeps accepting a lower-priority master (zero: off).
    pub preempt_delay: Duration,
    /// `state MASTER` or `state BACKUP`.
    pub start_state: StartState,
    /// Our primary address on the interface (or `unicast_src_ip`), for the equal-priority tie-break.
    pub primary_address: IpAddr,
    /// What to do with adverts whose address list differs from ours.
    pub address_list_check: AddressListCheck,
    /// Gratuitous ARP/NA schedule.
    pub gratuitous: GratuitousConfig,
    /// `lower_prio_no_advert`: a master does not answer a lower-priority advert with an advert.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: a master sends one advert before stepping down to a higher priority.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts` (keepalived 2.3+): adverts missed before the master is declared down. Default 3;
    /// clamped to 1–100.
    pub down_timer_adverts: u8,
}

impl InstanceConfig {
    /// keepalived's defaults: priority 100, 1 s interval, preempt on, no preempt delay, `state BACKUP`,
    /// adverts with a different address list dropped, gratuitous defaults, 3 adverts to master down.
    pub fn new(vrid: u8, version: Version, primary_address: IpAddr) -> Self {
        InstanceConfig {
            vrid,
            version,
            priority: 100,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            start_state: StartState::Backup,
            primary_address,
            address_list_check: AddressListCheck::Drop,
            gratuitous: GratuitousConfig::default(),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
        }
    }
}

/// Something that happened, for [`Instance::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Start the instance (also after a `Shutdown`). `interface_up: false` starts in Fault. Ignored unless the
    /// instance is in Initialize.
    Startup {
        /// Whether the interface is up (and no fault is known) at startup.
        interface_up: bool,
    },
    /// A valid advert for this instance's VRID arrived (the engine has checked length, TTL, version, type,
    /// auth and checksum, and counted those errors).
    AdvertReceived {
        /// The sender's source address (the tie-break compares it with our primary address).
        src: IpAddr,
        /// The sender's priority (0: the master is giving up).
        priority: u8,
        /// The sender's advert interval in centiseconds (v2: seconds × 100).
        interval_cs: u16,
        /// Whether the advert's VIP list equals ours (see [`AddressListCheck`]).
        addresses_match: bool,
    },
    /// Time passed: fire every timer due at `now`. Harmless when nothing is due.
    Tick,
    /// The effective priority computed by the trackers (base ± weights). Ignored for an owner; otherwise
    /// clamped to 1–254.
    SetPriority(u8),
    /// A fault appeared (interface down, failed tracker, faulted sync group). Idempotent.
    Fault,
    /// All faults cleared. Idempotent.
    Unfault,
    /// Stop: a master sends priority 0 and removes its VIPs; every state goes to Initialize.
    Shutdown,
    /// Another member of our `vrrp_sync_group` became master: a Backup takes over as on its own
    /// Master_Down timer (advert, VIPs, gratuitous ARP/NA). Ignored in Master, Fault and Initialize.
    SyncMaster,
    /// Another member of our `vrrp_sync_group` dropped to backup: a Master removes its VIPs and
    /// arms Master_Down; a Backup stops preempting. Ignored in Fault and Initialize.
    SyncBackup,
}

/// Why a transition happened; [`Reason::as_str`] is the text for the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Startup into Backup or Fault.
    Startup,
    /// Startup as the owner with `state MASTER`: master at once.
    StartupAsOwner,
    /// The Master_Down timer expired (keepalived logs "Receive advertisement timeout").
    MasterDownTimeout,
    /// The Master_Down timer expired while we were ignoring adverts from a lower-priority master.
    Preempt,
    /// The Master_Down timer, shortened to Skew_Time by a priority-0 advert, expired.
    PriorityZeroReceived,
    /// A master heard a higher priority.
    HigherPriorityAdvert,
    /// A master heard its own priority from a higher address.
    EqualPriorityHigherAddress,
    /// A fault appeared.
    Fault,
    /// The last fault cleared.
    FaultCleared,
    /// `Input::Shutdown`.
    Shutdown,
    /// `Input::SyncMaster`: another member of the sync group became master.
    SyncGroupMaster,
    /// `Input::SyncBackup`: another member of the sync group dropped to backup.
    SyncGroupBackup,
}

impl Reason {
    /// A short description for the log line. `MasterDownTimeout` is keepalived's exact text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::StartupAsOwner => "startup as owner",
            Reason::MasterDownTimeout => "Receive advertisement timeout",
            Reason::Preempt => "preempt",
            Reason::PriorityZeroReceived => "priority 0 received",
            Reason::HigherPriorityAdvert => "Received higher prio advert",
            Reason::EqualPriorityHigherAddress => "Received equal prio advert from higher address",
            Reason::Fault => "fault",
            Reason::FaultCleared => "fault cleared",
            Reason::Shutdown => "shutdown",
            Reason::SyncGroupMaster => "sync group master",
            Reason::SyncGroupBackup => "sync group backup",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something for the engine to do, in the order pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send one advert with this priority (0 when giving up) and our configured interval.
    SendAdvert {
        /// The priority to put in the advert.
        priority: u8,
    },
    /// Add the VIPs (and eVIPs, routes, rules) to the interface.
    AddVips,
    /// Remove them.
    RemoveVips,
    /// Send one batch of gratuitous ARPs / unsolicited NAs: one per VIP.
    SendGratuitous,
    /// The state changed: log it, notify, update the status. Pushed after the packets and VIP changes of the
    /// same step, so the takeover is not delayed by logging.
    Transition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// Ask the other members of our `vrrp_sync_group` to follow into this state (Master or Backup):
    /// the engine feeds them [`Input::SyncMaster`] or [`Input::SyncBackup`] in the same wake-up.
    /// Pushed after the `Transition` of an election of our own, never after a forced one.
    SyncGroup(State),
}

/// Per-instance counters, named as keepalived's `stats` JSON and SNMP (the engine keeps the packet-level ones:
/// `packet_len_err`, `ip_ttl_err`, `invalid_type_rcvd`, auth errors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Adverts received and counted (after the interval check, before the address-list check).
    pub advert_rcvd: u64,
    /// Adverts the FSM asked to send.
    pub advert_sent: u64,
    /// Transitions into Master.
    pub become_master: u64,
    /// Transitions out of Master into Backup or Fault.
    pub release_master: u64,
    /// Priority-0 adverts received (and accepted by the checks).
    pub pri_zero_rcvd: u64,
    /// Priority-0 adverts the FSM asked to send.
    pub pri_zero_sent: u64,
    /// v2 adverts dropped for an interval different from ours.
    pub advert_interval_err: u64,
    /// Adverts whose address list differed from ours.
    pub addr_list_err: u64,
}

const NANOS_PER_CS: u64 = 10_000_000;

/// Skew_Time for `priority` (the effective priority) and the master's advert interval in centiseconds.
///
/// v2: `(256 − priority)/256` s; v3: `(256 − priority) × interval / 256`. Truncated to the nanosecond.
pub fn skew_time(version: Version, priority: u8, master_interval_cs: u16) -> Duration {
    let units = 256 - u64::from(priority);
    match version {
        Version::V2 => Duration::from_nanos(units * 1_000_000_000 / 256),
        Version::V3 => {
            Duration::from_nanos(units * u64::from(master_interval_cs) * NANOS_PER_CS / 256)
        }
    }
}

/// Master_Down_Interval: `adverts × interval + Skew_Time` (RFC: `adverts` = 3).
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_interval_cs: u16,
    adverts: u8,
) -> Duration {
    interval_duration(master_interval_cs)
        .saturating_mul(u32::from(adverts))
        .saturating_add(skew_time(version, priority, master_interval_cs))
}

fn interval_duration(interval_cs: u16) -> Duration {
    Duration::from_nanos(u64::from(interval_cs) * NANOS_PER_CS)
}
