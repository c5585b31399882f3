//! The server's routes: `/events`, one-click unsubscribe, and what shows the run (`/healthz`,
//! `/metrics`, `/status`, `/report/{campaign}`). The providers' callbacks are in `hooks`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::State;
use super::reply::{self, Refusal};
use crate::driver::arrival::{Arrival, Item};
use crate::driver::events::{Inbound, parse_value};

type Shared = axum::extract::State<Arc<State>>;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/events", post(events))
        .route("/twilio/messages", post(super::hooks::twilio_messages))
        .route("/twilio/status", post(super::hooks::twilio_status))
        .route("/calls/{provider}", post(super::hooks::calls))
        .route("/unsubscribe/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/report/{campaign}", get(report))
        .route("/export/{campaign}", get(export))
        .fallback(|| async { Refusal::new(StatusCode::NOT_FOUND, "unknown", "no such endpoint (docs/server.md)") })
        .with_state(state)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.reason }))).into_response()
    }
}

/// `POST /events`: one event of docs/events.md or an array of them, signed per Standard
/// Webhooks with `server.secret`. A malformed element refuses the whole request (400, each
/// problem with its index): nothing of it is applied, so it can be fixed and sent again whole.
async fn events(state: Shared, headers: HeaderMap, body: axum::body::Body) -> Response {
    let endpoint = "events";
    let bytes = match reply::body(body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    let webhook_id = match reply::standard_webhook(&state.webhook_key, &headers, &bytes, chrono::Utc::now()) {
        Ok(id) => id,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    let (events, one) = match read_events(&bytes) {
        Ok(read) => read,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    let items = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            // An event's own `id` or `at` keys it as `ingest` would; one with neither is keyed
            // by the delivery, so that the sender's retry of it applies once.
            let id = (event.id.is_none() && event.at.is_none())
                .then(|| if one { format!("wh:{webhook_id}") } else { format!("wh:{webhook_id}/{i}") });
            Item { arrival: Arrival::Event(event), id }
        })
        .collect();
    let verdicts = match reply::store(&state, items).await {
        Ok(verdicts) => verdicts,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    reply::count(&state, endpoint, &verdicts);
    match verdicts.as_slice() {
        [verdict] if one => {
            let (status, json) = reply::verdict(verdict);
            (status, axum::Json(json)).into_response()
        }
        _ => reply::verdicts(&verdicts),
    }
}

/// The events of a body: one object, or an array (`true`: one object).
fn read_events(bytes: &[u8]) -> Result<(Vec<Inbound>, bool), Refusal> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Refusal::malformed(crate::driver::events::not_json(e).to_string()))?;
    let (values, one) = match value {
        Value::Array(values) => (values, false),
        value => (vec![value], true),
    };
    let mut events = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        match parse_value(value) {
            Ok(event) => events.push(event),
            Err(e) if one => return Err(Refusal::malformed(e.to_string())),
            Err(e) => problems.push(format!("event {i}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(Refusal::malformed(problems.join("; ")));
    }
    Ok((events, one))
}

/// `GET /unsubscribe/{token}`: a page that asks, and changes nothing (mail scanners follow
/// links; only the POST of RFC 8058, or the button, unsubscribes).
async fn unsubscribe_page(state: Shared, Path(token): Path<String>) -> Response {
    if crate::channel::sign::unsubscribe_verify(&state.secret, &token).is_none() {
        return reply::page(StatusCode::NOT_FOUND, "Link not valid", "<p>This unsubscribe link is not valid.</p>");
    }
    let form = "<p>Stop receiving these messages?</p><form method=\"post\">\
                <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                <button type=\"submit\">Unsubscribe</button></form>";
    reply::page(StatusCode::OK, "Unsubscribe", form)
}

/// `POST /unsubscribe/{token}`: RFC 8058 one-click; the contact is suppressed in every
/// campaign. No login, no redirect; a second click changes nothing more.
async fn unsubscribe(state: Shared, Path(token): Path<String>, body: axum::body::Body) -> Response {
    let endpoint = "unsubscribe";
    // The body (`List-Unsubscribe=One-Click`) says nothing the token does not; it is read so
    // that a huge one is refused.
    if let Err(refusal) = reply::body(body).await {
        return refusal.answer(&state, endpoint);
    }
    let Some((campaign, contact, address)) = crate::channel::sign::unsubscribe_read(&state.secret, &token) else {
        state.metrics.event(endpoint, "unauthorized", 1);
        return reply::page(StatusCode::NOT_FOUND, "Link not valid", "<p>This unsubscribe link is not valid.</p>");
    };
    // Named or not, an opt-out ends the contact's leads in every campaign; unnamed, it is also
    // kept when the lead is gone (removed, or its campaign with it): the person still asked.
    let event =
        Inbound { campaign: None, contact: contact.clone(), at: None, id: None, input: crate::runtime::Input::OptOut };
    let mut items =
        vec![Item { arrival: Arrival::Event(event), id: Some(format!("unsubscribe:{campaign}/{contact}")) }];
    // The address mailed, when the campaign is keyed by something else (an id): suppressed too,
    // so that campaigns keyed by email stop mailing it.
    if let Some(address) = address {
        let event = Inbound {
            campaign: None,
            contact: address.clone(),
            at: None,
            id: None,
            input: crate::runtime::Input::OptOut,
        };
        items.push(Item {
            arrival: Arrival::Event(event),
            id: Some(format!("unsubscribe:{campaign}/{contact}/{address}")),
        });
    }
    match reply::store(&state, items).await {
        Ok(verdicts) => {
            reply::count(&state, endpoint, &verdicts);
            match verdicts.first() {
                Some(crate::driver::arrival::Verdict::Unavailable(_)) | None => {
                    reply::page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<p>Please try again in a minute.</p>")
                }
                Some(_) => {
                    reply::page(StatusCode::OK, "Unsubscribed", "<p>You will not receive these messages again.</p>")
                }
            }
        }
        Err(_) => reply::page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<p>Please try again in a minute.</p>"),
    }
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ok" }))).into_response()
}

/// `GET /status`: the JSON of `herald status --format json`, read while the run goes on.
async fn status(state: Shared) -> Response {
    let store = state.store.clone();
    let text =
        scan(&state.scans, move || crate::ops::status::text(&store, None, crate::ops::status::StatusFormat::Json))
            .await;
    text_or_error(text, "application/json")
}

#[derive(serde::Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

/// `GET /report/{campaign}?format=table|json|csv|html`: `herald report` while the run goes on.
/// It shows counts, never a contact, so it needs no token.
async fn report(state: Shared, Path(campaign): Path<String>, Query(query): Query<ReportQuery>) -> Response {
    use crate::report::ReportFormat;
    let (format, kind) = match query.format.as_deref().unwrap_or("json") {
        "json" => (ReportFormat::Json, "application/json"),
        "table" => (ReportFormat::Table, "text/plain; charset=utf-8"),
        "csv" => (ReportFormat::Csv, "text/csv; charset=utf-8"),
        "html" => (ReportFormat::Html, "text/html; charset=utf-8"),
        other => {
            return Refusal::malformed(format!("unknown format `{other}`; it is one of json, table, csv, html"))
                .into_response();
        }
    };
    let store = state.store.clone();
    let text = scan(&state.scans, move || crate::report::text(&store, &campaign, format)).await;
    text_or_error(text, kind)
}

/// `GET /export/{campaign}[?raw=true]`: `herald export` while the run goes on. It shows every
/// contact, so it needs `Authorization: Bearer <server.secret>`.
async fn export(
    state: Shared,
    Path(campaign): Path<String>,
    Query(query): Query<ExportQuery>,
    headers: HeaderMap,
) -> Response {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| crate::channel::sign::constant_time_eq(t.trim().as_bytes(), &state.secret)) {
        return Refusal::unauthorized("give `Authorization: Bearer <server.secret>`: an export shows every contact")
            .answer(&state, "export");
    }
    let store = state.store.clone();
    let text = scan(&state.scans, move || {
        let args = crate::ops::export::Args { campaign, output: None, raw: query.raw.unwrap_or(false) };
        let mut out = Vec::new();
        crate::ops::export::csv(&store, &args, &mut out).map(|_| String::from_utf8_lossy(&out).into_owned())
    })
    .await;
    text_or_error(text, "text/csv; charset=utf-8")
}

#[derive(serde::Deserialize)]
struct ExportQuery {
    raw: Option<bool>,
}

/// Runs `read` (a walk over the database) on the blocking pool, at most `MAX_SCANS` at once: these
/// endpoints need no signature, and a flood of them must not take the cores and the disk from
/// the campaigns (nor pin old pages of the database with many long read transactions).
async fn scan<T: Send + 'static>(
    turns: &Arc<tokio::sync::Semaphore>,
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refusal> {
    let busy =
        || Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "other reads of the database are running; try again");
    let Ok(Ok(permit)) = tokio::time::timeout(super::SCAN_WAIT, turns.clone().acquire_owned()).await else {
        return Err(busy());
    };
    // The turn is held by the read itself: a client that goes away does not free it early.
    tokio::task::spawn_blocking(move || {
        let answer = read();
        drop(permit);
        answer
    })
    .await
    .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "error", e.to_string()))
}

