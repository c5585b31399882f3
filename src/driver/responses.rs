//! `--responses FILE`: how simulated contacts answer (docs/simulate.md). Rules are tried in order per
//! action; the first matching rule of each kind decides. Randomness is a stable hash of the
//! seed, the contact and the action, so a run is reproducible.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::contact::Contact;
use crate::expr::{self, Condition, Type, TypeEnv};
use crate::graph::{Graph, NodeKind};
use crate::runtime::scope::{LeadScope, timezone_of};
use crate::runtime::split::unit;
use crate::runtime::{Action, ActionKind, Input, Lead, Text};
use crate::vocab::{CallOutcome, MessageOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ResponsesError {
    #[error("cannot read the responses file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    step: Option<String>,
    when: Option<String>,
    call: Option<BTreeMap<String, f64>>,
    vars: Option<serde_json::Map<String, serde_json::Value>>,
    reply: Option<ReplyRule>,
    delivery: Option<BTreeMap<String, f64>>,
    event: Option<EventRule>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyRule {
    text: Option<String>,
    intent: Option<String>,
    after: Option<String>,
    probability: Option<f64>,
}

/// `event: {name, after, probability, vars}`: the named event reaches the lead `after` the
/// action, as the product would send it (`{"type":"event","name":…}`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRule {
    name: String,
    after: Option<String>,
    probability: Option<f64>,
    vars: Option<serde_json::Map<String, serde_json::Value>>,
}

struct Rule {
    step: Option<String>,
    when: Option<Condition>,
    call: Vec<(String, f64)>,
    vars: serde_json::Map<String, serde_json::Value>,
    reply: Option<(ReplyRule, TimeDelta, f64)>,
    delivery: Vec<(String, f64)>,
    event: Option<(EventRule, TimeDelta, f64)>,
}

#[derive(Default)]
pub struct Responses {
    rules: Vec<Rule>,
    /// The `--seed`, as text: one of the parts every draw hashes.
    seed: String,
    /// Every action answered, kept only for `herald test` (whose sends check `subject` and
    /// `from`, which the history does not store); `None` for `simulate`.
    log: Option<ActionLog>,
}

/// The actions a `Responses` answered, shared with whoever reads them after the run.
pub type ActionLog = std::sync::Arc<std::sync::Mutex<Vec<Action>>>;

/// What an action brings back (`Responses::respond`): its outcome, then maybe a reply and an
/// event. They are queued in that order, so a reply or event at the same instant (no `after`)
/// comes once the message is delivered, e.g. inside the await that follows.
pub struct Responded {
    pub outcome: (DateTime<Utc>, Input),
    pub reply: Option<(DateTime<Utc>, Input)>,
    pub event: Option<(DateTime<Utc>, Input)>,
}

impl Responded {
    /// Everything the action brings back, in the order to queue it.
    pub fn inputs(self) -> impl Iterator<Item = (DateTime<Utc>, Input)> {
        std::iter::once(self.outcome).chain(self.reply).chain(self.event)
    }
}

/// Simulated call lengths, by outcome: what holds a concurrency slot.
fn call_length(status: &str) -> TimeDelta {
    match CallOutcome::parse(status) {
        Some(CallOutcome::Answered) => TimeDelta::minutes(3),
        Some(CallOutcome::Voicemail) => TimeDelta::minutes(1),
        _ => TimeDelta::seconds(30),
    }
}

impl Responses {
    pub fn none(seed: u64) -> Responses {
        Responses { rules: Vec::new(), seed: seed.to_string(), log: None }
    }

    /// Read a responses file for `graph`; `columns` (the contacts CSV header) lets `when`
    /// conditions be checked for misspelt `contact.<column>` names.
    pub fn load(
        path: &Path,
        graph: &Graph,
        columns: Option<&[String]>,
        seed: u64,
    ) -> Result<Responses, ResponsesError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ResponsesError::Read { path: name.clone(), source })?;
        Responses::parse(&text, &name, graph, columns, seed)
    }

    /// Rules from YAML (or JSON) text; `name` says where they come from in messages. `herald
    /// test` builds its scripted events this way.
    pub fn parse(
        text: &str,
        name: &str,
        graph: &Graph,
        columns: Option<&[String]>,
        seed: u64,
    ) -> Result<Responses, ResponsesError> {
        let name = name.to_string();
        let invalid = |detail: String| ResponsesError::Invalid { path: name.clone(), detail };
        let files: Vec<RuleFile> = if text.trim().is_empty() {
            Vec::new()
        } else {
            serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        let env = TypeEnv {
            data: graph.data.keys().map(|k| (k.clone(), Type::Unknown)).collect(),
            contact_fields: columns.map(|cols| cols.iter().map(|c| (c.clone(), Type::Unknown)).collect()),
            split_steps: graph
                .nodes
                .iter()
                .filter(|n| matches!(n.kind, NodeKind::Split(_)))
                .map(|n| n.id.0.clone())
                .collect(),
        };
        let mut rules = Vec::new();
        for (i, file) in files.into_iter().enumerate() {
            let n = i + 1;
            if let Some(step) = &file.step {
                match graph.state(step).map(|id| &graph.node(id).kind) {
                    None => return Err(invalid(format!("rule {n}: no step `{step}` in campaign `{}`", graph.id))),
                    Some(NodeKind::Send(_) | NodeKind::Call(_)) => {}
                    Some(kind) => {
                        return Err(invalid(format!(
                            "rule {n}: step `{step}` is a `{}` step; responses answer `send` and `call` steps",
                            kind.keyword()
                        )));
                    }
                }
            }
            let when = match &file.when {
                Some(source) => Some(
                    expr::compile(source, &env)
                        .map_err(|p| {
                            let help = p[0].help.as_ref().map_or(String::new(), |h| format!(" ({h})"));
                            invalid(format!("rule {n}: `when: {source}`: {}{help}", p[0].message))
                        })?
                        .0,
                ),
                None => None,
            };
            let call =
                probabilities(file.call, CallOutcome::NAMES).map_err(|e| invalid(format!("rule {n}: call: {e}")))?;
            let delivery = probabilities(file.delivery, MessageOutcome::NAMES)
                .map_err(|e| invalid(format!("rule {n}: delivery: {e}")))?;
            let reply = match file.reply {
                Some(reply) => {
                    let (after, p) = timing(reply.after.as_deref(), reply.probability)
                        .map_err(|e| invalid(format!("rule {n}: reply.{e}")))?;
                    Some((reply, after, p))
                }
                None => None,
            };
            let event = match file.event {
                Some(event) => {
                    let (after, p) = timing(event.after.as_deref(), event.probability)
                        .map_err(|e| invalid(format!("rule {n}: event.{e}")))?;
                    if event.name.trim().is_empty() {
                        return Err(invalid(format!("rule {n}: event.name must not be empty")));
                    }
                    Some((event, after, p))
                }
                None => None,
            };
            if call.is_empty() && delivery.is_empty() && reply.is_none() && event.is_none() {
                return Err(invalid(format!("rule {n}: give `call`, `reply`, `delivery` or `event`")));
            }
            let vars = file.vars.unwrap_or_default();
            rules.push(Rule { step: file.step, when, call, vars, reply, delivery, event });
        }
        Ok(Responses { rules, seed: seed.to_string(), log: None })
    }

    /// Keep every action answered in `log` (for `herald test`).
    pub fn logging(self, log: ActionLog) -> Responses {
        Responses { log: Some(log), ..self }
    }

    /// What an action brings back, each with when it arrives.
    pub fn respond(&self, graph: &Graph, lead: &Lead, contact: &Contact, action: &Action) -> Responded {
        if let Some(log) = &self.log
            && let Ok(mut log) = log.lock()
        {
            log.push(action.clone());
        }
        let tz = timezone_of(graph, contact);
        let scope = LeadScope { attempt: Some(action.attempt), ..LeadScope::of(graph, lead, contact, action.at, tz) };
        let matching = self
            .rules
            .iter()
            .filter(|r| r.step.as_deref().is_none_or(|s| s == action.step))
            .filter(|r| r.when.as_ref().is_none_or(|w| w.holds(&scope)));
        let draw = |what: &str| unit(&[&self.seed, &action.key, what]);
        let mut outcome = None;
        let mut reply_input = None;
        let mut replied = false;
        let mut event_input = None;
        let mut evented = false;
        for rule in matching {
            if outcome.is_none() && action.kind == ActionKind::Call && !rule.call.is_empty() {
                let status = pick(&rule.call, draw("call"));
                let answered = status == CallOutcome::Answered.as_str();
                let vars = if answered { rule.vars.clone() } else { Default::default() };
                let length = call_length(&status);
                let duration = answered.then(|| length.num_seconds() as f64);
                outcome = Some((action.at + length, Input::Call { status, duration, vars }));
            }
            if outcome.is_none() && action.kind == ActionKind::Send && !rule.delivery.is_empty() {
                outcome = Some((action.at, Input::Delivery { status: pick(&rule.delivery, draw("delivery")) }));
            }
            if !replied && let Some((reply, after, p)) = &rule.reply {
                replied = true;
                if draw("reply") < *p {
                    let input = Input::Reply {
                        text: reply.text.clone(),
                        intent: reply.intent.clone(),
                        channel: Some(action.channel.to_string()),
                    };
                    reply_input = Some((action.at + *after, input));
                }
            }
            if !evented && let Some((event, after, p)) = &rule.event {
                evented = true;
                if draw("event") < *p {
                    let input = Input::Event { name: event.name.clone(), vars: event.vars.clone().unwrap_or_default() };
                    event_input = Some((action.at + *after, input));
                }
            }
        }
        let outcome = outcome.unwrap_or_else(|| match action.kind {
            ActionKind::Call => (
                action.at + call_length(CallOutcome::Answered.as_str()),
                Input::Call {
                    status: CallOutcome::Answered.as_str().into(),
                    duration: Some(180.0),
                    vars: Default::default(),
                },
            ),
            ActionKind::Send => (action.at, Input::Delivery { status: MessageOutcome::Delivered.as_str().into() }),
        });
        Responded { outcome, reply: reply_input, event: event_input }
    }
}

