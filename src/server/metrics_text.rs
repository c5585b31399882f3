//! `GET /metrics` in the Prometheus text format: leads per campaign and status (read from the
//! store), actions per channel and result, channel latency, and what the server took.

use std::fmt::Write;

use crate::driver::metrics::{Counts, LATENCY_BUCKETS};
use crate::store::{Store, StoreError};

pub fn render(store: &Store, counts: &Counts) -> Result<String, StoreError> {
    let mut out = String::new();
    out += "# HELP herald_leads Leads per campaign and status.\n# TYPE herald_leads gauge\n";
    for campaign in store.campaigns()? {
        for (status, n) in store.counts(&campaign.id)? {
            let _ = writeln!(out, "herald_leads{{campaign=\"{}\",status=\"{status}\"}} {n}", label(&campaign.id));
        }
    }
    out += "# HELP herald_actions_total Actions per channel: handed over, then what settled them.\n";
    out += "# TYPE herald_actions_total counter\n";
    for ((channel, result), n) in &counts.actions {
        let _ = writeln!(out, "herald_actions_total{{channel=\"{}\",result=\"{result}\"}} {n}", label(channel));
    }
    out += "# HELP herald_channel_latency_seconds From hand-over to the channel's answer.\n";
    out += "# TYPE herald_channel_latency_seconds histogram\n";
    for (channel, h) in &counts.latency {
        let channel = label(channel);
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
            let _ = writeln!(out, "herald_channel_latency_seconds_bucket{{channel=\"{channel}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "herald_channel_latency_seconds_bucket{{channel=\"{channel}\",le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "herald_channel_latency_seconds_sum{{channel=\"{channel}\"}} {}", h.sum);
        let _ = writeln!(out, "herald_channel_latency_seconds_count{{channel=\"{channel}\"}} {}", h.count);
    }
    out += "# HELP herald_events_total What the server took, per endpoint and result.\n";
    out += "# TYPE herald_events_total counter\n";
    for ((endpoint, result), n) in &counts.events {
        let _ = writeln!(out, "herald_events_total{{endpoint=\"{endpoint}\",result=\"{result}\"}} {n}");
    }
    Ok(out)
}

/// A label value with `\`, `"` and newlines escaped, as the format asks.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
