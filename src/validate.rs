//! `herald validate`: find campaign files, check each, print the diagnostics and a summary.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::check::{self, Options};
use crate::diagnostic::{self, Diagnostic, Diagnostics, Renderer, Severity};
use crate::source::SourceFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// Problems that stop validation before any file is checked, or its report from being written.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("no such file or directory: {0}")]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("cannot read the contacts CSV {path}: {reason}")]
    Contacts { path: PathBuf, reason: String },
    #[error("no campaign files (*.yaml, *.yml) under {}", .0.display())]
    NoCampaignFiles(PathBuf),
    #[error("{0}")]
    Output(std::io::Error),
}

impl ValidateError {
    /// Always 2: every one is about the files or the output, not what the campaigns say.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// One checked file.
pub struct Checked {
    pub file: SourceFile,
    pub diagnostics: Diagnostics,
    /// The compliance checks the file switches off, with their reasons (`checks:`).
    pub checks_off: Vec<crate::syntax::CheckOff>,
    /// herald.yaml's entry: its `checks_off` are the policy's, for every campaign.
    pub policy: bool,
    /// The steps marked `frequency: exempt` (step id, where the mark is).
    pub frequency_exempt: Vec<(String, crate::source::Span)>,
}

/// Every campaign file under `paths` (directories recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ValidateError> {
    collect_matching(paths, is_campaign_name)
}

/// Every file under `paths` whose name passes `wanted` (directories recursively, hidden
/// entries skipped, sorted); files named directly are taken as they are.
pub fn collect_matching(paths: &[PathBuf], wanted: fn(&str) -> bool) -> Result<Vec<PathBuf>, ValidateError> {
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    for path in paths {
        if path.is_dir() {
            walk(path, wanted, &mut files, &mut visited)?;
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(ValidateError::Missing(path.clone()));
        }
    }
    Ok(files)
}

/// Directories are read once each, by their canonical path, so a link back up the tree ends
/// the descent; named files that are not regular files (a FIFO would block, a device never
/// end) are skipped with a warning on stderr.
fn walk(
    dir: &Path,
    wanted: fn(&str) -> bool,
    files: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), ValidateError> {
    let unreadable = |source| ValidateError::Unreadable { path: dir.to_path_buf(), source };
    if !visited.insert(dir.canonicalize().map_err(unreadable)?) {
        eprintln!("warning: skipping {}: a link to a directory already read", dir.display());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(unreadable)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            if wanted(name) {
                eprintln!("warning: skipping {}: a link to nothing", path.display());
            }
            continue;
        };
        if meta.is_dir() {
            walk(&path, wanted, files, visited)?;
        } else if wanted(name) {
            if meta.is_file() {
                files.push(path);
            } else {
                eprintln!("warning: skipping {}: not a regular file", path.display());
            }
        }
    }
    Ok(())
}

/// Campaign files are YAML; test files (`*.test.yaml`) and the config (`herald.yaml`) are not.
fn is_campaign_name(name: &str) -> bool {
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && !name.contains(".test.") && name != "herald.yaml" && name != "herald.yml"
}

/// Read a file as a campaign source. Text that is not UTF-8 is a content problem, reported
/// as a diagnostic; a file that can't be read at all is an environment problem.
pub fn read_source(path: &Path) -> Result<(SourceFile, Option<Diagnostic>), ValidateError> {
    let bytes = std::fs::read(path).map_err(|source| ValidateError::Unreadable { path: path.to_path_buf(), source })?;
    let name = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => Ok((SourceFile::new(name, text.strip_prefix('\u{feff}').unwrap_or(&text).to_string()), None)),
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            let diagnostic = Diagnostic::error(
                "herald::not_utf8",
                format!("the file is not UTF-8 text (invalid byte at offset {at})"),
            )
            .help("campaign files are YAML text in UTF-8; is this the right file?");
            Ok((SourceFile::new(name, ""), Some(diagnostic)))
        }
    }
}

