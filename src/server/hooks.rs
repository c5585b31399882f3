//! The providers' callbacks: Twilio's inbound messages and status callbacks, and the AI calling
//! providers' end-of-call reports, each checked with its own scheme (`twilio`, `calls`) and
//! handed to the engine like `/events`.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::State;
use super::calls::{self, Provider, Read};
use super::reply::{self, Refusal};
use crate::driver::arrival::{Arrival, CallNotes, Item, Verdict};
use crate::runtime::Input;

type Shared = axum::extract::State<Arc<State>>;

/// `POST /calls/{provider}`: a call's end, applied as the outcome of the call under its key.
/// A webhook of another kind is answered 200 and changes nothing.
pub async fn calls(
    state: Shared,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(provider) = Provider::parse(&provider) else {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        let reason = format!("no provider `{provider}`; the call endpoints are /calls/{}", known.join(", /calls/"));
        return Refusal::new(StatusCode::NOT_FOUND, "unknown", reason).answer(&state, "calls");
    };
    let endpoint = format!("calls/{}", provider.as_str());
    let bytes = match reply::body(body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal.answer(&state, &endpoint),
    };
    let report = match calls::read(provider, &headers, &bytes, &state.calls, chrono::Utc::now()) {
        Ok(Read::Report(report)) => report,
        Ok(Read::Ignored(what)) => {
            state.metrics.event(&endpoint, "ignored", 1);
            return (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ignored", "what": what })))
                .into_response();
        }
        Err(calls::Refused::Malformed(reason)) => return Refusal::malformed(reason).answer(&state, &endpoint),
        Err(refused) => return Refusal::unauthorized(refused.message()).answer(&state, &endpoint),
    };
    let input = Input::Call { status: report.status.as_str().into(), duration: report.duration, vars: report.vars };
    let notes =
        CallNotes { summary: report.summary, transcript: report.transcript, recording_url: report.recording_url };
    let item = Item {
        arrival: Arrival::Outcome {
            key: report.key,
            input,
            // When herald learned it: a provider's clock may be off, and the lead's history is
            // in herald's time.
            at: chrono::Utc::now(),
            notes: Some(notes),
        },
        id: Some(format!("{}:{}", provider.as_str(), report.call_id)),
    };
    one(&state, &endpoint, item).await
}

/// Stores one item and answers with its verdict.
async fn one(state: &State, endpoint: &str, item: Item) -> Response {
    match reply::store(state, vec![item]).await {
        Ok(verdicts) => {
            reply::count(state, endpoint, &verdicts);
            let verdict = verdicts.first().cloned().unwrap_or(Verdict::Unavailable("no verdict".into()));
            let (status, json) = reply::verdict(&verdict);
            (status, axum::Json(json)).into_response()
        }
        Err(refusal) => refusal.answer(state, endpoint),
    }
}

/// The form fields of a Twilio callback, after its signature is checked against
/// `server.public_url` + the path and query Twilio requested.
async fn twilio_form(
    state: &State,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<(String, String)>, Refusal> {
    let bytes = reply::body(body).await?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let Some(public_url) = &state.public_url else {
        return Err(Refusal::unauthorized(
            "set server.public_url: Twilio signs the URL it calls, and herald checks it against that",
        ));
    };
    if state.twilio_tokens.is_empty() {
        return Err(Refusal::unauthorized(
            "no twilio channel in herald.yaml: its auth_token checks Twilio's signature",
        ));
    }
    let Some(signature) = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
        return Err(Refusal::unauthorized("missing X-Twilio-Signature"));
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{public_url}{path}");
    let tokens: Vec<&str> = state.twilio_tokens.iter().map(String::as_str).collect();
    if !super::twilio::verify(&tokens, &url, &params, signature) {
        return Err(Refusal::unauthorized(format!(
            "X-Twilio-Signature does not match for {url} (is server.public_url the URL Twilio calls?)"
        )));
    }
    Ok(params)
}

fn twiml() -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], super::twilio::EMPTY_TWIML).into_response()
}

/// `POST /twilio/messages`: an inbound SMS or WhatsApp message, a reply to the lead it most
/// likely answers (an opt-out word suppresses the contact everywhere). Answered with empty
/// TwiML: herald answers through the campaign.
pub async fn twilio_messages(state: Shared, uri: Uri, headers: HeaderMap, body: axum::body::Body) -> Response {
    let endpoint = "twilio/messages";
    let params = match twilio_form(&state, &uri, &headers, body).await {
        Ok(params) => params,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    let mut item = match super::twilio::inbound(&params) {
        Ok(item) => item,
        Err(reason) => return Refusal::malformed(reason).answer(&state, endpoint),
    };
    if let Arrival::Event(event) = item.arrival {
        item.arrival = Arrival::Message(event);
    }
    match reply::store(&state, vec![item]).await {
        Ok(verdicts) => {
            reply::count(&state, endpoint, &verdicts);
            match verdicts.first() {
                // A reply from someone in no campaign is still taken (Twilio would only retry it).
                Some(Verdict::Applied | Verdict::Duplicate | Verdict::NotFound(_) | Verdict::Unprocessable(_)) => {
                    twiml()
                }
                _ => Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "herald is stopping").into_response(),
            }
        }
        Err(refusal) => refusal.answer(&state, endpoint),
    }
}

/// `POST /twilio/status`: a message's or a call's status callback, the outcome of the action
/// whose key herald put in the callback URL. A status that decides nothing (`queued`,
/// `ringing`) is answered 200 and changes nothing.
pub async fn twilio_status(state: Shared, uri: Uri, headers: HeaderMap, body: axum::body::Body) -> Response {
    let endpoint = "twilio/status";
    let params = match twilio_form(&state, &uri, &headers, body).await {
        Ok(params) => params,
        Err(refusal) => return refusal.answer(&state, endpoint),
    };
    match super::twilio::status(uri.query(), &params, chrono::Utc::now()) {
        Ok(Some(item)) => one(&state, endpoint, item).await,
        Ok(None) => {
            state.metrics.event(endpoint, "ignored", 1);
            (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ignored" }))).into_response()
        }
        Err(reason) => Refusal::malformed(reason).answer(&state, endpoint),
    }
}
