//! The sends and calls each contact got lately, across every campaign: what herald.yaml's
//! `policy.frequency` counts (docs/policy.md). Kept in the database, so that every `run --once`
//! from cron and every run after a restart counts the same sends.
//!
//! One row per contact key, holding only the sends inside the longest cap's period (older ones
//! are dropped when the row is written again). The table came without a schema bump, as
//! `applied_events` did: a database without it reads as having no sends counted.

use chrono::{DateTime, TimeDelta, Utc};
use redb::TableDefinition;

use super::error::corrupt;
use super::{At, Store, StoreError};

/// contact key -> [`FORMAT`, then per entry: secs i64 LE, nanos u32 LE, channel length u16 LE,
/// channel, campaign length u16 LE, campaign (empty for a send made)]
pub(super) const SENDS: TableDefinition<&str, &[u8]> = TableDefinition::new("sends");

const FORMAT: u8 = 1;

/// One send or call a frequency cap counts: made, or a slot held for a lead the caps deferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub at: DateTime<Utc>,
    /// The channel's name, as the step names it (`sms`).
    pub channel: String,
    /// `Some(campaign)`: not sent yet; the slot at `at` is held for that campaign's lead, so
    /// that leads held back later go after it.
    pub held_for: Option<String>,
}

pub fn encode(sends: &[Sent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + sends.len() * 20);
    out.push(FORMAT);
    for sent in sends {
        out.extend_from_slice(&sent.at.timestamp().to_le_bytes());
        out.extend_from_slice(&sent.at.timestamp_subsec_nanos().to_le_bytes());
        put_text(&mut out, &sent.channel);
        put_text(&mut out, sent.held_for.as_deref().unwrap_or_default());
    }
    out
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&bytes[..len]);
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Sent>, &'static str> {
    let (&format, mut rest) = bytes.split_first().ok_or("an empty row")?;
    if format != FORMAT {
        return Err("an unknown row format");
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (secs, tail) = take::<8>(rest)?;
        let (nanos, tail) = take::<4>(tail)?;
        // A cap adds its period (at most a year) to each time: one too late for that is damage.
        let at = DateTime::from_timestamp(i64::from_le_bytes(secs), u32::from_le_bytes(nanos))
            .filter(|at| at.checked_add_signed(TimeDelta::days(366)).is_some())
            .ok_or("a bad time")?;
        let (channel, tail) = take_text(tail)?;
        let (campaign, tail) = take_text(tail)?;
        let held_for = (!campaign.is_empty()).then_some(campaign);
        out.push(Sent { at, channel, held_for });
        rest = tail;
    }
    Ok(out)
}

fn take_text(bytes: &[u8]) -> Result<(String, &[u8]), &'static str> {
    let (len, tail) = take::<2>(bytes)?;
    let len = usize::from(u16::from_le_bytes(len));
    let text = tail.get(..len).ok_or("a name cut short")?;
    let text = std::str::from_utf8(text).map_err(|_| "a name that is not UTF-8")?.to_string();
    Ok((text, &tail[len..]))
}

fn take<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), &'static str> {
    let head = bytes.get(..N).ok_or("a row cut short")?;
    Ok((head.try_into().map_err(|_| "a row cut short")?, &bytes[N..]))
}

/// Replaces each contact's row; an empty list removes it.
pub(super) fn record(
    p: &std::path::Path,
    txn: &redb::WriteTransaction,
    rows: &[(String, Vec<Sent>)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(SENDS).at(p)?;
    for (contact, sends) in rows {
        if sends.is_empty() {
            table.remove(contact.as_str()).at(p)?;
        } else {
            table.insert(contact.as_str(), encode(sends).as_slice()).at(p)?;
        }
    }
    Ok(())
}

impl Store {
    /// The sends counted for a contact, oldest first, as last written.
    pub fn sends(&self, contact: &str) -> Result<Vec<Sent>, StoreError> {
        let p = &self.path;
        let txn = self.db.begin_read().at(p)?;
        let table = match txn.open_table(SENDS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e).at(p),
        };
        match table.get(contact).at(p)? {
            Some(row) => decode(row.value()).map_err(|why| corrupt(p, format!("the sends of `{contact}`: {why}"))),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_damage_is_an_error() {
        let at = |s| DateTime::from_timestamp(s, 500).unwrap();
        let sends = vec![
            Sent { at: at(1_800_000_000), channel: "sms".into(), held_for: None },
            Sent { at: at(-5), channel: "".into(), held_for: Some("offer".into()) },
        ];
        let bytes = encode(&sends);
        assert_eq!(decode(&bytes), Ok(sends));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err("a name cut short"));
        assert!(decode(&[]).is_err());
        assert!(decode(&[2]).is_err());
        assert_eq!(decode(&[FORMAT]), Ok(Vec::new()));
    }
}
