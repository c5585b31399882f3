//! What `simulate` prints: a timeline for campaign authors, JSON lines for tools, or a
//! summary with a forecast of the campaign's duration.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json};

use crate::expr::format_duration;
use crate::runtime::{Event, LeadStatus, Record};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimFormat {
    Timeline,
    Jsonl,
    Summary,
}

/// Tallies kept while the simulation runs: bounded by the number of steps and variants, not
/// by the number of contacts.
#[derive(Debug, Default)]
pub struct Tally {
    pub entered: BTreeMap<String, u64>,
    pub sends: BTreeMap<String, u64>,
    pub calls: BTreeMap<String, u64>,
    /// (step, outcome)
    pub outcomes: BTreeMap<(String, String), u64>,
    pub variants: BTreeMap<(String, String), u64>,
    pub statuses: BTreeMap<LeadStatus, u64>,
    pub reasons: BTreeMap<String, u64>,
    pub deferrals: u64,
    pub retries: u64,
    pub replies: u64,
    pub first_action: Option<DateTime<Utc>>,
    pub last_action: Option<DateTime<Utc>>,
    pub last_finish: Option<DateTime<Utc>>,
}

impl Tally {
    /// Counts a record; allocates only for a step or outcome not seen before.
    pub fn count(&mut self, record: &Record) {
        let step = record.step.as_deref().unwrap_or_default();
        match &record.event {
            Event::Enter => bump(&mut self.entered, step),
            Event::Send { .. } | Event::Call { .. } => {
                let map = if matches!(record.event, Event::Send { .. }) { &mut self.sends } else { &mut self.calls };
                bump(map, step);
                self.first_action = Some(self.first_action.map_or(record.at, |t| t.min(record.at)));
                self.last_action = Some(self.last_action.map_or(record.at, |t| t.max(record.at)));
            }
            Event::Outcome { status } => match self.outcomes.iter_mut().find(|((s, o), _)| s == step && o == status) {
                Some((_, n)) => *n += 1,
                None => drop(self.outcomes.insert((step.to_string(), status.to_string()), 1)),
            },
            Event::Split { variant } => *self.variants.entry((step.to_string(), variant.to_string())).or_default() += 1,
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
}

impl Tally {
    /// Adds another tally's counts (leads walked on another thread).
    pub fn merge(&mut self, other: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (k, n) in from {
                *into.entry(k).or_default() += n;
            }
        }
        add(&mut self.entered, other.entered);
        add(&mut self.sends, other.sends);
        add(&mut self.calls, other.calls);
        add(&mut self.outcomes, other.outcomes);
        add(&mut self.variants, other.variants);
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

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => drop(map.insert(key.to_string(), 1)),
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
    };
    writeln!(
        out,
        "{}  {:<16} {:<18} {:<16} {what}",
        record.at.format("%Y-%m-%d %H:%M"),
        local(record.at, tz),
        contact,
        record.step.as_deref().unwrap_or("-"),
    )
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
    for (step, n) in &tally.entered {
        let sends = tally.sends.get(step).copied().unwrap_or(0);
        let calls = tally.calls.get(step).copied().unwrap_or(0);
        writeln!(out, "  {step:<24} {n:>9}  {sends:>9}  {calls:>9}")?;
    }
    if !tally.variants.is_empty() {
        writeln!(out, "\nvariants")?;
        for ((step, variant), n) in &tally.variants {
            writeln!(out, "  {step}: {variant:<16} {n:>9}")?;
        }
    }
    if !tally.outcomes.is_empty() {
        writeln!(out, "\noutcomes")?;
        for ((step, outcome), n) in &tally.outcomes {
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
