//! The `webhook` kind: `POST url` with the rendered action as JSON, signed per Standard
//! Webhooks (`webhook-id` = the idempotency key, so a receiver drops a repeated delivery). The
//! path for AI calling providers through a relay; docs/channels.md shows Vapi, Retell, Bland.

use serde_json::json;

use super::transport::{Attempt, Try, excerpt, retry_after};
use crate::config::{ChannelConfig, Secret, Server, Webhook};
use crate::runtime::{Action, ActionKind};

pub struct WebhookTransport {
    client: reqwest::Client,
    url: Secret,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Secret)>,
    callback_url: Option<String>,
}

impl WebhookTransport {
    pub fn new(config: &ChannelConfig, webhook: &Webhook, server: Option<&Server>) -> Result<WebhookTransport, String> {
        let key = webhook.secret.as_ref().map(|s| super::sign::webhook_key(s.expose())).transpose()?;
        let client = super::http::client(config)?;
        let callback_url =
            server.and_then(|s| s.public_url.as_deref()).map(|u| format!("{}/calls/generic", u.trim_end_matches('/')));
        Ok(WebhookTransport { client, url: webhook.url.clone(), key, headers: webhook.headers.clone(), callback_url })
    }

    /// The body: the rendered action (docs/channels.md, "webhook").
    pub fn body(&self, action: &Action) -> Vec<u8> {
        let mut body = json!({
            "key": action.key,
            "campaign": action.campaign,
            "contact": action.contact,
            "step": action.step,
            "channel": action.channel,
            "kind": if action.kind == ActionKind::Call { "call" } else { "send" },
            "to": action.to,
            "attempt": action.attempt,
            "at": action.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        let text_key = if action.kind == ActionKind::Call { "prompt" } else { "text" };
        body[text_key] = json!(action.text);
        for (key, value) in [
            ("from", &action.from),
            ("subject", &action.subject),
            ("agent", &action.agent),
            ("variant", &action.variant),
        ] {
            if let Some(value) = value {
                body[key] = json!(value);
            }
        }
        if let Some(voicemail) = &action.voicemail {
            body["voicemail"] = json!(voicemail);
        }
        if let Some(seconds) = action.max_duration {
            body["max_duration"] = json!(seconds);
        }
        if let Some(url) = &self.callback_url {
            body["callback_url"] = json!(url);
        }
        body.to_string().into_bytes()
    }

    pub async fn attempt(&self, action: &Action, t: Try) -> Attempt {
        let body = self.body(action);
        let mut request = self.client.post(self.url.expose()).header("content-type", "application/json");
        if let Some(key) = &self.key {
            let timestamp = chrono::Utc::now().timestamp();
            let signature = super::sign::webhook_signature(key, &action.key, timestamp, &body);
            request = request
                .header("webhook-id", action.key.as_str())
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature);
        } else {
            request = request.header("webhook-id", action.key.as_str());
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(error) => return super::http::failed(&error),
        };
        let status = response.status();
        if status.is_success() {
            let text = super::http::body_start(response, super::http::ANSWER_LIMIT).await.unwrap_or_default();
            return Attempt::Accepted { id: provider_id(&text) };
        }
        // A receiver that already has this `webhook-id` from a try whose answer was lost.
        if status == reqwest::StatusCode::CONFLICT && t.maybe_sent {
            return Attempt::Accepted { id: None };
        }
        let wait = retry_after(response.headers().get("retry-after").and_then(|v| v.to_str().ok()));
        let text = super::http::body_start(response, super::http::ANSWER_LIMIT).await.unwrap_or_default();
        let reason = format!("HTTP {}: {}", status.as_u16(), excerpt(&text));
        if super::http::transient(status) {
            Attempt::Transient { reason, retry_after: wait, maybe_sent: true }
        } else {
            Attempt::refused(reason)
        }
    }

    /// A signed `ping` (an empty JSON object with a `ping_` id): the receiver should answer 2xx.
    pub async fn check(&self) -> Result<String, String> {
        let body = b"{\"type\":\"ping\"}".to_vec();
        let id = format!("ping_{}", chrono::Utc::now().timestamp_millis());
        let mut request = self.client.post(self.url.expose()).header("content-type", "application/json");
        if let Some(key) = &self.key {
            let timestamp = chrono::Utc::now().timestamp();
            request = request
                .header("webhook-id", id.as_str())
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", super::sign::webhook_signature(key, &id, timestamp, &body));
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => {
                Ok(format!("{} answered a signed ping with HTTP {}", self.url, response.status().as_u16()))
            }
            Ok(response) => {
                Err(format!("{} answered a signed ping with HTTP {}", self.url, response.status().as_u16()))
            }
            Err(error) => Err(format!("{} cannot be reached: {}", self.url, super::http::describe(&error))),
        }
    }
}

/// A provider's id for what it took, when its answer is JSON with `id` or `call_id`.
fn provider_id(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    ["id", "call_id"].iter().find_map(|k| value.get(*k).and_then(|v| v.as_str()).map(str::to_string))
}
