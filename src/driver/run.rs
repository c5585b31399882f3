//! `herald run`: the campaigns on the real clock, crash-safe.
//!
//! Each pass takes a page of due leads, advances them, and commits in one durable transaction
//! their cursors, their history and the actions they produced (the outbox). Only then are the
//! actions handed to the channel, which makes them durable (`flush`), and their keys are marked
//! done in a second durable transaction. A kill at any instant therefore loses no lead, and on
//! restart re-offers only actions recorded and not marked done, with the same idempotency key:
//! at most the one page in flight at the kill is handed over twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::clock::{Clock, SystemClock};
use super::error::DriverError;
use super::pacing::CampaignPacer;
use crate::channel::Channel;
use crate::contacts::{Contact, ImportSettings, Importer, Row, SkipReason};
use crate::graph::Graph;
use crate::runtime::{ActionKind, Effect, Input, Lead, Record, step_due};
use crate::store::{Batch, CampaignRecord, CampaignStatus, Purpose, Store, StoreError};

/// Leads advanced per durable transaction.
const PAGE: usize = 5_000;
/// New contacts per import transaction.
const IMPORT_BATCH: usize = 10_000;

/// `herald run` as typed.
pub struct Args {
    pub files: Vec<PathBuf>,
    pub contacts: Option<PathBuf>,
    pub db: PathBuf,
    pub once: bool,
    pub outbox: Option<PathBuf>,
    /// `--rejects FILE`: the rows each campaign's import skipped for a problem.
    pub rejects: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Import(#[from] crate::contacts::ImportError),
    #[error(transparent)]
    Rejects(#[from] crate::contacts::RejectsError),
    #[error("{0}")]
    Content(String),
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Content(_) => 1,
            RunError::Import(e) => super::error::import_exit_code(e),
            _ => 2,
        }
    }
}

/// One campaign of the run.
struct Live<'g> {
    graph: &'g Graph,
    pacer: CampaignPacer,
    status: CampaignStatus,
    started_at: Option<DateTime<Utc>>,
    path: Option<PathBuf>,
}

impl Live<'_> {
    fn record(&self) -> CampaignRecord {
        CampaignRecord {
            id: self.graph.id.clone(),
            name: self.graph.name.clone(),
            status: self.status,
            content_hash: self.graph.content_hash.clone(),
            started_at: self.started_at,
            path: self.path.clone(),
            pace: self.pacer.recent(Utc::now()),
            region: self.graph.contacts.region.clone(),
        }
    }

    fn active(&self) -> bool {
        matches!(self.status, CampaignStatus::Running | CampaignStatus::Scheduled)
    }
}

