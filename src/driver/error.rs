//! What stops `simulate` or `run`: one error for the driver's commands, with its exit code
//! (docs/cli.md), and `RunError`, what stops the engine. `cli` prints them.

use crate::contacts::{ImportError, RejectsError};
use crate::store::StoreError;

use super::load::LoadError;
use super::responses::ResponsesError;
use super::simulate::SimulateError;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The contacts CSV's header could not be read.
    #[error(transparent)]
    Contacts(#[from] ImportError),
    #[error(transparent)]
    Responses(#[from] ResponsesError),
    #[error("two files define campaign `{0}`; campaign ids must be unique")]
    DuplicateCampaign(String),
    /// A `--start` or `--until` that is not a datetime.
    #[error("{0}")]
    Time(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Outbox(#[from] crate::channel::file::OutboxError),
    #[error(transparent)]
    Rejects(#[from] RejectsError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot make a temporary database: {0}")]
    TempDb(std::io::Error),
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Simulate(#[from] SimulateError),
    /// `ingest` never creates a database.
    #[error("{}", crate::store::no_database(.0))]
    NoDatabase(std::path::PathBuf),
    #[error("cannot read {}: {source}", .path.display())]
    Input { path: std::path::PathBuf, source: std::io::Error },
    /// `run --listen`: the server cannot start (no `server.secret`, an address in use).
    #[error("{0}")]
    Serve(String),
    /// `preview`: a contact that is not there or would be skipped, a message that does not render.
    #[error("{0}")]
    Preview(String),
}

impl DriverError {
    /// 1 when the campaign, the contacts or the responses are wrong; 2 for the environment
    /// (files that cannot be read, the database, the output).
    pub fn exit_code(&self) -> u8 {
        match self {
            DriverError::Load(e) => e.exit_code(),
            DriverError::Contacts(e) => import_exit_code(e),
            DriverError::Responses(ResponsesError::Read { .. }) => 2,
            DriverError::Responses(_) | DriverError::DuplicateCampaign(_) | DriverError::Preview(_) => 1,
            DriverError::Run(e) => e.exit_code(),
            DriverError::Simulate(e) => e.exit_code(),
            DriverError::Time(_)
            | DriverError::Store(_)
            | DriverError::Outbox(_)
            | DriverError::Rejects(_)
            | DriverError::Runtime(_)
            | DriverError::TempDb(_)
            | DriverError::Output(_)
            | DriverError::NoDatabase(_)
            | DriverError::Serve(_)
            | DriverError::Input { .. } => 2,
        }
    }
}

/// A contacts CSV that cannot be opened is the environment (2); one that can but is wrong is
/// content (1).
pub fn import_exit_code(error: &ImportError) -> u8 {
    if matches!(error, ImportError::Open { .. }) { 2 } else { 1 }
}

/// What stops the engine (`engine::Runner`) once the campaigns are loaded.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Rejects(#[from] RejectsError),
    #[error("{0}")]
    Content(String),
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Content(_) => 1,
            RunError::Import(e) => import_exit_code(e),
            _ => 2,
        }
    }
}
