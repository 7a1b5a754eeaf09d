//! Every RFC 5798 transition and the keepalived specifics, on a virtual clock.

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
const LOWER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const HIGHER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3));

fn ms(millis: u64) -> Timestamp {
    Timestamp::from_nanos(millis * 1_000_000)
}

fn ns(nanos: u64) -> Timestamp {
    Timestamp::from_nanos(nanos)
}

fn transition(from: State, to: State, reason: Reason) -> Action {
    Action::Transition { from, to, reason }
}

fn garps(n: usize) -> Vec<Action> {
    vec![Action::SendGratuitous; n]
}

/// The usual test config: v3, priority 100, 1 s, keepalived's gratuitous defaults.
fn config(version: Version, priority: u8) -> InstanceConfig {
    InstanceConfig {
        priority,
        ..InstanceConfig::new(51, version, ME)
    }
}

/// An instance on a virtual clock, with helpers that return what each step pushed.
struct Harness {
    vrrp: Instance,
    out: Vec<Action>,
}

impl Harness {
    fn new(config: InstanceConfig) -> Self {
        Harness {
            vrrp: Instance::new(config),
            out: Vec::new(),
        }
    }

    /// A harness already started at time zero, interface up.
    fn started(config: InstanceConfig) -> Self {
        let mut h = Harness::new(config);
        h.at(Timestamp::ZERO, Input::Startup { interface_up: true });
        h
    }

    fn at(&mut self, now: Timestamp, input: Input) -> Vec<Action> {
        self.out.clear();
        self.vrrp.handle(now, input, &mut self.out);
        self.out.clone()
    }

    fn advert(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
    ) -> Vec<Action> {
        self.at(
            now,
            Input::AdvertReceived {
                src,
                priority,
                interval_cs,
                addresses_match: true,
            },
        )
    }

    /// Ticks at every deadline up to and including `until`, returning each action with its time.
    fn run_until(&mut self, until: Timestamp) -> Vec<(Timestamp, Action)> {
        let mut log = Vec::new();
        while let Some(deadline) = self.vrrp.next_deadline().filter(|&d| d <= until) {
            for action in self.at(deadline, Input::Tick) {
                log.push((deadline, action));
            }
        }
        log
    }

    /// Runs to `until` and returns the time of the first transition into `to`.
    fn time_of(&mut self, until: Timestamp, to: State) -> Option<Timestamp> {
        self.run_until(until)
            .into_iter()
            .find(|(_, a)| matches!(a, Action::Transition { to: t, .. } if *t == to))
            .map(|(t, _)| t)
    }

    /// A master at `at`: started as backup and timed out.
    fn master_at(config: InstanceConfig) -> (Self, Timestamp) {
        let mut h = Harness::started(config);
        let t = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
        h.at(t, Input::Tick);
        assert_eq!(h.vrrp.state(), State::Master);
        (h, t)
    }
}

// ---- timer formulas ----

#[test]
fn v3_skew_and_master_down_are_exact() {
    // (256 − 100) × 100 cs / 256 = 60.9375 cs.
    assert_eq!(
        skew_time(Version::V3, 100, 100),
        Duration::from_micros(609_375)
    );
    assert_eq!(
        master_down_interval(Version::V3, 100, 100, 3),
        Duration::from_micros(3_609_375)
    );
    // advert_int 0.1, priority 254: 2 × 10 cs / 256 = 0.78125 ms.
    assert_eq!(
        master_down_interval(Version::V3, 254, 10, 3),
        Duration::from_nanos(300_781_250)
    );
    // The owner's skew at 1 s is 1/256 s.
    assert_eq!(
        skew_time(Version::V3, 255, 100),
        Duration::from_nanos(3_906_250)
    );
}

#[test]
fn v2_skew_is_not_scaled_by_the_interval() {
    assert_eq!(
        skew_time(Version::V2, 100, 100),
        Duration::from_micros(609_375)
    );
    assert_eq!(
        skew_time(Version::V2, 100, 300),
        Duration::from_micros(609_375)
    );
    assert_eq!(
        master_down_interval(Version::V2, 100, 300, 3),
        Duration::from_micros(9_609_375)
    );
    // (256 − 150)/256 s = 414.0625 ms.
    assert_eq!(
        master_down_interval(Version::V2, 150, 100, 3),
        Duration::from_nanos(3_414_062_500)
    );
}

#[test]
fn down_timer_adverts_scales_the_interval_part() {
    let mut c = config(Version::V3, 100);
    c.down_timer_adverts = 5;
    let h = Harness::started(c);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(5_609_375_000)));
}

// ---- startup ----

#[test]
fn backup_startup_times_out_to_master_v3() {
    let mut h = Harness::new(config(Version::V3, 100));
    assert_eq!(h.vrrp.state(), State::Initialize);
    assert_eq!(h.vrrp.next_deadline(), None);
    let out = h.at(Timestamp::ZERO, Input::Startup { interface_up: true });
    assert_eq!(
        out,
        vec![transition(
            State::Initialize,
            State::Backup,
            Reason::Startup
        )]
    );
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));

    // One nanosecond early: nothing.
    assert_eq!(h.at(ns(3_609_374_999), Input::Tick), vec![]);
    let out = h.at(ns(3_609_375_000), Input::Tick);
    let mut expected = vec![Action::SendAdvert { priority: 100 }, Action::AddVips];
    expected.extend(garps(5));
    expected.push(transition(
        State::Backup,
        State::Master,
        Reason::MasterDownTimeout,
    ));
    expected.push(Action::SyncGroup(State::Master));
    assert_eq!(out, expected);
    assert_eq!(h.vrrp.master_address(), Some(ME));
    assert_eq!(h.vrrp.stats().become_master, 1);
    assert_eq!(h.vrrp.stats().advert_sent, 1);
    assert_eq!(h.vrrp.last_transition(), Some(ns(3_609_375_000)));
}

#[test]
fn backup_startup_times_out_to_master_v2() {
    let mut h = Harness::started(config(Version::V2, 150));
    assert_eq!(
        h.time_of(ms(10_000), State::Master),
        Some(ns(3_414_062_500))
    );
}

#[test]
fn owner_with_state_master_is_master_at_once() {
    let mut c = config(Version::V3, 255);
    c.start_state = StartState::Master;
    let mut h = Harness::new(c);
    let out = h.at(ms(7), Input::Startup { interface_up: true });
    let mut expected = vec![Action::SendAdvert { priority: 255 }, Action::AddVips];
    expected.extend(garps(5));
    expected.push(transition(
        State::Initialize,
        State::Master,
        Reason::StartupAsOwner,
    ));
    assert_eq!(out, expected);
    // Next advert one interval later.
    assert_eq!(h.vrrp.next_deadline(), Some(ms(1_007)));
}

#[test]
fn owner_with_state_backup_waits_a_full_down_interval() {
    let h = Harness::started(config(Version::V3, 255));
    assert_eq!(h.vrrp.state(), State::Backup);
    // 3 s + 100 cs / 256.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_003_906_250)));
}

