//! Room in a channel's queue, as a pacing limit: a channel with a `rate` takes only so many
//! actions ahead of its sender (two minutes of its rate), and a lead whose action would go past
//! that waits, deferred like a paced one, instead of every campaign waiting behind one slow
//! channel, and instead of an action sitting queued past its lead's outcome timeout.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::graph::{Graph, NodeKind, StateId};
use crate::runtime::{Flight, Pacer};

/// A channel's room for one page: how many more actions it takes, and how long a lead held
/// back waits before it asks again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Space {
    pub left: usize,
    pub wait: TimeDelta,
}

/// The campaign's pacer, with the channels' room checked first.
pub struct Room<'a> {
    inner: &'a mut dyn Pacer,
    graph: &'a Graph,
    space: HashMap<String, Space>,
    held: Option<String>,
}

impl<'a> Room<'a> {
    pub fn new(inner: &'a mut dyn Pacer, graph: &'a Graph, space: HashMap<String, Space>) -> Room<'a> {
        Room { inner, graph, space, held: None }
    }
}

/// The channel a step acts on, if it acts.
pub(super) fn channel_of(graph: &Graph, step: StateId) -> Option<&str> {
    match &graph.node(step).kind {
        NodeKind::Send(send) => Some(&send.channel),
        NodeKind::Call(call) => Some(&call.channel),
        _ => None,
    }
}

impl Pacer for Room<'_> {
    fn acquire(&mut self, step: StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.held = None;
        // Most campaigns have no rate-limited channel: nothing to look up.
        if self.space.is_empty() {
            return self.inner.acquire(step, now);
        }
        let graph = self.graph;
        let channel = channel_of(graph, step);
        if let Some(channel) = channel
            && let Some(space) = self.space.get(channel)
            && space.left == 0
        {
            self.held = Some(format!("channel `{channel}` busy"));
            return Err(now + space.wait);
        }
        self.inner.acquire(step, now)?;
        if let Some(space) = channel.and_then(|c| self.space.get_mut(c)) {
            space.left -= 1;
        }
        Ok(())
    }

    fn reason(&self) -> &str {
        self.held.as_deref().unwrap_or_else(|| self.inner.reason())
    }

    fn by_step(&self) -> bool {
        self.inner.by_step()
    }

    fn settle(&mut self, before: Flight, after: Flight) {
        self.inner.settle(before, after);
    }
}