fn text_or_error(text: Result<Result<String, crate::ops::OpsError>, Refusal>, kind: &'static str) -> Response {
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, kind)], text).into_response(),
        Ok(Err(crate::ops::OpsError::UnknownCampaign { id, .. })) => {
            Refusal::new(StatusCode::NOT_FOUND, "not_found", format!("unknown campaign `{id}`")).into_response()
        }
        Ok(Err(e)) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "error", e.to_string()).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /metrics`: Prometheus text.
async fn metrics(state: Shared) -> Response {
    let store = state.store.clone();
    let counts = state.metrics.snapshot();
    let text = scan(&state.scans, move || super::metrics_text::render(&store, &counts)).await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Ok(Err(e)) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "error", e.to_string()).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// At most `MAX_SCANS` reads run at once, also when the clients that asked went away.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_of_the_database_take_turns() {
        let turns = Arc::new(tokio::sync::Semaphore::new(super::super::MAX_SCANS));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut asks = Vec::new();
        for i in 0..8 {
            let (turns, running, most) = (turns.clone(), running.clone(), most.clone());
            asks.push(tokio::spawn(async move {
                scan(&turns, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
                .await
                .ok()
            }));
        }
        // Half of the clients hang up while they wait or while their read runs.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for ask in &asks[..4] {
            ask.abort();
        }
        for ask in asks.drain(4..) {
            assert!(ask.await.unwrap().is_some());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(most.load(Ordering::SeqCst), super::super::MAX_SCANS);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
