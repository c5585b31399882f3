//! `validate --contacts CSV`: the rows each campaign's import would skip for a problem, as
//! warnings (`herald::contact_row`) pointing at their line of the CSV, before launch.

use std::path::Path;

use chrono::Utc;

use crate::contacts::{ImportReport, ImportSettings, Importer, Row};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::graph::Graph;
use crate::source::{SourceFile, Span};

/// Rows reported one by one per campaign; the rest are counted in one more warning.
const LISTED: usize = 100;

/// The CSV as a source file (diagnostics point into it) and its warnings for `graphs`; an
/// unreadable or malformed CSV is one error.
pub fn check(path: &Path, graphs: &[&Graph]) -> (SourceFile, Diagnostics) {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let file = SourceFile::new(path.display().to_string(), text);
    let lines = line_starts(&file.text);
    let mut diagnostics = Diagnostics::default();
    for graph in graphs {
        let prefix = if graphs.len() > 1 { format!("{}: ", graph.id) } else { String::new() };
        if let Err(error) = rows(path, graph, &file, &lines, &prefix, &mut diagnostics) {
            diagnostics.push(Diagnostic::error("herald::contacts_file", format!("{prefix}{error}")));
        }
    }
    (file, diagnostics)
}

fn rows(
    path: &Path,
    graph: &Graph,
    file: &SourceFile,
    lines: &[usize],
    prefix: &str,
    diagnostics: &mut Diagnostics,
) -> Result<(), crate::contacts::ImportError> {
    let mut report = ImportReport::default();
    let mut listed = 0;
    for row in Importer::open(path, ImportSettings::of(graph, Utc::now()))? {
        let row = row?;
        report.record(&row);
        let Row::Skipped { line, reason, problem, .. } = &row else { continue };
        if !reason.is_problem() {
            continue;
        }
        listed += 1;
        if listed > LISTED {
            continue;
        }
        let span = line_span(file, lines, *line, problem.value.as_deref());
        let label = problem.column.clone().unwrap_or_else(|| format!("line {line}"));
        diagnostics.push(
            Diagnostic::warning("herald::contact_row", format!("{prefix}{}", problem.describe(*line)))
                .label(span, label)
                .help(format!(
                    "the row is skipped ({reason}); --rejects FILE on simulate or run writes every such row"
                )),
        );
    }
    if listed > LISTED {
        let more = listed - LISTED;
        diagnostics.push(
            Diagnostic::warning("herald::contact_row", format!("{prefix}{more} more rows would be skipped"))
                .label(Span::new(0, 0), "the file")
                .help("`herald simulate --rejects FILE` writes every rejected row"),
        );
    }
    for line in report.details().iter().filter(|l| l.trim_start().starts_with("warning: ")) {
        let message = line.trim_start().trim_start_matches("warning: ");
        diagnostics.push(
            Diagnostic::warning("herald::contact_zone", format!("{prefix}{message}"))
                .label(Span::new(0, 0), "the file"),
        );
    }
    Ok(())
}

/// The byte offset where each line starts (line 1 at index 0).
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// The cell `value` on `line`, or the whole line when it is not found there.
fn line_span(file: &SourceFile, lines: &[usize], line: u64, value: Option<&str>) -> Span {
    let index = usize::try_from(line).unwrap_or(usize::MAX).saturating_sub(1);
    let start = lines.get(index).copied().unwrap_or(file.text.len());
    let end = lines.get(index + 1).map_or(file.text.len(), |&next| next.saturating_sub(1)).max(start);
    let text = &file.text[start..end];
    match value.filter(|v| !v.is_empty()).and_then(|v| text.find(v).map(|at| (at, v.len()))) {
        Some((at, len)) => Span::new(start + at, start + at + len),
        None => Span::new(start, end.max(start)),
    }
}
