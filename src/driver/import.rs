//! `simulate`'s import: the CSV read and each row classified once (`read`), and each new lead
//! stepped (`Walker`): only its first step when all leads then move together in time order,
//! or from its start to its end (or the horizon) when leads cannot affect each other
//! (`Simulation::independent`), written once with its whole history. Walking whole, the CSV is
//! read on the calling thread and the leads walked on one worker per core (`parallel`), each
//! filling its own batches for the writer thread.
//!
//! Which worker walks which lead does not matter: a lead's timeline depends only on itself,
//! and the store ends the same (`tests/it/simulate_whole.rs` compares it with the time-ordered
//! walk).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::frequency::Paced;
use super::output::Tally;
use super::progress::Progress;
use super::simulate::{BATCH, ROW, SimulateError, Simulation};
use super::writer::{Writer, WriterHandle};
use crate::contacts::{ImportReport, ImportSettings, Importer};
use crate::runtime::{Lead, LeadStatus, Record};
use crate::store::{Batch, NewLeads};

/// Rows handed to a worker at a time.
pub(super) const CHUNK: usize = 512;

pub(super) use super::admit::Admission as Item;

/// What walking the leads did.
#[derive(Default)]
pub struct Walked {
    pub tally: Tally,
    /// Leads written, per status.
    pub statuses: BTreeMap<LeadStatus, u64>,
}

