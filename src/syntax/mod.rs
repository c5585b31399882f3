//! The campaign file as written: every value keeps the span it came from.
//!
//! `load` reads YAML into `yaml::Node`s, then into the typed `Campaign` below, reporting every
//! unknown key, wrong type and missing value it meets instead of stopping at the first one.

mod load;
mod steps;
pub mod yaml;

pub use load::load;
pub(crate) use load::{Fields, Loader};

use crate::source::{Span, Spanned};
use yaml::Node;

pub type Text = Spanned<String>;

/// Keys allowed at each level; the loader reports others with "did you mean", and the JSON
/// schema lists the same keys (a test keeps them in step).
pub mod keys {
    pub const CAMPAIGN: &[&str] = &[
        "id",
        "name",
        "description",
        "channel",
        "agent",
        "from",
        "data",
        "contacts",
        "schedule",
        "pacing",
        "retry",
        "goal",
        "exit_when",
        "replies",
        "vars",
        "moved",
        "purpose",
        "checks",
        "steps",
    ];
    pub const CONTACTS: &[&str] = &["key", "region", "require", "fields", "where", "suppress"];
    pub const SCHEDULE: &[&str] = &["timezone", "hours", "days", "start", "end"];
    /// `purpose:` values: a transactional campaign is exempt from the calling-hours check.
    pub const PURPOSES: &[&str] = &["marketing", "transactional"];
    /// The compliance checks `checks:` can switch off (docs/compliance.md), and their one key.
    pub const CHECKS: &[&str] =
        &["tcpa_hours", "stop_notice", "unsubscribe", "whatsapp_window", "call_retries", "call_pacing"];
    pub const CHECK: &[&str] = &["off"];
    pub const PACING: &[&str] = &["per_hour", "concurrency", "channels"];
    /// A channel's entry under `pacing.channels`, and a step's own `pacing`.
    pub const PACING_LIMIT: &[&str] = &["per_hour", "concurrency"];
    pub const RETRY: &[&str] = &["attempts", "interval", "on", "until"];
    pub const STEP_COMMON: &[&str] = &["id", "name", "when", "next", "routes", "retry", "pacing", "frequency"];
    /// A step's `frequency:` value: not counted or held by `policy.frequency`.
    pub const FREQUENCY: &[&str] = &["exempt"];
    pub const ACTIONS: &[&str] = &["send", "call", "wait", "await", "branch", "split", "set", "exit"];
    pub const SEND: &[&str] = &["channel", "to", "from", "subject", "text", "template", "variants"];
    pub const VARIANT: &[&str] = &["subject", "text", "template"];
    pub const CALL: &[&str] = &["channel", "agent", "from", "to", "prompt", "max_duration", "voicemail", "retry"];
    pub const WAIT: &[&str] = &["until"];
    pub const AWAIT: &[&str] = &["reply", "event", "timeout"];
    pub const ROUTE: &[&str] = &["if", "else", "goto", "set"];
    pub const ARM: &[&str] = &["variant", "weight", "goto"];
}

#[derive(Debug, Default)]
pub struct Campaign {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub description: Option<Text>,
    pub channel: Option<Text>,
    pub agent: Option<Text>,
    pub from: Option<Text>,
    pub data: Option<Node>,
    pub contacts: Option<Contacts>,
    pub schedule: Option<Schedule>,
    pub pacing: Option<Pacing>,
    pub retry: Option<Retry>,
    pub goal: Option<Text>,
    pub exit_when: Option<Text>,
    pub replies: Vec<Route>,
    pub vars: Vec<Text>,
    pub moved: Vec<(Text, Text)>,
    /// `purpose: marketing | transactional` (checked by `check`).
    pub purpose: Option<Text>,
    /// `checks:`: each compliance check switched off, with the reason written for it.
    pub checks_off: Vec<CheckOff>,
    pub steps: Vec<Step>,
    /// The `steps:` key, or the file start when it is missing.
    pub steps_span: Span,
}

