//! The engine of `herald run`: a due-page loop over a `Clock` and a `Channel`, crash-safe.
//!
//! Each pass stores the channel's answers in their leads, then takes a page of due leads,
//! advances them, and commits in one durable transaction their cursors, their history and the
//! actions they produced (the outbox). Only then are the actions handed to the channel, which
//! owns them on return, and their keys are marked done in a second durable transaction. A kill
//! at any instant therefore loses no lead, and on restart re-offers only actions recorded and
//! not marked done, with the same idempotency key: at most the one page in flight at the kill
//! is handed over twice. The CLI runs it on the system clock and the `log` channel
//! (`run::command`); tests run it in-process on a `VirtualClock` and a `MemoryChannel`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

mod arrivals;
mod flight;
mod idle;
mod withdraw;

use super::clock::Clock;
use super::error::RunError;
use super::frequency::{Capped, Ledger};
use super::pacing::CampaignPacer;
use super::run::Args;
use super::step::step;
use crate::channel::Channel;
use crate::graph::Graph;
use crate::store::{Batch, CampaignRecord, CampaignStatus, Store};

/// Leads advanced per durable transaction.
const PAGE: usize = 5_000;

/// Actions a channel may hold unsettled before the engine stops making more: backpressure, so
/// a slow provider holds memory to this, not to the size of the campaign.
const MAX_IN_FLIGHT: usize = 20_000;

/// How long a stopped run waits for actions in flight to settle before it exits (those still
/// unsettled are re-offered, with their keys, by the next run).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// One campaign of the run.
struct Live<'g> {
    graph: &'g Graph,
    pacer: CampaignPacer,
    status: CampaignStatus,
    started_at: Option<DateTime<Utc>>,
    path: Option<PathBuf>,
}

impl Live<'_> {
    fn record(&self, now: DateTime<Utc>) -> CampaignRecord {
        CampaignRecord {
            id: self.graph.id.clone(),
            name: self.graph.name.clone(),
            status: self.status,
            content_hash: self.graph.content_hash.clone(),
            started_at: self.started_at,
            path: self.path.clone(),
            pace: self.pacer.recent(now),
            pace_narrow: self.pacer.recent_narrow(now),
            region: self.graph.contacts.region.clone(),
        }
    }

    fn active(&self) -> bool {
        matches!(self.status, CampaignStatus::Running | CampaignStatus::Scheduled)
    }
}

impl<'g> Live<'g> {
    fn new(graph: &'g Graph, path: &std::path::Path) -> Live<'g> {
        Live {
            graph,
            pacer: CampaignPacer::new(&graph.pacing),
            status: CampaignStatus::Draft,
            started_at: None,
            path: std::path::absolute(path).ok(),
        }
    }
}

/// `run` over some campaigns, one store, one channel and one clock.
pub struct Runner<'a, 'g> {
    store: &'a Store,
    campaigns: Vec<Live<'g>>,
    channel: &'a mut dyn Channel,
    clock: &'a dyn Clock,
    stop: Arc<AtomicBool>,
    actions: u64,
    /// Actions handed to a channel that settles later, not settled yet, by key.
    in_flight: std::collections::HashMap<String, withdraw::Flight>,
    /// When actions recorded earlier were last re-offered, if some were held back then.
    held_since: Option<DateTime<Utc>>,
    /// The channel's answers taken and not yet stored.
    pending: super::answers::Pending,
    metrics: Arc<super::metrics::Metrics>,
    /// What the live server takes, when it runs.
    inbox: Option<Arc<super::arrival::Inbox>>,
    /// herald.yaml's `policy.frequency`: each contact's sends across the campaigns.
    ledger: Option<Ledger<'a>>,
}

impl<'a, 'g> Runner<'a, 'g> {
    /// `graphs[i]` was compiled from `files[i]` (its absolute path is recorded for `ingest`).
    pub fn new(
        store: &'a Store,
        graphs: &'g [Graph],
        files: &[PathBuf],
        channel: &'a mut dyn Channel,
        clock: &'a dyn Clock,
    ) -> Runner<'a, 'g> {
        Runner {
            store,
            campaigns: graphs.iter().zip(files).map(|(graph, path)| Live::new(graph, path)).collect(),
            channel,
            clock,
            stop: Arc::new(AtomicBool::new(false)),
            actions: 0,
            in_flight: std::collections::HashMap::new(),
            held_since: None,
            pending: super::answers::Pending::default(),
            metrics: Arc::new(super::metrics::Metrics::default()),
            inbox: None,
            ledger: None,
        }
    }

