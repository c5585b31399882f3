//! The `smtp` channel against a real SMTP server (aiosmtpd, tests/it/smtp_server.py) on
//! 127.0.0.1: STARTTLS or TLS on a certificate made here, signed by a CA the channel is told to
//! trust (`ca_file`), AUTH with a percent-encoded password, and the messages it received read
//! back: headers, parts, Message-ID from the key, one-click unsubscribe; a 451 retried into one
//! delivery, a 550 failing the message so the campaign's route sees it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald::store::Store;

use crate::herald::Herald;
use crate::support::setup;

const PASSWORD: &str = "p@ss w0rd";
/// The password as the URL carries it (and so as the environment gives it).
const PASSWORD_IN_URL: &str = "p%40ss%20w0rd";
const SECRET: &str = "unsubscribe-secret-for-tests";

/// The test SMTP server: killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl SmtpServer {
    fn start(dir: &Path, extra: &[&str]) -> SmtpServer {
        let out = dir.join("received");
        std::fs::create_dir_all(&out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--cert", "server.pem", "--key", "server.key", "--user", "herald", "--password", PASSWORD])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("smtp_server.log")).unwrap())
            .spawn()
            .expect("python3 runs (aiosmtpd: python3 -m pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok());
        let Some(port) = port else {
            child.kill().ok();
            panic!("the SMTP server did not start (is aiosmtpd installed?): {line:?}");
        };
        SmtpServer { child, port, out }
    }

    /// The messages it accepted, in order: (raw message, envelope recipients).
    fn received(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for n in 1.. {
            let Ok(eml) = std::fs::read_to_string(self.out.join(format!("{n}.eml"))) else { break };
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(self.out.join(format!("{n}.json"))).unwrap()).unwrap();
            let rcpt = meta["rcpt_tos"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
            out.push((eml.replace("\r\n", "\n"), rcpt));
        }
        out
    }

    fn attempts(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.out.join("attempts.log")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }
}

/// A CA (ca.pem, for the channel's `ca_file`) and a certificate it signed for 127.0.0.1.
fn certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "herald test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), leaf_key.serialize_pem()).unwrap();
}

const CAMPAIGN: &str = "\
id: winback
channel: email
contacts:
  key: email
steps:
  - id: offer
    send:
      subject: \"We miss you, {{ contact.name }}\"
      template: offer.html
    routes:
      - if: message.status == \"failed\"
        goto: fallback
  - id: done
    exit: mailed
  - id: fallback
    send: { channel: audit, text: \"email to {{ contact.name }} failed\" }
";

const PAGE: &str = "<html><head><title>Offer</title></head><body><p>Hi {{ contact.name }},</p>\
<p>See <a href=\"https://acme.example/offer\">our offer</a> &amp; more.</p></body></html>\n";

const CONTACTS: &str = "email,name\nann@example.com,Ann <3\nbo@example.com,Bo\nnobody@example.com,Nobody\n";

fn config(port: u16, scheme: &str) -> String {
    format!(
        "channels:\n  \
         email: {{ kind: smtp, url: \"{scheme}://herald:${{SMTP_PASSWORD}}@127.0.0.1:{port}\", \
         from: \"Acme <hi@acme.example>\", reply_to: help@acme.example, \
         unsubscribe: \"https://hooks.acme.example/u/\", ca_file: ca.pem, \
         timeout: 2s, backoff: 100ms, retry_for: 20s, concurrency: 2 }}\n  \
         audit: {{ kind: log, outbox: audit.jsonl }}\n\
         server: {{ secret: \"${{HERALD_SECRET}}\" }}\n"
    )
}

fn run(dir: &Path) -> crate::herald::Out {
    Herald::new()
        .dir(dir)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--config", "herald.yaml", "--db", "h.redb"])
        .env("SMTP_PASSWORD", PASSWORD_IN_URL)
        .env("HERALD_SECRET", SECRET)
        .timeout(Duration::from_secs(60))
        .run()
}

fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    eml.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(prefix.as_str()))
}

