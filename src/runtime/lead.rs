//! A lead: one contact's cursor in one campaign, and what moves it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::short::same;
pub use crate::vocab::LeadStatus;

/// A text of a lead's history or action: step ids, channels, keys, addresses and statuses are
/// short, and a walk makes millions of them, so they live inline (up to 24 bytes) instead of on
/// the heap.
pub type Text = compact_str::CompactString;

/// Why a parked lead will be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Park {
    /// Not started: `Start` comes next.
    Start,
    /// A `wait` step: carry on after it.
    Wait,
    /// An `await`: a reply or event, or the timeout at `wake_at`.
    Await,
    /// Outside the schedule window, over pacing, or a retry: act on the step again.
    Act,
    /// An action handed to a channel: its outcome comes next.
    Outcome,
}

/// The latest reply of a lead (`reply.*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub text: Option<String>,
    pub intent: Option<String>,
    pub channel: Option<String>,
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub timed_out: bool,
}

/// The last call outcome (`call.*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub status: Option<String>,
    pub duration: Option<f64>,
    pub attempt: u32,
}

/// One contact's cursor in one campaign. Stored by step *id*, never by index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub contact: String,
    pub status: LeadStatus,
    /// The step the lead is on (`None` before start and after the end).
    pub step: Option<Text>,
    pub park: Park,
    /// Attempts made at the current step (1 once the first try is made).
    pub attempts: u32,
    pub entered_at: DateTime<Utc>,
    /// When the driver must wake the lead (the due index): the earlier of `timer` and the
    /// first `inbox` entry; `None` once final. Kept by `refresh_wake`.
    pub wake_at: Option<DateTime<Utc>>,
    /// When the lead's parking ends by itself (a wait, a timeout, a retry, the window).
    #[serde(default)]
    pub timer: Option<DateTime<Utc>>,
    /// Inputs due later (a simulated reply an hour from now, a call outcome), earliest first.
    #[serde(default)]
    pub inbox: Vec<(DateTime<Utc>, Input)>,
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Split step id -> variant.
    pub variants: BTreeMap<String, String>,
    pub reply: Option<Reply>,
    pub call: Option<CallInfo>,
    pub message_status: Option<Text>,
    /// Exit label, or the reason of a failed/skipped/expired lead.
    pub outcome: Option<String>,
    /// Sequence number of the lead's next history record.
    pub seq: u32,
    /// Actions made so far on each step whose actions are counted across visits (a reentrant
    /// step, or one the lead was put back on by hand): see `key_attempt`. Empty for most leads.
    #[serde(default)]
    pub acts: Vec<(Text, u32)>,
    /// When each event the campaign's conditions read (`events.<name>`) last reached the
    /// lead. Only those names are kept (`Graph::events`), so most leads hold none.
    #[serde(default)]
    pub events: Vec<(Text, DateTime<Utc>)>,
}