#[test]
fn state_master_below_owner_waits_a_full_down_interval_like_keepalived_2_2_7() {
    for version in [Version::V2, Version::V3] {
        let mut c = config(version, 100);
        c.start_state = StartState::Master;
        let mut h = Harness::started(c);
        assert_eq!(h.vrrp.state(), State::Backup);
        // keepalived 2.2.7, measured: MASTER 3.61 s after startup, as with `state BACKUP`.
        assert_eq!(
            h.time_of(ms(5_000), State::Master),
            Some(ns(3_609_375_000)),
            "{version:?}"
        );
    }
}

#[test]
fn state_master_below_owner_yields_to_a_live_higher_master() {
    let mut c = config(Version::V3, 100);
    c.start_state = StartState::Master;
    let mut h = Harness::started(c);
    h.advert(ms(500), HIGHER, 200, 100);
    // The accepted advert arms the full Master_Down_Interval.
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(500_000_000 + 3_609_375_000))
    );
    assert_eq!(h.vrrp.master_address(), Some(HIGHER));
    assert_eq!(h.vrrp.master_priority(), Some(200));
}

#[test]
fn interface_down_at_startup_gives_fault_until_unfault() {
    let mut h = Harness::new(config(Version::V3, 100));
    let out = h.at(
        Timestamp::ZERO,
        Input::Startup {
            interface_up: false,
        },
    );
    assert_eq!(
        out,
        vec![transition(State::Initialize, State::Fault, Reason::Startup)]
    );
    assert_eq!(h.vrrp.next_deadline(), None);
    assert!(h.vrrp.is_faulted());
    let out = h.at(ms(2_000), Input::Unfault);
    assert_eq!(
        out,
        vec![transition(
            State::Fault,
            State::Backup,
            Reason::FaultCleared
        )]
    );
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(2_000_000_000 + 3_609_375_000))
    );
}

#[test]
fn fault_before_startup_is_remembered() {
    let mut h = Harness::new(config(Version::V3, 100));
    assert_eq!(h.at(Timestamp::ZERO, Input::Fault), vec![]);
    let out = h.at(ms(1), Input::Startup { interface_up: true });
    assert_eq!(
        out,
        vec![transition(State::Initialize, State::Fault, Reason::Startup)]
    );
}

#[test]
fn a_second_startup_is_ignored() {
    let mut h = Harness::started(config(Version::V3, 100));
    assert_eq!(
        h.at(ms(1_000), Input::Startup { interface_up: true }),
        vec![]
    );
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));
}

// ---- backup receiving adverts ----

#[test]
fn backup_accepts_a_higher_or_equal_priority_and_resets_the_timer() {
    let mut h = Harness::started(config(Version::V3, 100));
    assert_eq!(h.advert(ms(1_000), HIGHER, 200, 100), vec![]);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(4_609_375_000)));
    h.advert(ms(2_000), LOWER, 100, 100);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(5_609_375_000)));
    assert_eq!(h.vrrp.master_address(), Some(LOWER));
    assert_eq!(h.vrrp.stats().advert_rcvd, 2);
    // Adverts every second keep it backup.
    for s in 3..20 {
        h.run_until(ms(s * 1_000 - 1));
        h.advert(ms(s * 1_000), HIGHER, 200, 100);
    }
    assert_eq!(h.vrrp.state(), State::Backup);
}

#[test]
fn backup_with_preempt_ignores_a_lower_priority_and_preempts() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 200, 100);
    // The master's priority drops below ours: its adverts no longer reset our timer.
    h.advert(ms(2_000), HIGHER, 50, 100);
    h.advert(ms(3_000), HIGHER, 50, 100);
    h.advert(ms(4_000), HIGHER, 50, 100);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(4_609_375_000)));
    assert_eq!(h.vrrp.master_priority(), Some(50));
    let log = h.run_until(ms(5_000));
    assert_eq!(
        log.iter().rev().nth(1), // the last is SyncGroup(Master)
        Some(&(
            ns(4_609_375_000),
            transition(State::Backup, State::Master, Reason::Preempt)
        ))
    );
}

#[test]
fn backup_with_nopreempt_accepts_a_lower_priority() {
    let mut c = config(Version::V3, 100);
    c.preempt = false;
    let mut h = Harness::started(c);
    for s in 1..20 {
        h.advert(ms(s * 1_000), LOWER, 50, 100);
        assert_eq!(
            h.vrrp.next_deadline(),
            Some(ns(s * 1_000_000_000 + 3_609_375_000))
        );
    }
    assert_eq!(h.vrrp.state(), State::Backup);
}

#[test]
fn preempt_delay_counts_from_startup() {
    let mut c = config(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(10);
    let mut h = Harness::started(c);
    // A lower-priority master is followed until 10 s after startup.
    for s in 1..=9 {
        h.advert(ms(s * 1_000), LOWER, 50, 100);
        assert_eq!(
            h.vrrp.next_deadline(),
            Some(ns(s * 1_000_000_000 + 3_609_375_000)),
            "advert at {s} s"
        );
    }
    for s in 10..=12 {
        h.advert(ms(s * 1_000), LOWER, 50, 100);
    }
    assert_eq!(
        h.time_of(ms(20_000), State::Master),
        Some(ns(12_609_375_000))
    );
}

#[test]
fn preempt_delay_restarts_at_the_first_lower_advert_after_a_higher_master() {
    let mut c = config(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(5);
    let mut h = Harness::started(c);
    // A higher master for a while clears the startup delay...
    for s in 1..=10 {
        h.advert(ms(s * 1_000), HIGHER, 200, 100);
    }
    // ...then its priority drops at 11 s: followed until 16 s, preempting 3.609375 s after 15 s.
    for s in 11..=20 {
        h.advert(ms(s * 1_000), HIGHER, 50, 100);
        if h.vrrp.state() != State::Backup {
            break;
        }
        h.run_until(ms(s * 1_000 + 999));
    }
    assert_eq!(h.vrrp.state(), State::Master);
    assert_eq!(h.vrrp.last_transition(), Some(ns(18_609_375_000)));
}

#[test]
fn backup_on_priority_zero_waits_only_the_skew() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 200, 100);
    assert_eq!(h.advert(ms(1_500), HIGHER, 0, 100), vec![]);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(1_500_000_000 + 609_375_000))
    );
    assert_eq!(h.vrrp.stats().pri_zero_rcvd, 1);
    let log = h.run_until(ms(3_000));
    assert_eq!(
        log.iter().rev().nth(1), // the last is SyncGroup(Master)
        Some(&(
            ns(2_109_375_000),
            transition(State::Backup, State::Master, Reason::PriorityZeroReceived)
        ))
    );
}

#[test]
fn v2_backup_on_priority_zero_skew_ignores_the_interval() {
    let mut c = config(Version::V2, 100);
    c.advert_interval_cs = 300;
    let mut h = Harness::started(c);
    h.advert(ms(1_000), HIGHER, 0, 300);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(1_609_375_000)));
}

