//! `herald report CAMPAIGN`: what happened in a campaign, from its leads' histories — a funnel
//! per step, outcomes and exit reasons, calls per attempt, and each split's variants side by
//! side with a 95% Wilson interval and a chi-square test. As a table, JSON, CSV or one
//! self-contained HTML page (docs/report.md).

mod html;
mod render;
pub mod stats;
mod tally;

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::ops::OpsError;
use stats::{ChiSquare, chi_square_2x2, min_expected, wilson};
use tally::Tally;

/// Below this many leads in a variant, or in the rest of its split, the test is not run
/// ("not enough data yet"); the chi-square test also wants every expected count at 5 or more.
pub const MIN_LEADS: u64 = 30;
const MIN_EXPECTED: f64 = 5.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Html,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub campaign: String,
    pub leads: u64,
    /// Lead status -> leads, every status with at least one lead.
    pub statuses: Vec<(String, u64)>,
    pub steps: Vec<StepRow>,
    pub exits: Vec<ExitRow>,
    pub calls: Vec<AttemptRow>,
    pub calls_total: Option<AttemptRow>,
    pub splits: Vec<SplitReport>,
}

#[derive(Debug, Serialize)]
pub struct StepRow {
    pub step: String,
    pub entered: u64,
    pub acted: u64,
    pub delivered: u64,
    pub replied: u64,
    pub converted: u64,
    pub failed: u64,
    pub opted_out: u64,
    /// Seconds spent at the step per finished visit: median and 90th percentile.
    pub time_median: Option<f64>,
    pub time_p90: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ExitRow {
    pub status: String,
    pub reason: Option<String>,
    pub leads: u64,
}

#[derive(Debug, Serialize)]
pub struct AttemptRow {
    /// `None` for the total row.
    pub attempt: Option<u32>,
    pub dialed: u64,
    pub answered: u64,
    pub answer_rate: Option<f64>,
    pub voicemail: u64,
    pub busy: u64,
    pub no_answer: u64,
    pub failed: u64,
    pub average_duration: Option<f64>,
    pub conversions: u64,
}

#[derive(Debug, Serialize)]
pub struct SplitReport {
    pub step: String,
    pub variants: Vec<VariantRow>,
    /// The plain sentence: which variant does better, or that there is not enough data yet.
    pub verdict: String,
}

#[derive(Debug, Serialize)]
pub struct VariantRow {
    pub variant: String,
    pub leads: u64,
    pub converted: u64,
    pub conversion: Option<f64>,
    /// 95% Wilson interval of the conversion rate.
    pub interval: Option<(f64, f64)>,
    pub replied: u64,
    pub reply_rate: Option<f64>,
    /// This variant against the rest of its split; `None` when there is not enough data.
    pub test: Option<ChiSquare>,
}

/// The campaign's report in `format`, from a store already open (the live server's `GET
/// /report/{campaign}` while `run` holds the database).
pub fn text(store: &crate::store::Store, campaign: &str, format: ReportFormat) -> Result<String, OpsError> {
    let record = crate::ops::campaign(store, campaign)?;
    let report = build(store, &record.id)?;
    Ok(match format {
        ReportFormat::Table => render::table(&report),
        ReportFormat::Json => render::json(&report),
        ReportFormat::Csv => render::csv(&report),
        ReportFormat::Html => html::page(&report),
    })
}

pub fn command(db: &Path, campaign: &str, format: ReportFormat, out: &mut dyn Write) -> Result<(), OpsError> {
    let store = crate::ops::open(db)?;
    let text = text(&store, campaign, format)?;
    out.write_all(text.as_bytes()).map_err(|source| OpsError::Output { what: "the report".into(), source })
}

/// The report of one campaign in the store.
pub fn build(store: &crate::store::Store, campaign: &str) -> Result<Report, OpsError> {
    let mut tally = Tally::default();
    let mut failure = None;
    store.for_each_lead(campaign, |contact, lead| {
        if failure.is_some() {
            return;
        }
        match store.history(campaign, &contact.key) {
            Ok(history) => tally.add(lead, &history),
            Err(e) => failure = Some(e),
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(assemble(campaign, tally))
}

fn assemble(campaign: &str, tally: Tally) -> Report {
    let (steps, tally) = tally.steps();
    let steps = steps
        .into_iter()
        .map(|(step, mut t)| {
            t.visits.sort_by(f64::total_cmp);
            StepRow {
                step,
                entered: t.entered,
                acted: t.acted,
                delivered: t.delivered,
                replied: t.replied,
                converted: t.converted,
                failed: t.failed,
                opted_out: t.opted_out,
                time_median: quantile(&t.visits, 0.5),
                time_p90: quantile(&t.visits, 0.9),
            }
        })
        .collect();
    let exits = tally
        .exits
        .iter()
        .map(|((status, reason), &leads)| ExitRow {
            status: status.as_str().to_string(),
            reason: Some(reason.clone()).filter(|r| !r.is_empty()),
            leads,
        })
        .collect();
    let mut total = tally::AttemptTally::default();
    let mut calls = Vec::new();
    for (&attempt, t) in &tally.attempts {
        total.dialed += t.dialed;
        total.conversions += t.conversions;
        total.durations.extend(&t.durations);
        for (status, n) in &t.outcomes {
            *total.outcomes.entry(status.clone()).or_default() += n;
        }
        calls.push(attempt_row(Some(attempt), t));
    }
    let calls_total = (!calls.is_empty()).then(|| attempt_row(None, &total));
    let splits = tally.splits.iter().map(|(step, variants)| split_report(step, variants)).collect();
    Report {
        campaign: campaign.to_string(),
        leads: tally.leads,
        statuses: tally.statuses.iter().map(|(s, n)| (s.as_str().to_string(), *n)).collect(),
        steps,
        exits,
        calls,
        calls_total,
        splits,
    }
}

fn attempt_row(attempt: Option<u32>, t: &tally::AttemptTally) -> AttemptRow {
    let count = |status: &str| t.outcomes.get(status).copied().unwrap_or(0);
    let answered = count("answered");
    AttemptRow {
        attempt,
        dialed: t.dialed,
        answered,
        answer_rate: ratio(answered, t.dialed),
        voicemail: count("voicemail"),
        busy: count("busy"),
        no_answer: count("no_answer"),
        failed: count("failed"),
        average_duration: (!t.durations.is_empty()).then(|| t.durations.iter().sum::<f64>() / t.durations.len() as f64),
        conversions: t.conversions,
    }
}

fn split_report(step: &str, variants: &std::collections::BTreeMap<String, tally::VariantTally>) -> SplitReport {
    let all_leads: u64 = variants.values().map(|v| v.leads).sum();
    let all_converted: u64 = variants.values().map(|v| v.converted).sum();
    let rows: Vec<VariantRow> = variants
        .iter()
        .map(|(name, v)| {
            let rest = [all_converted - v.converted, (all_leads - v.leads) - (all_converted - v.converted)];
            let table = [[v.converted, v.leads - v.converted], rest];
            let enough =
                v.leads >= MIN_LEADS && all_leads - v.leads >= MIN_LEADS && min_expected(table) >= MIN_EXPECTED;
            VariantRow {
                variant: name.clone(),
                leads: v.leads,
                converted: v.converted,
                conversion: ratio(v.converted, v.leads),
                interval: wilson(v.converted, v.leads),
                replied: v.replied,
                reply_rate: ratio(v.replied, v.leads),
                test: if enough { chi_square_2x2(table) } else { None },
            }
        })
        .collect();
    let verdict = verdict(&rows);
    SplitReport { step: step.to_string(), variants: rows, verdict }
}

/// "`short` converts better than `personal`: 12.1% vs 8.3%, p = 0.004", or why not said.
fn verdict(rows: &[VariantRow]) -> String {
    let rate = |r: &VariantRow| r.conversion.unwrap_or(0.0);
    let Some(best) = rows.iter().max_by(|a, b| rate(a).total_cmp(&rate(b))) else {
        return "no leads reached this split".into();
    };
    if rows.len() < 2 {
        return format!("only `{}` has leads so far", best.variant);
    }
    let Some(test) = best.test else {
        return format!(
            "not enough data yet: the test needs {MIN_LEADS} leads in a variant and in the rest, and 5 or more expected in each cell"
        );
    };
    let others: Vec<&VariantRow> = rows.iter().filter(|r| r.variant != best.variant).collect();
    let (rest_leads, rest_converted) = others.iter().fold((0, 0), |(l, c), r| (l + r.leads, c + r.converted));
    let rest_rate = rest_converted as f64 / rest_leads.max(1) as f64;
    let than = match others.as_slice() {
        [one] => format!("`{}`", one.variant),
        _ => "the others together".into(),
    };
    let figures = format!("{} vs {}, {}", percent(rate(best)), percent(rest_rate), p_clause(test.p));
    if test.p < 0.05 {
        format!("`{}` converts better than {than}: {figures}", best.variant)
    } else {
        format!("no clear difference yet: `{}` leads {than} by {figures}", best.variant)
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The `q` quantile of sorted values (linear between neighbours, as numpy's default).
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = q * last as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64))
}

pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// "p = 0.004", "p < 0.001".
fn p_clause(p: f64) -> String {
    if p < 0.001 { "p < 0.001".into() } else { format!("p = {p:.3}") }
}

pub(crate) fn p_value(p: f64) -> String {
    if p < 0.001 { "< 0.001".into() } else { format!("{p:.3}") }
}
