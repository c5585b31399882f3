//! herald.yaml text -> `Config`, reporting every problem at its place: unknown keys and kinds
//! (with did-you-mean), a `${VAR}` the environment lacks, a secret written out in the file, a
//! rate that does not read, and campaign channels the file does not define.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::secret::{ExpandError, Secret, expand};
use super::*;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::source::SourceFile;
use crate::syntax::yaml::{self, Kind as Yaml, Node};
use crate::syntax::{Fields, Loader};

const TOP: &[&str] = &["channels", "server", "policy"];
const COMMON: &[&str] = &["kind", "rate", "concurrency", "timeout", "retry_for", "backoff"];
const LOG: &[&str] = &["outbox"];
const WEBHOOK: &[&str] = &["url", "secret", "headers"];
const TWILIO: &[&str] = &[
    "account_sid",
    "auth_token",
    "from",
    "messaging_service_sid",
    "whatsapp",
    "base_url",
    "status_callback",
    "voice_url",
    "twiml",
];
const SMTP: &[&str] = &["url", "from", "reply_to", "unsubscribe", "ca_file"];
const SERVER: &[&str] = &["listen", "public_url", "secret", "vapi_secret", "retell_api_key", "bland_secret"];

/// Default requests in flight per channel.
pub const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(15 * 60);
const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);

