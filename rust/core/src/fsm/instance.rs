//! [`Instance`]: one VRRP instance's state, timers and counters.

use core::cmp::Ordering;
use core::time::Duration;
use std::net::IpAddr;

use super::{
    interval_duration, master_down_interval, skew_time, Action, AddressListCheck, Input,
    InstanceConfig, Reason, StartState, State, Stats, Timestamp, Version, MAX_ADVERT_INTERVAL_CS,
    PRIORITY_OWNER, PRIORITY_STOP,
};

/// Repeat counts above this are clamped: with a zero interval every batch is pushed at once.
const MAX_GRATUITOUS_REPEAT: u32 = 255;

/// Why the Master_Down timer is running, which becomes the transition's [`Reason`] when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DownCause {
    /// No advert accepted for Master_Down_Interval.
    Silence,
    /// The master sent priority 0; the timer is Skew_Time.
    PriorityZero,
    /// We are ignoring a lower-priority master (preemption).
    LowerPriority,
}

impl DownCause {
    fn reason(self) -> Reason {
        match self {
            DownCause::Silence => Reason::MasterDownTimeout,
            DownCause::PriorityZero => Reason::PriorityZeroReceived,
            DownCause::LowerPriority => Reason::Preempt,
        }
    }
}

/// Pending gratuitous ARP/NA work of a master. All `None`/zero outside Master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct GratuitousSchedule {
    /// Batches left in the current round, after the one already sent.
    remaining: u32,
    /// When the next batch of the current round is due.
    next_batch: Option<Timestamp>,
    /// The second round after becoming master (`garp_master_delay`).
    master_round: Option<Timestamp>,
    /// The second round after hearing a lower priority (`garp_lower_prio_delay`).
    lower_prio_round: Option<Timestamp>,
    /// The next periodic refresh round (`garp_master_refresh`).
    refresh_round: Option<Timestamp>,
}