/// `checks: { <name>: { off: "<reason>" } }`.
#[derive(Debug, Clone)]
pub struct CheckOff {
    /// The check's short name, e.g. `tcpa_hours`, at its key.
    pub name: Text,
    pub reason: Text,
}

#[derive(Debug, Default)]
pub struct Contacts {
    pub key: Option<Text>,
    pub region: Option<Text>,
    pub require: Vec<Text>,
    pub fields: Vec<(Text, Text)>,
    pub filter: Option<Text>,
    pub suppress: Vec<Text>,
}

#[derive(Debug, Default)]
pub struct Schedule {
    pub timezone: Option<Text>,
    pub hours: Vec<Text>,
    /// `weekdays` / `every_day` as one entry, or day names.
    pub days: Vec<Text>,
    pub days_span: Option<Span>,
    pub hours_span: Option<Span>,
    pub start: Option<Text>,
    pub end: Option<Text>,
}

#[derive(Debug, Default)]
pub struct Pacing {
    pub per_hour: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    /// `pacing.channels`: each channel name with its own limits (campaign level only).
    pub channels: Vec<(Text, Pacing)>,
    /// The `pacing:` key.
    pub span: Span,
}

#[derive(Debug, Default, Clone)]
pub struct Retry {
    pub attempts: Option<Spanned<i64>>,
    /// One interval, or a progressive list.
    pub interval: Vec<Text>,
    pub on: Option<Vec<Text>>,
    pub until: Option<Text>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Step {
    pub id: Option<Text>,
    pub name: Option<Text>,
    pub when: Option<Text>,
    pub next: Option<Text>,
    pub routes: Option<Spanned<Vec<Route>>>,
    pub retry: Option<Retry>,
    /// The step's own `pacing` (send and call steps).
    pub pacing: Option<Pacing>,
    /// `frequency: exempt`: not counted or held by herald.yaml's `policy.frequency`.
    pub frequency: Option<Text>,
    pub action: Option<Spanned<Action>>,
    pub span: Span,
}

#[derive(Debug)]
pub enum Action {
    Send(Send),
    Call(Call),
    Wait(Wait),
    Await(Await),
    Branch(Vec<Route>),
    Split(Vec<Arm>),
    Set(Vec<(Text, Text)>),
    Exit(Text),
}

impl Action {
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Send(_) => "send",
            Action::Call(_) => "call",
            Action::Wait(_) => "wait",
            Action::Await(_) => "await",
            Action::Branch(_) => "branch",
            Action::Split(_) => "split",
            Action::Set(_) => "set",
            Action::Exit(_) => "exit",
        }
    }
}

#[derive(Debug, Default)]
pub struct Send {
    pub channel: Option<Text>,
    pub to: Option<Text>,
    pub from: Option<Text>,
    pub body: Body,
    pub variants: Vec<(Text, Body)>,
}

/// The message itself: inline `text` or a `template` file, and an optional `subject`.
#[derive(Debug, Default)]
pub struct Body {
    pub subject: Option<Text>,
    pub text: Option<Text>,
    pub template: Option<Text>,
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Call {
    pub channel: Option<Text>,
    pub agent: Option<Text>,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub prompt: Option<Text>,
    pub max_duration: Option<Text>,
    pub voicemail: Option<Text>,
    pub retry: Option<Retry>,
}

#[derive(Debug)]
pub enum Wait {
    /// `wait: 2d`
    For(Text),
    /// `wait: {until: "09:00"}` or `wait: {until: <datetime expression>}`
    Until(Text),
}

#[derive(Debug, Default)]
pub struct Await {
    pub reply: Option<Text>,
    pub event: Option<Text>,
    pub timeout: Option<Text>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Route {
    /// `None` for the `else` route.
    pub condition: Option<Text>,
    pub goto: Option<Text>,
    pub set: Vec<(Text, Text)>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Arm {
    pub variant: Text,
    pub weight: Spanned<f64>,
    pub goto: Text,
    pub span: Span,
}
