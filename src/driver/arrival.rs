//! What the live server hands the engine (`run --listen`): events and outcomes that arrived over
//! HTTP, each applied once under its key, and the verdict sent back to the request only after
//! the transaction that stored it is durable (group commit: one fsync for many requests).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::events::Inbound;
use crate::runtime::Input;

/// One thing to apply.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// A §6 event: its lead is found as `ingest` finds it (campaign named or the contact's only
    /// one; the contact normalised as at import).
    Event(Inbound),
    /// A message the contact sent (an inbound SMS), naming no campaign: when several campaigns
    /// have the contact, it goes to the lead that waits for a reply, else to the one that moved
    /// last, rather than being refused as an ambiguous event is.
    Message(Inbound),
    /// The outcome of the action under `key` (`campaign/contact/step/attempt`): a Twilio status
    /// callback, an AI calling provider's end-of-call report.
    Outcome { key: String, input: Input, at: DateTime<Utc>, notes: Option<CallNotes> },
}

/// What a call report says beyond its outcome, kept in the lead's history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallNotes {
    pub summary: Option<String>,
    pub transcript: Option<String>,
    pub recording_url: Option<String>,
}

/// An arrival and the id it is applied once under.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub arrival: Arrival,
    /// The sender's idempotency id (`webhook-id`, Twilio's `MessageSid` and status, a provider's
    /// call id). `None`: an event's own key (`event_key`), as `ingest` keys it.
    pub id: Option<String>,
}

/// What became of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Stored, durably.
    Applied,
    /// Applied before (its id is taken): nothing changed.
    Duplicate,
    /// No such campaign or lead (HTTP 404).
    NotFound(String),
    /// Understood but not applicable (HTTP 422): an outcome for no action in flight, a contact in
    /// several campaigns.
    Unprocessable(String),
    /// The engine could not store it (HTTP 503): the sender should retry.
    Unavailable(String),
}

/// A request's items and where its verdicts go.
pub struct Delivery {
    pub items: Vec<Item>,
    pub reply: tokio::sync::oneshot::Sender<Vec<Verdict>>,
}

/// The queue between the server's handlers and the engine. The engine takes everything queued
/// at once, stores it in one transaction and answers each delivery.
pub struct Inbox {
    queue: Mutex<Vec<Delivery>>,
    wake: Arc<tokio::sync::Notify>,
    closed: AtomicBool,
}

impl Inbox {
    pub fn new(wake: Arc<tokio::sync::Notify>) -> Arc<Inbox> {
        Arc::new(Inbox { queue: Mutex::new(Vec::new()), wake, closed: AtomicBool::new(false) })
    }

    /// Queues the items; the receiver gets one verdict per item, in order. `None` once the
    /// engine has stopped taking arrivals (the process is stopping).
    pub fn send(&self, items: Vec<Item>) -> Option<tokio::sync::oneshot::Receiver<Vec<Verdict>>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            queue.push(Delivery { items, reply });
        }
        self.wake.notify_one();
        Some(answer)
    }

    /// Everything queued so far.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether anything waits.
    pub fn is_empty(&self) -> bool {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Refuses further arrivals; returns those still queued (to be answered as unavailable).
    pub fn close(&self) -> Vec<Delivery> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        std::mem::take(&mut *queue)
    }
}

/// The campaign, contact and step of an action key (`campaign/contact/step/attempt`; the
/// contact may hold slashes, the campaign id and step name do not).
pub fn split_key(key: &str) -> Option<(&str, &str, &str, u32)> {
    let (campaign, rest) = key.split_once('/')?;
    let (rest, attempt) = rest.rsplit_once('/')?;
    let (contact, step) = rest.rsplit_once('/')?;
    let attempt = attempt.parse().ok()?;
    if campaign.is_empty() || contact.is_empty() || step.is_empty() {
        return None;
    }
    Some((campaign, contact, step, attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_with_slashes_in_the_contact() {
        assert_eq!(split_key("c/+1415/call/2"), Some(("c", "+1415", "call", 2)));
        assert_eq!(split_key("c/a/b/call/12"), Some(("c", "a/b", "call", 12)));
        for bad in ["", "c", "c/x", "c/x/2", "c/x/s/n", "/x/s/1", "c//s/1"] {
            assert_eq!(split_key(bad), None, "{bad}");
        }
    }
}
