//! A channel's answers (delivery reports, call outcomes, hand-overs finished) given to their
//! leads: each lead takes its answer as an input due at the answer's time, and the next page
//! advances it. A lead that is already final keeps the answer in its history and does not move.
//! An answer that settles its action marks the action's key done in the same transaction.

use std::collections::HashMap;

use super::error::RunError;
use crate::channel::Channel;
use crate::contacts::Contact;
use crate::runtime::{Lead, Record};
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

/// Stores every answer the channel has now in one durable transaction. An answer that names no
/// lead is reported and dropped (its key, if it settles, is still marked done).
pub fn store(store: &Store, channel: &mut dyn Channel) -> Result<Stored, RunError> {
    let answers = channel.answers();
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
                    crate::say!("run: channel `{}` answered {key}, which names no lead; ignored", channel.name());
                    continue;
                }
            },
        };
        if let Some(note) = answer.note {
            records.push(lead.note_error(answer.at, note.into()));
        }
        if let Some(input) = answer.input {
            if lead.status.is_final() {
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