/// A reply's or event's `after` and `probability` (defaults: at once, always); the error names
/// the key at fault.
fn timing(after: Option<&str>, probability: Option<f64>) -> Result<(TimeDelta, f64), String> {
    let after = match after {
        Some(text) => expr::parse_duration(text.trim()).ok_or_else(|| format!("after: `{text}` is not a duration"))?,
        None => TimeDelta::zero(),
    };
    let p = probability.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&p) {
        return Err("probability must be between 0 and 1".into());
    }
    Ok((after, p))
}

fn probabilities(map: Option<BTreeMap<String, f64>>, known: &[&str]) -> Result<Vec<(String, f64)>, String> {
    let Some(map) = map else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (name, p) in map {
        if !known.contains(&name.as_str()) {
            let help = crate::diagnostic::did_you_mean(&name, known.iter().copied())
                .unwrap_or_else(|| format!("outcomes are: {}", known.join(", ")));
            return Err(format!("unknown outcome `{name}`: {help}"));
        }
        if !(p.is_finite() && p >= 0.0) {
            return Err(format!("`{name}` needs a probability of 0 or more"));
        }
        out.push((name, p));
    }
    if out.iter().map(|(_, p)| p).sum::<f64>() <= 0.0 {
        return Err("the probabilities add up to 0".into());
    }
    Ok(out)
}

fn pick(choices: &[(String, f64)], point: f64) -> Text {
    let total: f64 = choices.iter().map(|(_, p)| p).sum();
    let mut at = point * total;
    for (name, p) in choices {
        if at < *p {
            return Text::new(name);
        }
        at -= p;
    }
    choices.last().map(|(n, _)| Text::new(n)).unwrap_or_default()
}
