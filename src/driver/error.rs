//! What stops `run`, and the exit code each failure gives.

use std::process::ExitCode;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Import(#[from] crate::contacts::ImportError),
    #[error(transparent)]
    Rejects(#[from] crate::contacts::RejectsError),
    #[error("{0}")]
    Content(String),
}

impl RunError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Content(_) => ExitCode::from(1),
            RunError::Import(crate::contacts::ImportError::Open { .. }) => ExitCode::from(2),
            RunError::Import(_) => ExitCode::from(1),
            _ => ExitCode::from(2),
        }
    }
}
