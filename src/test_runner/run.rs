//! Running one case: its contact alone through the campaign with `simulate`'s driver, on a
//! virtual clock and a temporary store, then its expectations against the lead and history.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value as Json, json};

use super::facts::{Facts, failure};
use super::format::{Case, ScriptEvent, TestFile, Text};
use crate::contact::Contact;
use crate::diagnostic::Diagnostic;
use crate::driver::output;
use crate::driver::responses::{ActionLog, Responses};
use crate::driver::{SimFormat, Simulation};
use crate::graph::{Graph, NodeKind};
use crate::runtime::scope::timezone_of;
use crate::runtime::{Input, Lead};
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
    frequency: Option<&crate::config::Frequency>,
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
    let log = ActionLog::default();
    let responses = Responses::parse(&rules.to_string(), &test.file.name, graph, Some(&test.contacts.header), 0)
        .map_err(|e| e.to_string())?
        .logging(log.clone());
    let inject = case
        .events
        .iter()
        .filter_map(|e| Some((crate::expr::parse_datetime(&e.at.as_ref()?.value, tz)?, input(e))))
        .collect();
    let until = case
        .until
        .as_ref()
        .or(test.until.as_ref())
        .and_then(|t| crate::expr::parse_datetime(&t.value, tz))
        .unwrap_or(start + HORIZON);
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
        frequency: frequency.cloned(),
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
    let actions = log.lock().map(|actions| actions.clone()).unwrap_or_default();
    let facts = Facts { graph, lead: &lead, records: &records, actions: &actions, tz: contact_tz };
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

/// Put the case's contact in the variants it names: each named split gets weight 1 on that
/// variant and 0 on the others, so `simulate`'s own choice picks it and nothing in the driver
/// changes. Returns the weights to put back once the case has run.
pub(super) fn force_variants(graph: &mut Graph, variants: &[(Text, Text)]) -> Vec<(usize, Vec<f64>)> {
    let mut saved = Vec::new();
    for (step, variant) in variants {
        let Some(id) = graph.state(&step.value) else { continue };
        if let NodeKind::Split(arms) = &mut graph.nodes[id.index()].kind {
            saved.push((id.index(), arms.iter().map(|a| a.weight).collect()));
            for arm in arms.iter_mut() {
                arm.weight = if arm.variant == variant.value { 1.0 } else { 0.0 };
            }
        }
    }
    saved
}

/// Put back the weights `force_variants` changed.
pub(super) fn restore_weights(graph: &mut Graph, saved: Vec<(usize, Vec<f64>)>) {
    // Newest first: a split named twice gets its original weights last.
    for (index, weights) in saved.into_iter().rev() {
        if let NodeKind::Split(arms) = &mut graph.nodes[index].kind {
            arms.iter_mut().zip(weights).for_each(|(arm, weight)| arm.weight = weight);
        }
    }
}