#[test]
fn starttls_delivers_each_message_once_through_a_451_and_a_550_fails_the_message() {
    let dir = setup(&[("c.yaml", CAMPAIGN), ("offer.html", PAGE), ("c.csv", CONTACTS)]);
    let d = dir.path();
    certificates(d);
    let server = SmtpServer::start(d, &["--fail-first", "1", "--reject", "nobody@"]);
    std::fs::write(d.join("herald.yaml"), config(server.port, "smtp")).unwrap();
    let out = run(d);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);

    let received = server.received();
    let to: Vec<&str> = received.iter().map(|(_, rcpt)| rcpt[0].as_str()).collect();
    let mut sorted = to.clone();
    sorted.sort();
    assert_eq!(sorted, ["ann@example.com", "bo@example.com"], "each delivered once: {:?}", server.attempts());
    // Every message was refused once (451) and taken on the next try, with the same Message-ID.
    let attempts = server.attempts();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    for (eml, rcpt) in &received {
        let id = header(eml, "Message-ID").expect("a Message-ID");
        assert!(attempts.contains(&format!("451 {id}")) && attempts.contains(&format!("250 {id}")), "{attempts:?}");
        let contact = rcpt[0].as_str();
        let key = format!("winback/{contact}/offer/1");
        let want_id = herald::channel::mail::message_id(&key, "acme.example");
        assert_eq!(id, want_id, "the Message-ID is made from the idempotency key {key}");
        assert_eq!(header(eml, "From"), Some("Acme <hi@acme.example>"));
        assert_eq!(header(eml, "To"), Some(contact));
        assert_eq!(header(eml, "Reply-To"), Some("help@acme.example"));
        let token = herald::channel::sign::unsubscribe_token(SECRET.as_bytes(), "winback", contact);
        assert_eq!(header(eml, "List-Unsubscribe"), Some(format!("<https://hooks.acme.example/u/{token}>").as_str()));
        assert_eq!(header(eml, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
        assert!(header(eml, "Content-Type").is_some_and(|c| c.starts_with("multipart/alternative")), "{eml}");
        let plain = eml.find("Content-Type: text/plain").expect("a plain part");
        let html = eml.find("Content-Type: text/html").expect("an html part");
        assert!(plain < html, "{eml}");
    }
    let ann = &received.iter().find(|(_, r)| r[0] == "ann@example.com").unwrap().0;
    assert_eq!(header(ann, "Subject"), Some("We miss you, Ann <3"));
    assert!(ann.contains("Hi Ann &lt;3,"), "the HTML part is escaped: {ann}");
    assert!(ann.contains("Hi Ann <3,\n\nSee our offer (https://acme.example/offer) & more."), "{ann}");

    // The 550 failed the message; the route sent the fallback, and the reason is in the history.
    let audit = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 1, "{audit}");
    assert!(audit.contains("email to Nobody failed"), "{audit}");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = format!("{:?}", store.history("winback", "nobody@example.com").unwrap());
    assert!(history.contains("SMTP 550") && history.contains("no such user"), "{history}");
    // No secret in anything herald wrote.
    drop(store);
    let db = String::from_utf8_lossy(&std::fs::read(d.join("h.redb")).unwrap()).into_owned();
    let written = format!("{}{}{audit}{history}{db}", out.stdout, out.stderr);
    for secret in [PASSWORD, PASSWORD_IN_URL, SECRET] {
        assert!(!written.contains(secret), "{secret} leaked: {written}");
    }
}

