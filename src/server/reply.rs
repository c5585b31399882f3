//! How the server answers: JSON errors with a reason, the verdicts of what it stored, and the
//! body read within its size and time limits.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{BODY_TIMEOUT, MAX_BODY, State, TOLERANCE};
use crate::driver::arrival::{Item, Verdict};

/// A refused request: its status and the reason, as `{"error": …}`.
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
    /// The word `/metrics` counts it under.
    pub word: &'static str,
}

impl Refusal {
    pub fn new(status: StatusCode, word: &'static str, reason: impl Into<String>) -> Refusal {
        Refusal { status, reason: reason.into(), word }
    }

    pub fn unauthorized(reason: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, "unauthorized", reason)
    }

    pub fn malformed(reason: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "malformed", reason)
    }

    /// Counts the refusal under `endpoint` and answers it.
    pub fn answer(self, state: &State, endpoint: &str) -> Response {
        state.metrics.event(endpoint, self.word, 1);
        (self.status, axum::Json(json!({ "error": self.reason }))).into_response()
    }
}

/// Bodies read at once: each may hold up to `MAX_BODY` before its signature is checked, so the
/// memory an unsigned client can take is bounded by this, not by the connection count.
static READING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(64);

/// The body, at most `MAX_BODY` bytes, sent within `BODY_TIMEOUT`.
pub async fn body(body: axum::body::Body) -> Result<axum::body::Bytes, Refusal> {
    let busy = || Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many requests at once; send it again");
    let Ok(Ok(_turn)) = tokio::time::timeout(BODY_TIMEOUT, READING.acquire()).await else { return Err(busy()) };
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => Err(Refusal::new(StatusCode::REQUEST_TIMEOUT, "timed_out", "the body did not arrive in time")),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_too_large(&e) => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} (the limit)", crate::bounded::size(MAX_BODY)),
        )),
        Ok(Err(e)) => Err(Refusal::malformed(format!("cannot read the body: {e}"))),
    }
}

fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Checks a Standard Webhooks signature made with `key`; returns the `webhook-id`.
pub fn standard_webhook(
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, Refusal> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (Some(id), Some(timestamp), Some(signature)) =
        (text("webhook-id"), text("webhook-timestamp"), text("webhook-signature"))
    else {
        return Err(Refusal::unauthorized(
            "missing webhook-id, webhook-timestamp or webhook-signature (sign it per Standard Webhooks with server.secret)",
        ));
    };
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return Err(Refusal::unauthorized("webhook-timestamp is not a number of seconds"));
    };
    if !crate::channel::sign::webhook_verify(key, id, seconds, body, signature) {
        return Err(Refusal::unauthorized("the signature does not match (is it signed with server.secret?)"));
    }
    let sent = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
    if (now - sent).abs() > TOLERANCE {
        return Err(Refusal::unauthorized("webhook-timestamp is more than 5 minutes away from now (a replay?)"));
    }
    if id.is_empty() || id.len() > crate::driver::events::MAX_ID_BYTES {
        return Err(Refusal::malformed("webhook-id is empty or too long"));
    }
    Ok(id.to_string())
}

/// Hands the items to the engine and waits until they are stored.
pub async fn store(state: &State, items: Vec<Item>) -> Result<Vec<Verdict>, Refusal> {
    let unavailable =
        || Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "herald is stopping; send it again");
    let Some(answer) = state.inbox.send(items) else { return Err(unavailable()) };
    answer.await.map_err(|_| unavailable())
}

/// One verdict as a status and its JSON.
pub fn verdict(verdict: &Verdict) -> (StatusCode, serde_json::Value) {
    match verdict {
        Verdict::Applied => (StatusCode::OK, json!({ "status": "applied" })),
        Verdict::Duplicate => (StatusCode::OK, json!({ "status": "duplicate" })),
        Verdict::NotFound(reason) => (StatusCode::NOT_FOUND, json!({ "status": "rejected", "error": reason })),
        Verdict::Unprocessable(reason) => {
            (StatusCode::UNPROCESSABLE_ENTITY, json!({ "status": "rejected", "error": reason }))
        }
        Verdict::Unavailable(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "unavailable", "error": reason }))
        }
    }
}

/// The word `/metrics` counts a verdict under.
pub fn word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Applied => "applied",
        Verdict::Duplicate => "duplicate",
        Verdict::NotFound(_) => "not_found",
        Verdict::Unprocessable(_) => "unprocessable",
        Verdict::Unavailable(_) => "unavailable",
    }
}

/// Counts the verdicts under `endpoint`.
pub fn count(state: &State, endpoint: &str, verdicts: &[Verdict]) {
    for v in verdicts {
        state.metrics.event(endpoint, word(v), 1);
    }
}

/// The answer to a request of several items: 200 when each was stored or was a duplicate;
/// else the status of the first that was not (503 first, since retrying is then right), with
/// every item's result.
pub fn verdicts(verdicts: &[Verdict]) -> Response {
    let results: Vec<_> = verdicts.iter().map(|v| verdict(v).1).collect();
    let worst = verdicts
        .iter()
        .map(|v| verdict(v).0)
        .max_by_key(|s| match s.as_u16() {
            503 => 3,
            404 | 422 => 2,
            _ => 1,
        })
        .unwrap_or(StatusCode::OK);
    (worst, axum::Json(json!({ "results": results }))).into_response()
}

/// A page of text for people (the unsubscribe pages).
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">\
         <h1>{title}</h1>{body_html}</body></html>"
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
}
