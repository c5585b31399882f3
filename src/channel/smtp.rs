//! The `smtp` kind: email over lettre, through a pool of connections as large as the channel's
//! `concurrency`. `smtp://` must upgrade with STARTTLS, `smtps://` is TLS from the first byte;
//! plain text (`?tls=none`) only to this machine. A 4xx reply or a lost connection is tried
//! again, a 5xx fails the action with the server's code and text (docs/channels.md, "smtp").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::mail::{Letter, Unsubscribe};
use super::transport::{Attempt, Try, excerpt};
use crate::config::{ChannelConfig, Server, Smtp};
use crate::runtime::Action;

type Mailer = AsyncSmtpTransport<Tokio1Executor>;

pub struct SmtpTransport {
    endpoint: Endpoint,
    builder: Box<AsyncSmtpTransportBuilder>,
    /// Built on first use (the pool starts a task, which needs the runtime), and again after a
    /// hand-over timed out: see `forget`.
    mailer: Mutex<Option<Arc<Mailer>>>,
    letter: Box<Letter>,
    timeout: Duration,
}

/// Where the channel connects, for messages (never the password).
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
    user: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Security {
    StartTls,
    Implicit,
    None,
}

impl Security {
    fn words(self) -> &'static str {
        match self {
            Security::StartTls => "STARTTLS",
            Security::Implicit => "TLS",
            Security::None => "no encryption",
        }
    }
}

