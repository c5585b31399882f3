//! The providers' callbacks: Twilio's inbound messages and status callbacks, and the AI calling
//! providers' end-of-call reports. (Wired when `twilio` and `calls` land.)

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::State;
use super::reply::Refusal;
use axum::response::IntoResponse;

type Shared = axum::extract::State<Arc<State>>;

pub async fn twilio_messages(_state: Shared) -> Response {
    Refusal::new(StatusCode::NOT_IMPLEMENTED, "unknown", "not yet").into_response()
}

pub async fn twilio_status(_state: Shared) -> Response {
    Refusal::new(StatusCode::NOT_IMPLEMENTED, "unknown", "not yet").into_response()
}

pub async fn calls(_state: Shared, Path(_provider): Path<String>) -> Response {
    Refusal::new(StatusCode::NOT_IMPLEMENTED, "unknown", "not yet").into_response()
}
