//! `simulate`'s import when leads cannot affect each other (`Simulation::independent`): each
//! lead is walked from its start to its end, or to the horizon, as soon as it is read, and
//! written once with its whole history. The CSV is read on the calling thread; the leads are
//! walked on one worker per core, each filling its own batches for the writer thread.
//!
//! Which worker walks which lead does not matter: a lead's timeline depends only on itself,
//! and the store ends the same (`tests/simulate_whole.rs` compares it with the time-ordered
//! walk).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::output::Tally;
use super::pacing::CampaignPacer;
use super::progress::Progress;
use super::simulate::{BATCH, DURABLE_EVERY, ROW, SimulateError, Simulation};
use super::writer::{Writer, WriterHandle};
use crate::contacts::{Contact, ImportReport, ImportSettings, Importer, Row, SkipReason};
use crate::runtime::{Lead, LeadStatus};
use crate::store::Batch;

/// Rows handed to a worker at a time.
const CHUNK: usize = 512;

enum Item {
    Lead(Contact),
    Skip(String, &'static str),
}

/// What the workers did, added up.
#[derive(Default)]
pub struct Walked {
    pub tally: Tally,
    /// Leads written, per status.
    pub statuses: BTreeMap<LeadStatus, u64>,
}

/// Reads the CSV and has the workers walk its leads; `None` when there is a single core or no
/// writer thread (the caller then walks them itself).
pub fn import(
    sim: &Simulation,
    writer: &mut Writer,
    horizon: DateTime<Utc>,
    progress: &Progress,
    resumed: bool,
) -> Option<Result<(ImportReport, Walked), SimulateError>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(4);
    let handle = writer.handle()?;
    if cores < 2 {
        return None;
    }
    let stop = AtomicBool::new(false);
    Some(std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Item>>(2 * cores);
        let workers: Vec<_> = {
            // Only the workers hold the receiver: when the last one ends, early or not, sending
            // fails and the reading stops instead of waiting on a full channel.
            let rx = Arc::new(Mutex::new(rx));
            (0..cores)
                .map(|_| {
                    let (rx, handle, stop) = (Arc::clone(&rx), handle.clone(), &stop);
                    scope.spawn(move || {
                        let result = work(sim, &rx, handle, horizon, stop);
                        if result.is_err() {
                            // The others stop too: the first error is the news.
                            stop.store(true, Ordering::Relaxed);
                        }
                        result
                    })
                })
                .collect()
        };
        let read = read(sim, resumed, progress, |chunk| !stop.load(Ordering::Relaxed) && tx.send(chunk).is_ok());
        drop(tx);
        let mut walked = Walked::default();
        let mut failed = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok(part)) => {
                    walked.tally.merge(part.tally);
                    for (status, n) in part.statuses {
                        *walked.statuses.entry(status).or_default() += n;
                    }
                }
                Ok(Err(error)) => failed = failed.or(Some(error)),
                Err(_) => failed = failed.or(Some(SimulateError::Crashed)),
            }
        }
        // A worker's error first: reading stops early because of it.
        match (failed, read) {
            (Some(error), _) => Err(error),
            (None, read) => read.map(|report| (report, walked)),
        }
    }))
}

/// Reads the CSV into chunks of leads to walk; stops early when `send` says no worker is left.
fn read(
    sim: &Simulation,
    resumed: bool,
    progress: &Progress,
    mut send: impl FnMut(Vec<Item>) -> bool,
) -> Result<ImportReport, SimulateError> {
    let graph = sim.graph;
    let importer = Importer::open(&sim.contacts, ImportSettings::of(graph, sim.start))?;
    let suppressions = sim.store.has_suppressions()?;
    let known = |key: &str| -> Result<bool, SimulateError> { Ok(resumed && sim.store.lead(&graph.id, key)?.is_some()) };
    let mut report = ImportReport::default();
    let mut chunk = Vec::with_capacity(CHUNK);
    for row in importer {
        let row = row?;
        report.record(&row);
        let item = match row {
            Row::Contact(contact) if suppressions && sim.store.is_suppressed(&contact.key)? => {
                Item::Skip(contact.key, "suppressed")
            }
            Row::Contact(contact) if known(&contact.key)? => continue,
            Row::Contact(contact) => Item::Lead(contact),
            // A duplicate is the same contact again: counted in the report, not a lead.
            Row::Skipped { reason: SkipReason::Duplicate, .. } => continue,
            Row::Skipped { key, .. } if known(&key)? => continue,
            Row::Skipped { key, reason, .. } => Item::Skip(key, reason.as_str()),
        };
        chunk.push(item);
        if chunk.len() == CHUNK {
            if !send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))) {
                return Ok(report);
            }
            if report.read.is_multiple_of(16 * CHUNK as u64) {
                progress.show(format_args!("simulating: {} contacts read", report.read));
            }
        }
    }
    if !chunk.is_empty() {
        send(chunk);
    }
    Ok(report)
}

/// One worker: walks the leads of each chunk it is given and hands full batches to the writer.
fn work(
    sim: &Simulation,
    rx: &Mutex<Receiver<Vec<Item>>>,
    writer: WriterHandle,
    horizon: DateTime<Utc>,
    stop: &AtomicBool,
) -> Result<Walked, SimulateError> {
    let graph = sim.graph;
    let mut pacer = CampaignPacer::new(&graph.pacing);
    let mut walked = Walked::default();
    let mut batch = Batch { contacts: writer.new_leads(BATCH, ROW), ..Batch::default() };
    let mut sink = std::io::sink();
    let mut batches: u32 = 0;
    loop {
        // A poisoned lock means another worker panicked; its join reports it.
        let chunk = match rx.lock().map(|rx| rx.recv()) {
            Ok(Ok(chunk)) if !stop.load(Ordering::Relaxed) => chunk,
            _ => break,
        };
        for item in chunk {
            let status = match item {
                Item::Lead(contact) => {
                    let mut lead = Lead::new(contact.key.clone(), sim.start);
                    let mut records = sim.step_lead(&mut pacer, &contact, &mut lead, sim.start, &mut batch.suppress);
                    for (at, input) in &sim.inject {
                        lead.deliver_at(*at, input.clone());
                    }
                    sim.finish_lead(&mut pacer, &contact, &mut lead, horizon, &mut records, &mut batch.suppress)?;
                    records.iter().for_each(|record| walked.tally.count(record));
                    batch.contacts.push(&graph.id, &contact, &lead, &records);
                    lead.status
                }
                Item::Skip(key, reason) => {
                    sim.skip(&mut sink, &mut walked.tally, &mut batch, key, reason)?;
                    LeadStatus::Skipped
                }
            };
            *walked.statuses.entry(status).or_default() += 1;
        }
        if batch.contacts.len() >= BATCH {
            let full =
                std::mem::replace(&mut batch, Batch { contacts: writer.new_leads(BATCH, ROW), ..Batch::default() });
            batches += 1;
            writer.write(full, batches.is_multiple_of(DURABLE_EVERY))?;
        }
    }
    writer.write(batch, false)?;
    Ok(walked)
}
