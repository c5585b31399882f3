//! The `log` channel, the default for every channel without a configuration: one JSON line per
//! action, to stdout or an outbox file. It has no delivery reports: a message counts as `sent`
//! the moment it is taken; a call waits for its outcome (`herald ingest`).

use std::io::Write;

use serde_json::json;

use super::{Channel, ChannelError, Handed};
use crate::runtime::{Action, ActionKind, Input};

pub struct LogChannel<W: Write> {
    name: String,
    out: W,
}

impl<W: Write> LogChannel<W> {
    pub fn new(name: impl Into<String>, out: W) -> LogChannel<W> {
        LogChannel { name: name.into(), out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn fail(&self, action: &Action, error: &std::io::Error) -> ChannelError {
        ChannelError::Failed { channel: self.name.clone(), key: action.key.to_string(), reason: error.to_string() }
    }
}

/// One writer shared by several `log` channels (those of herald.yaml with no `outbox` of their
/// own write to stdout or `--outbox`).
#[derive(Clone)]
pub struct Shared(std::sync::Arc<std::sync::Mutex<Box<dyn Write + Send>>>);

impl Shared {
    pub fn new(out: Box<dyn Write + Send>) -> Shared {
        Shared(std::sync::Arc::new(std::sync::Mutex::new(out)))
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// The line for an action: `key`, `campaign`, `contact`, `step`, `channel`, `to`, `text` (or
/// `prompt` for calls), `at`, and the optional parts that are set.
pub fn line(action: &Action) -> serde_json::Value {
    let mut line = json!({
        "key": action.key,
        "campaign": action.campaign,
        "contact": action.contact,
        "step": action.step,
        "channel": action.channel,
        "to": action.to,
        "at": action.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "attempt": action.attempt,
    });
    let text_key = if action.kind == ActionKind::Call { "prompt" } else { "text" };
    line[text_key] = json!(action.text);
    for (key, value) in
        [("from", &action.from), ("subject", &action.subject), ("agent", &action.agent), ("variant", &action.variant)]
    {
        if let Some(value) = value {
            line[key] = json!(value);
        }
    }
    line
}

impl<W: Write> LogChannel<W> {
    pub fn deliver(&mut self, action: &Action) -> Result<(), ChannelError> {
        let mut text = line(action).to_string();
        text.push('\n');
        self.out.write_all(text.as_bytes()).map_err(|e| self.fail(action, &e))
    }

    pub fn flush(&mut self) -> Result<(), ChannelError> {
        self.out.flush().map_err(|e| ChannelError::Flush { channel: self.name.clone(), reason: e.to_string() })
    }
}

/// The rule every driver shares: a message handed to the `log` channel is `sent` at once.
pub fn answer_at_once(action: &Action) -> Option<Input> {
    (action.kind == ActionKind::Send).then(|| Input::Delivery { status: "sent".into() })
}

impl<W: Write> Channel for LogChannel<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn hand_over(&mut self, actions: &[Action]) -> Result<Handed, ChannelError> {
        for action in actions {
            self.deliver(action)?;
        }
        self.flush()?;
        Ok(Handed::Owned)
    }

    fn answer_at_once(&self, action: &Action) -> Option<Input> {
        answer_at_once(action)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn action(kind: ActionKind) -> Action {
        Action {
            key: "welcome/+14155550100/hello/1".into(),
            kind,
            campaign: "welcome".into(),
            contact: "+14155550100".into(),
            step: "hello".into(),
            attempt: 1,
            channel: "sms".into(),
            to: "+14155550100".into(),
            from: None,
            subject: None,
            text: "Hi \"Ann\"\nsee you".into(),
            agent: Some("assistant".into()),
            variant: None,
            at: Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap(),
            voicemail: None,
            max_duration: None,
            html: false,
        }
    }

    #[test]
    fn one_json_line_per_action_with_the_idempotency_key() {
        let mut channel = LogChannel::new("sms", Vec::new());
        channel.deliver(&action(ActionKind::Send)).unwrap();
        channel.deliver(&action(ActionKind::Call)).unwrap();
        channel.flush().unwrap();
        let text = String::from_utf8(channel.into_inner()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["key"], "welcome/+14155550100/hello/1");
        assert_eq!(lines[0]["text"], "Hi \"Ann\"\nsee you");
        assert_eq!(lines[0]["at"], "2026-12-01T14:00:00Z");
        assert_eq!(lines[0]["agent"], "assistant");
        assert!(lines[0].get("subject").is_none());
        assert_eq!(lines[1]["prompt"], "Hi \"Ann\"\nsee you");
        assert!(lines[1].get("text").is_none());
    }

    #[test]
    fn a_failing_writer_is_an_error_naming_the_action() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut channel = LogChannel::new("sms", Full);
        let error = channel.deliver(&action(ActionKind::Send)).unwrap_err().to_string();
        assert!(error.contains("welcome/+14155550100/hello/1") && error.contains("disk full"), "{error}");
    }

    #[test]
    fn a_failing_flush_names_no_empty_key() {
        struct Unflushable;
        impl Write for Unflushable {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("disk full"))
            }
        }
        let error = LogChannel::new("sms", Unflushable).flush().unwrap_err().to_string();
        assert_eq!(error, "channel `sms` could not make the actions it took durable: disk full");
    }
}
