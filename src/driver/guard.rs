//! The last checks before an action leaves for its channel: the address it goes to is not
//! suppressed (whatever the lead's key is: a campaign keyed by email that texts
//! `{{ contact.phone }}` checks that phone), and an action recorded earlier (by `ingest`, or
//! before a crash) is still wanted now: its campaign not cancelled, its contact not opted out
//! since, and the schedule window open in the contact's zone.

use chrono::{DateTime, Utc};

use crate::contacts::{Contact, normalise_address};
use crate::graph::Graph;
use crate::runtime::scope::timezone_of;
use crate::runtime::window;
use crate::runtime::{Action, Event, Record, Text};
use crate::store::{Batch, CampaignStatus, Store, StoreError};

/// Whether the contact's key, or one of its phone numbers or emails (normalised at import: a
/// cell that starts with `+` or holds an `@`), is suppressed: a lead whose key is an email ends
/// as an opt-out when its phone opted out.
pub fn contact_suppressed(store: &Store, contact: &Contact) -> Result<bool, StoreError> {
    if store.is_suppressed(&contact.key)? {
        return Ok(true);
    }
    for (_, value) in contact.fields.iter() {
        let Some(text) = value.as_str() else { continue };
        if text != contact.key && (text.starts_with('+') || text.contains('@')) && store.is_suppressed(text)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first of `actions` whose address is suppressed (in the store, or by this batch), as
/// normalised: `None` when every one may go.
pub fn suppressed_to(
    store: &Store,
    batch: &Batch,
    actions: &[Action],
    region: Option<&str>,
) -> Result<Option<String>, StoreError> {
    for action in actions {
        let Some(address) = address_of(&action.to, region) else { continue };
        if batch.suppress.contains(&address) || store.is_suppressed(&address)? {
            return Ok(Some(address));
        }
    }
    Ok(None)
}

/// An action's address (`to`) as the suppression list holds it: a phone in E.164 (read in the
/// campaign's `region`), an email lower-cased; None when it is neither.
pub fn address_of(to: &str, region: Option<&str>) -> Option<String> {
    let region = crate::contacts::parse_region(region.unwrap_or(crate::contacts::DEFAULT_REGION));
    normalise_address(to, region)
}

/// What becomes of an action recorded earlier, at the time it would be handed over.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Hand,
    /// Not now (its window is closed, its campaign paused): it stays recorded for a later run.
    Hold,
    /// Never: marked done without being handed over, with the reason in the lead's history.
    Drop(String),
}

/// Whether an action recorded earlier may be handed over at `now`. `graph` is its campaign's,
/// when this run has the file (for the window and the region of its address).
pub fn recheck(
    store: &Store,
    action: &Action,
    status: Option<CampaignStatus>,
    graph: Option<&Graph>,
    now: DateTime<Utc>,
) -> Result<Verdict, StoreError> {
    match status {
        Some(CampaignStatus::Cancelled) => return Ok(Verdict::Drop("the campaign was cancelled".into())),
        Some(CampaignStatus::Paused) => return Ok(Verdict::Hold),
        _ => {}
    }
    let region = graph.and_then(|g| g.contacts.region.as_deref());
    if store.is_suppressed(&action.contact)? {
        return Ok(Verdict::Drop(format!("{} opted out", action.contact)));
    }
    if let Some(address) = suppressed_to(store, &Batch::default(), std::slice::from_ref(action), region)? {
        return Ok(Verdict::Drop(format!("{address} is suppressed")));
    }
    let Some(graph) = graph else { return Ok(Verdict::Hand) };
    let Some((contact, _)) = store.lead(&action.campaign, &action.contact)? else { return Ok(Verdict::Hand) };
    Ok(match window::next_open(&graph.schedule, timezone_of(graph, &contact), now) {
        Some(open) if open <= now => Verdict::Hand,
        Some(_) => Verdict::Hold,
        None => Verdict::Drop("the schedule window never opens".into()),
    })
}

/// Marks a dropped action done and says why in its lead's history.
pub fn drop_action(
    store: &Store,
    batch: &mut Batch,
    action: &Action,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    batch.done.push(action.key.to_string());
    let Some((_, mut lead)) = store.lead(&action.campaign, &action.contact)? else { return Ok(()) };
    let record = Record {
        at: now,
        step: Some(action.step.clone()),
        event: Event::Error { reason: Text::from(format!("{} not handed over: {reason}", action.key)) },
    };
    batch.history.push((action.campaign.to_string(), action.contact.to_string(), lead.seq, vec![record]));
    lead.seq += 1;
    batch.leads.push((action.campaign.to_string(), lead));
    Ok(())
}
