//! `yaml::Node` tree -> typed `Campaign`, collecting every problem on the way.

use super::yaml::{self, Kind, Node};
use super::*;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::source::SourceFile;

/// Load a campaign file. `None` when the YAML itself could not be read (the diagnostics say
/// why); otherwise a campaign with every part that could be understood.
pub fn load(file: &SourceFile, diagnostics: &mut Diagnostics) -> Option<Campaign> {
    let root = match yaml::parse(file) {
        Ok(root) => root,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let mut loader = Loader { diagnostics };
    loader.campaign(&root)
}

pub(crate) struct Loader<'d> {
    pub diagnostics: &'d mut Diagnostics,
}

/// The entries of one YAML map, remembering which keys were read.
pub(crate) struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    used: Vec<bool>,
    pub span: Span,
}

impl<'n> Fields<'n> {
    pub fn take(&mut self, key: &str) -> Option<&'n Node> {
        let index = self.entries.iter().position(|(k, _, _)| *k == key)?;
        self.used[index] = true;
        Some(self.entries[index].2)
    }

    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries.iter().find(|(k, _, _)| *k == key).map(|(_, k, _)| k.span)
    }

    pub fn keys(&self) -> impl Iterator<Item = (&'n str, Span)> + '_ {
        self.entries.iter().map(|(k, node, _)| (*k, node.span))
    }
}

