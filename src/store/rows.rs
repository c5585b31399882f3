//! The lead row: one value per (campaign, contact) holding the contact, the lead and its
//! history, behind a fixed header (status, wake time) that the due index and the status counts
//! read without decoding the rest.
//!
//! Layout (format 3): `[3, status, has_wake, wake secs i64 LE, wake nanos u32 LE,
//! contact length u32 LE]`, the contact, `[lead length u32 LE]`, the lead (see `codec`),
//! `[length u32 LE]` and the history written with the lead when it was imported (packed records,
//! see `records`; a simulated lead's whole history), then the ids of the history rows appended
//! since, as varints (each the difference from the one before). Format 2 had no history of its
//! own, only the ids.
//!
//! The history written with a new lead may instead sit in a history block: one history row
//! holding the imported history of a whole batch of new leads, back to back (`NewLeads::seal`).
//! The row's own history is then a reference, `[0, block id u64 LE, entry number varint]`
//! (packed records never start with 0: they start with their count). A B-tree of small rows
//! has a third of the pages of one whose rows carry their history, and a block is one large
//! value written in one piece: importing is about a fifth faster (BENCHMARKS.md).
//!
//! Block layout: `[entry count u32 LE]`, the end of each entry as u32 LE (from the start of the
//! entries), then the entries. An emptied entry (`scrub_entry`) is zero bytes long.
//!
//! New leads are encoded where they are made (`NewLeads`), so the writer thread only inserts
//! bytes.

use super::codec::{self, Dec, Enc};
use super::records;
use crate::contact::Contact;
use crate::runtime::{Lead, LeadStatus, Record};

pub const FORMAT_ROW: u8 = 3;
/// Rows written under store schema 2: no history of their own.
const FORMAT_ROW_2: u8 = 2;
/// Format, status, wake flag, wake secs, wake nanos; the contact length follows.
const HEADER: usize = 15;
/// The first byte of a row's own history when it is a reference into a history block.
const BLOCK_REF: u8 = 0;

pub type Wake = (i64, u32);

/// The due-index time of a lead: its wake time, unless it is final.
pub fn due_wake(lead: &Lead) -> Option<Wake> {
    lead.wake_at.filter(|_| !lead.status.is_final()).map(|at| (at.timestamp(), at.timestamp_subsec_nanos()))
}

/// Encodes a row from the parts of an existing one (`RowView`): its contact and own history
/// bytes, a new lead, and history row ids.
pub fn encode(contact: &[u8], own: &[u8], lead: &Lead, history: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + contact.len() + own.len() + 160);
    write(&mut out, lead, |out| out.extend_from_slice(contact), |out| out.extend_from_slice(own));
    let mut e = Enc(&mut out);
    let mut last = 0;
    for id in history {
        e.uint(id - last);
        last = id;
    }
    out
}

/// The row `bytes` with `contact` in place of its own: cursor, lead and history as they were.
pub fn with_contact(bytes: &[u8], contact: &[u8]) -> Result<Vec<u8>, String> {
    let (header, rest) = bytes.split_first_chunk::<HEADER>().ok_or("too short")?;
    let (_, after) = split_counted(rest).ok_or("contact cut short")?;
    let mut out = Vec::with_capacity(bytes.len() + contact.len());
    out.extend_from_slice(header);
    counted(&mut out, |out| out.extend_from_slice(contact));
    out.extend_from_slice(after);
    Ok(out)
}

/// A re-imported contact's fields over the stored ones: a field the new row has replaces the
/// stored one, a field it lacks (a column the new file does not have) keeps its value.
pub fn merge_contacts(key: &str, stored: &[u8], new: &[u8]) -> Result<Vec<u8>, String> {
    if stored.is_empty() {
        return Ok(new.to_vec());
    }
    let old = codec::get_contact(key, stored).map_err(|e| e.to_string())?;
    let mut merged = codec::get_contact(key, new).map_err(|e| e.to_string())?;
    merged.timezone = merged.timezone.or(old.timezone);
    for (name, value) in old.fields.iter() {
        if merged.fields.get(name).is_none() {
            merged.fields.insert(compact_str::CompactString::new(name), value.clone());
        }
    }
    let mut out = Vec::with_capacity(new.len() + stored.len());
    codec::put_contact(&mut out, &merged);
    Ok(out)
}

