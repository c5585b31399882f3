//! `herald pause|resume|cancel|retry-failed CAMPAIGN`: campaign status changes, and the lead
//! changes that come with them. Every write is durable; lead changes go `CHUNK` leads per
//! transaction, so that cancelling a million leads neither holds them all in one transaction
//! nor pays one fsync per lead.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::Utc;

use super::{OpsError, leads, say_out, status_name};
use crate::runtime::{Lead, LeadStatus, Record};
use crate::store::{Batch, CampaignRecord, CampaignStatus, Store};
use crate::vocab::Reason;

/// Leads per write transaction.
const CHUNK: usize = 10_000;

pub fn pause(db: &Path, id: &str, out: &mut dyn Write) -> Result<(), OpsError> {
    let mut store = super::open(db)?;
    let mut record = super::campaign(&store, id)?;
    let was = record.status;
    match was {
        CampaignStatus::Paused => return say_out(out, &format!("campaign `{id}` is already paused; nothing changed")),
        CampaignStatus::Running | CampaignStatus::Scheduled => {}
        CampaignStatus::Draft => {
            return refuse(format!("campaign `{id}` is a draft: it has not started, so it cannot be paused"));
        }
        CampaignStatus::Completed | CampaignStatus::Cancelled => {
            return refuse(format!("campaign `{id}` is {}: there is nothing left to pause", status_name(was)));
        }
    }
    record.status = CampaignStatus::Paused;
    put_campaign(&mut store, record)?;
    say_out(out, &format!("paused campaign `{id}` (was {}); `herald resume {id}` carries on", status_name(was)))
}

pub fn resume(db: &Path, id: &str, out: &mut dyn Write) -> Result<(), OpsError> {
    let mut store = super::open(db)?;
    let mut record = super::campaign(&store, id)?;
    match record.status {
        CampaignStatus::Paused => {}
        CampaignStatus::Running | CampaignStatus::Scheduled => {
            let current = status_name(record.status);
            return say_out(out, &format!("campaign `{id}` is not paused (it is {current}); nothing changed"));
        }
        CampaignStatus::Cancelled => {
            return refuse(format!("campaign `{id}` is cancelled, and a cancelled campaign never resumes"));
        }
        CampaignStatus::Completed => {
            return refuse(format!(
                "campaign `{id}` is completed: every lead is final (`herald retry-failed {id}` or `herald lead reset` give it work again)"
            ));
        }
        CampaignStatus::Draft => return refuse(format!("campaign `{id}` is a draft: `herald run` starts it")),
    }
    // A campaign paused before its start goes back to waiting for it (`run` records the start
    // only once the campaign has started, and works out its status again then).
    let line = match record.started_at {
        Some(start) if start > Utc::now() => {
            record.status = CampaignStatus::Scheduled;
            format!("resumed campaign `{id}`: scheduled, it starts {}", start.format("%Y-%m-%d %H:%M UTC"))
        }
        None => {
            record.status = CampaignStatus::Scheduled;
            format!("resumed campaign `{id}`: scheduled, it has not started yet")
        }
        Some(_) => {
            record.status = CampaignStatus::Running;
            format!("resumed campaign `{id}`: running")
        }
    };
    put_campaign(&mut store, record)?;
    say_out(out, &line)
}

pub fn cancel(db: &Path, id: &str, out: &mut dyn Write) -> Result<(), OpsError> {
    let mut store = super::open(db)?;
    let mut record = super::campaign(&store, id)?;
    let was = record.status;
    if was == CampaignStatus::Completed {
        return refuse(format!("campaign `{id}` is completed: every lead is final, there is nothing to cancel"));
    }
    // The status first: if the sweep below is interrupted, the campaign is already cancelled
    // and running `cancel` again finishes the sweep.
    record.status = CampaignStatus::Cancelled;
    let done = withdraw(&store, id, None)?;
    store.write(Batch { campaigns: vec![record], done, ..Batch::default() }, true)?;
    let mut open = Vec::new();
    let mut already = 0u64;
    store.for_each_lead(id, |_, lead| {
        if lead.status.is_final() {
            already += 1;
        } else {
            open.push(lead.contact.clone());
        }
    })?;
    let now = Utc::now();
    let cancelled = rewrite(&mut store, id, &open, |lead| {
        (!lead.status.is_final()).then(|| vec![lead.end_by_hand(Reason::CampaignCancelled, now)])
    })?;
    let line = if was == CampaignStatus::Cancelled && cancelled == 0 {
        format!("campaign `{id}` is already cancelled; nothing changed")
    } else {
        format!(
            "cancelled campaign `{id}` (was {}): {} cancelled, {already} already final",
            status_name(was),
            leads(cancelled)
        )
    };
    say_out(out, &line)
}

pub fn retry_failed(db: &Path, id: &str, out: &mut dyn Write) -> Result<(), OpsError> {
    let mut store = super::open(db)?;
    let mut record = super::campaign(&store, id)?;
    if record.status == CampaignStatus::Cancelled {
        return refuse(format!("campaign `{id}` is cancelled: its leads never run again"));
    }
    let failed = Failed::find(&store, id)?;
    let now = Utc::now();
    let retried = rewrite(&mut store, id, &failed.retry, |lead| {
        (lead.status == LeadStatus::Failed && retryable(lead)).then(|| vec![lead.put_back(now)])
    })?;
    if retried > 0 && record.status == CampaignStatus::Completed {
        record.status = CampaignStatus::Running;
        put_campaign(&mut store, record.clone())?;
    }
    let mut line = match retried {
        0 => format!("no failed lead of `{id}` to retry"),
        n => format!("retried {} of `{id}`: due now, on the step they failed on", leads(n)),
    };
    line += &failed.left_over();
    if retried > 0 && record.status == CampaignStatus::Paused {
        line += &format!(" (the campaign is paused: they run after `herald resume {id}`)");
    }
    say_out(out, &line)
}

