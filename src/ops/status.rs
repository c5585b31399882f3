//! `herald status [CAMPAIGN]`: each campaign's status, its leads per status, when its next lead
//! is due and how many are due within the hour, as an aligned table for people or JSON for
//! scripts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{OpsError, status_name};
use crate::runtime::LeadStatus;
use crate::store::{CampaignRecord, Purpose};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

/// One campaign and its lead counts.
struct Row {
    record: CampaignRecord,
    counts: BTreeMap<LeadStatus, u64>,
    /// The earliest wake time of its unfinished leads.
    next_due: Option<DateTime<Utc>>,
    /// Its leads due within the hour, overdue ones included; `None` in a simulation's
    /// database, whose leads wake on a virtual clock that no longer runs.
    due_soon: Option<u64>,
}

impl Row {
    fn count(&self, status: LeadStatus) -> u64 {
        self.counts.get(&status).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Every campaign (or the one named), printed in `format`.
pub fn command(db: &Path, campaign: Option<&str>, format: StatusFormat, out: &mut dyn Write) -> Result<(), OpsError> {
    let store = super::open(db)?;
    let text = text(&store, campaign, format)?;
    out.write_all(text.as_bytes()).map_err(OpsError::stdout)
}

/// The status from a store already open (the live server's `GET /status` while `run` holds
/// the database).
pub fn text(store: &crate::store::Store, campaign: Option<&str>, format: StatusFormat) -> Result<String, OpsError> {
    let db = store.path();
    let records = match campaign {
        Some(id) => vec![super::campaign(store, id)?],
        None => store.campaigns()?,
    };
    let real_clock = store.purpose()? != Some(Purpose::Simulate);
    let within_hour = Utc::now() + chrono::Duration::hours(1);
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let counts = store.counts(&record.id)?;
        let next_due = store.next_due(&record.id)?;
        let due_soon = if real_clock { Some(store.due_count(&record.id, within_hour)?) } else { None };
        rows.push(Row { record, counts, next_due, due_soon });
    }
    let text = match format {
        StatusFormat::Json => json(&rows, campaign.is_some())?,
        StatusFormat::Table if rows.is_empty() => format!("no campaigns in {}\n", db.display()),
        StatusFormat::Table => table(&rows, real_clock),
    };
    Ok(text)
}

/// One object for a named campaign, else an array of them (empty when there are none).
fn json(rows: &[Row], one: bool) -> Result<String, OpsError> {
    let text = match rows {
        [row] if one => serde_json::to_string_pretty(row),
        _ => serde_json::to_string_pretty(rows),
    };
    let mut text = text.map_err(|e| OpsError::stdout(std::io::Error::other(e)))?;
    text.push('\n');
    Ok(text)
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = &self.record;
        let mut map = serializer.serialize_map(Some(8))?;
        map.serialize_entry("id", &record.id)?;
        map.serialize_entry("name", &record.name)?;
        map.serialize_entry("status", status_name(record.status))?;
        let started = record.started_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        map.serialize_entry("started_at", &started)?;
        map.serialize_entry("leads", &Counts(self))?;
        map.serialize_entry("total", &self.total())?;
        map.serialize_entry("next_due", &self.next_due.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))?;
        map.serialize_entry("due_next_hour", &self.due_soon)?;
        map.end()
    }
}

/// Every lead status in SPEC order, zeros included, so scripts need not guess a key's absence.
struct Counts<'a>(&'a Row);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(LeadStatus::ALL.len()))?;
        for status in LeadStatus::ALL {
            map.serialize_entry(status.as_str(), &self.0.count(status))?;
        }
        map.end()
    }
}

