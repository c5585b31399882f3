//! The driver's clock: virtual in `simulate` and `test`, real in `run`. The interpreter never
//! reads a clock; the driver passes `now` in.

use std::cell::Cell;

use chrono::{DateTime, Utc};

pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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