#[test]
fn v3_backup_adopts_the_masters_interval() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 200, 50);
    assert_eq!(h.vrrp.master_advert_interval_cs(), 50);
    assert_eq!(h.vrrp.advert_interval_cs(), 100);
    // 3 × 0.5 s + 156 × 50 cs / 256 = 1.5 s + 304.6875 ms.
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(1_000_000_000 + 1_804_687_500))
    );
    // Priority 0 skew also uses the master's interval.
    h.advert(ms(1_200), HIGHER, 0, 50);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(1_200_000_000 + 304_687_500))
    );
    // Once master, we advertise at our own interval.
    h.run_until(ms(2_000));
    assert_eq!(h.vrrp.state(), State::Master);
    assert_eq!(h.vrrp.master_advert_interval_cs(), 100);
}

#[test]
fn v2_drops_an_advert_with_another_interval() {
    let mut h = Harness::started(config(Version::V2, 100));
    assert_eq!(h.advert(ms(1_000), HIGHER, 200, 200), vec![]);
    assert_eq!(h.vrrp.stats().advert_interval_err, 1);
    assert_eq!(h.vrrp.stats().advert_rcvd, 0);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));
    assert_eq!(h.vrrp.master_address(), None);
    // A v2 master drops it too, and does not step down.
    let (mut m, t) = Harness::master_at(config(Version::V2, 100));
    assert_eq!(
        m.advert(t + Duration::from_millis(10), HIGHER, 200, 200),
        vec![]
    );
    assert_eq!(m.vrrp.state(), State::Master);
}

#[test]
fn v3_does_not_drop_an_advert_with_another_interval() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 200, 200);
    assert_eq!(h.vrrp.stats().advert_interval_err, 0);
    assert_eq!(h.vrrp.master_advert_interval_cs(), 200);
}

#[test]
fn address_list_mismatch_is_dropped_by_default() {
    let mut h = Harness::started(config(Version::V3, 100));
    let bogus = Input::AdvertReceived {
        src: HIGHER,
        priority: 200,
        interval_cs: 100,
        addresses_match: false,
    };
    assert_eq!(h.at(ms(1_000), bogus), vec![]);
    assert_eq!(h.vrrp.stats().addr_list_err, 1);
    assert_eq!(h.vrrp.stats().advert_rcvd, 1);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));
}

#[test]
fn address_list_mismatch_accepted_when_configured() {
    let mut c = config(Version::V3, 100);
    c.address_list_check = AddressListCheck::Accept;
    let mut h = Harness::started(c);
    let bogus = Input::AdvertReceived {
        src: HIGHER,
        priority: 200,
        interval_cs: 100,
        addresses_match: false,
    };
    h.at(ms(1_000), bogus);
    assert_eq!(h.vrrp.stats().addr_list_err, 1);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(4_609_375_000)));
}

#[test]
fn skip_check_adv_addr_trusts_only_the_current_master() {
    let mut c = config(Version::V3, 100);
    c.address_list_check = AddressListCheck::SkipFromCurrentMaster;
    let mut h = Harness::started(c);
    let bogus = |src| Input::AdvertReceived {
        src,
        priority: 200,
        interval_cs: 100,
        addresses_match: false,
    };
    // Unknown sender: checked and dropped.
    h.at(ms(1_000), bogus(HIGHER));
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));
    // Once HIGHER is the master, its adverts are not checked.
    h.advert(ms(2_000), HIGHER, 200, 100);
    h.at(ms(3_000), bogus(HIGHER));
    assert_eq!(h.vrrp.next_deadline(), Some(ns(6_609_375_000)));
    assert_eq!(h.vrrp.stats().addr_list_err, 1);
    // Another sender still is.
    h.at(ms(3_500), bogus(LOWER));
    assert_eq!(h.vrrp.stats().addr_list_err, 2);
    assert_eq!(h.vrrp.master_address(), Some(HIGHER));
}

#[test]
fn an_overdue_advert_is_processed_before_the_timer() {
    let mut h = Harness::started(config(Version::V3, 100));
    // The engine was late: the advert is read 10 ms after the deadline, before any tick.
    h.advert(ms(3_620), HIGHER, 200, 100);
    assert_eq!(h.at(ms(3_620), Input::Tick), vec![]);
    assert_eq!(h.vrrp.state(), State::Backup);
}

// ---- master ----

#[test]
fn master_advertises_every_interval_from_the_last_send() {
    let mut c = config(Version::V3, 100);
    c.gratuitous.master_delay = Duration::ZERO;
    let (mut h, t) = Harness::master_at(c);
    let log = h.run_until(t + Duration::from_millis(3_500));
    let times: Vec<_> = log
        .iter()
        .filter(|(_, a)| *a == Action::SendAdvert { priority: 100 })
        .map(|(t, _)| *t)
        .collect();
    let one = Duration::from_secs(1);
    assert_eq!(times, vec![t + one, t + one * 2, t + one * 3]);
    // More than an interval late: re-armed from the tick, with no catch-up burst.
    let late = t + Duration::from_millis(5_500);
    assert_eq!(
        h.at(late, Input::Tick),
        vec![Action::SendAdvert { priority: 100 }]
    );
    assert_eq!(h.vrrp.next_deadline(), Some(late + one));
}

#[test]
fn a_late_advert_tick_does_not_stretch_the_period() {
    let mut c = config(Version::V3, 100);
    c.advert_interval_cs = 1;
    c.gratuitous.master_delay = Duration::ZERO;
    let (mut h, t) = Harness::master_at(c);
    let ten = Duration::from_millis(10);
    // Every tick 35 µs late (the engine's wake-up latency): the deadlines stay on the 10 ms grid.
    let mut due = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    assert_eq!(due, t + ten);
    for k in 1..=100u32 {
        let late = due + Duration::from_micros(35);
        assert_eq!(
            h.at(late, Input::Tick),
            vec![Action::SendAdvert { priority: 100 }]
        );
        due = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
        assert_eq!(due, t + ten * (k + 1));
    }
    // Late by 9.9 ms (less than an interval): still on the grid, sent once.
    let late = due + Duration::from_micros(9_900);
    assert_eq!(h.at(late, Input::Tick).len(), 1);
    assert_eq!(h.vrrp.next_deadline(), Some(due + ten));
    // An advert answering a lower priority resets the timer from now (RFC 9568).
    let now = due + Duration::from_millis(3);
    h.advert(now, LOWER, 50, 1);
    assert_eq!(h.vrrp.next_deadline(), Some(now + ten));
}

#[test]
fn master_answers_priority_zero_at_once() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let now = t + Duration::from_millis(300);
    assert_eq!(
        h.advert(now, LOWER, 0, 100),
        vec![Action::SendAdvert { priority: 100 }]
    );
    assert_eq!(h.vrrp.state(), State::Master);
    assert_eq!(h.vrrp.next_deadline(), Some(now + Duration::from_secs(1)));
    assert_eq!(h.vrrp.stats().pri_zero_rcvd, 1);
}

