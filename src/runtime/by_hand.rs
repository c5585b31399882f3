//! Changes an operator makes to a lead by hand (`cancel`, `retry-failed`, `lead complete`,
//! `lead reset`) rather than the campaign: here beside the interpreter, so that what a final,
//! scheduled or fresh lead must look like (nothing due once final, the wake time kept with the
//! timer and inbox, one `seq` per history record) is kept in one place.

use chrono::{DateTime, Utc};

use super::lead::{Event, Lead, LeadStatus, Park, Record, Text};
use crate::vocab::Reason;

impl Lead {
    /// Ends the lead with the reason's status: final, nothing due, the reason as its outcome;
    /// the record says so.
    pub fn end_by_hand(&mut self, reason: Reason, now: DateTime<Utc>) -> Record {
        let status = reason.status();
        self.status = status;
        self.outcome = Some(reason.as_str().to_string());
        self.timer = None;
        self.inbox.clear();
        self.refresh_wake();
        self.seq += 1;
        let event = Event::Exit { lead_status: status, reason: Some(Text::new(reason.as_str())) };
        Record { at: now, step: self.step.clone(), event }
    }

    /// Back on the step it failed on, due now, as if it had never been tried there; its next
    /// action's idempotency key follows the ones already used there (`count_acts`).
    pub fn put_back(&mut self, now: DateTime<Utc>) -> Record {
        if let Some(step) = self.step.clone() {
            self.count_acts(&step, self.attempts);
        }
        self.status = LeadStatus::Scheduled;
        self.park = Park::Act;
        self.attempts = 0;
        self.outcome = None;
        self.timer = Some(now);
        self.inbox.clear();
        self.refresh_wake();
        self.seq += 1;
        Record { at: now, step: self.step.clone(), event: Event::Retry { attempt: 1, until: now } }
    }

    /// A new lead for the same contact, from the first step. Its `seq` follows the old
    /// history, and every step's next action key follows the actions in `history`.
    pub fn restarted(&self, history: &[Record], campaign: &str, now: DateTime<Utc>) -> Lead {
        let mut fresh = Lead { seq: self.seq, acts: self.acts.clone(), ..Lead::new(self.contact.clone(), now) };
        fresh.count_history(history, campaign);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::runtime::Input;

    fn failed(reason: Option<&str>, step: Option<&str>) -> Lead {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut lead = Lead::new("+14155550100", start);
        lead.status = LeadStatus::Failed;
        lead.outcome = reason.map(str::to_string);
        lead.step = step.map(Text::new);
        lead.park = Park::Outcome;
        lead.attempts = 4;
        lead.timer = None;
        lead.wake_at = None;
        lead.seq = 17;
        lead
    }

    #[test]
    fn a_lead_put_back_acts_on_its_step_again_now_under_a_new_key() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let mut lead = failed(Some("max_retries"), Some("remind"));
        let record = lead.put_back(now);
        assert_eq!((lead.status, lead.park, lead.attempts), (LeadStatus::Scheduled, Park::Act, 0));
        assert_eq!((lead.timer, lead.wake_at, lead.outcome.as_deref()), (Some(now), Some(now), None));
        assert_eq!(lead.step.as_deref(), Some("remind"));
        assert_eq!(lead.seq, 18);
        assert_eq!(
            record,
            Record { at: now, step: Some("remind".into()), event: Event::Retry { attempt: 1, until: now } }
        );
        lead.attempts = 1;
        assert_eq!(lead.key_attempt("remind", false), 5, "the four keys used before are not used again");
    }

    #[test]
    fn an_ended_lead_is_final_with_nothing_due() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let mut lead = Lead::new("a", now);
        lead.step = Some("listen".into());
        lead.status = LeadStatus::Waiting;
        lead.deliver_at(now, Input::OptOut);
        let record = lead.end_by_hand(Reason::CampaignCancelled, now);
        assert_eq!((lead.status, lead.wake_at, lead.timer), (LeadStatus::Cancelled, None, None));
        assert!(lead.inbox.is_empty());
        assert_eq!((lead.outcome.as_deref(), lead.seq), (Some("campaign_cancelled"), 1));
        let exit = Event::Exit { lead_status: LeadStatus::Cancelled, reason: Some("campaign_cancelled".into()) };
        assert_eq!(record, Record { at: now, step: Some("listen".into()), event: exit });
    }

    #[test]
    fn a_restarted_lead_is_pending_and_keeps_its_history_numbering_and_keys() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let old = failed(Some("max_retries"), Some("remind"));
        let sent = Event::Send {
            channel: "sms".into(),
            to: "+14155550100".into(),
            text: "hi".into(),
            key: "c/+14155550100/remind/3".into(),
            variant: None,
        };
        let history = [Record { at: now, step: Some("remind".into()), event: sent }];
        let mut fresh = old.restarted(&history, "c", now);
        assert_eq!((fresh.status, fresh.park, fresh.step.as_deref()), (LeadStatus::Pending, Park::Start, None));
        assert_eq!((fresh.seq, fresh.wake_at, fresh.outcome.as_deref()), (17, Some(now), None));
        fresh.attempts = 1;
        assert_eq!(fresh.key_attempt("remind", false), 4);
    }
}
