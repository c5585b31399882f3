//! The one writer: a thread that applies batches to the store while the driver advances the
//! next leads, so that B-tree writes (and freeing each batch) use the second core.
//!
//! Batches are applied in the order given, except that a batch of nothing but new leads is
//! held back and sorted by key with the others like it (`sorter`): they are inserted, in key
//! order, before the next batch of any other kind, at `sync`, or at the end. `sync` waits until
//! every batch handed over so far is committed, so that reads see them; the driver calls it
//! before it looks for due leads.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::sorter::{BUDGET, Sorter};
use crate::store::{Batch, NewLeads, Store, StoreError};

enum Message {
    Write(Box<Batch>, bool),
    Sync(SyncSender<()>),
}

pub struct Writer<'scope> {
    tx: Option<SyncSender<Message>>,
    /// New-lead buffers the thread has written, emptied, to be filled again: memory the
    /// driver's thread reuses instead of asking for fresh pages every batch.
    spare: Option<Arc<Mutex<Receiver<NewLeads>>>>,
    thread: Option<ScopedJoinHandle<'scope, Result<(), StoreError>>>,
    /// Set when no thread could be started: batches are written by the caller.
    inline: Option<&'scope Store>,
}

impl<'scope> Writer<'scope> {
    /// Starts the writer thread on `store`. At most one batch waits for it: memory stays
    /// bounded however far ahead the driver runs.
    pub fn spawn<'env>(scope: &'scope Scope<'scope, 'env>, store: &'scope Store) -> Writer<'scope> {
        let (tx, rx) = sync_channel::<Message>(1);
        let (spare_tx, spare_rx) = sync_channel::<NewLeads>(2);
        let thread = std::thread::Builder::new()
            .name("herald-writer".into())
            .spawn_scoped(scope, move || apply(store, rx, spare_tx, Pace::default()));
        match thread {
            Ok(thread) => {
                Writer { tx: Some(tx), spare: Some(Arc::new(Mutex::new(spare_rx))), thread: Some(thread), inline: None }
            }
            // No thread to be had: write on the caller's (same results, one core).
            Err(_) => Writer { tx: None, spare: None, thread: None, inline: Some(store) },
        }
    }

    /// An empty new-lead buffer: one the thread gave back if there is one, else a new one with
    /// room for `leads` rows of about `row` bytes.
    pub fn new_leads(&mut self, leads: usize, row: usize) -> NewLeads {
        new_leads(self.spare.as_deref(), leads, row)
    }

    /// A sender for other threads, when there is a writer thread.
    pub fn handle(&self) -> Option<WriterHandle> {
        Some(WriterHandle { tx: self.tx.clone()?, spare: self.spare.clone()? })
    }

    /// Hands a batch over; `durable` commits it with an fsync.
    pub fn write(&mut self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(store) = self.inline {
            return store.write(batch, durable).map(drop);
        }
        self.send(Message::Write(Box::new(batch), durable))
    }

    /// Waits until everything handed over is committed.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.inline.is_some() {
            return Ok(());
        }
        let (ack_tx, ack_rx) = sync_channel(1);
        self.send(Message::Sync(ack_tx))?;
        match ack_rx.recv() {
            Ok(()) => Ok(()),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Waits for the last batch and stops the thread, with the first error it met.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.tx = None;
        match self.thread.take().map(ScopedJoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Internal("the store writer crashed".into())),
            None => Ok(()),
        }
    }

    fn send(&mut self, message: Message) -> Result<(), StoreError> {
        if self.tx.as_ref().is_some_and(|tx| tx.send(message).is_ok()) { Ok(()) } else { Err(self.stopped()) }
    }

    /// The writer thread ended early: its error.
    fn stopped(&mut self) -> StoreError {
        self.tx = None;
        match self.thread.take().map(ScopedJoinHandle::join) {
            Some(Ok(Err(error))) => error,
            Some(Err(_)) => StoreError::Internal("the store writer crashed".into()),
            _ => StoreError::Internal("the store writer stopped".into()),
        }
    }
}

/// Hands batches to the writer thread from another thread. Its errors are the thread's to
/// report (`Writer::finish`); a handle only learns that it stopped.
#[derive(Clone)]
pub struct WriterHandle {
    tx: SyncSender<Message>,
    spare: Arc<Mutex<Receiver<NewLeads>>>,
}

impl WriterHandle {
    /// `Writer::new_leads`.
    pub fn new_leads(&self, leads: usize, row: usize) -> NewLeads {
        new_leads(Some(&self.spare), leads, row)
    }

    pub fn write(&self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Message::Write(Box::new(batch), durable))
            .map_err(|_| StoreError::Internal("the store writer stopped".into()))
    }
}

fn new_leads(spare: Option<&Mutex<Receiver<NewLeads>>>, leads: usize, row: usize) -> NewLeads {
    match spare.and_then(|rx| rx.lock().ok()?.try_recv().ok()) {
        Some(spare) => spare,
        None => NewLeads::with_capacity(leads, row),
    }
}

fn apply(store: &Store, rx: Receiver<Message>, spare: SyncSender<NewLeads>, mut pace: Pace) -> Result<(), StoreError> {
    let mut sorter = Sorter::new(BUDGET);
    for message in rx {
        match message {
            Message::Write(mut batch, _) if pace.sorting() && batch.only_new_leads() => {
                // Their history goes in now; the rows, sorted, later.
                store.seal(&mut batch.contacts)?;
                for leads in sorter.add(batch.contacts)? {
                    // Given back if the driver wants it; else dropped here.
                    let _ = spare.try_send(leads);
                }
            }
            Message::Write(mut batch, durable) if batch.only_new_leads() => {
                let started = Instant::now();
                store.apply(&mut batch, durable)?;
                pace.took(started.elapsed(), batch.contacts.len());
                batch.contacts.clear();
                let _ = spare.try_send(batch.contacts);
            }
            Message::Write(mut batch, durable) => {
                insert_sorted(store, &mut sorter)?;
                store.apply(&mut batch, durable)?;
                batch.contacts.clear();
                let _ = spare.try_send(batch.contacts);
            }
            Message::Sync(ack) => {
                insert_sorted(store, &mut sorter)?;
                let _ = ack.send(());
            }
        }
    }
    insert_sorted(store, &mut sorter)
}