/// Campaign columns, then one column per lead status that any row has, then the total, then
/// (on the real clock) the next due time and the leads due within the hour; a totals row when
/// there is more than one campaign.
fn table(rows: &[Row], real_clock: bool) -> String {
    let statuses: Vec<LeadStatus> =
        LeadStatus::ALL.into_iter().filter(|s| rows.iter().any(|r| r.count(*s) > 0)).collect();
    let mut header: Vec<String> = ["campaign", "name", "status", "started"].map(String::from).into();
    header.extend(statuses.iter().map(|s| s.as_str().to_string()));
    header.push("total".into());
    if real_clock {
        header.extend(["next_due".into(), "due_1h".into()]);
    }
    let mut lines = vec![header];
    for row in rows {
        let record = &row.record;
        let started = minute(record.started_at);
        let mut line = vec![record.id.clone(), record.name.clone(), status_name(record.status).into(), started];
        line.extend(statuses.iter().map(|s| row.count(*s).to_string()));
        line.push(row.total().to_string());
        if real_clock {
            line.extend([minute(row.next_due), row.due_soon.unwrap_or(0).to_string()]);
        }
        lines.push(line);
    }
    if rows.len() > 1 {
        let mut line = vec!["total".to_string(), String::new(), String::new(), String::new()];
        line.extend(statuses.iter().map(|s| rows.iter().map(|r| r.count(*s)).sum::<u64>().to_string()));
        line.push(rows.iter().map(Row::total).sum::<u64>().to_string());
        if real_clock {
            let next = rows.iter().filter_map(|r| r.next_due).min();
            line.extend([minute(next), rows.iter().filter_map(|r| r.due_soon).sum::<u64>().to_string()]);
        }
        lines.push(line);
    }
    align(&lines, 4)
}

/// A time to the minute, as the table shows it; `-` for none.
fn minute(at: Option<DateTime<Utc>>) -> String {
    at.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Columns padded to their widest cell, two spaces apart; columns from `numbers_from` on are
/// right-aligned.
fn align(lines: &[Vec<String>], numbers_from: usize) -> String {
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(c, (cell, &width))| {
                    if c >= numbers_from { format!("{cell:>width$}") } else { format!("{cell:<width$}") }
                },
            )
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CampaignStatus;

    fn row(id: &str, counts: &[(LeadStatus, u64)]) -> Row {
        let record = CampaignRecord {
            id: id.into(),
            name: format!("{id} name"),
            status: CampaignStatus::Running,
            content_hash: String::new(),
            started_at: None,
            path: None,
            pace: Vec::new(),
            pace_narrow: Default::default(),
            region: None,
        };
        Row { record, counts: counts.iter().copied().collect(), next_due: None, due_soon: None }
    }

    #[test]
    fn the_table_shows_non_zero_statuses_in_spec_order_and_totals() {
        let rows =
            [row("b", &[(LeadStatus::Failed, 2), (LeadStatus::Pending, 10)]), row("a", &[(LeadStatus::Completed, 3)])];
        let expected = "\
campaign  name    status   started  pending  completed  failed  total
b         b name  running  -             10          0       2     12
a         a name  running  -              0          3       0      3
total                                    10          3       2     15
";
        assert_eq!(table(&rows, false), expected);
    }

    #[test]
    fn on_the_real_clock_the_table_adds_the_next_due_time_and_the_leads_due_within_the_hour() {
        let at = |h| DateTime::parse_from_rfc3339(&format!("2026-12-07T{h:02}:30:00Z")).unwrap().to_utc();
        let mut a = row("a", &[(LeadStatus::Waiting, 4)]);
        (a.next_due, a.due_soon) = (Some(at(14)), Some(3));
        let mut b = row("b", &[(LeadStatus::Completed, 2)]);
        b.due_soon = Some(0);
        let mut c = row("c", &[(LeadStatus::Scheduled, 1)]);
        (c.next_due, c.due_soon) = (Some(at(9)), Some(1));
        let expected = "\
campaign  name    status   started  scheduled  waiting  completed  total              next_due  due_1h
a         a name  running  -                0        4          0      4  2026-12-07 14:30 UTC       3
b         b name  running  -                0        0          2      2                     -       0
c         c name  running  -                1        0          0      1  2026-12-07 09:30 UTC       1
total                                       1        4          2      7  2026-12-07 09:30 UTC       4
";
        assert_eq!(table(&[a, b, c], true), expected);
    }

    #[test]
    fn json_lists_all_twelve_statuses_in_order() {
        let text = json(&[row("a", &[(LeadStatus::Cancelled, 1)])], true).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["total"], 1);
        assert_eq!(value["started_at"], serde_json::Value::Null);
        let keys: Vec<&str> = text.lines().filter_map(|l| l.trim().split('"').nth(1)).collect();
        let statuses: Vec<&str> = LeadStatus::ALL.iter().map(|s| s.as_str()).collect();
        let at = keys.iter().position(|k| *k == "pending").unwrap();
        assert_eq!(&keys[at..at + 12], statuses.as_slice());
        assert!(json(&[], false).unwrap().starts_with("[]"));
    }
}
