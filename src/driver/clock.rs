//! The driver's clock: virtual in `simulate` and `test`, real in `run` (virtual in
//! `run`'s in-process tests). The interpreter never
//! reads a clock; the driver passes `now` in.

use std::cell::Cell;

use chrono::{DateTime, Utc};

pub trait Clock {
    fn now(&self) -> DateTime<Utc>;

    /// Prepare to wait until `at`: the real time left to sleep, or None when the clock moved
    /// there itself (a virtual clock jumps, so `run` on it never sleeps).
    fn wait_until(&self, at: DateTime<Utc>) -> Option<std::time::Duration>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn wait_until(&self, at: DateTime<Utc>) -> Option<std::time::Duration> {
        Some((at - Utc::now()).to_std().unwrap_or_default())
    }
}

/// A clock that only moves when told: the simulation jumps it from one due time to the next.
pub struct VirtualClock {
    now: Cell<DateTime<Utc>>,
}

impl VirtualClock {
    pub fn new(start: DateTime<Utc>) -> VirtualClock {
        VirtualClock { now: Cell::new(start) }
    }

    /// Move to `to`; the clock never goes back.
    pub fn advance_to(&self, to: DateTime<Utc>) {
        if to > self.now.get() {
            self.now.set(to);
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.get()
    }

    fn wait_until(&self, at: DateTime<Utc>) -> Option<std::time::Duration> {
        self.advance_to(at);
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn virtual_time_moves_forward_only() {
        let start = Utc::now();
        let clock = VirtualClock::new(start);
        clock.advance_to(start + TimeDelta::hours(2));
        clock.advance_to(start);
        assert_eq!(clock.now(), start + TimeDelta::hours(2));
    }
}
