//! The end-of-call reports of AI calling providers (Vapi, Retell, Bland, and herald's own
//! generic format), each checked with its own signature scheme and read into a `CallReport`.
//! Pure: the HTTP server hands over the headers and the raw body and answers from the result.
//! The setup at each provider and the status tables are in docs/calling-providers.md.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};

use crate::channel::sign;
use crate::vocab::CallOutcome;

#[path = "calls_read.rs"]
mod read_body;

/// How far a signed timestamp may be from the server's clock (either way).
const TOLERANCE_SECONDS: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Vapi,
    Retell,
    Bland,
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 4] = [Provider::Vapi, Provider::Retell, Provider::Bland, Provider::Generic];

    /// The last segment of the endpoint path: `/calls/<name>`.
    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Vapi => "vapi",
            Provider::Retell => "retell",
            Provider::Bland => "bland",
            Provider::Generic => "generic",
        }
    }

    /// The herald.yaml setting that holds this endpoint's secret.
    pub fn setting(self) -> &'static str {
        match self {
            Provider::Vapi => "server.vapi_secret",
            Provider::Retell => "server.retell_api_key",
            Provider::Bland => "server.bland_secret",
            Provider::Generic => "server.secret",
        }
    }
}

/// The secrets each scheme checks with (from herald.yaml `server:`). `None`: that endpoint
/// refuses every request with 401, naming the missing setting.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `server.vapi_secret`: the `X-Vapi-Secret` value, bearer token or HMAC key set at Vapi.
    pub vapi: Option<String>,
    /// `server.retell_api_key`: the Retell API key with the webhook badge.
    pub retell: Option<String>,
    /// `server.bland_secret`: Bland's webhook signing secret.
    pub bland: Option<String>,
    /// The Standard Webhooks key bytes of `server.secret`, as `sign::webhook_key` gives them.
    pub generic: Option<Vec<u8>>,
}

// Hand-written so that a stray `{:?}` cannot print a secret.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: bool| if s { "set" } else { "not set" };
        f.debug_struct("Secrets")
            .field("vapi", &set(self.vapi.is_some()))
            .field("retell", &set(self.retell.is_some()))
            .field("bland", &set(self.bland.is_some()))
            .field("generic", &set(self.generic.is_some()))
            .finish()
    }
}

/// One finished call, as the engine applies it: a `call` event for the lead named by `key`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallReport {
    /// herald's action key `campaign/contact/step/attempt`, carried in the call's metadata.
    pub key: String,
    /// The provider's call id: a report delivered twice is applied once.
    pub call_id: String,
    pub status: CallOutcome,
    /// Seconds.
    pub duration: Option<f64>,
    /// The provider's extracted (structured) data.
    pub vars: Map<String, Value>,
    pub summary: Option<String>,
    pub transcript: Option<String>,
    pub recording_url: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Read {
    Report(CallReport),
    /// A genuine webhook of another kind (Vapi `status-update`, Retell `call_started`):
    /// answered 200, nothing applied. The text says what it was.
    Ignored(String),
}

/// Why a request is refused; the texts name headers and settings, never a secret.
#[derive(Clone, Debug, PartialEq)]
pub enum Refused {
    /// 401: no secret configured, no or a wrong signature.
    Unauthorized(String),
    /// 400: not the JSON this endpoint takes.
    Malformed(String),
    /// 401: a signed timestamp more than 5 minutes from now (a replay).
    Stale(String),
}

