//! The key under which an ingested event is remembered as applied (docs/events.md): an event is
//! applied once per database, and `ingest` run again on the same file, whole or after a kill,
//! applies each line once.
//!
//! - An event with an `id` is keyed by that id alone: the same id in another file, an HTTP
//!   retry, or a later run is the same event, whatever else it says.
//! - An event with `at` and no `id` is keyed by its content (campaign, contact, `at` as an
//!   instant, type and fields): the same report of the same thing at the same instant is one
//!   event, in one file or in several.
//! - An event with neither is keyed by its content and how many identical lines (also without
//!   `at` or `id`) came before it in the same input: a file that says it twice applies it twice,
//!   and the same file read again, or read on after a kill, finds both keys taken. Its time is
//!   "now", which differs on every run, so the time cannot be part of the key.
//!
//! Keys are what the store keeps (`Batch::events`), so the encoding below is a stored format:
//! change it only with a new leading byte, or files ingested before would apply again.

use std::collections::HashMap;
use std::hash::Hasher;

use chrono::SecondsFormat;
use siphasher::sip128::{Hasher128, SipHasher13};

use super::events::Inbound;

/// Leading byte of a key made from an event's `id`, followed by the id's bytes.
const BY_ID: u8 = b'i';
/// Leading byte of a key made from an event's content, followed by a 128-bit hash.
const BY_CONTENT: u8 = b'h';

/// The key of an event applied under a sender's id: the event's own `id`, or the id the live
/// server gives it (`webhook-id`, a provider's call id), so the two never apply one event twice.
pub fn id_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(BY_ID);
    key.extend_from_slice(id.as_bytes());
    key
}

/// Makes the keys of one input's events, counting identical lines that have no `at`.
#[derive(Debug, Default)]
pub struct EventKeys {
    /// Content hash -> identical lines without `at` or `id` seen so far in this input.
    seen: HashMap<u128, u32>,
}

impl EventKeys {
    /// The key of the next event of the input. Every parsed line must be passed, in order,
    /// whatever becomes of it, so that the n-th identical line gets the same key on every run.
    pub fn key(&mut self, event: &Inbound) -> Vec<u8> {
        if let Some(id) = &event.id {
            return id_key(id);
        }
        let hash = content_hash(event);
        let hash = match event.at {
            Some(_) => hash,
            None => {
                let n = self.seen.entry(hash).or_insert(0);
                *n += 1;
                let mut hasher = hasher();
                hasher.write(&hash.to_le_bytes());
                hasher.write(&n.to_le_bytes());
                hasher.finish128().as_u128()
            }
        };
        let mut key = Vec::with_capacity(17);
        key.push(BY_CONTENT);
        key.extend_from_slice(&hash.to_be_bytes());
        key
    }
}

/// The hash of the event as canonical JSON: object keys of `vars` sorted (serde_json's map),
/// `at` in UTC, text as given, so that the same event written with other spacing or key order
/// is the same. The JSON streams into the hash (no buffer per line).
fn content_hash(event: &Inbound) -> u128 {
    let at = event.at.map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    let mut writer = HashWriter(hasher());
    // Plain data into a writer that never fails: serialising cannot fail.
    let _ = serde_json::to_writer(&mut writer, &(1, &event.campaign, &event.contact, at, &event.input));
    writer.0.finish128().as_u128()
}

/// SipHash-1-3 with 128 bits: stable across releases (a defined function, fixed keys), and
/// wide enough that two different events of one database never share a key by chance.
fn hasher() -> SipHasher13 {
    SipHasher13::new_with_keys(0x6865_7261_6c64_2d65, 0x7665_6e74_2d6b_6579)
}

struct HashWriter(SipHasher13);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::events::parse_line;

    fn keys(lines: &[&str]) -> Vec<Vec<u8>> {
        let mut keys = EventKeys::default();
        lines.iter().map(|l| keys.key(&parse_line(l).unwrap())).collect()
    }

    #[test]
    fn an_id_is_the_key_whatever_the_event_says() {
        let k = keys(&[
            r#"{"type":"reply","id":"m1","contact":"a","text":"yes"}"#,
            r#"{"type":"reply","id":"m1","contact":"b","text":"no","at":"2026-12-01T10:00:00Z"}"#,
            r#"{"type":"reply","id":"m2","contact":"a","text":"yes"}"#,
        ]);
        assert_eq!(k[0], k[1]);
        assert_ne!(k[0], k[2]);
        assert_eq!(k[0], b"im1");
    }

    #[test]
    fn the_same_content_at_the_same_instant_is_one_event() {
        let k = keys(&[
            r#"{"type":"reply","contact":"a","text":"yes","at":"2026-12-01T10:00:00Z"}"#,
            r#"{ "at":"2026-12-01T05:00:00-05:00", "text":"yes", "contact":"a", "type":"reply" }"#,
            r#"{"type":"reply","contact":"a","text":"yes","at":"2026-12-01T10:00:01Z"}"#,
            r#"{"type":"reply","contact":"a","text":"Yes","at":"2026-12-01T10:00:00Z"}"#,
        ]);
        assert_eq!(k[0], k[1]);
        assert_ne!(k[0], k[2]);
        assert_ne!(k[0], k[3]);
    }

    #[test]
    fn identical_lines_without_at_count_in_order() {
        let lines = [
            r#"{"type":"call","contact":"a","status":"no_answer"}"#,
            r#"{"type":"call","contact":"b","status":"no_answer"}"#,
            r#"{"type":"call","contact":"a","status":"no_answer"}"#,
        ];
        let first = keys(&lines);
        assert_ne!(first[0], first[2], "a file that says it twice applies it twice");
        assert_eq!(first, keys(&lines), "the same file gives the same keys");
        let vars = keys(&[
            r#"{"type":"event","contact":"a","name":"n","vars":{"x":1,"y":2}}"#,
            r#"{"type":"event","contact":"a","name":"n","vars":{"y":2,"x":1}}"#,
        ]);
        assert_ne!(vars[0], vars[1], "the second is the same content, seen again");
        assert_eq!(vars[1], keys(&[r#"{"type":"event","contact":"a","name":"n","vars":{"x":1,"y":2}}"#; 2])[1]);
    }
}
