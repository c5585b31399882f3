//! Compliance checks: warnings about rules that carriers, mailbox providers and the law set on
//! outbound campaigns (docs/compliance.md says each rule, its source, and what herald cannot
//! know). They run on a campaign that compiled, and each can be switched off in the file with
//! a reason (`checks:`).

use chrono::NaiveTime;

use super::Checker;
use super::whatsapp::late_sends;
use crate::diagnostic::Diagnostic;
use crate::graph::{Graph, NodeKind, Purpose, RetryPolicy, StateId};
use crate::source::Span;
use crate::syntax::{Action, Body, Campaign, Step};

/// What a channel name is, as far as the compliance checks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    Sms,
    WhatsApp,
    Email,
    Other,
}

/// One channel of herald.yaml, as the checks need it (`validate --config`).
#[derive(Clone, Debug)]
pub struct ChannelFacts {
    pub name: String,
    pub medium: Medium,
    /// For an `smtp` channel, whether it sends a one-click unsubscribe header (its
    /// `unsubscribe`); `None` for other kinds, whose messages are checked on their text.
    pub unsubscribe: Option<bool>,
}

impl ChannelFacts {
    /// Every channel of a loaded herald.yaml.
    pub fn of(config: &crate::config::Config) -> Vec<ChannelFacts> {
        use crate::config::Kind;
        config
            .channels
            .iter()
            .map(|c| {
                let (medium, unsubscribe) = match &c.kind {
                    Kind::Smtp(smtp) => (Medium::Email, Some(smtp.unsubscribe.is_some())),
                    Kind::Twilio(t) if t.whatsapp => (Medium::WhatsApp, None),
                    Kind::Twilio(_) => (Medium::Sms, None),
                    Kind::Log { .. } | Kind::Webhook(_) => (medium_by_name(&c.name), None),
                };
                ChannelFacts { name: c.name.clone(), medium, unsubscribe }
            })
            .collect()
    }
}

/// Without a herald.yaml kind to go by, the channel's name says what it is.
pub fn medium_by_name(name: &str) -> Medium {
    let name = name.to_ascii_lowercase();
    if name.contains("whatsapp") {
        Medium::WhatsApp
    } else if name.contains("sms") || name == "text" {
        Medium::Sms
    } else if name.contains("mail") {
        Medium::Email
    } else {
        Medium::Other
    }
}

/// US calling hours (47 CFR 64.1200(c)(1)): not before 8 a.m. nor after 9 p.m. local time.
const EARLIEST: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).expect("valid time");
const LATEST: NaiveTime = NaiveTime::from_hms_opt(21, 0, 0).expect("valid time");
/// Tries of one call within 24 hours above which a state rule (e.g. Florida's) is broken.
const MAX_CALLS_PER_DAY: usize = 3;