impl Refused {
    pub fn message(&self) -> &str {
        match self {
            Refused::Unauthorized(m) | Refused::Malformed(m) | Refused::Stale(m) => m,
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Checks the request's signature with `provider`'s scheme, then reads its body.
pub fn read(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<Read, Refused> {
    authenticate(provider, headers, body, secrets, now)?;
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Malformed(format!("{}: the body is not JSON ({e})", provider.as_str())))?;
    if !json.is_object() {
        return Err(Refused::Malformed(format!("{}: the body is not a JSON object", provider.as_str())));
    }
    match provider {
        Provider::Vapi => read_body::vapi(&json),
        Provider::Retell => read_body::retell(&json),
        Provider::Bland => read_body::bland(&json),
        Provider::Generic => read_body::generic(&json),
    }
}

fn authenticate(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    let missing = || {
        Refused::Unauthorized(format!(
            "/calls/{} is not set up: {} is missing in herald.yaml, so every request is refused",
            provider.as_str(),
            provider.setting()
        ))
    };
    match provider {
        Provider::Vapi => vapi_auth(headers, body, secrets.vapi.as_deref().ok_or_else(missing)?),
        Provider::Retell => retell_auth(headers, body, secrets.retell.as_deref().ok_or_else(missing)?, now),
        Provider::Bland => bland_auth(headers, body, secrets.bland.as_deref().ok_or_else(missing)?),
        Provider::Generic => generic_auth(headers, body, secrets.generic.as_deref().ok_or_else(missing)?, now),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the lowercase or uppercase hex of `want`.
fn hex_matches(given: &str, want: &[u8]) -> bool {
    sign::constant_time_eq(given.to_ascii_lowercase().as_bytes(), hex(want).as_bytes())
}

/// Vapi sends its server credential one of three ways (docs.vapi.ai/server-url/server-authentication):
/// the legacy `X-Vapi-Secret` header, a bearer token (`Authorization: Bearer …`), or an HMAC
/// credential, which herald takes as hex HMAC-SHA256 of the body in `X-Vapi-Signature`.
fn vapi_auth(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), Refused> {
    let secret_header = header(headers, "x-vapi-secret");
    let bearer =
        header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let signature = header(headers, "x-vapi-signature");
    if secret_header.is_none() && bearer.is_none() && signature.is_none() {
        return Err(Refused::Unauthorized(
            "vapi: no X-Vapi-Secret, Authorization or X-Vapi-Signature header (set a credential on the Vapi server URL)".into(),
        ));
    }
    let same = |given: &str| sign::constant_time_eq(given.trim().as_bytes(), secret.as_bytes());
    let signed = |given: &str| {
        hex_matches(given.strip_prefix("sha256=").unwrap_or(given), &hmac_sha256(secret.as_bytes(), &[body]))
    };
    if secret_header.is_some_and(same) || bearer.is_some_and(same) || signature.is_some_and(signed) {
        return Ok(());
    }
    Err(Refused::Unauthorized("vapi: the credential does not match server.vapi_secret".into()))
}

/// `X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256 of body followed by ms>`, keyed with the API
/// key, as `verify` in Retell's SDKs (src/lib/webhook_auth.ts) computes it.
fn retell_auth(headers: &HeaderMap, body: &[u8], api_key: &str, now: DateTime<Utc>) -> Result<(), Refused> {
    let value = header(headers, "x-retell-signature")
        .ok_or_else(|| Refused::Unauthorized("retell: no X-Retell-Signature header".into()))?;
    let bad =
        || Refused::Unauthorized("retell: X-Retell-Signature is not of the form v=<timestamp>,d=<hex digest>".into());
    let (stamp, digest) = value.strip_prefix("v=").and_then(|rest| rest.split_once(",d=")).ok_or_else(bad)?;
    if stamp.is_empty() || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let millis: i64 = stamp.parse().map_err(|_| bad())?;
    if !hex_matches(digest, &hmac_sha256(api_key.as_bytes(), &[body, stamp.as_bytes()])) {
        return Err(Refused::Unauthorized(
            "retell: X-Retell-Signature does not match (signed with another API key, or the body was changed)".into(),
        ));
    }
    let off = now.timestamp_millis().saturating_sub(millis);
    if off.unsigned_abs() > (TOLERANCE_SECONDS * 1000) as u64 {
        return Err(Refused::Stale(format!(
            "retell: the signature's timestamp is {}s from now (more than {TOLERANCE_SECONDS}s)",
            off / 1000
        )));
    }
    Ok(())
}

/// `X-Webhook-Signature`: hex HMAC-SHA256 of the raw body with the webhook signing secret
/// (docs.bland.ai/tutorials/webhook-signing).
fn bland_auth(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), Refused> {
    let given = header(headers, "x-webhook-signature").ok_or_else(|| {
        Refused::Unauthorized("bland: no X-Webhook-Signature header (create a webhook signing secret at Bland)".into())
    })?;
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    if hex_matches(given, &hmac_sha256(secret.as_bytes(), &[body])) {
        Ok(())
    } else {
        Err(Refused::Unauthorized("bland: X-Webhook-Signature does not match server.bland_secret".into()))
    }
}

/// Standard Webhooks with `server.secret`: `webhook-id`, `webhook-timestamp` (seconds),
/// `webhook-signature: v1,<base64>`.
fn generic_auth(headers: &HeaderMap, body: &[u8], key: &[u8], now: DateTime<Utc>) -> Result<(), Refused> {
    let (Some(id), Some(stamp), Some(signature)) =
        (header(headers, "webhook-id"), header(headers, "webhook-timestamp"), header(headers, "webhook-signature"))
    else {
        return Err(Refused::Unauthorized(
            "generic: missing webhook-id, webhook-timestamp or webhook-signature header".into(),
        ));
    };
    let stamp: i64 = stamp
        .parse()
        .map_err(|_| Refused::Unauthorized("generic: webhook-timestamp is not a number of seconds".into()))?;
    if !sign::webhook_verify(key, id, stamp, body, signature) {
        return Err(Refused::Unauthorized("generic: no webhook-signature matches server.secret".into()));
    }
    let off = now.timestamp().saturating_sub(stamp);
    if off.unsigned_abs() > TOLERANCE_SECONDS as u64 {
        return Err(Refused::Stale(format!(
            "generic: webhook-timestamp is {off}s from now (more than {TOLERANCE_SECONDS}s)"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "calls_tests.rs"]
mod tests;