#[test]
fn master_answers_a_lower_priority_with_an_advert_and_gratuitous() {
    let mut c = config(Version::V3, 100);
    c.gratuitous.master_delay = Duration::ZERO;
    let (mut h, t) = Harness::master_at(c);
    let now = t + Duration::from_millis(300);
    let mut expected = vec![Action::SendAdvert { priority: 100 }];
    expected.extend(garps(5));
    assert_eq!(h.advert(now, LOWER, 50, 100), expected);
    assert_eq!(h.vrrp.state(), State::Master);
    // The lower-priority second round, 5 s later; adverts in between.
    let log = h.run_until(now + Duration::from_secs(5));
    let garp_times: Vec<_> = log
        .iter()
        .filter(|(_, a)| *a == Action::SendGratuitous)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(garp_times, vec![now + Duration::from_secs(5); 5]);
}

#[test]
fn master_with_lower_prio_no_advert_and_no_lower_garp_stays_silent() {
    let mut c = config(Version::V3, 100);
    c.lower_prio_no_advert = true;
    c.gratuitous.lower_prio_repeat = 0;
    let (mut h, t) = Harness::master_at(c);
    assert_eq!(
        h.advert(t + Duration::from_millis(300), LOWER, 50, 100),
        vec![]
    );
}

#[test]
fn master_tie_break_on_equal_priority() {
    // Lower address: we stay master and answer.
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let out = h.advert(t + Duration::from_millis(100), LOWER, 100, 100);
    assert_eq!(out.first(), Some(&Action::SendAdvert { priority: 100 }));
    assert_eq!(h.vrrp.state(), State::Master);

    // Higher address: we step down, following its interval.
    let now = t + Duration::from_millis(200);
    let out = h.advert(now, HIGHER, 100, 50);
    assert_eq!(
        out,
        vec![
            Action::RemoveVips,
            transition(
                State::Master,
                State::Backup,
                Reason::EqualPriorityHigherAddress
            ),
            Action::SyncGroup(State::Backup),
        ]
    );
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(now + Duration::from_nanos(1_804_687_500))
    );
    assert_eq!(h.vrrp.master_address(), Some(HIGHER));

    // Our own address: nothing to decide.
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    assert_eq!(
        h.advert(t + Duration::from_millis(100), ME, 100, 100),
        vec![]
    );
    assert_eq!(h.vrrp.state(), State::Master);
}

#[test]
fn tie_break_compares_ipv6_addresses_as_integers() {
    let me = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10));
    let above = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100));
    let below = IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xf));
    let c = InstanceConfig {
        primary_address: me,
        ..config(Version::V3, 100)
    };
    let (mut h, t) = Harness::master_at(c);
    h.advert(t + Duration::from_millis(100), below, 100, 100);
    assert_eq!(h.vrrp.state(), State::Master);
    h.advert(t + Duration::from_millis(200), above, 100, 100);
    assert_eq!(h.vrrp.state(), State::Backup);
}

#[test]
fn master_steps_down_to_a_higher_priority() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let now = t + Duration::from_millis(400);
    let out = h.advert(now, LOWER, 200, 100);
    assert_eq!(
        out,
        vec![
            Action::RemoveVips,
            transition(State::Master, State::Backup, Reason::HigherPriorityAdvert),
            Action::SyncGroup(State::Backup),
        ]
    );
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(now + Duration::from_nanos(3_609_375_000))
    );
    assert_eq!(h.vrrp.stats().release_master, 1);
    assert_eq!(h.vrrp.master_priority(), Some(200));
}

#[test]
fn master_with_higher_prio_send_advert_sends_one_before_stepping_down() {
    let mut c = config(Version::V3, 100);
    c.higher_prio_send_advert = true;
    let (mut h, t) = Harness::master_at(c);
    let out = h.advert(t + Duration::from_millis(400), LOWER, 200, 100);
    assert_eq!(out[0], Action::SendAdvert { priority: 100 });
    assert_eq!(out[1], Action::RemoveVips);
}

#[test]
fn two_owners_the_lower_address_lowers_its_priority_and_steps_down() {
    let mut c = config(Version::V3, 255);
    c.start_state = StartState::Master;
    let mut h = Harness::started(c);
    h.advert(ms(100), HIGHER, 255, 100);
    assert_eq!(h.vrrp.state(), State::Backup);
    assert_eq!(h.vrrp.base_priority(), 254);
    assert_eq!(h.vrrp.effective_priority(), 254);
}

#[test]
fn two_owners_the_higher_address_also_lowers_its_priority_and_steps_down() {
    // As keepalived: the other 255 now outranks our 254, so both owners step down and elect again at 254.
    let mut c = config(Version::V3, 255);
    c.start_state = StartState::Master;
    let mut h = Harness::started(c);
    h.advert(ms(100), LOWER, 255, 100);
    assert_eq!(h.vrrp.state(), State::Backup);
    assert_eq!(h.vrrp.effective_priority(), 254);
    // The peer, lowered too, advertises 254: a backup accepts an equal priority (RFC 5798 §6.4.2).
    h.advert(ms(1_100), LOWER, 254, 100);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ns(1_100_000_000 + 3_007_812_500))
    );
}

// ---- fault ----

#[test]
fn fault_from_master_sends_priority_zero_and_removes_the_vips() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let now = t + Duration::from_millis(100);
    let out = h.at(now, Input::Fault);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            transition(State::Master, State::Fault, Reason::Fault)
        ]
    );
    assert_eq!(h.vrrp.next_deadline(), None);
    assert_eq!(h.vrrp.stats().pri_zero_sent, 1);
    assert_eq!(h.vrrp.stats().release_master, 1);
    // In fault nothing is sent, adverts are counted and ignored.
    assert_eq!(
        h.advert(now + Duration::from_millis(100), LOWER, 50, 100),
        vec![]
    );
    assert_eq!(h.at(now + Duration::from_secs(10), Input::Tick), vec![]);
    assert_eq!(h.vrrp.master_address(), None);
    // Repeated faults are no-ops; unfault goes to backup with a full down timer.
    assert_eq!(h.at(now + Duration::from_secs(11), Input::Fault), vec![]);
    let back = now + Duration::from_secs(12);
    assert_eq!(
        h.at(back, Input::Unfault),
        vec![transition(
            State::Fault,
            State::Backup,
            Reason::FaultCleared
        )]
    );
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(back + Duration::from_nanos(3_609_375_000))
    );
    assert_eq!(h.at(back, Input::Unfault), vec![]);
}

#[test]
fn fault_from_backup_sends_nothing() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 200, 50);
    assert_eq!(
        h.at(ms(1_500), Input::Fault),
        vec![transition(State::Backup, State::Fault, Reason::Fault)]
    );
    assert_eq!(h.vrrp.next_deadline(), None);
    // Leaving fault forgets the old master's interval.
    h.at(ms(2_000), Input::Unfault);
    assert_eq!(h.vrrp.master_advert_interval_cs(), 100);
    assert_eq!(h.vrrp.master_address(), None);
}

#[test]
fn leaving_fault_as_owner_with_state_master_goes_through_backup() {
    let mut c = config(Version::V3, 255);
    c.start_state = StartState::Master;
    let mut h = Harness::new(c);
    let out = h.at(ms(0), Input::Startup { interface_up: true });
    assert_eq!(
        out.last(),
        Some(&transition(
            State::Initialize,
            State::Master,
            Reason::StartupAsOwner
        ))
    );
    h.at(ms(5_000), Input::Fault);
    let out = h.at(ms(6_000), Input::Unfault);
    assert_eq!(
        out,
        vec![transition(
            State::Fault,
            State::Backup,
            Reason::FaultCleared
        )]
    );
    // keepalived 2.2.7, measured: MASTER 3.00 s after link-up (3 s + 100 cs / 256).
    assert_eq!(
        h.time_of(ms(20_000), State::Master),
        Some(ns(9_003_906_250))
    );
}

