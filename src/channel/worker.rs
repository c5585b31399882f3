//! One channel's sender: takes actions off a queue, at most `concurrency` requests in flight and
//! `rate` started per period, and tries each until the provider takes or refuses it. Transient
//! failures wait with exponential backoff and jitter (or the provider's `Retry-After`), always
//! with the same idempotency key; when `retry_for` has passed the action fails. Each action ends
//! as one `Answer` that settles its key. An action the engine withdrew (its contact opted out
//! while it waited) ends before its next try, unsent.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc};

use super::Answer;
use super::transport::{Attempt, Transport, Try};
use crate::config::{ChannelConfig, Rate};
use crate::runtime::{Action, ActionKind, Input};

/// The first wait after a transient failure; each later one doubles, up to `MAX_BACKOFF`.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where answers go: the dispatcher drains it, `wake` tells a waiting engine.
#[derive(Clone)]
pub struct Outcomes {
    pub queue: Arc<Mutex<Vec<Answer>>>,
    pub wake: Arc<Notify>,
}

impl Outcomes {
    pub fn push(&self, answer: Answer) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(answer);
        self.wake.notify_one();
    }
}

/// Keys of actions handed over and withdrawn since (their contact opted out): a worker checks
/// it before each try, and the dispatcher forgets a key once its answer is drained.
pub type Withdrawn = Arc<Mutex<HashSet<String>>>;

pub struct Job {
    pub action: Action,
    pub maybe_sent: bool,
}

/// A handle to a running worker: send jobs to it.
pub struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    /// Actions queued or being tried, not yet answered.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    rate: Option<Rate>,
    concurrency: usize,
}

/// What every try of one worker reads.
struct Shared {
    transport: Transport,
    limits: Limits,
    withdrawn: Withdrawn,
}

impl Shared {
    fn withdrawn(&self, key: &str) -> bool {
        self.withdrawn.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }
}

struct Limits {
    name: String,
    concurrency: usize,
    rate: Option<Rate>,
    retry_for: Duration,
    timeout: Duration,
    backoff: Duration,
}

impl Worker {
    /// Starts the worker on the current tokio runtime.
    pub fn spawn(config: &ChannelConfig, transport: Transport, outcomes: Outcomes, withdrawn: Withdrawn) -> Worker {
        let (jobs, queue) = mpsc::unbounded_channel();
        let limits = Limits {
            name: config.name.clone(),
            concurrency: config.concurrency.max(1),
            rate: config.rate,
            retry_for: config.retry_for,
            timeout: config.timeout,
            backoff: config.backoff,
        };
        let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (rate, concurrency) = (limits.rate, limits.concurrency);
        let shared = Shared { transport, limits, withdrawn };
        tokio::spawn(run(queue, Arc::new(shared), outcomes, waiting.clone()));
        Worker { jobs, waiting, rate, concurrency }
    }

    /// Queues an action; false when the worker has stopped (the runtime is shutting down).
    pub fn send(&self, job: Job) -> bool {
        self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.jobs.send(job).is_ok()
    }

    /// Room for more actions when the channel has a `rate`: two minutes of it ahead of the
    /// sender (at least two rounds of `concurrency`); a lead held back waits a minute.
    pub fn room(&self) -> Option<(usize, Duration)> {
        let rate = self.rate?;
        let per_two_minutes = (u64::from(rate.count) * 120 / rate.per.as_secs().max(1)) as usize;
        let cap = per_two_minutes.max(2 * self.concurrency);
        let waiting = self.waiting.load(std::sync::atomic::Ordering::SeqCst);
        Some((cap.saturating_sub(waiting), Duration::from_secs(60)))
    }
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    outcomes: Outcomes,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(shared.limits.concurrency));
    let pace = Arc::new(Pace::new(shared.limits.rate));
    while let Some(job) = queue.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (shared, outcomes, pace) = (shared.clone(), outcomes.clone(), pace.clone());
        let waiting = waiting.clone();
        let action = job.action.clone();
        tokio::spawn(async move {
            let name = shared.limits.name.clone();
            let trying = tokio::spawn(async move { deliver(&shared, &pace, job).await });
            // A bug in a transport must not leave the action unsettled (`--once` would wait for
            // it forever): it is answered as a try that may have arrived.
            let answer = match trying.await {
                Ok(answer) => answer,
                Err(_) => unknown(&name, &action, "stopped on an unexpected error".into()),
            };
            drop(slot);
            waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            outcomes.push(answer);
        });
    }
}

