//! The interpreter: `advance(graph, pacer, lead, contact, input, now, records)` moves one lead
//! through immediate steps until it parks (a wait, an await, an action in flight, a deferral)
//! or ends, appends its history to `records`, and returns the actions to hand to channels
//! (`step_due` feeds a lead every input due). Pure: no I/O, no clock; pacing is asked of
//! the caller through `Pacer`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::lead::{Action, CallInfo, Effect, Event, Input, Lead, LeadStatus, Park, Record, Reply, Text};
use super::scope::{LeadScope, timezone_of};
use super::{split, window};
use crate::contact::Contact;
use crate::expr::{Condition, Value};
use crate::graph::{Graph, NodeKind, Route, StateId, Target, WaitSpec};
use crate::vocab::{CallOutcome, MessageOutcome, Reason};

/// Pacing, owned by the driver: may the action of `step` start now, else when to ask again.
pub trait Pacer {
    fn acquire(&mut self, step: StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>>;

    /// `acquire` for one contact's action: what the interpreter asks, so that a limit per
    /// contact across campaigns (herald.yaml's `policy.frequency`) can hold it too.
    fn acquire_for(&mut self, step: StateId, _contact: &Contact, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.acquire(step, now)
    }

    /// The action `acquire_for` let through was made (not when its message failed to render).
    fn acted(&mut self, _step: StateId, _action: &Action) {}

    /// An action `acted` was told of is not handed over after all (its address is suppressed).
    fn withdrawn(&mut self, _action: &Action) {}

    /// Why the last action was held back, for the lead's history.
    fn reason(&self) -> &str {
        "pacing"
    }

    /// Whether `settle` needs the step of an action in flight (limits per channel or step);
    /// without them, finding the step is not worth its cost.
    fn by_step(&self) -> bool {
        false
    }

    /// Accounts for one lead's advance: its action in flight before and after (for
    /// `concurrency`; nothing to count by default).
    fn settle(&mut self, _before: Flight, _after: Flight) {}
}

/// A lead's action in flight as `Pacer::settle` sees it: whether there is one, and at which
/// step (only when the pacer counts `by_step`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flight {
    pub on: bool,
    pub step: Option<StateId>,
}

impl Flight {
    fn of(graph: &Graph, lead: &Lead, by_step: bool) -> Flight {
        let on = lead.in_flight();
        let step = if on && by_step { lead.step.as_deref().and_then(|s| graph.state(s)) } else { None };
        Flight { on, step }
    }
}

/// No limits.
pub struct Unpaced;

impl Pacer for Unpaced {
    fn acquire(&mut self, _: StateId, _: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        Ok(())
    }
}

/// What `relocate` produced: actions and opt-outs for the driver, and history records.
#[derive(Debug, Default)]
pub struct Advance {
    pub effects: Vec<Effect>,
    pub records: Vec<Record>,
}

/// Steps one advance may pass through before the lead is stopped as looping.
const MAX_HOPS: usize = 10_000;

/// One input for one lead: its history is appended to `records` (a buffer the caller reuses),
/// and the effects for the driver are returned.
pub fn advance(
    graph: &Graph,
    pacer: &mut dyn Pacer,
    lead: &mut Lead,
    contact: &Contact,
    input: Input,
    now: DateTime<Utc>,
    records: &mut Vec<Record>,
) -> Vec<Effect> {
    advance_dated(graph, pacer, lead, contact, (input, now), now, records)
}

/// `advance` for an input that happened at `at` (an event's own time, at or before `now`):
/// an event older than the await the lead is in does not answer it.
pub fn advance_dated(
    graph: &Graph,
    pacer: &mut dyn Pacer,
    lead: &mut Lead,
    contact: &Contact,
    (input, at): (Input, DateTime<Utc>),
    now: DateTime<Utc>,
    records: &mut Vec<Record>,
) -> Vec<Effect> {
    let mut machine = Machine::new(graph, pacer, lead, contact, now, records);
    machine.at = at.min(now);
    machine.input(input);
    machine.lead.refresh_wake();
    machine.effects
}

/// Feeds the lead `first` (if any), then every input due by `now`, one advance each: the one
/// stepping loop of `run`, `ingest` and `simulate`, which differ only in what they do with an
/// effect (`effect` may queue inputs on the lead, e.g. a simulated reply, and they are fed in
/// the same pass when due). History is appended to `records`.
#[allow(clippy::too_many_arguments)]
pub fn step_due(
    graph: &Graph,
    pacer: &mut dyn Pacer,
    contact: &Contact,
    lead: &mut Lead,
    now: DateTime<Utc>,
    first: Option<Input>,
    records: &mut Vec<Record>,
    mut effect: impl FnMut(Effect, &mut Lead),
) {
    let mut input = first.map(|input| (input, now)).or_else(|| lead.take_due(now));
    let by_step = pacer.by_step();
    while let Some(next) = input {
        let before = Flight::of(graph, lead, by_step);
        let effects = advance_dated(graph, pacer, lead, contact, next, now, records);
        pacer.settle(before, Flight::of(graph, lead, by_step));
        for e in effects {
            effect(e, lead);
        }
        input = lead.take_due(now);
    }
    lead.refresh_wake();
}

