//! The one writer: a thread that applies batches to the store while the driver advances the
//! next leads, so that B-tree writes (and freeing each batch) use the second core.
//!
//! Batches are applied in the order given. `sync` waits until every batch handed over so far
//! is committed, so that reads see them; the driver calls it before it looks for due leads.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use crate::store::{Batch, Store, StoreError};

enum Message {
    Write(Batch, bool),
    Sync(SyncSender<()>),
}

pub struct Writer<'scope> {
    tx: Option<SyncSender<Message>>,
    thread: Option<ScopedJoinHandle<'scope, Result<(), StoreError>>>,
    /// Set when no thread could be started: batches are written by the caller.
    inline: Option<&'scope Store>,
}

impl<'scope> Writer<'scope> {
    /// Starts the writer thread on `store`. At most one batch waits for it: memory stays
    /// bounded however far ahead the driver runs.
    pub fn spawn<'env>(scope: &'scope Scope<'scope, 'env>, store: &'scope Store) -> Writer<'scope> {
        let (tx, rx) = sync_channel::<Message>(1);
        let thread =
            std::thread::Builder::new().name("herald-writer".into()).spawn_scoped(scope, move || apply(store, rx));
        match thread {
            Ok(thread) => Writer { tx: Some(tx), thread: Some(thread), inline: None },
            // No thread to be had: write on the caller's (same results, one core).
            Err(_) => Writer { tx: None, thread: None, inline: Some(store) },
        }
    }

    /// Hands a batch over; `durable` commits it with an fsync.
    pub fn write(&mut self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(store) = self.inline {
            return store.write(batch, durable).map(drop);
        }
        self.send(Message::Write(batch, durable))
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

fn apply(store: &Store, rx: Receiver<Message>) -> Result<(), StoreError> {
    for message in rx {
        match message {
            Message::Write(batch, durable) => {
                store.write(batch, durable)?;
            }
            Message::Sync(ack) => {
                let _ = ack.send(());
            }
        }
    }
    Ok(())
}
