//! Outcomes: a call's or a delivery's result for the action a lead has in flight, or an action
//! that could not be made, decides the lead's next move — retry, route, fail or carry on.

use super::advance::Machine;
use super::lead::{CallInfo, Event, LeadStatus, Park, Text};
use crate::graph::{NodeKind, StateId, Target};
use crate::vocab::{CallOutcome, MessageOutcome, Reason};

impl Machine<'_> {
    pub(super) fn call_outcome(
        &mut self,
        status: Text,
        duration: Option<f64>,
        vars: serde_json::Map<String, serde_json::Value>,
    ) {
        self.lead.vars.extend(vars);
        self.lead.call = Some(CallInfo { status: Some(status.to_string()), duration, attempt: self.lead.attempts });
        self.completed(&status, true);
    }

    pub(super) fn delivery(&mut self, status: Text) {
        self.lead.message_status = Some(status.clone());
        self.completed(&status, false);
    }

    /// A call or delivery outcome, its data already stored: `goal`/`exit_when` first, then
    /// retries and routes when it is the outcome of the action this lead has in flight (a late
    /// one, e.g. a bounce after the lead moved on, is only recorded).
    pub(super) fn completed(&mut self, status: &str, of_call: bool) {
        self.record(Event::Outcome { status: Text::new(status) });
        let here = self.current();
        let in_flight = self.lead.park == Park::Outcome
            && here.is_some_and(|id| match self.graph.node(id).kind {
                NodeKind::Call(_) => of_call,
                NodeKind::Send(_) => !of_call,
                _ => false,
            });
        if self.stopped() {
            return;
        }
        if let Some(id) = here.filter(|_| in_flight)
            && let Some(target) = self.decide(id, status)
        {
            self.go(target);
        }
    }

    /// After a send or call completes: retry, route, fail, or carry on.
    pub(super) fn outcome(&mut self, id: StateId, status: &str) -> Option<Target> {
        self.record(Event::Outcome { status: Text::new(status) });
        self.decide(id, status)
    }

    /// An action that could not be made (its message did not render): `failed` for retries
    /// and routes, and with neither taking it the lead ends `failed` with `reason` rather than
    /// carry on as if it had gone (docs/language.md, `render_failed`).
    pub(super) fn not_made(&mut self, id: StateId, reason: Reason) -> Option<Target> {
        // Routes read the outcome where a channel's would be: `message.status` or `call.status`.
        if matches!(self.graph.node(id).kind, NodeKind::Call(_)) {
            let status = Some(CallOutcome::Failed.as_str().into());
            self.lead.call = Some(CallInfo { status, duration: None, attempt: self.lead.attempts });
        } else {
            self.lead.message_status = Some(MessageOutcome::Failed.as_str().into());
        }
        // `failed` is a word of both lists.
        let failed = MessageOutcome::Failed.as_str();
        self.record(Event::Outcome { status: Text::new(failed) });
        self.decide_or(id, failed, Some(reason))
    }

    /// Retry, route, fail or carry on after an outcome already recorded.
    pub(super) fn decide(&mut self, id: StateId, status: &str) -> Option<Target> {
        self.decide_or(id, status, None)
    }

    /// `decide`, where an outcome no retry or route takes ends the lead `failed` with
    /// `unhandled` as the reason, if given, instead of carrying on to `next`.
    pub(super) fn decide_or(&mut self, id: StateId, status: &str, unhandled: Option<Reason>) -> Option<Target> {
        let node = self.graph.node(id);
        let mut wants_retry = false;
        if let Some(policy) = &node.retry {
            // An outcome in `on`, or `until` not yet true, asks for a retry (docs/language.md).
            let goal_unmet = policy.until.as_ref().is_some_and(|until| !self.holds("until", until));
            wants_retry = goal_unmet || policy.on.iter().any(|o| o == status);
            if wants_retry && self.lead.attempts <= policy.attempts {
                let until = self.now + policy.interval(self.lead.attempts);
                self.park(Park::Act, until, LeadStatus::Scheduled);
                self.record(Event::Retry { attempt: self.lead.attempts + 1, until });
                return None;
            }
        }
        if let Some(target) = self.route(&node.routes, node.next) {
            return Some(target);
        }
        if wants_retry {
            self.finish(LeadStatus::Failed, Some(Reason::MaxRetries));
            return None;
        }
        if let Some(reason) = unhandled {
            self.finish(LeadStatus::Failed, Some(reason));
            return None;
        }
        Some(node.next)
    }
}
