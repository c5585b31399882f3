//! The interpreter without the binary: `herald::runtime::advance` on campaigns compiled from
//! YAML text, one lead fed inputs at given times, as tables. Each case states the lead's end
//! state, the effects and the history (without condition records) it leaves; every case that
//! differs is reported, not only the first. The semantics are docs/language.md's.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Value, json};

use herald::check::{Options, check_file};
use herald::contacts::Contact;
use herald::fields::Fields;
use herald::graph::Graph;
use herald::runtime::advance::advance_dated;
use herald::runtime::{Effect, Event, Input, Lead, Pacer, Record, Unpaced};
use herald::source::SourceFile;

mod outside;
mod routes;
mod steps;

const KEY: &str = "+14155550100";

/// One input: when it is taken, what it is, and when it happened if earlier (a dated event).
struct Feed {
    now: &'static str,
    input: In,
    at: Option<&'static str>,
}

enum In {
    Wake,
    Reply(&'static str),
    Intent(&'static str),
    Event(&'static str, Value),
    Call(&'static str, Value),
    Delivery(&'static str),
}

fn at(now: &'static str, input: In) -> Feed {
    Feed { now, input, at: None }
}

/// An input taken at `now` that happened at `happened`.
fn dated(now: &'static str, happened: &'static str, input: In) -> Feed {
    Feed { now, input, at: Some(happened) }
}

fn wake(now: &'static str) -> Feed {
    at(now, In::Wake)
}

/// A pacer that refuses every action until `until`.
struct Refuse(DateTime<Utc>);

impl Pacer for Refuse {
    fn acquire(&mut self, _: herald::graph::StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        if now < self.0 { Err(self.0) } else { Ok(()) }
    }
}

#[derive(Default)]
struct Case {
    name: &'static str,
    /// The steps and campaign keys after `id: t` and `channel: sms`.
    campaign: &'static str,
    /// The contact's `timezone` column.
    timezone: Option<&'static str>,
    /// Pacing refuses actions until this time.
    paced_until: Option<&'static str>,
    feed: Vec<Feed>,
    /// `status step park timer reason` after the last input.
    state: &'static str,
    effects: &'static [&'static str],
    history: &'static [&'static str],
}

/// Times in the tables are `MM-DD HH:MM` in 2026, UTC, or a full RFC 3339 time.
fn time(text: &str) -> DateTime<Utc> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return t.with_timezone(&Utc);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|e| panic!("time {text:?}: {e}"));
    naive.and_utc()
}

/// A time as the tables write it: `MM-DD HH:MM` (seconds only when there are some).
fn show(t: DateTime<Utc>) -> String {
    let format = if t.year() == 2026 { "%m-%d %H:%M:%S%.f" } else { "%Y-%m-%d %H:%M:%S%.f" };
    let text = t.format(format).to_string();
    text.strip_suffix(":00").map(str::to_string).unwrap_or(text)
}

pub fn compile(yaml: &str) -> Graph {
    let file = SourceFile::new("t.yaml", yaml.to_string());
    let options = Options { contact_columns: None, base_dir: std::path::PathBuf::from(".") };
    let (graph, diagnostics) = check_file(&file, &options);
    graph.unwrap_or_else(|| {
        let problems: Vec<String> = diagnostics.items.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
        panic!("the campaign does not compile:\n{yaml}\n{}", problems.join("\n"))
    })
}

fn contact(timezone: Option<&str>) -> Contact {
    let mut fields = Fields::new();
    fields.insert("phone", json!(KEY));
    fields.insert("name", json!("Ann"));
    if let Some(zone) = timezone {
        fields.insert("timezone", json!(zone));
    }
    Contact { key: KEY.to_string(), timezone: timezone.map(str::to_string), fields }
}

fn input(input: &In) -> Input {
    let map = |v: &Value| v.as_object().cloned().unwrap_or_default();
    match input {
        In::Wake => Input::Wake,
        In::Reply(text) => Input::Reply { text: Some(text.to_string()), intent: None, channel: Some("sms".into()) },
        In::Intent(intent) => {
            Input::Reply { text: Some("…".into()), intent: Some(intent.to_string()), channel: None }
        }
        In::Event(name, vars) => Input::Event { name: name.to_string(), vars: map(vars) },
        In::Call(status, vars) => Input::Call { status: (*status).into(), duration: None, vars: map(vars) },
        In::Delivery(status) => Input::Delivery { status: (*status).into() },
    }
}

fn effect(effect: &Effect) -> String {
    match effect {
        Effect::Act(action) => {
            format!("{:?} {} to {} {:?} key {}", action.kind, action.step, action.to, action.text.as_str(), action.key)
        }
        Effect::Suppress(address) => format!("suppress {address}"),
    }
}

/// A history record in a line; `None` for condition records (their values are `explain`'s).
fn record(record: &Record) -> Option<String> {
    let step = record.step.as_deref().unwrap_or("-");
    let what = match &record.event {
        Event::Enter => format!("enter {step}"),
        Event::Condition { .. } => return None,
        Event::Send { to, text, .. } => format!("send {to} {:?}", text.as_str()),
        Event::Call { attempt, .. } => format!("call #{attempt}"),
        Event::Outcome { status } => format!("outcome {status}"),
        Event::Reply { text, intent } => format!("reply {:?} {:?}", text.as_deref(), intent.as_deref()),
        Event::Event { name } => format!("event {name}"),
        Event::Wait { until } => format!("wait until {}", show(*until)),
        Event::Route { to } => format!("route {to}"),
        Event::Split { variant } => format!("split {variant}"),
        Event::Set { name, value } => format!("set {name}={value}"),
        Event::Retry { attempt, until } => format!("retry #{attempt} at {}", show(*until)),
        Event::Defer { until, reason } => format!("defer to {} ({reason})", show(*until)),
        Event::Skip { reason } => format!("skip ({reason})"),
        Event::Error { reason } => format!("error ({reason})"),
        Event::Exit { lead_status, reason } => format!("exit {lead_status} {}", reason.as_deref().unwrap_or("-")),
        Event::CallReport { summary, .. } => format!("call report {}", summary.as_deref().unwrap_or("-")),
    };
    Some(format!("{} {what}", show(record.at)))
}

fn state(lead: &Lead) -> String {
    format!(
        "{} at {} park {:?} timer {} reason {}",
        lead.status,
        lead.step.as_deref().unwrap_or("-"),
        lead.park,
        lead.timer.map_or("-".to_string(), show),
        lead.outcome.as_deref().unwrap_or("-")
    )
}

/// Runs one case; the differences, if any.
fn run(case: &Case) -> Option<String> {
    let graph = compile(&format!("id: t\nchannel: sms\n{}", case.campaign));
    let contact = contact(case.timezone);
    let first = case.feed.first().map_or_else(|| time("12-01 09:00"), |f| time(f.now));
    let mut lead = Lead::new(KEY, first);
    let mut pacer: Box<dyn Pacer> = match case.paced_until {
        Some(until) => Box::new(Refuse(time(until))),
        None => Box::new(Unpaced),
    };
    let (mut records, mut effects) = (Vec::new(), Vec::new());
    for feed in &case.feed {
        let now = time(feed.now);
        let happened = feed.at.map_or(now, time);
        let made = advance_dated(
            &graph,
            pacer.as_mut(),
            &mut lead,
            &contact,
            (input(&feed.input), happened),
            now,
            &mut records,
        );
        effects.extend(made.iter().map(effect));
    }
    let history: Vec<String> = records.iter().filter_map(record).collect();
    let got = (state(&lead), effects, history);
    let want = (
        case.state.to_string(),
        case.effects.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        case.history.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    (got != want).then(|| {
        format!(
            "── {}\n  state:   {}\n  want:    {}\n  effects: {:#?}\n  want:    {:#?}\n  history: {:#?}\n  want:    {:#?}",
            case.name, got.0, want.0, got.1, want.1, got.2, want.2
        )
    })
}

fn run_all(cases: Vec<Case>) {
    let guarded = |case: &Case| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)))
            .unwrap_or_else(|_| Some(format!("── {}: panicked (above)", case.name)))
    };
    let failed: Vec<String> = cases.iter().filter_map(guarded).collect();
    assert!(failed.is_empty(), "{} of {} cases differ:\n{}", failed.len(), cases.len(), failed.join("\n"));
}
