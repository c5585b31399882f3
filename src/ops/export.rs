//! `herald export CAMPAIGN`: one CSV row per lead.
//!
//! Two passes over the leads: the first collects the column set (split steps and variable
//! names seen anywhere in the campaign), the second writes the rows. Memory grows with the
//! number of columns, never with the number of leads.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) get a leading `'`, phone keys like `+14155551234` included: the quote is
//! a display guard that spreadsheets hide, and it keeps the `+` of a phone number that they
//! would otherwise turn into a number. `--raw` leaves every cell as it is, for programs.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::OpsError;
use crate::runtime::Lead;
use crate::store::Store;

/// The columns before the variant and variable columns, in order.
const HEAD: &[&str] = &["key", "status", "outcome", "step", "attempts"];
/// The columns between the variant and variable columns, in order.
const MIDDLE: &[&str] = &["call_status", "call_duration", "message_status", "reply_text", "reply_intent"];
/// The last columns, when a lead has a call report.
const REPORT: &[&str] = &["call_summary", "call_recording_url", "call_transcript"];

pub struct Args {
    pub campaign: String,
    /// `None` or `-`: stdout.
    pub output: Option<PathBuf>,
    /// No formula guard.
    pub raw: bool,
}

/// The columns that depend on the campaign's leads.
#[derive(Debug, Default, PartialEq)]
struct Columns {
    splits: BTreeSet<String>,
    vars: BTreeSet<String>,
    /// Some lead has a call report (`run --listen`): its summary, recording and transcript get
    /// columns.
    reports: bool,
}

pub fn command(db: &Path, args: &Args, stdout: &mut dyn Write) -> Result<(), OpsError> {
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    if let Some(path) = output {
        check_output(path, db)?;
    }
    let store = super::open(db)?;
    let columns = columns(&store, &args.campaign)?;
    let export = Export { store: &store, args, columns: &columns };
    match output {
        None => export.write(stdout, "the output").map(drop),
        Some(path) => {
            let rows = export.to_file(path)?;
            crate::say!("exported {rows} leads of {} to {}", args.campaign, path.display());
            Ok(())
        }
    }
}

/// The CSV of a store already open (the live server's `GET /export/{campaign}` while `run`
/// holds the database); returns the rows written.
pub fn csv(store: &Store, args: &Args, out: &mut dyn Write) -> Result<u64, OpsError> {
    let columns = columns(store, &args.campaign)?;
    Export { store, args, columns: &columns }.write(out, "the output")
}

/// First pass: the split and variable columns of the campaign's leads.
fn columns(store: &Store, campaign: &str) -> Result<Columns, OpsError> {
    super::campaign(store, campaign)?;
    let mut columns = Columns::default();
    let mut failed = None;
    store.for_each_lead(campaign, |_, lead| {
        add(&mut columns.splits, lead.variants.keys());
        add(&mut columns.vars, lead.vars.keys());
        if !columns.reports && lead.call.is_some() && failed.is_none() {
            match call_report(store, campaign, lead) {
                Ok(report) => columns.reports = report.is_some(),
                Err(e) => failed = Some(e),
            }
        }
    })?;
    failed.map_or(Ok(columns), Err)
}

/// The last call report in a lead's history: summary, recording URL, transcript.
fn call_report(store: &Store, campaign: &str, lead: &Lead) -> Result<Option<[String; 3]>, OpsError> {
    let history = store.history(campaign, &lead.contact)?;
    Ok(history.into_iter().rev().find_map(|record| match record.event {
        crate::runtime::Event::CallReport { summary, transcript, recording_url } => {
            let text = |t: Option<crate::runtime::Text>| t.map(|t| t.to_string()).unwrap_or_default();
            Some([text(summary), text(recording_url), text(transcript)])
        }
        _ => None,
    }))
}