/// Tries one action until it is taken, refused, withdrawn, or `retry_for` has passed.
async fn deliver(shared: &Shared, pace: &Pace, job: Job) -> Answer {
    let (transport, limits) = (&shared.transport, &shared.limits);
    let started = Instant::now();
    let mut t = Try { number: 0, maybe_sent: job.maybe_sent };
    let action = &job.action;
    loop {
        // Checked before and after waiting for the rate: an opt-out can come during either.
        if shared.withdrawn(&action.key) {
            return withdrawn(&limits.name, action, t.maybe_sent);
        }
        t.number += 1;
        pace.ready().await;
        if shared.withdrawn(&action.key) {
            return withdrawn(&limits.name, action, t.maybe_sent);
        }
        let attempt = match tokio::time::timeout(limits.timeout, transport.attempt(action, t)).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Transient {
                reason: format!("no answer within {}s", limits.timeout.as_secs_f64()),
                retry_after: None,
                maybe_sent: true,
            },
        };
        match attempt {
            Attempt::Accepted { .. } => return accepted(action),
            Attempt::Refused { reason, opt_out } => return refused(&limits.name, action, reason, opt_out),
            Attempt::Transient { reason, retry_after, maybe_sent } => {
                t.maybe_sent |= maybe_sent;
                let wait = backoff(limits.backoff, t.number, &action.key).max(retry_after.unwrap_or_default());
                if started.elapsed() + wait > limits.retry_for {
                    let tries = format!("gave up after {} tries over {:.0?}: {reason}", t.number, started.elapsed());
                    return if t.maybe_sent {
                        unknown(&limits.name, action, tries)
                    } else {
                        refused(&limits.name, action, tries, false)
                    };
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Taken: a message is `sent` (delivery reports move it on later); a call's outcome comes later.
fn accepted(action: &Action) -> Answer {
    let input = (action.kind == ActionKind::Send).then(|| Input::Delivery { status: "sent".into() });
    Answer::settling(action, input, None)
}

fn refused(channel: &str, action: &Action, reason: String, opt_out: bool) -> Answer {
    let input = if opt_out {
        Input::OptOut
    } else if action.kind == ActionKind::Call {
        Input::Call { status: "failed".into(), duration: None, vars: serde_json::Map::new() }
    } else {
        Input::Delivery { status: "failed".into() }
    };
    Answer::settling(action, Some(input), Some(format!("channel `{channel}` did not take it: {reason}")))
}

/// Withdrawn by the engine before a try: not sent (by this process), a failure.
fn withdrawn(channel: &str, action: &Action, maybe_sent: bool) -> Answer {
    let failed = if action.kind == ActionKind::Call {
        Input::Call { status: "failed".into(), duration: None, vars: serde_json::Map::new() }
    } else {
        Input::Delivery { status: "failed".into() }
    };
    let mut note = format!("channel `{channel}` withdrew it unsent: the contact opted out while it waited");
    if maybe_sent {
        note.push_str(" (an earlier try may have reached the provider)");
    }
    Answer::settling(action, Some(failed), Some(note))
}

/// Given up on, but a try may have reached the provider (its answer was lost): failing it would
/// let a retry send a second copy under a new key. A message counts as `sent`; a call waits for
/// its outcome (or its timeout) as if taken. The history says what is not known.
fn unknown(channel: &str, action: &Action, reason: String) -> Answer {
    let input = (action.kind == ActionKind::Send).then(|| Input::Delivery { status: "sent".into() });
    let note = format!("channel `{channel}` {reason}; a try may have reached it, so it is not sent again");
    Answer::settling(action, input, Some(note))
}

/// Exponential backoff with full jitter over its upper half: `first * 2^(n-1)`, capped,
/// then between half and all of it, so that many actions failing together spread out.
pub fn backoff(first: Duration, try_number: u32, key: &str) -> Duration {
    let exp = first.saturating_mul(1u32 << try_number.saturating_sub(1).min(16)).min(MAX_BACKOFF.max(first));
    let noise = jitter(key, try_number);
    exp / 2 + exp.mul_f64(noise / 2.0)
}

fn jitter(key: &str, try_number: u32) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(key.as_bytes());
    hasher.write_u32(try_number);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The channel's `rate`: each request starts one interval after the one before, so the rate
/// holds over any period with no burst above it.
struct Pace {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    fn new(rate: Option<Rate>) -> Pace {
        Pace { interval: rate.map(Rate::interval), next: Mutex::new(None) }
    }

    async fn ready(&self) {
        let Some(interval) = self.interval else { return };
        let wait = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + interval);
            at - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_millis(500);
        for n in 1..=12 {
            let exp = (first * (1 << (n - 1))).min(MAX_BACKOFF);
            let wait = backoff(first, n, "k");
            assert!(wait >= exp / 2 && wait <= exp, "try {n}: {wait:?} outside {:?}..={exp:?}", exp / 2);
        }
        assert!(backoff(first, 40, "k") <= MAX_BACKOFF);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pace_spaces_requests_by_the_interval() {
        let pace = Pace::new(Rate::parse("100/s"));
        let start = Instant::now();
        for _ in 0..21 {
            pace.ready().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(199) && elapsed <= Duration::from_millis(260), "{elapsed:?}");
    }

    /// A webhook sender to a closed port on 127.0.0.1: every try fails at once, and is retried.
    fn closed_port(withdrawn: Withdrawn) -> Shared {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let webhook = crate::config::Webhook {
            url: crate::config::Secret::plain(format!("http://127.0.0.1:{port}/")),
            secret: None,
            headers: Vec::new(),
        };
        let config = ChannelConfig {
            name: "hook".into(),
            span: Default::default(),
            kind: crate::config::Kind::Webhook(webhook),
            rate: None,
            concurrency: 1,
            timeout: Duration::from_secs(1),
            retry_for: Duration::from_secs(30),
            backoff: Duration::from_millis(100),
        };
        let transport = Transport::build(&config, None).unwrap().unwrap();
        let limits = Limits {
            name: config.name.clone(),
            concurrency: 1,
            rate: None,
            retry_for: config.retry_for,
            timeout: config.timeout,
            backoff: config.backoff,
        };
        Shared { transport, limits, withdrawn }
    }

    fn job() -> Job {
        let action = Action {
            key: "c/+14155550101/hello/1".into(),
            kind: ActionKind::Send,
            campaign: "c".into(),
            contact: "+14155550101".into(),
            step: "hello".into(),
            attempt: 1,
            channel: "hook".into(),
            to: "+14155550101".into(),
            from: None,
            subject: None,
            text: "Hi".into(),
            agent: None,
            variant: None,
            at: chrono::Utc::now(),
            voicemail: None,
            max_duration: None,
            html: false,
        };
        Job { action, maybe_sent: false }
    }

    fn withdrawn_failure(answer: &Answer) {
        assert!(answer.settles);
        assert_eq!(answer.input, Some(Input::Delivery { status: "failed".into() }));
        let note = answer.note.as_deref().unwrap_or_default();
        assert!(note.contains("withdrew it unsent: the contact opted out"), "{note}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_withdrawn_action_ends_unsent_before_its_first_try_or_its_next_retry() {
        let withdrawn = Withdrawn::default();
        let shared = closed_port(withdrawn.clone());
        let pace = Pace::new(None);
        withdrawn.lock().unwrap().insert("c/+14155550101/hello/1".into());
        let answer = tokio::time::timeout(Duration::from_secs(1), deliver(&shared, &pace, job())).await.unwrap();
        withdrawn_failure(&answer);

        // Not withdrawn: it retries (every 100ms or so) until withdrawn, long before `retry_for`.
        withdrawn.lock().unwrap().clear();
        let trying = tokio::spawn(async move { deliver(&shared, &pace, job()).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!trying.is_finished(), "a refused connection is retried");
        withdrawn.lock().unwrap().insert("c/+14155550101/hello/1".into());
        let answer = tokio::time::timeout(Duration::from_secs(5), trying).await.unwrap().unwrap();
        withdrawn_failure(&answer);
    }
}
