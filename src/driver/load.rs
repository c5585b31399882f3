//! Loading a campaign to run it: check it (against the contacts' columns when known) and
//! print its errors, or hand back the graph.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use crate::check::{self, Options};
use crate::diagnostic::Renderer;
use crate::graph::Graph;
use crate::validate;

/// The compiled campaign, or the exit code after its problems were printed to stderr.
pub fn campaign(path: &Path, columns: Option<Vec<String>>) -> Result<Graph, ExitCode> {
    let (file, problem) = validate::read_source(path).map_err(|e| {
        crate::say!("error: {e}");
        ExitCode::from(2)
    })?;
    let options =
        Options { contact_columns: columns, base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let (graph, diagnostics) = match problem {
        Some(d) => (None, crate::diagnostic::Diagnostics { items: vec![d] }),
        None => check::check_file(&file, &options),
    };
    match graph {
        Some(graph) => Ok(graph),
        None => {
            let renderer = Renderer::new(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
            for d in diagnostics.items.iter().filter(|d| d.is_error()) {
                crate::say_raw!("{}", renderer.render(&file, d));
            }
            crate::say!("error: {} has errors; `herald validate` lists them all", path.display());
            Err(ExitCode::from(1))
        }
    }
}
