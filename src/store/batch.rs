//! One write transaction's worth of changes, and what writing it did.

use crate::runtime::{Action, Lead, Record};

use super::CampaignRecord;
use super::rows::NewLeads;

/// One write transaction's worth of changes (group commit: never one transaction per lead).
#[derive(Debug, Default)]
pub struct Batch {
    /// Upserted.
    pub campaigns: Vec<CampaignRecord>,
    /// New leads with their contact and first history, already encoded: each inserted only when
    /// the contact has no lead in the campaign yet.
    pub contacts: NewLeads,
    /// (campaign, lead): upserted, with the due index kept in step.
    pub leads: Vec<(String, Lead)>,
    /// (campaign, contact, first seq, records): one row per entry.
    pub history: Vec<(String, String, u32, Vec<Record>)>,
    /// Recorded actions, pending until named in `done`.
    pub outbox: Vec<Action>,
    /// Action keys now done.
    pub done: Vec<String>,
    /// Normalised addresses suppressed in every campaign.
    pub suppress: Vec<String>,
    /// (campaign, contact): leads deleted with their due entry and history (applied last).
    pub remove: Vec<(String, String)>,
    /// A contact of `contacts` that has a lead already gives it its fields (a re-import);
    /// otherwise the stored contact stays as it is.
    pub update_contacts: bool,
    /// Keys of the inbound events whose changes this batch holds (`ops::event_key`).
    pub events: Vec<Vec<u8>>,
    /// (contact key, its sends now): each contact's row for `policy.frequency`, replaced.
    pub sends: Vec<(String, Vec<super::Sent>)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.only_contacts()
    }

    /// Whether the batch holds new leads and nothing else (the writer may sort those).
    pub fn only_new_leads(&self) -> bool {
        !self.contacts.is_empty() && !self.update_contacts && self.only_contacts()
    }

    /// Whether every part but `contacts` is empty.
    fn only_contacts(&self) -> bool {
        self.campaigns.is_empty()
            && self.leads.is_empty()
            && self.history.is_empty()
            && self.outbox.is_empty()
            && self.done.is_empty()
            && self.suppress.is_empty()
            && self.remove.is_empty()
            && self.events.is_empty()
            && self.sends.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Contacts of `Batch::contacts` that were new (the others already had a lead).
    pub new_contacts: usize,
    /// Contacts that had a lead already and whose fields changed.
    pub updated_contacts: usize,
}
