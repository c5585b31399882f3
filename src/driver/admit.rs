//! Admission of CSV rows as leads, the one rule of `run` and `simulate`: which row becomes a
//! lead, which a `skipped` lead (suppressed, or refused by the import with a key), and which
//! none (a duplicate, no key, or a contact the campaign already has when the caller says so).

use chrono::{DateTime, Utc};

use super::error::RunError;
use crate::contacts::{Contact, ImportSettings, Importer, Row, SkipReason};
use crate::graph::Graph;
use crate::runtime::{Lead, Record};
use crate::store::{Batch, Store, StoreError};

/// New contacts per import transaction.
const IMPORT_BATCH: usize = 10_000;

/// What a CSV row becomes.
pub enum Admission {
    Lead(Contact),
    /// A final `skipped` lead for this key, with the reason.
    Skip(String, &'static str),
}

/// The row's admission, or None for no lead. `suppressed` asks the suppression list (called
/// only for contacts); `known` whether the campaign already has the key (then no lead).
pub fn admit<E: From<StoreError>>(
    row: Row,
    suppressed: impl FnOnce(&str) -> Result<bool, StoreError>,
    known: impl Fn(&str) -> Result<bool, E>,
) -> Result<Option<Admission>, E> {
    Ok(Some(match row {
        Row::Contact(contact) if suppressed(&contact.key)? => Admission::Skip(contact.key, "suppressed"),
        Row::Contact(contact) if known(&contact.key)? => return Ok(None),
        Row::Contact(contact) => Admission::Lead(contact),
        // A duplicate is the same contact again, and a row without a key names no contact:
        // counted in the report, never a lead.
        Row::Skipped { reason: SkipReason::Duplicate, .. } | Row::Skipped { key: None, .. } => return Ok(None),
        Row::Skipped { key: Some(key), .. } if known(&key)? => return Ok(None),
        Row::Skipped { key: Some(key), reason, .. } => Admission::Skip(key, reason.as_str()),
    }))
}

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
        let suppressed = |key: &str| Ok(suppressions && store.is_suppressed(key)?);
        let (contact, lead, record) = match admit(row, suppressed, |_| Ok::<_, RunError>(false))? {
            Some(Admission::Lead(contact)) => {
                let lead = Lead::new(contact.key.clone(), now);
                (contact, lead, None)
            }
            Some(Admission::Skip(key, reason)) => skipped(Contact { key, ..Contact::default() }, reason, now),
            None => continue,
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