pub fn command(args: Args) -> Result<(), DriverError> {
    let columns = args.contacts.as_deref().map(crate::contacts::read_header).transpose()?;
    let mut graphs = Vec::new();
    for file in &args.files {
        graphs.push(super::load::campaign(file, columns.clone())?);
    }
    if let Some(dup) = graphs.iter().enumerate().find_map(|(i, g)| graphs[..i].iter().find(|o| o.id == g.id)) {
        return Err(DriverError::DuplicateCampaign(dup.id.clone()));
    }
    let store = Store::open(&args.db).and_then(|store| store.claim(Purpose::Run).map(|()| store))?;
    let channel: Box<dyn std::io::Write> = match &args.outbox {
        Some(path) => Box::new(crate::channel::file::OutboxFile::open(path)?),
        None => Box::new(std::io::stdout()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(DriverError::Runtime)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    match Signals::new(&runtime) {
        Ok(signals) => drop(runtime.spawn(watch_signals(signals, stop.clone(), wake.clone()))),
        Err(e) => crate::say!("warning: cannot watch for Ctrl-C and SIGTERM ({e}); they stop herald at once"),
    }
    let mut runner = Runner {
        store: &store,
        campaigns: graphs.iter().zip(&args.files).map(|(graph, path)| Live::new(graph, path)).collect(),
        channel: crate::channel::log::LogChannel::new("log", channel),
        clock: SystemClock,
        stop,
        actions: 0,
    };
    Ok(runtime.block_on(runner.run(&args, &wake))?)
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

/// SIGINT or SIGTERM: finish the page in flight, commit, exit 0. A second one stops at once
/// (the outbox keeps the process safe to kill anywhere).
async fn watch_signals(mut signals: Signals, stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) {
    signals.next().await;
    stop.store(true, Ordering::SeqCst);
    wake.notify_one();
    signals.next().await;
    crate::say!("run: stopped at once by a second signal");
    std::process::exit(130);
}

/// SIGTERM and SIGINT, registered before any work starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new(runtime: &tokio::runtime::Runtime) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = runtime.enter();
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

struct Runner<'a, 'g> {
    store: &'a Store,
    campaigns: Vec<Live<'g>>,
    channel: crate::channel::log::LogChannel<Box<dyn std::io::Write>>,
    clock: SystemClock,
    stop: Arc<AtomicBool>,
    actions: u64,
}

impl Runner<'_, '_> {
    async fn run(&mut self, args: &Args, wake: &tokio::sync::Notify) -> Result<(), RunError> {
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
                self.import(i, contacts, rejects, now)?;
            }
        }
        self.reoffer()?;
        let progress = super::progress::Progress::new();
        loop {
            let mut advanced = 0;
            for i in 0..self.campaigns.len() {
                while self.campaigns[i].active() && !self.stop.load(Ordering::SeqCst) {
                    let n = self.page(i, self.clock.now())?;
                    advanced += n;
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
                crate::say!("run: stopped by a signal; every lead is saved, `herald run` resumes");
                break;
            }
            self.complete_finished()?;
            if self.campaigns.iter().all(|l| !l.active()) {
                if self.campaigns.iter().any(|l| l.status == CampaignStatus::Paused) {
                    crate::say!("run: only paused campaigns are left; `herald resume` them and run again");
                }
                break;
            }
            if args.once {
                break;
            }
            let next = self.next_due()?.unwrap_or_else(|| self.clock.now() + chrono::TimeDelta::seconds(1));
            if advanced == 0 || next > self.clock.now() {
                let wait = (next - self.clock.now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                }
            }
        }
        progress.done();
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
                live.pacer.restore(&stored.pace);
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
                super::live_edit::apply(self.store, live.graph, &mut live.pacer, now)?;
            }
            // Calls placed before a restart are still in flight (only such a lead is
            // `in_progress`): `concurrency` counts them.
            if live.graph.pacing.concurrency.is_some() {
                let counts = self.store.counts(&live.graph.id)?;
                let in_flight = counts.get(&crate::runtime::LeadStatus::InProgress).copied().unwrap_or(0);
                live.pacer.set_in_flight(in_flight as usize);
            }
            batch.campaigns.push(live.record());
        }
        self.store.write(batch, true)?;
        Ok(())
    }

    /// Adds the CSV's new contacts to a campaign as leads due now (advanced by the first page).
    fn import(
        &mut self,
        i: usize,
        path: &std::path::Path,
        mut rejects: Option<crate::contacts::Rejects>,
        now: DateTime<Utc>,
    ) -> Result<(), RunError> {
        let live = &mut self.campaigns[i];
        if !live.active() {
            return Ok(());
        }
        let graph = live.graph;
        let settings = ImportSettings::of(graph, now);
        let suppressions = self.store.has_suppressions()?;
        let mut report = crate::contacts::ImportReport::default();
        let fresh = || Batch { update_contacts: true, ..Batch::default() };
        let mut batch = fresh();
        let (mut added, mut updated) = (0, 0);
        let importer = Importer::open(path, settings)?;
        if let Some(rejects) = &mut rejects {
            rejects.header(importer.columns())?;
        }
        for row in importer {
            let row = row?;
            report.record(&row);
            if let Some(rejects) = &mut rejects {
                rejects.write(&row)?;
            }
            let (contact, lead, record) = match row {
                Row::Contact(contact) if suppressions && self.store.is_suppressed(&contact.key)? => {
                    skipped(Contact { key: contact.key, ..Contact::default() }, "suppressed", now)
                }
                Row::Contact(contact) => {
                    let lead = Lead::new(contact.key.clone(), now);
                    (contact, lead, None)
                }
                // A duplicate is the same contact again, and a row without a key names no
                // contact: counted in the report, never a lead.
                Row::Skipped { reason: SkipReason::Duplicate, .. } | Row::Skipped { key: None, .. } => continue,
                Row::Skipped { key: Some(key), reason, .. } => {
                    skipped(Contact { key, ..Contact::default() }, reason.as_str(), now)
                }
            };
            batch.contacts.push(&graph.id, &contact, &lead, record.as_slice());
            if batch.contacts.len() >= IMPORT_BATCH {
                let written = self.store.write(std::mem::replace(&mut batch, fresh()), true)?;
                (added, updated) = (added + written.new_contacts, updated + written.updated_contacts);
            }
        }
        let written = self.store.write(batch, true)?;
        (added, updated) = (added + written.new_contacts, updated + written.updated_contacts);
        crate::say!("run: {}: contacts: {report}; {added} new leads, {updated} updated", graph.id);
        for line in report.details() {
            crate::say!("{line}");
        }
        if let Some(rejects) = rejects {
            let path = rejects.path().to_path_buf();
            crate::say!("run: {}: rejects: {} rows written to {}", graph.id, rejects.finish()?, path.display());
        }
        Ok(())
    }

    /// Hands over actions recorded before a crash and not marked done, with their keys.
    fn reoffer(&mut self) -> Result<(), RunError> {
        let pending = self.store.pending_actions()?;
        // Each is checked again now: recorded earlier (by `ingest`, or before a crash), it may
        // have become unwanted (an opt-out, a cancel) or untimely (its window closed) since.
        let mut statuses = std::collections::HashMap::new();
        let (mut hand, mut held, mut dropped) = (Vec::new(), 0, Batch::default());
        let now = self.clock.now();
        for action in pending {
            if !statuses.contains_key(&action.campaign) {
                let status = match self.campaigns.iter().find(|l| l.graph.id == action.campaign) {
                    Some(live) => Some(live.status),
                    None => self.store.campaign(&action.campaign)?.map(|c| c.status),
                };
                statuses.insert(action.campaign.clone(), status);
            }
            let graph = self.campaigns.iter().find(|l| l.graph.id == action.campaign).map(|l| l.graph);
            match super::guard::recheck(self.store, &action, statuses[&action.campaign], graph, now)? {
                super::guard::Verdict::Hand => hand.push(action),
                super::guard::Verdict::Hold => held += 1,
                super::guard::Verdict::Drop(reason) => {
                    crate::say!("run: {} not handed over: {reason}", crate::terminal::clean(&action.key));
                    super::guard::drop_action(self.store, &mut dropped, &action, &reason, now)?;
                }
            }
        }
        if !dropped.done.is_empty() {
            self.store.write(dropped, true)?;
        }
        if held > 0 {
            crate::say!("run: {held} actions recorded earlier wait (their campaign paused, or their window closed)");
        }
        if hand.is_empty() {
            return Ok(());
        }
        crate::say!("run: handing over {} actions recorded earlier (by `ingest`, or before a stop)", hand.len());
        self.hand_over(&hand)
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
        let mut batch = Batch::default();
        for (contact, mut lead) in due {
            let suppressed = suppressions && super::guard::contact_suppressed(self.store, &contact)?;
            let before = batch.outbox.len();
            let mut records = step(graph, &mut live.pacer, &contact, &mut lead, now, &mut batch, suppressed);
            // The address the action goes to may be suppressed when the key is not (an SMS to
            // `{{ contact.phone }}` in a campaign keyed by email): it is not sent, and the lead
            // ends as an opt-out does.
            let region = graph.contacts.region.as_deref();
            if suppressions
                && let Some(address) = super::guard::suppressed_to(self.store, &batch, &batch.outbox[before..], region)?
            {
                batch.outbox.truncate(before);
                let reason = format!("not handed over: {address} is suppressed");
                records.push(Record {
                    at: now,
                    step: lead.step.clone(),
                    event: crate::runtime::Event::Error { reason: reason.into() },
                });
                lead.seq += 1;
                records.extend(step(graph, &mut live.pacer, &contact, &mut lead, now, &mut batch, true));
            }
            let first_seq = lead.seq - records.len() as u32;
            batch.history.push((graph.id.clone(), contact.key, first_seq, records));
            batch.leads.push((graph.id.clone(), lead));
        }
        if started || graph.pacing.per_hour.is_some() {
            batch.campaigns.push(live.record());
        }
        let actions = batch.outbox.clone();
        self.store.write(batch, true)?;
        self.hand_over(&actions)?;
        Ok(n)
    }

    /// Hands recorded actions to the channel, makes them durable there, then marks them done at
    /// once, durably: one more fsync per page, so that a kill re-offers only what was handed
    /// over in the instant between the flush and this commit.
    fn hand_over(&mut self, actions: &[crate::runtime::Action]) -> Result<(), RunError> {
        if actions.is_empty() {
            return Ok(());
        }
        for action in actions {
            self.channel.deliver(action)?;
        }
        self.channel.flush()?;
        self.actions += actions.len() as u64;
        let done = actions.iter().map(|a| a.key.to_string()).collect();
        self.store.write(Batch { done, ..Batch::default() }, true)?;
        Ok(())
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
        let mut batch = Batch::default();
        for live in self.campaigns.iter_mut().filter(|l| l.active()) {
            if self.store.next_due(&live.graph.id)?.is_none() {
                live.status = CampaignStatus::Completed;
                batch.campaigns.push(live.record());
                crate::say!("run: campaign `{}` completed: every lead is final", live.graph.id);
            }
        }
        if !batch.is_empty() {
            self.store.write(batch, true)?;
        }
        Ok(())
    }
}

