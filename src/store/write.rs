//! The write side of `Store::write`: lead rows, the due index and history, kept in step within
//! one transaction.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;

use redb::ReadableTable;

use super::rows::{self, NewLeads, RowView, Wake, due_wake};
use super::{At, DUE, FORMAT_BLOCK, FORMAT_RECORDS, HISTORY, LEADS, StoreError, classify, corrupt, internal, records};
use crate::runtime::{Lead, LeadStatus, Record};

pub(super) type DueKey<'a> = (&'a str, i64, u32, &'a str);

/// Runs of new rows shorter than this (between two stored rows) go in with plain inserts: a
/// cursor rebuilds the leaf it splices into, where an insert changes it in place; 4 was no
/// better than 2 (BENCHMARKS.md, "A lone new row").
const SHORT_RUN: usize = 2;

/// New history row ids per lead, waiting to be listed in its row.
pub(super) type NewHistory<'a> = HashMap<(&'a str, &'a str), Vec<u64>>;

/// Writes the batch's history rows at the end of the history table, in seq order per lead.
pub(super) fn append_history<'a>(
    p: &Path,
    txn: &redb::WriteTransaction,
    history: &'a [(String, String, u32, Vec<Record>)],
) -> Result<NewHistory<'a>, StoreError> {
    let mut ids: NewHistory = HashMap::new();
    if history.is_empty() {
        return Ok(ids);
    }
    let mut table = txn.open_table(HISTORY).at(p)?;
    let mut next = next_history_id(p, &table)?;
    let mut bytes = Vec::with_capacity(512);
    for (campaign, contact, _, records) in in_key_order(history, |h| (&h.0, &h.1, h.2)) {
        if records.is_empty() {
            continue;
        }
        bytes.clear();
        bytes.push(FORMAT_RECORDS);
        records::put_packed(&mut bytes, records, campaign, contact);
        table.insert(next, bytes.as_slice()).at(p)?;
        ids.entry((campaign.as_str(), contact.as_str())).or_default().push(next);
        next += 1;
    }
    Ok(ids)
}

/// The id after the last history row (history only ever appends).
pub(super) fn next_history_id(p: &Path, table: &redb::Table<u64, &[u8]>) -> Result<u64, StoreError> {
    Ok(match table.last().at(p)? {
        Some((id, _)) => id.value() + 1,
        None => 1,
    })
}