impl SmtpTransport {
    pub fn new(config: &ChannelConfig, smtp: &Smtp, server: Option<&Server>) -> Result<SmtpTransport, String> {
        super::tls::install();
        let name = &config.name;
        let (endpoint, credentials) = parse_url(smtp.url.expose()).map_err(|e| format!("channel `{name}`: {e}"))?;
        let mut builder = Mailer::builder_dangerous(endpoint.host.as_str())
            .port(endpoint.port)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.concurrency.clamp(1, u32::MAX as usize) as u32));
        if endpoint.security != Security::None {
            let params = tls_parameters(&endpoint.host, smtp.ca_file.as_deref())
                .map_err(|e| format!("channel `{name}`: {e}"))?;
            builder = builder.tls(match endpoint.security {
                Security::Implicit => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        let letter = letter(smtp, server).map_err(|e| format!("channel `{name}`: {e}"))?;
        Ok(SmtpTransport {
            endpoint,
            builder: Box::new(builder),
            mailer: Mutex::new(None),
            letter: Box::new(letter),
            timeout: config.timeout,
        })
    }

    fn mailer(&self) -> Arc<Mailer> {
        let mut slot = self.mailer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert_with(|| Arc::new((*self.builder).clone().build())).clone()
    }

    /// A send cut short by the timeout leaves its connection mid-transaction, and lettre's pool
    /// would hand it out again (async lettre has no read timeout, so it would hang the next
    /// send too). The next hand-over gets a new pool; the old one closes when its sends end.
    fn forget(&self, mailer: &Arc<Mailer>) {
        let mut slot = self.mailer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.as_ref().is_some_and(|current| Arc::ptr_eq(current, mailer)) {
            *slot = None;
        }
    }

    pub async fn attempt(&self, action: &Action, _t: Try) -> Attempt {
        let message = match self.letter.message(action) {
            Ok(message) => message,
            Err(reason) => return Attempt::refused(reason),
        };
        let mailer = self.mailer();
        match tokio::time::timeout(self.timeout, mailer.send(message)).await {
            Ok(Ok(response)) => Attempt::Accepted { id: queue_id(&response) },
            Ok(Err(error)) => self.failed(&error),
            Err(_) => {
                self.forget(&mailer);
                Attempt::Transient {
                    reason: format!("{} did not answer within {:?}", self.where_(), self.timeout),
                    retry_after: None,
                    maybe_sent: true,
                }
            }
        }
    }

    /// Connects, greets, upgrades and logs in (lettre's `test_connection`: a NOOP on a
    /// connection of the pool), and says who answered; sends nothing.
    pub async fn check(&self) -> Result<String, String> {
        let login = match &self.endpoint.user {
            Some(user) => format!(", logged in as `{user}`"),
            None => String::new(),
        };
        let mailer = self.mailer();
        match tokio::time::timeout(self.timeout, mailer.test_connection()).await {
            Ok(Ok(true)) => Ok(format!("{} answered over {}{login}", self.where_(), self.endpoint.security.words())),
            Ok(Ok(false)) => Err(format!("{} took the connection but did not answer NOOP", self.where_())),
            Ok(Err(error)) => {
                let reason = match self.failed(&error) {
                    Attempt::Transient { reason, .. } | Attempt::Refused { reason, .. } => reason,
                    Attempt::Accepted { .. } => String::new(),
                };
                // 530/534/535/538: the server turned the login down (RFC 4954).
                let login =
                    error.status().is_some_and(|c| ["530", "534", "535", "538"].contains(&c.to_string().as_str()));
                Err(if login { format!("{} refused the login: {reason}", self.where_()) } else { reason })
            }
            Err(_) => {
                self.forget(&mailer);
                Err(format!("{} did not answer within {:?}", self.where_(), self.timeout))
            }
        }
    }

    fn where_(&self) -> String {
        format!("{}:{}", self.endpoint.host, self.endpoint.port)
    }

    /// A reply code decides: 4xx again later, 5xx never. Without one, a connection that was
    /// never made (or never secured) did not carry the message; one lost later may have.
    fn failed(&self, error: &lettre::transport::smtp::Error) -> Attempt {
        let (detail, tls) = root_cause(error);
        if let Some(code) = error.status() {
            let reason = format!("SMTP {code}: {detail}");
            return if error.is_permanent() {
                Attempt::refused(reason)
            } else {
                Attempt::Transient { reason, retry_after: None, maybe_sent: false }
            };
        }
        let at = self.where_();
        if tls || error.is_tls() {
            return Attempt::transient(format!(
                "{at}: the {} handshake failed: {detail}",
                self.endpoint.security.words()
            ));
        }
        if error.is_client() {
            return Attempt::refused(format!("{at}: {detail}"));
        }
        // lettre has no test for "could not connect"; its words for it are fixed.
        if error.to_string().starts_with("Connection error") {
            return Attempt::transient(format!("cannot connect to {at}: {detail}"));
        }
        let what = if error.is_timeout() { "timed out" } else { "the connection failed" };
        Attempt::Transient { reason: format!("{at}: {what}: {detail}"), retry_after: None, maybe_sent: true }
    }
}

/// The innermost cause in words, and whether it is TLS refusing the connection (a certificate
/// that does not verify, a failed handshake).
fn root_cause(error: &lettre::transport::smtp::Error) -> (String, bool) {
    let mut tls = false;
    let mut last = None;
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let io_inner = c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        tls |= c.is::<rustls::Error>() || io_inner.is_some_and(|inner| inner.is::<rustls::Error>());
        last = Some(c);
        cause = c.source();
    }
    (last.map(|c| excerpt(&c.to_string())).unwrap_or_default(), tls)
}

/// The queue id a server names in its `250` to DATA (`250 2.0.0 Ok: queued as 4F2A1`), if any.
fn queue_id(response: &lettre::transport::smtp::response::Response) -> Option<String> {
    let text = response.message().collect::<Vec<_>>().join(" ");
    let id = text.split_once("queued as ").map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default());
    id.filter(|id| !id.is_empty()).map(|id| id.trim_end_matches(['.', ')']).to_string())
}

fn letter(smtp: &Smtp, server: Option<&Server>) -> Result<Letter, String> {
    let from = smtp.from.parse().map_err(|e| format!("`from` `{}` is not an email address ({e})", smtp.from))?;
    let reply_to = match &smtp.reply_to {
        Some(r) => Some(r.parse().map_err(|e| format!("`reply_to` `{r}` is not an email address ({e})"))?),
        None => None,
    };
    let unsubscribe = match &smtp.unsubscribe {
        None => None,
        Some(base) => {
            let secret = server.and_then(|s| s.secret.as_ref()).ok_or(
                "`unsubscribe` needs `server.secret` in herald.yaml: each contact's unsubscribe link carries a token \
                 signed with it, which the server checks",
            )?;
            if !base.starts_with("https://") && !base.starts_with("http://") {
                return Err(format!("`unsubscribe` must be an http(s) URL, not `{base}`"));
            }
            Some(Unsubscribe {
                base: base.trim_end_matches('/').to_string(),
                secret: secret.expose().as_bytes().to_vec(),
            })
        }
    };
    Ok(Letter { from, reply_to, unsubscribe })
}

