//! The one writer: a thread that applies batches to the store while the driver advances the
//! next leads, so that B-tree writes (and freeing each batch) use the second core.
//!
//! Batches are applied in the order given. `sync` waits until every batch handed over so far
//! is committed, so that reads see them; the driver calls it before it looks for due leads.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

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
            .spawn_scoped(scope, move || apply(store, rx, spare_tx));
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

fn apply(store: &Store, rx: Receiver<Message>, spare: SyncSender<NewLeads>) -> Result<(), StoreError> {
    for message in rx {
        match message {
            Message::Write(mut batch, durable) => {
                store.apply(&batch, durable)?;
                batch.contacts.clear();
                // Given back if the driver wants it; else dropped here.
                let _ = spare.try_send(batch.contacts);
            }
            Message::Sync(ack) => {
                let _ = ack.send(());
            }
        }
    }
    Ok(())
}