/// Calls `f` on history block `id` (its value without the format byte), which the row of
/// `lead` (campaign, contact) refers to; a missing block, or a row that is not one, is damage.
pub(super) fn with_block<T>(
    p: &Path,
    table: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
    (campaign, contact): (&str, &str),
    f: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, StoreError> {
    let Some(value) = table.get(id).at(p)? else {
        return Err(corrupt(p, format!("history block {id} of {campaign}/{contact} is missing")));
    };
    match value.value().split_first() {
        Some((&FORMAT_BLOCK, block)) => f(block).map_err(|e| corrupt(p, format!("history block {id}: {e}"))),
        _ => Err(corrupt(p, format!("history row {id} of {campaign}/{contact} is not a block"))),
    }
}

/// Lists history rows written without their lead in the same batch in the lead's row.
pub(super) fn link_history(p: &Path, txn: &redb::WriteTransaction, history: NewHistory) -> Result<(), StoreError> {
    if history.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(LEADS).at(p)?;
    for ((campaign, contact), ids) in history {
        let Some(mut row) = table.get_mut((campaign, contact)).at(p)? else {
            return Err(internal(format!("history for {campaign}/{contact}, which has no lead")));
        };
        let bytes = {
            let view = RowView::parse(row.value()).map_err(|e| corrupt(p, format!("lead row {contact}: {e}")))?;
            let old = view.history_ids().map_err(|e| corrupt(p, format!("lead row {contact}: {e}")))?;
            let (_, lead) = view.decode(contact).map_err(|e| corrupt(p, e))?;
            rows::encode(view.contact, view.own, &lead, old.into_iter().chain(ids))
        };
        row.insert(bytes.as_slice()).at(p)?;
    }
    Ok(())
}

/// Inserts the new contacts' leads, upserts `leads`, and keeps the due index in step. Rows go in
/// key order and due-index changes are applied sorted, so that a batch of leads due in random key
/// order still walks each B-tree once. New rows go in through a cursor, a run at a time between
/// existing rows (a lone row with a plain insert): fewer leaf pages and less time
/// (BENCHMARKS.md).
pub(super) fn put_leads<'a>(
    p: &Path,
    txn: &redb::WriteTransaction,
    contacts: &'a mut NewLeads,
    update_contacts: bool,
    leads: &'a [(String, Lead)],
    history: &mut NewHistory<'a>,
) -> Result<(usize, usize), StoreError> {
    if contacts.is_empty() && leads.is_empty() {
        return Ok((0, 0));
    }
    // The rows refer to their history block by the id it will have; it is written only if a
    // row is (a batch of contacts already imported writes nothing).
    let block = if contacts.unsealed() {
        let id = next_history_id(p, &txn.open_table(HISTORY).at(p)?)?;
        Some((id, contacts.seal(id, FORMAT_BLOCK)))
    } else {
        None
    };
    let contacts: &'a NewLeads = contacts;
    let mut table = txn.open_table(LEADS).at(p)?;
    // (due key, +1 added / -1 removed): netted per key, since a lead may change twice in a batch.
    let mut moves: Vec<(DueKey, i8)> = Vec::with_capacity(2 * leads.len() + contacts.len());
    let mut new_contacts = 0;
    let mut updated = 0;
    let mut sorted: Vec<(&str, &str, &[u8])> = contacts.iter().collect();
    // Stable: of two rows for one contact, the first pushed wins.
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    sorted.dedup_by(|later, first| (later.0, later.1) == (first.0, first.1));
    let mut rest = sorted.as_slice();
    let mut next = (String::new(), String::new());
    while let Some(&(campaign, key, _)) = rest.first() {
        // A cursor at the gap where this key goes takes every following new key that sorts
        // before the row after the gap: one descent for the run, and full leaves built once,
        // instead of a descent and a split every few rows.
        let mut cursor = table.lower_bound_mut(Bound::Included((campaign, key))).at(p)?;
        let bounded = match cursor.peek_next().at(p)? {
            Some((after, _)) => {
                let (c, k) = after.value();
                next.0.replace_range(.., c);
                next.1.replace_range(.., k);
                true
            }
            None => false,
        };
        if bounded && (next.0.as_str(), next.1.as_str()) == (campaign, key) {
            // The contact has a lead already: it keeps its cursor and history, and takes the
            // row's fields when they changed (a re-import with a new name or date).
            drop(cursor);
            if update_contacts {
                match update_contact(p, &mut table, campaign, key, rest[0].2)? {
                    Update::Unchanged => {}
                    Update::Fields => updated += 1,
                    Update::Revived(wake) => {
                        new_contacts += 1;
                        moves.extend(wake.map(|(secs, nanos)| ((campaign, secs, nanos, key), 1)));
                    }
                }
            }
            rest = &rest[1..];
            continue;
        }
        let run = rest.iter().take_while(|(c, k, _)| !bounded || (*c, *k) < (next.0.as_str(), next.1.as_str())).count();
        let wake_of = |row, key| {
            RowView::parse(row).map(|view| view.wake).map_err(|e| internal(format!("new lead row {key}: {e}")))
        };
        if run < SHORT_RUN {
            // The cursor would rebuild the leaf for so few rows; an insert changes it in place.
            drop(cursor);
            for &(campaign, key, row) in &rest[..run] {
                let wake = wake_of(row, key)?;
                table.insert((campaign, key), row).at(p)?;
                moves.extend(wake.map(|(secs, nanos)| ((campaign, secs, nanos, key), 1)));
            }
        } else {
            for &(campaign, key, row) in &rest[..run] {
                let wake = wake_of(row, key)?;
                cursor.insert_before((campaign, key), row).map_err(|e| match e {
                    redb::CursorError::UnorderedKey => internal(format!("new lead row {key} out of key order")),
                    other => classify(p, other.into()),
                })?;
                moves.extend(wake.map(|(secs, nanos)| ((campaign, secs, nanos, key), 1)));
            }
            cursor.close().at(p)?;
        }
        new_contacts += run;
        rest = &rest[run..];
    }
    if let Some((id, block)) = block.filter(|_| new_contacts > 0) {
        txn.open_table(HISTORY).at(p)?.insert(id, block.as_slice()).at(p)?;
    }
    for (campaign, lead) in in_key_order(leads, |l| (&l.0, &l.1.contact)) {
        let ids = history.remove(&(campaign.as_str(), lead.contact.as_str())).unwrap_or_default();
        let old = put_lead(p, &mut table, campaign, lead, ids)?;
        let new = due_wake(lead);
        if old != new {
            let key = |(secs, nanos): Wake| (campaign.as_str(), secs, nanos, lead.contact.as_str());
            moves.extend(old.map(|w| (key(w), -1)).into_iter().chain(new.map(|w| (key(w), 1))));
        }
    }
    apply_moves(p, txn, moves)?;
    Ok((new_contacts, updated))
}

/// What a re-imported contact did to its stored lead.
enum Update {
    Unchanged,
    /// The contact's fields changed; the lead is as it was.
    Fields,
    /// The stored lead had been skipped at import, and the row is now a contact: it starts as a
    /// new lead (due at this wake time), its earlier history kept.
    Revived(Option<Wake>),
}