/// Loads a configuration; `base` is where relative paths (`outbox`) are taken from.
pub fn load(
    file: &SourceFile,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    diagnostics: &mut Diagnostics,
) -> Option<Config> {
    let root = match yaml::parse(file) {
        Ok(root) => root,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    let mut reader = Reader { loader: Loader { diagnostics }, env, base };
    let mut top = reader.loader.fields(&root, "herald.yaml")?;
    let channels_span = top.key_span("channels").unwrap_or(Span::at(0));
    let channels_node = top.take("channels");
    // As written: a channel left out for an error of its own is still one a cap may name.
    let written: Vec<String> = match channels_node.map(|n| &n.kind) {
        Some(Yaml::Map(entries)) => entries.iter().filter_map(|(k, _)| k.as_text()).collect(),
        _ => Vec::new(),
    };
    let channels = channels_node.map(|node| reader.channels(node)).unwrap_or_default();
    let server = top.take("server").and_then(|node| reader.server(node));
    let policy = top.take("policy").map(|node| super::policy::read(&mut reader.loader, node)).unwrap_or_default();
    let config = Config { channels, channels_span, server, policy };
    reader.loader.finish(top, TOP, "herald.yaml");
    frequency_channels(&config, &written, &mut reader.loader);
    Some(config)
}

/// A cap on a channel herald.yaml does not define would count nothing (with no `channels:`,
/// every channel is `log` and any name can be meant).
fn frequency_channels(config: &Config, written: &[String], loader: &mut Loader<'_>) {
    let Some(frequency) = &config.policy.frequency else { return };
    if written.is_empty() {
        return;
    }
    for (name, _) in &frequency.channels {
        if written.contains(&name.value) {
            continue;
        }
        let names = written.iter().map(String::as_str);
        loader.error(
            Diagnostic::error(
                "herald::config_channel_missing",
                format!("`policy.frequency.channels` caps `{}`, which herald.yaml does not define", name.value),
            )
            .label(name.span, "no such channel")
            .maybe_help(did_you_mean(&name.value, names)),
        );
    }
}

/// Every channel a campaign uses must be defined, and fit what the step does (a call on an
/// email channel cannot be placed). `used` is (campaign id, channel name, is a call step).
pub fn check_channels(config: &Config, used: &[(String, String, bool)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (campaign, name, is_call) in used {
        if !seen.insert((campaign.as_str(), name.as_str(), *is_call)) {
            continue;
        }
        let Some(channel) = config.channel(name) else {
            let names = config.channels.iter().map(|c| c.name.as_str());
            let help = did_you_mean(name, names)
                .unwrap_or_else(|| format!("add `{name}: {{ kind: log }}` (or its real kind) under `channels:`"));
            out.push(
                Diagnostic::error(
                    "herald::config_channel_missing",
                    format!("campaign `{campaign}` uses channel `{name}`, which herald.yaml does not define"),
                )
                .label(config.channels_span, "not among these channels")
                .help(help),
            );
            continue;
        };
        let refused = match (&channel.kind, is_call) {
            (super::Kind::Smtp(_), true) => Some("an `smtp` channel sends email; it cannot place a call"),
            (super::Kind::Twilio(t), true) if t.whatsapp => Some("a WhatsApp channel cannot place a call"),
            (super::Kind::Twilio(t), true) if t.voice_url.is_none() && t.twiml.is_none() => {
                Some("a `twilio` channel places calls only with `voice_url` or `twiml` set")
            }
            _ => None,
        };
        if let Some(reason) = refused {
            let what = if *is_call { "calls" } else { "sends" };
            out.push(
                Diagnostic::error(
                    "herald::config_channel_kind",
                    format!("campaign `{campaign}` {what} on channel `{name}`: {reason}"),
                )
                .label(channel.span, format!("`{name}` is a `{}` channel", channel.kind.word())),
            );
        }
    }
    out
}

struct Reader<'d, 'e> {
    loader: Loader<'d>,
    env: &'e dyn Fn(&str) -> Option<String>,
    base: &'e Path,
}

impl Reader<'_, '_> {
    fn channels(&mut self, node: &Node) -> Vec<ChannelConfig> {
        let Yaml::Map(entries) = &node.kind else {
            self.loader.wrong_type(node, "channels", "a map of channel names to settings");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_text() else {
                self.loader.wrong_type(key, "a channel name", "a name");
                continue;
            };
            if let Some(channel) = self.channel(&name, key.span.join(value.span), value) {
                out.push(channel);
            }
        }
        out
    }

    fn channel(&mut self, name: &str, span: Span, node: &Node) -> Option<ChannelConfig> {
        let what = format!("channels.{name}");
        let mut f = self.loader.fields(node, &what)?;
        let Some(kind_node) = f.take("kind") else {
            self.loader.error(
                Diagnostic::error("herald::config_kind", format!("channel `{name}` has no `kind`"))
                    .label(f.span, "here")
                    .help(format!("one of: {}", KINDS.join(", "))),
            );
            return None;
        };
        let kind_word = self.loader.text(Some(kind_node), &format!("{what}.kind"))?;
        let (kind, known) = match kind_word.value.as_str() {
            "log" => (self.log(&mut f, &what), LOG),
            "webhook" => (self.webhook(&mut f, &what), WEBHOOK),
            "twilio" => (self.twilio(&mut f, &what), TWILIO),
            "smtp" => (self.smtp(&mut f, &what), SMTP),
            other => {
                let help = did_you_mean(other, KINDS.iter().copied())
                    .unwrap_or_else(|| format!("one of: {}", KINDS.join(", ")));
                self.loader.error(
                    Diagnostic::error("herald::config_kind", format!("unknown channel kind `{other}`"))
                        .label(kind_word.span, "unknown kind")
                        .help(help),
                );
                return None;
            }
        };
        let rate = f.take("rate").and_then(|n| self.rate(n, &what));
        let concurrency = self.count(f.take("concurrency"), &format!("{what}.concurrency"), 10_000);
        let timeout = f.take("timeout").and_then(|n| self.duration(n, &format!("{what}.timeout")));
        let retry_for = f.take("retry_for").and_then(|n| self.duration(n, &format!("{what}.retry_for")));
        let backoff = f.take("backoff").and_then(|n| self.duration(n, &format!("{what}.backoff")));
        let all: Vec<&str> = COMMON.iter().chain(known).copied().collect();
        self.loader.finish(f, &all, &what);
        Some(ChannelConfig {
            name: name.to_string(),
            span,
            kind: kind?,
            rate,
            concurrency: concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            retry_for: retry_for.unwrap_or(DEFAULT_RETRY_FOR),
            backoff: backoff.unwrap_or(DEFAULT_BACKOFF),
        })
    }

    fn log(&mut self, f: &mut Fields<'_>, what: &str) -> Option<super::Kind> {
        let outbox = self.expanded(f.take("outbox"), &format!("{what}.outbox"));
        Some(super::Kind::Log { outbox: outbox.map(|o| self.base.join(PathBuf::from(o.value))) })
    }

    fn webhook(&mut self, f: &mut Fields<'_>, what: &str) -> Option<super::Kind> {
        let url = self.required(f, "url", what, false)?;
        let secret = f.take("secret").and_then(|n| self.secret(n, &format!("{what}.secret")));
        let mut headers = Vec::new();
        if let Some(node) = f.take("headers") {
            match &node.kind {
                Yaml::Map(entries) => {
                    for (key, value) in entries {
                        let Some(name) = key.as_text() else { continue };
                        if let Some(value) = self.value(value, &format!("{what}.headers.{name}"), false) {
                            headers.push((name, value));
                        }
                    }
                }
                _ => self.loader.wrong_type(node, &format!("{what}.headers"), "a map of header names to values"),
            }
        }
        if written_password(url.written()) {
            self.loader.error(
                Diagnostic::error("herald::config_secret", format!("`{what}.url` has its password written out"))
                    .label(f.span, "in this channel")
                    .help("write the password as ${WEBHOOK_PASSWORD}, or send a key in `headers` from ${…}"),
            );
            return None;
        }
        if !url.expose().starts_with("http://") && !url.expose().starts_with("https://") {
            self.loader.error(
                Diagnostic::error("herald::config_url", format!("`{what}.url` must start with http:// or https://"))
                    .label(f.span, "in this channel"),
            );
            return None;
        }
        Some(super::Kind::Webhook(Webhook { url, secret, headers }))
    }

    fn twilio(&mut self, f: &mut Fields<'_>, what: &str) -> Option<super::Kind> {
        let account_sid = self.required(f, "account_sid", what, false);
        let auth_token = self.required(f, "auth_token", what, true);
        let from = self.expanded(f.take("from"), &format!("{what}.from")).map(|t| t.value);
        let service = self.expanded(f.take("messaging_service_sid"), &format!("{what}.messaging_service_sid"));
        let whatsapp = match f.take("whatsapp") {
            Some(Node { kind: Yaml::Bool(b), .. }) => *b,
            Some(node) => {
                self.loader.wrong_type(node, &format!("{what}.whatsapp"), "true or false");
                false
            }
            None => false,
        };
        if from.is_none() && service.is_none() {
            self.loader.error(
                Diagnostic::error(
                    "herald::config_missing",
                    format!("`{what}` needs `from` or `messaging_service_sid`"),
                )
                .label(f.span, "in this channel"),
            );
        }
        let text = |r: &mut Self, key: &str, f: &mut Fields<'_>| {
            r.expanded(f.take(key), &format!("{what}.{key}")).map(|t| t.value)
        };
        let base_url = text(self, "base_url", f).unwrap_or_else(|| "https://api.twilio.com".to_string());
        let status_callback = text(self, "status_callback", f);
        let voice_url = text(self, "voice_url", f);
        let twiml = text(self, "twiml", f);
        Some(super::Kind::Twilio(Twilio {
            account_sid: account_sid?,
            auth_token: auth_token?,
            from,
            messaging_service_sid: service.map(|s| s.value),
            whatsapp,
            base_url: base_url.trim_end_matches('/').to_string(),
            status_callback,
            voice_url,
            twiml,
        }))
    }

    fn smtp(&mut self, f: &mut Fields<'_>, what: &str) -> Option<super::Kind> {
        let url = self.required(f, "url", what, false)?;
        let from = self.expanded(f.take("from"), &format!("{what}.from"));
        let reply_to = self.expanded(f.take("reply_to"), &format!("{what}.reply_to")).map(|t| t.value);
        let unsubscribe = self.expanded(f.take("unsubscribe"), &format!("{what}.unsubscribe")).map(|t| t.value);
        let ca_file = self.expanded(f.take("ca_file"), &format!("{what}.ca_file")).map(|t| self.base.join(t.value));
        let scheme_ok = url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://");
        let written_password = written_password(url.written()).then_some(true);
        if !scheme_ok {
            self.loader.error(
                Diagnostic::error("herald::config_url", format!("`{what}.url` must start with smtp:// or smtps://"))
                    .label(f.span, "in this channel")
                    .help("smtp:// uses STARTTLS, smtps:// implicit TLS"),
            );
        }
        if written_password == Some(true) {
            self.loader.error(
                Diagnostic::error("herald::config_secret", format!("`{what}.url` has its password written out"))
                    .label(f.span, "in this channel")
                    .help("write the password as ${SMTP_PASSWORD} and set that variable where herald runs"),
            );
        }
        let Some(from) = from else {
            self.loader.error(
                Diagnostic::error("herald::config_missing", format!("`{what}` needs `from`"))
                    .label(f.span, "in this channel")
                    .help("the sender, e.g. `from: \"Acme <hi@acme.example>\"`"),
            );
            return None;
        };
        (scheme_ok && written_password != Some(true)).then_some(super::Kind::Smtp(Smtp {
            url,
            from: from.value,
            reply_to,
            unsubscribe,
            ca_file,
        }))
    }

    fn server(&mut self, node: &Node) -> Option<Server> {
        let mut f = self.loader.fields(node, "server")?;
        let listen = self.expanded(f.take("listen"), "server.listen").map(|t| t.value);
        let public_url = self.expanded(f.take("public_url"), "server.public_url").map(|t| t.value);
        let secret = f.take("secret").and_then(|n| self.secret(n, "server.secret"));
        let vapi_secret = f.take("vapi_secret").and_then(|n| self.secret(n, "server.vapi_secret"));
        let retell_api_key = f.take("retell_api_key").and_then(|n| self.secret(n, "server.retell_api_key"));
        let bland_secret = f.take("bland_secret").and_then(|n| self.secret(n, "server.bland_secret"));
        self.loader.finish(f, SERVER, "server");
        Some(Server { listen, public_url, secret, vapi_secret, retell_api_key, bland_secret })
    }

    /// A key that must be there; `secret` ones must be written as `${VAR}`.
    fn required(&mut self, f: &mut Fields<'_>, key: &str, what: &str, secret: bool) -> Option<Secret> {
        let full = format!("{what}.{key}");
        match f.take(key) {
            Some(node) if secret => self.secret(node, &full),
            Some(node) => self.value(node, &full, false),
            None => {
                self.loader.error(
                    Diagnostic::error("herald::config_missing", format!("`{what}` needs `{key}`"))
                        .label(f.span, "in this channel"),
                );
                None
            }
        }
    }

    /// A plain setting that may use `${VAR}` too; its value is not secret (it may be shown).
    fn expanded(&mut self, node: Option<&Node>, what: &str) -> Option<crate::source::Spanned<String>> {
        let node = node?;
        let value = self.value(node, what, false)?;
        Some(crate::source::Spanned::new(value.expose().to_string(), node.span))
    }

    fn secret(&mut self, node: &Node, what: &str) -> Option<Secret> {
        self.value(node, what, true)
    }

    /// A string with its `${VAR}`s filled in; `secret` refuses a value written out in the file.
    fn value(&mut self, node: &Node, what: &str, secret: bool) -> Option<Secret> {
        let text = self.loader.text(Some(node), what)?;
        if secret && !text.value.contains("${") {
            self.loader.error(
                Diagnostic::error("herald::config_secret", format!("`{what}` is a secret written out in the file"))
                    .label(node.span, "write ${VARIABLE} here")
                    .help("secrets come from the environment: write `${NAME}` and set NAME where herald runs"),
            );
            return None;
        }
        match expand(&text.value, self.env) {
            Ok(secret) => Some(secret),
            Err(errors) => {
                for error in errors {
                    let diagnostic = match error {
                        ExpandError::Missing { name, .. } => Diagnostic::error(
                            "herald::config_env",
                            format!("environment variable `{name}` is not set (`{what}`)"),
                        )
                        .label(node.span, format!("needs ${{{name}}}"))
                        .help(format!("set {name} in the environment herald runs in")),
                        ExpandError::Malformed { .. } => Diagnostic::error(
                            "herald::config_env",
                            format!("`{what}` has a malformed `${{…}}` reference"),
                        )
                        .label(node.span, "here")
                        .help("write ${NAME} with letters, digits and _; $$ is a literal $"),
                    };
                    self.loader.error(diagnostic);
                }
                None
            }
        }
    }

    fn rate(&mut self, node: &Node, what: &str) -> Option<Rate> {
        let text = self.loader.text(Some(node), &format!("{what}.rate"))?;
        let rate = Rate::parse(&text.value);
        if rate.is_none() {
            self.loader.error(
                Diagnostic::error(
                    "herald::config_rate",
                    format!("`{what}.rate` must read like `10/s`, `600/m` or `100/h`"),
                )
                .label(node.span, "not a rate"),
            );
        }
        rate
    }

    fn count(&mut self, node: Option<&Node>, what: &str, max: i64) -> Option<usize> {
        let n = self.loader.int(node, what)?;
        if !(1..=max).contains(&n.value) {
            self.loader.error(
                Diagnostic::error("herald::config_number", format!("`{what}` must be between 1 and {max}"))
                    .label(n.span, "out of range"),
            );
            return None;
        }
        Some(n.value as usize)
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.loader.text(Some(node), what)?;
        let millis = text.value.strip_suffix("ms").and_then(|n| n.parse::<u64>().ok());
        if let Some(ms) = millis.filter(|ms| *ms > 0) {
            return Some(Duration::from_millis(ms));
        }
        match crate::expr::parse_duration(&text.value) {
            Some(d) if d > chrono::TimeDelta::zero() => d.to_std().ok(),
            _ => {
                self.loader.error(
                    Diagnostic::error(
                        "herald::config_duration",
                        format!("`{what}` must be a duration like `500ms`, `30s` or `1h`"),
                    )
                    .label(node.span, "not a duration"),
                );
                None
            }
        }
    }
}

/// Whether a URL as written carries a password that is not a `${VAR}`.
fn written_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _)) = authority.rsplit_once('@') else { return false };
    userinfo.split_once(':').is_some_and(|(_, password)| !password.is_empty() && !password.contains("${"))
}