impl GratuitousSchedule {
    fn earliest(&self) -> Option<Timestamp> {
        [
            self.next_batch,
            self.master_round,
            self.lower_prio_round,
            self.refresh_round,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// One VRRP instance (see the [module documentation](super) for the behaviour).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use fastvrrp_core::fsm::{Action, Input, Instance, InstanceConfig, State, Timestamp, Version};
///
/// let primary = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
/// let mut vrrp = Instance::new(InstanceConfig::new(51, Version::V3, primary));
/// let mut actions = Vec::new();
/// vrrp.handle(Timestamp::ZERO, Input::Startup { interface_up: true }, &mut actions);
/// assert_eq!(vrrp.state(), State::Backup);
/// // No master heard: master after 3 × 1 s + (256 − 100) × 1 s / 256.
/// let deadline = vrrp.next_deadline().unwrap();
/// assert_eq!(deadline.as_nanos(), 3_609_375_000);
/// actions.clear();
/// vrrp.handle(deadline, Input::Tick, &mut actions);
/// assert_eq!(vrrp.state(), State::Master);
/// assert_eq!(actions[0], Action::SendAdvert { priority: 100 });
/// assert_eq!(actions[1], Action::AddVips);
/// ```
#[derive(Clone, Debug)]
pub struct Instance {
    config: InstanceConfig,
    state: State,
    base_priority: u8,
    effective_priority: u8,
    /// Master_Adver_Interval: ours, or the v3 master's.
    master_interval_cs: u16,
    /// The master we follow (Backup) — the last advert's sender, accepted or ignored.
    master_address: Option<IpAddr>,
    master_priority: Option<u8>,
    /// Level of the engine's aggregated fault sources.
    faulted: bool,
    /// Adver timer (Master) or Master_Down timer (Backup).
    main_timer: Option<Timestamp>,
    down_cause: DownCause,
    /// Until when a higher-priority backup keeps accepting a lower-priority master.
    preempt_deadline: Option<Timestamp>,
    gratuitous: GratuitousSchedule,
    last_transition: Option<Timestamp>,
    /// The current Master or Backup state was forced by the sync group (it does not propagate, and
    /// a forced backup does not preempt).
    sync_forced: bool,
    stats: Stats,
}

impl Instance {
    /// A stopped instance (state Initialize). Out-of-range configuration values are clamped (see
    /// [`InstanceConfig`]); [`Instance::config`] returns the clamped values.
    pub fn new(config: InstanceConfig) -> Self {
        let config = clamped(config);
        Instance {
            state: State::Initialize,
            base_priority: config.priority,
            effective_priority: config.priority,
            master_interval_cs: config.advert_interval_cs,
            master_address: None,
            master_priority: None,
            faulted: false,
            main_timer: None,
            down_cause: DownCause::Silence,
            preempt_deadline: None,
            gratuitous: GratuitousSchedule::default(),
            last_transition: None,
            sync_forced: false,
            stats: Stats::default(),
            config,
        }
    }

    /// Process one input at `now`, pushing what to do onto `out` (which is not cleared: the engine reuses one
    /// `Vec` and clears it itself). Never panics and allocates only if `out` must grow.
    pub fn handle(&mut self, now: Timestamp, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Startup { interface_up } => self.on_startup(now, interface_up, out),
            Input::AdvertReceived {
                src,
                priority,
                interval_cs,
                addresses_match,
            } => self.on_advert(now, src, priority, interval_cs, addresses_match, out),
            Input::Tick => self.on_tick(now, out),
            Input::SetPriority(priority) => self.on_set_priority(priority),
            Input::Fault => self.on_fault(now, out),
            Input::Unfault => self.on_unfault(now, out),
            Input::Shutdown => self.on_shutdown(now, out),
            Input::SyncMaster => self.on_sync_master(now, out),
            Input::SyncBackup => self.on_sync_backup(now, out),
        }
    }

    /// Reload: take a new configuration while keeping the state, the master we follow and the
    /// running timers, so that a master stays master through a change of interval, preempt,
    /// preempt delay, gratuitous schedule or down-timer count (keepalived keeps its states across a
    /// reload too). Values are clamped as in [`Instance::new`]. What follows at once:
    ///
    /// - **priority** (not involving the owner's 255; the engine rebuilds for that): the base
    ///   priority becomes the new one, and the effective priority follows as with
    ///   [`Input::SetPriority`] (a backup's Master_Down timer moves by the change in Skew_Time);
    /// - **advert interval**: a master's next advert is due one new interval after its last one
    ///   (at once if that has passed); a backup that has not heard a v3 master yet (and any v2
    ///   backup) takes the new interval as Master_Adver_Interval;
    /// - a backup's running Master_Down timer moves by the change in Master_Down_Interval (new
    ///   interval, down-timer count or Skew_Time);
    /// - **preempt off** while a backup is letting a lower-priority master's timer run out: it
    ///   no longer preempts (the timer is a plain Master_Down timer again); **preempt delay**
    ///   changed: counted again from `now` (zero: off);
    /// - **gratuitous schedule**: pending rounds whose feature is now off are dropped; a changed
    ///   refresh period starts again from `now`.
    ///
    /// Nothing is sent and no transition happens, so `out` gets nothing today; it is there so
    /// that a later rule can act without changing the signature.
    pub fn reconfigure(&mut self, now: Timestamp, config: InstanceConfig, out: &mut Vec<Action>) {
        let _ = out;
        let new = clamped(config);
        let old = self.config;
        let old_down = self.master_down_interval();
        let old_interval = interval_duration(old.advert_interval_cs);
        let priority_changed = new.priority != old.priority;
        let owner_before = self.base_priority == PRIORITY_OWNER;
        self.config = new;
        if priority_changed {
            self.base_priority = new.priority;
            if new.priority == PRIORITY_OWNER {
                self.effective_priority = PRIORITY_OWNER;
            } else if owner_before {
                self.effective_priority = new.priority;
            }
        }
        let heard_v3_master = new.version == Version::V3 && self.master_address.is_some();
        if self.state != State::Backup || !heard_v3_master {
            self.master_interval_cs = new.advert_interval_cs;
        }
        match self.state {
            State::Master => {
                let interval = interval_duration(new.advert_interval_cs);
                if interval != old_interval {
                    if let Some(due) = self.main_timer {
                        let last = due.saturating_sub(old_interval);
                        self.main_timer = Some((last + interval).max(now));
                    }
                }
            }
            State::Backup => {
                if !new.preempt && self.down_cause == DownCause::LowerPriority {
                    self.down_cause = DownCause::Silence;
                }
                if new.preempt_delay != old.preempt_delay {
                    self.preempt_deadline = self.delay_from(now, new.preempt_delay);
                }
                if self.down_cause != DownCause::PriorityZero {
                    let new_down = self.master_down_interval();
                    if let Some(deadline) = self.main_timer {
                        self.main_timer = Some(if new_down >= old_down {
                            deadline + (new_down - old_down)
                        } else {
                            deadline.saturating_sub(old_down - new_down)
                        });
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
        if priority_changed && !owner_before && new.priority != PRIORITY_OWNER {
            self.on_set_priority(new.priority);
        }
        if self.state == State::Master {
            let (g, og) = (new.gratuitous, old.gratuitous);
            if g.master_delay.is_zero() {
                self.gratuitous.master_round = None;
            }
            if g.lower_prio_delay.is_zero() || g.lower_prio_repeat == 0 {
                self.gratuitous.lower_prio_round = None;
            }
            if g.master_refresh != og.master_refresh {
                self.gratuitous.refresh_round = self.delay_from(now, g.master_refresh);
            }
        }
    }

    /// Follow a change of our primary address (the interface's, for the equal-priority
    /// tie-break). Nothing else changes; the next tie is decided with the new address.
    pub fn set_primary_address(&mut self, address: IpAddr) {
        self.config.primary_address = address;
    }

    /// When the engine must next call [`Instance::handle`] with [`Input::Tick`]; `None` when no timer runs
    /// (Initialize, Fault). After `handle(now, Input::Tick, ..)` it is later than `now`; other inputs can move it
    /// (earlier or later), so re-read it after every call.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match (self.main_timer, self.gratuitous.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration, as clamped by [`Instance::new`].
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// The base priority: the configured one, unless two owners met (then 254).
    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }

    /// The priority used in adverts and elections.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// The current master's address: ours when Master; as a Backup, the sender of the last advert heard
    /// (accepted, or ignored as lower priority); `None` otherwise or before any advert.
    pub fn master_address(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.config.primary_address),
            State::Backup => self.master_address,
            State::Initialize | State::Fault => None,
        }
    }

    /// The current master's priority, with the same rules as [`Instance::master_address`].
    pub fn master_priority(&self) -> Option<u8> {
        match self.state {
            State::Master => Some(self.effective_priority),
            State::Backup => self.master_priority,
            State::Initialize | State::Fault => None,
        }
    }

    /// Our advert interval in centiseconds (keepalived's `adver_int`).
    pub fn advert_interval_cs(&self) -> u16 {
        self.config.advert_interval_cs
    }

    /// Master_Adver_Interval in centiseconds (keepalived's `master_adver_int`): a v3 backup adopts the
    /// master's.
    pub fn master_advert_interval_cs(&self) -> u16 {
        self.master_interval_cs
    }

    /// The Master_Down_Interval a Backup would arm now (with the current priority and master interval).
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.config.version,
            self.effective_priority,
            self.master_interval_cs,
            self.config.down_timer_adverts,
        )
    }

    /// Whether a fault is set (by `Fault`, or `Startup` with the interface down).
    pub fn is_faulted(&self) -> bool {
        self.faulted
    }

    /// When the last transition happened.
    pub fn last_transition(&self) -> Option<Timestamp> {
        self.last_transition
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn on_startup(&mut self, now: Timestamp, interface_up: bool, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.faulted |= !interface_up;
        if self.faulted {
            self.enter_fault(now, Reason::Startup, out);
        } else if self.config.start_state == StartState::Master
            && self.base_priority == PRIORITY_OWNER
        {
            self.become_master(now, Reason::StartupAsOwner, out);
        } else {
            self.enter_backup(now, Reason::Startup, out);
        }
    }

    /// Startup (unless owner with `state MASTER`) and leaving fault: Backup with a full Master_Down_Interval.
    fn enter_backup(&mut self, now: Timestamp, reason: Reason, out: &mut Vec<Action>) {
        self.master_interval_cs = self.config.advert_interval_cs;
        self.arm_down_timer(now, self.master_down_interval(), DownCause::Silence);
        self.master_address = None;
        self.master_priority = None;
        self.preempt_deadline = self.delay_from(now, self.config.preempt_delay);
        self.transition(now, State::Backup, reason, out);
    }

    fn on_advert(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        addresses_match: bool,
        out: &mut Vec<Action>,
    ) {
        if self.state == State::Initialize {
            return;
        }
        if self.config.version == Version::V2 && interval_cs != self.config.advert_interval_cs {
            self.stats.advert_interval_err += 1;
            return;
        }
        self.stats.advert_rcvd += 1;
        if !addresses_match {
            let checked = match self.config.address_list_check {
                AddressListCheck::Drop | AddressListCheck::Accept => true,
                AddressListCheck::SkipFromCurrentMaster => {
                    !(self.state == State::Backup && self.master_address == Some(src))
                }
            };
            if checked {
                self.stats.addr_list_err += 1;
                if self.config.address_list_check != AddressListCheck::Accept {
                    return;
                }
            }
        }
        if priority == PRIORITY_STOP {
            self.stats.pri_zero_rcvd += 1;
        }
        let interval_cs = interval_cs.clamp(1, MAX_ADVERT_INTERVAL_CS);
        match self.state {
            State::Backup => self.backup_advert(now, src, priority, interval_cs),
            State::Master => self.master_advert(now, src, priority, interval_cs, out),
            State::Initialize | State::Fault => {}
        }
    }

    fn backup_advert(&mut self, now: Timestamp, src: IpAddr, priority: u8, interval_cs: u16) {
        if priority == PRIORITY_STOP {
            let skew = skew_time(
                self.config.version,
                self.effective_priority,
                self.master_interval_cs,
            );
            self.arm_down_timer(now, skew, DownCause::PriorityZero);
            return;
        }
        self.master_address = Some(src);
        self.master_priority = Some(priority);
        let delaying = self.config.preempt_delay > Duration::ZERO
            && self.preempt_deadline.is_none_or(|t| t > now);
        let preempt = self.config.preempt && !self.sync_forced;
        if !preempt || priority >= self.effective_priority || delaying {
            if self.config.version == Version::V3 {
                self.master_interval_cs = interval_cs;
            }
            self.arm_down_timer(now, self.master_down_interval(), DownCause::Silence);
            if self.config.preempt_delay > Duration::ZERO {
                if priority >= self.effective_priority {
                    self.preempt_deadline = None;
                } else if self.preempt_deadline.is_none() {
                    self.preempt_deadline = self.delay_from(now, self.config.preempt_delay);
                }
            }
        } else {
            // A lower-priority master: let the timer run out, then preempt.
            self.down_cause = DownCause::LowerPriority;
        }
    }

    fn master_advert(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        out: &mut Vec<Action>,
    ) {
        if priority == PRIORITY_STOP {
            self.send_advert(now, out);
            return;
        }
        let address_order = compare_addresses(src, self.config.primary_address);
        if priority == PRIORITY_OWNER
            && self.effective_priority == PRIORITY_OWNER
            && address_order != Ordering::Equal
        {
            // Two owners: a configuration error; keepalived lowers its own priority so that one wins.
            self.base_priority = PRIORITY_OWNER - 1;
            self.effective_priority = PRIORITY_OWNER - 1;
        }
        let ours = self.effective_priority;
        if priority < ours || (priority == ours && address_order == Ordering::Less) {
            if !self.config.lower_prio_no_advert {
                self.send_advert(now, out);
            }
            let g = self.config.gratuitous;
            if g.lower_prio_repeat > 0 {
                self.start_gratuitous_round(now, g.lower_prio_repeat, out);
                if g.lower_prio_delay > Duration::ZERO {
                    self.gratuitous.lower_prio_round = self.delay_from(now, g.lower_prio_delay);
                }
            }
        } else if priority > ours || address_order == Ordering::Greater {
            if self.config.higher_prio_send_advert {
                self.push_advert(self.effective_priority, out);
            }
            let reason = if priority > ours {
                Reason::HigherPriorityAdvert
            } else {
                Reason::EqualPriorityHigherAddress
            };
            out.push(Action::RemoveVips);
            self.stats.release_master += 1;
            self.gratuitous = GratuitousSchedule::default();
            if self.config.version == Version::V3 {
                self.master_interval_cs = interval_cs;
            }
            self.master_address = Some(src);
            self.master_priority = Some(priority);
            self.preempt_deadline = None;
            self.arm_down_timer(now, self.master_down_interval(), DownCause::Silence);
            let forced = self.sync_forced;
            self.transition(now, State::Backup, reason, out);
            if !forced {
                out.push(Action::SyncGroup(State::Backup));
            }
        }
        // Equal priority from our own address (a loop, or a misconfigured peer): nothing to decide.
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.main_timer.is_some_and(|t| t <= now) {
            match self.state {
                State::Backup => {
                    self.become_master(now, self.down_cause.reason(), out);
                    out.push(Action::SyncGroup(State::Master));
                }
                State::Master => self.periodic_advert(now, out),
                State::Initialize | State::Fault => self.main_timer = None,
            }
        }
        if self.state != State::Master {
            return;
        }
        let g = self.config.gratuitous;
        if self.gratuitous.next_batch.is_some_and(|t| t <= now) {
            out.push(Action::SendGratuitous);
            self.gratuitous.remaining = self.gratuitous.remaining.saturating_sub(1);
            self.gratuitous.next_batch = if self.gratuitous.remaining > 0 {
                self.delay_from(now, g.interval)
            } else {
                None
            };
        }
        if self.gratuitous.master_round.is_some_and(|t| t <= now) {
            self.gratuitous.master_round = None;
            self.start_gratuitous_round(now, g.master_repeat, out);
        }
        if self.gratuitous.lower_prio_round.is_some_and(|t| t <= now) {
            self.gratuitous.lower_prio_round = None;
            self.start_gratuitous_round(now, g.lower_prio_repeat, out);
        }
        if self.gratuitous.refresh_round.is_some_and(|t| t <= now) {
            self.gratuitous.refresh_round = self.delay_from(now, g.master_refresh);
            self.start_gratuitous_round(now, g.master_refresh_repeat, out);
        }
    }

    fn on_set_priority(&mut self, priority: u8) {
        if self.base_priority == PRIORITY_OWNER {
            return;
        }
        let old = self.effective_priority;
        let new = priority.clamp(1, PRIORITY_OWNER - 1);
        self.effective_priority = new;
        // A running Master_Down timer follows the new Skew_Time (keepalived 2.x moves it by the difference).
        if let (State::Backup, Some(deadline)) = (self.state, self.main_timer) {
            let skew = |p| skew_time(self.config.version, p, self.master_interval_cs);
            let (old_skew, new_skew) = (skew(old), skew(new));
            self.main_timer = Some(if new_skew >= old_skew {
                deadline + (new_skew - old_skew)
            } else {
                deadline.saturating_sub(old_skew - new_skew)
            });
        }
    }

    fn on_fault(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.faulted {
            return;
        }
        self.faulted = true;
        if matches!(self.state, State::Backup | State::Master) {
            self.enter_fault(now, Reason::Fault, out);
        }
    }

    fn on_unfault(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if !self.faulted {
            return;
        }
        self.faulted = false;
        if self.state == State::Fault {
            self.enter_backup(now, Reason::FaultCleared, out);
        }
    }

    fn on_shutdown(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.faulted = false;
        if self.state == State::Initialize {
            return;
        }
        if self.state == State::Master {
            self.push_advert(PRIORITY_STOP, out);
            out.push(Action::RemoveVips);
        }
        self.stop_timers();
        self.transition(now, State::Initialize, Reason::Shutdown, out);
    }

    /// Another member became master: take over as on our own timer, without asking back.
    fn on_sync_master(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.state == State::Backup {
            self.become_master(now, Reason::SyncGroupMaster, out);
            self.sync_forced = true;
        }
    }

    /// Another member dropped to backup: leave master (VIPs removed, Master_Down armed) and stop
    /// preempting until we are next master.
    fn on_sync_backup(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                out.push(Action::RemoveVips);
                self.stats.release_master += 1;
                self.gratuitous = GratuitousSchedule::default();
                self.master_interval_cs = self.config.advert_interval_cs;
                self.master_address = None;
                self.master_priority = None;
                self.preempt_deadline = None;
                self.arm_down_timer(now, self.master_down_interval(), DownCause::Silence);
                self.transition(now, State::Backup, Reason::SyncGroupBackup, out);
                self.sync_forced = true;
            }
            State::Backup => {
                self.sync_forced = true;
                if self.down_cause == DownCause::LowerPriority {
                    // Follow the lower-priority master from now on, as with nopreempt.
                    self.arm_down_timer(now, self.master_down_interval(), DownCause::Silence);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn enter_fault(&mut self, now: Timestamp, reason: Reason, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.push_advert(PRIORITY_STOP, out);
            out.push(Action::RemoveVips);
            self.stats.release_master += 1;
        }
        self.stop_timers();
        self.transition(now, State::Fault, reason, out);
    }

    fn become_master(&mut self, now: Timestamp, reason: Reason, out: &mut Vec<Action>) {
        // The RFC's order (advert, then VIPs and GARPs); the engine sends the first GARP of a
        // wake-up ahead of its adverts, see docs/engine.md "Takeover order".
        self.master_interval_cs = self.config.advert_interval_cs;
        self.send_advert(now, out);
        out.push(Action::AddVips);
        self.stats.become_master += 1;
        self.master_address = None;
        self.master_priority = None;
        self.preempt_deadline = None;
        let g = self.config.gratuitous;
        self.gratuitous = GratuitousSchedule {
            master_round: self.delay_from(now, g.master_delay),
            refresh_round: self.delay_from(now, g.master_refresh),
            ..GratuitousSchedule::default()
        };
        self.start_gratuitous_round(now, g.master_repeat, out);
        self.transition(now, State::Master, reason, out);
    }

    /// Sends `count` batches: the first now, the others `interval` apart (all now when the interval is zero).
    /// A round that starts while another is still going extends it.
    fn start_gratuitous_round(&mut self, now: Timestamp, count: u32, out: &mut Vec<Action>) {
        if count == 0 {
            return;
        }
        let interval = self.config.gratuitous.interval;
        if interval == Duration::ZERO {
            out.extend((0..count).map(|_| Action::SendGratuitous));
        } else if self.gratuitous.next_batch.is_some() {
            self.gratuitous.remaining = self.gratuitous.remaining.saturating_add(count);
        } else {
            out.push(Action::SendGratuitous);
            self.gratuitous.remaining = count - 1;
            if self.gratuitous.remaining > 0 {
                self.gratuitous.next_batch = self.delay_from(now, interval);
            }
        }
    }

    /// The Adver timer fired: an advert, and the timer re-armed from the deadline that fired, so a
    /// late wake-up does not stretch every period. More than an interval behind, it re-arms from
    /// `now` instead: one advert, not a burst of catch-up adverts.
    fn periodic_advert(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        let fired = self.main_timer.unwrap_or(now);
        self.push_advert(self.effective_priority, out);
        let interval = interval_duration(self.config.advert_interval_cs);
        let next = fired + interval;
        self.main_timer = Some(if next > now { next } else { now + interval });
    }

    /// An advert with our priority, and the Adver timer re-armed from `now`.
    fn send_advert(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.push_advert(self.effective_priority, out);
        self.main_timer = Some(now + interval_duration(self.config.advert_interval_cs));
    }

    fn push_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert { priority });
        self.stats.advert_sent += 1;
        if priority == PRIORITY_STOP {
            self.stats.pri_zero_sent += 1;
        }
    }

    fn arm_down_timer(&mut self, now: Timestamp, after: Duration, cause: DownCause) {
        self.main_timer = Some(now + after);
        self.down_cause = cause;
    }

    fn stop_timers(&mut self) {
        self.main_timer = None;
        self.down_cause = DownCause::Silence;
        self.preempt_deadline = None;
        self.gratuitous = GratuitousSchedule::default();
        self.master_address = None;
        self.master_priority = None;
        self.master_interval_cs = self.config.advert_interval_cs;
    }

    /// `now + delay`, or `None` when the delay is zero (the feature is off).
    fn delay_from(&self, now: Timestamp, delay: Duration) -> Option<Timestamp> {
        (delay > Duration::ZERO).then(|| now + delay)
    }

    fn transition(&mut self, now: Timestamp, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.sync_forced = false;
        self.last_transition = Some(now);
        out.push(Action::Transition { from, to, reason });
    }
}

/// The configuration with out-of-range values clamped (see [`InstanceConfig`]).
fn clamped(mut config: InstanceConfig) -> InstanceConfig {
    config.priority = config.priority.max(1);
    config.advert_interval_cs = config.advert_interval_cs.clamp(1, MAX_ADVERT_INTERVAL_CS);
    config.down_timer_adverts = config.down_timer_adverts.clamp(1, 100);
    let g = &mut config.gratuitous;
    g.master_repeat = g.master_repeat.min(MAX_GRATUITOUS_REPEAT);
    g.master_refresh_repeat = g.master_refresh_repeat.min(MAX_GRATUITOUS_REPEAT);
    g.lower_prio_repeat = g.lower_prio_repeat.min(MAX_GRATUITOUS_REPEAT);
    config
}

/// Orders `a` against `b` as unsigned integers of the same family; other families compare `Equal`.
fn compare_addresses(a: IpAddr, b: IpAddr) -> Ordering {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a).cmp(&u32::from(b)),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a).cmp(&u128::from(b)),
        _ => Ordering::Equal,
    }
}