#[test]
fn leaving_fault_with_state_master_waits_a_full_down_interval() {
    let mut c = config(Version::V3, 100);
    c.start_state = StartState::Master;
    let mut h = Harness::new(c);
    h.at(
        Timestamp::ZERO,
        Input::Startup {
            interface_up: false,
        },
    );
    h.at(ms(1_000), Input::Unfault);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(4_609_375_000)));
}

#[test]
fn preempt_delay_counts_from_leaving_fault() {
    let mut c = config(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(10);
    let mut h = Harness::new(c);
    h.at(
        Timestamp::ZERO,
        Input::Startup {
            interface_up: false,
        },
    );
    h.at(ms(20_000), Input::Unfault);
    // 29 s is within the delay: accepted.
    h.advert(ms(29_000), LOWER, 50, 100);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(32_609_375_000)));
    // 30 s is not: ignored.
    h.advert(ms(30_000), LOWER, 50, 100);
    assert_eq!(h.vrrp.next_deadline(), Some(ns(32_609_375_000)));
}

// ---- shutdown ----

#[test]
fn shutdown_from_master_sends_priority_zero_and_stops() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let now = t + Duration::from_millis(100);
    let out = h.at(now, Input::Shutdown);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            transition(State::Master, State::Initialize, Reason::Shutdown)
        ]
    );
    assert_eq!(h.vrrp.next_deadline(), None);
    assert_eq!(h.vrrp.stats().pri_zero_sent, 1);
    assert_eq!(h.vrrp.stats().release_master, 0);
    // Stopped: adverts are not even counted; a new startup works.
    let rcvd = h.vrrp.stats().advert_rcvd;
    assert_eq!(
        h.advert(now + Duration::from_secs(1), HIGHER, 200, 100),
        vec![]
    );
    assert_eq!(h.vrrp.stats().advert_rcvd, rcvd);
    assert_eq!(h.at(now + Duration::from_secs(2), Input::Shutdown), vec![]);
    let again = now + Duration::from_secs(3);
    h.at(again, Input::Startup { interface_up: true });
    assert_eq!(h.vrrp.state(), State::Backup);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(again + Duration::from_nanos(3_609_375_000))
    );
}

#[test]
fn shutdown_from_backup_and_fault_sends_nothing() {
    let mut h = Harness::started(config(Version::V3, 100));
    assert_eq!(
        h.at(ms(100), Input::Shutdown),
        vec![transition(
            State::Backup,
            State::Initialize,
            Reason::Shutdown
        )]
    );
    assert_eq!(h.vrrp.next_deadline(), None);

    let mut h = Harness::new(config(Version::V3, 100));
    h.at(
        Timestamp::ZERO,
        Input::Startup {
            interface_up: false,
        },
    );
    assert_eq!(
        h.at(ms(100), Input::Shutdown),
        vec![transition(
            State::Fault,
            State::Initialize,
            Reason::Shutdown
        )]
    );
    // Shutdown forgets the fault: the next startup says whether the interface is up.
    h.at(ms(200), Input::Startup { interface_up: true });
    assert_eq!(h.vrrp.state(), State::Backup);
}

// ---- gratuitous schedule ----

#[test]
fn gratuitous_schedule_repeat_interval_delay_and_refresh() {
    let mut c = config(Version::V3, 100);
    c.gratuitous = GratuitousConfig {
        master_delay: Duration::from_secs(2),
        master_repeat: 3,
        master_refresh: Duration::from_secs(10),
        master_refresh_repeat: 2,
        interval: Duration::from_millis(100),
        lower_prio_repeat: 0,
        lower_prio_delay: Duration::ZERO,
    };
    let mut h = Harness::started(c);
    let t = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    let mut log: Vec<(Timestamp, Action)> =
        h.at(t, Input::Tick).into_iter().map(|a| (t, a)).collect();
    // Advert, VIPs, then only the first batch now.
    assert_eq!(log[0].1, Action::SendAdvert { priority: 100 });
    assert_eq!(log[1].1, Action::AddVips);
    assert_eq!(log[2].1, Action::SendGratuitous);
    log.extend(h.run_until(t + Duration::from_millis(20_500)));
    let garp_times: Vec<_> = log
        .iter()
        .filter(|(_, a)| *a == Action::SendGratuitous)
        .map(|(t, _)| *t)
        .collect();
    let at = |millis: u64| t + Duration::from_millis(millis);
    assert_eq!(
        garp_times,
        vec![
            at(0),
            at(100),
            at(200),
            at(2_000),
            at(2_100),
            at(2_200),
            at(10_000),
            at(10_100),
            at(20_000),
            at(20_100)
        ]
    );
    // Adverts keep their own rhythm.
    let adverts = log
        .iter()
        .filter(|(_, a)| matches!(a, Action::SendAdvert { .. }))
        .count();
    assert_eq!(adverts, 21);
}

#[test]
fn gratuitous_defaults_send_five_now_and_five_after_five_seconds() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let log = h.run_until(t + Duration::from_secs(60));
    let garp_times: Vec<_> = log
        .iter()
        .filter(|(_, a)| *a == Action::SendGratuitous)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(garp_times, vec![t + Duration::from_secs(5); 5]);
}

#[test]
fn gratuitous_off_after_the_first_round() {
    let mut c = config(Version::V3, 100);
    c.gratuitous.master_delay = Duration::ZERO;
    c.gratuitous.master_repeat = 1;
    let (mut h, t) = Harness::master_at(c);
    let log = h.run_until(t + Duration::from_secs(60));
    assert!(log
        .iter()
        .all(|(_, a)| *a == Action::SendAdvert { priority: 100 }));
}

#[test]
fn leaving_master_cancels_pending_gratuitous() {
    let mut c = config(Version::V3, 100);
    c.gratuitous.interval = Duration::from_millis(100);
    let (mut h, t) = Harness::master_at(c);
    h.advert(t + Duration::from_millis(50), HIGHER, 200, 100);
    let log = h.run_until(t + Duration::from_secs(3));
    assert!(log.iter().all(|(_, a)| *a != Action::SendGratuitous));
}

// ---- priority changes ----

#[test]
fn raised_priority_preempts_through_the_down_timer() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 150, 100);
    h.advert(ms(2_000), HIGHER, 150, 100);
    // A tracker raises us above the master: nothing happens at once...
    assert_eq!(h.at(ms(2_500), Input::SetPriority(200)), vec![]);
    assert_eq!(h.vrrp.effective_priority(), 200);
    // ...but the timer armed at 2 s follows the smaller skew: 2 s + 3 s + 56 × 100 cs / 256.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(5_218_750_000)));
    // The master's next adverts are ignored, and the timer runs out.
    h.advert(ms(3_000), HIGHER, 150, 100);
    h.advert(ms(4_000), HIGHER, 150, 100);
    h.advert(ms(5_000), HIGHER, 150, 100);
    let log = h.run_until(ms(6_000));
    assert_eq!(
        log.iter().rev().nth(1), // the last is SyncGroup(Master)
        Some(&(
            ns(5_218_750_000),
            transition(State::Backup, State::Master, Reason::Preempt)
        ))
    );
    assert_eq!(log[0].1, Action::SendAdvert { priority: 200 });
}

