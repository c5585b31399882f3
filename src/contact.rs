//! The contact record: what the importer makes and the runtime, store, drivers and channels
//! read. Plain data on the bottom floor, so that none of them imports the CSV importer.

use serde::{Deserialize, Serialize};

use crate::fields::Fields;

/// One imported contact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The normalised key (E.164 phone, lower-case email, or the key column as written).
    pub key: String,
    /// IANA zone from the `timezone` column, already validated.
    pub timezone: Option<String>,
    /// Every column by name: numbers and bools typed (per `contacts.fields`), phones in
    /// E.164, dates and datetimes as written (conditions read them as datetimes), other text
    /// as written. An empty text cell is `""`; an empty typed cell is absent (null).
    pub fields: Fields,
}

/// Columns every contact has, CSV column or not (the checker accepts them whatever the header).
pub const ALWAYS_READABLE: &[&str] = &["key", "timezone"];

impl Contact {
    /// Column `name`, where conditions and templates read `contact.<name>`: `key` and
    /// `timezone` fall back to the contact's own when the CSV has no such column.
    pub fn column(&self, name: &str) -> Column<'_> {
        match self.fields.get(name) {
            Some(value) => Column::Value(value),
            None if name == "key" => Column::Text(&self.key),
            None if name == "timezone" => self.timezone.as_deref().map_or(Column::Missing, Column::Text),
            None => Column::Missing,
        }
    }
}

/// A contact's column as `Contact::column` finds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Column<'a> {
    /// A CSV column.
    Value(&'a serde_json::Value),
    /// The contact's key or zone, standing in for a missing column.
    Text(&'a str),
    Missing,
}