/// The header of a contacts CSV: the columns `contact.<column>` may name.
pub fn contact_columns(path: &Path) -> Result<Vec<String>, ValidateError> {
    let fail = |reason: String| ValidateError::Contacts { path: path.to_path_buf(), reason };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| fail(e.to_string()))?;
    let headers = reader.headers().map_err(|e| fail(e.to_string()))?;
    let columns: Vec<String> = headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_string()).collect();
    if columns.iter().all(String::is_empty) {
        return Err(fail("it has no header row".to_string()));
    }
    Ok(columns)
}

/// Check every file; the options' `base_dir` is set per file. With `contacts`, the rows that
/// each campaign that checks clean would skip are warnings on the CSV (one more `Checked`).
pub fn check_all(
    files: &[PathBuf],
    options: &Options,
    contacts: Option<&Path>,
    config: Option<&Path>,
) -> Result<Vec<Checked>, ValidateError> {
    let mut out = Vec::with_capacity(files.len() + 1);
    let mut graphs = Vec::new();
    // herald.yaml first: the compliance checks look at its channels' kinds.
    let config = config.map(load_config).transpose()?;
    let channels = config.as_ref().and_then(|(_, _, c)| c.as_ref()).map(check::ChannelFacts::of);
    let policy = config.as_ref().and_then(|(_, _, c)| c.as_ref()).map(|c| &c.policy);
    for path in files {
        let (file, problem) = read_source(path)?;
        let (diagnostics, checks_off, frequency_exempt) = match problem {
            Some(diagnostic) => (Diagnostics { items: vec![diagnostic] }, Vec::new(), Vec::new()),
            None => {
                let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let options = Options { base_dir, ..options.clone() };
                let report = check::check_file_report(&file, &options, channels.as_deref(), policy);
                graphs.extend(report.graph);
                (report.diagnostics, report.checks_off, report.frequency_exempt)
            }
        };
        out.push(Checked { file, diagnostics, checks_off, policy: false, frequency_exempt });
    }
    if let Some(contacts) = contacts.filter(|_| !graphs.is_empty()) {
        let (file, diagnostics) = crate::contact_rows::check(contacts, &graphs.iter().collect::<Vec<_>>());
        out.push(Checked { file, diagnostics, checks_off: Vec::new(), policy: false, frequency_exempt: Vec::new() });
    }
    if let Some((file, mut diagnostics, config)) = config {
        let mut checks_off = Vec::new();
        if let Some(config) = &config {
            diagnostics.items.extend(config_channels(config, &graphs));
            checks_off = config.policy.checks_off.clone();
        }
        out.push(Checked { file, diagnostics, checks_off, policy: true, frequency_exempt: Vec::new() });
    }
    Ok(out)
}

/// herald.yaml on its own, then against the channels the campaigns that compiled use.
pub fn check_config(
    path: &Path,
    graphs: &[crate::graph::Graph],
) -> Result<(Checked, Option<crate::config::Config>), ValidateError> {
    let (file, mut diagnostics, config) = load_config(path)?;
    if let Some(config) = &config {
        diagnostics.items.extend(config_channels(config, graphs));
    }
    let checks_off = config.as_ref().map(|c| c.policy.checks_off.clone()).unwrap_or_default();
    Ok((Checked { file, diagnostics, checks_off, policy: true, frequency_exempt: Vec::new() }, config))
}

/// Whether herald.yaml defines each channel the campaigns use, fit for what its steps do.
fn config_channels(config: &crate::config::Config, graphs: &[crate::graph::Graph]) -> Vec<Diagnostic> {
    let used: Vec<(String, String, bool)> = graphs
        .iter()
        .flat_map(|g| g.channels().into_iter().map(|(c, call)| (g.id.clone(), c.to_string(), call)))
        .collect();
    crate::config::check_channels(config, &used)
}

