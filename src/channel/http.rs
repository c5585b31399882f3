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
        // A redirected POST would be re-sent as a GET without its body (and its headers sent
        // to another host): a provider that answers 3xx has not taken the action.
        .redirect(reqwest::redirect::Policy::none())
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
    // A request that could not be built (a bad header value from the environment) never will be.
    if error.is_builder() {
        return Attempt::refused(format!("the request cannot be made: {}", describe(error)));
    }
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

/// What a short answer (a status, an id, an error) may take.
pub const ANSWER_LIMIT: usize = 16 * 1024;

/// At most `limit` bytes of a response body, as text: a hostile server's endless body is not
/// read into memory. An error if the connection failed before the body ended.
pub async fn body_start(mut response: reqwest::Response, limit: usize) -> Result<String, reqwest::Error> {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await? {
            Some(chunk) => bytes.extend_from_slice(&chunk[..chunk.len().min(limit - bytes.len())]),
            None => break,
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