/// Reads the CSV and has workers walk its leads whole; `None` when there is a single core or
/// no writer thread (the caller then walks them itself).
pub(super) fn parallel(
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
    let batch = batch_size(std::fs::metadata(&sim.contacts).map_or(u64::MAX, |m| m.len()));
    Some(std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Item>>(2 * cores);
        // Walked chunks come back to be emptied here: the contacts were allocated on this
        // thread, and freeing them on their own thread is cheaper than from a worker's.
        let (back, walked_rx) = sync_channel::<Vec<Item>>(2 * cores);
        let workers: Vec<_> = {
            // Only the workers hold the receiver: when the last one ends, early or not, sending
            // fails and the reading stops instead of waiting on a full channel.
            let rx = Arc::new(Mutex::new(rx));
            (0..cores)
                .map(|_| {
                    let (rx, back, handle, stop) = (Arc::clone(&rx), back.clone(), handle.clone(), &stop);
                    scope.spawn(move || {
                        let result = work(sim, &rx, &back, handle, horizon, stop, batch);
                        if result.is_err() {
                            // The others stop too: the first error is the news.
                            stop.store(true, Ordering::Relaxed);
                        }
                        result
                    })
                })
                .collect()
        };
        drop(back);
        let fresh = || match walked_rx.try_recv() {
            Ok(mut chunk) => {
                chunk.clear();
                chunk
            }
            Err(_) => Vec::with_capacity(CHUNK),
        };
        let read =
            read(sim, resumed, progress, fresh, |chunk| Ok(!stop.load(Ordering::Relaxed) && tx.send(chunk).is_ok()));
        drop(tx);
        // Chunks still coming back are freed by their workers from here on, while they walk.
        drop(walked_rx);
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

/// Reads the CSV into chunks of leads to walk, handed to `send`; stops early when it says so
/// (`Ok(false)`: no worker is left). Contacts already in a `resumed` campaign are left out.
/// Each chunk is an empty vector from `fresh`.
pub(super) fn read(
    sim: &Simulation,
    resumed: bool,
    progress: &Progress,
    mut fresh: impl FnMut() -> Vec<Item>,
    mut send: impl FnMut(Vec<Item>) -> Result<bool, SimulateError>,
) -> Result<ImportReport, SimulateError> {
    let graph = sim.graph;
    let importer = Importer::open(&sim.contacts, ImportSettings::of(graph, sim.start))?;
    let mut rejects = sim.rejects.lock().ok().and_then(|mut r| r.take());
    if let Some(rejects) = &mut rejects {
        rejects.header(importer.columns())?;
    }
    let suppressions = sim.store.has_suppressions()?;
    let known = |key: &str| -> Result<bool, SimulateError> { Ok(resumed && sim.store.has_lead(&graph.id, key)?) };
    let mut report = ImportReport::default();
    let mut chunk = fresh();
    for row in importer {
        let row = row?;
        report.record(&row);
        if let Some(rejects) = &mut rejects {
            rejects.write(&row)?;
        }
        let suppressed = |key: &str| Ok(suppressions && sim.store.is_suppressed(key)?);
        let Some(item) = super::admit::admit(row, suppressed, known)? else { continue };
        chunk.push(item);
        if chunk.len() == CHUNK {
            if !send(std::mem::replace(&mut chunk, fresh()))? {
                return Ok(report);
            }
            if report.read.is_multiple_of(16 * CHUNK as u64) {
                progress.show(format_args!("simulating: {} contacts read", report.read));
            }
        }
    }
    if !chunk.is_empty() {
        send(chunk)?;
    }
    if let Some(rejects) = rejects {
        let path = rejects.path().to_path_buf();
        let rows = rejects.finish()?;
        crate::say!("rejects: {rows} rows written to {}", path.display());
    }
    Ok(report)
}

/// Leads per batch a worker hands to the writer, for a CSV of `bytes`: the whole import in about
/// 16 batches, between 512 and `BATCH` leads each. The writer's last batches are written after
/// the walk ends, with a core idle, so a small CSV's batches are smaller (BENCHMARKS.md, "A
/// small CSV is walked in smaller batches"). Rows are taken as 24 bytes, about the shortest
/// a real contact list has (the peer benchmark's are 19 to 26): longer rows make the estimate
/// high, and batches only as large as before.
fn batch_size(bytes: u64) -> usize {
    let rows = bytes / 24;
    usize::try_from(rows / 16).unwrap_or(BATCH).clamp(512, BATCH)
}

/// One worker: walks the leads of each chunk it is given, hands the chunk `back`, and hands
/// batches of `batch` leads to the writer.
fn work(
    sim: &Simulation,
    rx: &Mutex<Receiver<Vec<Item>>>,
    back: &SyncSender<Vec<Item>>,
    writer: WriterHandle,
    horizon: DateTime<Utc>,
    stop: &AtomicBool,
    batch: usize,
) -> Result<Walked, SimulateError> {
    yield_to_reader_and_writer();
    let mut pacer = Paced::new(sim.graph, sim.frequency.as_ref());
    let mut walker = Walker::new(sim, &mut pacer, Some(horizon), writer.new_leads(batch, ROW));
    walker.limit = batch;
    let mut sink = std::io::sink();
    loop {
        // A poisoned lock means another worker panicked; its join reports it.
        let chunk = match rx.lock().map(|rx| rx.recv()) {
            Ok(Ok(chunk)) if !stop.load(Ordering::Relaxed) => chunk,
            _ => break,
        };
        for item in &chunk {
            walker.take(item, &mut sink)?;
        }
        // Dropped here when the reader has enough back, or has stopped.
        let _ = back.try_send(chunk);
        if let Some(full) = walker.full(|| writer.new_leads(batch, ROW)) {
            writer.write(full, true)?;
        }
    }
    let (batch, walked) = walker.finish();
    writer.write(batch, false)?;
    Ok(walked)
}

/// Lowers the calling walker thread's priority a little (nice 5). There are more threads than
/// cores (the reader, a walker per core, the writer), and a reader or writer waiting for its
/// turn holds every walker up: no rows to walk, or no room for the next batch (BENCHMARKS.md).
/// Lowering a priority needs no rights; where it fails, or off Linux, the walk is the same,
/// only scheduled as before.
fn yield_to_reader_and_writer() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on this thread's own id (Linux gives each thread its own nice value);
    // it changes nothing else, and its result is ignored.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 5);
    }
}

