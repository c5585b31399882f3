//! Live edits (docs/run.md): cursors are stored by step id, so when a campaign file changed since
//! the database last saw it, leads parked on a step id the file no longer has either follow the
//! file's `moved:` map or stop the run with a message naming the step and how many leads are
//! there.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::RunError;
use super::frequency::Capped;
use crate::graph::Graph;
use crate::runtime::relocate;
use crate::store::{Batch, Store};

const BATCH: usize = 10_000;

/// `at_once` is the channel's answer to an action the moment it takes it.
pub fn apply(
    store: &Store,
    graph: &Graph,
    pacer: &mut Capped<'_, '_>,
    now: DateTime<Utc>,
    at_once: super::step::AtOnce<'_>,
) -> Result<(), RunError> {
    let mut orphans: BTreeMap<String, u64> = BTreeMap::new();
    let mut moved = Vec::new();
    store.for_each_lead(&graph.id, |contact, lead| {
        let Some(step) = lead.step.as_deref() else { return };
        if lead.status.is_final() || graph.state(step).is_some() {
            return;
        }
        match graph.moved.iter().find(|(old, _)| old == step) {
            Some((_, target)) => moved.push((contact.clone(), lead.clone(), *target)),
            None => *orphans.entry(step.to_string()).or_default() += 1,
        }
    })?;
    if !orphans.is_empty() {
        let list: Vec<String> = orphans
            .iter()
            .map(|(step, n)| {
                format!("step `{step}` no longer exists and {n} lead{} there", if *n == 1 { " is" } else { "s are" })
            })
            .collect();
        let (first, _) = orphans.iter().next().map(|(s, n)| (s.clone(), *n)).unwrap_or_default();
        return Err(RunError::Content(format!(
            "campaign `{}` changed since the last run: {}\n  help: add `moved: {{ {first}: <step id> }}` at the top level of the file to send them to another step",
            graph.id,
            list.join("; ")
        )));
    }
    if moved.is_empty() {
        return Ok(());
    }
    crate::say!("run: {}: moving {} leads from removed steps (`moved:`)", graph.id, moved.len());
    for chunk in moved.chunks_mut(BATCH) {
        let mut batch = Batch::default();
        for (contact, lead, target) in chunk.iter_mut() {
            // The target may be a step the lead acted on before: its keys go on from there.
            lead.count_history(&store.history(&graph.id, &contact.key)?, &graph.id);
            let result = relocate(graph, pacer, lead, contact, *target, now);
            let first_seq = lead.seq - result.records.len() as u32;
            batch.history.push((graph.id.clone(), contact.key.clone(), first_seq, result.records));
            super::step::apply_effects(result.effects, lead, now, &mut batch, at_once);
            batch.leads.push((graph.id.clone(), lead.clone()));
        }
        if let Some(error) = pacer.take_error() {
            return Err(error.into());
        }
        batch.sends = pacer.rows(now);
        store.write(batch, true)?;
    }
    Ok(())
}
