//! Contacts: CSV import, normalisation (E.164, email), dedup, suppression, the audience filter.

use serde::{Deserialize, Serialize};

/// One imported contact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The normalised key (E.164 phone, lower-case email, or the key column as written).
    pub key: String,
    /// IANA zone from the `timezone` column, already validated.
    pub timezone: Option<String>,
    /// Every column by name: numbers and bools typed (per `contacts.fields`), phones in
    /// E.164, dates and datetimes as written (conditions read them as datetimes), other text
    /// as written. Empty cells are absent.
    pub fields: serde_json::Map<String, serde_json::Value>,
}
