//! The report as one self-contained HTML page: inline CSS and SVG charts (the funnel, and each
//! split's conversion rates with their intervals), no scripts, no network.

use std::fmt::Write;

use super::render::{
    ATTEMPT_HEADER, EXIT_HEADER, STEP_HEADER, VARIANT_HEADER, attempt_cells, exit_cells, step_cells, variant_cells,
};
use super::{Report, SplitReport, percent};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `name` in an escaped sentence as <code>name</code> (an unpaired backtick stays as it is).
fn code_spans(text: &str) -> String {
    if text.matches('`').count() % 2 == 1 {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        match i % 2 {
            1 => out.push_str(&format!("<code>{part}</code>")),
            _ => out.push_str(part),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1d2433;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}\
th,td{padding:.25rem .6rem;text-align:right;border-bottom:1px solid #e3e6ec}th:first-child,td:first-child{text-align:left}\
th{font-weight:600;background:#f5f6f8}.verdict{font-weight:600}.note{color:#5b6473;font-size:.9rem}svg text{font:12px system-ui,sans-serif}";

pub(super) fn page(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("herald report: {}", escape(&report.campaign));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let statuses: Vec<String> = report.statuses.iter().map(|(s, n)| format!("{} {n}", escape(s))).collect();
    let _ = writeln!(out, "<p>{} leads: {}</p>", report.leads, statuses.join(", "));
    funnel(&mut out, report);
    outcomes(&mut out, report);
    calls(&mut out, report);
    for split in &report.splits {
        variants(&mut out, split);
    }
    out.push_str("</body></html>\n");
    out
}

fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn funnel(out: &mut String, report: &Report) {
    out.push_str("<h2>Funnel</h2>\n");
    if report.steps.is_empty() {
        out.push_str("<p>No lead has entered a step yet.</p>\n");
        return;
    }
    let max = report.steps.iter().map(|s| s.entered).max().unwrap_or(0).max(1) as f64;
    let (label, width, bar) = (160.0, 640.0, 22.0);
    let height = report.steps.len() as f64 * (bar + 8.0) + 8.0;
    let _ = writeln!(
        out,
        "<svg class=\"funnel\" role=\"img\" aria-label=\"leads entering each step\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    for (i, s) in report.steps.iter().enumerate() {
        let y = 8.0 + i as f64 * (bar + 8.0);
        let entered = (width - label - 60.0) * s.entered as f64 / max;
        let acted = (width - label - 60.0) * s.acted as f64 / max;
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"{label}\" y=\"{y}\" width=\"{entered:.1}\" height=\"{bar}\" fill=\"#c9d6f2\"><title>entered {}</title></rect><rect x=\"{label}\" y=\"{}\" width=\"{acted:.1}\" height=\"{}\" fill=\"#3c64c8\"><title>acted {}</title></rect><text x=\"{:.1}\" y=\"{}\">{}</text>",
            y + bar * 0.7,
            escape(&s.step),
            s.entered,
            y + bar / 4.0,
            bar / 2.0,
            s.acted,
            label + entered + 6.0,
            y + bar * 0.7,
            s.entered
        );
    }
    out.push_str(
        "</svg>\n<p class=\"note\">Light: leads that entered the step; dark: leads it sent to or called.</p>\n",
    );
    table(out, &STEP_HEADER, report.steps.iter().map(step_cells));
}

fn outcomes(out: &mut String, report: &Report) {
    if report.exits.is_empty() {
        return;
    }
    out.push_str("<h2>Outcomes</h2>\n");
    table(out, &EXIT_HEADER, report.exits.iter().map(|e| exit_cells(e, report.leads)));
}

fn calls(out: &mut String, report: &Report) {
    let Some(total) = &report.calls_total else { return };
    out.push_str("<h2>Calls per attempt</h2>\n");
    table(out, &ATTEMPT_HEADER, report.calls.iter().chain([total]).map(attempt_cells));
}

fn variants(out: &mut String, split: &SplitReport) {
    let _ = writeln!(out, "<h2>Split <code>{}</code></h2>", escape(&split.step));
    let (label, width, bar) = (160.0, 640.0, 22.0);
    let height = split.variants.len() as f64 * (bar + 10.0) + 24.0;
    let max = split.variants.iter().filter_map(|v| v.interval.map(|i| i.1)).fold(0.0_f64, f64::max).max(0.01);
    let scale = |rate: f64| label + (width - label - 70.0) * rate / max;
    let _ = writeln!(
        out,
        "<svg class=\"variants\" role=\"img\" aria-label=\"conversion rate per variant with 95% intervals\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    for (i, v) in split.variants.iter().enumerate() {
        let y = 8.0 + i as f64 * (bar + 10.0);
        let rate = v.conversion.unwrap_or(0.0);
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"{label}\" y=\"{y}\" width=\"{:.1}\" height=\"{bar}\" fill=\"#3c64c8\"><title>{} converted</title></rect>",
            y + bar * 0.7,
            escape(&v.variant),
            scale(rate) - label,
            percent(rate)
        );
        if let Some((lo, hi)) = v.interval {
            let mid = y + bar / 2.0;
            let _ = write!(
                out,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{mid}\" y2=\"{mid}\" stroke=\"#1d2433\" stroke-width=\"2\"/>",
                scale(lo),
                scale(hi)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            scale(v.interval.map_or(rate, |i| i.1)) + 6.0,
            y + bar * 0.7,
            percent(rate)
        );
    }
    out.push_str("</svg>\n");
    table(out, &VARIANT_HEADER, split.variants.iter().map(variant_cells));
    let _ = writeln!(out, "<p class=\"verdict\">{}</p>", code_spans(&escape(&split.verdict)));
}
