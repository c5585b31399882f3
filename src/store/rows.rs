//! The lead row: one value per (campaign, contact) holding the contact, the lead and the ids of
//! its history rows, behind a fixed header (status, wake time) that the due index and the
//! status counts read without decoding the rest.
//!
//! Layout (format 2): `[2, status, has_wake, wake secs i64 LE, wake nanos u32 LE,
//! contact length u32 LE]`, the contact, `[lead length u32 LE]`, the lead (see `codec`), then
//! the history row ids as varints (each the difference from the one before).

use super::codec::{self, Dec, Enc};
use crate::contacts::Contact;
use crate::runtime::{Lead, LeadStatus};

pub const FORMAT_ROW: u8 = 2;
/// Format, status, wake flag, wake secs, wake nanos; the contact length follows.
const HEADER: usize = 15;

pub type Wake = (i64, u32);

/// The due-index time of a lead: its wake time, unless it is final.
pub fn due_wake(lead: &Lead) -> Option<Wake> {
    lead.wake_at.filter(|_| !lead.status.is_final()).map(|at| (at.timestamp(), at.timestamp_subsec_nanos()))
}

/// Encodes a row from the contact's encoded bytes (empty: a contact with only its key).
pub fn encode(contact: &[u8], lead: &Lead, history: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + contact.len() + 160);
    let wake = due_wake(lead);
    let (secs, nanos) = wake.unwrap_or_default();
    out.extend_from_slice(&[FORMAT_ROW, codec::status_byte(lead.status), u8::from(wake.is_some())]);
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
    out.extend_from_slice(&(contact.len() as u32).to_le_bytes());
    out.extend_from_slice(contact);
    let lead_at = out.len();
    out.extend_from_slice(&[0; 4]);
    codec::put_lead(&mut out, lead);
    let lead_len = (out.len() - lead_at - 4) as u32;
    out[lead_at..lead_at + 4].copy_from_slice(&lead_len.to_le_bytes());
    let mut e = Enc(&mut out);
    let mut last = 0;
    for id in history {
        e.uint(id - last);
        last = id;
    }
    out
}

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
    history: &'a [u8],
}

impl<'a> RowView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<RowView<'a>, String> {
        let Some((header, rest)) = bytes.split_first_chunk::<HEADER>() else {
            return Err("too short".into());
        };
        if header[0] != FORMAT_ROW {
            return Err(format!("unknown format {}", header[0]));
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
        let (lead, history) = split_counted(rest).ok_or("lead cut short")?;
        Ok(RowView { status, wake, contact, lead, history })
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

/// Splits `[length u32 LE, bytes…]` off the front.
fn split_counted(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}
