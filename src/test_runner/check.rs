//! Checks of a test file against its campaign, before anything runs: the steps, variants and
//! contacts it names exist, outcomes and statuses are known words, times parse.

use chrono::{DateTime, Utc};

use super::format::{Expect, TestFile, Text};
use crate::contacts::{normalise_email, normalise_phone, parse_region};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::graph::{Graph, NodeKind};
use crate::vocab::{CallOutcome, LeadStatus, MessageOutcome};

/// What the checks resolved for running: per case, the contact row and the start time.
pub struct Resolved {
    pub rows: Vec<usize>,
    pub starts: Vec<DateTime<Utc>>,
}

pub fn check(test: &TestFile, graph: &Graph, diagnostics: &mut Vec<Diagnostic>) -> Resolved {
    let mut c = Checker { graph, diagnostics };
    let mut resolved = Resolved { rows: Vec::new(), starts: Vec::new() };
    let file_start = test.start.as_ref().and_then(|t| c.time(t));
    if let Some(until) = &test.until {
        c.until(until, file_start.or(graph.schedule.start));
    }
    let key_column = key_column(test, graph);
    if test.contacts.rows.is_empty() {
        let span = test.contacts.span;
        c.diagnostics.push(
            Diagnostic::error("herald::test_contacts", "the test file has no contacts")
                .label(span, "")
                .help("give `contacts:` as a list of rows (`- { phone: \"+14155550111\", … }`) or a CSV file"),
        );
    }
    for case in &test.cases {
        let start = case.start.as_ref().and_then(|t| c.time(t)).or(file_start).or(graph.schedule.start);
        if start.is_none() && case.start.is_none() && test.start.is_none() {
            c.diagnostics.push(
                Diagnostic::error("herald::test_start", format!("case `{}` has no start time", case.name.value))
                    .label(case.name.span, "")
                    .help("the campaign has no `schedule.start`: give `start:` in the test file or the case"),
            );
        }
        if let Some(until) = &case.until {
            c.until(until, start);
        }
        case.variants.iter().for_each(|(step, variant)| c.variant(step, variant));
        resolved.starts.push(start.unwrap_or_default());
        resolved.rows.push(c.contact(test, case.contact.as_ref(), key_column, &case.name));
        for event in &case.events {
            if let Some(step) = &event.step {
                c.step(step, true);
            }
            if let Some(call) = &event.call {
                c.word(call, CallOutcome::NAMES, "call outcome");
            }
            if let Some(delivery) = &event.delivery {
                c.word(delivery, MessageOutcome::NAMES, "delivery status");
            }
            if let Some(at) = &event.at {
                c.time(at);
            }
            if let Some(after) = &event.after
                && crate::expr::parse_duration(after.value.trim()).is_none()
            {
                c.error(after, format!("`{}` is not a duration", after.value), "like 30m, 1h or 2d".into());
            }
        }
        for expectation in &case.expect {
            match &expectation.kind {
                Expect::Path(steps) => steps.iter().for_each(|s| c.step(s, false)),
                Expect::Status(status) => {
                    c.word(status, LeadStatus::NAMES, "lead status");
                }
                Expect::Sends(sends) => {
                    for send in sends {
                        send.step.iter().for_each(|s| c.step(s, false));
                        send.local_time.iter().for_each(|t| c.local_time(t));
                    }
                }
                Expect::CallList(calls) => {
                    for call in calls {
                        call.step.iter().for_each(|s| c.step(s, false));
                        call.local_time.iter().for_each(|t| c.local_time(t));
                    }
                }
                Expect::Variant(pairs) => pairs.iter().for_each(|(step, variant)| c.variant(step, variant)),
                _ => {}
            }
        }
    }
    resolved
}

/// The contacts' key column, as the import picks it.
pub fn key_column(test: &TestFile, graph: &Graph) -> Option<usize> {
    let header = &test.contacts.header;
    let position = |name: &str| header.iter().position(|c| c == name);
    match &graph.contacts.key {
        Some(key) => position(key),
        None => position("phone").or_else(|| position("email")).or_else(|| position("id")),
    }
}

/// The weekdays as `local_time` writes them (chrono's `%a`).
const WEEKDAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

