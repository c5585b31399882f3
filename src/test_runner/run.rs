//! Running one case: its contact alone through the campaign with `simulate`'s driver, on a
//! virtual clock and a temporary store, then its expectations against the lead and history.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value as Json, json};

use super::format::{Case, Expect, Expectation, ScriptEvent, SendExpect, TestFile};
use crate::contact::Contact;
use crate::diagnostic::Diagnostic;
use crate::driver::output;
use crate::driver::responses::Responses;
use crate::driver::{SimFormat, Simulation};
use crate::graph::Graph;
use crate::runtime::scope::timezone_of;
use crate::runtime::{Event, Input, Lead, Record};
use crate::source::Span;
use crate::store::Store;

/// A case that ran: its failed expectations, and the lead's history as timeline lines.
pub struct CaseResult {
    pub name: String,
    pub failures: Vec<Diagnostic>,
    pub history: Vec<String>,
}

/// Without `until:`, a case stops after a year of virtual time.
const HORIZON: TimeDelta = TimeDelta::days(365);

pub fn run_case(
    test: &TestFile,
    graph: &Graph,
    case: &Case,
    row: usize,
    start: DateTime<Utc>,
) -> Result<CaseResult, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let csv_path = dir.path().join("contacts.csv");
    let mut writer = csv::Writer::from_path(&csv_path).map_err(|e| e.to_string())?;
    writer.write_record(&test.contacts.header).map_err(|e| e.to_string())?;
    writer.write_record(&test.contacts.rows[row]).map_err(|e| e.to_string())?;
    writer.flush().map_err(|e| e.to_string())?;
    drop(writer);

    let tz = graph.schedule.timezone;
    let rules = rules(&case.events);
    let responses = Responses::parse(&rules.to_string(), &test.file.name, graph, Some(&test.contacts.header), 0)
        .map_err(|e| e.to_string())?;
    let inject = case
        .events
        .iter()
        .filter_map(|e| Some((crate::expr::parse_datetime(&e.at.as_ref()?.value, tz)?, input(e))))
        .collect();
    let until = test.until.as_ref().and_then(|t| crate::expr::parse_datetime(&t.value, tz)).unwrap_or(start + HORIZON);
    let db = dir.path().join("test.redb");
    let store = Store::open(&db).map_err(|e| e.to_string())?;
    let simulation = Simulation {
        rejects: std::sync::Mutex::new(None),
        graph,
        contacts: csv_path,
        responses,
        start,
        until: Some(until),
        format: SimFormat::Summary,
        store,
        source: None,
        inject,
    };
    simulation.run(&mut std::io::sink()).map_err(|e| e.to_string())?;
    let store = Store::open(&db).map_err(|e| e.to_string())?;
    let mut found: Option<(Contact, Lead)> = None;
    store.for_each_lead(&graph.id, |c, l| found = Some((c.clone(), l.clone()))).map_err(|e| e.to_string())?;
    let (contact, lead) = found.ok_or("the contact was not imported")?;
    let records = store.history(&graph.id, &contact.key).map_err(|e| e.to_string())?;
    let contact_tz = timezone_of(graph, &contact);
    let mut history = Vec::new();
    for record in &records {
        let mut line = Vec::new();
        let _ = output::timeline(&mut line, &contact.key, contact_tz, record);
        history.extend(String::from_utf8_lossy(&line).lines().map(str::to_string));
    }
    if !lead.status.is_final() {
        history.push(format!(
            "(still {} when the test stopped at {})",
            lead.status,
            until.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    let facts = Facts { graph, lead: &lead, records: &records, tz: contact_tz };
    let failures = case.expect.iter().filter_map(|e| facts.check(e).map(|m| failure(&case.name.value, e, m))).collect();
    Ok(CaseResult { name: case.name.value.clone(), failures, history })
}

/// The scripted answers as `--responses` rules; those for one attempt first, so they win.
pub(super) fn rules(events: &[ScriptEvent]) -> Json {
    let mut answers: Vec<&ScriptEvent> = events.iter().filter(|e| e.at.is_none()).collect();
    answers.sort_by_key(|e| e.attempt.is_none());
    let rules: Vec<Json> = answers
        .into_iter()
        .map(|e| {
            let mut rule = serde_json::Map::new();
            if let Some(step) = &e.step {
                rule.insert("step".into(), json!(step.value));
            }
            if let Some(attempt) = &e.attempt {
                rule.insert("when".into(), json!(format!("call.attempt == {}", attempt.value)));
            }
            if let Some(call) = &e.call {
                rule.insert("call".into(), json!({ call.value.clone(): 1 }));
            }
            if let Some(name) = &e.event {
                let after = e.after.as_ref().map(|a| a.value.clone());
                let vars = e.vars.clone().map(Json::Object);
                rule.insert("event".into(), json!({ "name": name.value, "after": after, "vars": vars }));
            } else if let Some(vars) = &e.vars {
                rule.insert("vars".into(), Json::Object(vars.clone()));
            }
            if let Some(delivery) = &e.delivery {
                rule.insert("delivery".into(), json!({ delivery.value.clone(): 1 }));
            }
            if let Some((text, intent, _)) = &e.reply {
                let after = e.after.as_ref().map(|a| a.value.clone());
                rule.insert("reply".into(), json!({ "text": text, "intent": intent, "after": after }));
            }
            Json::Object(rule)
        })
        .collect();
    Json::Array(rules)
}

fn input(event: &ScriptEvent) -> Input {
    if event.opt_out {
        return Input::OptOut;
    }
    match (&event.event, &event.reply) {
        (Some(name), _) => Input::Event { name: name.value.clone(), vars: event.vars.clone().unwrap_or_default() },
        (None, Some((text, intent, _))) => Input::Reply { text: text.clone(), intent: intent.clone(), channel: None },
        (None, None) => Input::OptOut,
    }
}

type Failure = (String, String, Option<Span>);

fn failure(case: &str, expectation: &Expectation, (expected, actual, at): Failure) -> Diagnostic {
    let message = format!("case `{case}`: `{}` expected {expected}, got {actual}", expectation.key);
    Diagnostic::error("herald::test_failed", message)
        .label(at.unwrap_or(expectation.span), format!("expected {expected}"))
        .help(format!("expected: {expected}\n  actual: {actual}"))
}

struct Facts<'a> {
    graph: &'a Graph,
    lead: &'a Lead,
    records: &'a [Record],
    tz: chrono_tz::Tz,
}

impl Facts<'_> {
    fn path(&self) -> Vec<String> {
        let mut path: Vec<String> = Vec::new();
        for record in self.records {
            if let (Event::Enter, Some(step)) = (&record.event, record.step.as_deref())
                && path.last().map(String::as_str) != Some(step)
            {
                path.push(step.to_string());
            }
        }
        path
    }

    fn sends(&self) -> Vec<&Record> {
        self.records.iter().filter(|r| matches!(r.event, Event::Send { .. })).collect()
    }

    fn calls(&self) -> usize {
        self.records.iter().filter(|r| matches!(r.event, Event::Call { .. })).count()
    }

    /// `Some((expected, actual, where))` when the expectation does not hold; `where` is the
    /// part of it that failed, when narrower than the expectation.
    fn check(&self, expectation: &Expectation) -> Option<Failure> {
        if let Expect::Sends(expected) = &expectation.kind {
            return self.check_sends(expected);
        }
        self.check_value(expectation).map(|(expected, actual)| (expected, actual, None))
    }

    fn check_value(&self, expectation: &Expectation) -> Option<(String, String)> {
        let differ = |expected: String, actual: String| (expected != actual).then_some((expected, actual));
        match &expectation.kind {
            Expect::Path(steps) => {
                let expected: Vec<&str> = steps.iter().map(|s| s.value.as_str()).collect();
                differ(format!("[{}]", expected.join(", ")), format!("[{}]", self.path().join(", ")))
            }
            Expect::Status(status) => differ(status.value.clone(), self.lead.status.to_string()),
            Expect::Outcome(outcome) => {
                differ(outcome.value.clone(), self.lead.outcome.clone().unwrap_or_else(|| "(none)".into()))
            }
            Expect::SendCount(n) => differ(plural(*n as usize, "send"), plural(self.sends().len(), "send")),
            Expect::Calls(n) => differ(plural(*n as usize, "call"), plural(self.calls(), "call")),
            Expect::MaxMessages(n) => {
                let actual = self.sends().len() + self.calls();
                (actual > *n as usize).then(|| (format!("at most {n} messages and calls"), actual.to_string()))
            }
            Expect::Sends(_) => None,
            Expect::Vars(vars) => {
                let wrong: Vec<String> = vars
                    .iter()
                    .filter(|(k, v)| self.lead.vars.get(*k) != Some(v))
                    .map(|(k, _)| format!("{k} = {}", self.lead.vars.get(k).map_or("(unset)".into(), Json::to_string)))
                    .collect();
                let expected: Vec<String> = vars.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                (!wrong.is_empty()).then(|| (expected.join(", "), wrong.join(", ")))
            }
            Expect::Variant(pairs) => pairs.iter().find_map(|(step, variant)| {
                let actual = self.lead.variants.get(&step.value).cloned().unwrap_or_else(|| "(no variant)".into());
                differ(format!("{} → {}", step.value, variant.value), format!("{} → {actual}", step.value))
            }),
            Expect::InWindow(expected) => {
                let outside: Vec<String> = self
                    .records
                    .iter()
                    .filter(|r| matches!(r.event, Event::Send { .. } | Event::Call { .. }))
                    .filter(|r| crate::runtime::window::next_open(&self.graph.schedule, self.tz, r.at) != Some(r.at))
                    .map(|r| format!("{} at {}", r.step.as_deref().unwrap_or("-"), self.local(r.at, "%a %H:%M %Z")))
                    .collect();
                let actual = outside.is_empty();
                (actual != *expected).then(|| {
                    let what = |inside: bool| {
                        if inside { "every action inside the window" } else { "an action outside the window" }
                    };
                    let detail = if outside.is_empty() { String::new() } else { format!(" ({})", outside.join(", ")) };
                    (what(*expected).to_string(), format!("{}{detail}", what(actual)))
                })
            }
        }
    }

    /// The sends, in order; a failing entry is pointed at.
    fn check_sends(&self, expected: &[SendExpect]) -> Option<Failure> {
        let sends = self.sends();
        if sends.len() != expected.len() {
            let steps: Vec<&str> = sends.iter().map(|r| r.step.as_deref().unwrap_or("-")).collect();
            let actual = format!("{} [{}]", plural(sends.len(), "send"), steps.join(", "));
            return Some((plural(expected.len(), "send"), actual, None));
        }
        for (i, (want, record)) in expected.iter().zip(sends).enumerate() {
            let Event::Send { channel, text, .. } = &record.event else { continue };
            let step = record.step.as_deref().unwrap_or("-");
            let n = i + 1;
            let local = self.local(record.at, "%H:%M");
            let problem = if let Some(want_step) = want.step.as_ref().filter(|s| s.value != step) {
                Some((format!("send {n} from step {}", want_step.value), format!("from {step}")))
            } else if let Some(want_channel) = want.channel.as_ref().filter(|c| *c != channel) {
                Some((format!("send {n} on {want_channel}"), format!("on {channel}")))
            } else if let Some(part) = want.contains.as_ref().filter(|c| !text.contains(c.as_str())) {
                Some((format!("send {n} containing \"{part}\""), format!("\"{text}\"")))
            } else if let Some(re) = want.matches.as_ref().filter(|re| !re.is_match(text)) {
                Some((format!("send {n} matching /{}/", re.as_str()), format!("\"{text}\"")))
            } else {
                want.local_time
                    .as_ref()
                    .filter(|t| **t != local)
                    .map(|time| (format!("send {n} at {time} local time"), format!("at {local}")))
            };
            if let Some((expected, actual)) = problem {
                return Some((expected, actual, Some(want.span)));
            }
        }
        None
    }

    fn local(&self, at: DateTime<Utc>, format: &str) -> String {
        at.with_timezone(&self.tz).format(format).to_string()
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
