//! The compiled, executable campaign: what the interpreter runs.
//!
//! Built by `check` only when a file has no errors, so everything here is known to be valid:
//! every target exists, every condition and template compiled, every time parsed.

use crate::fxhash::FxMap;
use std::fmt;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::expr::Condition;
use crate::source::Span;
use crate::template::{Template, Templates};

/// Index of a node in `Graph::nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub u32);

impl StateId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A step id as written (or `step-N` when the step has none). Cursors are stored by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub String);

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a lead goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Step(StateId),
    /// The built-in `end`: the lead is `completed`.
    End,
}

pub struct Graph {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Hash of the file's text, stored with cursors to notice edits between runs.
    pub content_hash: String,
    pub nodes: Vec<Node>,
    /// Where each node was written, indexed like `nodes`.
    pub spans: Vec<Span>,
    pub index: FxMap<String, StateId>,
    pub defaults: Defaults,
    pub contacts: ContactSpec,
    pub schedule: Schedule,
    pub pacing: Pacing,
    pub goal: Option<Condition>,
    pub exit_when: Option<Condition>,
    pub replies: Vec<Route>,
    /// The `data:` constants, visible to conditions and templates by key.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Variables declared as set from outside (post-call variables, event vars).
    pub vars: Vec<String>,
    /// Event names the conditions read (`events.<name>`), sorted: the only ones a lead keeps.
    pub events: Vec<String>,
    /// Step ids removed from the file, and where their leads go now.
    pub moved: Vec<(String, Target)>,
    pub templates: Templates,
    /// `purpose:` (marketing unless the file says otherwise).
    pub purpose: Purpose,
}

/// What the campaign's messages are for: transactional ones (a reminder the contact booked,
/// an alert they signed up for) are exempt from the calling-hours check (docs/compliance.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    #[default]
    Marketing,
    Transactional,
}

impl Graph {
    pub fn node(&self, id: StateId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The channels the steps use, each once: (channel, whether a call step uses it).
    pub fn channels(&self) -> Vec<(&str, bool)> {
        let mut out: Vec<(&str, bool)> = Vec::new();
        for node in &self.nodes {
            let used = match &node.kind {
                NodeKind::Send(send) => (send.channel.as_str(), false),
                NodeKind::Call(call) => (call.channel.as_str(), true),
                _ => continue,
            };
            if !out.contains(&used) {
                out.push(used);
            }
        }
        out
    }

    pub fn state(&self, step_id: &str) -> Option<StateId> {
        self.index.get(step_id).copied()
    }

    /// Sets `Node::reentrant` from the step graph's `edges` (those `check` analysed, indexed
    /// like `nodes`): the send and call steps in a strongly connected part of it (or with an
    /// edge to themselves), where every campaign `replies:` route counts as an edge from every
    /// step, since a reply may come wherever the lead is.
    pub fn mark_reentrant(&mut self, edges: &[Vec<usize>]) {
        let anywhere: Vec<usize> = self
            .replies
            .iter()
            .filter_map(|r| if let Some(Target::Step(id)) = r.goto { Some(id.index()) } else { None })
            .collect();
        let edges: Vec<Vec<usize>> = edges.iter().map(|e| [e.as_slice(), &anywhere].concat()).collect();
        let component = components(&edges);
        let mut size = vec![0usize; edges.len()];
        component.iter().for_each(|c| size[*c] += 1);
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let cyclic = size[component[i]] > 1 || edges[i].contains(&i);
            node.reentrant = cyclic && matches!(node.kind, NodeKind::Send(_) | NodeKind::Call(_));
        }
    }

    pub fn first(&self) -> Target {
        if self.nodes.is_empty() { Target::End } else { Target::Step(StateId(0)) }
    }

    pub fn target_name(&self, target: Target) -> &str {
        match target {
            Target::Step(id) => &self.node(id).id.0,
            Target::End => "end",
        }
    }
}

