//! Actions in flight when their contact opts out: a channel may hold minutes of a slow `rate`
//! queued, and retries wait longer, so what was handed over before a STOP would still go out
//! after it. Once a batch that suppresses addresses is stored, the engine tells the channel
//! which keys in flight go to them, and the channel drops those not tried yet
//! (docs/channels.md, "How sending works").

use std::collections::HashSet;

use super::Runner;
use crate::runtime::{Action, Text};

/// An action handed to a channel that settles it later.
pub(super) struct Flight {
    pub channel: Text,
    pub since: std::time::Instant,
    /// The lead's contact key, as the suppression list holds it.
    contact: Text,
    /// The address as the action has it, and its campaign (whose region reads it): normalised
    /// only when an opt-out arrives, not for every action handed over.
    to: Text,
    campaign: Text,
}

impl Flight {
    pub(super) fn of(action: &Action, since: std::time::Instant) -> Flight {
        Flight {
            channel: action.channel.clone(),
            since,
            contact: action.contact.clone(),
            to: action.to.clone(),
            campaign: action.campaign.clone(),
        }
    }
}

impl Runner<'_, '_> {
    /// Tells the channel to withdraw what is in flight to `suppressed` (addresses or contact
    /// keys, just stored as suppressed).
    pub(super) fn withdraw(&mut self, suppressed: &[String]) {
        if suppressed.is_empty() || self.in_flight.is_empty() {
            return;
        }
        let suppressed: HashSet<&str> = suppressed.iter().map(String::as_str).collect();
        let region = |campaign: &str| {
            let live = self.campaigns.iter().find(|l| l.graph.id == campaign);
            live.and_then(|l| l.graph.contacts.region.as_deref())
        };
        // The address differs from the key in a campaign keyed by email that texts
        // `{{ contact.phone }}`: it is read as the suppression list holds it.
        let hit = |f: &Flight| {
            suppressed.contains(f.contact.as_str())
                || (f.to != f.contact
                    && crate::driver::guard::address_of(&f.to, region(&f.campaign))
                        .is_some_and(|to| suppressed.contains(to.as_str())))
        };
        let keys: Vec<String> = self.in_flight.iter().filter(|(_, f)| hit(f)).map(|(key, _)| key.clone()).collect();
        if !keys.is_empty() {
            self.channel.withdraw(&keys);
        }
    }
}