/// Moves a lead parked on a step that was removed from the file to where `moved:` sends it,
/// as a `goto` would (docs/run.md, live edits).
pub fn relocate(
    graph: &Graph,
    pacer: &mut dyn Pacer,
    lead: &mut Lead,
    contact: &Contact,
    target: Target,
    now: DateTime<Utc>,
) -> Advance {
    let mut records = Vec::new();
    let mut machine = Machine::new(graph, pacer, lead, contact, now, &mut records);
    machine.record(Event::Route { to: Text::new(graph.target_name(target)) });
    machine.lead.timer = None;
    machine.go(target);
    machine.lead.refresh_wake();
    let effects = machine.effects;
    Advance { effects, records }
}

pub(super) struct Machine<'a> {
    pub(super) graph: &'a Graph,
    pub(super) pacer: &'a mut dyn Pacer,
    pub(super) lead: &'a mut Lead,
    pub(super) contact: &'a Contact,
    pub(super) now: DateTime<Utc>,
    /// When the input being taken happened (`now` but for a dated event).
    at: DateTime<Utc>,
    pub(super) tz: Tz,
    pub(super) effects: Vec<Effect>,
    records: &'a mut Vec<Record>,
}

impl<'a> Machine<'a> {
    pub(super) fn new(
        graph: &'a Graph,
        pacer: &'a mut dyn Pacer,
        lead: &'a mut Lead,
        contact: &'a Contact,
        now: DateTime<Utc>,
        records: &'a mut Vec<Record>,
    ) -> Machine<'a> {
        Machine {
            graph,
            pacer,
            lead,
            contact,
            now,
            at: now,
            tz: timezone_of(graph, contact),
            effects: Vec::new(),
            records,
        }
    }

    // Inlined into its callers: the record is built in place of a call that copies it
    // (BENCHMARKS.md, 'Figures behind code comments').
    #[inline(always)]
    pub(super) fn record(&mut self, event: Event) {
        self.records.push(Record { at: self.now, step: self.lead.step.clone(), event });
        self.lead.seq += 1;
    }

    pub(super) fn current(&self) -> Option<StateId> {
        self.lead.step.as_deref().and_then(|s| self.graph.state(s))
    }

    fn input(&mut self, input: Input) {
        if self.lead.status.is_final() {
            if let Input::Reply { text, intent, .. } = input {
                self.record(Event::Reply { text: text.map(Text::from), intent: intent.map(Text::from) });
            }
            return;
        }
        if self.graph.schedule.end.is_some_and(|end| self.now >= end) {
            self.finish(LeadStatus::Expired, Some(Reason::CampaignEnded));
            return;
        }
        match input {
            Input::Wake => self.wake(),
            Input::OptOut => self.opt_out(),
            Input::Reply { text, intent, channel } => self.reply(text, intent, channel),
            Input::Event { name, vars } => self.event(name, vars),
            Input::Call { status, duration, vars } => self.call_outcome(status, duration, vars),
            Input::Delivery { status } => self.delivery(status),
        }
        self.check_goals();
    }

    fn wake(&mut self) {
        let here = self.current();
        match (self.lead.park, here) {
            (Park::Start, _) => match self.graph.schedule.start {
                Some(start) if start > self.now => self.park(Park::Start, start, LeadStatus::Scheduled),
                _ => self.go(self.graph.first()),
            },
            (Park::Wait, Some(id)) => self.go(self.graph.node(id).next),
            (Park::Await, Some(id)) => {
                self.lead.reply = Some(Reply { timed_out: true, at: Some(self.now), ..Reply::default() });
                self.record(Event::Outcome { status: "timed_out".into() });
                let node = self.graph.node(id);
                let target = self.route(&node.routes, node.next).unwrap_or(node.next);
                self.go(target);
            }
            (Park::Act, Some(id)) => {
                if let Some(target) = self.act(id) {
                    self.go(target);
                }
            }
            (Park::Outcome, Some(id)) => {
                // No outcome came in time: a call counts as failed, a message as sent.
                let is_call = matches!(self.graph.node(id).kind, NodeKind::Call(_));
                self.record(Event::Error { reason: "no outcome reported in time".into() });
                let status = if is_call { CallOutcome::Failed.as_str() } else { MessageOutcome::Sent.as_str() };
                if is_call {
                    self.lead.call =
                        Some(CallInfo { status: Some(status.into()), duration: None, attempt: self.lead.attempts });
                } else {
                    self.lead.message_status = Some(status.into());
                }
                if let Some(target) = self.outcome(id, status) {
                    self.go(target);
                }
            }
            (_, None) => self.finish(LeadStatus::Failed, Some(Reason::StepMissing)),
        }
    }

    fn opt_out(&mut self) {
        self.effects.push(Effect::Suppress(self.contact.key.clone()));
        self.finish(LeadStatus::OptedOut, Some(Reason::OptOut));
    }

    fn reply(&mut self, text: Option<String>, intent: Option<String>, channel: Option<String>) {
        self.record(Event::Reply { text: text.as_deref().map(Text::new), intent: intent.as_deref().map(Text::new) });
        if text.as_deref().is_some_and(super::opt_out::is_opt_out) {
            self.opt_out();
            return;
        }
        if self.answers_nothing() {
            return;
        }
        self.lead.reply = Some(Reply { text, intent, channel, at: Some(self.at), timed_out: false });
        if self.stopped() {
            return;
        }
        let here = self.current();
        if let (Park::Await, Some(id)) = (self.lead.park, here)
            && let NodeKind::Await(spec) = &self.graph.node(id).kind
            && spec.event.is_none()
        {
            let node = self.graph.node(id);
            let target = self.route(&node.routes, node.next).unwrap_or(node.next);
            self.go(target);
            return;
        }
        if !self.graph.replies.is_empty() {
            let next = here.map_or(Target::End, |id| self.graph.node(id).next);
            if let Some(target) = self.route(&self.graph.replies, next) {
                self.go(target);
            }
        }
    }

    fn event(&mut self, name: String, vars: serde_json::Map<String, serde_json::Value>) {
        self.record(Event::Event { name: Text::new(&name) });
        if self.answers_nothing() {
            return;
        }
        self.lead.vars.extend(vars);
        if self.graph.events.binary_search(&name).is_ok() {
            self.lead.note_event(&name, self.now);
        }
        if self.stopped() {
            return;
        }
        if let (Park::Await, Some(id)) = (self.lead.park, self.current())
            && let NodeKind::Await(spec) = &self.graph.node(id).kind
            && spec.event.as_deref() == Some(name.as_str())
        {
            let node = self.graph.node(id);
            let target = self.route(&node.routes, node.next).unwrap_or(node.next);
            self.go(target);
            return;
        }
        self.until_met();
    }

    /// An event dated before the await the lead is in began is history only: the await's
    /// routes see what arrived during it (docs/language.md), not a reply from before, or year 1.
    /// A minute's grace covers providers' whole-second stamps and clocks a little behind ours.
    fn answers_nothing(&self) -> bool {
        self.lead.park == Park::Await && self.at + chrono::TimeDelta::minutes(1) < self.lead.entered_at
    }

    /// `goal` and `exit_when` see an event's data before any route acts on it: a lead that
    /// met its goal with this reply or call leaves before another message goes out.
    pub(super) fn stopped(&mut self) -> bool {
        self.check_goals();
        self.lead.status.is_final()
    }

    fn check_goals(&mut self) {
        if self.lead.status.is_final() {
            return;
        }
        if let Some(goal) = &self.graph.goal
            && self.holds("goal", goal)
        {
            self.finish(LeadStatus::Converted, None);
        } else if let Some(exit) = &self.graph.exit_when
            && self.holds("exit_when", exit)
        {
            self.finish(LeadStatus::Exited, Some(Reason::ExitWhen));
        }
    }

    /// Walk from `target` until the lead parks or ends.
    pub(super) fn go(&mut self, mut target: Target) {
        for _ in 0..MAX_HOPS {
            match target {
                Target::End => {
                    self.finish(LeadStatus::Completed, None);
                    return;
                }
                Target::Step(id) => match self.enter(id) {
                    Some(next) => target = next,
                    None => return,
                },
            }
        }
        self.finish(LeadStatus::Failed, Some(Reason::Loop));
    }

    /// Enter a step: the next target when it passes straight through, `None` when the lead
    /// parks or ends here.
    fn enter(&mut self, id: StateId) -> Option<Target> {
        let graph = self.graph;
        let node = graph.node(id);
        self.lead.step = Some(Text::new(&node.id.0));
        // The time of the input that moved the lead (`now` but for a dated event): replies in
        // the same batch of dated events are then weighed against when the await truly began.
        self.lead.entered_at = self.at;
        self.lead.attempts = 0;
        self.record(Event::Enter);
        if let Some(when) = &node.when
            && !self.holds("when", when)
        {
            self.record(Event::Skip { reason: "when".into() });
            return Some(node.next);
        }
        match &node.kind {
            NodeKind::Send(_) | NodeKind::Call(_) => self.act(id),
            NodeKind::Wait(wait) => self.wait(wait, node.next),
            NodeKind::Await(spec) => {
                self.lead.reply = None;
                self.park(Park::Await, self.now + spec.timeout, LeadStatus::Waiting);
                None
            }
            NodeKind::Branch(routes) => Some(self.route(routes, node.next).unwrap_or(node.next)),
            NodeKind::Split(arms) => {
                let arm = split::choose(arms, &graph.id, &node.id.0, &self.contact.key)?;
                self.lead.variants.insert(node.id.0.clone(), arm.variant.clone());
                self.record(Event::Split { variant: Text::new(&arm.variant) });
                Some(arm.goto)
            }
            NodeKind::Set(pairs) => {
                self.assign(pairs);
                Some(node.next)
            }
            NodeKind::Exit(label) => {
                self.end(LeadStatus::Exited, Some(label));
                None
            }
        }
    }

    fn wait(&mut self, wait: &WaitSpec, next: Target) -> Option<Target> {
        let until = match wait {
            WaitSpec::For(duration) => self.now.checked_add_signed(*duration),
            WaitSpec::UntilTime(time) => Some(window::next_local_time(self.tz, *time, self.now)),
            WaitSpec::UntilExpr(expr) => {
                let value = self.eval(expr);
                match value.as_datetime(self.tz) {
                    Some(t) => Some(t),
                    None => {
                        self.record(Event::Error {
                            reason: compact_str::format_compact!(
                                "`wait.until` gave {value}, not a datetime: not waiting"
                            ),
                        });
                        return Some(next);
                    }
                }
            }
        };
        match until {
            Some(until) if until > self.now => {
                self.park(Park::Wait, until, LeadStatus::Scheduled);
                self.record(Event::Wait { until });
                None
            }
            _ => Some(next),
        }
    }

    /// First matching route: apply its `set`, and give its target (`None` when none matches).
    pub(super) fn route(&mut self, routes: &[Route], next: Target) -> Option<Target> {
        for route in routes {
            let matched = route.condition.as_ref().is_none_or(|c| self.holds("if", c));
            if matched {
                self.assign(&route.set);
                let target = route.goto.unwrap_or(next);
                self.record(Event::Route { to: Text::new(self.graph.target_name(target)) });
                return Some(target);
            }
        }
        None
    }

    fn assign(&mut self, pairs: &[(String, Condition)]) {
        for (name, expr) in pairs {
            let value = self.eval(expr);
            self.record(Event::Set { name: Text::new(name), value: value.to_text() });
            self.lead.vars.insert(name.clone(), value.to_json());
        }
    }

    pub(super) fn park(&mut self, park: Park, until: DateTime<Utc>, status: LeadStatus) {
        // A lead parked past the campaign's end wakes at the end, to expire then. An
        // action in flight keeps waiting for its outcome, which expires the lead when it comes.
        let until = match self.graph.schedule.end {
            Some(end) if until > end && park != Park::Outcome => end,
            _ => until,
        };
        self.lead.park = park;
        self.lead.timer = Some(until);
        self.lead.status = status;
    }

    pub(super) fn finish(&mut self, status: LeadStatus, reason: Option<Reason>) {
        debug_assert!(reason.is_none_or(|r| r.status() == status), "{reason:?} does not end a lead {status}");
        self.end(status, reason.map(Reason::as_str));
    }

    /// `finish`, with an `exit:` step's own label as the reason.
    fn end(&mut self, status: LeadStatus, reason: Option<&str>) {
        self.lead.status = status;
        self.lead.outcome =
            reason.map(str::to_string).or(self.lead.outcome.take().filter(|_| status == LeadStatus::Exited));
        self.lead.timer = None;
        self.lead.inbox.clear();
        self.record(Event::Exit { lead_status: status, reason: self.lead.outcome.as_deref().map(Text::new) });
    }

    fn scope(&self) -> LeadScope<'_> {
        LeadScope::of(self.graph, self.lead, self.contact, self.now, self.tz)
    }

    fn eval(&self, condition: &Condition) -> Value {
        condition.eval(&self.scope())
    }

    /// Evaluate a condition and record it with the values it read, for `explain`.
    pub(super) fn holds(&mut self, what: &str, condition: &Condition) -> bool {
        let scope = self.scope();
        let result = condition.holds(&scope);
        let values = condition
            .reads()
            .iter()
            .map(|(path, name)| {
                let value = match path.root.as_str() {
                    "now" | "today" => Value::DateTime(self.now),
                    _ => crate::expr::Scope::get(&scope, path),
                };
                (Text::new(name), value.to_text())
            })
            .collect();
        self.record(Event::Condition { what: what.into(), source: Text::new(condition.text()), result, values });
        result
    }
}