/// The strongly connected component of each node (Kosaraju, without recursion: a campaign
/// may have thousands of steps).
fn components(edges: &[Vec<usize>]) -> Vec<usize> {
    let n = edges.len();
    // First pass: nodes in order of finishing.
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0)];
        while let Some((node, next)) = stack.pop() {
            if let Some(&to) = edges[node].get(next) {
                stack.push((node, next + 1));
                if !seen[to] {
                    seen[to] = true;
                    stack.push((to, 0));
                }
            } else {
                order.push(node);
            }
        }
    }
    // Second pass on the reversed graph, latest finished first.
    let mut reverse = vec![Vec::new(); n];
    for (from, tos) in edges.iter().enumerate() {
        for &to in tos {
            reverse[to].push(from);
        }
    }
    let mut component = vec![usize::MAX; n];
    for (c, &root) in order.iter().rev().enumerate() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = c;
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            for &from in &reverse[node] {
                if component[from] == usize::MAX {
                    component[from] = c;
                    stack.push(from);
                }
            }
        }
    }
    component
}

/// Campaign-level defaults for send and call steps.
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub channel: Option<String>,
    pub agent: Option<String>,
    pub from: Option<String>,
}

pub struct Node {
    pub id: StepId,
    pub name: Option<String>,
    /// Whether the author wrote the id (cursors on generated ids break when steps move).
    pub explicit_id: bool,
    pub kind: NodeKind,
    pub when: Option<Condition>,
    /// Explicit `next`, else the following step, else `end`.
    pub next: Target,
    pub routes: Vec<Route>,
    pub retry: Option<RetryPolicy>,
    /// A send or call step that a lead can enter again (it lies on a cycle of the graph, or a
    /// campaign `replies:` route goes to it): its actions are counted across visits, so that
    /// each gets an idempotency key of its own (`Lead::key_attempt`). Set by `mark_reentrant`.
    pub reentrant: bool,
    /// `frequency: exempt`: herald.yaml's `policy.frequency` neither counts nor holds its actions.
    pub frequency_exempt: bool,
}

pub enum NodeKind {
    Send(SendSpec),
    Call(CallSpec),
    Wait(WaitSpec),
    Await(AwaitSpec),
    Branch(Vec<Route>),
    Split(Vec<Arm>),
    Set(Vec<(String, Condition)>),
    Exit(String),
}

impl NodeKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            NodeKind::Send(_) => "send",
            NodeKind::Call(_) => "call",
            NodeKind::Wait(_) => "wait",
            NodeKind::Await(_) => "await",
            NodeKind::Branch(_) => "branch",
            NodeKind::Split(_) => "split",
            NodeKind::Set(_) => "set",
            NodeKind::Exit(_) => "exit",
        }
    }
}

pub struct SendSpec {
    pub channel: String,
    pub to: Option<Template>,
    pub from: Option<String>,
    pub message: Message,
    /// Per-variant messages: (variant name, message).
    pub variants: Vec<(String, Message)>,
}

pub struct Message {
    pub subject: Option<Template>,
    pub body: Template,
}

pub struct CallSpec {
    pub channel: String,
    pub agent: Option<String>,
    pub from: Option<String>,
    pub to: Option<Template>,
    pub prompt: Option<Template>,
    pub max_duration: Option<TimeDelta>,
    /// What to do on reaching a voicemail box, when the step says (`None`: the step is silent).
    pub voicemail: Option<Voicemail>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voicemail {
    Leave,
    Hangup,
}

impl Voicemail {
    pub fn word(self) -> &'static str {
        match self {
            Voicemail::Leave => "leave",
            Voicemail::Hangup => "hangup",
        }
    }
}

pub enum WaitSpec {
    For(TimeDelta),
    /// The next time this local time of day comes round.
    UntilTime(NaiveTime),
    /// A datetime expression, e.g. `contact.appointment_date - 1d`.
    UntilExpr(Condition),
}

pub struct AwaitSpec {
    /// `None` awaits a reply; `Some(name)` the named event.
    pub event: Option<String>,
    pub timeout: TimeDelta,
}

pub struct Route {
    /// `None` is the `else` route.
    pub condition: Option<Condition>,
    /// `None`: carry on with the step's `next`.
    pub goto: Option<Target>,
    pub set: Vec<(String, Condition)>,
}

