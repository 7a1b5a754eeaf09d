//! Monotonic time for the state machines.
//!
//! The engine reads `CLOCK_MONOTONIC` and wraps it in a [`Timestamp`]; tests use a virtual clock that starts
//! wherever they like (usually [`Timestamp::ZERO`]). All arithmetic saturates, so no input can make it panic.

use core::fmt;
use core::ops::Add;
use core::time::Duration;

/// A point on a monotonic clock, in nanoseconds since an arbitrary origin (the engine uses `CLOCK_MONOTONIC`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's origin.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The latest representable instant; adding to it saturates here.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// A timestamp from a `timespec`-like pair (seconds, nanoseconds), saturating on overflow.
    pub const fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as u64),
        )
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(add))
    }

    /// `self - d`, saturating at [`Timestamp::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Self {
        let sub = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_sub(sub))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating, like [`Timestamp::saturating_add`].
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::ZERO + Duration::MAX, Timestamp::MAX);
        assert_eq!(
            Timestamp::from_nanos(5).saturating_sub(Duration::from_secs(1)),
            Timestamp::ZERO
        );
        assert_eq!(
            Timestamp::ZERO.saturating_duration_since(Timestamp::from_nanos(5)),
            Duration::ZERO
        );
        assert_eq!(Timestamp::from_secs_nanos(u64::MAX, 1), Timestamp::MAX);
    }

    #[test]
    fn conversions() {
        let t = Timestamp::from_secs_nanos(3, 609_375_000);
        assert_eq!(t.as_nanos(), 3_609_375_000);
        assert_eq!(t.to_string(), "3.609375000");
        assert_eq!(
            (t + Duration::from_micros(1)).saturating_duration_since(t),
            Duration::from_micros(1)
        );
    }
}