#[test]
fn lowered_backup_priority_extends_the_running_timer() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), HIGHER, 150, 100);
    h.at(ms(1_500), Input::SetPriority(50));
    // Skew 206 × 100 cs / 256 = 804.6875 ms instead of 609.375 ms.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(4_804_687_500)));
    // The priority-0 timer is Skew_Time too, and follows it.
    h.advert(ms(2_000), HIGHER, 0, 100);
    h.at(ms(2_100), Input::SetPriority(100));
    assert_eq!(h.vrrp.next_deadline(), Some(ns(2_609_375_000)));
}

#[test]
fn lowered_master_advertises_its_new_priority_and_is_preempted() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    h.at(t + Duration::from_millis(100), Input::SetPriority(40));
    let log = h.run_until(t + Duration::from_secs(1));
    assert_eq!(
        log,
        vec![(
            t + Duration::from_secs(1),
            Action::SendAdvert { priority: 40 }
        )]
    );
    // The backup (priority 90) preempts: its advert wins.
    h.advert(t + Duration::from_millis(4_700), HIGHER, 90, 100);
    assert_eq!(h.vrrp.state(), State::Backup);
}

#[test]
fn set_priority_is_ignored_for_the_owner_and_clamped_otherwise() {
    let mut h = Harness::started(config(Version::V3, 255));
    h.at(ms(1), Input::SetPriority(10));
    assert_eq!(h.vrrp.effective_priority(), 255);

    let mut h = Harness::started(config(Version::V3, 100));
    h.at(ms(1), Input::SetPriority(0));
    assert_eq!(h.vrrp.effective_priority(), 1);
    h.at(ms(2), Input::SetPriority(255));
    assert_eq!(h.vrrp.effective_priority(), 254);
    assert_eq!(h.vrrp.base_priority(), 100);
}

// ---- config and misc ----

#[test]
fn out_of_range_config_is_clamped() {
    let mut c = config(Version::V3, 0);
    c.advert_interval_cs = 0;
    c.down_timer_adverts = 0;
    c.gratuitous.master_repeat = u32::MAX;
    let mut h = Harness::started(c);
    let cfg = h.vrrp.config();
    assert_eq!(
        (cfg.priority, cfg.advert_interval_cs, cfg.down_timer_adverts),
        (1, 1, 1)
    );
    // 1 × 10 ms + 255 × 1 cs / 256.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(10_000_000 + 9_960_937)));
    let t = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    let garps = h
        .at(t, Input::Tick)
        .into_iter()
        .filter(|a| *a == Action::SendGratuitous)
        .count();
    assert_eq!(garps, 255);
}

#[test]
fn tick_with_nothing_due_does_nothing() {
    let mut h = Harness::new(config(Version::V3, 100));
    assert_eq!(h.at(ms(1), Input::Tick), vec![]);
    h.at(ms(2), Input::Startup { interface_up: true });
    assert_eq!(h.at(ms(3), Input::Tick), vec![]);
}

#[test]
fn state_names_and_codes_match_keepalived() {
    let all = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];
    let codes: Vec<_> = all.iter().map(|s| s.keepalived_code()).collect();
    assert_eq!(codes, vec![0, 1, 2, 3]);
    let names: Vec<_> = all.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, vec!["INIT", "BACKUP", "MASTER", "FAULT"]);
    assert_eq!(
        Reason::MasterDownTimeout.to_string(),
        "Receive advertisement timeout"
    );
}

// ---- properties ----

// ---- sync groups ----

#[test]
fn own_takeover_asks_the_group_to_follow_and_a_forced_one_does_not() {
    // Our own Master_Down timer: SyncGroup(Master) after the transition.
    let mut h = Harness::started(config(Version::V3, 100));
    let t = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    let out = h.at(t, Input::Tick);
    assert_eq!(out.last(), Some(&Action::SyncGroup(State::Master)));

    // Forced by the group: a normal takeover (advert, VIPs, gratuitous ARPs), no SyncGroup.
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(500), HIGHER, 200, 100);
    let out = h.at(ms(600), Input::SyncMaster);
    let mut expected = vec![Action::SendAdvert { priority: 100 }, Action::AddVips];
    expected.extend(garps(5));
    expected.push(transition(
        State::Backup,
        State::Master,
        Reason::SyncGroupMaster,
    ));
    assert_eq!(out, expected);
    assert_eq!(h.vrrp.state(), State::Master);
    assert_eq!(h.vrrp.next_deadline(), Some(ms(1_600)));
    assert_eq!(h.vrrp.stats().become_master, 1);

    // A forced master that meets a better master steps down alone.
    let out = h.advert(ms(700), HIGHER, 200, 100);
    assert_eq!(
        out,
        vec![
            Action::RemoveVips,
            transition(State::Master, State::Backup, Reason::HigherPriorityAdvert)
        ]
    );
    // Repeats are no-ops: already master, SyncMaster does nothing.
    let (mut m, t) = Harness::master_at(config(Version::V3, 100));
    assert_eq!(
        m.at(t + Duration::from_millis(1), Input::SyncMaster),
        vec![]
    );
}

#[test]
fn forced_backup_removes_the_vips_arms_master_down_and_does_not_propagate() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    let now = t + Duration::from_millis(300);
    let out = h.at(now, Input::SyncBackup);
    assert_eq!(
        out,
        vec![
            Action::RemoveVips,
            transition(State::Master, State::Backup, Reason::SyncGroupBackup)
        ]
    );
    assert_eq!(h.vrrp.state(), State::Backup);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(now + Duration::from_nanos(3_609_375_000))
    );
    assert_eq!(h.vrrp.stats().release_master, 1);
    // It follows a lower-priority master (no preemption) while forced...
    let out = h.advert(now + Duration::from_millis(1_000), LOWER, 50, 100);
    assert_eq!(out, vec![]);
    let out = h.advert(now + Duration::from_millis(4_000), LOWER, 50, 100);
    assert_eq!(out, vec![]);
    assert_eq!(h.vrrp.state(), State::Backup);
    // ...and takes over on its own when that master falls silent, asking the group to follow.
    let deadline = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    assert_eq!(
        deadline,
        now + Duration::from_millis(4_000) + Duration::from_nanos(3_609_375_000)
    );
    let out = h.at(deadline, Input::Tick);
    assert_eq!(out.last(), Some(&Action::SyncGroup(State::Master)));
    // Master again by itself: it preempts as usual after the next step down.
    assert_eq!(h.vrrp.state(), State::Master);
}

