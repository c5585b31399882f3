//! The action half of the interpreter: a send or call step acts inside the schedule window and
//! pacing, or defers; its message is rendered and addressed here; a retry wait ends early when
//! an event meets its `until`.

use chrono::{DateTime, TimeDelta, Utc};

use super::advance::{Machine, Unpaced};
use super::lead::{Action, ActionKind, Effect, Event, Lead, LeadStatus, Park, Text, action_key};
use super::scope::LeadScope;
use super::window;
use crate::contact::Contact;
use crate::graph::{Graph, Message, NodeKind, StateId, Target};
use crate::vocab::Reason;

/// The action a send or call step makes for `lead` at `now`, rendered and addressed as a run
/// does (`herald preview`); the error is what stopped it (a template, no address).
pub fn render_action(
    graph: &Graph,
    lead: &mut Lead,
    contact: &Contact,
    id: StateId,
    now: DateTime<Utc>,
) -> Result<Action, String> {
    let (mut pacer, mut records) = (Unpaced, Vec::new());
    let attempt = lead.attempts;
    Machine::new(graph, &mut pacer, lead, contact, now, &mut records).action(id, attempt)
}

impl Machine<'_> {
    /// Make the step's send or call, inside the window and pacing, or defer it.
    pub(super) fn act(&mut self, id: StateId) -> Option<Target> {
        match window::next_open(&self.graph.schedule, self.tz, self.now) {
            Some(t) if t <= self.now => {}
            Some(t) => {
                // The campaign's own window names itself; the policy only when it alone holds.
                let reason = if window::quiet_now(&self.graph.schedule, self.tz, self.now) {
                    "policy quiet hours"
                } else {
                    "outside the schedule window"
                };
                self.defer(t, Text::const_new(reason));
                return None;
            }
            None => {
                self.finish(LeadStatus::Failed, Some(Reason::WindowNeverOpens));
                return None;
            }
        }
        if let Err(t) = self.pacer.acquire_for(id, self.contact, self.now) {
            let reason = Text::new(self.pacer.reason());
            // Later than `now`, so that this pass does not take the lead again, and no more:
            // what `ingest` leaves to the next run must be due at once when that run starts.
            self.defer(t.max(self.now + TimeDelta::nanoseconds(1)), reason);
            return None;
        }
        self.lead.attempts += 1;
        let node = self.graph.node(id);
        let key_attempt = self.lead.key_attempt(&node.id.0, node.reentrant);
        match self.action(id, key_attempt) {
            Ok(action) => {
                self.pacer.acted(id, &action);
                let timeout = match &self.graph.node(id).kind {
                    NodeKind::Call(call) => {
                        self.record(Event::Call {
                            channel: action.channel.clone(),
                            to: action.to.clone(),
                            key: action.key.clone(),
                            attempt: action.attempt,
                        });
                        call.max_duration.unwrap_or(TimeDelta::minutes(30)) + TimeDelta::minutes(30)
                    }
                    _ => {
                        self.record(Event::Send {
                            channel: action.channel.clone(),
                            to: action.to.clone(),
                            text: action.text.clone(),
                            key: action.key.clone(),
                            variant: action.variant.clone(),
                        });
                        TimeDelta::hours(1)
                    }
                };
                self.effects.push(Effect::Act(Box::new(action)));
                self.park(Park::Outcome, self.now + timeout, LeadStatus::InProgress);
                None
            }
            Err(reason) => {
                self.record(Event::Error { reason: reason.into() });
                self.not_made(id, Reason::RenderFailed)
            }
        }
    }

    /// A lead waiting to retry a step whose retry `until` an event has just made true stops
    /// retrying: the step's routes run with the last outcome, else it carries on to `next`
    /// (the retries' purpose is met, so it does not fail).
    pub(super) fn until_met(&mut self) {
        let Some(id) = self.current() else { return };
        // `Park::Act` after a try is a retry wait (or its window deferral); before one, it is not.
        if self.lead.park != Park::Act || self.lead.attempts == 0 {
            return;
        }
        let node = self.graph.node(id);
        let Some(until) = node.retry.as_ref().and_then(|policy| policy.until.as_ref()) else { return };
        if !self.holds("until", until) {
            return;
        }
        self.lead.timer = None;
        let target = self.route(&node.routes, node.next).unwrap_or(node.next);
        self.go(target);
    }

    fn defer(&mut self, until: DateTime<Utc>, reason: Text) {
        let until = match self.graph.schedule.end {
            Some(end) if until > end => end,
            _ => until,
        };
        self.park(Park::Act, until, LeadStatus::Scheduled);
        self.record(Event::Defer { until, reason });
    }

    /// Render the step's action; the error is the reason recorded against the lead.
    fn action(&self, id: StateId, key_attempt: u32) -> Result<Action, String> {
        let graph = self.graph;
        let node = graph.node(id);
        let scope = LeadScope::of(graph, self.lead, self.contact, self.now, self.tz);
        let step = (node.id.0.as_str(), node.name.as_deref());
        // The full context is built only for a template the plain path declines.
        let context = std::cell::OnceCell::new();
        let render = |t: &crate::template::Template| match graph
            .templates
            .render_plain(t, |root, field| scope.template_text(step, root, field))
        {
            Some(text) => Ok(text),
            None => graph.templates.render(t, context.get_or_init(|| scope.template_context(step))),
        };
        let (mut voicemail, mut max_duration) = (None, None);
        let (kind, channel, to, from, subject, text, agent, variant, html) = match &node.kind {
            NodeKind::Send(send) => {
                let variant = self.lead.variants.values().find(|v| send.variants.iter().any(|(name, _)| name == *v));
                let message: &Message =
                    variant.and_then(|v| send.variants.iter().find(|(n, _)| n == v)).map_or(&send.message, |(_, m)| m);
                let subject = message.subject.as_ref().map(render).transpose()?;
                let to = send.to.as_ref().map(render).transpose()?;
                (
                    ActionKind::Send,
                    &send.channel,
                    to,
                    send.from.as_deref().map(Text::new),
                    subject,
                    render(&message.body)?,
                    None,
                    variant.map(Text::new),
                    message.body.html,
                )
            }
            NodeKind::Call(call) => {
                let prompt = call.prompt.as_ref().map(render).transpose()?.unwrap_or_default();
                let to = call.to.as_ref().map(render).transpose()?;
                voicemail = call.voicemail.map(|v| Text::const_new(v.word()));
                max_duration = call.max_duration.map(|d| d.num_seconds().clamp(0, i64::from(u32::MAX)) as u32);
                (
                    ActionKind::Call,
                    &call.channel,
                    to,
                    call.from.as_deref().map(Text::new),
                    None,
                    prompt,
                    call.agent.as_deref().map(Text::new),
                    None,
                    false,
                )
            }
            _ => return Err("not an action step".into()),
        };
        let to = match to {
            Some(to) if !to.trim().is_empty() => Text::new(to.trim()),
            _ => self.address(channel).ok_or_else(|| format!("no address to reach the contact on `{channel}`"))?,
        };
        Ok(Action {
            key: action_key(&graph.id, &self.contact.key, &node.id.0, key_attempt),
            kind,
            campaign: Text::new(&graph.id),
            contact: Text::new(&self.contact.key),
            step: Text::new(&node.id.0),
            attempt: self.lead.attempts,
            channel: Text::new(channel),
            to,
            from: from.or_else(|| graph.defaults.from.as_deref().map(Text::new)),
            subject: subject.map(Text::from),
            text: text.into(),
            agent: agent.or_else(|| graph.defaults.agent.as_deref().map(Text::new)),
            variant,
            at: self.now,
            voicemail,
            max_duration,
            html,
        })
    }

    /// The contact's address on a channel: email for email-like channels, else the phone.
    fn address(&self, channel: &str) -> Option<Text> {
        let column = if channel.contains("mail") { "email" } else { "phone" };
        match self.contact.fields.get(column) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Text::new(s)),
            _ => Some(Text::new(&self.contact.key)).filter(|k| !k.is_empty()),
        }
    }
}
