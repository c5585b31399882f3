//! `herald preview FILE --contacts CSV [--contact KEY]`: every message and call of a campaign
//! rendered in full for one contact, by the runtime's own renderer (`runtime::render_action`),
//! each split variant of a message on its own. A step that does not render is named with the
//! value it missed.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::DriverError;
use super::load;
use crate::contacts::{ImportSettings, Importer, Row, lookup_keys};
use crate::graph::{Graph, Message, Node, NodeKind, StateId};
use crate::runtime::scope::{LeadScope, timezone_of};
use crate::runtime::{Action, Lead, render_action};
use crate::template::Template;

pub struct Args {
    pub file: PathBuf,
    pub contacts: PathBuf,
    /// The contact's key as typed; the CSV's first row when `None`.
    pub contact: Option<String>,
    /// `vars.*` as if the run had set them (`--var NAME=VALUE`).
    pub vars: Vec<(String, serde_json::Value)>,
}

/// `--var NAME=VALUE`: the value as JSON when it reads as JSON (`3`, `true`, `"x"`), else
/// as text.
pub fn parse_var(arg: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = arg.split_once('=').ok_or_else(|| format!("`{arg}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a variable name (letters, digits and `_`)"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((name.to_string(), value))
}

/// Prints the preview; a step that did not render is an error naming it (exit 1), after the
/// steps that did are printed.
pub fn command(args: &Args, out: &mut dyn Write) -> Result<(), DriverError> {
    match print(args, out) {
        // A closed stdout (`herald preview … | head`): the reader has what it wanted.
        Err(DriverError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

fn print(args: &Args, out: &mut dyn Write) -> Result<(), DriverError> {
    // Checked against the CSV's columns, as `simulate` does: a column the file lacks is a
    // check error at its line; a cell empty for this contact is a render error below.
    let columns = crate::contacts::read_header(&args.contacts)?;
    let graph = load::campaign(&args.file, Some(columns))?;
    // As at the campaign's start, else now: `simulate`'s default start.
    let now = graph.schedule.start.unwrap_or_else(Utc::now);
    let (contact, row) = find(&graph, &args.contacts, args.contact.as_deref(), now)?;
    let mut say = |text: &str| writeln!(out, "{}", crate::terminal::clean_lines(text)).map_err(DriverError::Output);
    say(&format!("preview of `{}` for contact `{}` ({}, row {row})", graph.id, contact.key, args.contacts.display()))?;
    if let Some(note) = left_out(&graph, &args.contacts, &contact.key, now)? {
        say(&format!("note: the campaign would not reach this contact: {note}"))?;
    }
    let mut failures = Vec::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        let id = StateId(index as u32);
        for variant in variants(node) {
            say("")?;
            say(&heading(node, variant))?;
            let mut lead = lead_for(&graph, node, variant, &contact.key, now);
            lead.vars.extend(args.vars.iter().cloned());
            match render_action(&graph, &mut lead, &contact, id, now) {
                Ok(action) => say(&body(node, variant, &action))?,
                Err(reason) => {
                    let reason = explain_failure(&graph, node, variant, &lead, &contact, now, reason);
                    say(&format!("  (does not render: {reason})"))?;
                    failures.push(format!("step `{}`: {reason}", node.id.0));
                }
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(DriverError::Preview(failures.remove(0))),
        n => Err(DriverError::Preview(format!("{n} messages do not render: {}", failures.join("; ")))),
    }
}

/// The contact named (or the first row) as the import reads it, with `where` and the
/// suppression lists left out (`left_out` says what they would do), and its row number.
fn find(
    graph: &Graph,
    path: &Path,
    typed: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(crate::contact::Contact, u64), DriverError> {
    let mut spec = graph.contacts.clone();
    spec.filter = None;
    spec.suppress.clear();
    let settings = ImportSettings { spec: &spec, ..ImportSettings::of(graph, now) };
    let keys = typed.map(|t| lookup_keys(t, graph.contacts.region.as_deref()));
    let wanted = |key: &str| keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k == key));
    let mut first_key = None;
    for (index, row) in Importer::open(path, settings)?.enumerate() {
        match row? {
            Row::Contact(contact) if wanted(&contact.key) => return Ok((contact, index as u64 + 1)),
            Row::Contact(contact) => {
                first_key.get_or_insert(contact.key);
            }
            Row::Skipped { line, key, problem, .. } if key.as_deref().is_some_and(wanted) || keys.is_none() => {
                let which = typed.map_or("the first row".to_string(), |t| format!("contact `{t}`"));
                return Err(DriverError::Preview(format!(
                    "{which} would be skipped at import ({}); pick another with --contact KEY",
                    problem.describe(line)
                )));
            }
            Row::Skipped { .. } => {}
        }
    }
    let message = match (typed, first_key) {
        (None, _) => format!("{} has no contacts", path.display()),
        (Some(t), Some(example)) => format!("{} has no contact `{t}` (keys look like `{example}`)", path.display()),
        (Some(t), None) => format!("{} has no contact `{t}`", path.display()),
    };
    Err(DriverError::Preview(message))
}

/// Why the real import (with `where` and the suppression lists) would leave the contact out.
fn left_out(graph: &Graph, path: &Path, key: &str, now: DateTime<Utc>) -> Result<Option<String>, DriverError> {
    for row in Importer::open(path, ImportSettings::of(graph, now))? {
        match row? {
            Row::Contact(contact) if contact.key == key => return Ok(None),
            Row::Skipped { key: Some(k), reason, .. } if k == key => return Ok(Some(reason.describe().into())),
            _ => {}
        }
    }
    Ok(None)
}

/// The variants a step renders: `None` alone for a call or a plain message; the default and
/// every variant for a message with `variants:`.
fn variants(node: &Node) -> Vec<Option<&str>> {
    match &node.kind {
        NodeKind::Send(send) => {
            std::iter::once(None).chain(send.variants.iter().map(|(name, _)| Some(name.as_str()))).collect()
        }
        NodeKind::Call(_) => vec![None],
        _ => Vec::new(),
    }
}

/// A lead on the step, at its first attempt, in the split variant given.
fn lead_for(graph: &Graph, node: &Node, variant: Option<&str>, key: &str, now: DateTime<Utc>) -> Lead {
    let mut lead = Lead::new(key, now);
    lead.step = Some(node.id.0.as_str().into());
    lead.attempts = 1;
    if let Some(variant) = variant {
        // Under the split that deals it, so that `variant.<split>` reads it too.
        let split = graph.nodes.iter().find(|n| match &n.kind {
            NodeKind::Split(arms) => arms.iter().any(|arm| arm.variant == variant),
            _ => false,
        });
        lead.variants.insert(split.map_or(node.id.0.clone(), |s| s.id.0.clone()), variant.to_string());
    }
    lead
}

/// "── first_email · send · email · variant discount".
fn heading(node: &Node, variant: Option<&str>) -> String {
    let (kind, channel) = match &node.kind {
        NodeKind::Send(send) => ("send", send.channel.as_str()),
        NodeKind::Call(call) => ("call", call.channel.as_str()),
        _ => ("", ""),
    };
    let mut text = format!("── {}", node.id.0);
    if let Some(name) = &node.name {
        text += &format!(" ({name})");
    }
    text += &format!(" · {kind} · {channel}");
    match (variant, &node.kind) {
        (Some(v), _) => text += &format!(" · variant {v}"),
        (None, NodeKind::Send(send)) if !send.variants.is_empty() => text += " · default (no variant)",
        _ => {}
    }
    text
}

fn body(node: &Node, variant: Option<&str>, action: &Action) -> String {
    let mut lines = Vec::new();
    if let Some(when) = &node.when {
        lines.push(format!("  when:    {}", when.text()));
    }
    lines.push(format!("  to:      {}", action.to));
    if let Some(from) = &action.from {
        lines.push(format!("  from:    {from}"));
    }
    if let Some(agent) = &action.agent {
        lines.push(format!("  agent:   {agent}"));
    }
    if let Some(subject) = &action.subject {
        lines.push(format!("  subject: {subject}"));
    }
    let label = match &node.kind {
        NodeKind::Call(_) => "prompt",
        _ if message(node, variant).is_some_and(|m| is_html(&m.body)) => "html",
        _ => "text",
    };
    lines.push(format!("  {label}:"));
    lines.extend(action.text.lines().map(|l| format!("    {l}").trim_end().to_string()));
    lines.join("\n")
}

fn is_html(template: &Template) -> bool {
    let name = template.name.to_ascii_lowercase();
    name.ends_with(".html") || name.ends_with(".htm")
}

/// The message a send step renders for the variant.
fn message<'a>(node: &'a Node, variant: Option<&str>) -> Option<&'a Message> {
    let NodeKind::Send(send) = &node.kind else { return None };
    Some(variant.and_then(|v| send.variants.iter().find(|(n, _)| n == v)).map_or(&send.message, |(_, m)| m))
}

/// The templates of a step, as the action renders them.
fn templates<'a>(node: &'a Node, variant: Option<&str>) -> Vec<&'a Template> {
    match &node.kind {
        NodeKind::Send(send) => {
            let message = message(node, variant);
            let subject = message.and_then(|m| m.subject.as_ref());
            subject.into_iter().chain(send.to.as_ref()).chain(message.map(|m| &m.body)).collect()
        }
        NodeKind::Call(call) => call.prompt.iter().chain(call.to.as_ref()).collect(),
        _ => Vec::new(),
    }
}

/// A render error in the author's words: "`contact.appointment_date` is undefined" when a
/// value the template reads is missing, else the renderer's reason.
fn explain_failure(
    graph: &Graph,
    node: &Node,
    variant: Option<&str>,
    lead: &Lead,
    contact: &crate::contact::Contact,
    now: DateTime<Utc>,
    reason: String,
) -> String {
    let scope = LeadScope::of(graph, lead, contact, now, timezone_of(graph, contact));
    let context = scope.template_context((node.id.0.as_str(), node.name.as_deref()));
    for template in templates(node, variant) {
        let Err(error) = graph.templates.render(template, &context) else { continue };
        let missing: Vec<String> =
            graph.templates.variables(template).into_iter().filter(|name| lookup(&context, name).is_none()).collect();
        // The value whose absence the error is about: supplying it changes the outcome.
        let culprit = missing.iter().find(|name| {
            let mut filled = context.clone();
            fill(&mut filled, name);
            graph.templates.render(template, &filled).as_ref().err() != Some(&error)
        });
        if let Some(name) = culprit.or(missing.first()) {
            return format!("`{name}` is undefined{}", hint(name));
        }
        return error;
    }
    reason
}

/// What to do about a missing value, by its root.
fn hint(name: &str) -> &'static str {
    match name.split('.').next() {
        Some("contact") => " (its cell is empty for this contact)",
        Some("vars") => " (the run sets it; give one with --var NAME=VALUE)",
        _ => "",
    }
}

/// The value at a dotted name, when it is there and not null.
fn lookup<'a>(context: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    name.split('.').try_fold(context, |value, part| value.get(part)).filter(|v| !v.is_null())
}

/// Sets a dotted name to a placeholder text, making the objects on the way.
fn fill(context: &mut serde_json::Value, name: &str) {
    let mut value = context;
    for part in name.split('.') {
        if !value.is_object() {
            *value = serde_json::Value::Object(serde_json::Map::new());
        }
        let Some(object) = value.as_object_mut() else { return };
        value = object.entry(part).or_insert(serde_json::Value::Null);
    }
    *value = serde_json::Value::String(format!("<{name}>"));
}
