//! Contacts: CSV import, normalisation (E.164, email), dedup, suppression, the audience filter.
//!
//! ```text
//! file --QuoteTracker--> csv::Reader --Importer (one record at a time)--> Row::Contact | Row::Skipped
//!      (strips the BOM,    (flexible:                 key, require, typed fields, timezone,
//!       finds unclosed      we count cells)            duplicate, suppressed, `where`
//!       quotes)
//! ```
//!
//! The import streams: one record is held at a time, duplicates are found with a set of 64-bit
//! key hashes (9 bytes a slot), so a million rows stay within a few tens of MB (BENCHMARKS.md,
//! 'Figures behind code comments').
//! A bad row is `Row::Skipped` with its reason and the import goes on; only a file that cannot
//! be read as CSV at all (cannot open, invalid UTF-8, a quote that is never closed, no key
//! column) is an `ImportError`, after which the iterator ends.

mod csv_file;
mod import;
mod normalise;
mod rejects;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::graph::ContactSpec;

pub use csv_file::read_header;
pub use import::{Importer, SuppressedBy};
pub use normalise::{
    DEFAULT_REGION, lookup_keys, normalise_address, normalise_email, normalise_phone, parse_region, phone,
    zone_suggestion,
};
pub use rejects::{Rejects, RejectsError};

pub use crate::contact::Contact;
pub use crate::vocab::SkipReason;

/// A problem with the file itself, which stops the import (a bad row never does).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}: malformed CSV: {detail}", .path.display())]
    Malformed { path: PathBuf, line: u64, detail: String },
    #[error("{}: the key column {key} is not in the header (columns: {})", .path.display(), list_columns(.columns))]
    NoKeyColumn { path: PathBuf, key: String, columns: Vec<String> },
    #[error("cannot read the suppression list {}: {source}", .path.display())]
    Suppress {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn list_columns(columns: &[String]) -> String {
    if columns.is_empty() {
        "none".to_string()
    } else {
        columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    }
}

/// What an import needs from the campaign.
#[derive(Clone, Copy)]
pub struct ImportSettings<'a> {
    pub spec: &'a ContactSpec,
    /// The schedule's zone: `where` reads dates of contacts without a `timezone` in it.
    pub default_timezone: Tz,
    /// The campaign's `data:` constants, visible to `where` by key.
    pub data: &'a serde_json::Map<String, serde_json::Value>,
    pub campaign_id: &'a str,
    pub campaign_name: &'a str,
    pub now: DateTime<Utc>,
}

impl<'a> ImportSettings<'a> {
    /// The settings a campaign's graph gives, for contacts imported at `now`.
    pub fn of(graph: &'a crate::graph::Graph, now: DateTime<Utc>) -> ImportSettings<'a> {
        ImportSettings {
            spec: &graph.contacts,
            default_timezone: graph.schedule.timezone,
            data: &graph.data,
            campaign_id: &graph.id,
            campaign_name: &graph.name,
            now,
        }
    }
}

/// One data row of the CSV.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Contact(Contact),
    Skipped {
        /// The row's first line in the file (the header is line 1).
        line: u64,
        /// The normalised key, or the raw key cell when it did not normalise; `None` when the
        /// cell is empty or missing. Such a row names no contact, so it is counted and
        /// reported but never stored as a lead: a made-up key (`line 2`) would share the key
        /// space with real contacts.
        key: Option<String>,
        reason: SkipReason,
        problem: Box<Problem>,
    },
}

/// What is wrong with a skipped row: for people, and for the rejects file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// That column's cell as written.
    pub value: Option<String>,
    /// What is wrong, without the line and column: `"03/10/2026" is not a date (expected 2026-03-10)`.
    pub message: String,
    /// The row's cells as read (the rejects file writes them back).
    pub cells: Vec<String>,
}

/// Cells are shown cut to this many characters.
const SHOWN: usize = 60;

impl Problem {
    /// `line 14: column appointment_date: "03/10/2026" is not a date (expected 2026-03-10)`
    pub fn describe(&self, line: u64) -> String {
        match &self.column {
            Some(column) => format!("line {line}: column {column}: {}", self.message),
            None => format!("line {line}: {}", self.message),
        }
    }
}

/// A cell as messages quote it: in quotes, cut to 60 characters.
pub fn quoted(value: &str) -> String {
    if value.chars().count() > SHOWN {
        let cut: String = value.chars().take(SHOWN).collect();
        format!("{:?}…", cut)
    } else {
        format!("{value:?}")
    }
}

/// Counts per reason, for the report printed after an import, and the first problems.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub read: u64,
    pub imported: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// The first [`EXAMPLES`] rows skipped for a problem of their own (not suppressed or
    /// filtered out), described.
    pub examples: Vec<String>,
    /// Contacts imported with a fixed-offset zone (`EST`): zone name -> contacts.
    pub fixed_zones: BTreeMap<String, u64>,
}

/// Problems listed after an import; `--rejects FILE` writes them all.
pub const EXAMPLES: usize = 20;

impl ImportReport {
    pub fn record(&mut self, row: &Row) {
        self.read += 1;
        match row {
            Row::Contact(contact) => {
                self.imported += 1;
                if let Some(zone) = contact.timezone.as_deref().filter(|z| normalise::is_fixed_offset(z)) {
                    *self.fixed_zones.entry(zone.to_string()).or_default() += 1;
                }
            }
            Row::Skipped { line, reason, problem, .. } => {
                *self.skipped.entry(*reason).or_default() += 1;
                if reason.is_problem() && self.examples.len() < EXAMPLES {
                    self.examples.push(problem.describe(*line));
                }
            }
        }
    }

    /// Rows skipped for a problem of their own.
    pub fn problems(&self) -> u64 {
        self.skipped.iter().filter(|(r, _)| r.is_problem()).map(|(_, n)| n).sum()
    }

    /// The lines printed under the summary: the first problems, how many more there are, and
    /// a warning per fixed-offset zone.
    pub fn details(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.examples.iter().map(|e| format!("  {e}")).collect();
        let more = self.problems().saturating_sub(self.examples.len() as u64);
        if more > 0 {
            lines.push(format!("  … and {} more (--rejects FILE writes every rejected row)", thousands(more)));
        }
        for (zone, n) in &self.fixed_zones {
            lines.push(format!("  warning: {}", normalise::fixed_offset_warning(zone, *n)));
        }
        lines
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// `1,000 rows: 990 imported, 10 skipped (4 invalid_phone, 3 duplicate, 2 suppressed, 1 filtered)`
impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = if self.read == 1 { "row" } else { "rows" };
        write!(
            f,
            "{} {rows}: {} imported, {} skipped",
            thousands(self.read),
            thousands(self.imported),
            thousands(self.skipped_total())
        )?;
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(reason, n)| format!("{} {reason}", thousands(*n)))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(", "))?;
        }
        Ok(())
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
