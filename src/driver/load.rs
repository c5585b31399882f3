//! Loading a campaign to run it or draw it: check it (against the contacts' columns when known)
//! and hand back the graph, or its errors for `cli` to print.

use std::path::{Path, PathBuf};

use crate::check::{self, Options};
use crate::diagnostic::Diagnostics;
use crate::graph::Graph;
use crate::source::SourceFile;
use crate::validate::{self, ValidateError};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ValidateError),
    #[error("{} has errors; `herald validate` lists them all", .0.path.display())]
    Invalid(Box<Invalid>),
}

/// A campaign that does not check: its errors, printed before the one-line error.
#[derive(Debug)]
pub struct Invalid {
    pub path: PathBuf,
    pub file: SourceFile,
    /// The errors only (warnings are `validate`'s to show).
    pub errors: Diagnostics,
}

impl LoadError {
    /// 1 when the campaign has errors, 2 when it cannot be read.
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Read(e) => e.exit_code(),
            LoadError::Invalid(_) => 1,
        }
    }
}

/// The compiled campaign, or why there is none.
pub fn campaign(path: &Path, columns: Option<Vec<String>>) -> Result<Graph, LoadError> {
    let (file, problem) = validate::read_source(path)?;
    let options =
        Options { contact_columns: columns, base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let (graph, diagnostics) = match problem {
        Some(d) => (None, Diagnostics { items: vec![d] }),
        None => check::check_file(&file, &options),
    };
    match graph {
        Some(graph) => Ok(graph),
        None => {
            let errors = Diagnostics { items: diagnostics.items.into_iter().filter(|d| d.is_error()).collect() };
            Err(LoadError::Invalid(Box::new(Invalid { path: path.to_path_buf(), file, errors })))
        }
    }
}

/// herald.yaml, checked on its own and against the campaigns about to run; its errors travel
/// up as an `Invalid` file, printed like a campaign's.
pub fn config(path: &Path, graphs: &[Graph]) -> Result<crate::config::Config, LoadError> {
    let (checked, config) = validate::check_config(path, graphs)?;
    let errors: Vec<_> = checked.diagnostics.items.into_iter().filter(|d| d.is_error()).collect();
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            let errors = Diagnostics { items: errors };
            Err(LoadError::Invalid(Box::new(Invalid { path: path.to_path_buf(), file: checked.file, errors })))
        }
    }
}

/// herald.yaml's `policy.quiet_hours` onto a compiled campaign, where the window logic of
/// every driver finds them (docs/policy.md); `None` leaves the schedule as compiled.
pub fn set_quiet(graph: &mut Graph, quiet: Option<crate::config::QuietHours>) {
    graph.schedule.quiet = quiet.map(|q| crate::graph::Quiet { start: q.start, end: q.end });
}
