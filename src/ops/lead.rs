//! `herald lead reset|complete|remove CAMPAIGN CONTACT`: manage one lead by hand.

use std::io::Write;
use std::path::Path;

use chrono::Utc;

use super::lifecycle::{put_campaign, withdraw};
use super::{OpsError, say_out};
use crate::contact::Contact;
use crate::diagnostic::closest;
use crate::runtime::{Lead, LeadStatus};
use crate::store::{Batch, CampaignRecord, CampaignStatus, Store};
use crate::vocab::Reason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadAction {
    Reset,
    Complete,
    Remove,
}

pub fn command(
    db: &Path,
    action: LeadAction,
    campaign: &str,
    typed: &str,
    out: &mut dyn Write,
) -> Result<(), OpsError> {
    let mut store = super::open(db)?;
    let record = super::campaign(&store, campaign)?;
    let (contact, lead) = find(&store, &record, typed)?;
    let line = match action {
        LeadAction::Reset => reset(&mut store, record, &contact, lead)?,
        LeadAction::Complete => complete(&mut store, campaign, lead)?,
        LeadAction::Remove => remove(&mut store, campaign, lead)?,
    };
    say_out(out, &line)
}

/// The campaign's lead for the contact as typed (a phone as written in an address book, an
/// email in any case), or an error with the closest key there is.
pub(super) fn find(store: &Store, record: &CampaignRecord, typed: &str) -> Result<(Contact, Lead), OpsError> {
    let campaign = record.id.as_str();
    for key in crate::contacts::lookup_keys(typed, record.region.as_deref()) {
        if let Some(found) = store.lead(campaign, &key)? {
            return Ok(found);
        }
    }
    let suggestion = suggest(store, campaign, typed)?;
    Err(OpsError::UnknownContact { campaign: campaign.into(), contact: typed.into(), suggestion })
}

/// Back to the start as a new lead. The seq is kept so that the history it writes next
/// follows the old one; nothing else is recorded.
fn reset(store: &mut Store, record: CampaignRecord, contact: &Contact, lead: Lead) -> Result<String, OpsError> {
    let campaign = record.id.clone();
    if record.status == CampaignStatus::Cancelled {
        return Err(OpsError::Refused(format!("campaign `{campaign}` is cancelled: its leads never run again")));
    }
    refuse_reset(store, contact, &lead)?;
    let key = &contact.key;
    // Every step may act again: its next action's key follows the ones already used there.
    let fresh = lead.restarted(&store.history(&campaign, key)?, &campaign, Utc::now());
    let done = withdraw(store, &campaign, Some(key))?;
    store.write(Batch { leads: vec![(campaign.clone(), fresh)], done, ..Batch::default() }, true)?;
    if record.status == CampaignStatus::Completed {
        put_campaign(store, CampaignRecord { status: CampaignStatus::Running, ..record })?;
    }
    let was = describe(&lead);
    Ok(format!("reset lead `{key}` of `{campaign}`: was {was}, now pending (it starts again at the first step)"))
}

fn complete(store: &mut Store, campaign: &str, mut lead: Lead) -> Result<String, OpsError> {
    let key = lead.contact.clone();
    if lead.status == LeadStatus::Completed {
        return Ok(format!("lead `{key}` of `{campaign}` is already completed; nothing changed"));
    }
    let was = describe(&lead);
    let first_seq = lead.seq;
    let record = lead.end_by_hand(Reason::Manual, Utc::now());
    let batch = Batch {
        history: vec![(campaign.into(), key.clone(), first_seq, vec![record])],
        leads: vec![(campaign.into(), lead)],
        done: withdraw(store, campaign, Some(&key))?,
        ..Batch::default()
    };
    store.write(batch, true)?;
    Ok(format!("completed lead `{key}` of `{campaign}` by hand: was {was}, now completed (outcome `manual`)"))
}

fn remove(store: &mut Store, campaign: &str, lead: Lead) -> Result<String, OpsError> {
    let key = lead.contact.clone();
    let done = withdraw(store, campaign, Some(&key))?;
    store.write(Batch { remove: vec![(campaign.into(), key.clone())], done, ..Batch::default() }, true)?;
    Ok(format!("removed lead `{key}` from `{campaign}` with its history (it was {})", describe(&lead)))
}

/// A reset must not undo what protects the contact: an opt-out, or the import's verdict.
fn refuse_reset(store: &Store, contact: &Contact, lead: &Lead) -> Result<(), OpsError> {
    let key = &contact.key;
    if lead.status == LeadStatus::OptedOut || store.is_suppressed(key)? {
        return Err(OpsError::Refused(format!(
            "contact `{key}` has opted out (suppressed in every campaign): herald will not contact it again"
        )));
    }
    if lead.status == LeadStatus::Skipped {
        let reason = lead.outcome.as_deref().unwrap_or("skipped");
        return Err(OpsError::Refused(format!(
            "lead `{key}` was skipped at import ({reason}), so it never started: fix the contact, then \
             `herald lead remove` it and import the contacts again"
        )));
    }
    Ok(())
}

/// "waiting at `await_reply`", "failed at `remind` (max_retries)", "pending".
fn describe(lead: &Lead) -> String {
    let mut text = lead.status.as_str().to_string();
    if let Some(step) = &lead.step {
        text += &format!(" at `{step}`");
    }
    if let Some(outcome) = lead.outcome.as_deref().filter(|_| lead.status.is_final()) {
        text += &format!(" ({outcome})");
    }
    text
}

/// The lead key closest to what was typed: the same digits (a phone typed as written in an
/// address book), else a near spelling.
fn suggest(store: &Store, campaign: &str, typed: &str) -> Result<Option<String>, OpsError> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let typed_digits = digits(typed);
    let (mut same_digits, mut near): (Option<String>, Option<(usize, String)>) = (None, None);
    store.for_each_lead(campaign, |_, lead| {
        let key = lead.contact.as_str();
        let key_digits = digits(key);
        if typed_digits.len() >= 7 && same_digits.is_none() && key_digits.ends_with(&typed_digits) {
            same_digits = Some(key.to_string());
        }
        if closest(typed, [key]).is_some() {
            let distance = strsim::damerau_levenshtein(&typed.to_lowercase(), &key.to_lowercase());
            if near.as_ref().is_none_or(|(best, _)| distance < *best) {
                near = Some((distance, key.to_string()));
            }
        }
    })?;
    Ok(same_digits.or(near.map(|(_, key)| key)))
}