/// Refuses an output path whose replacement would destroy something: the database itself
/// (under any name: a hard link or a symlink to it), a directory, a symlink (renaming over it
/// replaces the link, not what it names, which is never what was meant), or a device, FIFO or
/// socket. A missing path or an existing regular file is fine: the rename replaces it whole.
fn check_output(path: &Path, db: &Path) -> Result<(), OpsError> {
    let refused = |reason: &str| OpsError::OutputRefused { path: path.to_path_buf(), reason: reason.to_string() };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(OpsError::Output { what: path.display().to_string(), source }),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refused("it is a symbolic link; give the file it points to, or a new name"));
    }
    if kind.is_dir() {
        return Err(refused("it is a directory; give a file name such as leads.csv"));
    }
    if !kind.is_file() {
        return Err(refused("it is not a regular file (a device, FIFO or socket); use stdout instead"));
    }
    if same_file(&meta, db) {
        return Err(refused("it is the database (--db); give another file name"));
    }
    Ok(())
}

/// Whether `meta` is the file at `other` (the same device and inode).
fn same_file(meta: &std::fs::Metadata, other: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(other).is_ok_and(|o| o.dev() == meta.dev() && o.ino() == meta.ino())
}

fn add<'a>(set: &mut BTreeSet<String>, names: impl Iterator<Item = &'a String>) {
    for name in names {
        if !set.contains(name) {
            set.insert(name.clone());
        }
    }
}

struct Export<'a> {
    store: &'a Store,
    args: &'a Args,
    columns: &'a Columns,
}

impl Export<'_> {
    /// The header and one row per lead; the number of rows.
    fn write(&self, sink: &mut dyn Write, what: &str) -> Result<u64, OpsError> {
        // The I/O error itself, not csv's wrapper of it: `finish` must see a broken pipe as one.
        let failed = |source: csv::Error| {
            // Writing byte records, only I/O can fail; anything else is said as csv has it.
            let source = match source.into_kind() {
                csv::ErrorKind::Io(e) => e,
                other => std::io::Error::other(format!("{other:?}")),
            };
            OpsError::Output { what: what.to_string(), source }
        };
        let mut writer = csv::Writer::from_writer(sink);
        writer.write_record(header(self.columns)).map_err(failed)?;
        let mut rows = 0;
        let mut error = None;
        let mut stored = None;
        self.store.for_each_lead(&self.args.campaign, |_, lead| {
            if error.is_none() && stored.is_none() {
                let mut record = row(self.columns, lead);
                if self.columns.reports {
                    let report = match lead.call {
                        Some(_) => call_report(self.store, &self.args.campaign, lead),
                        None => Ok(None),
                    };
                    match report {
                        Ok(report) => record.extend(report.unwrap_or_default()),
                        Err(e) => stored = Some(e),
                    }
                }
                let cells: Vec<Cow<str>> =
                    record.iter().map(|c| if self.args.raw { Cow::from(c.as_str()) } else { guard(c) }).collect();
                match writer.write_record(cells.iter().map(|c| c.as_bytes())) {
                    Ok(()) => rows += 1,
                    Err(e) => error = Some(e),
                }
            }
        })?;
        if let Some(e) = error {
            return Err(failed(e));
        }
        if let Some(e) = stored {
            return Err(e);
        }
        writer.flush().map_err(OpsError::output(what))?;
        Ok(rows)
    }

    /// Writes through a temporary file next to `path`, renamed over it when complete, so that
    /// a failed export never leaves half a file where a complete one was.
    fn to_file(&self, path: &Path) -> Result<u64, OpsError> {
        let what = path.display().to_string();
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let file =
            tempfile::Builder::new().prefix(".herald-export").tempfile_in(dir).map_err(OpsError::output(&what))?;
        let mut buffered = std::io::BufWriter::new(file);
        let rows = self.write(&mut buffered, &what)?;
        let file =
            buffered.into_inner().map_err(|e| OpsError::Output { what: what.clone(), source: e.into_error() })?;
        file.as_file().sync_all().map_err(OpsError::output(&what))?;
        file.persist(path).map_err(|e| OpsError::Output { what, source: e.error })?;
        Ok(rows)
    }
}

