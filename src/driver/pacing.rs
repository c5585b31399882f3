//! Campaign-wide pacing: at most `per_hour` actions started in any 60-minute period, and at
//! most `concurrency` in flight.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::graph::Pacing;
use crate::runtime::Pacer;

/// How long a lead held back by concurrency waits before asking again.
const CONCURRENCY_RETRY: TimeDelta = TimeDelta::minutes(1);

#[derive(Debug, Default)]
pub struct CampaignPacer {
    per_hour: Option<usize>,
    concurrency: Option<usize>,
    /// Start times of the actions in the last hour (at most `per_hour` of them).
    starts: VecDeque<DateTime<Utc>>,
    in_flight: usize,
}

impl CampaignPacer {
    pub fn new(pacing: &Pacing) -> CampaignPacer {
        CampaignPacer {
            per_hour: pacing.per_hour.map(|n| n as usize),
            concurrency: pacing.concurrency.map(|n| n as usize),
            ..CampaignPacer::default()
        }
    }

    /// Counts actions already in flight when a run starts (calls placed before a restart), so
    /// that `concurrency` holds across restarts.
    pub fn set_in_flight(&mut self, n: usize) {
        self.in_flight = n;
    }

    /// The starts of the last hour as (end of their minute, count): what a later process needs
    /// to keep `per_hour` (at most 60 entries, however many starts). Each start is taken at
    /// the end of its minute, so a restored window frees up no earlier than the real one.
    pub fn recent(&self, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, u32)> {
        let mut out: Vec<(DateTime<Utc>, u32)> = Vec::new();
        for start in self.starts.iter().filter(|t| **t + TimeDelta::hours(1) > now) {
            let minute = start.timestamp().div_euclid(60) * 60 + 59;
            let end = DateTime::from_timestamp(minute, 999_999_999).unwrap_or(*start);
            match out.last_mut() {
                Some((t, n)) if *t == end => *n += 1,
                _ => out.push((end, 1)),
            }
        }
        out
    }

    /// Takes back the starts a previous process recorded (`recent`).
    pub fn restore(&mut self, recent: &[(DateTime<Utc>, u32)]) {
        let Some(limit) = self.per_hour else { return };
        let mut starts: Vec<DateTime<Utc>> =
            recent.iter().flat_map(|(t, n)| std::iter::repeat_n(*t, (*n as usize).min(limit))).collect();
        starts.extend(self.starts.drain(..));
        starts.sort();
        let skip = starts.len().saturating_sub(limit);
        self.starts = starts.into_iter().skip(skip).collect();
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

impl Pacer for CampaignPacer {
    /// Account for one lead's advance: whether it had an action in flight before and after.
    /// Counting transitions, not outcomes, frees the slot however the lead left the call (an
    /// outcome, an opt-out, a goal, a route, the campaign's end).
    fn settle(&mut self, before: bool, after: bool) {
        match (before, after) {
            (false, true) => self.in_flight += 1,
            (true, false) => self.in_flight = self.in_flight.saturating_sub(1),
            _ => {}
        }
    }

    fn acquire(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        if self.concurrency.is_some_and(|limit| self.in_flight >= limit) {
            return Err(now + CONCURRENCY_RETRY);
        }
        if let Some(limit) = self.per_hour {
            while self.starts.front().is_some_and(|t| *t + TimeDelta::hours(1) <= now) {
                self.starts.pop_front();
            }
            if self.starts.len() >= limit {
                let free_at = self.starts.front().map_or(now, |t| *t + TimeDelta::hours(1));
                return Err(free_at);
            }
            self.starts.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minute)
    }

    #[test]
    fn per_hour_is_any_sixty_minutes() {
        let mut p = CampaignPacer::new(&Pacing { per_hour: Some(2), concurrency: None });
        assert!(p.acquire(at(0)).is_ok());
        assert!(p.acquire(at(30)).is_ok());
        assert_eq!(p.acquire(at(59)), Err(at(60)));
        assert!(p.acquire(at(60)).is_ok());
        assert_eq!(p.acquire(at(61)), Err(at(90)));
    }

    #[test]
    fn per_hour_holds_across_a_restart() {
        let pacing = Pacing { per_hour: Some(3), concurrency: None };
        let mut first = CampaignPacer::new(&pacing);
        for minute in [0, 0, 10] {
            assert!(first.acquire(at(minute) + TimeDelta::seconds(20)).is_ok());
        }
        let recent = first.recent(at(30));
        assert_eq!(recent.len(), 2, "two minutes with starts: {recent:?}");
        let mut second = CampaignPacer::new(&pacing);
        second.restore(&recent);
        // Full until the first minute's starts are an hour old (counted from the minute's end).
        let free = second.acquire(at(30)).unwrap_err();
        assert!(free > at(60) && free <= at(61), "{free}");
        assert!(second.acquire(at(61)).is_ok());
        assert!(second.acquire(at(61)).is_ok());
        assert!(second.acquire(at(61)).is_err(), "the 10th-minute start still counts");
        assert!(first.recent(at(71)).is_empty(), "older than an hour: forgotten");
    }

    #[test]
    fn actions_in_flight_before_a_restart_count() {
        let mut p = CampaignPacer::new(&Pacing { per_hour: None, concurrency: Some(2) });
        p.set_in_flight(2);
        assert_eq!(p.acquire(at(0)), Err(at(1)));
        p.settle(true, false);
        assert!(p.acquire(at(0)).is_ok());
    }

    #[test]
    fn concurrency_counts_actions_in_flight() {
        let mut p = CampaignPacer::new(&Pacing { per_hour: None, concurrency: Some(1) });
        assert!(p.acquire(at(0)).is_ok());
        p.settle(false, true);
        assert_eq!(p.acquire(at(0)), Err(at(1)));
        p.settle(true, true);
        assert_eq!(p.in_flight(), 1);
        p.settle(true, false);
        assert!(p.acquire(at(0)).is_ok());
    }
}
