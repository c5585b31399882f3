//! Which WhatsApp sends can go out more than 24 hours after the contact's last reply: the
//! longest time since a reply, carried along the step graph (docs/compliance.md, WhatsApp).

use chrono::TimeDelta;

use crate::graph::{AwaitSpec, Graph, NodeKind, Target, WaitSpec};
use crate::syntax::{Campaign, Route};

/// The most time since the last reply a lead can have on reaching a step; `None` is more than
/// the window (or no reply yet: a campaign starts the conversation).
type Since = Option<TimeDelta>;

/// How often one step's value may grow before it counts as past the window: a loop of short
/// waits would otherwise climb to 24 hours a few seconds at a time.
const MAX_UPDATES: u32 = 64;

/// The indexes of the steps marked in `whatsapp` that a lead can reach with no reply in the
/// last 24 hours.
pub fn late_sends(campaign: &Campaign, graph: &Graph, edges: &[Vec<usize>], whatsapp: &[bool]) -> Vec<usize> {
    let n = graph.nodes.len();
    let mut state: Vec<Option<Since>> = vec![None; n];
    let mut updates = vec![0u32; n];
    let mut work = Vec::new();
    let mut reach = |state: &mut Vec<Option<Since>>, work: &mut Vec<usize>, to: usize, since: Since| {
        let joined = match state[to] {
            None => since,
            Some(old) => later(old, since),
        };
        if state[to] != Some(joined) {
            updates[to] += 1;
            state[to] = Some(if updates[to] > MAX_UPDATES { None } else { joined });
            work.push(to);
        }
    };
    if n > 0 {
        reach(&mut state, &mut work, 0, None);
    }
    // A `replies:` route runs when a reply has just come.
    for route in &campaign.replies {
        if let Some(to) = route.goto.as_ref().and_then(|g| graph.state(&g.value)) {
            reach(&mut state, &mut work, to.index(), Some(TimeDelta::zero()));
        }
    }
    while let Some(i) = work.pop() {
        let Some(since) = state[i] else { continue };
        let node = &graph.nodes[i];
        let out: Vec<(usize, Since)> = match &node.kind {
            NodeKind::Await(AwaitSpec { event: None, timeout }) => {
                let routes = campaign.steps[i].routes.as_ref().map_or(&[][..], |r| r.value.as_slice());
                let mut out = await_edges(routes, graph, node.next, add(since, *timeout));
                if node.when.is_some() {
                    out.extend(step_index(node.next).map(|t| (t, since)));
                }
                out
            }
            kind => {
                let after = add_delay(since, kind);
                edges[i].iter().map(|t| (*t, after)).collect()
            }
        };
        for (to, value) in out {
            if to < n {
                reach(&mut state, &mut work, to, value);
            }
        }
    }
    (0..n).filter(|i| whatsapp[*i] && state[*i] == Some(None)).collect()
}

/// An `await` for a reply: routes that read the reply are taken when one came (no time since
/// it); `reply.timed_out`, and conditions that don't read the reply, at the timeout. After a
/// `reply.timed_out` route, the rest only see replies.
fn await_edges(routes: &[Route], graph: &Graph, next: Target, timed_out: Since) -> Vec<(usize, Since)> {
    let replied = Some(TimeDelta::zero());
    let mut seen_timeout = false;
    let mut out = Vec::new();
    let mut closed = false;
    for route in routes {
        let value = match route.condition.as_ref().map(|c| c.value.trim()) {
            Some(c) if c.contains("timed_out") => {
                seen_timeout |= c == "reply.timed_out";
                timed_out
            }
            Some(c) if c.contains("reply.") => replied,
            Some(_) => timed_out,
            None => {
                closed = true;
                if seen_timeout { replied } else { timed_out }
            }
        };
        let target = match &route.goto {
            Some(goto) => graph.state(&goto.value).map(|s| s.index()),
            None => step_index(next),
        };
        out.extend(target.map(|t| (t, value)));
    }
    if !closed {
        out.extend(step_index(next).map(|t| (t, if seen_timeout { replied } else { timed_out })));
    }
    out
}

fn step_index(target: Target) -> Option<usize> {
    match target {
        Target::Step(id) => Some(id.index()),
        Target::End => None,
    }
}

fn add_delay(since: Since, kind: &NodeKind) -> Since {
    match kind {
        NodeKind::Wait(WaitSpec::For(d)) => add(since, *d),
        NodeKind::Wait(WaitSpec::UntilTime(_)) => add(since, TimeDelta::days(1)),
        NodeKind::Wait(WaitSpec::UntilExpr(_)) => None,
        NodeKind::Await(AwaitSpec { timeout, .. }) => add(since, *timeout),
        _ => since,
    }
}

fn add(since: Since, delay: TimeDelta) -> Since {
    since.map(|s| s + delay).filter(|total| *total <= TimeDelta::days(1))
}

fn later(a: Since, b: Since) -> Since {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    }
}
