//! herald.yaml's `policy.frequency` as runs and simulations keep it (docs/policy.md): each
//! contact's recent sends and calls, across campaigns (`Ledger`), and a pacer that holds an
//! action back until every cap that counts it has room (`Capped`). A lead held back holds the
//! slot it was given, so leads of one contact go in the order they were held.
//!
//! A run's ledger reads a contact's sends from the store the first time it meets the contact
//! and hands the rows it changed to the batch that stores the actions, so `run --once` from
//! cron counts what earlier runs sent. A simulation's lives in memory.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::pacing::CampaignPacer;
use crate::config::{Cap, Frequency};
use crate::contact::Contact;
use crate::graph::{Graph, StateId};
use crate::runtime::{Action, Event, Flight, Pacer, Park};
use crate::store::{Sent, Store, StoreError};

/// Contacts a run's ledger keeps before it lets go of those already stored.
const KEEP: usize = 100_000;

/// Each contact's sends inside the longest cap's period, and the slots held for its leads.
pub struct Ledger<'s> {
    caps: Frequency,
    store: Option<&'s Store>,
    recent: HashMap<String, Vec<Sent>>,
    /// Contacts whose sends changed since the last `rows`.
    dirty: HashSet<String>,
    /// A read that failed: the lead was held back, and the caller stops with this.
    error: Option<StoreError>,
    /// How many contacts were kept after the last sweep (a simulation sweeps when it doubles).
    swept: usize,
}

impl<'s> Ledger<'s> {
    /// `store`: where a run's counts are kept; `None` for a simulation.
    pub fn new(caps: Frequency, store: Option<&'s Store>) -> Ledger<'s> {
        Ledger { caps, store, recent: HashMap::new(), dirty: HashSet::new(), error: None, swept: 0 }
    }

    fn sends(&mut self, contact: &str) -> &mut Vec<Sent> {
        if !self.recent.contains_key(contact) {
            let stored = match self.store.map(|store| store.sends(contact)) {
                Some(Ok(sends)) => sends,
                Some(Err(error)) => {
                    self.error.get_or_insert(error);
                    Vec::new()
                }
                None => Vec::new(),
            };
            self.recent.insert(contact.to_string(), stored);
        }
        self.recent.entry(contact.to_string()).or_default()
    }

    /// `None` when one more action on `channel` for `campaign`'s lead fits every cap now; else
    /// the first time it fits, a slot held there for the lead (so that leads held back later
    /// go after it), and what to say of it.
    pub fn full_until(
        &mut self,
        contact: &str,
        channel: &str,
        campaign: &str,
        now: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String)> {
        if self.store.is_some() && self.recent.len() >= KEEP && !self.recent.contains_key(contact) {
            self.release();
        }
        self.sends(contact);
        if self.error.is_some() {
            // The count is unknown: hold the lead briefly; the run stops on the error.
            return Some((now + TimeDelta::minutes(1), "policy frequency: counts unreadable".into()));
        }
        let mut entries = self.recent.remove(contact).unwrap_or_default();
        let before = entries.len();
        // The lead asks again: the slot it held, if any, is given up, and so is one held for a
        // lead of another campaign that no longer waits for it (it ended, or moved on).
        entries.retain(|e| match e.held_for.as_deref() {
            None => true,
            Some(c) if c == campaign => false,
            Some(c) => self.still_held(c, contact, e.at),
        });
        let mut changed = entries.len() != before;
        let caps: Vec<(Cap, Option<&str>)> = self
            .caps
            .all
            .map(|cap| (cap, None))
            .into_iter()
            .chain(
                self.caps
                    .channels
                    .iter()
                    .filter(|(n, _)| n.value == channel)
                    .map(|(n, c)| (*c, Some(n.value.as_str()))),
            )
            .collect();
        let (until, held_by) = earliest(&entries, &caps, now);
        let full = (until > now).then(|| {
            let place = entries.partition_point(|e| e.at <= until);
            let held_for = Some(campaign.to_string());
            entries.insert(place, Sent { at: until, channel: channel.to_string(), held_for });
            changed = true;
            let what = match held_by.and_then(|i| caps.get(i)) {
                Some((cap, Some(channel))) => format!("policy frequency: {channel} {}", cap.describe()),
                Some((cap, None)) => format!("policy frequency: {}", cap.describe()),
                None => "policy frequency".to_string(),
            };
            (until, what)
        });
        self.recent.insert(contact.to_string(), entries);
        if changed {
            self.changed(contact);
        }
        full
    }

    /// Whether `campaign`'s lead for `contact` still waits for the slot held for it at `at`
    /// (without a store, as in a simulation of one campaign, it is taken to).
    fn still_held(&self, campaign: &str, contact: &str, at: DateTime<Utc>) -> bool {
        let Some(store) = self.store else { return true };
        match store.lead(campaign, contact) {
            Ok(Some((_, lead))) => !lead.status.is_final() && lead.park == Park::Act && lead.wake_at == Some(at),
            Ok(None) => false,
            // Kept: the next read of this contact tries again.
            Err(_) => true,
        }
    }

    /// Counts an action made by `campaign`'s lead (its held slot, if any, is used up).
    pub fn count(&mut self, contact: &str, channel: &str, campaign: &str, at: DateTime<Utc>) {
        let sends = self.sends(contact);
        sends.retain(|e| e.held_for.as_deref() != Some(campaign));
        let place = sends.partition_point(|s| s.at <= at);
        sends.insert(place, Sent { at, channel: channel.to_string(), held_for: None });
        self.changed(contact);
    }

    /// Takes back a count: the action was not handed over after all.
    pub fn uncount(&mut self, contact: &str, channel: &str, at: DateTime<Utc>) {
        let sends = self.sends(contact);
        if let Some(i) = sends.iter().rposition(|s| s.at == at && s.channel == channel && s.held_for.is_none()) {
            sends.remove(i);
            self.changed(contact);
        }
    }

    /// Marks the contact's row to be written; a simulation writes none, and keeping every
    /// contact it met here would hold them all in memory past `forget` and `sweep`.
    fn changed(&mut self, contact: &str) {
        if self.store.is_some() {
            self.dirty.insert(contact.to_string());
        }
    }

    /// The rows changed since the last call, each without the sends no cap counts any more:
    /// for the batch that stores the actions they count.
    pub fn rows(&mut self, now: DateTime<Utc>) -> Vec<(String, Vec<Sent>)> {
        let longest = self.caps.longest();
        let mut rows = Vec::with_capacity(self.dirty.len());
        for contact in self.dirty.drain() {
            if let Some(sends) = self.recent.get_mut(&contact) {
                sends.retain(|s| s.at + longest > now);
                rows.push((contact, sends.clone()));
            }
        }
        rows
    }

    /// The error a read met, if any (the caller stops: counts it could not read held leads).
    pub fn take_error(&mut self) -> Option<StoreError> {
        self.error.take()
    }

    /// A simulation's lead is done: its contact has no other lead to count for.
    pub fn forget(&mut self, contact: &str) {
        self.recent.remove(contact);
    }

    /// A simulation's memory: drops the contacts with no send inside any period, once the map
    /// has doubled since the last sweep.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        if self.store.is_some() || self.recent.len() < 2 * self.swept.max(4_096) {
            return;
        }
        let longest = self.caps.longest();
        self.recent.retain(|_, sends| sends.last().is_some_and(|s| s.at + longest > now));
        self.swept = self.recent.len();
    }

    /// A run's memory: what is stored can be read again.
    fn release(&mut self) {
        let dirty = &self.dirty;
        self.recent.retain(|contact, _| dirty.contains(contact));
    }
}

