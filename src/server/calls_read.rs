//! Reading each provider's end-of-call body (already authenticated) into a `CallReport`, and
//! mapping its ended reason to herald's five call statuses. The tables are in
//! docs/calling-providers.md; keep the two equal.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{CallReport, Read, Refused};
use crate::vocab::CallOutcome;

fn malformed(provider: &str, what: impl std::fmt::Display) -> Refused {
    Refused::Malformed(format!("{provider}: {what}"))
}

/// A non-empty string at `pointer` (RFC 6901, as `Value::pointer`).
fn text(json: &Value, pointer: &str) -> Option<String> {
    json.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn first_text(json: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| text(json, p))
}

fn number(json: &Value, pointer: &str) -> Option<f64> {
    json.pointer(pointer).and_then(Value::as_f64).filter(|n| n.is_finite())
}

fn time(json: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(json.pointer(pointer)?.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

fn millis(json: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(json.pointer(pointer)?.as_i64()?).single()
}

fn object(json: &Value, pointer: &str) -> Map<String, Value> {
    json.pointer(pointer).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// herald's key, from the first place that has one; a key is `campaign/contact/step/attempt`.
fn key(provider: &str, json: &Value, pointers: &[&str]) -> Result<String, Refused> {
    let key = first_text(json, pointers).ok_or_else(|| {
        malformed(provider, format!("no herald_key in the call's metadata (looked at {})", pointers.join(", ")))
    })?;
    if key.split('/').count() < 4 {
        return Err(malformed(provider, format!("herald_key {key:?} is not campaign/contact/step/attempt")));
    }
    Ok(key)
}

fn call_id(provider: &str, json: &Value, pointer: &str) -> Result<String, Refused> {
    text(json, pointer).ok_or_else(|| malformed(provider, format!("no call id at {pointer}")))
}

fn seconds_between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    let ms = (end? - start?).num_milliseconds();
    (ms >= 0).then(|| ms as f64 / 1000.0)
}

/// Vapi's `end-of-call-report` server message; every other message type is ignored.
pub(super) fn vapi(json: &Value) -> Result<Read, Refused> {
    let kind = text(json, "/message/type").ok_or_else(|| malformed("vapi", "no message.type"))?;
    if kind != "end-of-call-report" {
        return Ok(Read::Ignored(format!("vapi {kind} message")));
    }
    let reason = first_text(json, &["/message/endedReason", "/message/call/endedReason"])
        .ok_or_else(|| malformed("vapi", "no message.endedReason"))?;
    let status = vapi_status(&reason).ok_or_else(|| malformed("vapi", format!("unknown endedReason {reason:?}")))?;
    let started = time(json, "/message/startedAt").or_else(|| time(json, "/message/call/startedAt"));
    let ended_at = time(json, "/message/endedAt").or_else(|| time(json, "/message/call/endedAt"));
    let report = CallReport {
        key: key(
            "vapi",
            json,
            &[
                "/message/call/assistantOverrides/metadata/herald_key",
                "/message/assistant/metadata/herald_key",
                "/message/call/assistantOverrides/variableValues/herald_key",
            ],
        )?,
        call_id: call_id("vapi", json, "/message/call/id")?,
        status,
        duration: number(json, "/message/durationSeconds").or_else(|| seconds_between(started, ended_at)),
        vars: object(json, "/message/analysis/structuredData"),
        summary: text(json, "/message/analysis/summary"),
        transcript: first_text(json, &["/message/artifact/transcript", "/message/transcript"]),
        recording_url: first_text(
            json,
            &[
                "/message/artifact/recordingUrl",
                "/message/artifact/recording/mono/combinedUrl",
                "/message/recordingUrl",
            ],
        ),
        ended_at,
    };
    Ok(Read::Report(report))
}

/// Vapi's `endedReason` (595 distinct values in its API reference; the rules below cover them all,
/// tests/fixtures/providers/vapi_ended_reasons.txt).
pub(super) fn vapi_status(reason: &str) -> Option<CallOutcome> {
    use CallOutcome::*;
    let status = match reason {
        "voicemail" => Voicemail,
        "customer-busy" => Busy,
        "customer-did-not-answer"
        | "call.in-progress.error-providerfault-outbound-sip-408-request-timeout"
        | "call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable"
        | "call.ringing.sip-inbound-caller-hungup-before-call-connect" => NoAnswer,
        // The person was on the line; what went wrong after (a forward) is not the call's fault.
        "assistant-ended-call"
        | "assistant-said-end-call-phrase"
        | "assistant-ended-call-with-hangup-task"
        | "assistant-ended-call-after-message-spoken"
        | "assistant-forwarded-call"
        | "silence-timed-out"
        | "exceeded-max-duration"
        | "vonage-completed"
        | "call.in-progress.twilio-completed-call"
        | "call.in-progress.sip-completed-call"
        | "call.forwarding.operator-busy"
        | "call.forwarding.no-answer"
        | "call.ending.hook-executed-say"
        | "call.ending.hook-executed-transfer" => Answered,
        r if r.starts_with("customer-ended-call") => Answered,
        r if r.contains("error") || r.contains("fail") || r.starts_with("assistant-request-") => Failed,
        "assistant-not-found"
        | "assistant-not-valid"
        | "assistant-join-timed-out"
        | "customer-did-not-give-microphone-permission"
        | "manually-canceled"
        | "phone-call-provider-closed-websocket"
        | "phone-call-provider-bypass-enabled-but-no-call-received"
        | "twilio-reported-customer-misdialed"
        | "vonage-rejected"
        | "vonage-disconnected"
        | "worker-shutdown"
        | "call-deleted"
        | "scheduled-call-deleted"
        | "call.ringing.hook-executed-say"
        | "call.ringing.hook-executed-transfer" => Failed,
        _ => return None,
    };
    Some(status)
}

/// Retell's `call_analyzed` event: it carries everything `call_ended` does plus the analysis
/// (summary, extracted data), so a connected call is applied from it alone (applying both would
/// drop the analysis as a duplicate of the same call). A call that never connected has nothing
/// to analyse, so its `call_ended` is applied too, in case no `call_analyzed` follows; the
/// second of the two is then a duplicate. `call_started` and the others are ignored.
pub(super) fn retell(json: &Value) -> Result<Read, Refused> {
    let event = first_text(json, &["/event", "/event_type"]).ok_or_else(|| malformed("retell", "no event"))?;
    if event != "call_analyzed" && event != "call_ended" {
        return Ok(Read::Ignored(format!("retell {event} event (herald applies call_analyzed)")));
    }
    if !json.get("call").is_some_and(Value::is_object) {
        return Err(malformed("retell", "no call object"));
    }
    let reason =
        text(json, "/call/disconnection_reason").ok_or_else(|| malformed("retell", "no call.disconnection_reason"))?;
    let mut status = retell_status(&reason)
        .ok_or_else(|| malformed("retell", format!("unknown disconnection_reason {reason:?}")))?;
    // Retell's analysis can tell a voicemail from a person when the call ended by a hangup.
    if status == CallOutcome::Answered && json.pointer("/call/call_analysis/in_voicemail") == Some(&Value::Bool(true)) {
        status = CallOutcome::Voicemail;
    }
    if event == "call_ended" && matches!(status, CallOutcome::Answered | CallOutcome::Voicemail) {
        return Ok(Read::Ignored(
            "retell call_ended event of a connected call (herald applies its call_analyzed)".into(),
        ));
    }
    let started = millis(json, "/call/start_timestamp");
    let ended_at = millis(json, "/call/end_timestamp");
    let duration =
        number(json, "/call/duration_ms").map(|ms| ms / 1000.0).or_else(|| seconds_between(started, ended_at));
    Ok(Read::Report(CallReport {
        key: key("retell", json, &["/call/metadata/herald_key", "/call/retell_llm_dynamic_variables/herald_key"])?,
        call_id: call_id("retell", json, "/call/call_id")?,
        status,
        duration,
        vars: object(json, "/call/call_analysis/custom_analysis_data"),
        summary: text(json, "/call/call_analysis/call_summary"),
        transcript: text(json, "/call/transcript"),
        recording_url: text(json, "/call/recording_url"),
        ended_at,
    }))
}

/// Retell's `disconnection_reason` (the list of its SDK's `Call` type).
pub(super) fn retell_status(reason: &str) -> Option<CallOutcome> {
    use CallOutcome::*;
    Some(match reason {
        "user_hangup"
        | "agent_hangup"
        | "call_transfer"
        | "inactivity"
        | "max_duration_reached"
        | "transfer_bridged"
        | "transfer_cancelled"
        | "manual_stopped"
        | "call_take_over" => Answered,
        "voicemail_reached" | "ivr_reached" => Voicemail,
        "dial_no_answer" | "user_declined" => NoAnswer,
        "dial_busy" => Busy,
        "dial_failed"
        | "invalid_destination"
        | "telephony_provider_permission_denied"
        | "telephony_provider_unavailable"
        | "sip_routing_error"
        | "marked_as_spam"
        | "concurrency_limit_reached"
        | "no_concurrency_fallback"
        | "no_valid_payment"
        | "scam_detected"
        | "registered_call_timeout" => Failed,
        r if r.starts_with("error_") => Failed,
        _ => return None,
    })
}

/// Bland's post-call webhook: the call details of `GET /v1/calls/{id}`. A body with
/// `completed: false` (a call still queued or live) is ignored.
pub(super) fn bland(json: &Value) -> Result<Read, Refused> {
    if json.get("completed") == Some(&Value::Bool(false)) {
        return Ok(Read::Ignored("bland call not completed yet".into()));
    }
    let status = bland_status(json)?;
    let mut vars = object(json, "/analysis");
    if vars.is_empty() {
        vars = object(json, "/variables");
        vars.retain(|name, _| !BLAND_SYSTEM_VARIABLES.contains(&name.as_str()));
    }
    Ok(Read::Report(CallReport {
        key: key("bland", json, &["/metadata/herald_key", "/request_data/herald_key", "/variables/herald_key"])?,
        call_id: first_text(json, &["/call_id", "/c_id"]).ok_or_else(|| malformed("bland", "no call_id"))?,
        status,
        duration: number(json, "/call_length").map(|minutes| minutes * 60.0),
        vars,
        summary: text(json, "/summary"),
        transcript: text(json, "/concatenated_transcript"),
        recording_url: text(json, "/recording_url"),
        ended_at: time(json, "/end_at"),
    }))
}

/// What Bland (and herald's relay, through `request_data`) puts in `variables` besides what
/// the call extracted; left out of `vars` so they do not overwrite the campaign's own.
const BLAND_SYSTEM_VARIABLES: &[&str] = &[
    "now",
    "now_utc",
    "short_from",
    "short_to",
    "from",
    "to",
    "call_id",
    "phone_number",
    "city",
    "country",
    "state",
    "zip",
    "language",
    "timestamp",
    "timezone",
    "prompt",
    "herald_key",
    "campaign",
    "contact",
    "step",
    "variant",
];

/// `status` (`completed`, `busy`, `no-answer`, `failed`, `canceled`), `queue_status` (`…_error`)
/// and `answered_by` (`human`, `voicemail`, `unknown`, `no-answer`, or null when detection is off).
fn bland_status(json: &Value) -> Result<CallOutcome, Refused> {
    use CallOutcome::*;
    let status = text(json, "/status").map(|s| s.to_ascii_lowercase());
    let queue = text(json, "/queue_status").unwrap_or_default();
    let answered_by = text(json, "/answered_by").map(|s| s.to_ascii_lowercase());
    match status.as_deref() {
        Some("busy") => return Ok(Busy),
        Some("no-answer" | "no_answer") => return Ok(NoAnswer),
        Some("failed" | "canceled" | "cancelled" | "error") => return Ok(Failed),
        Some("completed" | "complete") | None => {}
        Some(other) => return Err(malformed("bland", format!("unknown status {other:?}"))),
    }
    // `complete_error` is a post-call step that failed (such as a webhook); the call itself ran.
    if matches!(queue.as_str(), "pre_queue_error" | "queue_error" | "call_error") {
        return Ok(Failed);
    }
    if status.is_none() && queue.is_empty() && json.get("completed") != Some(&Value::Bool(true)) {
        return Err(malformed("bland", "no status, queue_status or completed"));
    }
    match answered_by.as_deref() {
        Some("voicemail") => Ok(Voicemail),
        Some("no-answer" | "no_answer") => Ok(NoAnswer),
        Some("human" | "unknown") | None => Ok(Answered),
        Some(other) => Err(malformed("bland", format!("unknown answered_by {other:?}"))),
    }
}

/// herald's own report (docs/calling-providers.md "The generic report"):
/// `{"type":"call","key","call_id","status","duration","vars","summary","transcript",
/// "recording_url","ended_at"}`; `{"type":"ping"}` is ignored.
pub(super) fn generic(json: &Value) -> Result<Read, Refused> {
    match json.get("type").map(|t| t.as_str()) {
        None | Some(Some("call")) => {}
        Some(Some(other)) => return Ok(Read::Ignored(format!("generic {other} message"))),
        Some(None) => return Err(malformed("generic", "type is not a string")),
    }
    let status_text = text(json, "/status").ok_or_else(|| malformed("generic", "no status"))?;
    let status = CallOutcome::parse(&status_text).ok_or_else(|| {
        malformed("generic", format!("unknown status {status_text:?} (one of {})", CallOutcome::NAMES.join(", ")))
    })?;
    let duration = match json.get("duration") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|d| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| malformed("generic", "duration is not a number of seconds"))?,
        ),
    };
    let vars = match json.get("vars") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(malformed("generic", "vars is not an object")),
    };
    let ended_at = match json.get("ended_at") {
        None | Some(Value::Null) => None,
        Some(_) => {
            Some(time(json, "/ended_at").ok_or_else(|| malformed("generic", "ended_at is not an RFC 3339 time"))?)
        }
    };
    Ok(Read::Report(CallReport {
        key: key("generic", json, &["/key"])?,
        call_id: call_id("generic", json, "/call_id")?,
        status,
        duration,
        vars,
        summary: text(json, "/summary"),
        transcript: text(json, "/transcript"),
        recording_url: text(json, "/recording_url"),
        ended_at,
    }))
}