    /// Holds every contact to herald.yaml's `policy.frequency`, counted in the store.
    pub fn with_frequency(mut self, caps: Option<crate::config::Frequency>) -> Self {
        self.ledger = caps.map(|caps| Ledger::new(caps, Some(self.store)));
        self
    }

    /// Counts into `metrics` (the live server shows them).
    pub fn with_metrics(mut self, metrics: Arc<super::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Takes what the live server queues, and runs until stopped (not only until every campaign
    /// is final: a late reply or an opt-out still arrives).
    pub fn with_inbox(mut self, inbox: Arc<super::arrival::Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// Set it to finish the page in flight and return.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Actions handed to the channel so far.
    pub fn actions(&self) -> u64 {
        self.actions
    }

    /// Imports `args.contacts`, re-offers what was recorded and not done, then advances due
    /// leads until every campaign is final (or paused), a stop, or one pass with `args.once`.
    /// Between passes it waits for the next due time on the clock, or for `wake`.
    pub async fn run(&mut self, args: &Args, wake: &tokio::sync::Notify) -> Result<(), RunError> {
        let now = self.clock.now();
        // Every rejects file is checked before anything is written.
        let mut rejects = Vec::new();
        if let (Some(contacts), Some(path)) = (&args.contacts, &args.rejects) {
            let several = self.campaigns.len() > 1;
            for live in &self.campaigns {
                let path = rejects_path(path, &live.graph.id, several);
                rejects.push(Some(crate::contacts::Rejects::create(&path, contacts)?));
            }
        }
        self.start(now)?;
        if let Some(contacts) = &args.contacts {
            for i in 0..self.campaigns.len() {
                let rejects = rejects.get_mut(i).and_then(Option::take);
                if self.campaigns[i].active() {
                    super::admit::import(self.store, self.campaigns[i].graph, contacts, rejects, now)?;
                }
            }
        }
        self.reoffer()?;
        let progress = super::progress::Progress::new();
        let mut first = true;
        loop {
            let mut advanced = 0;
            // Answers that arrived between runs are stored before the first page; later ones in
            // batches (`answers::Pending`), at most a tenth of a second late.
            self.store_answers(first || args.once)?;
            first = false;
            // Actions held at the last re-offer (a closed window, a paused campaign) go when
            // they may, in this run, not only at the next start.
            if self.held_since.is_some_and(|at| self.clock.now() - at >= chrono::TimeDelta::minutes(1)) {
                self.reoffer()?;
            }
            for i in 0..self.campaigns.len() {
                while self.campaigns[i].active() && !self.stop.load(Ordering::SeqCst) {
                    if self.in_flight.len() >= MAX_IN_FLIGHT {
                        self.settle(MAX_IN_FLIGHT / 2, None, wake).await?;
                        continue;
                    }
                    let n = self.page(i, self.clock.now())?;
                    advanced += n;
                    // What the server took is applied between two pages of a blast, not after the
                    // last: a provider gives up on a request within seconds (docs/server.md).
                    self.apply_arrivals()?;
                    if n < PAGE {
                        break;
                    }
                }
            }
            if advanced > 0 {
                let line = format_args!("run: {advanced} leads advanced, {} actions so far", self.actions);
                if progress.is_on() { progress.show(line) } else { crate::say!("{line}") }
            }
            if self.stop.load(Ordering::SeqCst) {
                progress.done();
                self.settle(0, Some(STOP_GRACE), wake).await?;
                self.say_left();
                crate::say!("run: stopped by a signal; every lead is saved, `herald run` resumes");
                break;
            }
            self.complete_finished()?;
            if self.campaigns.iter().all(|l| !l.active()) && self.inbox.is_none() {
                if self.campaigns.iter().any(|l| l.status == CampaignStatus::Paused) {
                    crate::say!("run: only paused campaigns are left; `herald resume` them and run again");
                }
                self.settle(0, None, wake).await?;
                break;
            }
            if args.once {
                self.settle(0, None, wake).await?;
                if advanced == 0 {
                    self.say_idle()?;
                }
                break;
            }
            let idle = if self.inbox.is_some() { 60 } else { 1 };
            let next = self.next_due()?.unwrap_or_else(|| self.clock.now() + chrono::TimeDelta::seconds(idle));
            // Answers waiting to be stored bound the sleep.
            let store_by = self.pending.deadline().map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if (advanced == 0 || next > self.clock.now())
                && let Some(wait) = self.clock.wait_until(next).map(|w| store_by.map_or(w, |s| w.min(s)))
            {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                }
            }
        }
        progress.done();
        self.store_answers(true)?;
        self.close_inbox();
        crate::say!("run: {} actions handed to channels", self.actions);
        Ok(())
    }

    /// Records each campaign as started (or notes it is paused or cancelled), after checking
    /// live edits against what the database holds.
    fn start(&mut self, now: DateTime<Utc>) -> Result<(), RunError> {
        let mut batch = Batch::default();
        for live in &mut self.campaigns {
            let stored = self.store.campaign(&live.graph.id)?;
            live.started_at = stored.as_ref().and_then(|s| s.started_at);
            if let Some(stored) = &stored {
                live.pacer.restore(stored);
            }
            live.status = match stored.as_ref().map(|s| s.status) {
                Some(CampaignStatus::Paused) => {
                    crate::say!("run: campaign `{}` is paused; `herald resume {0}` to go on", live.graph.id);
                    CampaignStatus::Paused
                }
                Some(CampaignStatus::Cancelled) => {
                    crate::say!("run: campaign `{}` is cancelled and does not run again", live.graph.id);
                    CampaignStatus::Cancelled
                }
                _ if live.graph.schedule.start.is_some_and(|s| s > now) => CampaignStatus::Scheduled,
                _ => CampaignStatus::Running,
            };
            if !live.active() {
                // Left as stored: an edit of its file is checked when it runs again.
                continue;
            }
            if live.status == CampaignStatus::Running {
                live.started_at = live.started_at.or(Some(now));
            }
            if let Some(stored) = &stored
                && stored.content_hash != live.graph.content_hash
            {
                let channel: &dyn Channel = &*self.channel;
                let mut capped = Capped::new(&mut live.pacer, live.graph, self.ledger.as_mut());
                super::live_edit::apply(self.store, live.graph, &mut capped, now, &|a| channel.answer_at_once(a))?;
            }
            // Calls placed before a restart are still in flight (only such a lead is
            // `in_progress`): `concurrency` counts them.
            live.pacer.count_in_flight(self.store, live.graph)?;
            batch.campaigns.push(live.record(now));
        }
        self.store.write(batch, true)?;
        Ok(())
    }

    /// Advances one page of due leads of campaign `i`; returns how many.
    fn page(&mut self, i: usize, now: DateTime<Utc>) -> Result<usize, RunError> {
        let live = &mut self.campaigns[i];
        let graph = live.graph;
        let mut started = false;
        if live.status == CampaignStatus::Scheduled {
            if graph.schedule.start.is_some_and(|s| s > now) {
                return Ok(0);
            }
            live.status = CampaignStatus::Running;
            live.started_at = live.started_at.or(Some(now));
            started = true;
        }
        let due = self.store.due(&graph.id, now, None, PAGE)?;
        let n = due.len();
        if n == 0 {
            return Ok(0);
        }
        let suppressions = self.store.has_suppressions()?;
        let channel: &dyn Channel = &*self.channel;
        let at_once = |action: &crate::runtime::Action| channel.answer_at_once(action);
        let mut batch = Batch::default();
        let space: std::collections::HashMap<String, super::room::Space> = graph
            .channels()
            .into_iter()
            .filter_map(|(name, _)| {
                let (left, wait) = channel.room(name)?;
                let wait = chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::minutes(1));
                Some((name.to_string(), super::room::Space { left, wait }))
            })
            .collect();
        let mut room = super::room::Room::new(&mut live.pacer, graph, space);
        let mut room = Capped::new(&mut room, graph, self.ledger.as_mut());
        for (contact, mut lead) in due {
            let suppressed = suppressions && super::guard::contact_suppressed(self.store, &contact)?;
            let before = batch.outbox.len();
            let mut records = step(graph, &mut room, &contact, &mut lead, now, &mut batch, suppressed, &at_once);
            // The address the action goes to may be suppressed when the key is not (an SMS to
            // `{{ contact.phone }}` in a campaign keyed by email): it is not sent, and the lead
            // ends as an opt-out does.
            let region = graph.contacts.region.as_deref();
            if suppressions
                && let Some(address) = super::guard::suppressed_to(self.store, &batch, &batch.outbox[before..], region)?
            {
                for action in batch.outbox.drain(before..) {
                    crate::runtime::Pacer::withdrawn(&mut room, &action);
                }
                let reason = format!("not handed over: {address} is suppressed");
                records.push(lead.note_error(now, reason.into()));
                records.extend(step(graph, &mut room, &contact, &mut lead, now, &mut batch, true, &at_once));
            }
            let first_seq = lead.seq - records.len() as u32;
            batch.history.push((graph.id.clone(), contact.key, first_seq, records));
            batch.leads.push((graph.id.clone(), lead));
        }
        drop(room);
        if let Some(ledger) = self.ledger.as_mut() {
            if let Some(error) = ledger.take_error() {
                return Err(error.into());
            }
            batch.sends = ledger.rows(now);
        }
        if started || graph.pacing.has_per_hour() {
            batch.campaigns.push(live.record(now));
        }
        let actions = batch.outbox.clone();
        // A lead that opted out in this page (a STOP reply, a provider's opt-out) may have
        // actions queued from earlier pages, in any campaign.
        let suppressed = batch.suppress.clone();
        self.store.write(batch, true)?;
        self.hand_over(&actions)?;
        self.withdraw(&suppressed);
        Ok(n)
    }

    /// The earliest wake time over the active campaigns.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, RunError> {
        let mut next: Option<DateTime<Utc>> = None;
        for live in self.campaigns.iter().filter(|l| l.active()) {
            let due = self.store.next_due(&live.graph.id)?;
            let due = match (live.status, live.graph.schedule.start) {
                (CampaignStatus::Scheduled, Some(start)) => due.map(|d| d.max(start)),
                _ => due,
            };
            next = match (next, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next)
    }

    /// Marks active campaigns with no lead left to wake as completed.
    fn complete_finished(&mut self) -> Result<(), RunError> {
        let now = self.clock.now();
        let mut batch = Batch::default();
        for live in self.campaigns.iter_mut().filter(|l| l.active()) {
            if self.store.next_due(&live.graph.id)?.is_none() {
                live.status = CampaignStatus::Completed;
                batch.campaigns.push(live.record(now));
                crate::say!("run: campaign `{}` completed: every lead is final", live.graph.id);
            }
        }
        if !batch.is_empty() {
            self.store.write(batch, true)?;
        }
        Ok(())
    }
}

/// Where a campaign's rejects go: `path` itself, or with several campaigns `path` with the
/// campaign's id before its extension (`rejects.csv` -> `rejects.welcome.csv`).
fn rejects_path(path: &std::path::Path, campaign: &str, several: bool) -> PathBuf {
    if !several {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{campaign}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{campaign}"),
    };
    path.with_file_name(name)
}
