//! A channel's answers (delivery reports, call outcomes) given to their leads: each lead takes
//! its answer as an input due at the answer's time, and the next page advances it. A lead that
//! is already final keeps the answer in its history and does not move.

use std::collections::HashMap;

use super::error::RunError;
use crate::channel::Channel;
use crate::contacts::Contact;
use crate::runtime::{Lead, Record};
use crate::store::Batch;
use crate::store::Store;

/// Stores every answer the channel has now in one durable transaction; returns how many moved
/// a lead. An answer that names no lead is reported and dropped.
pub fn store(store: &Store, channel: &mut dyn Channel) -> Result<usize, RunError> {
    let answers = channel.answers();
    if answers.is_empty() {
        return Ok(0);
    }
    let mut changed: HashMap<(String, String), (Contact, Lead, Vec<Record>)> = HashMap::new();
    let mut order = Vec::new();
    for answer in answers {
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
        if lead.status.is_final() {
            records.push(lead.note(answer.at, &answer.input));
        } else {
            lead.deliver_at(answer.at, answer.input);
        }
        changed.insert(id, (contact, lead, records));
    }
    let mut batch = Batch::default();
    for id in order {
        let Some((contact, lead, records)) = changed.remove(&id) else { continue };
        if !records.is_empty() {
            let first_seq = lead.seq - records.len() as u32;
            batch.history.push((id.0.clone(), contact.key, first_seq, records));
        }
        batch.leads.push((id.0, lead));
    }
    let n = batch.leads.len();
    store.write(batch, true)?;
    Ok(n)
}
