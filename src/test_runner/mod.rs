//! `herald test [PATH...]`: unit tests for campaigns. Each `*.test.yaml` names a campaign,
//! inline contacts and cases; each case runs one contact through the campaign with the same
//! driver as `simulate` (virtual clock, temporary store) and checks what happened.
//!
//! Exit codes: 0 every case passed; 1 a case failed or a test file has errors; 2 usage or
//! environment errors (no test files, unreadable paths).

pub mod check;
mod expect;
mod facts;
pub mod format;
pub mod report;
pub mod run;
pub mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use crate::validate::{self, Format, ValidateError};

/// What stops `herald test` before a verdict: no test files, an unreadable one, the output.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error(transparent)]
    Files(#[from] ValidateError),
    #[error("no test files (*.test.yaml) under {0}")]
    NoFiles(String),
    #[error("{0}")]
    Output(std::io::Error),
}

impl TestError {
    /// Always 2 (usage or environment); failed cases are the verdict, not an error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// One test file, checked and run.
pub struct FileReport {
    pub file: SourceFile,
    /// The campaign's id (or the test file's name when the campaign could not be loaded).
    pub campaign: String,
    /// Problems of the test file (and of its campaign), each with the file it points into.
    pub problems: Vec<(SourceFile, Diagnostic)>,
    pub cases: Vec<run::CaseResult>,
}

/// Every `*.test.yaml` / `*.test.yml` under `paths` (directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ValidateError> {
    let is_test = |name: &str| name.ends_with(".test.yaml") || name.ends_with(".test.yml");
    validate::collect_matching(paths, is_test)
}

/// Check one test file and its campaign, then run its cases if both are free of errors;
/// `policy` is herald.yaml's: its quiet hours and frequency caps hold as in a run.
pub fn test_file(path: &Path, policy: &crate::config::Policy) -> Result<FileReport, ValidateError> {
    let (file, problem) = validate::read_source(path)?;
    let fallback = path.file_name().map_or(String::new(), |n| n.to_string_lossy().replace(".test.yaml", ""));
    let mut report = FileReport { file: file.clone(), campaign: fallback, problems: Vec::new(), cases: Vec::new() };
    if let Some(problem) = problem {
        report.problems.push((file, problem));
        return Ok(report);
    }
    let mut diagnostics = Vec::new();
    let mut test = format::parse(file.clone(), &mut diagnostics);
    let graph = test.campaign.as_ref().and_then(|campaign| {
        let (source, problem) = match validate::read_source(&campaign.value) {
            Ok(read) => read,
            Err(e) => {
                diagnostics.push(
                    Diagnostic::error("herald::test_campaign", format!("cannot read the campaign: {e}"))
                        .label(campaign.span, "this file")
                        .help("`campaign:` is relative to the test file's folder"),
                );
                return None;
            }
        };
        // Checked like `validate` without `--contacts`: test rows give only the columns a case
        // needs; the campaign's declared fields fill in the rest (empty).
        let base_dir = campaign.value.parent().map(Path::to_path_buf).unwrap_or_default();
        let options = crate::check::Options { contact_columns: None, base_dir };
        let (graph, found) = match problem {
            Some(d) => (None, vec![d]),
            None => {
                let (graph, found) = crate::check::check_file(&source, &options);
                (graph, found.items)
            }
        };
        if graph.is_none() {
            diagnostics.push(
                Diagnostic::error("herald::test_campaign", "the campaign has errors")
                    .label(campaign.span, "this campaign")
                    .help("`herald validate` lists them all; the errors follow"),
            );
            report.problems.extend(found.into_iter().filter(Diagnostic::is_error).map(|d| (source.clone(), d)));
        }
        graph
    });
    let Some(mut graph) = graph else {
        report.problems.splice(0..0, diagnostics.into_iter().map(|d| (file.clone(), d)));
        return Ok(report);
    };
    crate::driver::load::set_quiet(&mut graph, policy.quiet_hours);
    report.campaign = graph.id.clone();
    let declared = graph.contacts.fields.iter().map(|(name, _)| name).chain(&graph.contacts.require);
    for column in declared {
        if !test.contacts.header.contains(column) {
            test.contacts.header.push(column.clone());
            test.contacts.rows.iter_mut().for_each(|row| row.push(String::new()));
        }
    }
    let resolved = check::check(&test, &graph, &mut diagnostics);
    report.problems.extend(diagnostics.into_iter().map(|d| (file.clone(), d)));
    if report.problems.iter().any(|(_, d)| d.is_error()) {
        return Ok(report);
    }
    for (i, case) in test.cases.iter().enumerate() {
        let saved = run::force_variants(&mut graph, &case.variants);
        let result =
            run::run_case(&test, &graph, case, resolved.rows[i], resolved.starts[i], policy.frequency.as_ref());
        run::restore_weights(&mut graph, saved);
        match result {
            Ok(result) => report.cases.push(result),
            Err(message) => report.problems.push((
                file.clone(),
                Diagnostic::error("herald::test_run", format!("case `{}` could not run: {message}", case.name.value))
                    .label(case.name.span, ""),
            )),
        }
    }
    Ok(report)
}

/// `herald test` as typed: whether a case failed or a test file has errors.
pub fn command(
    paths: Vec<PathBuf>,
    format: Format,
    color: bool,
    policy: crate::config::Policy,
) -> Result<bool, TestError> {
    let paths = if paths.is_empty() { vec![PathBuf::from("campaigns")] } else { paths };
    let files = collect(&paths)?;
    if files.is_empty() {
        let places: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(TestError::NoFiles(places.join(", ")));
    }
    let reports = files.iter().map(|f| test_file(f, &policy)).collect::<Result<Vec<_>, _>>()?;
    let mut out = std::io::stdout().lock();
    let failed = match report::print(&reports, format, color, &mut out) {
        Ok(failed) => failed,
        // The reader went away (`| head`): nothing more to say, and the verdict stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            reports.iter().any(|r| !r.problems.is_empty() || r.cases.iter().any(|c| !c.failures.is_empty()))
        }
        Err(e) => return Err(TestError::Output(e)),
    };
    Ok(failed)
}