impl Lead {
    pub fn new(contact: impl Into<String>, now: DateTime<Utc>) -> Lead {
        Lead {
            contact: contact.into(),
            status: LeadStatus::Pending,
            step: None,
            park: Park::Start,
            attempts: 0,
            entered_at: now,
            wake_at: Some(now),
            timer: Some(now),
            inbox: Vec::new(),
            vars: serde_json::Map::new(),
            variants: BTreeMap::new(),
            reply: None,
            call: None,
            message_status: None,
            outcome: None,
            seq: 0,
            acts: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The attempt number in the idempotency key (campaign, contact, step, attempt) of the
    /// action about to be made on `step`, once `attempts` counts it. On a step a lead visits
    /// once, that is `attempts`. On a `reentrant` step (a loop, a campaign reply's target), or
    /// one the lead was put back on by hand (`count_acts`), it counts every action on the step
    /// across visits, so that no two actions of a lead share a key: a channel that drops
    /// repeated keys would otherwise drop the second reminder of a loop.
    pub fn key_attempt(&mut self, step: &str, reentrant: bool) -> u32 {
        match self.acts.iter_mut().find(|(s, _)| same(s, step)) {
            Some((_, n)) => {
                *n = (*n + 1).max(self.attempts);
                *n
            }
            None if reentrant => {
                self.acts.push((Text::new(step), self.attempts));
                self.attempts
            }
            None => self.attempts,
        }
    }

    /// Counts the actions in the lead's `history` (by the attempt in their keys), so that the
    /// next action on any of those steps gets a key after them: for a lead sent back to a step
    /// it may have passed (`lead reset`, a live edit's `moved:`).
    pub fn count_history(&mut self, history: &[Record], campaign: &str) {
        for record in history {
            let (Event::Send { key, .. } | Event::Call { key, .. }) = &record.event else { continue };
            let Some(rest) = key.strip_prefix(campaign).and_then(|r| r.strip_prefix('/')) else { continue };
            let Some(rest) = rest.strip_prefix(self.contact.as_str()).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            if let Some((step, attempt)) = rest.rsplit_once('/')
                && let Ok(attempt) = attempt.parse::<u32>()
            {
                self.count_acts(step, attempt);
            }
        }
    }

    /// Counts `n` actions already made on `step` (at least), so that the next one's key
    /// follows them: for a lead put back on a step, or to its start, by hand.
    pub fn count_acts(&mut self, step: &str, n: u32) {
        match self.acts.iter_mut().find(|(s, _)| same(s, step)) {
            Some((_, m)) => *m = (*m).max(n),
            None if n > 0 => self.acts.push((Text::new(step), n)),
            None => {}
        }
    }

    /// When the event `name` last reached the lead, if the lead keeps it.
    pub fn event_at(&self, name: &str) -> Option<DateTime<Utc>> {
        self.events.iter().find(|(n, _)| n == name).map(|(_, at)| *at)
    }

    /// Notes that the event `name` reached the lead at `at`.
    pub fn note_event(&mut self, name: &str, at: DateTime<Utc>) {
        match self.events.iter_mut().find(|(n, _)| n == name) {
            Some((_, last)) => *last = at,
            None => self.events.push((Text::new(name), at)),
        }
    }

    /// `Lead::new` again in place, keeping the memory of its contact text and inbox: a walk
    /// that makes lead after lead allocates them once.
    pub fn renew(&mut self, contact: &str, now: DateTime<Utc>) {
        let mut key = std::mem::take(&mut self.contact);
        key.clear();
        key.push_str(contact);
        let mut inbox = std::mem::take(&mut self.inbox);
        inbox.clear();
        *self = Lead { contact: key, inbox, ..Lead::new(String::new(), now) };
    }

    /// A contact the import skipped: final at once, with the reason, and the one history record
    /// that says so.
    pub fn skipped(contact: impl Into<String>, reason: &str, now: DateTime<Utc>) -> (Lead, Record) {
        let lead = Lead {
            status: LeadStatus::Skipped,
            park: Park::Start,
            wake_at: None,
            timer: None,
            outcome: Some(reason.to_string()),
            seq: 1,
            ..Lead::new(contact, now)
        };
        let event = Event::Exit { lead_status: LeadStatus::Skipped, reason: Some(Text::new(reason)) };
        (lead, Record { at: now, step: None, event })
    }

    /// Queue an input for later, keeping the inbox in time order (ties in arrival order).
    pub fn deliver_at(&mut self, at: DateTime<Utc>, input: Input) {
        let index = self.inbox.partition_point(|(t, _)| *t <= at);
        self.inbox.insert(index, (at, input));
        self.refresh_wake();
    }

    /// The next input due at `now`, if any: an inbox entry first, then the timer.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Option<(Input, DateTime<Utc>)> {
        if self.status.is_final() {
            return None;
        }
        if self.inbox.first().is_some_and(|(t, _)| *t <= now) {
            let (at, input) = self.inbox.remove(0);
            return Some((input, at));
        }
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            return Some((Input::Wake, now));
        }
        None
    }

    /// Whether the lead has an action handed to a channel and waits for its outcome.
    pub fn in_flight(&self) -> bool {
        self.park == Park::Outcome && !self.status.is_final()
    }

    pub fn refresh_wake(&mut self) {
        self.wake_at = if self.status.is_final() {
            None
        } else {
            match (self.timer, self.inbox.first().map(|(t, _)| *t)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
    }
}

/// What moves a lead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// Its wake time came (start, end of a wait, a retry, the window opening, an await timeout).
    Wake,
    /// The outcome of the call placed at the current step.
    Call {
        status: Text,
        duration: Option<f64>,
        vars: serde_json::Map<String, serde_json::Value>,
    },
    /// The delivery outcome of the message sent at the current step.
    Delivery {
        status: Text,
    },
    Reply {
        text: Option<String>,
        intent: Option<String>,
        channel: Option<String>,
    },
    /// A named event, with variables it brings.
    Event {
        name: String,
        vars: serde_json::Map<String, serde_json::Value>,
    },
    OptOut,
}

/// The idempotency key of an action: (campaign, contact, step, attempt).
pub fn action_key(campaign: &str, contact: &str, step: &str, attempt: u32) -> Text {
    // Built by hand: `format!` cost more than the rest of the send (simulate makes millions).
    let mut digits = [0u8; 10];
    let mut n = attempt;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let attempt = std::str::from_utf8(&digits[at..]).unwrap_or_default();
    let parts = [campaign, "/", contact, "/", step, "/", attempt];
    let len: usize = parts.iter().map(|p| p.len()).sum();
    // A key that fits inline is put together on the stack; a longer one in a `String` of the
    // exact size, which the `Text` then keeps.
    let mut inline = [0u8; std::mem::size_of::<Text>()];
    if len > inline.len() {
        let mut key = String::with_capacity(len);
        parts.iter().for_each(|part| key.push_str(part));
        return Text::from(key);
    }
    let mut at = 0;
    for part in parts {
        inline[at..at + part.len()].copy_from_slice(part.as_bytes());
        at += part.len();
    }
    // Whole texts and ASCII digits: always UTF-8.
    Text::from_utf8(&inline[..len]).unwrap_or_default()
}

/// An action for a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub key: Text,
    pub kind: ActionKind,
    pub campaign: Text,
    pub contact: Text,
    pub step: Text,
    pub attempt: u32,
    pub channel: Text,
    pub to: Text,
    pub from: Option<Text>,
    pub subject: Option<Text>,
    /// The message text, or the call prompt.
    pub text: Text,
    pub agent: Option<Text>,
    pub variant: Option<Text>,
    pub at: DateTime<Utc>,
    /// A call step's `voicemail` (`leave` or `hangup`), when the step sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<Text>,
    /// A call step's `max_duration`, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u32>,
    /// The text came from an `.html` template (email sends it with a plain-text part).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub html: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Send,
    Call,
}

