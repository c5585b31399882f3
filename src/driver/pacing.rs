//! Pacing: at most `per_hour` actions started in any 60-minute period, and at most
//! `concurrency` in flight, for the whole campaign and, narrower, for one channel's or one
//! step's actions (docs/language.md, Pacing). An action starts only when it fits every limit
//! that counts it.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};

use crate::graph::{Graph, Pacing, StateId};
use crate::runtime::{Flight, LeadStatus, Pacer};
use crate::store::{CampaignRecord, Store, StoreError};

/// How long a lead held back by concurrency waits before asking again.
const CONCURRENCY_RETRY: TimeDelta = TimeDelta::minutes(1);

/// Starts per minute of the last hour, as stored (`CampaignRecord::pace`).
pub type Recent = Vec<(DateTime<Utc>, u32)>;

/// One limit's counts.
#[derive(Debug, Default)]
struct Window {
    per_hour: Option<usize>,
    concurrency: Option<usize>,
    /// Start times of the actions in the last hour (at most `per_hour` of them).
    starts: VecDeque<DateTime<Utc>>,
    in_flight: usize,
}

impl Window {
    fn new(per_hour: Option<u32>, concurrency: Option<u32>) -> Window {
        Window {
            per_hour: per_hour.map(|n| n as usize),
            concurrency: concurrency.map(|n| n as usize),
            ..Window::default()
        }
    }

    /// `None` when one more action fits now, else when to ask again.
    fn full_until(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.concurrency.is_some_and(|limit| self.in_flight >= limit) {
            return Some(now + CONCURRENCY_RETRY);
        }
        let limit = self.per_hour?;
        while self.starts.front().is_some_and(|t| *t + TimeDelta::hours(1) <= now) {
            self.starts.pop_front();
        }
        (self.starts.len() >= limit).then(|| self.starts.front().map_or(now, |t| *t + TimeDelta::hours(1)))
    }

    fn start(&mut self, now: DateTime<Utc>) {
        if self.per_hour.is_some() {
            self.starts.push_back(now);
        }
    }

    /// The starts of the last hour as (end of their minute, count): what a later process needs
    /// to keep `per_hour` (at most 60 entries, however many starts). Each start is taken at
    /// the end of its minute, so a restored window frees up no earlier than the real one.
    fn recent(&self, now: DateTime<Utc>) -> Recent {
        let mut out: Recent = Vec::new();
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
    fn restore(&mut self, recent: &[(DateTime<Utc>, u32)]) {
        let Some(limit) = self.per_hour else { return };
        let mut starts: Vec<DateTime<Utc>> =
            recent.iter().flat_map(|(t, n)| std::iter::repeat_n(*t, (*n as usize).min(limit))).collect();
        starts.extend(self.starts.drain(..));
        starts.sort();
        let skip = starts.len().saturating_sub(limit);
        self.starts = starts.into_iter().skip(skip).collect();
    }
}

/// A channel's or a step's limit.
#[derive(Debug)]
struct Narrow {
    /// `channel <name>` or `step <id>`: the key of its stored starts.
    name: String,
    /// What a lead it holds back records: `pacing (channel voice)`.
    reason: String,
    window: Window,
}

#[derive(Debug, Default)]
pub struct CampaignPacer {
    campaign: Window,
    narrow: Vec<Narrow>,
    /// By step index: the narrow limits counting its actions (its channel's, its own). Empty
    /// when there are none, so that a campaign without them pays nothing.
    by_step: Vec<[Option<u32>; 2]>,
    /// Whether a narrow limit counts actions in flight (`settle` then needs their steps).
    narrow_concurrency: bool,
    /// The narrow limit that held back the last action, `None` for the campaign's.
    held: Option<usize>,
}

impl CampaignPacer {
    pub fn new(pacing: &Pacing) -> CampaignPacer {
        let mut pacer =
            CampaignPacer { campaign: Window::new(pacing.per_hour, pacing.concurrency), ..CampaignPacer::default() };
        for (i, limit) in pacing.narrow.iter().enumerate() {
            pacer.narrow.push(Narrow {
                name: limit.name.clone(),
                reason: format!("pacing ({})", limit.name),
                window: Window::new(limit.per_hour, limit.concurrency),
            });
            pacer.narrow_concurrency |= limit.concurrency.is_some();
            for step in &limit.steps {
                if pacer.by_step.len() <= step.index() {
                    pacer.by_step.resize(step.index() + 1, [None; 2]);
                }
                let slots = &mut pacer.by_step[step.index()];
                if let Some(slot) = slots.iter_mut().find(|s| s.is_none()) {
                    *slot = Some(i as u32);
                }
            }
        }
        pacer
    }

