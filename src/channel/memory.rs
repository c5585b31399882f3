//! An in-memory channel for tests: it records every action handed over, and the test answers
//! them later (delivered, failed, call outcomes) as a real channel's reports would arrive.
//! Clones share one state, so a test keeps a handle while the engine owns another.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{Answer, Channel, ChannelError, Handed};
use crate::runtime::{Action, Input};

#[derive(Clone, Default)]
pub struct MemoryChannel {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    handed: Vec<Action>,
    answers: Vec<Answer>,
    /// Hand-overs to refuse from now on (a channel that is down).
    failing: bool,
    /// Answer messages `sent` the moment they are taken, as the `log` channel does.
    sent_at_once: bool,
}

impl MemoryChannel {
    pub fn new() -> MemoryChannel {
        MemoryChannel::default()
    }

    /// A channel that answers every message `sent` at once, as the `log` channel does; calls
    /// still wait for `answer`.
    pub fn sent_at_once() -> MemoryChannel {
        let channel = MemoryChannel::default();
        channel.state().sent_at_once = true;
        channel
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every action handed over so far, in order (the same key twice if it was offered twice).
    pub fn handed(&self) -> Vec<Action> {
        self.state().handed.clone()
    }

    /// Refuse (or take again) every hand-over.
    pub fn set_failing(&self, failing: bool) {
        self.state().failing = failing;
    }

    /// Answers the action handed over with `key`, as of `at`; false if no such action was handed.
    pub fn answer(&self, key: &str, input: Input, at: DateTime<Utc>) -> bool {
        let mut state = self.state();
        let Some(action) = state.handed.iter().find(|a| &*a.key == key) else { return false };
        let answer = Answer {
            key: key.to_string(),
            campaign: action.campaign.to_string(),
            contact: action.contact.to_string(),
            input: Some(input),
            at,
            settles: false,
            note: None,
        };
        state.answers.push(answer);
        true
    }
}

impl Channel for MemoryChannel {
    fn name(&self) -> &str {
        "memory"
    }

    fn hand_over(&mut self, actions: &[Action]) -> Result<Handed, ChannelError> {
        let mut state = self.state();
        if state.failing {
            let key = actions.first().map(|a| a.key.to_string()).unwrap_or_default();
            return Err(ChannelError::Failed { channel: "memory".into(), key, reason: "the channel is down".into() });
        }
        state.handed.extend_from_slice(actions);
        Ok(Handed::Owned)
    }

    fn answer_at_once(&self, action: &Action) -> Option<Input> {
        if self.state().sent_at_once { super::log::answer_at_once(action) } else { None }
    }

    fn answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.state().answers)
    }
}
