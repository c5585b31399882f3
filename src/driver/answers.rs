//! A channel's answers (delivery reports, call outcomes, hand-overs finished) given to their
//! leads: each lead takes its answer as an input due at the answer's time, and the next page
//! advances it. A lead that is already final keeps the answer in its history and does not move.
//! An answer that settles its action marks the action's key done in the same transaction.

use std::collections::HashMap;

use super::error::RunError;
use crate::channel::{Answer, Channel};
use crate::contacts::Contact;
use crate::runtime::{Input, Lead, Park, Record};
use crate::store::Batch;
use crate::store::Store;

/// What one `store` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Leads given an answer.
    pub leads: usize,
    /// Keys of actions whose hand-over finished (now done).
    pub settled: Vec<String>,
}

/// Answers taken from the channel and not stored yet: stored together, so that a stream of
/// answers costs one durable commit per batch, not one per arrival.
#[derive(Default)]
pub struct Pending {
    answers: Vec<Answer>,
    since: Option<std::time::Instant>,
}

/// Answers stored together at most this late, or once this many wait.
const BATCH_AGE: std::time::Duration = std::time::Duration::from_millis(100);
const BATCH_SIZE: usize = 5_000;

impl Pending {
    /// Takes what the channel has; returns the keys it settles (their hand-over is over), each
    /// with what settled it (`sent`, `failed`, …).
    pub fn take(&mut self, channel: &mut dyn Channel) -> Vec<(String, &'static str)> {
        let new = channel.answers();
        if new.is_empty() {
            return Vec::new();
        }
        self.since.get_or_insert_with(std::time::Instant::now);
        let settled = new.iter().filter(|a| a.settles).map(|a| (a.key.clone(), result(a))).collect();
        self.answers.extend(new);
        settled
    }

    /// When the answers waiting must be stored at the latest; None when none wait.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.since.map(|since| since + BATCH_AGE)
    }

    /// Stores the answers waiting if there are enough, or they waited long enough, or `force`.
    pub fn store(&mut self, store: &Store, channel: &str, force: bool) -> Result<usize, RunError> {
        let due = self.answers.len() >= BATCH_SIZE || self.deadline().is_some_and(|d| d <= std::time::Instant::now());
        if self.answers.is_empty() || !(force || due) {
            return Ok(0);
        }
        self.since = None;
        Ok(write(store, channel, std::mem::take(&mut self.answers))?.leads)
    }
}

/// What settled an action, in a word of the vocabulary (for `/metrics`).
fn result(answer: &Answer) -> &'static str {
    let status = match &answer.input {
        Some(Input::Delivery { status } | Input::Call { status, .. }) => status.as_str(),
        _ => return "settled",
    };
    crate::vocab::MessageOutcome::parse(status)
        .map(|o| o.as_str())
        .or_else(|| crate::vocab::CallOutcome::parse(status).map(|o| o.as_str()))
        .unwrap_or("settled")
}

/// Stores answers in one durable transaction. An answer that names no lead is reported and
/// dropped (its key, if it settles, is still marked done).
pub fn write(store: &Store, channel: &str, answers: Vec<Answer>) -> Result<Stored, RunError> {
    if answers.is_empty() {
        return Ok(Stored::default());
    }
    let mut changed: HashMap<(String, String), (Contact, Lead, Vec<Record>)> = HashMap::new();
    let mut order = Vec::new();
    let mut batch = Batch::default();
    for answer in answers {
        if answer.settles {
            batch.done.push(answer.key.clone());
        }
        if answer.input.is_none() && answer.note.is_none() {
            continue;
        }
        let id = (answer.campaign.clone(), answer.contact.clone());
        let (contact, mut lead, mut records) = match changed.remove(&id) {
            Some(entry) => entry,
            None => match store.lead(&answer.campaign, &answer.contact)? {
                Some((contact, lead)) => {
                    order.push(id.clone());
                    (contact, lead, Vec::new())
                }
                None => {
                    let key = crate::terminal::clean(&answer.key);
                    crate::say!("run: channel `{channel}` answered {key}, which names no lead; ignored");
                    continue;
                }
            },
        };
        if let Some(note) = answer.note {
            records.push(lead.note_error(answer.at, note.into()));
        }
        if let Some(input) = answer.input {
            // An outcome for an action the lead no longer has in flight (its timeout moved it
            // on, to a retry perhaps) is kept in its history and decides nothing.
            let stale = matches!(input, Input::Delivery { .. } | Input::Call { .. }) && !in_flight(&lead, &answer.key);
            if lead.status.is_final() || stale {
                records.push(lead.note(answer.at, &input));
            } else {
                lead.deliver_at(answer.at, input);
            }
        }
        changed.insert(id, (contact, lead, records));
    }
    let settled = batch.done.clone();
    for id in order {
        let Some((contact, lead, records)) = changed.remove(&id) else { continue };
        if !records.is_empty() {
            let first_seq = lead.seq - records.len() as u32;
            batch.history.push((id.0.clone(), contact.key, first_seq, records));
        }
        batch.leads.push((id.0, lead));
    }
    let leads = batch.leads.len();
    store.write(batch, true)?;
    Ok(Stored { leads, settled })
}

/// Whether `key` (`campaign/contact/step/attempt`) is the action `lead` waits on now.
pub(super) fn in_flight(lead: &Lead, key: &str) -> bool {
    let mut parts = key.rsplitn(3, '/');
    let (Some(attempt), Some(step)) = (parts.next(), parts.next()) else { return false };
    let Ok(attempt) = attempt.parse::<u32>() else { return false };
    let Some(current) = lead.step.as_deref() else { return false };
    if lead.park != Park::Outcome || current != step {
        return false;
    }
    // A step a lead can come back to counts its actions across visits (`Lead::key_attempt`).
    let expected = lead.acts.iter().find(|(s, _)| s.as_str() == step).map_or(lead.attempts, |(_, n)| *n);
    attempt == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_action_in_flight_takes_an_outcome() {
        let mut lead = Lead::new("a/b", chrono::DateTime::UNIX_EPOCH);
        lead.step = Some("call".into());
        lead.park = Park::Outcome;
        lead.attempts = 2;
        assert!(in_flight(&lead, "c/a/b/call/2"), "the contact's key may hold slashes");
        assert!(!in_flight(&lead, "c/a/b/call/1"), "an earlier attempt's late answer");
        assert!(!in_flight(&lead, "c/a/b/other/2"));
        lead.acts.push(("call".into(), 5));
        assert!(in_flight(&lead, "c/a/b/call/5"), "a step counted across visits");
        lead.park = Park::Act;
        assert!(!in_flight(&lead, "c/a/b/call/5"), "waiting to retry: nothing in flight");
    }
}