/// Whether new leads are inserted as they come or sorted first. Sorting costs a pass at the end
/// that cannot overlap the walk, and gains nothing when the keys come in an order that already
/// keeps inserts close together (the peer benchmark's `0, 1, 2…`), so
/// the writer starts without it and sorts once inserts turn slow: `SLOW_BATCHES` batches in a
/// row above `SLOW_ROW` per row (BENCHMARKS.md, 'Contacts in random key order').
#[derive(Default)]
struct Pace {
    /// Slow batches in a row; once there are `SLOW_BATCHES`, no batch is timed again.
    slow: u32,
}

const SLOW_ROW: Duration = Duration::from_micros(8);
const SLOW_BATCHES: u32 = 3;
/// Batches smaller than this say little about the order of the keys.
const PACE_ROWS: usize = 1_000;

impl Pace {
    fn took(&mut self, elapsed: Duration, rows: usize) {
        if rows < PACE_ROWS {
            return;
        }
        self.slow = if elapsed > SLOW_ROW * rows as u32 { self.slow + 1 } else { 0 };
    }

    fn sorting(&self) -> bool {
        self.slow >= SLOW_BATCHES
    }
}

/// Inserts the held new leads in key order; durably at the last transaction only (redb rolls
/// an interrupted sequence back to before the first).
fn insert_sorted(store: &Store, sorter: &mut Sorter) -> Result<(), StoreError> {
    sorter.drain(|leads, last| {
        let mut batch = Batch { contacts: leads, ..Batch::default() };
        store.apply(&mut batch, last)?;
        Ok(batch.contacts)
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::contacts::Contact;
    use crate::runtime::{Event, Lead, LeadStatus, Record};

    /// Writes batches of new leads (keys in scrambled order, one key twice) and a lead update
    /// through the writer thread, sorting or not, and reads back every lead's status.
    fn written(sorting: bool) -> Vec<(String, Option<String>, LeadStatus, Vec<Record>)> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.redb")).unwrap();
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (tx, rx) = sync_channel(1);
        let (spare_tx, _spare_rx) = sync_channel(8);
        std::thread::scope(|scope| {
            let thread =
                scope.spawn(|| apply(&store, rx, spare_tx, Pace { slow: if sorting { SLOW_BATCHES } else { 0 } }));
            for round in 0..3u32 {
                let mut leads = NewLeads::with_capacity(8, 64);
                for i in 0..1_200u32 {
                    let key = (i.wrapping_mul(7919) % 1_200 + round * 1_000).to_string();
                    let mut lead = Lead::new(key.clone(), at);
                    lead.status = if round == 0 { LeadStatus::Completed } else { LeadStatus::Failed };
                    let timezone = Some(format!("zone {round}"));
                    let history =
                        [Record { at, step: None, event: Event::Event { name: format!("import {round}").into() } }];
                    leads.push("c", &Contact { key, timezone, ..Contact::default() }, &lead, &history);
                }
                tx.send(Message::Write(Box::new(Batch { contacts: leads, ..Batch::default() }), true)).unwrap();
            }
            // An update after the new leads: applied after them, so it wins.
            let mut update = Lead::new("5", at);
            update.status = LeadStatus::Cancelled;
            tx.send(Message::Write(Box::new(Batch { leads: vec![("c".into(), update)], ..Batch::default() }), true))
                .unwrap();
            drop(tx);
            thread.join().unwrap().unwrap();
        });
        let mut out = Vec::new();
        store
            .for_each_lead("c", &mut |contact: &Contact, lead: &Lead| {
                out.push((contact.key.clone(), contact.timezone.clone(), lead.status, Vec::new()))
            })
            .unwrap();
        for (key, _, _, history) in &mut out {
            *history = store.history("c", key).unwrap();
        }
        out
    }

    #[test]
    fn sorting_new_leads_stores_the_same_as_inserting_them_as_they_come() {
        let direct = written(false);
        // Rounds overlap (1000..1199 come twice): the first handed over wins.
        assert_eq!(direct.len(), 3_200);
        let has = |key: &str, round: u32, status| {
            let history = vec![Record {
                at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                step: None,
                event: Event::Event { name: format!("import {round}").into() },
            }];
            direct.contains(&(key.to_string(), Some(format!("zone {round}")), status, history))
        };
        assert!(has("1100", 0, LeadStatus::Completed));
        assert!(has("2500", 2, LeadStatus::Failed));
        // Updated after it was imported: it keeps its contact.
        assert!(has("5", 0, LeadStatus::Cancelled));
        assert_eq!(written(true), direct);
    }

    #[test]
    fn inserts_turn_to_sorting_after_slow_batches_in_a_row() {
        let mut pace = Pace::default();
        let slow = SLOW_ROW * 4_000 * 2;
        pace.took(slow, 4_000);
        pace.took(Duration::ZERO, 4_000);
        pace.took(slow, 4_000);
        pace.took(slow, 500);
        assert!(!pace.sorting(), "a fast batch between resets the count, and small batches do not count");
        for _ in 1..SLOW_BATCHES {
            pace.took(slow, 4_000);
        }
        assert!(pace.sorting());
    }
}