    /// The narrow limits counting `step`'s actions.
    fn limits_of(&self, step: StateId) -> impl Iterator<Item = usize> + use<> {
        let slots = self.by_step.get(step.index()).copied().unwrap_or_default();
        slots.into_iter().flatten().map(|i| i as usize)
    }

    /// Counts actions already in flight when a run starts (calls placed before a restart), so
    /// that `concurrency` holds across restarts.
    pub fn set_in_flight(&mut self, n: usize) {
        self.campaign.in_flight = n;
    }

    /// `set_in_flight` from the store: in flight is `in_progress`; a channel's or step's
    /// `concurrency` needs the leads' steps, so they are read only then.
    pub fn count_in_flight(&mut self, store: &Store, graph: &Graph) -> Result<(), StoreError> {
        if self.campaign.concurrency.is_some() {
            let counts = store.counts(&graph.id)?;
            self.set_in_flight(counts.get(&LeadStatus::InProgress).copied().unwrap_or(0) as usize);
        }
        if self.narrow_concurrency {
            let mut steps: Vec<StateId> = Vec::new();
            store.for_each_lead(&graph.id, |_, lead| {
                if lead.in_flight()
                    && let Some(step) = lead.step.as_deref().and_then(|s| graph.state(s))
                {
                    steps.push(step);
                }
            })?;
            for limit in &mut self.narrow {
                limit.window.in_flight = 0;
            }
            for step in steps {
                for i in self.limits_of(step) {
                    self.narrow[i].window.in_flight += 1;
                }
            }
        }
        Ok(())
    }

    /// The campaign's starts of the last hour, to store (`CampaignRecord::pace`).
    pub fn recent(&self, now: DateTime<Utc>) -> Recent {
        self.campaign.recent(now)
    }

    /// The narrow limits' starts of the last hour, by name (`CampaignRecord::pace_narrow`).
    pub fn recent_narrow(&self, now: DateTime<Utc>) -> BTreeMap<String, Recent> {
        self.narrow
            .iter()
            .filter(|n| n.window.per_hour.is_some())
            .map(|n| (n.name.clone(), n.window.recent(now)))
            .filter(|(_, recent)| !recent.is_empty())
            .collect()
    }

    /// Takes back the starts a previous process recorded: the campaign's (`recent`) and, by
    /// name, the narrow limits' (`recent_narrow`; a limit renamed or removed since is dropped).
    pub fn restore(&mut self, stored: &CampaignRecord) {
        self.campaign.restore(&stored.pace);
        for limit in &mut self.narrow {
            if let Some(recent) = stored.pace_narrow.get(&limit.name) {
                limit.window.restore(recent);
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.campaign.in_flight
    }
}

impl Pacer for CampaignPacer {
    /// Account for one lead's advance: its action in flight before and after. Counting
    /// transitions, not outcomes, frees the slot however the lead left the call (an outcome,
    /// an opt-out, a goal, a route, the campaign's end).
    fn settle(&mut self, before: Flight, after: Flight) {
        match (before.on, after.on) {
            (false, true) => self.campaign.in_flight += 1,
            (true, false) => self.campaign.in_flight = self.campaign.in_flight.saturating_sub(1),
            _ => {}
        }
        if !self.narrow_concurrency || before == after {
            return;
        }
        if let Some(step) = before.step {
            for i in self.limits_of(step) {
                let window = &mut self.narrow[i].window;
                window.in_flight = window.in_flight.saturating_sub(1);
            }
        }
        if let Some(step) = after.step {
            for i in self.limits_of(step) {
                self.narrow[i].window.in_flight += 1;
            }
        }
    }

    fn by_step(&self) -> bool {
        self.narrow_concurrency
    }

    fn acquire(&mut self, step: StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let mut full = self.campaign.full_until(now);
        self.held = None;
        // Every limit is asked before any counts the start: the latest that is full says when
        // to ask again, and names the reason.
        for i in self.limits_of(step) {
            if let Some(t) = self.narrow[i].window.full_until(now)
                && full.is_none_or(|f| t > f)
            {
                full = Some(t);
                self.held = Some(i);
            }
        }
        if let Some(t) = full {
            return Err(t);
        }
        self.campaign.start(now);
        for i in self.limits_of(step) {
            self.narrow[i].window.start(now);
        }
        Ok(())
    }

    fn reason(&self) -> &str {
        self.held.and_then(|i| self.narrow.get(i)).map_or("pacing", |n| n.reason.as_str())
    }
}

#[cfg(test)]
#[path = "pacing_tests.rs"]
mod tests;
