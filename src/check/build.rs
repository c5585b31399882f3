//! Turning each checked part of the campaign into its graph form.

use crate::fxhash::FxMap;

use super::Checker;
use super::values::outcomes_of;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::expr::Condition;
use crate::graph::*;
use crate::syntax::{self, Action, Campaign, Text};

/// `step-N` for the N-th step (1-based) when it has no `id`.
pub fn step_id(index: usize, step: &syntax::Step) -> String {
    step.id.as_ref().map_or_else(|| format!("step-{}", index + 1), |id| id.value.clone())
}

impl Checker<'_> {
    pub(super) fn build(&mut self, campaign: &Campaign) -> Option<Graph> {
        let index: FxMap<String, StateId> =
            campaign.steps.iter().enumerate().map(|(i, s)| (step_id(i, s), StateId(i as u32))).rev().collect();
        let schedule = self.schedule(campaign.schedule.as_ref());
        let defaults = Defaults {
            channel: campaign.channel.as_ref().map(|c| c.value.clone()),
            agent: campaign.agent.as_ref().map(|c| c.value.clone()),
            from: campaign.from.as_ref().map(|c| c.value.clone()),
        };
        let pacing = self.pacing(campaign, &defaults);
        let base_retry = campaign.retry.as_ref().and_then(|r| self.retry(r, true, "", None));
        let mut nodes = Vec::with_capacity(campaign.steps.len());
        for (i, step) in campaign.steps.iter().enumerate() {
            let node = self.node(i, step, campaign, &index, &defaults, base_retry.as_ref());
            nodes.push(node);
        }
        let goal = campaign.goal.as_ref().and_then(|g| self.condition(g, true));
        let exit_when = campaign.exit_when.as_ref().and_then(|g| self.condition(g, true));
        let replies = self.routes(&campaign.replies, &index);
        let contacts = self.contacts(campaign);
        let moved = self.moved(campaign, &index);
        let nodes: Option<Vec<Node>> = nodes.into_iter().collect();
        Some(Graph {
            id: campaign.id.as_ref().map(|i| i.value.clone()).unwrap_or_else(|| self.file_stem()),
            name: campaign.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| self.file_stem()),
            description: campaign.description.as_ref().map(|d| d.value.clone()),
            content_hash: content_hash(&self.file.text),
            spans: campaign.steps.iter().map(|s| s.span).collect(),
            nodes: nodes?,
            index,
            defaults,
            contacts,
            schedule,
            pacing,
            goal,
            exit_when,
            replies: replies?,
            data: data_json(campaign.data.as_ref()),
            vars: campaign.vars.iter().map(|v| v.value.clone()).collect(),
            events: std::mem::take(&mut self.events).into_iter().collect(),
            moved: moved?,
            templates: std::mem::take(&mut self.templates),
            purpose: self.purpose(campaign.purpose.as_ref()),
        })
    }

    fn purpose(&mut self, purpose: Option<&Text>) -> Purpose {
        match purpose.map(|p| (p.value.as_str(), p.span)) {
            None | Some(("marketing", _)) => Purpose::Marketing,
            Some(("transactional", _)) => Purpose::Transactional,
            Some((other, span)) => {
                self.push(
                    Diagnostic::error("herald::invalid_value", format!("`purpose` is `marketing` or `transactional`, not `{other}`"))
                        .label(span, "unknown purpose")
                        .help("`transactional`: messages the contact asked for or expects (reminders, alerts); `marketing` otherwise")
                        .maybe_help(did_you_mean(other, syntax::keys::PURPOSES.iter().copied())),
                );
                Purpose::Marketing
            }
        }
    }

    fn file_stem(&self) -> String {
        let name = std::path::Path::new(&self.file.name);
        let stem = name.file_stem().and_then(|s| s.to_str()).unwrap_or("campaign");
        stem.strip_suffix(".test").unwrap_or(stem).to_string()
    }

    pub fn target(&mut self, text: &Text, index: &FxMap<String, StateId>) -> Option<Target> {
        if text.value == "end" {
            return Some(Target::End);
        }
        if let Some(id) = index.get(&text.value) {
            return Some(Target::Step(*id));
        }
        let names = self.step_names.get_or_insert_with(|| {
            let mut names: Vec<String> = index.keys().cloned().collect();
            names.sort();
            names.push("end".to_string());
            names
        });
        let help =
            did_you_mean(&text.value, names.iter().map(String::as_str)).unwrap_or_else(|| listed("steps", names));
        self.push(
            Diagnostic::error("herald::unknown_step", format!("no step has the id `{}`", text.value))
                .label(text.span, "unknown step")
                .help(help),
        );
        None
    }

    fn node(
        &mut self,
        i: usize,
        step: &syntax::Step,
        campaign: &Campaign,
        index: &FxMap<String, StateId>,
        defaults: &Defaults,
        base_retry: Option<&RetryPolicy>,
    ) -> Option<Node> {
        let id = step_id(i, step);
        let when = flatten(step.when.as_ref().map(|w| self.condition(w, true)));
        let fall_through = if i + 1 < campaign.steps.len() { Target::Step(StateId(i as u32 + 1)) } else { Target::End };
        let next = match &step.next {
            Some(next) => self.target(next, index),
            None => Some(fall_through),
        };
        let routes = step.routes.as_ref().map_or(Some(Vec::new()), |r| self.routes(&r.value, index));
        let action = step.action.as_ref()?;
        let (kind, retry) = self.kind(&id, step, &action.value, index, defaults, base_retry)?;
        let frequency_exempt = self.frequency(step, &kind);
        Some(Node {
            id: StepId(id),
            name: step.name.as_ref().map(|n| n.value.clone()),
            explicit_id: step.id.is_some(),
            kind,
            when: when?,
            next: next?,
            routes: routes?,
            retry,
            reentrant: false,
            frequency_exempt,
        })
    }

    /// `frequency: exempt`, the one value, on a send or call step (nothing else is counted).
    fn frequency(&mut self, step: &syntax::Step, kind: &NodeKind) -> bool {
        let Some(value) = &step.frequency else { return false };
        if value.value != "exempt" {
            self.push(
                Diagnostic::error("herald::invalid_value", format!("`frequency` is `exempt`, not `{}`", value.value))
                    .label(value.span, "unknown value")
                    .help("`frequency: exempt` keeps a transactional step (a booking confirmation) out of herald.yaml's `policy.frequency`; leave it out otherwise"),
            );
            return false;
        }
        if !matches!(kind, NodeKind::Send(_) | NodeKind::Call(_)) {
            self.push(
                Diagnostic::warning("herald::unused_frequency", "`frequency: exempt` on a step that makes no action")
                    .label(value.span, "exempts nothing")
                    .help(
                        "only send and call steps are counted by `policy.frequency`; move it to the send or call step",
                    ),
            );
            return false;
        }
        true
    }

    fn kind(
        &mut self,
        id: &str,
        step: &syntax::Step,
        action: &Action,
        index: &FxMap<String, StateId>,
        defaults: &Defaults,
        base_retry: Option<&RetryPolicy>,
    ) -> Option<(NodeKind, Option<RetryPolicy>)> {
        let kind = match action {
            Action::Send(send) => {
                let channel = self.channel(send.channel.as_ref(), defaults, "sms");
                let retry = self.step_retry(step.retry.as_ref(), false, &channel, base_retry);
                return Some((NodeKind::Send(self.send(id, send, channel, defaults)?), retry));
            }
            Action::Call(call) => {
                let channel = self.channel(call.channel.as_ref(), defaults, "voice");
                let retry_syntax = step.retry.as_ref().or(call.retry.as_ref());
                let retry = self.step_retry(retry_syntax, true, &channel, base_retry);
                return Some((NodeKind::Call(self.call(id, call, channel, defaults)?), retry));
            }
            Action::Wait(wait) => NodeKind::Wait(self.wait(wait)?),
            Action::Await(awaited) => NodeKind::Await(self.await_spec(awaited)?),
            Action::Branch(routes) => NodeKind::Branch(self.routes(routes, index)?),
            Action::Split(arms) => NodeKind::Split(self.arms(arms, index)?),
            Action::Set(pairs) => NodeKind::Set(self.assignments(pairs)?),
            Action::Exit(label) => NodeKind::Exit(label.value.clone()),
        };
        Some((kind, None))
    }

    pub(super) fn channel(&mut self, channel: Option<&Text>, defaults: &Defaults, fallback: &str) -> String {
        channel.map(|c| c.value.clone()).or_else(|| defaults.channel.clone()).unwrap_or_else(|| fallback.to_string())
    }

    fn step_retry(
        &mut self,
        retry: Option<&syntax::Retry>,
        is_call: bool,
        channel: &str,
        base: Option<&RetryPolicy>,
    ) -> Option<RetryPolicy> {
        match retry {
            Some(retry) => self.retry(retry, is_call, channel, base),
            None => base.map(|b| {
                let produced = outcomes_of(is_call, channel);
                let on = b.on.iter().filter(|o| produced.contains(&o.as_str())).cloned().collect();
                RetryPolicy { on, ..b.clone() }
            }),
        }
    }

    fn send(&mut self, id: &str, send: &syntax::Send, channel: String, defaults: &Defaults) -> Option<SendSpec> {
        let message = self.message(&format!("{id}.message"), &send.body);
        let to = flatten(send.to.as_ref().map(|t| self.template(&format!("{id}.to"), t)));
        let mut variants = Vec::new();
        for (name, body) in &send.variants {
            let message = self.message(&format!("{id}.{}.message", name.value), body);
            variants.push(message.map(|m| (name.value.clone(), m)));
        }
        Some(SendSpec {
            channel,
            to: to?,
            from: send.from.as_ref().map(|f| f.value.clone()).or_else(|| defaults.from.clone()),
            message: message?,
            variants: variants.into_iter().collect::<Option<_>>()?,
        })
    }

    fn message(&mut self, name: &str, body: &syntax::Body) -> Option<Message> {
        let subject = body.subject.as_ref().map(|s| self.template(&format!("{name}.subject"), s));
        let body_template = match (&body.text, &body.template) {
            (Some(text), None) => self.template(&format!("{name}.text"), text),
            (None, Some(path)) => self.template_file(path),
            (Some(text), Some(path)) => {
                self.push(
                    Diagnostic::error("herald::conflicting_keys", "a message has both `text` and `template`")
                        .label(text.span, "text")
                        .label(path.span, "template")
                        .help("keep one: inline `text`, or a `template` file"),
                );
                None
            }
            (None, None) => {
                self.push(
                    Diagnostic::error("herald::missing_key", "a message needs `text` or `template`")
                        .label(crate::source::Span::at(body.span.start), "no message")
                        .help("write `text: \"Hi {{ contact.name }}\"` or `template: emails/welcome.html`"),
                );
                None
            }
        };
        Some(Message { subject: flatten(subject)?, body: body_template? })
    }

    fn call(&mut self, id: &str, call: &syntax::Call, channel: String, defaults: &Defaults) -> Option<CallSpec> {
        let prompt = call.prompt.as_ref().map(|p| self.template(&format!("{id}.prompt"), p));
        let to = call.to.as_ref().map(|t| self.template(&format!("{id}.to"), t));
        let max_duration = call.max_duration.as_ref().map(|d| self.duration(d, "max_duration"));
        let voicemail = match call.voicemail.as_ref().map(|v| (v.value.as_str(), v.span)) {
            None => Some(None),
            Some(("hangup", _)) => Some(Some(Voicemail::Hangup)),
            Some(("leave", _)) => Some(Some(Voicemail::Leave)),
            Some((other, span)) => {
                self.push(
                    Diagnostic::error(
                        "herald::invalid_value",
                        format!("`voicemail` is `leave` or `hangup`, not `{other}`"),
                    )
                    .label(span, "unknown choice")
                    .help("`leave` leaves a voicemail message; `hangup` ends the call")
                    .maybe_help(did_you_mean(other, ["leave", "hangup"])),
                );
                None
            }
        };
        Some(CallSpec {
            channel,
            agent: call.agent.as_ref().map(|a| a.value.clone()).or_else(|| defaults.agent.clone()),
            from: call.from.as_ref().map(|f| f.value.clone()).or_else(|| defaults.from.clone()),
            to: flatten(to)?,
            prompt: flatten(prompt)?,
            max_duration: flatten(max_duration)?,
            voicemail: voicemail?,
        })
    }

    fn wait(&mut self, wait: &syntax::Wait) -> Option<WaitSpec> {
        match wait {
            syntax::Wait::For(text) => self.duration(text, "wait").map(WaitSpec::For),
            syntax::Wait::Until(text) => {
                let value = text.value.trim();
                // `9:00` or `9:00:00` too, so they get the time-of-day hint, not a condition error.
                let looks_like_time = (value.len() == 5 && value.as_bytes()[2] == b':')
                    || (value.contains(':') && value.chars().all(|c| c.is_ascii_digit() || c == ':'));
                if looks_like_time {
                    return self.time_of_day(value, text.span).map(|t| WaitSpec::UntilTime(t.unwrap_or_default()));
                }
                self.datetime_expression(text).map(WaitSpec::UntilExpr)
            }
        }
    }

    fn await_spec(&mut self, awaited: &syntax::Await) -> Option<AwaitSpec> {
        if let (Some(reply), Some(event)) = (&awaited.reply, &awaited.event) {
            self.push(
                Diagnostic::error("herald::conflicting_keys", "an await waits for a reply or an event, not both")
                    .label(reply.span, "reply")
                    .label(event.span, "event")
                    .help("use two await steps"),
            );
            return None;
        }
        if let (Some(reply), Some(timeout)) = (&awaited.reply, &awaited.timeout) {
            self.push(
                Diagnostic::error("herald::conflicting_keys", "a reply await's timeout is its `reply:` value")
                    .label(reply.span, "the timeout")
                    .label(timeout.span, "a second timeout")
                    .help(format!("write `await: {{ reply: {} }}`", timeout.value)),
            );
            return None;
        }
        let timeout = awaited.reply.as_ref().or(awaited.timeout.as_ref());
        let Some(timeout) = timeout else {
            self.push(
                Diagnostic::error("herald::await_without_timeout", "this await has no timeout")
                    .label(awaited.span, "could wait forever")
                    .help("write `await: { reply: 2d }` or `await: { event: purchased, timeout: 7d }`"),
            );
            return None;
        };
        let timeout = self.duration(timeout, "timeout")?;
        Some(AwaitSpec { event: awaited.event.as_ref().map(|e| e.value.clone()), timeout })
    }

    pub fn routes(&mut self, routes: &[syntax::Route], index: &FxMap<String, StateId>) -> Option<Vec<Route>> {
        let compiled: Vec<Option<Route>> = routes
            .iter()
            .map(|route| {
                let condition = route.condition.as_ref().map(|c| self.condition(c, true));
                let goto = route.goto.as_ref().map(|g| self.target(g, index));
                let set = self.assignments(&route.set);
                Some(Route { condition: flatten(condition)?, goto: flatten(goto)?, set: set? })
            })
            .collect();
        compiled.into_iter().collect()
    }

    fn arms(&mut self, arms: &[syntax::Arm], index: &FxMap<String, StateId>) -> Option<Vec<Arm>> {
        let compiled: Vec<Option<Arm>> = arms
            .iter()
            .map(|arm| {
                if !(arm.weight.value > 0.0 && arm.weight.value.is_finite()) {
                    self.push(
                        Diagnostic::error("herald::split_weight", "split weights must be positive")
                            .label(arm.weight.span, "not positive")
                            .help("weights are relative shares, e.g. 45, 45 and 10; leave a variant out instead of weighting it 0"),
                    );
                }
                let goto = self.target(&arm.goto, index)?;
                Some(Arm { variant: arm.variant.value.clone(), weight: arm.weight.value, goto })
            })
            .collect();
        compiled.into_iter().collect()
    }

    fn assignments(&mut self, pairs: &[(Text, Text)]) -> Option<Vec<(String, Condition)>> {
        let compiled: Vec<Option<(String, Condition)>> =
            pairs.iter().map(|(name, value)| Some((name.value.clone(), self.condition(value, false)?))).collect();
        compiled.into_iter().collect()
    }

    fn contacts(&mut self, campaign: &Campaign) -> ContactSpec {
        let Some(contacts) = &campaign.contacts else {
            return ContactSpec::default();
        };
        let mut fields = Vec::new();
        for (name, ty) in &contacts.fields {
            match FieldType::parse(&ty.value) {
                Some(t) => fields.push((name.value.clone(), t)),
                None => self.push(
                    Diagnostic::error("herald::invalid_value", format!("unknown column type `{}`", ty.value))
                        .label(ty.span, "unknown type")
                        .help(
                            did_you_mean(&ty.value, FieldType::NAMES.iter().copied())
                                .unwrap_or_else(|| format!("types are: {}", FieldType::NAMES.join(", "))),
                        ),
                ),
            }
        }
        if let Some(region) = &contacts.region
            && crate::phone::Region::parse(&region.value).is_none()
        {
            self.push(
                Diagnostic::error("herald::invalid_value", format!("`{}` is not a country code", region.value))
                    .label(region.span, "unknown region")
                    .help("national phone numbers are read in this country: write its ISO code, e.g. `US`, `GB`, `DE`"),
            );
        }
        ContactSpec {
            key: contacts.key.as_ref().map(|k| k.value.clone()),
            region: contacts.region.as_ref().map(|r| r.value.clone()),
            require: contacts.require.iter().map(|r| r.value.clone()).collect(),
            fields,
            filter: contacts.filter.as_ref().and_then(|f| self.condition(f, true)).map(std::sync::Arc::new),
            suppress: contacts.suppress.iter().map(|s| self.options.base_dir.join(&s.value)).collect(),
        }
    }

    fn moved(&mut self, campaign: &Campaign, index: &FxMap<String, StateId>) -> Option<Vec<(String, Target)>> {
        let moved: Vec<Option<(String, Target)>> =
            campaign.moved.iter().map(|(old, new)| Some((old.value.clone(), self.target(new, index)?))).collect();
        moved.into_iter().collect()
    }
}