impl Checker<'_> {
    /// Every compliance warning of a compiled campaign; `edges` are the step graph's.
    pub(super) fn compliance(&mut self, campaign: &Campaign, graph: &Graph, edges: &[Vec<usize>]) {
        let policy_off = self.policy.map_or(&[][..], |p| &p.checks_off[..]);
        let on = |name: &str| !campaign.checks_off.iter().chain(policy_off).any(|c| c.name.value == name);
        // Quiet hours over the whole night keep every action inside calling hours.
        let quiet = self.policy.and_then(|p| p.quiet_hours);
        let night_is_quiet = quiet.is_some_and(|q| q.covers(LATEST, EARLIEST));
        if let Some(quiet) = quiet {
            self.quiet_schedule(campaign, graph, quiet);
        }
        if on("tcpa_hours") && graph.purpose != Purpose::Transactional && !night_is_quiet {
            self.calling_hours(campaign, graph);
        }
        if on("stop_notice") {
            self.stop_notice(campaign, graph, edges);
        }
        if on("unsubscribe") {
            self.unsubscribe(campaign, graph);
        }
        if on("whatsapp_window") {
            let whatsapp: Vec<bool> =
                graph.nodes.iter().map(|n| self.send_medium(&n.kind) == Medium::WhatsApp).collect();
            for i in late_sends(campaign, graph, edges, &whatsapp) {
                self.whatsapp_window(&campaign.steps[i]);
            }
        }
        if on("call_retries") {
            self.call_retries(campaign, graph);
        }
        if on("call_pacing") {
            self.call_pacing(campaign, graph);
        }
    }

    /// Quiet hours that cover every window the schedule opens leave no hour to act in: each
    /// lead that reaches a send or call would fail (`window_never_opens`).
    fn quiet_schedule(&mut self, campaign: &Campaign, graph: &Graph, quiet: crate::config::QuietHours) {
        let hours = &graph.schedule.hours;
        let acts = graph.nodes.iter().any(|n| matches!(n.kind, NodeKind::Send(_) | NodeKind::Call(_)));
        let covered = hours.iter().all(|w| quiet.covers(w.open, w.close.unwrap_or(NaiveTime::MIN)));
        let Some(span) = campaign.schedule.as_ref().and_then(|s| s.hours_span) else { return };
        if hours.is_empty() || !acts || !covered {
            return;
        }
        let (start, end) = (quiet.start.format("%H:%M"), quiet.end.format("%H:%M"));
        self.push(
            Diagnostic::warning(
                "herald::quiet_schedule",
                format!("herald.yaml's quiet hours {start}-{end} cover every hour this schedule opens: no send or call can act"),
            )
            .label(span, "only inside the quiet hours")
            .help("move `schedule.hours` out of the quiet hours (docs/policy.md); every lead that reaches a send or call would fail as `window_never_opens`"),
        );
    }

    /// The medium of a send step's channel (`Other` for anything else).
    fn send_medium(&self, kind: &NodeKind) -> Medium {
        let NodeKind::Send(send) = kind else { return Medium::Other };
        match self.channels.and_then(|all| all.iter().find(|c| c.name == send.channel)) {
            Some(facts) => facts.medium,
            None => medium_by_name(&send.channel),
        }
    }

    fn calling_hours(&mut self, campaign: &Campaign, graph: &Graph) {
        let Some(window) =
            graph.schedule.hours.iter().find(|w| w.open < EARLIEST || w.close.is_none_or(|c| c > LATEST))
        else {
            return;
        };
        let close = window.close.map_or("24:00".to_string(), |c| c.format("%H:%M").to_string());
        let hours = format!("{}-{close}", window.open.format("%H:%M"));
        let schedule = campaign.schedule.as_ref();
        for (step, node) in campaign.steps.iter().zip(&graph.nodes) {
            let what = match &node.kind {
                NodeKind::Call(_) => "call",
                kind if self.send_medium(kind) == Medium::Sms => "text message",
                _ => continue,
            };
            let mut diagnostic = Diagnostic::warning(
                "herald::tcpa_hours",
                format!("this {what} can reach contacts outside 08:00-21:00 their time (the schedule allows {hours})"),
            )
            .label(action_span(step), format!("{what} outside calling hours"));
            diagnostic = match schedule.and_then(|s| s.hours_span) {
                Some(span) => diagnostic.label(span, "the schedule's hours"),
                None => diagnostic.label(Span::at(campaign.steps_span.start), "no `schedule.hours`: any hour"),
            };
            self.push(diagnostic.help(
                "keep `schedule.hours` within \"08:00-21:00\", or declare `purpose: transactional` if the contact asked for these (docs/compliance.md)",
            ));
        }
    }

    /// The first text message on each path from the start must say how to opt out.
    fn stop_notice(&mut self, campaign: &Campaign, graph: &Graph, edges: &[Vec<usize>]) {
        let mut seen = vec![false; graph.nodes.len()];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if i >= seen.len() || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let step = &campaign.steps[i];
            if self.send_medium(&graph.nodes[i].kind) == Medium::Sms {
                self.opt_out_told(step);
                // A `when` may skip this message, and then the next one is the first.
                if step.when.is_none() {
                    continue;
                }
            }
            stack.extend(edges[i].iter().copied());
        }
    }

    fn opt_out_told(&mut self, step: &Step) {
        let Some(Action::Send(send)) = step.action.as_ref().map(|a| &a.value) else { return };
        let bodies = std::iter::once(&send.body).chain(send.variants.iter().map(|(_, b)| b));
        let silent: Vec<Span> = bodies.filter(|b| !self.body_says(b, has_stop)).filter_map(body_span).collect();
        let Some(first) = silent.first() else { return };
        let mut diagnostic = Diagnostic::warning(
            "herald::stop_notice",
            "the first text message a lead can receive does not say how to opt out",
        )
        .label(*first, "no \"STOP\" in this text");
        for span in &silent[1..] {
            diagnostic = diagnostic.label(*span, "nor in this variant");
        }
        self.push(
            diagnostic
                .help("add e.g. \"Reply STOP to opt out.\" to it (CTIA messaging principles; docs/compliance.md)"),
        );
    }

    fn unsubscribe(&mut self, campaign: &Campaign, graph: &Graph) {
        for (step, node) in campaign.steps.iter().zip(&graph.nodes) {
            let NodeKind::Send(send) = &node.kind else { continue };
            if self.send_medium(&node.kind) != Medium::Email {
                continue;
            }
            let facts = self.channels.and_then(|all| all.iter().find(|c| c.name == send.channel));
            let (ok, label, help) = match facts.and_then(|f| f.unsubscribe) {
                Some(header) => (
                    header,
                    format!("channel `{}` has no `unsubscribe` in herald.yaml", send.channel),
                    format!(
                        "set `unsubscribe:` on the `{}` channel: every email then carries a one-click List-Unsubscribe header (docs/channels.md)",
                        send.channel
                    ),
                ),
                None => {
                    let Some(Action::Send(written)) = step.action.as_ref().map(|a| &a.value) else { continue };
                    let bodies = std::iter::once(&written.body).chain(written.variants.iter().map(|(_, b)| b));
                    let all: Vec<&Body> = bodies.collect();
                    (
                        all.iter().all(|b| self.body_says(b, has_unsubscribe)),
                        "no unsubscribe link in this email".to_string(),
                        "add an unsubscribe link (e.g. `{{ unsubscribe_url }}`) to the text, or validate with `--config` to check the channel's one-click header (docs/compliance.md)".to_string(),
                    )
                }
            };
            if !ok {
                self.push(
                    Diagnostic::warning("herald::unsubscribe", "this email gives no way to unsubscribe")
                        .label(action_span(step), label)
                        .help(help),
                );
            }
        }
    }

    fn whatsapp_window(&mut self, step: &Step) {
        self.push(
            Diagnostic::warning(
                "herald::whatsapp_window",
                "this WhatsApp message can go out more than 24 hours after the contact last replied (or before any reply)",
            )
            .label(action_span(step), "outside the customer-service window")
            .help("outside the 24-hour window WhatsApp delivers only pre-approved templates; if this text is one, switch the check off with `checks: { whatsapp_window: { off: \"…\" } }` (docs/compliance.md)"),
        );
    }

    fn call_retries(&mut self, campaign: &Campaign, graph: &Graph) {
        for (step, node) in campaign.steps.iter().zip(&graph.nodes) {
            let (NodeKind::Call(_), Some(retry)) = (&node.kind, &node.retry) else { continue };
            let tries = tries_in_a_day(retry);
            if tries <= MAX_CALLS_PER_DAY {
                continue;
            }
            let call_retry = match step.action.as_ref().map(|a| &a.value) {
                Some(Action::Call(call)) => call.retry.as_ref(),
                _ => None,
            };
            let span =
                step.retry.as_ref().or(call_retry).or(campaign.retry.as_ref()).map_or(action_span(step), |r| r.span);
            self.push(
                Diagnostic::warning("herald::call_retries", format!("this call can be tried {tries} times within 24 hours"))
                    .label(span, format!("more than {MAX_CALLS_PER_DAY} calls a day"))
                    .help("space the tries at least a day apart after the third (e.g. `interval: [4h, 4h, 1d]`) or lower `attempts` (docs/compliance.md)"),
            );
        }
    }

    fn call_pacing(&mut self, campaign: &Campaign, graph: &Graph) {
        if graph.pacing.per_hour.is_some() || graph.pacing.concurrency.is_some() {
            return;
        }
        for (i, (step, node)) in campaign.steps.iter().zip(&graph.nodes).enumerate() {
            let paced = graph.pacing.narrow.iter().any(|n| n.steps.contains(&StateId(i as u32)));
            if matches!(node.kind, NodeKind::Call(_)) && !paced {
                self.push(
                    Diagnostic::warning("herald::call_pacing", "this call step has no pacing")
                        .label(action_span(step), "calls as fast as the provider allows")
                        .help("limit calls to what your lines and agents can answer: `pacing: { channels: { voice: { concurrency: 5 } } }` on the campaign, or `pacing:` on this step (docs/compliance.md)"),
                );
            }
        }
    }

    /// Whether a message's source (inline text or its template file, with its subject) passes `says`.
    fn body_says(&self, body: &Body, says: fn(&str) -> bool) -> bool {
        let subject = body.subject.as_ref().is_some_and(|s| says(&s.value));
        let text = match (&body.text, &body.template) {
            (Some(text), _) => says(&text.value),
            (None, Some(path)) => {
                super::exprs::read_template(&self.options.base_dir, &path.value).is_ok_and(|source| says(&source))
            }
            (None, None) => false,
        };
        subject || text
    }
}

