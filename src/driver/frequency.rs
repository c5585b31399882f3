//! herald.yaml's `policy.frequency` as runs and simulations keep it (docs/policy.md): each
//! contact's recent sends and calls, across campaigns (`Ledger`), and a pacer that holds an
//! action back until every cap that counts it has room (`Capped`).
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
use crate::runtime::{Action, Event, Flight, Pacer};
use crate::store::{Sent, Store, StoreError};

/// Contacts a run's ledger keeps before it lets go of those already stored.
const KEEP: usize = 100_000;

/// Each contact's sends inside the longest cap's period.
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

    /// `None` when one more action on `channel` fits every cap now; else when the last cap
    /// that is full frees up, and what to say of it.
    pub fn full_until(&mut self, contact: &str, channel: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        if self.store.is_some() && self.recent.len() >= KEEP && !self.recent.contains_key(contact) {
            self.release();
        }
        let caps: Vec<(Cap, Option<String>)> = self
            .caps
            .all
            .map(|cap| (cap, None))
            .into_iter()
            .chain(
                self.caps
                    .channels
                    .iter()
                    .filter(|(name, _)| name.value == channel)
                    .map(|(n, c)| (*c, Some(n.value.clone()))),
            )
            .collect();
        self.sends(contact);
        if self.error.is_some() {
            // The count is unknown: hold the lead briefly; the run stops on the error.
            return Some((now + TimeDelta::minutes(1), "policy frequency: counts unreadable".into()));
        }
        let sends = self.recent.get(contact)?;
        let mut full: Option<(DateTime<Utc>, String)> = None;
        for (cap, only) in caps {
            let times: Vec<DateTime<Utc>> = sends
                .iter()
                .filter(|s| only.as_deref().is_none_or(|c| c == s.channel) && s.at + cap.per > now)
                .map(|s| s.at)
                .collect();
            let max = cap.max as usize;
            if times.len() < max {
                continue;
            }
            // The oldest sends must leave the period until fewer than `max` are left.
            let free = times[times.len() - max] + cap.per;
            if full.as_ref().is_none_or(|(t, _)| free > *t) {
                let what = match &only {
                    Some(channel) => format!("policy frequency: {channel} {}", cap.describe()),
                    None => format!("policy frequency: {}", cap.describe()),
                };
                full = Some((free, what));
            }
        }
        full
    }

    /// Counts an action made.
    pub fn count(&mut self, contact: &str, channel: &str, at: DateTime<Utc>) {
        let sends = self.sends(contact);
        let place = sends.partition_point(|s| s.at <= at);
        sends.insert(place, Sent { at, channel: channel.to_string() });
        self.changed(contact);
    }

    /// Takes back a count: the action was not handed over after all.
    pub fn uncount(&mut self, contact: &str, channel: &str, at: DateTime<Utc>) {
        let sends = self.sends(contact);
        if let Some(i) = sends.iter().rposition(|s| s.at == at && s.channel == channel) {
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
                    self.count(&key, channel, record.at);
                }
            }
        }
        Ok(())
    }
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
        let channel = super::room::channel_of(self.graph, step).unwrap_or_default();
        if let Some(ledger) = self.counting(Some(step))
            && let Some((until, why)) = ledger.full_until(&contact.key, channel, now)
        {
            self.held = Some(why);
            return Err(until);
        }
        self.inner.acquire_for(step, contact, now)
    }

    fn acted(&mut self, step: StateId, action: &Action) {
        if let Some(ledger) = self.counting(Some(step)) {
            ledger.count(&action.contact, &action.channel, action.at);
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
