//! What `simulate` prints: a timeline for campaign authors, JSON lines for tools, or a
//! summary with a forecast of the campaign's duration.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json};

use crate::expr::format_duration;
use crate::runtime::{Event, LeadStatus, Record, Text};
use crate::short::same;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimFormat {
    Timeline,
    Jsonl,
    Summary,
    /// `herald report` of the simulated run: a forecast (`cli` prints it from the store).
    Report,
}

impl SimFormat {
    /// Whether every lead's lines are printed as they happen (else a summary at the end).
    pub fn per_line(self) -> bool {
        matches!(self, SimFormat::Timeline | SimFormat::Jsonl)
    }
}

/// Tallies kept while the simulation runs: bounded by the number of steps and variants, not
/// by the number of contacts.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per step, in the order first seen; `summary` sorts them.
    steps: Vec<StepTally>,
    /// The step of the last record counted: a lead's records come in runs on one step, and
    /// leads go through the steps in much the same order (the one after is tried next).
    hint: usize,
    pub statuses: BTreeMap<LeadStatus, u64>,
    pub reasons: BTreeMap<String, u64>,
    pub deferrals: u64,
    pub retries: u64,
    pub replies: u64,
    pub first_action: Option<DateTime<Utc>>,
    pub last_action: Option<DateTime<Utc>>,
    pub last_finish: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct StepTally {
    step: Text,
    entered: u64,
    sends: u64,
    calls: u64,
    outcomes: Vec<(Text, u64)>,
    variants: Vec<(Text, u64)>,
}

impl Tally {
    /// Counts a record; allocates only for a step, outcome or variant not seen before.
    pub fn count(&mut self, record: &Record) {
        let step = record.step.as_deref().unwrap_or_default();
        match &record.event {
            Event::Enter => self.step(step).entered += 1,
            Event::Send { .. } => self.acted(step, record.at).sends += 1,
            Event::Call { .. } => self.acted(step, record.at).calls += 1,
            Event::Outcome { status } => add_to(&mut self.step(step).outcomes, status, 1),
            Event::Split { variant } => add_to(&mut self.step(step).variants, variant, 1),
            Event::Defer { .. } => self.deferrals += 1,
            Event::Retry { .. } => self.retries += 1,
            Event::Reply { .. } => self.replies += 1,
            Event::Exit { lead_status, reason } => {
                *self.statuses.entry(*lead_status).or_default() += 1;
                if let Some(reason) = reason {
                    *self.reasons.entry(format!("{lead_status}: {reason}")).or_default() += 1;
                }
                self.last_finish = Some(self.last_finish.map_or(record.at, |t| t.max(record.at)));
            }
            _ => {}
        }
    }

    fn step(&mut self, step: &str) -> &mut StepTally {
        // The same step again, else most likely the next, else any.
        let is = |i: usize, steps: &[StepTally]| steps.get(i).is_some_and(|s| same(&s.step, step));
        if !is(self.hint, &self.steps) {
            self.hint = if is(self.hint + 1, &self.steps) {
                self.hint + 1
            } else {
                match self.steps.iter().position(|s| same(&s.step, step)) {
                    Some(i) => i,
                    None => {
                        self.steps.push(StepTally { step: Text::new(step), ..StepTally::default() });
                        self.steps.len() - 1
                    }
                }
            };
        }
        &mut self.steps[self.hint]
    }

    fn acted(&mut self, step: &str, at: DateTime<Utc>) -> &mut StepTally {
        self.first_action = Some(self.first_action.map_or(at, |t| t.min(at)));
        self.last_action = Some(self.last_action.map_or(at, |t| t.max(at)));
        self.step(step)
    }

    /// Leads that entered each step, with the sends and calls made there, by step id.
    pub fn entered(&self) -> BTreeMap<&str, (u64, u64, u64)> {
        self.steps.iter().filter(|s| s.entered > 0).map(|s| (s.step.as_str(), (s.entered, s.sends, s.calls))).collect()
    }

    /// Outcomes per (step, outcome).
    pub fn outcomes(&self) -> BTreeMap<(&str, &str), u64> {
        self.per_step(|s| &s.outcomes)
    }

    /// Leads per (split step, variant).
    pub fn variants(&self) -> BTreeMap<(&str, &str), u64> {
        self.per_step(|s| &s.variants)
    }

    fn per_step<'a>(&'a self, of: impl Fn(&'a StepTally) -> &'a Vec<(Text, u64)>) -> BTreeMap<(&'a str, &'a str), u64> {
        self.steps.iter().flat_map(|s| of(s).iter().map(|(k, n)| ((s.step.as_str(), k.as_str()), *n))).collect()
    }

