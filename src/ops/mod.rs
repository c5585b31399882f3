//! Operating campaigns that ran: `status`, `export`, `explain`, the lifecycle commands (`pause`,
//! `resume`, `cancel`, `retry-failed`, `lead reset|complete|remove`). The parser of inbound
//! event lines moved to `driver/` with `ingest`; it is re-exported here.
//!
//! Everything here goes through `Store`'s public API. The commands never create a database: a
//! mistyped `--db` must not leave an empty file behind and report "no campaigns".

pub use crate::driver::{event_key, events};

pub mod explain;
pub mod export;
pub mod lead;
pub mod lifecycle;
pub mod status;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::closest;
use crate::store::{CampaignRecord, CampaignStatus, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{}", crate::store::no_database(.0))]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no campaign `{id}` in {}{}", db.display(), known_campaigns(id, known))]
    UnknownCampaign { id: String, db: PathBuf, known: Vec<String> },
    #[error("campaign `{campaign}` has no lead for contact `{contact}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownContact { campaign: String, contact: String, suggestion: Option<String> },
    /// A lifecycle change that the campaign's or lead's state does not allow.
    #[error("{0}")]
    Refused(String),
    #[error("cannot write {what}: {source}")]
    Output { what: String, source: std::io::Error },
    #[error("cannot read {}: {source}", .path.display())]
    Input { path: PathBuf, source: std::io::Error },
    /// An output path that writing would destroy something at (the database, a device).
    #[error("not writing {}: {reason}", .path.display())]
    OutputRefused { path: PathBuf, reason: String },
}

impl OpsError {
    /// 1 when what was asked is wrong for the content, 2 for the environment (docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            OpsError::UnknownCampaign { .. } | OpsError::UnknownContact { .. } | OpsError::Refused(_) => 1,
            OpsError::NoDatabase(_)
            | OpsError::Store(_)
            | OpsError::Output { .. }
            | OpsError::Input { .. }
            | OpsError::OutputRefused { .. } => 2,
        }
    }

    /// A closed stdout (`herald export x | head`): the reader has what it wanted, not an error.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, OpsError::Output { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    fn output(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
        let what = what.into();
        move |source| OpsError::Output { what, source }
    }

    fn stdout(source: std::io::Error) -> OpsError {
        OpsError::Output { what: "the output".into(), source }
    }
}

fn known_campaigns(id: &str, known: &[String]) -> String {
    if known.is_empty() {
        return " (it has no campaigns yet)".into();
    }
    // A near spelling, or the start of an id (`winback` for `winback-email`).
    let near = closest(id, known.iter().map(String::as_str))
        .or_else(|| known.iter().map(String::as_str).find(|k| !id.is_empty() && k.starts_with(id)));
    let hint = near.map(|s| format!("; did you mean `{s}`?"));
    let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    format!("{} (campaigns: {list})", hint.unwrap_or_default())
}

/// Opens an existing database; never creates one. A file herald may not write (permissions, a
/// read-only file system) is opened read-only: `status` and `export` work, and a command that
/// changes something says it cannot.
pub fn open(path: &Path) -> Result<Store, OpsError> {
    Store::open_existing(path)?.ok_or_else(|| OpsError::NoDatabase(path.to_path_buf()))
}

/// The campaign's record, or an error naming the campaigns there are.
pub fn campaign(store: &Store, id: &str) -> Result<CampaignRecord, OpsError> {
    match store.campaign(id)? {
        Some(record) => Ok(record),
        None => {
            let known = store.campaigns()?.into_iter().map(|c| c.id).collect();
            Err(OpsError::UnknownCampaign { id: id.to_string(), db: store.path().to_path_buf(), known })
        }
    }
}

/// The name users see and type (the store's serde name).
pub fn status_name(status: CampaignStatus) -> &'static str {
    match status {
        CampaignStatus::Draft => "draft",
        CampaignStatus::Scheduled => "scheduled",
        CampaignStatus::Running => "running",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Completed => "completed",
        CampaignStatus::Cancelled => "cancelled",
    }
}

/// One line on stdout, its control characters escaped (it may name a contact from a CSV).
fn say_out(out: &mut dyn Write, line: &str) -> Result<(), OpsError> {
    writeln!(out, "{}", crate::terminal::clean_lines(line)).map_err(OpsError::stdout)
}

/// "1 lead", "3 leads".
fn leads(n: u64) -> String {
    if n == 1 { "1 lead".into() } else { format!("{n} leads") }
}