/// A new lead's row `new` in place of the stored row `old` (a lead skipped at import whose row
/// is now a contact), with the ids of the history rows the old one had.
pub fn revive(old: &[u8], new: &[u8]) -> Result<Vec<u8>, String> {
    let history = RowView::parse(old)?.history;
    let mut out = Vec::with_capacity(new.len() + history.len());
    out.extend_from_slice(new);
    out.extend_from_slice(history);
    Ok(out)
}

/// Appends a row: header, counted contact, counted lead, counted own history.
fn write(out: &mut Vec<u8>, lead: &Lead, contact: impl FnOnce(&mut Vec<u8>), own: impl FnOnce(&mut Vec<u8>)) {
    let wake = due_wake(lead);
    let (secs, nanos) = wake.unwrap_or_default();
    out.extend_from_slice(&[FORMAT_ROW, codec::status_byte(lead.status), u8::from(wake.is_some())]);
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
    counted(out, contact);
    counted(out, |out| codec::put_lead(out, lead));
    counted(out, own);
}

/// Appends `[length u32 LE]` and what `f` writes.
fn counted(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    f(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Rows of new leads, encoded where the leads are made: their campaigns and keys in one text,
/// their rows in one buffer, and their history in a block that the store writes once for all of
/// them (`seal`).
#[derive(Debug, Default)]
pub struct NewLeads {
    /// Each item's campaign and key, back to back: kept as text, so that reading them back (the
    /// writer does, several times per row) needs no UTF-8 check.
    text: String,
    bytes: Vec<u8>,
    /// Where each item's campaign and key start and its key ends in `text`, and where its row
    /// starts and ends in `bytes`.
    items: Vec<[usize; 5]>,
    /// The history of rows not yet sealed: entries back to back, each ending at its `ends`.
    block: Vec<u8>,
    ends: Vec<u32>,
    /// Where the block id of each row with history sits in `bytes`, until `seal` writes it.
    refs: Vec<usize>,
}

impl NewLeads {
    pub fn with_capacity(leads: usize, row: usize) -> NewLeads {
        NewLeads {
            text: String::with_capacity(leads * 32),
            bytes: Vec::with_capacity(leads * row),
            items: Vec::with_capacity(leads),
            block: Vec::with_capacity(leads * row * 2 / 3),
            ends: Vec::with_capacity(leads),
            refs: Vec::with_capacity(leads),
        }
    }

    /// Empties the buffer, keeping its memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.bytes.clear();
        self.items.clear();
        self.block.clear();
        self.ends.clear();
        self.refs.clear();
    }

    /// Adds a contact's new lead, with the history its first steps wrote (to the block).
    pub fn push(&mut self, campaign: &str, contact: &Contact, lead: &Lead, history: &[Record]) {
        debug_assert_eq!(lead.contact, contact.key, "a lead pushed with another contact");
        let start = self.text.len();
        self.text.push_str(campaign);
        let key = self.text.len();
        self.text.push_str(&contact.key);
        let row = self.bytes.len();
        let mut id_at = None;
        write(
            &mut self.bytes,
            lead,
            |out| codec::put_contact(out, contact),
            |out| {
                if !history.is_empty() {
                    records::put_packed(&mut self.block, history, campaign, &contact.key);
                    out.push(BLOCK_REF);
                    id_at = Some(out.len());
                    out.extend_from_slice(&[0; 8]);
                    Enc(out).uint(self.ends.len() as u64);
                    self.ends.push(self.block.len() as u32);
                }
            },
        );
        self.refs.extend(id_at);
        self.items.push([start, key, self.text.len(), row, self.bytes.len()]);
    }

    /// Whether rows refer to a block not yet written.
    pub fn unsealed(&self) -> bool {
        !self.refs.is_empty()
    }

    /// Writes `id` into every row that refers to the block, and gives the block's value behind
    /// `format`, leaving none held.
    pub fn seal(&mut self, id: u64, format: u8) -> Vec<u8> {
        for &at in &self.refs {
            self.bytes[at..at + 8].copy_from_slice(&id.to_le_bytes());
        }
        let mut out = Vec::with_capacity(5 + 4 * self.ends.len() + self.block.len());
        out.push(format);
        out.extend_from_slice(&(self.ends.len() as u32).to_le_bytes());
        for end in &self.ends {
            out.extend_from_slice(&end.to_le_bytes());
        }
        out.extend_from_slice(&self.block);
        self.refs.clear();
        self.ends.clear();
        self.block.clear();
        out
    }

    /// Adds a row encoded before (`iter`, `get`).
    pub fn push_row(&mut self, campaign: &str, key: &str, row: &[u8]) {
        let start = self.text.len();
        self.text.push_str(campaign);
        self.text.push_str(key);
        let row_at = self.bytes.len();
        self.bytes.extend_from_slice(row);
        self.items.push([start, start + campaign.len(), self.text.len(), row_at, self.bytes.len()]);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Memory the buffer holds, used or not (what a holder of many buffers must count).
    pub fn held_bytes(&self) -> usize {
        self.text.capacity()
            + self.bytes.capacity()
            + self.block.capacity()
            + self.items.capacity() * size_of::<[usize; 5]>()
            + self.ends.capacity() * size_of::<u32>()
            + self.refs.capacity() * size_of::<usize>()
    }

    /// The `i`th campaign and key, as bytes (ordered as the strings are).
    pub fn sort_key(&self, i: usize) -> (&[u8], &[u8]) {
        let [start, key, end, _, _] = self.items[i];
        (&self.text.as_bytes()[start..key], &self.text.as_bytes()[key..end])
    }

    /// The `i`th (campaign, key, row) pushed.
    pub fn get(&self, i: usize) -> (&str, &str, &[u8]) {
        let [start, key, key_end, row, end] = self.items[i];
        (&self.text[start..key], &self.text[key..key_end], &self.bytes[row..end])
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// (campaign, key, row), in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &[u8])> {
        (0..self.items.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
pub fn encode_contact(contact: &Contact) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    codec::put_contact(&mut out, contact);
    out
}

/// A lead row split into its parts, without decoding the lead.
pub struct RowView<'a> {
    pub status: LeadStatus,
    pub wake: Option<Wake>,
    pub contact: &'a [u8],
    pub lead: &'a [u8],
    /// The history written with the row (packed records; empty in format 2).
    pub own: &'a [u8],
    history: &'a [u8],
}

impl<'a> RowView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<RowView<'a>, String> {
        let Some((header, rest)) = bytes.split_first_chunk::<HEADER>() else {
            return Err("too short".into());
        };
        let format = header[0];
        if format != FORMAT_ROW && format != FORMAT_ROW_2 {
            return Err(format!("unknown format {format}"));
        }
        let status = codec::status_from_byte(header[1]).ok_or_else(|| format!("unknown status {}", header[1]))?;
        let number = |range: std::ops::Range<usize>| {
            let mut buf = [0; 8];
            buf[..range.len()].copy_from_slice(&header[range]);
            u64::from_le_bytes(buf)
        };
        let wake = match header[2] {
            0 => None,
            1 => Some((number(3..11).cast_signed(), number(11..15) as u32)),
            other => return Err(format!("bad wake flag {other}")),
        };
        let (contact, rest) = split_counted(rest).ok_or("contact cut short")?;
        let (lead, rest) = split_counted(rest).ok_or("lead cut short")?;
        let (own, history) =
            if format == FORMAT_ROW_2 { (&[][..], rest) } else { split_counted(rest).ok_or("history cut short")? };
        Ok(RowView { status, wake, contact, lead, own, history })
    }

    pub fn history_ids(&self) -> Result<Vec<u64>, String> {
        let mut d = Dec::new(self.history);
        let mut ids = Vec::new();
        let mut last: u64 = 0;
        while !d.is_empty() {
            last = last.checked_add(d.uint()?).ok_or("history id out of range")?;
            ids.push(last);
        }
        Ok(ids)
    }

    /// Where the row's own history is: in a history block (its id and entry number), or in
    /// the row (`None`).
    pub fn own_block(&self) -> Result<Option<(u64, usize)>, String> {
        let Some((&BLOCK_REF, rest)) = self.own.split_first() else { return Ok(None) };
        let (id, rest) = rest.split_first_chunk::<8>().ok_or("history block reference cut short")?;
        let mut d = Dec::new(rest);
        let entry = usize::try_from(d.uint()?).map_err(|_| "history block entry out of range")?;
        if !d.is_empty() {
            return Err("bytes after the history block reference".into());
        }
        Ok(Some((u64::from_le_bytes(*id), entry)))
    }

    /// The row's own history records, given its block's value when it has one (`own_block`).
    pub fn own_records(&self, campaign: &str, key: &str, block: Option<&[u8]>) -> Result<Vec<Record>, String> {
        let bytes = match (self.own_block()?, block) {
            (None, _) => self.own,
            (Some((_, entry)), Some(block)) => block_entry(block, entry)?,
            (Some((id, _)), None) => return Err(format!("history block {id} not given")),
        };
        if bytes.is_empty() { Ok(Vec::new()) } else { records::get_packed(bytes, campaign, key) }
    }

    pub fn decode(&self, key: &str) -> Result<(Contact, Lead), String> {
        let contact = if self.contact.is_empty() {
            Contact { key: key.to_string(), ..Contact::default() }
        } else {
            codec::get_contact(key, self.contact).map_err(|e| format!("contact {key}: {e}"))?
        };
        let lead = codec::get_lead(key, self.lead).map_err(|e| format!("lead {key}: {e}"))?;
        Ok((contact, lead))
    }
}

/// Entry `entry` of a history block's value.
pub fn block_entry(block: &[u8], entry: usize) -> Result<&[u8], String> {
    Block::parse(block)?.entry(entry)
}

/// A history block's value, behind `format`, with entry `entry` emptied (a removed lead's
/// history), the others unchanged.
pub fn scrub_entry(block: &[u8], entry: usize, format: u8) -> Result<Vec<u8>, String> {
    let parts = Block::parse(block)?;
    let len = parts.entry(entry)?.len();
    let start = parts.start(entry);
    let mut out = Vec::with_capacity(1 + block.len() - len);
    out.push(format);
    out.extend_from_slice(&(parts.count as u32).to_le_bytes());
    for i in 0..parts.count {
        let end = if i < entry { Some(parts.end(i)) } else { parts.end(i).checked_sub(len) };
        out.extend_from_slice(&(end.ok_or("history block entries out of order")? as u32).to_le_bytes());
    }
    out.extend_from_slice(&parts.entries[..start]);
    out.extend_from_slice(&parts.entries[start + len..]);
    Ok(out)
}

/// A history block's value read in place: its entry count, its table of entry ends, and its
/// entries.
struct Block<'a> {
    count: usize,
    ends: &'a [u8],
    entries: &'a [u8],
}

impl<'a> Block<'a> {
    fn parse(block: &'a [u8]) -> Result<Block<'a>, String> {
        let (count, rest) = block.split_first_chunk::<4>().ok_or("history block cut short")?;
        let count = u32::from_le_bytes(*count) as usize;
        let table = count.checked_mul(4).filter(|&n| n <= rest.len()).ok_or("history block table cut short")?;
        let (ends, entries) = rest.split_at(table);
        Ok(Block { count, ends, entries })
    }

    /// Where entry `i` ends (`i < count`).
    fn end(&self, i: usize) -> usize {
        u32::from_le_bytes([self.ends[4 * i], self.ends[4 * i + 1], self.ends[4 * i + 2], self.ends[4 * i + 3]])
            as usize
    }

    /// Where entry `i` starts (`i < count`): where the one before ends.
    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.end(i - 1) }
    }

    fn entry(&self, i: usize) -> Result<&'a [u8], String> {
        if i >= self.count {
            return Err(format!("history block has {} entries, not {}", self.count, i + 1));
        }
        self.entries.get(self.start(i)..self.end(i)).ok_or_else(|| format!("history block entry {i} out of bounds"))
    }
}

/// Splits `[length u32 LE, bytes…]` off the front.
fn split_counted(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}