/// herald.yaml on its own: its text, what is wrong in it, and the config when it loads.
fn load_config(path: &Path) -> Result<(SourceFile, Diagnostics, Option<crate::config::Config>), ValidateError> {
    let (file, not_utf8) = read_source(path)?;
    let mut diagnostics = Diagnostics::default();
    let config = match not_utf8 {
        Some(diagnostic) => {
            diagnostics.push(diagnostic);
            None
        }
        None => {
            let base = path.parent().unwrap_or(Path::new("."));
            crate::config::load(&file, base, &crate::config::secret::process_env, &mut diagnostics)
        }
    };
    Ok((file, diagnostics, config))
}

/// (errors, warnings) over every checked file.
pub fn counts(checked: &[Checked]) -> (usize, usize) {
    let errors: usize = checked.iter().map(|c| c.diagnostics.count(Severity::Error)).sum();
    let warnings: usize = checked.iter().map(|c| c.diagnostics.count(Severity::Warning)).sum();
    (errors, warnings)
}

/// Print in `format`; returns (errors, warnings).
pub fn print(checked: &[Checked], format: Format, color: bool, out: &mut dyn Write) -> std::io::Result<(usize, usize)> {
    let (errors, warnings) = counts(checked);
    let summary = summary(checked.len(), errors, warnings);
    match format {
        Format::Human => {
            let renderer = Renderer::new(color);
            for c in checked {
                for d in &c.diagnostics.items {
                    write!(out, "{}", renderer.render(&c.file, d))?;
                    writeln!(out)?;
                }
            }
            for c in checked {
                for (step, span) in &c.frequency_exempt {
                    let (line, column) = c.file.line_col(span.start);
                    writeln!(out, "{}:{line}:{column}: step `{step}` is exempt from policy.frequency", c.file.name)?;
                }
            }
            writeln!(out, "{summary}")?;
        }
        Format::Github => {
            for c in checked {
                for d in &c.diagnostics.items {
                    writeln!(out, "{}", diagnostic::to_github(&c.file, d))?;
                }
                for (step, span) in &c.frequency_exempt {
                    let message = format!("step `{step}` is exempt from policy.frequency");
                    writeln!(out, "{}", diagnostic::github_notice(&c.file, span.start, &message))?;
                }
            }
            writeln!(out, "{summary}")?;
        }
        Format::Json => {
            let files: Vec<_> = checked
                .iter()
                .map(|c| {
                    let diagnostics: Vec<_> =
                        c.diagnostics.items.iter().map(|d| diagnostic::to_json(&c.file, d)).collect();
                    let mut entry = json!({ "file": c.file.name, "diagnostics": diagnostics });
                    // Only files that switch a check off have the key, so other reports stay as they were.
                    if !c.checks_off.is_empty() {
                        entry["checks_off"] = checks_off(&c.file, &c.checks_off, c.policy);
                    }
                    if !c.frequency_exempt.is_empty() {
                        let steps = c.frequency_exempt.iter().map(|(step, span)| {
                            let (line, column) = c.file.line_col(span.start);
                            json!({ "step": step, "line": line, "column": column })
                        });
                        entry["frequency_exempt"] = serde_json::Value::Array(steps.collect());
                    }
                    entry
                })
                .collect();
            let report = json!({ "files": files, "summary": { "files": checked.len(), "errors": errors, "warnings": warnings } });
            writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?;
        }
    }
    Ok((errors, warnings))
}

/// `[{check, reason, line, column}]`: each check a file switches off, where it says so;
/// herald.yaml's add `"source": "policy"` (they hold for every campaign).
fn checks_off(file: &SourceFile, off: &[crate::syntax::CheckOff], policy: bool) -> serde_json::Value {
    let entries: Vec<_> = off
        .iter()
        .map(|c| {
            let (line, column) = file.line_col(c.name.span.start);
            let mut entry = json!({ "check": format!("herald::{}", c.name.value), "reason": c.reason.value, "line": line, "column": column });
            if policy {
                entry["source"] = json!("policy");
            }
            entry
        })
        .collect();
    serde_json::Value::Array(entries)
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}, {}", plural(files, "file"), plural(errors, "error"), plural(warnings, "warning"))
}