impl Loader<'_> {
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        let message = format!("`{what}` must be {expected}, found {}", node.describe());
        self.error(Diagnostic::error("herald::wrong_type", message).label(node.span, format!("expected {expected}")));
    }

    /// Open a map; `what` names it in messages.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            self.wrong_type(node, what, "a map");
            return None;
        };
        let mut fields = Fields { entries: Vec::with_capacity(entries.len()), used: Vec::new(), span: node.span };
        for (key, value) in entries {
            match &key.kind {
                Kind::Str(name) => fields.entries.push((name.as_str(), key, value)),
                _ => self.error(
                    Diagnostic::error("herald::wrong_type", format!("keys of `{what}` must be names"))
                        .label(key.span, format!("{} used as a key", key.describe())),
                ),
            }
        }
        fields.used = vec![false; fields.entries.len()];
        Some(fields)
    }

    /// Report every key that was not read as unknown, suggesting the closest known one.
    pub fn finish(&mut self, fields: Fields<'_>, known: &[&str], what: &str) {
        for (index, (key, key_node, _)) in fields.entries.iter().enumerate() {
            if fields.used[index] {
                continue;
            }
            let help = did_you_mean(key, known.iter().copied())
                .unwrap_or_else(|| format!("`{what}` accepts: {}", known.join(", ")));
            self.error(
                Diagnostic::error("herald::unknown_key", format!("unknown key `{key}` in {what}"))
                    .label(key_node.span, "unknown key")
                    .help(help),
            );
        }
    }

    pub fn text(&mut self, node: Option<&Node>, what: &str) -> Option<Text> {
        let node = node?;
        match node.as_text() {
            Some(text) => Some(Spanned::new(text, node.span)),
            None => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    pub fn int(&mut self, node: Option<&Node>, what: &str) -> Option<Spanned<i64>> {
        let node = node?;
        match node.kind {
            Kind::Int(i) => Some(Spanned::new(i, node.span)),
            _ => {
                self.wrong_type(node, what, "a whole number");
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match node.kind {
            Kind::Int(i) => Some(Spanned::new(i as f64, node.span)),
            Kind::Float(f) => Some(Spanned::new(f, node.span)),
            _ => {
                self.wrong_type(node, what, "a number");
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn texts(&mut self, node: Option<&Node>, what: &str) -> Vec<Text> {
        let Some(node) = node else {
            return Vec::new();
        };
        match &node.kind {
            Kind::Seq(items) => items.iter().filter_map(|i| self.text(Some(i), what)).collect(),
            Kind::Null => Vec::new(),
            _ => self.text(Some(node), what).into_iter().collect(),
        }
    }

    /// A map of names to scalar values (`set:`, `contacts.fields`, `moved:`).
    pub fn pairs(&mut self, node: Option<&Node>, what: &str) -> Vec<(Text, Text)> {
        let Some(node) = node else {
            return Vec::new();
        };
        let Some(fields) = self.fields(node, what) else {
            return Vec::new();
        };
        let entries: Vec<_> = fields.entries.iter().map(|(k, key, value)| (k.to_string(), key.span, *value)).collect();
        entries
            .into_iter()
            .filter_map(|(name, span, value)| {
                let value = self.text(Some(value), &format!("{what}.{name}"))?;
                Some((Spanned::new(name, span), value))
            })
            .collect()
    }

    fn campaign(&mut self, root: &Node) -> Option<Campaign> {
        let mut f = self.fields(root, "the campaign")?;
        let mut campaign = Campaign {
            id: self.text(f.take("id"), "id"),
            name: self.text(f.take("name"), "name"),
            description: self.text(f.take("description"), "description"),
            channel: self.text(f.take("channel"), "channel"),
            agent: self.text(f.take("agent"), "agent"),
            from: self.text(f.take("from"), "from"),
            data: f.take("data").cloned(),
            goal: self.text(f.take("goal"), "goal"),
            exit_when: self.text(f.take("exit_when"), "exit_when"),
            vars: self.texts(f.take("vars"), "vars"),
            moved: self.pairs(f.take("moved"), "moved"),
            purpose: self.text(f.take("purpose"), "purpose"),
            steps_span: f.key_span("steps").unwrap_or(Span::at(0)),
            ..Campaign::default()
        };
        if let Some(data) = &campaign.data
            && !matches!(data.kind, Kind::Map(_) | Kind::Null)
        {
            self.wrong_type(data, "data", "a map");
        }
        campaign.contacts = f.take("contacts").and_then(|n| self.contacts(n));
        campaign.schedule = f.take("schedule").and_then(|n| self.schedule(n));
        let pacing_key = f.key_span("pacing");
        campaign.pacing = f.take("pacing").and_then(|n| self.pacing(n, pacing_key, true));
        campaign.retry = f.take("retry").and_then(|n| self.retry(n));
        campaign.checks_off = f.take("checks").map(|n| self.checks(n)).unwrap_or_default();
        campaign.replies = f.take("replies").map(|n| self.routes(n, "replies")).unwrap_or_default();
        match f.take("steps") {
            Some(steps) => campaign.steps = self.steps(steps),
            None => self.error(
                Diagnostic::error("herald::missing_key", "the campaign has no `steps:`")
                    .label(Span::at(f.span.start), "steps are missing")
                    .help("add `steps:` with a list of steps; see docs/language.md"),
            ),
        }
        self.finish(f, keys::CAMPAIGN, "the campaign");
        Some(campaign)
    }

    fn contacts(&mut self, node: &Node) -> Option<Contacts> {
        let mut f = self.fields(node, "contacts")?;
        let contacts = Contacts {
            key: self.text(f.take("key"), "contacts.key"),
            region: self.text(f.take("region"), "contacts.region"),
            require: self.texts(f.take("require"), "contacts.require"),
            fields: self.pairs(f.take("fields"), "contacts.fields"),
            filter: self.text(f.take("where"), "contacts.where"),
            suppress: self.texts(f.take("suppress"), "contacts.suppress"),
        };
        self.finish(f, keys::CONTACTS, "contacts");
        Some(contacts)
    }

    fn schedule(&mut self, node: &Node) -> Option<Schedule> {
        let mut f = self.fields(node, "schedule")?;
        let hours = f.take("hours");
        let days = f.take("days");
        let schedule = Schedule {
            timezone: self.text(f.take("timezone"), "schedule.timezone"),
            hours: self.texts(hours, "schedule.hours"),
            hours_span: hours.map(|n| n.span),
            days: self.texts(days, "schedule.days"),
            days_span: days.map(|n| n.span),
            start: self.text(f.take("start"), "schedule.start"),
            end: self.text(f.take("end"), "schedule.end"),
        };
        self.finish(f, keys::SCHEDULE, "schedule");
        Some(schedule)
    }

    /// The campaign's `pacing` (with `channels` when `campaign`), or a step's own.
    pub(super) fn pacing(&mut self, node: &Node, key: Option<Span>, campaign: bool) -> Option<Pacing> {
        let mut f = self.fields(node, "pacing")?;
        let mut pacing = self.limits(&mut f, "pacing");
        pacing.span = key.unwrap_or(node.span);
        if campaign && let Some(channels) = f.take("channels") {
            pacing.channels = self.channel_pacing(channels);
        } else if let Some(span) = f.key_span("channels") {
            f.take("channels");
            self.error(
                Diagnostic::error("herald::unknown_key", "unknown key `channels` in a step's pacing")
                    .label(span, "campaign-level only")
                    .help(
                        "a step's `pacing` limits that step; limits per channel go in the campaign's `pacing.channels`",
                    ),
            );
        }
        self.finish(f, if campaign { keys::PACING } else { keys::PACING_LIMIT }, "pacing");
        Some(pacing)
    }

    fn limits(&mut self, f: &mut Fields<'_>, what: &str) -> Pacing {
        Pacing {
            per_hour: self.int(f.take("per_hour"), &format!("{what}.per_hour")),
            concurrency: self.int(f.take("concurrency"), &format!("{what}.concurrency")),
            ..Pacing::default()
        }
    }

    /// `pacing.channels`: channel name -> `{per_hour?, concurrency?}`.
    fn channel_pacing(&mut self, node: &Node) -> Vec<(Text, Pacing)> {
        let Some(fields) = self.fields(node, "pacing.channels") else { return Vec::new() };
        let mut channels = Vec::new();
        for (name, key, value) in &fields.entries {
            let what = format!("pacing.channels.{name}");
            let Some(mut f) = self.fields(value, &what) else { continue };
            let mut limits = self.limits(&mut f, &what);
            limits.span = key.span;
            self.finish(f, keys::PACING_LIMIT, &what);
            channels.push((Spanned::new(name.to_string(), key.span), limits));
        }
        channels
    }

    /// `checks:`: check name -> `{off: "<reason>"}`; a check is only switched off with a reason.
    fn checks(&mut self, node: &Node) -> Vec<CheckOff> {
        let Some(mut fields) = self.fields(node, "checks") else { return Vec::new() };
        let mut out = Vec::new();
        let names: Vec<(String, Span)> = fields.keys().map(|(k, span)| (k.to_string(), span)).collect();
        for (name, key_span) in names {
            if !keys::CHECKS.contains(&name.as_str()) {
                continue;
            }
            let Some(value) = fields.take(&name) else { continue };
            let what = format!("checks.{name}");
            let Some(mut f) = self.fields(value, &what) else { continue };
            let off = f.take("off");
            let reason = self.text(off, &format!("{what}.off"));
            self.finish(f, keys::CHECK, &what);
            match reason {
                Some(reason) if !reason.value.trim().is_empty() => {
                    out.push(CheckOff { name: Spanned::new(name, key_span), reason })
                }
                // A reason of the wrong type is reported as such already.
                None if off.is_some_and(|n| !matches!(n.kind, Kind::Null)) => {}
                _ => self.error(
                    Diagnostic::error("herald::missing_key", format!("`{what}` needs a reason in `off`"))
                        .label(key_span, "no reason given")
                        .help(format!("write `{name}: {{ off: \"why this rule does not apply here\" }}`")),
                ),
            }
        }
        self.finish(fields, keys::CHECKS, "checks");
        out
    }

    pub(super) fn retry(&mut self, node: &Node) -> Option<Retry> {
        let mut f = self.fields(node, "retry")?;
        let on = f.take("on").map(|n| self.texts(Some(n), "retry.on"));
        let retry = Retry {
            attempts: self.int(f.take("attempts"), "retry.attempts"),
            interval: self.texts(f.take("interval"), "retry.interval"),
            on,
            until: self.text(f.take("until"), "retry.until"),
            span: node.span,
        };
        self.finish(f, keys::RETRY, "retry");
        Some(retry)
    }
}