fn skipped(contact: Contact, reason: &str, now: DateTime<Utc>) -> (Contact, Lead, Option<Record>) {
    let (lead, record) = Lead::skipped(contact.key.clone(), reason, now);
    (contact, lead, Some(record))
}

/// Feeds the lead every input due by `now`. Actions go to the outbox; a message handed to the
/// `log` channel counts as `sent` at once (it has no delivery reports), so the lead moves on in
/// the same pass; a call waits for its outcome (`herald ingest`). A lead whose contact is on the
/// suppression list (an opt-out in any campaign) ends `opted_out` before it can act again.
pub fn step(
    graph: &Graph,
    pacer: &mut dyn crate::runtime::Pacer,
    contact: &Contact,
    lead: &mut Lead,
    now: DateTime<Utc>,
    batch: &mut Batch,
    suppressed: bool,
) -> Vec<Record> {
    let mut records = Vec::new();
    let first = (suppressed && !lead.status.is_final()).then_some(Input::OptOut);
    step_due(graph, pacer, contact, lead, now, first, &mut records, |effect, lead| {
        apply_effect(effect, lead, now, batch)
    });
    records
}

/// What the driver does with an advance's effects: actions to the outbox (a `log` message is
/// `sent` at once), opt-outs to the suppression list.
pub fn apply_effects(effects: Vec<Effect>, lead: &mut Lead, now: DateTime<Utc>, batch: &mut Batch) {
    for effect in effects {
        apply_effect(effect, lead, now, batch);
    }
}

fn apply_effect(effect: Effect, lead: &mut Lead, now: DateTime<Utc>, batch: &mut Batch) {
    match effect {
        Effect::Act(action) => {
            if action.kind == ActionKind::Send {
                lead.deliver_at(now, Input::Delivery { status: "sent".into() });
            }
            batch.outbox.push(*action);
        }
        Effect::Suppress(address) => batch.suppress.push(address),
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