impl Ledger<'static> {
    /// A simulation carried on in its database (`--db` again): the sends its leads in progress
    /// made before the stop, counted again from their histories (its counts live in memory).
    pub fn recount(&mut self, graph: &Graph, store: &Store) -> Result<(), StoreError> {
        let mut going = Vec::new();
        store.for_each_lead(&graph.id, |contact, lead| {
            if !lead.status.is_final() {
                going.push(contact.key.clone());
            }
        })?;
        for key in going {
            for record in store.history(&graph.id, &key)? {
                let (Event::Send { channel, .. } | Event::Call { channel, .. }) = &record.event else { continue };
                // A step gone from the file since still sent: only a known exempt one is left out.
                let step = record.step.as_deref().and_then(|s| graph.state(s));
                if step.is_none_or(|s| !graph.node(s).frequency_exempt) {
                    self.count(&key, channel, &graph.id, record.at);
                }
            }
        }
        Ok(())
    }
}

/// The first time at or after `t0` when one more action fits every cap (`caps[i]` counts the
/// entries on its channel, or all), and which cap held it longest.
fn earliest(entries: &[Sent], caps: &[(Cap, Option<&str>)], t0: DateTime<Utc>) -> (DateTime<Utc>, Option<usize>) {
    let counted: Vec<Vec<DateTime<Utc>>> = caps
        .iter()
        .map(|(_, only)| entries.iter().filter(|e| only.is_none_or(|c| c == e.channel)).map(|e| e.at).collect())
        .collect();
    // Where fitting can begin: now, an entry's time, or the end of an entry's period.
    let mut candidates = vec![t0];
    for ((cap, _), times) in caps.iter().zip(&counted) {
        candidates.extend(times.iter().flat_map(|t| [*t, *t + cap.per]).filter(|t| *t > t0));
    }
    candidates.sort_unstable();
    candidates.dedup();
    let first_fit = |i: usize| candidates.iter().copied().find(|t| fits(&counted[i], caps[i].0, *t));
    let until =
        candidates.iter().copied().find(|t| (0..caps.len()).all(|i| fits(&counted[i], caps[i].0, *t))).unwrap_or(t0);
    let held_by = (until > t0).then(|| (0..caps.len()).max_by_key(|i| first_fit(*i))).flatten();
    (until, held_by)
}