    /// Adds another tally's counts (leads walked on another thread).
    pub fn merge(&mut self, other: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (k, n) in from {
                *into.entry(k).or_default() += n;
            }
        }
        for theirs in other.steps {
            let ours = self.step(&theirs.step);
            ours.entered += theirs.entered;
            ours.sends += theirs.sends;
            ours.calls += theirs.calls;
            for (status, n) in theirs.outcomes {
                add_to(&mut ours.outcomes, &status, n);
            }
            for (variant, n) in theirs.variants {
                add_to(&mut ours.variants, &variant, n);
            }
        }
        add(&mut self.statuses, other.statuses);
        add(&mut self.reasons, other.reasons);
        self.deferrals += other.deferrals;
        self.retries += other.retries;
        self.replies += other.replies;
        self.first_action = match (self.first_action, other.first_action) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // `None` is less than any `Some`.
        self.last_action = self.last_action.max(other.last_action);
        self.last_finish = self.last_finish.max(other.last_finish);
    }
}

fn add_to(counts: &mut Vec<(Text, u64)>, key: &str, n: u64) {
    match counts.iter_mut().find(|(k, _)| same(k, key)) {
        Some((_, count)) => *count += n,
        None => counts.push((Text::new(key), n)),
    }
}

/// One JSON object per record: `at`, `contact`, `step`, `event` and the event's fields.
pub fn jsonl(out: &mut impl Write, contact: &str, record: &Record) -> std::io::Result<()> {
    let mut object = Map::new();
    object.insert("at".into(), Json::String(record.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    object.insert("contact".into(), Json::String(contact.to_string()));
    object.insert("step".into(), record.step.as_deref().map_or(Json::Null, |s| Json::String(s.into())));
    if let Ok(Json::Object(fields)) = serde_json::to_value(&record.event) {
        for (k, v) in fields {
            let v = match (k.as_str(), v) {
                ("until", Json::String(s)) => Json::String(rfc3339(&s)),
                (_, v) => v,
            };
            object.insert(k, v);
        }
    }
    serde_json::to_writer(&mut *out, &Json::Object(object))?;
    out.write_all(b"\n")
}

fn rfc3339(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .map_or(s.to_string(), |t| t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A line for people: UTC time, the contact's local time, the contact, the step, what happened.
/// The contact and what happened carry CSV cells and event fields: their control characters
/// are escaped (`terminal`).
pub fn timeline(out: &mut impl Write, contact: &str, tz: Tz, record: &Record) -> std::io::Result<()> {
    let what = match &record.event {
        Event::Enter | Event::Condition { .. } | Event::Set { .. } => return Ok(()),
        Event::Send { channel, to, text, variant, .. } => {
            let variant = variant.as_ref().map_or(String::new(), |v| format!(" [{v}]"));
            format!("send {channel} to {to}{variant}: {}", one_line(text, 100))
        }
        Event::Call { channel, to, attempt, .. } => format!("call {channel} {to} (attempt {attempt})"),
        Event::Outcome { status } => format!("outcome: {status}"),
        Event::Reply { text, intent } => {
            let intent = intent.as_ref().map_or(String::new(), |i| format!(" (intent {i})"));
            format!("reply: {}{intent}", one_line(text.as_deref().unwrap_or(""), 80))
        }
        Event::Event { name } => format!("event: {name}"),
        Event::Wait { until } => format!("wait until {}", local(*until, tz)),
        Event::Route { to } => format!("→ {to}"),
        Event::Split { variant } => format!("split → variant {variant}"),
        Event::Retry { attempt, until } => format!("retry (attempt {attempt}) at {}", local(*until, tz)),
        Event::Defer { until, reason } => format!("deferred to {} ({reason})", local(*until, tz)),
        Event::Skip { reason } => format!("skipped ({reason} is false)"),
        Event::Error { reason } => format!("error: {reason}"),
        Event::Exit { lead_status, reason } => match reason {
            Some(reason) => format!("■ {lead_status} ({reason})"),
            None => format!("■ {lead_status}"),
        },
        Event::CallReport { summary, .. } => {
            format!("call report: {}", summary.as_deref().map_or("(no summary)".into(), |s| one_line(s, 80)))
        }
    };
    let (dim, paint, reset) = match COLOR.get().copied().unwrap_or(false) {
        true => ("\x1b[2m", paint(&record.event), "\x1b[0m"),
        false => ("", "", ""),
    };
    writeln!(
        out,
        "{dim}{}  {:<16}{reset} {:<18} {:<16} {paint}{what}{reset}",
        record.at.format("%Y-%m-%d %H:%M"),
        local(record.at, tz),
        crate::terminal::clean(contact),
        record.step.as_deref().unwrap_or("-"),
        what = crate::terminal::clean(&what),
    )
}

/// Whether `timeline` colours its lines: set once by `simulate` for a terminal (`terminal::color`,
/// so `NO_COLOR` is respected); unset (plain) everywhere else.
static COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn color_timeline(on: bool) {
    let _ = COLOR.set(on);
}

/// The colour of what happened: actions cyan, replies magenta, good outcomes and ends green,
/// bad ones red, waits and deferrals yellow.
fn paint(event: &Event) -> &'static str {
    const GOOD: &[&str] = &["answered", "delivered", "sent", "opened", "clicked"];
    match event {
        Event::Send { .. } | Event::Call { .. } => "\x1b[36m",
        Event::Reply { .. } | Event::Event { .. } => "\x1b[35m",
        Event::Outcome { status } if GOOD.contains(&status.as_str()) => "\x1b[32m",
        Event::Outcome { .. } | Event::Error { .. } => "\x1b[31m",
        Event::Exit { lead_status, .. } => match lead_status.as_str() {
            "completed" | "converted" => "\x1b[1;32m",
            "failed" | "opted_out" | "expired" | "cancelled" => "\x1b[1;31m",
            _ => "\x1b[1m",
        },
        Event::Wait { .. } | Event::Defer { .. } | Event::Retry { .. } => "\x1b[33m",
        _ => "",
    }
}

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %H:%M %Z").to_string()
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return format!("\"{flat}\"");
    }
    let cut: String = flat.chars().take(max).collect();
    format!("\"{cut}…\"")
}

/// The closing summary: final statuses, the funnel, variants and the forecast.
pub fn summary(
    out: &mut impl Write,
    campaign: &str,
    start: DateTime<Utc>,
    tally: &Tally,
    statuses: &BTreeMap<LeadStatus, u64>,
) -> std::io::Result<()> {
    let contacts: u64 = statuses.values().sum();
    writeln!(out, "campaign {campaign}: {contacts} contacts, simulated from {}", start.format("%Y-%m-%d %H:%M UTC"))?;
    writeln!(out, "\nfinal status")?;
    for (status, n) in statuses.iter().filter(|(s, _)| s.is_final()) {
        writeln!(out, "  {:<14} {n:>9}  {:>5.1}%", status.as_str(), percent(*n, contacts))?;
    }
    let open: Vec<_> = statuses.iter().filter(|(s, _)| !s.is_final()).collect();
    if !open.is_empty() {
        writeln!(out, "\nstill in progress when the simulation stopped")?;
        for (status, n) in open {
            writeln!(out, "  {:<14} {n:>9}  {:>5.1}%", status.as_str(), percent(*n, contacts))?;
        }
    }
    if !tally.reasons.is_empty() {
        writeln!(out, "\nreasons")?;
        for (reason, n) in &tally.reasons {
            writeln!(out, "  {reason:<30} {n:>9}")?;
        }
    }
    writeln!(out, "\nsteps (leads entered, sends, calls)")?;
    for (step, (n, sends, calls)) in tally.entered() {
        writeln!(out, "  {step:<24} {n:>9}  {sends:>9}  {calls:>9}")?;
    }
    let variants = tally.variants();
    if !variants.is_empty() {
        writeln!(out, "\nvariants")?;
        for ((step, variant), n) in variants {
            writeln!(out, "  {step}: {variant:<16} {n:>9}")?;
        }
    }
    let outcomes = tally.outcomes();
    if !outcomes.is_empty() {
        writeln!(out, "\noutcomes")?;
        for ((step, outcome), n) in outcomes {
            writeln!(out, "  {:<30} {n:>9}", format!("{step}: {outcome}"))?;
        }
    }
    writeln!(
        out,
        "\nreplies {}, retries {}, window/pacing deferrals {}",
        tally.replies, tally.retries, tally.deferrals
    )?;
    if let (Some(first), Some(last)) = (tally.first_action, tally.last_action) {
        writeln!(out, "actions from {} to {}", first.format("%Y-%m-%d %H:%M UTC"), last.format("%Y-%m-%d %H:%M UTC"))?;
    }
    if let Some(finish) = tally.last_finish {
        let still_open = statuses.iter().any(|(s, n)| !s.is_final() && *n > 0);
        let what = if still_open { "last lead to finish so far finished" } else { "last lead finished" };
        writeln!(
            out,
            "{what} {} ({} after the start)",
            finish.format("%Y-%m-%d %H:%M UTC"),
            format_duration(chrono::TimeDelta::minutes((finish - start).num_minutes()))
        )?;
    }
    Ok(())
}

fn percent(n: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { n as f64 * 100.0 / total as f64 }
}
