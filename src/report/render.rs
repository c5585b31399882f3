//! The report as an aligned text table, JSON and CSV.

use std::fmt::Write;

use super::{AttemptRow, ExitRow, Report, StepRow, VariantRow, p_value, percent};

/// "2d 4h", "3h 12m", "12m 5s", "40s".
pub(super) fn span(seconds: f64) -> String {
    let s = seconds.round() as i64;
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "–".into())
}

/// Rows of cells as columns: the first left-aligned, the rest right-aligned.
fn columns(out: &mut String, rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line += &format!("  {cell}{}", " ".repeat(pad));
            } else {
                line += &format!("  {}{cell}", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

pub(super) const STEP_HEADER: [&str; 10] =
    ["step", "entered", "acted", "delivered", "replied", "converted", "failed", "opted out", "time median", "p90"];
pub(super) const EXIT_HEADER: [&str; 4] = ["status", "reason", "leads", "share"];
pub(super) const ATTEMPT_HEADER: [&str; 10] = [
    "attempt",
    "dialed",
    "answered",
    "answer rate",
    "voicemail",
    "busy",
    "no answer",
    "failed",
    "avg duration",
    "conversions",
];
pub(super) const VARIANT_HEADER: [&str; 8] =
    ["variant", "leads", "converted", "rate", "95% interval", "replied", "reply rate", "p (vs rest)"];

/// The cells of each table's rows, shared by the text table and the HTML page.
pub(super) fn step_cells(s: &StepRow) -> Vec<String> {
    let mut row = vec![s.step.clone()];
    row.extend([s.entered, s.acted, s.delivered, s.replied, s.converted, s.failed, s.opted_out].map(|n| n.to_string()));
    row.push(or_dash(s.time_median.map(span)));
    row.push(or_dash(s.time_p90.map(span)));
    row
}

pub(super) fn exit_cells(e: &ExitRow, leads: u64) -> Vec<String> {
    let share = percent(e.leads as f64 / leads.max(1) as f64);
    vec![e.status.clone(), e.reason.clone().unwrap_or_default(), e.leads.to_string(), share]
}

pub(super) fn attempt_cells(row: &AttemptRow) -> Vec<String> {
    let mut cells =
        vec![row.attempt.map_or("total".into(), |a| a.to_string()), row.dialed.to_string(), row.answered.to_string()];
    cells.push(or_dash(row.answer_rate.map(percent)));
    cells.extend([row.voicemail, row.busy, row.no_answer, row.failed].map(|n| n.to_string()));
    cells.push(or_dash(row.average_duration.map(span)));
    cells.push(row.conversions.to_string());
    cells
}

pub(super) fn variant_cells(v: &VariantRow) -> Vec<String> {
    vec![
        v.variant.clone(),
        v.leads.to_string(),
        v.converted.to_string(),
        or_dash(v.conversion.map(percent)),
        or_dash(v.interval.map(|(lo, hi)| format!("{}–{}", percent(lo), percent(hi)))),
        v.replied.to_string(),
        or_dash(v.reply_rate.map(percent)),
        or_dash(v.test.map(|t| p_value(t.p))),
    ]
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub(super) fn table(report: &Report) -> String {
    let mut out = String::new();
    let statuses: Vec<String> = report.statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(out, "campaign `{}`: {} leads ({})", report.campaign, report.leads, statuses.join(", "));
    if report.steps.is_empty() {
        out.push_str("\nno lead has entered a step yet\n");
    } else {
        out.push_str("\nfunnel per step (leads)\n");
        let rows: Vec<_> = std::iter::once(header(&STEP_HEADER)).chain(report.steps.iter().map(step_cells)).collect();
        columns(&mut out, &rows);
    }
    if !report.exits.is_empty() {
        out.push_str("\noutcomes\n");
        let exits = report.exits.iter().map(|e| exit_cells(e, report.leads));
        let rows: Vec<_> = std::iter::once(header(&EXIT_HEADER)).chain(exits).collect();
        columns(&mut out, &rows);
    }
    if let Some(total) = &report.calls_total {
        out.push_str("\ncalls per attempt\n");
        let calls = report.calls.iter().chain([total]).map(attempt_cells);
        let rows: Vec<_> = std::iter::once(header(&ATTEMPT_HEADER)).chain(calls).collect();
        columns(&mut out, &rows);
        out.push_str("  (avg duration: of the calls whose duration was reported, each lead's last call)\n");
    }
    for split in &report.splits {
        let _ = writeln!(out, "\nsplit `{}`", split.step);
        let rows: Vec<_> =
            std::iter::once(header(&VARIANT_HEADER)).chain(split.variants.iter().map(variant_cells)).collect();
        columns(&mut out, &rows);
        let _ = writeln!(out, "  {}", split.verdict);
    }
    crate::terminal::clean_lines(&out).into_owned()
}

pub(super) fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}

/// Long format, one figure per line: `section,name,metric,value` (`funnel,welcome,entered,100`),
/// which a spreadsheet pivots as it likes.
pub(super) fn csv(report: &Report) -> String {
    let mut out = String::from("section,name,metric,value\n");
    let mut line = |section: &str, name: &str, metric: &str, value: String| {
        let _ = writeln!(out, "{section},{},{metric},{value}", cell(name));
    };
    let number = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    line("campaign", &report.campaign, "leads", report.leads.to_string());
    for (status, n) in &report.statuses {
        line("status", status, "leads", n.to_string());
    }
    for s in &report.steps {
        for (metric, n) in [
            ("entered", s.entered),
            ("acted", s.acted),
            ("delivered", s.delivered),
            ("replied", s.replied),
            ("converted", s.converted),
            ("failed", s.failed),
            ("opted_out", s.opted_out),
        ] {
            line("funnel", &s.step, metric, n.to_string());
        }
        line("funnel", &s.step, "time_median_seconds", number(s.time_median));
        line("funnel", &s.step, "time_p90_seconds", number(s.time_p90));
    }
    for e in &report.exits {
        let name = match &e.reason {
            Some(reason) => format!("{} ({reason})", e.status),
            None => e.status.clone(),
        };
        line("outcome", &name, "leads", e.leads.to_string());
    }
    for row in report.calls.iter().chain(&report.calls_total) {
        let name = row.attempt.map_or("total".into(), |a| a.to_string());
        for (metric, n) in [
            ("dialed", row.dialed),
            ("answered", row.answered),
            ("voicemail", row.voicemail),
            ("busy", row.busy),
            ("no_answer", row.no_answer),
            ("failed", row.failed),
            ("conversions", row.conversions),
        ] {
            line("calls", &name, metric, n.to_string());
        }
        line("calls", &name, "answer_rate", number(row.answer_rate));
        line("calls", &name, "average_duration_seconds", number(row.average_duration));
    }
    for split in &report.splits {
        for v in &split.variants {
            let name = format!("{}/{}", split.step, v.variant);
            line("variant", &name, "leads", v.leads.to_string());
            line("variant", &name, "converted", v.converted.to_string());
            line("variant", &name, "conversion", number(v.conversion));
            line("variant", &name, "interval_low", number(v.interval.map(|i| i.0)));
            line("variant", &name, "interval_high", number(v.interval.map(|i| i.1)));
            line("variant", &name, "replied", v.replied.to_string());
            line("variant", &name, "chi_square", number(v.test.map(|t| t.statistic)));
            line("variant", &name, "p", number(v.test.map(|t| t.p)));
        }
    }
    out
}

/// A CSV cell: quoted when it must be, and a leading formula character neutralised (as
/// `export` does), since step ids and variant names come from a file someone else wrote.
fn cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}