/// Whether one more action at `t` keeps every period of `cap.per` at `cap.max` actions or
/// fewer: any `max + 1` actions in a row, by time, must span `per` at least (`times` sorted;
/// a period `(x, x + per]` holds no two actions `per` apart).
fn fits(times: &[DateTime<Utc>], cap: Cap, t: DateTime<Utc>) -> bool {
    let max = cap.max as usize;
    let k = times.partition_point(|x| *x <= t);
    (0..=max).all(|before| {
        let after = max - before;
        if before > k || after > times.len() - k {
            return true;
        }
        let first = if before == 0 { t } else { times[k - before] };
        let last = if after == 0 { t } else { times[k + after - 1] };
        last - first >= cap.per
    })
}

/// A pacer with the frequency caps asked first: an action held by a cap does not take a
/// pacing slot. Without a ledger it is the inner pacer.
pub struct Capped<'a, 's> {
    inner: &'a mut dyn Pacer,
    graph: &'a Graph,
    ledger: Option<&'a mut Ledger<'s>>,
    held: Option<String>,
}

impl<'a, 's> Capped<'a, 's> {
    pub fn new(inner: &'a mut dyn Pacer, graph: &'a Graph, ledger: Option<&'a mut Ledger<'s>>) -> Capped<'a, 's> {
        Capped { inner, graph, ledger, held: None }
    }

    /// The error a ledger read met (`Ledger::take_error`).
    pub fn take_error(&mut self) -> Option<StoreError> {
        self.ledger.as_mut().and_then(|l| l.take_error())
    }

    /// The ledger's changed rows (`Ledger::rows`), none without one.
    pub fn rows(&mut self, now: DateTime<Utc>) -> Vec<(String, Vec<Sent>)> {
        self.ledger.as_mut().map(|l| l.rows(now)).unwrap_or_default()
    }

    /// The ledger, when the caps count `step`'s actions.
    fn counting(&mut self, step: Option<StateId>) -> Option<&mut Ledger<'s>> {
        let exempt = step.is_none_or(|s| self.graph.node(s).frequency_exempt);
        if exempt { None } else { self.ledger.as_deref_mut() }
    }
}

impl Pacer for Capped<'_, '_> {
    fn acquire(&mut self, step: StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.held = None;
        self.inner.acquire(step, now)
    }

    fn acquire_for(&mut self, step: StateId, contact: &Contact, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.held = None;
        let graph = self.graph;
        let channel = super::room::channel_of(graph, step).unwrap_or_default();
        if let Some(ledger) = self.counting(Some(step))
            && let Some((until, why)) = ledger.full_until(&contact.key, channel, &graph.id, now)
        {
            self.held = Some(why);
            return Err(until);
        }
        self.inner.acquire_for(step, contact, now)
    }

    fn acted(&mut self, step: StateId, action: &Action) {
        if let Some(ledger) = self.counting(Some(step)) {
            ledger.count(&action.contact, &action.channel, &action.campaign, action.at);
        }
        self.inner.acted(step, action);
    }

    fn withdrawn(&mut self, action: &Action) {
        let step = self.graph.state(&action.step);
        if let Some(ledger) = self.counting(step) {
            ledger.uncount(&action.contact, &action.channel, action.at);
        }
        self.inner.withdrawn(action);
    }

    fn reason(&self) -> &str {
        self.held.as_deref().unwrap_or_else(|| self.inner.reason())
    }

    fn by_step(&self) -> bool {
        self.inner.by_step()
    }

    fn settle(&mut self, before: Flight, after: Flight) {
        self.inner.settle(before, after);
    }
}

/// A simulation's pacing: the campaign's pacer and, with `policy.frequency`, a ledger in memory
/// (each simulated contact has one lead, so a walker thread keeps its own).
pub struct Paced {
    pub pacer: CampaignPacer,
    pub ledger: Option<Ledger<'static>>,
}

impl Paced {
    pub fn new(graph: &Graph, frequency: Option<&Frequency>) -> Paced {
        Paced { pacer: CampaignPacer::new(&graph.pacing), ledger: frequency.map(|f| Ledger::new(f.clone(), None)) }
    }
}

#[cfg(test)]
#[path = "frequency_tests.rs"]
mod tests;
