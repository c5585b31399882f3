//! Counters of a running `run` for `GET /metrics` (docs/server.md): actions per channel and
//! result, the time channels take to settle an action, and what became of what the server took.
//! Kept in memory and counted from the start of the process, as Prometheus counters are.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Observations at or under each bound of `LATENCY_BUCKETS`.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counts>,
}

/// A copy of the counters at one instant.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// (channel, result) -> actions: `handed` when handed over, then what settled them.
    pub actions: BTreeMap<(String, String), u64>,
    /// channel -> seconds from hand-over to settle.
    pub latency: BTreeMap<String, Histogram>,
    /// (endpoint, result) -> what the server took: `applied`, `duplicate`, `not_found`, … and
    /// the requests it refused (`unauthorized`, `malformed`, `too_large`, …).
    pub events: BTreeMap<(String, String), u64>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn handed(&self, channel: &str, n: u64) {
        self.with(|c| *c.actions.entry((channel.to_string(), "handed".to_string())).or_default() += n);
    }

    pub fn settled(&self, channel: &str, result: &str, took: Duration) {
        self.with(|c| {
            *c.actions.entry((channel.to_string(), result.to_string())).or_default() += 1;
            c.latency.entry(channel.to_string()).or_default().observe(took.as_secs_f64());
        });
    }

    pub fn event(&self, endpoint: &str, result: &str, n: u64) {
        self.with(|c| *c.events.entry((endpoint.to_string(), result.to_string())).or_default() += n);
    }

    pub fn snapshot(&self) -> Counts {
        self.with(|c| c.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let m = Metrics::default();
        m.settled("sms", "sent", Duration::from_millis(20));
        m.settled("sms", "failed", Duration::from_secs(2));
        m.handed("sms", 2);
        let c = m.snapshot();
        let h = &c.latency["sms"];
        assert_eq!((h.count, h.buckets[0], h.buckets[2], h.buckets[8], h.buckets[9]), (2, 0, 1, 2, 2));
        assert!((h.sum - 2.02).abs() < 1e-9);
        assert_eq!(c.actions[&("sms".into(), "handed".into())], 2);
        assert_eq!(c.actions[&("sms".into(), "failed".into())], 1);
    }
}
