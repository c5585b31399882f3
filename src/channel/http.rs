//! What the HTTP kinds share: one client per channel, and how a failed request is classed.

use super::transport::Attempt;
use crate::config::ChannelConfig;

/// A client with the channel's timeout and enough idle connections for its concurrency.
pub fn client(config: &ChannelConfig) -> Result<reqwest::Client, String> {
    crate::channel::tls::install();
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(std::time::Duration::from_secs(10)))
        .pool_max_idle_per_host(config.concurrency)
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up HTTP for channel `{}`: {}", config.name, describe(&e)))
}

/// 408, 429 and 5xx are worth another try; other 4xx are not.
pub fn transient(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error()
}

/// A request that got no HTTP answer. A timeout or a connection dropped after sending may have
/// reached the provider; a refused connection did not.
pub fn failed(error: &reqwest::Error) -> Attempt {
    let maybe_sent = !error.is_connect();
    Attempt::Transient { reason: describe(error), retry_after: None, maybe_sent }
}

/// The error in words, with its causes, and no URL (a URL may hold a secret).
pub fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_request() || error.is_body() {
        "the connection failed during the request"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.last() {
        Some(root) => format!("{what}: {root}"),
        None => what.to_string(),
    }
}