/// The endpoint and login of `smtp[s]://[user[:password]@]host[:port][?tls=none]`. The errors
/// never quote the URL: it holds the password.
fn parse_url(text: &str) -> Result<(Endpoint, Option<Credentials>), String> {
    let url = url::Url::parse(text).map_err(|e| format!("the url does not read ({e})"))?;
    let implicit = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => return Err(format!("the url's scheme is `{other}`; use smtp:// (STARTTLS) or smtps:// (TLS)")),
    };
    let (host, loopback) = match url.host() {
        // smtp is not a scheme the URL standard knows: its IP hosts come as text.
        Some(url::Host::Domain(d)) => match d.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            Ok(ip) => (ip.to_string(), ip.is_loopback()),
            Err(_) => (d.to_string(), d.eq_ignore_ascii_case("localhost")),
        },
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback()),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback()),
        None => return Err("the url has no host".into()),
    };
    if url.path().len() > 1 {
        return Err("the url has a path; write smtp://user:password@host:port".into());
    }
    let mut security = if implicit { Security::Implicit } else { Security::StartTls };
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "none") if !implicit && loopback => security = Security::None,
            ("tls", "none") if !implicit => {
                return Err(format!(
                    "`?tls=none` sends the password and mail in clear text: only allowed to this machine \
                     (127.0.0.1, localhost, ::1), not to `{host}`"
                ));
            }
            ("tls", other) => {
                return Err(format!("`tls={other}` is not a setting: smtp:// always uses STARTTLS, smtps:// TLS"));
            }
            (other, _) => return Err(format!("unknown url setting `{other}` (only `tls=none`, for loopback)")),
        }
    }
    let port = url.port().unwrap_or(if implicit { 465 } else { 587 });
    let decode = |s: &str, what: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the url's {what} is not UTF-8 once percent-decoded"))
    };
    let user = (!url.username().is_empty()).then(|| decode(url.username(), "user")).transpose()?;
    let credentials = match (&user, url.password()) {
        (Some(user), Some(password)) => Some(Credentials::new(user.clone(), decode(password, "password")?)),
        (Some(_), None) => return Err("the url has a user but no password".into()),
        (None, _) => None,
    };
    Ok((Endpoint { host, port, security, user }, credentials))
}

/// TLS for `host`, trusting the system's roots and those of `ca_file`.
fn tls_parameters(host: &str, ca_file: Option<&std::path::Path>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read `ca_file` {}: {e}", path.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|_| format!("`ca_file` {} holds no PEM certificate", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| format!("cannot set up TLS: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Result<Endpoint, String> {
        parse_url(url).map(|(e, _)| e)
    }

    #[test]
    fn urls_choose_the_security_and_port_and_keep_the_password_out_of_errors() {
        let e = endpoint("smtp://u:p%40ss@mail.example").unwrap();
        assert!(e.security == Security::StartTls && e.port == 587 && e.user.as_deref() == Some("u"));
        let e = endpoint("smtps://mail.example").unwrap();
        assert!(e.security == Security::Implicit && e.port == 465 && e.user.is_none());
        let e = endpoint("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert!(e.security == Security::None && e.port == 2525);
        assert!(endpoint("smtp://localhost:25?tls=none").is_ok());
        assert!(endpoint("smtp://[::1]:25?tls=none").is_ok());
        for (url, want) in [
            ("smtp://u:hunter2@mail.example?tls=none", "only allowed to this machine"),
            ("smtps://u:hunter2@127.0.0.1?tls=none", "is not a setting"),
            ("smtp://u:hunter2@mail.example?tls=opportunistic", "is not a setting"),
            ("smtp://u:hunter2@mail.example?helo=x", "unknown url setting `helo`"),
            ("http://u:hunter2@mail.example", "use smtp://"),
            ("smtp://u:hunter2@mail.example/x", "has a path"),
            ("smtp://u@mail.example", "no password"),
        ] {
            let error = endpoint(url).err().unwrap_or_default();
            assert!(error.contains(want), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