struct Checker<'a> {
    graph: &'a Graph,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, at: &Text, message: String, help: String) {
        self.diagnostics.push(Diagnostic::error("herald::test_reference", message).label(at.span, "").help(help));
    }

    fn time(&mut self, text: &Text) -> Option<DateTime<Utc>> {
        let time = crate::expr::parse_datetime(&text.value, self.graph.schedule.timezone);
        if time.is_none() {
            self.error(
                text,
                format!("`{}` is not a datetime", text.value),
                "write RFC 3339 (2026-12-01T08:00:00-08:00) or a date (2026-12-01)".into(),
            );
        }
        time
    }

    /// The end of the clock, which must come after the start.
    fn until(&mut self, until: &Text, start: Option<DateTime<Utc>>) {
        if let Some(at) = self.time(until)
            && start.is_some_and(|start| at <= start)
        {
            self.error(until, "`until` is not after the start".into(), "the clock runs from `start` to `until`".into());
        }
    }

    /// A local time as `sends` and `calls` entries compare it: `09:00` or `Mon 09:00`.
    fn local_time(&mut self, time: &Text) {
        let (day, clock) = match time.value.split_once(' ') {
            Some((day, clock)) => (Some(day), clock),
            None => (None, time.value.as_str()),
        };
        let day_ok = day.is_none_or(|d| WEEKDAYS.contains(&d));
        let clock_ok = chrono::NaiveTime::parse_from_str(clock, "%H:%M").is_ok() && clock.len() == 5;
        if !day_ok || !clock_ok {
            let help = match day.filter(|_| !day_ok) {
                Some(d) => did_you_mean(d, WEEKDAYS.iter().copied())
                    .unwrap_or_else(|| format!("weekdays are: {}", WEEKDAYS.join(", "))),
                None => "write the contact's local time as `09:00`, or with the weekday as `Mon 09:00`".into(),
            };
            self.error(time, format!("`{}` is not a local time", time.value), help);
        }
    }

    fn word(&mut self, text: &Text, known: &[&str], what: &str) {
        if !known.contains(&text.value.as_str()) {
            let help = did_you_mean(&text.value, known.iter().copied())
                .unwrap_or_else(|| format!("{what}s are: {}", known.join(", ")));
            self.error(text, format!("unknown {what} `{}`", text.value), help);
        }
    }

    /// A step id that must exist; `acting`: a step answered by a scripted event.
    fn step(&mut self, step: &Text, acting: bool) {
        let graph = self.graph;
        let Some(id) = graph.state(&step.value) else {
            let ids = graph.nodes.iter().map(|n| n.id.0.as_str());
            let help = did_you_mean(&step.value, ids).unwrap_or_else(|| {
                format!("steps are: {}", graph.nodes.iter().map(|n| n.id.0.as_str()).collect::<Vec<_>>().join(", "))
            });
            return self.error(step, format!("no step `{}` in campaign `{}`", step.value, graph.id), help);
        };
        let kind = &graph.node(id).kind;
        if acting && !matches!(kind, NodeKind::Send(_) | NodeKind::Call(_)) {
            self.error(
                step,
                format!("step `{}` is a `{}` step", step.value, kind.keyword()),
                "scripted answers (`call`, `reply`, `delivery`) belong to `send` and `call` steps".into(),
            );
        }
    }

    fn variant(&mut self, step: &Text, variant: &Text) {
        let graph = self.graph;
        let arms = graph.state(&step.value).and_then(|id| match &graph.node(id).kind {
            NodeKind::Split(arms) => Some(arms),
            _ => None,
        });
        let Some(arms) = arms else {
            let splits = graph.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Split(_))).map(|n| n.id.0.as_str());
            let help = did_you_mean(&step.value, splits.clone())
                .unwrap_or_else(|| format!("split steps are: {}", splits.collect::<Vec<_>>().join(", ")));
            return self.error(step, format!("no split step `{}` in campaign `{}`", step.value, graph.id), help);
        };
        let names: Vec<&str> = arms.iter().map(|a| a.variant.as_str()).collect();
        if !names.contains(&variant.value.as_str()) {
            let help = did_you_mean(&variant.value, names.iter().copied())
                .unwrap_or_else(|| format!("variants are: {}", names.join(", ")));
            self.error(variant, format!("split `{}` has no variant `{}`", step.value, variant.value), help);
        }
    }

    /// The row a case runs: its `contact` (the key as written, or normalised like the import),
    /// or the only contact.
    fn contact(&mut self, test: &TestFile, contact: Option<&Text>, key: Option<usize>, name: &Text) -> usize {
        let rows = &test.contacts.rows;
        let Some(contact) = contact else {
            if rows.len() > 1 {
                let message = format!("case `{}` does not say which contact it follows", name.value);
                self.error(name, message, "give `contact:` with the contact's key".into());
            }
            return 0;
        };
        let Some(key) = key else {
            let help = "the key is the column `contacts.key` names, else `phone`, `email` or `id`".to_string();
            self.error(contact, "the contacts have no key column".into(), help);
            return 0;
        };
        let region = parse_region(self.graph.contacts.region.as_deref().unwrap_or("US"));
        let normal = |text: &str| {
            normalise_phone(text, region).or_else(|| normalise_email(text)).unwrap_or_else(|| text.trim().to_string())
        };
        let wanted = normal(&contact.value);
        let found = rows
            .iter()
            .position(|r| r[key] == contact.value)
            .or_else(|| rows.iter().position(|r| normal(&r[key]) == wanted));
        found.unwrap_or_else(|| {
            let keys: Vec<&str> = rows.iter().map(|r| r[key].as_str()).collect();
            let help = did_you_mean(&contact.value, keys.iter().copied())
                .unwrap_or_else(|| format!("the contacts are: {}", keys.join(", ")));
            self.error(contact, format!("no contact `{}` in the test's contacts", contact.value), help);
            0
        })
    }
}
