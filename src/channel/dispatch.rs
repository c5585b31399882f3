//! The channels of herald.yaml as one `Channel` for the engine: each action goes to the channel
//! its step names. `log` channels write in place; the others hand the action to their worker
//! (`worker.rs`) and settle it later through `answers`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::log::LogChannel;
use super::transport::Transport;
use super::worker::{Job, Outcomes, Withdrawn, Worker};
use super::{Answer, Channel, ChannelError, Handed};
use crate::config::{Config, Kind};
use crate::runtime::{Action, Input};

enum Route {
    Log(LogChannel<Box<dyn Write + Send>>),
    Worker(Worker),
}

pub struct Dispatcher {
    routes: Vec<(String, Route)>,
    outcomes: Outcomes,
    withdrawn: Withdrawn,
}

impl Dispatcher {
    /// Builds every channel of `config`; call inside the tokio runtime that will run them.
    /// `stdout` is where a `log` channel with no `outbox` writes.
    pub fn new(
        config: &Config,
        wake: Arc<Notify>,
        stdout: &dyn Fn() -> Box<dyn Write + Send>,
    ) -> Result<Dispatcher, ChannelError> {
        let outcomes = Outcomes { queue: Arc::new(Mutex::new(Vec::new())), wake };
        let withdrawn = Withdrawn::default();
        let mut routes = Vec::new();
        for channel in &config.channels {
            let setup = |reason: String| ChannelError::Setup { channel: channel.name.clone(), reason };
            let route = match &channel.kind {
                Kind::Log { outbox: Some(path) } => {
                    let file = super::file::OutboxFile::open(path).map_err(|e| setup(e.to_string()))?;
                    Route::Log(LogChannel::new(channel.name.clone(), Box::new(file)))
                }
                Kind::Log { outbox: None } => Route::Log(LogChannel::new(channel.name.clone(), stdout())),
                _ => {
                    let transport = Transport::build(channel, config.server.as_ref()).map_err(setup)?;
                    let Some(transport) = transport else { continue };
                    Route::Worker(Worker::spawn(channel, transport, outcomes.clone(), withdrawn.clone()))
                }
            };
            routes.push((channel.name.clone(), route));
        }
        Ok(Dispatcher { routes, outcomes, withdrawn })
    }

    fn route(&mut self, channel: &str) -> Option<&mut Route> {
        self.routes.iter_mut().find(|(name, _)| name == channel).map(|(_, route)| route)
    }

    fn send(&mut self, actions: &[Action], maybe_sent: bool) -> Result<Handed, ChannelError> {
        let mut logged = Vec::new();
        for action in actions {
            let missing = || ChannelError::Failed {
                channel: action.channel.to_string(),
                key: action.key.to_string(),
                reason: "herald.yaml does not define this channel".into(),
            };
            match self.route(&action.channel).ok_or_else(missing)? {
                Route::Log(log) => {
                    log.deliver(action)?;
                    logged.push(action);
                }
                Route::Worker(worker) => {
                    if !worker.send(Job { action: action.clone(), maybe_sent }) {
                        return Err(ChannelError::Failed {
                            channel: action.channel.to_string(),
                            key: action.key.to_string(),
                            reason: "the channel's sender has stopped".into(),
                        });
                    }
                }
            }
        }
        for (_, route) in &mut self.routes {
            if let Route::Log(log) = route {
                log.flush()?;
            }
        }
        // A logged action is done once flushed; it settles with the others, through `answers`.
        for action in logged {
            self.outcomes.push(Answer::settling(action, None, None));
        }
        Ok(Handed::Later)
    }
}

impl Channel for Dispatcher {
    fn name(&self) -> &str {
        "herald.yaml"
    }

    fn hand_over(&mut self, actions: &[Action]) -> Result<Handed, ChannelError> {
        self.send(actions, false)
    }

    fn room(&self, channel: &str) -> Option<(usize, std::time::Duration)> {
        match self.routes.iter().find(|(name, _)| name == channel) {
            Some((_, Route::Worker(worker))) => worker.room(),
            _ => None,
        }
    }

    fn routes(&self, channel: &str) -> bool {
        self.routes.iter().any(|(name, _)| name == channel)
    }

    fn reoffer(&mut self, actions: &[Action]) -> Result<Handed, ChannelError> {
        self.send(actions, true)
    }

    fn answer_at_once(&self, action: &Action) -> Option<Input> {
        let log = self.routes.iter().any(|(name, route)| name == &*action.channel && matches!(route, Route::Log(_)));
        if log { super::log::answer_at_once(action) } else { None }
    }

    /// A worker checks the keys before each try; a `log` channel has written its actions already.
    fn withdraw(&mut self, keys: &[String]) {
        self.withdrawn.lock().unwrap_or_else(|p| p.into_inner()).extend(keys.iter().cloned());
    }

    fn answers(&mut self) -> Vec<Answer> {
        let answers = std::mem::take(&mut *self.outcomes.queue.lock().unwrap_or_else(|p| p.into_inner()));
        // The engine withdraws only keys it has not had an answer for: once drained, one is done.
        let mut withdrawn = self.withdrawn.lock().unwrap_or_else(|p| p.into_inner());
        if !withdrawn.is_empty() {
            for answer in answers.iter().filter(|a| a.settles) {
                withdrawn.remove(&answer.key);
            }
        }
        drop(withdrawn);
        answers
    }
}