#[test]
fn forced_backup_stops_a_running_preemption() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.advert(ms(1_000), LOWER, 50, 100);
    // Preempting: the timer from startup keeps running.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(3_609_375_000)));
    assert_eq!(h.at(ms(1_500), Input::SyncBackup), vec![]);
    assert_eq!(
        h.vrrp.next_deadline(),
        Some(ms(1_500) + Duration::from_nanos(3_609_375_000))
    );
    h.advert(ms(2_000), LOWER, 50, 100);
    assert_eq!(h.run_until(ms(4_000)), vec![]);
    assert_eq!(h.vrrp.state(), State::Backup);
}

#[test]
fn faulted_and_stopped_members_ignore_the_group() {
    let mut h = Harness::started(config(Version::V3, 100));
    h.at(ms(100), Input::Fault);
    assert_eq!(h.at(ms(200), Input::SyncMaster), vec![]);
    assert_eq!(h.at(ms(300), Input::SyncBackup), vec![]);
    assert_eq!(h.vrrp.state(), State::Fault);
    assert_eq!(h.vrrp.next_deadline(), None);
    let mut h = Harness::new(config(Version::V3, 100));
    assert_eq!(h.at(ms(0), Input::SyncMaster), vec![]);
    assert_eq!(h.vrrp.state(), State::Initialize);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arb_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u8..4).prop_map(|d| IpAddr::V4(Ipv4Addr::new(198, 18, 0, d))),
            Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]
    }

    fn arb_input() -> impl Strategy<Value = Input> {
        prop_oneof![
            any::<bool>().prop_map(|interface_up| Input::Startup { interface_up }),
            (
                arb_addr(),
                prop_oneof![Just(0u8), Just(100), Just(255), any::<u8>()],
                prop_oneof![Just(100u16), any::<u16>()],
                any::<bool>()
            )
                .prop_map(|(src, priority, interval_cs, addresses_match)| {
                    Input::AdvertReceived {
                        src,
                        priority,
                        interval_cs,
                        addresses_match,
                    }
                }),
            Just(Input::Tick),
            Just(Input::Tick),
            Just(Input::Tick),
            any::<u8>().prop_map(Input::SetPriority),
            Just(Input::Fault),
            Just(Input::Unfault),
            Just(Input::Shutdown),
            Just(Input::SyncMaster),
            Just(Input::SyncBackup),
        ]
    }

    fn arb_config() -> impl Strategy<Value = InstanceConfig> {
        (
            any::<bool>(),
            prop_oneof![Just(100u8), Just(255), any::<u8>()],
            prop_oneof![Just(100u16), Just(1), any::<u16>()],
            any::<bool>(),
            0u64..3_000,
            any::<bool>(),
            0u8..3,
            (0u32..8, 0u64..3_000, 0u64..300, 0u32..4),
        )
            .prop_map(
                |(
                    v3,
                    priority,
                    interval,
                    preempt,
                    delay_ms,
                    master,
                    check,
                    (repeat, garp_delay, garp_int, refresh),
                )| {
                    let mut c =
                        InstanceConfig::new(1, if v3 { Version::V3 } else { Version::V2 }, LOWER);
                    c.priority = priority;
                    c.advert_interval_cs = interval;
                    c.preempt = preempt;
                    c.preempt_delay = Duration::from_millis(delay_ms);
                    c.start_state = if master {
                        StartState::Master
                    } else {
                        StartState::Backup
                    };
                    c.address_list_check = match check {
                        0 => AddressListCheck::Drop,
                        1 => AddressListCheck::SkipFromCurrentMaster,
                        _ => AddressListCheck::Accept,
                    };
                    c.gratuitous = GratuitousConfig {
                        master_delay: Duration::from_millis(garp_delay),
                        master_repeat: repeat,
                        master_refresh: Duration::from_millis(garp_delay * 3),
                        master_refresh_repeat: refresh,
                        interval: Duration::from_millis(garp_int),
                        lower_prio_repeat: repeat,
                        lower_prio_delay: Duration::from_millis(garp_delay / 2),
                    };
                    c
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Random inputs at random (non-decreasing) times: no panic; timers only in Backup and Master and
        /// always in the future after a tick; transitions chain; VIPs are held exactly while Master.
        #[test]
        fn random_inputs_keep_the_invariants(
            config in arb_config(),
            steps in proptest::collection::vec((0u64..5_000_000_000, arb_input()), 1..120),
        ) {
            let mut vrrp = Instance::new(config);
            let mut out = Vec::new();
            let mut now = Timestamp::ZERO;
            let mut vips_held = false;
            for (dt, input) in steps {
                // Sometimes land exactly on the deadline, as the engine does.
                now = match (input, vrrp.next_deadline()) {
                    (Input::Tick, Some(d)) if dt % 2 == 0 && d >= now => d,
                    _ => now + Duration::from_nanos(dt),
                };
                let before = vrrp.state();
                out.clear();
                vrrp.handle(now, input, &mut out);
                let mut state = before;
                for action in &out {
                    match *action {
                        Action::AddVips => { prop_assert!(!vips_held); vips_held = true; }
                        Action::RemoveVips => { prop_assert!(vips_held); vips_held = false; }
                        Action::Transition { from, to, .. } => {
                            prop_assert_eq!(from, state);
                            prop_assert_ne!(from, to);
                            state = to;
                        }
                        Action::SyncGroup(to) => prop_assert_eq!(to, state),
                        Action::SendAdvert { .. } | Action::SendGratuitous => {}
                    }
                }
                prop_assert_eq!(state, vrrp.state());
                prop_assert_eq!(vips_held, vrrp.state() == State::Master);
                match vrrp.state() {
                    State::Initialize | State::Fault => prop_assert_eq!(vrrp.next_deadline(), None),
                    State::Backup | State::Master => prop_assert!(vrrp.next_deadline().is_some()),
                }
                if input == Input::Tick {
                    prop_assert!(vrrp.next_deadline().is_none_or(|d| d > now));
                }
                prop_assert!((1..=255).contains(&vrrp.effective_priority()));
            }
        }

        /// Two routers on a lossless, zero-latency link, started at random times, with a link cut in the
        /// middle: they always end with exactly one master, and the higher (priority, address) wins when it
        /// may preempt.
        #[test]
        fn two_routers_converge_to_one_master(
            v3 in any::<bool>(),
            // (priority, interval, preempt, state MASTER, preempt_delay ms, start ms)
            routers in proptest::array::uniform2(
                (1u8..=255, 1u16..=100, any::<bool>(), any::<bool>(), 0u64..3_000, 0u64..2_000),
            ),
            cut_at in 0u64..20_000,
            cut_for in 0u64..10_000,
            (faulty, fault_at, fault_for) in (0usize..2, 0u64..20_000, 0u64..5_000),
        ) {
            let version = if v3 { Version::V3 } else { Version::V2 };
            let addrs = [LOWER, HIGHER];
            let mut nodes: Vec<Instance> = routers
                .iter()
                .zip(addrs)
                .map(|(&(priority, interval, preempt, master, delay_ms, _), addr)| {
                    let mut c = InstanceConfig::new(7, version, addr);
                    c.priority = priority;
                    c.advert_interval_cs = if v3 { interval } else { 100 };
                    c.preempt = preempt;
                    c.preempt_delay = Duration::from_millis(delay_ms);
                    c.start_state = if master { StartState::Master } else { StartState::Backup };
                    Instance::new(c)
                })
                .collect();
            // Startups, and a fault window on one router, in time order (popped from the end).
            let mut scheduled = vec![
                (ms(routers[0].5), 0, Input::Startup { interface_up: true }),
                (ms(routers[1].5), 1, Input::Startup { interface_up: true }),
                (ms(fault_at), faulty, Input::Fault),
                (ms(fault_at + fault_for), faulty, Input::Unfault),
            ];
            // Popped from the end: latest first, and at one instant the order written above
            // (a zero-length fault is a Fault then an Unfault, not the other way round).
            scheduled.reverse();
            scheduled.sort_by_key(|&(t, _, _)| std::cmp::Reverse(t));
            let (cut_start, cut_end) = (ms(20_000 + cut_at), ms(20_000 + cut_at + cut_for));
            let end = ms(60_000);
            let mut out = Vec::new();
            let mut queue: Vec<(usize, Input)> = Vec::new();
            let mut now = Timestamp::ZERO;
            let mut steps = 0u32;
            loop {
                // The next event: a scheduled input, or the earliest deadline.
                let mut next: Option<(Timestamp, usize, Input)> = scheduled.last().copied();
                for (i, node) in nodes.iter().enumerate() {
                    if let Some(d) = node.next_deadline() {
                        if next.is_none_or(|n| d.max(now) < n.0) {
                            next = Some((d.max(now), i, Input::Tick));
                        }
                    }
                }
                if next.is_some() && next == scheduled.last().copied() {
                    scheduled.pop();
                }
                let Some((at, first, input)) = next.filter(|n| n.0 <= end) else { break };
                now = at;
                queue.push((first, input));
                // Deliver adverts at once, until nobody answers.
                while let Some((i, input)) = queue.pop() {
                    steps += 1;
                    prop_assert!(steps < 1_000_000, "no progress");
                    out.clear();
                    nodes[i].handle(now, input, &mut out);
                    let link_up = now < cut_start || now >= cut_end;
                    for action in &out {
                        if let (Action::SendAdvert { priority }, true) = (*action, link_up) {
                            let peer = 1 - i;
                            queue.push((peer, Input::AdvertReceived {
                                src: addrs[i],
                                priority,
                                interval_cs: nodes[i].advert_interval_cs(),
                                addresses_match: true,
                            }));
                        }
                    }
                }
            }
            let masters: Vec<usize> = (0..2).filter(|&i| nodes[i].state() == State::Master).collect();
            prop_assert_eq!(masters.len(), 1, "states {:?} {:?}", nodes[0].state(), nodes[1].state());
            // The higher priority wins if it may preempt. (A backup accepts an equal priority, so on a tie
            // whoever got there first stays.)
            let (p0, p1) = (nodes[0].effective_priority(), nodes[1].effective_priority());
            let best = if p1 > p0 { 1 } else { 0 };
            if routers[best].2 && p0 != p1 {
                prop_assert_eq!(masters[0], best);
            }
        }
    }
}

// ---- reload ----

#[test]
fn reconfigure_keeps_a_master_through_interval_preempt_and_garp_changes() {
    let mut c = config(Version::V3, 100);
    c.gratuitous.master_delay = Duration::ZERO;
    let (mut h, t) = Harness::master_at(c);
    let now = t + Duration::from_millis(300);
    let mut new = c;
    new.advert_interval_cs = 50;
    new.preempt = false;
    new.preempt_delay = Duration::from_secs(2);
    new.gratuitous.master_refresh = Duration::from_secs(60);
    let mut out = Vec::new();
    h.vrrp.reconfigure(now, new, &mut out);
    assert_eq!(out, vec![]);
    assert_eq!(h.vrrp.state(), State::Master);
    // The next advert is one new interval after the last (sent at `t`), then every 0.5 s.
    let log = h.run_until(t + Duration::from_millis(1_600));
    let times: Vec<_> = log.iter().map(|(at, _)| *at).collect();
    let half = Duration::from_millis(500);
    assert_eq!(times, vec![t + half, t + half * 2, t + half * 3]);
    assert!(log
        .iter()
        .all(|(_, a)| *a == Action::SendAdvert { priority: 100 }));
    // Interval longer than the time since the last advert: at once.
    let now = t + Duration::from_millis(1_700);
    new.advert_interval_cs = 10;
    h.vrrp.reconfigure(now, new, &mut out);
    assert_eq!(h.vrrp.next_deadline(), Some(now));
    assert_eq!(h.vrrp.advert_interval_cs(), 10);
}

#[test]
fn reconfigure_priority_moves_a_backups_timer_and_preempt_off_stops_a_preemption() {
    let mut h = Harness::started(config(Version::V3, 200));
    // A lower master: we let its timer run out to preempt.
    h.advert(ms(1_000), LOWER, 100, 100);
    let deadline = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    let mut new = config(Version::V3, 200);
    new.preempt = false;
    let mut out = Vec::new();
    h.vrrp.reconfigure(ms(1_500), new, &mut out);
    assert_eq!(h.vrrp.next_deadline(), Some(deadline));
    // With preempt off the lower master's adverts are accepted again: no takeover.
    h.advert(ms(2_000), LOWER, 100, 100);
    assert_eq!(h.time_of(ms(5_000), State::Master), None);
    assert_eq!(h.vrrp.state(), State::Backup);
    // A priority change moves the Master_Down timer by the change in Skew_Time.
    let before = h.vrrp.next_deadline().unwrap_or(Timestamp::MAX);
    new.priority = 100;
    h.vrrp.reconfigure(ms(5_000), new, &mut out);
    assert_eq!(h.vrrp.base_priority(), 100);
    assert_eq!(h.vrrp.effective_priority(), 100);
    let moved = skew_time(Version::V3, 100, 100) - skew_time(Version::V3, 200, 100);
    assert_eq!(h.vrrp.next_deadline(), Some(before + moved));
}

#[test]
fn reconfigure_interval_of_a_backup_that_heard_no_master_moves_its_timer() {
    let mut h = Harness::started(config(Version::V3, 100));
    let mut new = config(Version::V3, 100);
    new.advert_interval_cs = 10;
    let mut out = Vec::new();
    h.vrrp.reconfigure(ms(100), new, &mut out);
    assert_eq!(h.vrrp.master_advert_interval_cs(), 10);
    // From 3.609375 s to 0.3609375 s after startup.
    assert_eq!(h.vrrp.next_deadline(), Some(ns(360_937_500)));
}

#[test]
fn set_primary_address_decides_the_next_tie() {
    let (mut h, t) = Harness::master_at(config(Version::V3, 100));
    // HIGHER would win a tie against ME; with our address above it we stay master.
    h.vrrp
        .set_primary_address(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 4)));
    let out = h.advert(t + Duration::from_millis(100), HIGHER, 100, 100);
    assert_eq!(out.first(), Some(&Action::SendAdvert { priority: 100 }));
    assert_eq!(h.vrrp.state(), State::Master);
    assert_eq!(
        h.vrrp.master_address(),
        Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 4)))
    );
}