/// One record of a lead's history: the material of `explain` and of `simulate`'s output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub step: Option<Text>,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Enter,
    /// A condition and the values of the paths it read.
    Condition {
        what: Text,
        source: Text,
        result: bool,
        values: Vec<(Text, Text)>,
    },
    Send {
        channel: Text,
        to: Text,
        text: Text,
        key: Text,
        variant: Option<Text>,
    },
    Call {
        channel: Text,
        to: Text,
        key: Text,
        attempt: u32,
    },
    Outcome {
        status: Text,
    },
    Reply {
        text: Option<Text>,
        intent: Option<Text>,
    },
    Event {
        name: Text,
    },
    Wait {
        until: DateTime<Utc>,
    },
    Route {
        to: Text,
    },
    Split {
        variant: Text,
    },
    Set {
        name: Text,
        value: Text,
    },
    Retry {
        attempt: u32,
        until: DateTime<Utc>,
    },
    Defer {
        until: DateTime<Utc>,
        reason: Text,
    },
    Skip {
        reason: Text,
    },
    /// An action that could not be made (a template failed to render, no address).
    Error {
        reason: Text,
    },
    Exit {
        lead_status: LeadStatus,
        reason: Option<Text>,
    },
    /// What a call's report said beyond its outcome (an AI calling provider's summary).
    CallReport {
        summary: Option<Text>,
        transcript: Option<Text>,
        recording_url: Option<Text>,
    },
}

/// What the driver does after an advance.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Act(Box<Action>),
    /// Suppress this address in every campaign (an opt-out).
    Suppress(String),
}

#[cfg(test)]
mod tests {
    use super::{Lead, action_key};

    #[test]
    fn action_key_joins_campaign_contact_step_and_attempt() {
        for attempt in [0, 1, 9, 10, 99, 100, 12_345, u32::MAX] {
            assert_eq!(action_key("c", "+4915", "call", attempt), format!("c/+4915/call/{attempt}"));
        }
        assert_eq!(action_key("", "", "", 3), "///3");
        // Longer than a `Text` holds inline, and exactly as long.
        let long = action_key("winback-2026-q4", "+4915112345678", "reminder", 12);
        assert_eq!(long, "winback-2026-q4/+4915112345678/reminder/12");
        assert!(long.is_heap_allocated());
        let edge = action_key("camp", "0123456789ab", "step", 1);
        assert_eq!((edge.as_str(), edge.is_heap_allocated()), ("camp/0123456789ab/step/1", false));
        let over = action_key("camp", "0123456789ab", "step", 12);
        assert_eq!((over.len(), over.is_heap_allocated()), (25, true));
    }

    #[test]
    fn key_attempts_count_across_visits_only_where_a_lead_can_act_again() {
        let mut lead = Lead::new("k", chrono::DateTime::UNIX_EPOCH);
        // A step visited once: the attempt, nothing stored.
        lead.attempts = 2;
        assert_eq!(lead.key_attempt("once", false), 2);
        assert!(lead.acts.is_empty());
        // A reentrant step: counted from the first visit on, retries included.
        for (attempts, key) in [(1, 1), (2, 2), (1, 3), (1, 4), (2, 5)] {
            lead.attempts = attempts;
            assert_eq!(lead.key_attempt("loop", true), key);
        }
        // A step the lead was put back on by hand after three attempts.
        lead.count_acts("once", 3);
        lead.attempts = 1;
        assert_eq!(lead.key_attempt("once", false), 4);
        lead.count_acts("loop", 2);
        assert_eq!(lead.acts, [("loop".into(), 5), ("once".into(), 4)]);
    }
}