/// `Some(None)` (present but invalid) -> `None`; absent or valid -> `Some(value)`.
fn flatten<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        Some(None) => None,
        Some(Some(v)) => Some(Some(v)),
        None => Some(None),
    }
}

fn data_json(data: Option<&crate::syntax::yaml::Node>) -> serde_json::Map<String, serde_json::Value> {
    match data.map(node_json) {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn node_json(node: &crate::syntax::yaml::Node) -> serde_json::Value {
    use crate::syntax::yaml::Kind;
    match &node.kind {
        Kind::Null => serde_json::Value::Null,
        Kind::Bool(b) => (*b).into(),
        Kind::Int(i) => (*i).into(),
        Kind::Float(f) => (*f).into(),
        Kind::Str(s) => s.clone().into(),
        Kind::Seq(items) => items.iter().map(node_json).collect(),
        Kind::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| Some((k.as_text()?, node_json(v))))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// FNV-1a of the file text: stable across builds and platforms.
pub fn content_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// "steps are: a, b, c" for a few names; a long list is cut, so 10,000 unknown targets among
/// 10,000 steps do not print 10,000 lists of 10,000 ids.
fn listed(what: &str, names: &[String]) -> String {
    const SHOWN: usize = 12;
    let head = names.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ");
    match names.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{what} are: {head}, … ({more} more)"),
        _ => format!("{what} are: {head}"),
    }
}
