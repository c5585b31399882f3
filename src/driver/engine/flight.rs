//! What is in flight: actions handed to a channel that settles them later, the channel's
//! answers stored in batches, the waits for them (backpressure, `--once`, a stop's grace),
//! and actions recorded earlier offered again.

use std::sync::atomic::Ordering;

use super::{Runner, STOP_GRACE};
use crate::channel::Handed;
use crate::driver::error::RunError;
use crate::store::Batch;

impl Runner<'_, '_> {
    pub(super) fn say_left(&self) {
        if !self.in_flight.is_empty() {
            crate::say!(
                "run: {} actions still in flight are handed over again, with their keys, by the next run",
                self.in_flight.len()
            );
        }
    }

    /// Takes the channel's answers (what they settle is no longer in flight), and stores them
    /// when enough wait, or they waited long enough, or `force`.
    pub(super) fn store_answers(&mut self, force: bool) -> Result<usize, RunError> {
        for (key, result) in self.pending.take(&mut *self.channel) {
            if let Some(flight) = self.in_flight.remove(&key) {
                self.metrics.settled(&flight.channel, result, flight.since.elapsed());
            }
        }
        let name = self.channel.name().to_string();
        let stored = self.pending.store(self.store, &name, force)?;
        self.apply_arrivals()?;
        Ok(stored)
    }

    /// Stores answers as they come until at most `limit` actions are in flight, or `grace` has
    /// passed (a stop, so a second signal is not needed to leave).
    pub(super) async fn settle(
        &mut self,
        limit: usize,
        grace: Option<std::time::Duration>,
        wake: &tokio::sync::Notify,
    ) -> Result<(), RunError> {
        let started = std::time::Instant::now();
        let mut said = std::time::Instant::now();
        loop {
            self.store_answers(false)?;
            if self.in_flight.len() <= limit || grace.is_some_and(|g| started.elapsed() >= g) {
                // Before a stop or the end, everything taken is stored.
                self.store_answers(limit == 0)?;
                return Ok(());
            }
            // A stop while waiting for room: the caller's stop path waits with its grace. A stop
            // during the last wait (`--once`, or every campaign final) takes the grace here.
            if grace.is_none() && self.stop.load(Ordering::SeqCst) {
                if limit > 0 {
                    return Ok(());
                }
                return Box::pin(self.settle(0, Some(STOP_GRACE), wake)).await.map(|()| self.say_left());
            }
            if said.elapsed() >= std::time::Duration::from_secs(5) {
                crate::say!("run: waiting for channels: {} actions in flight", self.in_flight.len());
                said = std::time::Instant::now();
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        }
    }

    /// Hands over actions recorded before a crash and not marked done, with their keys.
    pub(super) fn reoffer(&mut self) -> Result<(), RunError> {
        let pending = self.store.pending_actions()?;
        // Each is checked again now: recorded earlier (by `ingest`, or before a crash), it may
        // have become unwanted (an opt-out, a cancel) or untimely (its window closed) since.
        let mut statuses = std::collections::HashMap::new();
        let (mut hand, mut held, mut dropped) = (Vec::new(), 0, Batch::default());
        let now = self.clock.now();
        let mut unrouted: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for action in pending {
            if self.in_flight.contains_key(&*action.key) {
                continue;
            }
            // Recorded for a campaign of another run, on a channel this herald.yaml lacks: it
            // waits for a run that has it, rather than stop this one.
            if !self.channel.routes(&action.channel) {
                *unrouted.entry(action.channel.to_string()).or_default() += 1;
                continue;
            }
            if !statuses.contains_key(&action.campaign) {
                let status = match self.campaigns.iter().find(|l| l.graph.id == action.campaign) {
                    Some(live) => Some(live.status),
                    None => self.store.campaign(&action.campaign)?.map(|c| c.status),
                };
                statuses.insert(action.campaign.clone(), status);
            }
            let graph = self.campaigns.iter().find(|l| l.graph.id == action.campaign).map(|l| l.graph);
            match crate::driver::guard::recheck(self.store, &action, statuses[&action.campaign], graph, now)? {
                crate::driver::guard::Verdict::Hand => hand.push(action),
                crate::driver::guard::Verdict::Hold => held += 1,
                crate::driver::guard::Verdict::Drop(reason) => {
                    crate::say!("run: {} not handed over: {reason}", crate::terminal::clean(&action.key));
                    crate::driver::guard::drop_action(self.store, &mut dropped, &action, &reason, now)?;
                }
            }
        }
        if !dropped.done.is_empty() {
            self.store.write(dropped, true)?;
        }
        if held > 0 {
            crate::say!("run: {held} actions recorded earlier wait (their campaign paused, or their window closed)");
        }
        for (channel, n) in &unrouted {
            let channel = crate::terminal::clean(channel);
            crate::say!("run: {n} actions recorded earlier wait: herald.yaml has no channel `{channel}`");
        }
        self.held_since = (held > 0).then_some(now);
        if hand.is_empty() {
            return Ok(());
        }
        crate::say!("run: handing over {} actions recorded earlier (by `ingest`, or before a stop)", hand.len());
        let handed = self.channel.reoffer(&hand)?;
        self.handed(&hand, handed)
    }

    /// Hands recorded actions to the channel, which owns them on return, then marks them done
    /// at once, durably: one more fsync per page, so that a kill re-offers only what was handed
    /// over in the instant between the hand-over and this commit.
    pub(super) fn hand_over(&mut self, actions: &[crate::runtime::Action]) -> Result<(), RunError> {
        if actions.is_empty() {
            return Ok(());
        }
        let handed = self.channel.hand_over(actions)?;
        self.handed(actions, handed)
    }

    /// Marks what the channel owns now as done; counts what settles later.
    pub(super) fn handed(&mut self, actions: &[crate::runtime::Action], handed: Handed) -> Result<(), RunError> {
        self.actions += actions.len() as u64;
        for action in actions {
            self.metrics.handed(&action.channel, 1);
        }
        match handed {
            Handed::Owned => {
                let done = actions.iter().map(|a| a.key.to_string()).collect();
                self.store.write(Batch { done, ..Batch::default() }, true)?;
            }
            Handed::Later => {
                let now = std::time::Instant::now();
                let flights: Vec<_> =
                    actions.iter().map(|a| (a.key.to_string(), super::withdraw::Flight::of(a, now))).collect();
                self.in_flight.extend(flights);
            }
        }
        Ok(())
    }
}