fn header(columns: &Columns) -> Vec<String> {
    let mut header: Vec<String> = HEAD.iter().map(|c| c.to_string()).collect();
    header.extend(columns.splits.iter().map(|s| format!("variant.{s}")));
    header.extend(MIDDLE.iter().map(|c| c.to_string()));
    header.extend(columns.vars.iter().map(|v| format!("var.{v}")));
    if columns.reports {
        header.extend(REPORT.iter().map(|c| c.to_string()));
    }
    header
}

fn row(columns: &Columns, lead: &Lead) -> Vec<String> {
    let text = |s: Option<&str>| s.unwrap_or_default().to_string();
    let mut row = vec![
        lead.contact.clone(),
        lead.status.as_str().to_string(),
        text(lead.outcome.as_deref()),
        text(lead.step.as_deref()),
        lead.attempts.to_string(),
    ];
    row.extend(columns.splits.iter().map(|s| lead.variants.get(s).cloned().unwrap_or_default()));
    let call = lead.call.as_ref();
    row.push(call.and_then(|c| c.status.clone()).unwrap_or_default());
    row.push(call.and_then(|c| c.duration).map(|d| d.to_string()).unwrap_or_default());
    row.push(text(lead.message_status.as_deref()));
    let reply = lead.reply.as_ref();
    row.push(reply.and_then(|r| r.text.clone()).unwrap_or_default());
    row.push(reply.and_then(|r| r.intent.clone()).unwrap_or_default());
    row.extend(columns.vars.iter().map(|v| lead.vars.get(v).map(cell).unwrap_or_default()));
    row
}

/// A variable as a cell: text as it is, `null` empty, lists and objects as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The cell with a leading `'` when a spreadsheet would read it as a formula.
pub fn guard(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::runtime::{CallInfo, LeadStatus, Reply};

    #[test]
    fn formula_starts_are_guarded_and_nothing_else() {
        let cases = [
            ("=1+2", "'=1+2"),
            ("+14155551234", "'+14155551234"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            (" =1", " =1"),
            ("'quoted", "'quoted"),
            ("", ""),
            ("jordan@example.com", "jordan@example.com"),
        ];
        for (cell, expected) in cases {
            assert_eq!(guard(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn a_row_follows_the_header() {
        let columns = Columns {
            splits: ["ab".to_string(), "offer".to_string()].into(),
            vars: ["budget".to_string(), "note".to_string(), "tags".to_string()].into(),
            reports: false,
        };
        assert_eq!(
            header(&columns).join(","),
            "key,status,outcome,step,attempts,variant.ab,variant.offer,call_status,call_duration,\
             message_status,reply_text,reply_intent,var.budget,var.note,var.tags"
        );
        let mut lead = Lead::new("+14155550100", Utc::now());
        lead.status = LeadStatus::Exited;
        lead.outcome = Some("handoff".into());
        lead.step = Some("handoff".into());
        lead.attempts = 2;
        lead.variants.insert("offer".into(), "b".into());
        lead.call = Some(CallInfo { status: Some("answered".into()), duration: Some(63.5), attempt: 2 });
        lead.message_status = Some("delivered".into());
        lead.reply =
            Some(Reply { text: Some("yes, call me".into()), intent: Some("confirm".into()), ..Reply::default() });
        lead.vars.insert("budget".into(), 50000.into());
        lead.vars.insert("tags".into(), serde_json::json!(["a", "b"]));
        lead.vars.insert("note".into(), Value::Null);
        let expected = [
            "+14155550100",
            "exited",
            "handoff",
            "handoff",
            "2",
            "",
            "b",
            "answered",
            "63.5",
            "delivered",
            "yes, call me",
            "confirm",
            "50000",
            "",
            "[\"a\",\"b\"]",
        ];
        assert_eq!(row(&columns, &lead), expected);
    }
}