#[test]
fn implicit_tls_delivers_a_plain_text_message() {
    let campaign = "\
id: note
channel: email
contacts:
  key: email
steps:
  - id: hello
    send: { subject: \"Hello\", text: \"Hi {{ contact.name }} <3\" }
";
    let dir = setup(&[("c.yaml", campaign), ("c.csv", "email,name\nann@example.com,Ann\n")]);
    let d = dir.path();
    certificates(d);
    let server = SmtpServer::start(d, &["--implicit"]);
    std::fs::write(d.join("herald.yaml"), config(server.port, "smtps")).unwrap();
    let out = run(d);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let received = server.received();
    assert_eq!(received.len(), 1, "{:?}", server.attempts());
    let eml = &received[0].0;
    assert_eq!(header(eml, "Subject"), Some("Hello"));
    assert_eq!(header(eml, "Content-Type"), Some("text/plain; charset=utf-8"));
    assert!(eml.trim_end().ends_with("Hi Ann <3"), "{eml}");
    let id = herald::channel::mail::message_id("note/ann@example.com/hello/1", "acme.example");
    assert_eq!(header(eml, "Message-ID"), Some(id.as_str()));
}

#[test]
fn a_certificate_the_channel_does_not_trust_is_retried_not_sent() {
    let campaign = "\
id: note
channel: email
contacts:
  key: email
steps:
  - id: hello
    send: { subject: \"Hello\", text: \"Hi\" }
";
    let dir = setup(&[("c.yaml", campaign), ("c.csv", "email\nann@example.com\n")]);
    let d = dir.path();
    certificates(d);
    let server = SmtpServer::start(d, &[]);
    // Another CA in ca_file: the server's certificate is not trusted.
    let other = tempfile::tempdir().unwrap();
    certificates(other.path());
    std::fs::copy(other.path().join("ca.pem"), d.join("ca.pem")).unwrap();
    let yaml = config(server.port, "smtp").replace("retry_for: 20s", "retry_for: 1s");
    std::fs::write(d.join("herald.yaml"), yaml).unwrap();
    let out = run(d);
    assert!(server.received().is_empty());
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = format!("{:?}", store.history("note", "ann@example.com").unwrap());
    assert!(history.contains("the STARTTLS handshake failed: invalid peer certificate"), "{history}\n{}", out.stderr);
    assert!(history.contains("gave up after"), "retried until retry_for ran out: {history}");
}

/// The channel `email` of `yaml` as built for `run`, or why it cannot be built.
fn transport(dir: &Path, yaml: &str, password: &str) -> Result<herald::channel::transport::Transport, String> {
    let file = herald::source::SourceFile::new("herald.yaml", yaml);
    let env = |name: &str| match name {
        "SMTP_PASSWORD" => Some(password.to_string()),
        "HERALD_SECRET" => Some(SECRET.to_string()),
        _ => None,
    };
    let mut diagnostics = herald::diagnostic::Diagnostics::default();
    let config = herald::config::load(&file, dir, &env, &mut diagnostics).expect("herald.yaml loads");
    let channel = config.channel("email").expect("an email channel");
    herald::channel::transport::Transport::build(channel, config.server.as_ref()).map(|t| t.expect("not log"))
}

#[test]
fn check_logs_in_without_sending_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let server = SmtpServer::start(d, &[]);
    let yaml = config(server.port, "smtp");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ok = runtime.block_on(async { transport(d, &yaml, PASSWORD_IN_URL).unwrap().check().await });
    assert_eq!(ok, Ok(format!("127.0.0.1:{} answered over STARTTLS, logged in as `herald`", server.port)));
    let wrong = runtime.block_on(async { transport(d, &yaml, "hunter2").unwrap().check().await });
    let error = wrong.unwrap_err();
    let want = format!("127.0.0.1:{} refused the login: SMTP 535", server.port);
    assert!(error.starts_with(&want), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    // The command prints it, one line per channel.
    std::fs::write(d.join("herald.yaml"), &yaml).unwrap();
    let out = Herald::new()
        .dir(d)
        .args(["channels", "check", "--config", "herald.yaml"])
        .env("SMTP_PASSWORD", PASSWORD_IN_URL)
        .env("HERALD_SECRET", SECRET)
        .timeout(Duration::from_secs(30))
        .run();
    let line = format!("ok    email (smtp): 127.0.0.1:{} answered over STARTTLS, logged in as `herald`", server.port);
    assert!(out.status.success() && out.stdout.contains(&line), "{}\n{}", out.stdout, out.stderr);
    assert!(server.received().is_empty(), "a check sends nothing");
}

#[test]
fn a_channel_that_cannot_be_safe_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let no_secret = config(2525, "smtp").replace("server: { secret: \"${HERALD_SECRET}\" }\n", "");
    let error = transport(d, &no_secret, PASSWORD_IN_URL).err().unwrap_or_default();
    assert!(error.contains("`unsubscribe` needs `server.secret`"), "{error}");
    let clear = config(2525, "smtp").replace("@127.0.0.1:2525\"", "@mail.example:2525?tls=none\"");
    let error = transport(d, &clear, PASSWORD_IN_URL).err().unwrap_or_default();
    assert!(error.contains("`?tls=none`") && error.contains("not to `mail.example`"), "{error}");
    assert!(!error.contains(PASSWORD_IN_URL) && !error.contains(PASSWORD), "{error}");
    // Through the binary: `run` refuses to start and says why.
    std::fs::write(d.join("herald.yaml"), &no_secret).unwrap();
    std::fs::write(d.join("c.yaml"), CAMPAIGN).unwrap();
    std::fs::write(d.join("offer.html"), PAGE).unwrap();
    std::fs::write(d.join("c.csv"), CONTACTS).unwrap();
    let out = run(d);
    assert!(!out.status.success());
    assert!(out.stderr.contains("`unsubscribe` needs `server.secret`"), "{}", out.stderr);
}

#[test]
fn a_server_slower_than_the_timeout_gets_each_message_again_under_the_same_message_id() {
    let campaign = "\
id: note
channel: email
contacts:
  key: email
steps:
  - id: hello
    send: { subject: \"Hello\", text: \"Hi {{ contact.name }}\" }
";
    let contacts = "email,name\nann@example.com,Ann\nbo@example.com,Bo\ncy@example.com,Cy\n";
    let dir = setup(&[("c.yaml", campaign), ("c.csv", contacts)]);
    let d = dir.path();
    certificates(d);
    // The first DATA of each message is answered after 3 s, past the channel's 2 s timeout.
    let server = SmtpServer::start(d, &["--slow-first", "3"]);
    std::fs::write(d.join("herald.yaml"), config(server.port, "smtp")).unwrap();
    let out = run(d);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let mut copies = std::collections::BTreeMap::new();
    for (eml, _) in server.received() {
        *copies.entry(header(&eml, "Message-ID").unwrap().to_string()).or_insert(0) += 1;
    }
    let want: std::collections::BTreeSet<String> = ["ann", "bo", "cy"]
        .iter()
        .map(|who| herald::channel::mail::message_id(&format!("note/{who}@example.com/hello/1"), "acme.example"))
        .collect();
    // Nothing lost, nothing under another id; a copy the slow server took late is the same message.
    assert_eq!(copies.keys().cloned().collect::<std::collections::BTreeSet<_>>(), want, "{:?}", server.attempts());
    assert!(copies.values().all(|n| (1..=2).contains(n)), "{copies:?}");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = format!("{:?}", store.history("note", "ann@example.com").unwrap());
    assert!(history.contains("Outcome { status: \"sent\" }"), "{history}");
}