/// A campaign's failed leads: those to retry, and those left failed.
struct Failed {
    retry: Vec<String>,
    /// Failure reason -> leads that failed for it away from a send or call step.
    elsewhere: BTreeMap<String, u64>,
    /// Leads whose contact has opted out since: herald never contacts them again.
    suppressed: u64,
}

impl Failed {
    fn find(store: &Store, id: &str) -> Result<Failed, OpsError> {
        let mut failed = Failed { retry: Vec::new(), elsewhere: BTreeMap::new(), suppressed: 0 };
        let mut error = None;
        store.for_each_lead(id, |contact, lead| {
            if lead.status != LeadStatus::Failed || error.is_some() {
                return;
            }
            match store.is_suppressed(&contact.key) {
                Ok(true) => failed.suppressed += 1,
                Ok(false) if retryable(lead) => failed.retry.push(lead.contact.clone()),
                Ok(false) => {
                    let reason = lead.outcome.clone().unwrap_or_else(|| "no reason".into());
                    *failed.elsewhere.entry(reason).or_default() += 1;
                }
                Err(e) => error = Some(e),
            }
        })?;
        match error {
            Some(e) => Err(e.into()),
            None => Ok(failed),
        }
    }

    /// What was not retried, and why ("" when everything was).
    fn left_over(&self) -> String {
        let mut text = String::new();
        if !self.elsewhere.is_empty() {
            let reasons: Vec<String> = self.elsewhere.iter().map(|(reason, n)| format!("{reason}: {n}")).collect();
            let n = leads(self.elsewhere.values().sum());
            text += &format!("; left {n} failed ({}): fix the campaign, then `herald lead reset`", reasons.join(", "));
        }
        if self.suppressed > 0 {
            text += &format!("; left {} failed whose contact has opted out", leads(self.suppressed));
        }
        text
    }
}

fn retryable(lead: &Lead) -> bool {
    lead.step.is_some() && lead.outcome.as_deref().and_then(Reason::parse).is_some_and(Reason::retryable)
}

/// Applies `change` to the leads with these keys, re-read one by one and written `CHUNK` per
/// transaction with the history records it returns; `None` leaves a lead as it is. Returns
/// how many changed.
fn rewrite(
    store: &mut Store,
    campaign: &str,
    keys: &[String],
    mut change: impl FnMut(&mut Lead) -> Option<Vec<Record>>,
) -> Result<u64, OpsError> {
    let mut changed = 0;
    for chunk in keys.chunks(CHUNK) {
        let mut batch = Batch::default();
        for key in chunk {
            let Some((_, mut lead)) = store.lead(campaign, key)? else { continue };
            let first_seq = lead.seq;
            if let Some(records) = change(&mut lead) {
                batch.history.push((campaign.to_string(), key.clone(), first_seq, records));
                batch.leads.push((campaign.to_string(), lead));
                changed += 1;
            }
        }
        store.write(batch, true)?;
    }
    Ok(changed)
}

/// Keys of the actions recorded for the campaign (or one of its contacts) and not yet handed
/// to a channel. Marked done, they are withdrawn: a restart does not re-offer them.
pub(super) fn withdraw(store: &Store, campaign: &str, contact: Option<&str>) -> Result<Vec<String>, OpsError> {
    let pending = store.pending_actions()?;
    let ours = pending.into_iter().filter(|a| a.campaign == campaign && contact.is_none_or(|c| a.contact == c));
    Ok(ours.map(|a| a.key.into_string()).collect())
}

pub(super) fn put_campaign(store: &mut Store, record: CampaignRecord) -> Result<(), OpsError> {
    store.write(Batch { campaigns: vec![record], ..Batch::default() }, true)?;
    Ok(())
}

fn refuse(message: String) -> Result<(), OpsError> {
    Err(OpsError::Refused(message))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::runtime::{Park, Text};

    fn failed(reason: Option<&str>, step: Option<&str>) -> Lead {
        let mut lead = Lead::new("+14155550100", Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
        lead.status = LeadStatus::Failed;
        lead.outcome = reason.map(str::to_string);
        lead.step = step.map(Text::new);
        lead.park = Park::Outcome;
        lead
    }

    #[test]
    fn only_failures_at_a_send_or_call_step_are_retried() {
        assert!(retryable(&failed(Some("max_retries"), Some("remind"))));
        assert!(retryable(&failed(Some("window_never_opens"), Some("remind"))));
        assert!(retryable(&failed(Some("render_failed"), Some("remind"))));
        assert!(!retryable(&failed(Some("loop"), Some("branch_a"))));
        assert!(!retryable(&failed(Some("step_missing"), Some("renamed"))));
        assert!(!retryable(&failed(None, Some("remind"))));
        assert!(!retryable(&failed(Some("max_retries"), None)));
    }
}
