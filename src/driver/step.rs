//! The one step function of `run`, `ingest` and live edits: feed a lead every input due by
//! `now` and collect what it asks of the world in a `Batch` (actions for the outbox, addresses
//! for the suppression list).

use chrono::{DateTime, Utc};

use crate::contacts::Contact;
use crate::graph::Graph;
use crate::runtime::{Action, Effect, Input, Lead, Record, step_due};
use crate::store::Batch;

/// What the channel answers the moment it takes an action (`Channel::answer_at_once`).
pub type AtOnce<'c> = &'c dyn Fn(&Action) -> Option<Input>;

/// Feeds the lead every input due by `now`. Actions go to the outbox; an action the channel
/// answers at once (a `log` message is `sent`) moves the lead on in the same pass; others wait
/// for the channel's answer. A lead whose contact is on the suppression list (an opt-out in
/// any campaign) ends `opted_out` before it can act again.
#[allow(clippy::too_many_arguments)]
pub fn step(
    graph: &Graph,
    pacer: &mut dyn crate::runtime::Pacer,
    contact: &Contact,
    lead: &mut Lead,
    now: DateTime<Utc>,
    batch: &mut Batch,
    suppressed: bool,
    at_once: AtOnce<'_>,
) -> Vec<Record> {
    let mut records = Vec::new();
    let first = (suppressed && !lead.status.is_final()).then_some(Input::OptOut);
    step_due(graph, pacer, contact, lead, now, first, &mut records, |effect, lead| {
        apply_effect(effect, lead, now, batch, at_once)
    });
    records
}

/// What the driver does with an advance's effects: actions to the outbox, opt-outs to the
/// suppression list.
pub fn apply_effects(
    effects: Vec<Effect>,
    lead: &mut Lead,
    now: DateTime<Utc>,
    batch: &mut Batch,
    at_once: AtOnce<'_>,
) {
    for effect in effects {
        apply_effect(effect, lead, now, batch, at_once);
    }
}

fn apply_effect(effect: Effect, lead: &mut Lead, now: DateTime<Utc>, batch: &mut Batch, at_once: AtOnce<'_>) {
    match effect {
        Effect::Act(action) => {
            if let Some(input) = at_once(&action) {
                lead.deliver_at(now, input);
            }
            batch.outbox.push(*action);
        }
        Effect::Suppress(address) => batch.suppress.push(address),
    }
}
