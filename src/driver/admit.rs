//! Admission of CSV rows as leads: which row becomes a lead due now, which a `skipped` lead
//! (suppressed, or refused by the import with a key), and which none (a duplicate, no key).

use chrono::{DateTime, Utc};

use super::error::RunError;
use crate::contacts::{Contact, ImportSettings, Importer, Row, SkipReason};
use crate::graph::Graph;
use crate::runtime::{Lead, Record};
use crate::store::{Batch, Store};

/// New contacts per import transaction.
const IMPORT_BATCH: usize = 10_000;

/// Adds the CSV's new contacts to a campaign as leads due now (advanced by the first page).
pub fn import(
    store: &Store,
    graph: &Graph,
    path: &std::path::Path,
    mut rejects: Option<crate::contacts::Rejects>,
    now: DateTime<Utc>,
) -> Result<(), RunError> {
    let settings = ImportSettings::of(graph, now);
    let suppressions = store.has_suppressions()?;
    let mut report = crate::contacts::ImportReport::default();
    let fresh = || Batch { update_contacts: true, ..Batch::default() };
    let mut batch = fresh();
    let (mut added, mut updated) = (0, 0);
    let importer = Importer::open(path, settings)?;
    if let Some(rejects) = &mut rejects {
        rejects.header(importer.columns())?;
    }
    for row in importer {
        let row = row?;
        report.record(&row);
        if let Some(rejects) = &mut rejects {
            rejects.write(&row)?;
        }
        let (contact, lead, record) = match row {
            Row::Contact(contact) if suppressions && store.is_suppressed(&contact.key)? => {
                skipped(Contact { key: contact.key, ..Contact::default() }, "suppressed", now)
            }
            Row::Contact(contact) => {
                let lead = Lead::new(contact.key.clone(), now);
                (contact, lead, None)
            }
            // A duplicate is the same contact again, and a row without a key names no
            // contact: counted in the report, never a lead.
            Row::Skipped { reason: SkipReason::Duplicate, .. } | Row::Skipped { key: None, .. } => continue,
            Row::Skipped { key: Some(key), reason, .. } => {
                skipped(Contact { key, ..Contact::default() }, reason.as_str(), now)
            }
        };
        batch.contacts.push(&graph.id, &contact, &lead, record.as_slice());
        if batch.contacts.len() >= IMPORT_BATCH {
            let written = store.write(std::mem::replace(&mut batch, fresh()), true)?;
            (added, updated) = (added + written.new_contacts, updated + written.updated_contacts);
        }
    }
    let written = store.write(batch, true)?;
    (added, updated) = (added + written.new_contacts, updated + written.updated_contacts);
    crate::say!("run: {}: contacts: {report}; {added} new leads, {updated} updated", graph.id);
    for line in report.details() {
        crate::say!("{line}");
    }
    if let Some(rejects) = rejects {
        let path = rejects.path().to_path_buf();
        crate::say!("run: {}: rejects: {} rows written to {}", graph.id, rejects.finish()?, path.display());
    }
    Ok(())
}

fn skipped(contact: Contact, reason: &str, now: DateTime<Utc>) -> (Contact, Lead, Option<Record>) {
    let (lead, record) = Lead::skipped(contact.key.clone(), reason, now);
    (contact, lead, Some(record))
}
