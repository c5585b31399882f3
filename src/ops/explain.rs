//! `herald explain CAMPAIGN CONTACT`: one lead's whole path, read from its history — every
//! step entered, each condition with the values it read, deferrals with their reason, retries
//! with the outcome behind them, every action with its key — and where the lead stands now.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json, json};

use super::{OpsError, say_out};
use crate::contact::Contact;
use crate::runtime::{Event, Input, Lead, Park, Record, Text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

/// The zone local times are shown in, and where it came from.
struct Zone {
    tz: Tz,
    from: &'static str,
}

pub fn command(
    db: &Path,
    campaign: &str,
    typed: &str,
    format: ExplainFormat,
    out: &mut dyn Write,
) -> Result<(), OpsError> {
    let store = super::open(db)?;
    let record = super::campaign(&store, campaign)?;
    let (contact, lead) = super::lead::find(&store, &record, typed)?;
    let history = store.history(campaign, &contact.key)?;
    let zone = zone(&contact, record.path.as_deref());
    match format {
        ExplainFormat::Text => text(campaign, &contact, &lead, &history, &zone, out),
        ExplainFormat::Json => {
            let value = json(campaign, &contact, &lead, &history, &zone);
            let mut text = serde_json::to_string_pretty(&value).map_err(|e| OpsError::stdout(e.into()))?;
            text.push('\n');
            out.write_all(text.as_bytes()).map_err(OpsError::stdout)
        }
    }
}

/// The contact's `timezone`, else the campaign's schedule zone, read from the campaign file as
/// last run (only its `schedule.timezone`: the file need not check against contacts here),
/// else UTC, the schedule's default.
fn zone(contact: &Contact, file: Option<&Path>) -> Zone {
    if let Some(tz) = contact.timezone.as_deref().and_then(|z| z.parse().ok()) {
        return Zone { tz, from: "the contact's timezone" };
    }
    let Some((source, None)) = file.and_then(|path| crate::validate::read_source(path).ok()) else {
        return Zone { tz: Tz::UTC, from: "the campaign file could not be read" };
    };
    let campaign = crate::syntax::load(&source, &mut crate::diagnostic::Diagnostics::default());
    let written = campaign.as_ref().and_then(|c| c.schedule.as_ref()).and_then(|s| s.timezone.as_ref());
    match written.map(|tz| tz.value.parse::<Tz>()) {
        Some(Ok(tz)) => Zone { tz, from: "the campaign's schedule" },
        Some(Err(_)) => Zone { tz: Tz::UTC, from: "the campaign's timezone is not valid" },
        None => Zone { tz: Tz::UTC, from: "the campaign's schedule, by default" },
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// "Tue 2026-12-01 08:00 PST (2026-12-01T16:00:00Z)".
fn both(at: DateTime<Utc>, tz: Tz) -> String {
    format!("{} ({})", local(at, tz), utc(at))
}

fn text(
    campaign: &str,
    contact: &Contact,
    lead: &Lead,
    history: &[Record],
    zone: &Zone,
    out: &mut dyn Write,
) -> Result<(), OpsError> {
    let tz = zone.tz;
    say_out(out, &format!("lead `{}` in campaign `{campaign}`", contact.key))?;
    say_out(out, &format!("local times in {} ({})", tz.name(), zone.from))?;
    let folded = (0..history.len()).filter(|&i| repeated(history, i)).count();
    if folded > 0 {
        say_out(
            out,
            &format!(
                "{folded} `goal`/`exit_when` checks that read what the one before read are left out (`--format json` has them)"
            ),
        )?;
    }
    say_out(out, "")?;
    say_out(out, &format!("{:<20}  {:<24}  {:<18}  what", "UTC", "local", "step"))?;
    for (i, record) in history.iter().enumerate() {
        if repeated(history, i) {
            continue;
        }
        let line = format!(
            "{:<20}  {:<24}  {:<18}  {}",
            utc(record.at),
            local(record.at, tz),
            record.step.as_deref().unwrap_or("-"),
            describe(history, i, tz)
        );
        say_out(out, line.trim_end())?;
    }
    if history.is_empty() {
        say_out(out, "(no history recorded)")?;
    }
    say_out(out, "")?;
    for line in now_lines(lead, history, tz) {
        say_out(out, &line)?;
    }
    Ok(())
}

/// Whether the record at `i` is a `goal` or `exit_when` check that says what the last one
/// said: they are checked after every input, and the repeats would bury the path.
fn repeated(history: &[Record], i: usize) -> bool {
    let Event::Condition { what, source, result, values } = &history[i].event else { return false };
    if what != "goal" && what != "exit_when" {
        return false;
    }
    let same = |r: &Record| match &r.event {
        Event::Condition { what: w, source: s, .. } => w == what && s == source,
        _ => false,
    };
    history[..i].iter().rev().find(|r| same(r)).is_some_and(
        |last| matches!(&last.event, Event::Condition { result: r, values: v, .. } if r == result && v == values),
    )
}

/// What the record at `i` says, in words.
fn describe(history: &[Record], i: usize, tz: Tz) -> String {
    match &history[i].event {
        Event::Enter => "entered".into(),
        Event::Condition { what, source, result, values } => condition(what, source, *result, values),
        Event::Send { channel, to, text, key, variant } => {
            let variant = variant.as_ref().map_or(String::new(), |v| format!(" [variant {v}]"));
            format!("send {channel} to {to}{variant}, key {key}: {}", one_line(text, 80))
        }
        Event::Call { channel, to, key, attempt } => format!("call {channel} {to} (attempt {attempt}), key {key}"),
        Event::Outcome { status } => format!("outcome: {status}"),
        Event::Reply { text, intent } => {
            let intent = intent.as_ref().map_or(String::new(), |i| format!(" (intent {i})"));
            format!("reply: {}{intent}", text.as_deref().map_or("(no text)".into(), |t| one_line(t, 80)))
        }
        Event::Event { name } => format!("event: {name}"),
        Event::Wait { until } => format!("wait until {}", both(*until, tz)),
        Event::Route { to } => format!("→ {to}"),
        Event::Split { variant } => format!("split → variant {variant}"),
        Event::Set { name, value } => format!("set vars.{name} = {value}"),
        Event::Retry { attempt, until } => {
            let cause = retry_cause(history, i).map_or(String::new(), |c| format!(" after {c}"));
            format!("retry{cause}: attempt {attempt} at {}", both(*until, tz))
        }
        Event::Defer { until, reason } => format!("deferred to {} ({reason})", both(*until, tz)),
        Event::Skip { reason } => format!("skipped: its `{reason}` condition is false"),
        // The runtime records only that a value was missing; preview names it.
        Event::Error { reason } if reason == "undefined value" => {
            "error: undefined value (`herald preview FILE --contacts CSV --contact KEY` names it)".into()
        }
        Event::Error { reason } => format!("error: {reason}"),
        Event::Exit { lead_status, reason } => match reason {
            Some(reason) => format!("■ {lead_status} ({reason})"),
            None => format!("■ {lead_status}"),
        },
        Event::CallReport { summary, transcript, recording_url } => {
            let mut line =
                format!("call report: {}", summary.as_deref().map_or("(no summary)".into(), |s| one_line(s, 200)));
            if let Some(transcript) = transcript {
                line += &format!("; transcript {}", one_line(transcript, 200));
            }
            if let Some(url) = recording_url {
                line += &format!("; recording {url}");
            }
            line
        }
    }
}

/// `until: vars.confirmed == true → false, vars.confirmed = null`
fn condition(what: &str, source: &str, result: bool, values: &[(Text, Text)]) -> String {
    let mut line = format!("{what}: {} → {result}", one_line_raw(source));
    for (name, value) in values {
        line += &format!(", {name} = {value}");
    }
    line
}

/// What made a retry: the outcome recorded before it on the same step (`outcome no_answer`),
/// else the `until` condition still false (its line comes just before).
fn retry_cause(history: &[Record], i: usize) -> Option<String> {
    let step = &history[i].step;
    for record in history[..i].iter().rev().take_while(|r| &r.step == step) {
        match &record.event {
            Event::Outcome { status } => return Some(format!("outcome {status}")),
            Event::Send { .. } | Event::Call { .. } | Event::Enter => break,
            _ => {}
        }
    }
    let until_false = |r: &Record| matches!(&r.event, Event::Condition { what, result: false, .. } if what == "until");
    history[..i].last().filter(|r| until_false(r)).map(|_| "`until` still false".to_string())
}

fn one_line_raw(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn one_line(text: &str, max: usize) -> String {
    let flat = one_line_raw(text);
    if flat.chars().count() <= max {
        return format!("\"{flat}\"");
    }
    let cut: String = flat.chars().take(max).collect();
    format!("\"{cut}…\"")
}

/// Why a lead not yet final will be woken, as `Park` says; a lead held back from acting names
/// what held it last (its latest record is that deferral).
fn waiting_for(lead: &Lead, history: &[Record]) -> String {
    let deferred = match history.last().map(|r| &r.event) {
        Some(Event::Defer { reason, .. }) => Some(reason),
        _ => None,
    };
    match (lead.park, deferred) {
        (Park::Act, Some(reason)) if lead.attempts > 0 => format!("its turn to act again ({reason})"),
        (Park::Act, Some(reason)) => format!("its turn to act ({reason})"),
        (Park::Start, _) => "the start".into(),
        (Park::Wait, _) => "the end of a wait".into(),
        (Park::Await, _) => "a reply or event, else the timeout".into(),
        (Park::Act, None) if lead.attempts > 0 => {
            "its turn to act again (a retry, the schedule window, the policy or pacing)".into()
        }
        (Park::Act, None) => "its turn to act (the schedule window, the policy or pacing)".into(),
        (Park::Outcome, _) => "the outcome of its action, else the timeout".into(),
    }
}

/// Where the lead stands: status, step, attempts, outcome, next due time, variants and vars.
fn now_lines(lead: &Lead, history: &[Record], tz: Tz) -> Vec<String> {
    let mut lines = vec![format!("now: {}", lead.status.as_str())];
    if let Some(step) = &lead.step {
        lines.push(format!("  step: {step} (attempt {})", lead.attempts));
    }
    if let Some(outcome) = &lead.outcome {
        lines.push(format!("  outcome: {outcome}"));
    }
    match lead.wake_at.filter(|_| !lead.status.is_final()) {
        Some(at) => lines.push(format!("  next due: {}, waiting for {}", both(at, tz), waiting_for(lead, history))),
        None if lead.status.is_final() => lines.push("  next due: never (final)".into()),
        None => lines.push(format!("  next due: not set, waiting for {}", waiting_for(lead, history))),
    }
    for (at, input) in lead.inbox.iter().filter(|_| !lead.status.is_final()) {
        lines.push(format!("  queued: {} at {}", queued(input), both(*at, tz)));
    }
    for (split, variant) in &lead.variants {
        lines.push(format!("  variant.{split} = {variant}"));
    }
    for (name, value) in &lead.vars {
        lines.push(format!("  vars.{name} = {value}"));
    }
    lines
}

/// An input already known and due later (a simulated reply, a call's outcome), in words.
fn queued(input: &Input) -> String {
    match input {
        Input::Wake => "a wake-up".into(),
        Input::Call { status, .. } => format!("call outcome {status}"),
        Input::Delivery { status } => format!("delivery {status}"),
        Input::Reply { text, .. } => {
            format!("reply {}", text.as_deref().map_or("(no text)".into(), |t| one_line(t, 60)))
        }
        Input::Event { name, .. } => format!("event {name}"),
        Input::OptOut => "opt-out".into(),
    }
}

fn json(campaign: &str, contact: &Contact, lead: &Lead, history: &[Record], zone: &Zone) -> Json {
    let tz = zone.tz;
    let records: Vec<Json> = history
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut object = Map::new();
            object.insert("at".into(), Json::String(utc(record.at)));
            object.insert("local".into(), Json::String(local(record.at, tz)));
            object.insert("step".into(), record.step.as_deref().map_or(Json::Null, |s| Json::String(s.into())));
            if let Ok(Json::Object(fields)) = serde_json::to_value(&record.event) {
                object.extend(fields);
            }
            if let Event::Retry { .. } = record.event {
                object.insert("after".into(), retry_cause(history, i).map_or(Json::Null, Json::String));
            }
            if let Event::Condition { values, .. } = &record.event {
                let values: Map<String, Json> =
                    values.iter().map(|(k, v)| (k.to_string(), Json::String(v.to_string()))).collect();
                object.insert("values".into(), Json::Object(values));
            }
            object.insert("says".into(), Json::String(describe(history, i, tz)));
            Json::Object(object)
        })
        .collect();
    let due = lead.wake_at.filter(|_| !lead.status.is_final());
    let inbox: Vec<Json> = (lead.inbox.iter().filter(|_| !lead.status.is_final()))
        .map(|(at, input)| json!({ "at": utc(*at), "what": queued(input) }))
        .collect();
    json!({
        "campaign": campaign,
        "contact": contact.key,
        "timezone": tz.name(),
        "timezone_from": zone.from,
        "now": {
            "status": lead.status.as_str(),
            "step": lead.step.as_deref(),
            "attempts": lead.attempts,
            "outcome": lead.outcome,
            "next_due": due.map(utc),
            "next_due_local": due.map(|at| local(at, tz)),
            "waiting_for": (!lead.status.is_final()).then(|| waiting_for(lead, history)),
            "queued": inbox,
            "variants": lead.variants,
            "vars": lead.vars,
        },
        "history": records,
    })
}