pub struct Arm {
    pub variant: String,
    pub weight: f64,
    pub goto: Target,
}

#[derive(Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// One interval, or a progressive list (the last repeats).
    pub intervals: Vec<TimeDelta>,
    pub on: Vec<String>,
    pub until: Option<std::sync::Arc<Condition>>,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based).
    pub fn interval(&self, retry: u32) -> TimeDelta {
        let index = (retry.max(1) as usize - 1).min(self.intervals.len().saturating_sub(1));
        self.intervals.get(index).copied().unwrap_or(TimeDelta::hours(1))
    }
}

#[derive(Clone, Default)]
pub struct ContactSpec {
    pub key: Option<String>,
    pub region: Option<String>,
    pub require: Vec<String>,
    pub fields: Vec<(String, FieldType)>,
    pub filter: Option<std::sync::Arc<Condition>>,
    /// Suppression files, resolved against the campaign file's folder.
    pub suppress: Vec<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Bool,
    Date,
    DateTime,
    Phone,
    Email,
    Timezone,
}

impl FieldType {
    pub const NAMES: &[&str] = &["string", "number", "bool", "date", "datetime", "phone", "email", "timezone"];

    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "bool" => FieldType::Bool,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "phone" => FieldType::Phone,
            "email" => FieldType::Email,
            "timezone" => FieldType::Timezone,
            _ => return None,
        })
    }
}

/// When send and call steps may act, in the contact's local time.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub timezone: Tz,
    /// Local opening hours; `end` of `24:00` is written as midnight with `until_midnight`.
    pub hours: Vec<Window>,
    /// Monday first.
    pub days: [bool; 7],
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// herald.yaml's `policy.quiet_hours`, set on the graph after loading when a config has
    /// them: no send or call acts inside, whatever the hours above say (docs/policy.md).
    pub quiet: Option<Quiet>,
}

/// Local hours in which nothing acts; `start > end` spans midnight, and they never are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quiet {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Quiet {
    /// Whether the local clock showing `time` is inside the quiet hours.
    pub fn holds(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub open: NaiveTime,
    /// `None` means until midnight (`24:00`).
    pub close: Option<NaiveTime>,
}

impl Schedule {
    /// Open every hour of every day (the default): no window to look up.
    pub fn always_open(&self) -> bool {
        self.days.iter().all(|d| *d) && self.hours.iter().any(|w| w.open == NaiveTime::MIN && w.close.is_none())
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            timezone: Tz::UTC,
            hours: vec![Window { open: NaiveTime::MIN, close: None }],
            days: [true; 7],
            start: None,
            end: None,
            quiet: None,
        }
    }
}

/// The campaign's `pacing` (every action counts), and the narrower limits of
/// `pacing.channels` and of steps' own `pacing` (docs/language.md, Pacing).
#[derive(Clone, Debug, Default)]
pub struct Pacing {
    pub per_hour: Option<u32>,
    pub concurrency: Option<u32>,
    pub narrow: Vec<NarrowPacing>,
}

impl Pacing {
    /// Whether any limit is set, campaign-wide or narrower.
    pub fn is_set(&self) -> bool {
        self.per_hour.is_some() || self.concurrency.is_some() || !self.narrow.is_empty()
    }

    /// Whether any limit counts starts per hour (they are kept across processes).
    pub fn has_per_hour(&self) -> bool {
        self.per_hour.is_some() || self.narrow.iter().any(|n| n.per_hour.is_some())
    }

    /// Whether any limit counts actions in flight.
    pub fn has_concurrency(&self) -> bool {
        self.concurrency.is_some() || self.narrow.iter().any(|n| n.concurrency.is_some())
    }
}

/// A limit on some of the campaign's actions: one channel's, or one step's.
#[derive(Clone, Debug)]
pub struct NarrowPacing {
    /// `channel <name>` or `step <id>`: how deferrals and the stored record name it.
    pub name: String,
    pub per_hour: Option<u32>,
    pub concurrency: Option<u32>,
    /// The send and call steps whose actions it counts.
    pub steps: Vec<StateId>,
}
