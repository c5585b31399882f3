//! A case's expectations against what happened: the lead at the end, its history, and the
//! actions it made (for what the history does not keep, like a subject).

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::format::{CallExpect, Expect, Expectation, SendExpect};
use crate::diagnostic::Diagnostic;
use crate::graph::Graph;
use crate::runtime::{Action, Event, Lead, Record};
use crate::source::Span;

type Failure = (String, String, Option<Span>);

pub(super) fn failure(case: &str, expectation: &Expectation, (expected, actual, at): Failure) -> Diagnostic {
    let message = format!("case `{case}`: `{}` expected {expected}, got {actual}", expectation.key);
    Diagnostic::error("herald::test_failed", message)
        .label(at.unwrap_or(expectation.span), format!("expected {expected}"))
        .help(format!("expected: {expected}\n  actual: {actual}"))
}

pub(super) struct Facts<'a> {
    pub graph: &'a Graph,
    pub lead: &'a Lead,
    pub records: &'a [Record],
    /// The actions made, in order, as the driver handed them to the scripted answers.
    pub actions: &'a [Action],
    pub tz: chrono_tz::Tz,
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

    fn calls(&self) -> Vec<&Record> {
        self.records.iter().filter(|r| matches!(r.event, Event::Call { .. })).collect()
    }

    /// `Some((expected, actual, where))` when the expectation does not hold; `where` is the
    /// part of it that failed, when narrower than the expectation.
    pub(super) fn check(&self, expectation: &Expectation) -> Option<Failure> {
        match &expectation.kind {
            Expect::Sends(expected) => return self.check_sends(expected),
            Expect::CallList(expected) => return self.check_calls(expected),
            _ => {}
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
            Expect::Calls(n) => differ(plural(*n as usize, "call"), plural(self.calls().len(), "call")),
            Expect::MaxMessages(n) => {
                let actual = self.sends().len() + self.calls().len();
                (actual > *n as usize).then(|| (format!("at most {n} messages and calls"), actual.to_string()))
            }
            Expect::Sends(_) | Expect::CallList(_) => None,
            Expect::Vars(vars) => {
                let wrong: Vec<String> = vars
                    .iter()
                    // `null` expects the variable unset (or set to null).
                    .filter(|(k, v)| match self.lead.vars.get(*k) {
                        None => !v.is_null(),
                        Some(actual) => actual != *v,
                    })
                    .map(|(k, _)| format!("{k} = {}", self.lead.vars.get(k).map_or("(unset)".into(), Json::to_string)))
                    .collect();
                let expected: Vec<String> = vars
                    .iter()
                    .map(|(k, v)| if v.is_null() { format!("{k} unset") } else { format!("{k} = {v}") })
                    .collect();
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
            let Event::Send { channel, text, to, key, .. } = &record.event else { continue };
            let action = self.actions.iter().find(|a| a.key == *key);
            let subject = action.and_then(|a| a.subject.as_deref()).unwrap_or("");
            let from = action.and_then(|a| a.from.as_deref()).unwrap_or("");
            let step = record.step.as_deref().unwrap_or("-");
            let n = i + 1;
            let quoted = |what: &str, want: &str, actual: &str| {
                (want != actual).then(|| (format!("send {n} {what} \"{want}\""), format!("\"{actual}\"")))
            };
            let problem = if let Some(want_step) = want.step.as_ref().filter(|s| s.value != step) {
                Some((format!("send {n} from step {}", want_step.value), format!("from {step}")))
            } else if let Some(want_channel) = want.channel.as_ref().filter(|c| *c != channel) {
                Some((format!("send {n} on {want_channel}"), format!("on {channel}")))
            } else if let Some(part) = want.contains.as_ref().filter(|c| !text.contains(c.as_str())) {
                Some((format!("send {n} containing \"{part}\""), format!("\"{text}\"")))
            } else if let Some(re) = want.matches.as_ref().filter(|re| !re.is_match(text)) {
                Some((format!("send {n} matching /{}/", re.as_str()), format!("\"{text}\"")))
            } else if let Some(problem) = want.to.as_deref().and_then(|w| quoted("to", w, to)) {
                Some(problem)
            } else if let Some(problem) = want.subject.as_deref().and_then(|w| quoted("with subject", w, subject)) {
                Some(problem)
            } else if let Some(problem) = want.from.as_deref().and_then(|w| quoted("from", w, from)) {
                Some(problem)
            } else {
                want.local_time.as_ref().and_then(|time| {
                    let local = self.local_as(record.at, &time.value);
                    (local != time.value)
                        .then(|| (format!("send {n} at {} local time", time.value), format!("at {local}")))
                })
            };
            if let Some((expected, actual)) = problem {
                return Some((expected, actual, Some(want.span)));
            }
        }
        None
    }

    /// The calls, in order, as `sends` entries match sends; a failing entry is pointed at.
    fn check_calls(&self, expected: &[CallExpect]) -> Option<Failure> {
        let calls = self.calls();
        let attempt = |r: &Record| match r.event {
            Event::Call { attempt, .. } => attempt,
            _ => 0,
        };
        if calls.len() != expected.len() {
            let made: Vec<String> =
                calls.iter().map(|r| format!("{} #{}", r.step.as_deref().unwrap_or("-"), attempt(r))).collect();
            let actual = format!("{} [{}]", plural(calls.len(), "call"), made.join(", "));
            return Some((plural(expected.len(), "call"), actual, None));
        }
        for (i, (want, record)) in expected.iter().zip(calls).enumerate() {
            let step = record.step.as_deref().unwrap_or("-");
            let (n, attempt) = (i + 1, attempt(record));
            let problem = if let Some(want_step) = want.step.as_ref().filter(|s| s.value != step) {
                Some((format!("call {n} from step {}", want_step.value), format!("from {step}")))
            } else if let Some(want_attempt) = want.attempt.filter(|a| *a != i64::from(attempt)) {
                Some((format!("call {n} to be attempt {want_attempt}"), format!("attempt {attempt}")))
            } else {
                want.local_time.as_ref().and_then(|time| {
                    let local = self.local_as(record.at, &time.value);
                    (local != time.value)
                        .then(|| (format!("call {n} at {} local time", time.value), format!("at {local}")))
                })
            };
            if let Some((expected, actual)) = problem {
                return Some((expected, actual, Some(want.span)));
            }
        }
        None
    }

    /// `at` in the contact's time zone, written like `want`: `Mon 09:00` with a weekday, else `09:00`.
    fn local_as(&self, at: DateTime<Utc>, want: &str) -> String {
        self.local(at, if want.contains(' ') { "%a %H:%M" } else { "%H:%M" })
    }

    fn local(&self, at: DateTime<Utc>, format: &str) -> String {
        at.with_timezone(&self.tz).format(format).to_string()
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