fn action_span(step: &Step) -> Span {
    step.action.as_ref().map_or(Span::at(step.span.start), |a| a.span)
}

fn body_span(body: &Body) -> Option<Span> {
    body.text.as_ref().or(body.template.as_ref()).map(|t| t.span)
}

/// "STOP" as a word: the keyword carriers act on, written so a reader sees it.
fn has_stop(text: &str) -> bool {
    text.match_indices("STOP").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + 4..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// An unsubscribe link or word (`{{ unsubscribe_url }}` has it too).
fn has_unsubscribe(text: &str) -> bool {
    text.to_lowercase().contains("unsubscribe")
}

/// The most tries of one call that can fall within 24 hours (the first try and its retries).
pub fn tries_in_a_day(retry: &RetryPolicy) -> usize {
    if retry.on.is_empty() {
        return 1;
    }
    let mut times = vec![chrono::TimeDelta::zero()];
    for n in 1..=retry.attempts {
        let last = times[times.len() - 1];
        times.push(last + retry.interval(n));
    }
    let day = chrono::TimeDelta::days(1);
    (0..times.len()).map(|i| times[i..].iter().take_while(|t| **t - times[i] < day).count()).max().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_must_stand_as_a_word() {
        assert!(has_stop("Reply STOP to opt out"));
        assert!(has_stop("STOP=end"));
        assert!(!has_stop("Reply stop to opt out"));
        assert!(!has_stop("NONSTOP deals"));
        assert!(!has_stop("STOPPED"));
    }

    #[test]
    fn tries_count_within_a_sliding_day() {
        let hours = |h: Vec<i64>| h.into_iter().map(chrono::TimeDelta::hours).collect();
        let retry =
            |attempts, intervals| RetryPolicy { attempts, intervals, on: vec!["no_answer".into()], until: None };
        assert_eq!(tries_in_a_day(&retry(3, hours(vec![4]))), 4);
        assert_eq!(tries_in_a_day(&retry(2, hours(vec![4]))), 3);
        assert_eq!(tries_in_a_day(&retry(5, hours(vec![4, 4, 24]))), 3);
        assert_eq!(tries_in_a_day(&retry(5, hours(vec![4, 4, 17, 2]))), 4);
        assert_eq!(tries_in_a_day(&RetryPolicy { on: vec![], ..retry(9, hours(vec![1])) }), 1);
    }
}