/// Gives the stored lead of `key` the contact of `row` (a lead row made for a re-imported
/// contact), when that is a contact (not a skipped row): its fields over the stored ones (a
/// column the new file lacks keeps its value). A lead skipped at import becomes the row's lead.
fn update_contact(
    p: &Path,
    table: &mut redb::Table<(&str, &str), &[u8]>,
    campaign: &str,
    key: &str,
    row: &[u8],
) -> Result<Update, StoreError> {
    let new = RowView::parse(row).map_err(|e| internal(format!("new lead row {key}: {e}")))?;
    if new.status == LeadStatus::Skipped {
        return Ok(Update::Unchanged);
    }
    let Some(mut stored) = table.get_mut((campaign, key)).at(p)? else { return Ok(Update::Unchanged) };
    let bad = |e: String| corrupt(p, format!("lead row {key}: {e}"));
    let (replaced, update) = {
        let old = stored.value();
        let view = RowView::parse(old).map_err(bad)?;
        if view.status == LeadStatus::Skipped {
            (rows::revive(old, row).map_err(bad)?, Update::Revived(new.wake))
        } else {
            let merged = rows::merge_contacts(key, view.contact, new.contact).map_err(bad)?;
            if merged == view.contact {
                return Ok(Update::Unchanged);
            }
            (rows::with_contact(old, &merged).map_err(bad)?, Update::Fields)
        }
    };
    stored.insert(replaced.as_slice()).at(p)?;
    Ok(update)
}

/// Upserts a lead, keeping the contact and history of its row and listing `new_history`;
/// returns the due-index time it had.
fn put_lead(
    p: &Path,
    table: &mut redb::Table<(&str, &str), &[u8]>,
    campaign: &str,
    lead: &Lead,
    new_history: Vec<u64>,
) -> Result<Option<Wake>, StoreError> {
    let key = (campaign, lead.contact.as_str());
    // One descent: read the old row's wake time, contact and history, and replace it in place.
    let replaced = match table.get_mut(key).at(p)? {
        Some(mut row) => {
            let (old, bytes) = {
                let bad = |e: String| corrupt(p, format!("lead row {}: {e}", lead.contact));
                let view = RowView::parse(row.value()).map_err(bad)?;
                let ids = view.history_ids().map_err(bad)?;
                let ids = ids.into_iter().chain(new_history.iter().copied());
                (view.wake, rows::encode(view.contact, view.own, lead, ids))
            };
            row.insert(bytes.as_slice()).at(p)?;
            Some(old)
        }
        None => None,
    };
    match replaced {
        Some(old) => Ok(old),
        None => {
            table.insert(key, rows::encode(&[], &[], lead, new_history).as_slice()).at(p)?;
            Ok(None)
        }
    }
}

/// Deletes a lead's row, its due entry and its history.
pub(super) fn remove_lead(
    p: &Path,
    txn: &redb::WriteTransaction,
    campaign: &str,
    contact: &str,
) -> Result<(), StoreError> {
    let mut leads = txn.open_table(LEADS).at(p)?;
    let Some(old) = leads.remove((campaign, contact)).at(p)? else { return Ok(()) };
    let (wake, ids, block) = {
        let bad = |e: String| corrupt(p, format!("lead row {contact}: {e}"));
        let view = RowView::parse(old.value()).map_err(bad)?;
        (view.wake, view.history_ids().map_err(bad)?, view.own_block().map_err(bad)?)
    };
    drop(old);
    if let Some((secs, nanos)) = wake {
        txn.open_table(DUE).at(p)?.remove((campaign, secs, nanos, contact)).at(p)?;
    }
    let mut history = txn.open_table(HISTORY).at(p)?;
    for id in ids {
        history.remove(id).at(p)?;
    }
    // The block holds other leads' history too: only this lead's entry goes.
    if let Some((id, entry)) = block {
        let value =
            with_block(p, &history, id, (campaign, contact), |block| rows::scrub_entry(block, entry, FORMAT_BLOCK))?;
        history.insert(id, value.as_slice()).at(p)?;
    }
    Ok(())
}

fn apply_moves(p: &Path, txn: &redb::WriteTransaction, mut moves: Vec<(DueKey, i8)>) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    moves.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut due = txn.open_table(DUE).at(p)?;
    for run in moves.chunk_by(|a, b| a.0 == b.0) {
        match run.iter().map(|m| i32::from(m.1)).sum::<i32>() {
            net if net > 0 => drop(due.insert(run[0].0, ()).at(p)?),
            net if net < 0 => drop(due.remove(run[0].0).at(p)?),
            _ => {}
        }
    }
    Ok(())
}

/// The items sorted by `key`; equal keys keep batch order (the last write of a lead wins, the
/// first import of a contact wins).
fn in_key_order<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by_key(|item| key(item));
    sorted
}