/// Steps new leads into batches of rows for the writer.
pub(super) struct Walker<'w, 's> {
    sim: &'w Simulation<'s>,
    pacer: &'w mut Paced,
    /// Walk each lead to here at once; `None`: only its first step.
    whole: Option<DateTime<Utc>>,
    walked: Walked,
    batch: Batch,
    /// Leads in a full batch.
    limit: usize,
    /// The history of the lead being walked, and the lead: their memory kept from one lead
    /// to the next.
    records: Vec<Record>,
    lead: Lead,
}

impl<'w, 's> Walker<'w, 's> {
    pub(super) fn new(
        sim: &'w Simulation<'s>,
        pacer: &'w mut Paced,
        whole: Option<DateTime<Utc>>,
        contacts: NewLeads,
    ) -> Walker<'w, 's> {
        Walker {
            sim,
            pacer,
            whole,
            walked: Walked::default(),
            batch: Batch { contacts, ..Batch::default() },
            limit: BATCH,
            records: Vec::new(),
            lead: Lead::new(String::new(), sim.start),
        }
    }

    /// Steps one row's lead, prints its lines to `out`, and adds it to the batch.
    pub(super) fn take(&mut self, item: &Item, out: &mut impl Write) -> Result<(), SimulateError> {
        let sim = self.sim;
        let status = match item {
            Item::Lead(contact) => {
                let suppress = &mut self.batch.suppress;
                let lead = &mut self.lead;
                lead.renew(&contact.key, sim.start);
                let records = &mut self.records;
                records.clear();
                sim.step_lead(self.pacer, contact, lead, sim.start, records, suppress);
                for (at, input) in &sim.inject {
                    lead.deliver_at(*at, input.clone());
                }
                if let Some(horizon) = self.whole {
                    sim.finish_lead(self.pacer, contact, lead, horizon, records, suppress)?;
                    // Walked to its end: no other lead of the contact counts its sends.
                    if let Some(ledger) = &mut self.pacer.ledger {
                        ledger.forget(&contact.key);
                    }
                }
                sim.emit(out, contact, records, &mut self.walked.tally)?;
                self.batch.contacts.push(&sim.graph.id, contact, lead, records);
                lead.status
            }
            Item::Skip(key, reason) => {
                sim.skip(out, &mut self.walked.tally, &mut self.batch, key, reason)?;
                LeadStatus::Skipped
            }
        };
        *self.walked.statuses.entry(status).or_default() += 1;
        Ok(())
    }

    /// The batch when it is full; the walk carries on with `fresh` buffers.
    pub(super) fn full(&mut self, fresh: impl FnOnce() -> NewLeads) -> Option<Batch> {
        (self.batch.contacts.len() >= self.limit)
            .then(|| std::mem::replace(&mut self.batch, Batch { contacts: fresh(), ..Batch::default() }))
    }

    /// The last, partial batch and what was walked.
    pub(super) fn finish(self) -> (Batch, Walked) {
        (self.batch, self.walked)
    }
}

#[cfg(test)]
mod tests {
    use super::{BATCH, batch_size};

    #[test]
    fn batches_split_a_small_import_and_stay_bounded() {
        // The peer benchmark's 10,000 contacts (224,714 bytes) go in 16 batches or more.
        assert!(10_000 / batch_size(224_714) >= 16, "{}", batch_size(224_714));
        // A few rows, or an empty file: the smallest batch.
        assert_eq!(batch_size(0), 512);
        assert_eq!(batch_size(2_000), 512);
        // 100,000 contacts and more, or a size that could not be read: full batches.
        assert_eq!(batch_size(2_447_721), BATCH);
        assert_eq!(batch_size(u64::MAX), BATCH);
        // Never smaller for a larger file.
        let sizes = [0, 10_000, 100_000, 224_714, 500_000, 1_000_000, 5_000_000];
        assert!(sizes.windows(2).all(|w| batch_size(w[0]) <= batch_size(w[1])));
    }
}
