//! What `herald test` prints: ✓/✗ per case with diagnostics and the lead's history for people,
//! annotations for GitHub, or one JSON document for tools.

use std::io::Write;

use serde_json::json;

use super::FileReport;
use crate::diagnostic::{self, Renderer};
use crate::validate::Format;

/// Print every report; returns whether anything failed (a case, or a test file's error).
pub fn print(reports: &[FileReport], format: Format, color: bool, out: &mut dyn Write) -> std::io::Result<bool> {
    let cases: usize = reports.iter().map(|r| r.cases.len()).sum();
    let failed: usize = reports.iter().flat_map(|r| &r.cases).filter(|c| !c.failures.is_empty()).count();
    let broken = reports.iter().filter(|r| r.problems.iter().any(|(_, d)| d.is_error())).count();
    let mut summary =
        format!("{cases} case{}, {} passed, {failed} failed", if cases == 1 { "" } else { "s" }, cases - failed);
    if broken > 0 {
        summary.push_str(&format!(", {broken} test file{} with errors", if broken == 1 { "" } else { "s" }));
    }
    match format {
        Format::Human => {
            let renderer = Renderer::new(color);
            for report in reports {
                for (file, d) in &report.problems {
                    writeln!(out, "✗ {}: {}", report.file.name, d.message)?;
                    write!(out, "{}", renderer.render(file, d))?;
                    writeln!(out)?;
                }
                for case in &report.cases {
                    let mark = if case.failures.is_empty() { "✓" } else { "✗" };
                    writeln!(out, "{mark} {}: {}", report.campaign, case.name)?;
                    if case.failures.is_empty() {
                        continue;
                    }
                    for (i, d) in case.failures.iter().enumerate() {
                        if i > 0 {
                            writeln!(out)?;
                        }
                        write!(out, "{}", renderer.render(&report.file, d))?;
                    }
                    writeln!(out, "  history:")?;
                    for line in &case.history {
                        writeln!(out, "    {line}")?;
                    }
                    writeln!(out)?;
                }
            }
            writeln!(out, "{summary}")?;
        }
        Format::Github => {
            for report in reports {
                for (file, d) in &report.problems {
                    writeln!(out, "{}", diagnostic::to_github(file, d))?;
                }
                for case in &report.cases {
                    let mark = if case.failures.is_empty() { "✓" } else { "✗" };
                    writeln!(out, "{mark} {}: {}", report.campaign, case.name)?;
                    for d in &case.failures {
                        writeln!(out, "{}", diagnostic::to_github(&report.file, d))?;
                    }
                }
            }
            writeln!(out, "{summary}")?;
        }
        Format::Json => {
            let files: Vec<_> = reports
                .iter()
                .map(|r| {
                    let problems: Vec<_> = r.problems.iter().map(|(f, d)| diagnostic::to_json(f, d)).collect();
                    let cases: Vec<_> = r
                        .cases
                        .iter()
                        .map(|c| {
                            let failures: Vec<_> = c.failures.iter().map(|d| diagnostic::to_json(&r.file, d)).collect();
                            json!({ "name": c.name, "passed": c.failures.is_empty(), "failures": failures, "history": c.history })
                        })
                        .collect();
                    json!({ "file": r.file.name, "campaign": r.campaign, "diagnostics": problems, "cases": cases })
                })
                .collect();
            let report = json!({
                "files": files,
                "summary": { "cases": cases, "passed": cases - failed, "failed": failed, "files_with_errors": broken },
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?;
        }
    }
    Ok(failed > 0 || broken > 0)
}
