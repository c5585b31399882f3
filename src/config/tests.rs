use std::path::Path;

use super::*;
use crate::diagnostic::Diagnostics;
use crate::source::SourceFile;

fn env(name: &str) -> Option<String> {
    match name {
        "TWILIO_ACCOUNT_SID" => Some("AC0123456789abcdef0123456789abcdef".into()),
        "TWILIO_AUTH_TOKEN" => Some("tok-very-secret".into()),
        "VOICE_SECRET" => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()),
        "SMTP_PASSWORD" => Some("pw-very-secret".into()),
        _ => None,
    }
}

fn load_text(text: &str) -> (Option<Config>, Vec<String>) {
    let file = SourceFile::new("herald.yaml", text);
    let mut diagnostics = Diagnostics::default();
    let config = load(&file, Path::new("/cfg"), &env, &mut diagnostics);
    let messages = diagnostics.items.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
    (config, messages)
}

const FULL: &str = r#"
channels:
  sms:      { kind: twilio, account_sid: "${TWILIO_ACCOUNT_SID}", auth_token: "${TWILIO_AUTH_TOKEN}",
              from: "+14155550100", rate: 10/s }
  voice:    { kind: webhook, url: "https://agent.example/calls", secret: "${VOICE_SECRET}",
              rate: 2/s, concurrency: 20 }
  email:    { kind: smtp, url: "smtps://user:${SMTP_PASSWORD}@smtp.example.com",
              from: "Acme <hi@acme.example>", unsubscribe: "https://hooks.acme.example/u", ca_file: ca.pem }
  audit:    { kind: log, outbox: audit.jsonl }
server:     { listen: "127.0.0.1:8080", public_url: "https://hooks.acme.example", secret: "${VOICE_SECRET}" }
policy:     { quiet_hours: "21:00-08:00" }
"#;

#[test]
fn the_spec_example_loads_with_every_kind() {
    let (config, messages) = load_text(FULL);
    assert_eq!(messages, Vec::<String>::new());
    let config = config.unwrap();
    let kinds: Vec<_> = config.channels.iter().map(|c| (c.name.as_str(), c.kind.word())).collect();
    assert_eq!(kinds, [("sms", "twilio"), ("voice", "webhook"), ("email", "smtp"), ("audit", "log")]);
    let sms = config.channel("sms").unwrap();
    assert_eq!(sms.rate, Some(Rate { count: 10, per: std::time::Duration::from_secs(1) }));
    assert_eq!(config.channel("voice").unwrap().concurrency, 20);
    let Kind::Log { outbox } = &config.channel("audit").unwrap().kind else { panic!("not log") };
    assert_eq!(outbox.as_deref(), Some(Path::new("/cfg/audit.jsonl")));
    let Kind::Smtp(smtp) = &config.channel("email").unwrap().kind else { panic!("not smtp") };
    assert_eq!(smtp.url.expose(), "smtps://user:pw-very-secret@smtp.example.com");
    assert_eq!(smtp.ca_file.as_deref(), Some(Path::new("/cfg/ca.pem")));
    // No secret's value in any debug print of the whole configuration.
    let printed = format!("{config:?}");
    for secret in ["tok-very-secret", "pw-very-secret", "C2FVsBQIhrscChlQIMV"] {
        assert!(!printed.contains(secret), "{secret} leaked into {printed}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let (_, messages) = load_text(
        r#"
channels:
  sms:   { kind: twillio, from: "+1" }
  voice: { kind: webhook, url: "https://x.example", secret: "${NOT_SET}", rate: fast, concurency: 3 }
  email: { kind: smtp, url: "smtp://u:hunter2@mail.example", from: "a@b.example" }
  bare:  { kind: twilio, account_sid: AC1, auth_token: plain-token }
  hook:  { kind: webhook, url: "https://relay:pa55@relay.example/calls" }
serevr: {}
"#,
    );
    let want = [
        "herald::config_kind: unknown channel kind `twillio`",
        "herald::config_env: environment variable `NOT_SET` is not set (`channels.voice.secret`)",
        "herald::config_rate: `channels.voice.rate` must read like `10/s`, `600/m` or `100/h`",
        "herald::unknown_key: unknown key `concurency` in channels.voice",
        "herald::config_secret: `channels.email.url` has its password written out",
        "herald::config_secret: `channels.bare.auth_token` is a secret written out in the file",
        "herald::config_missing: `channels.bare` needs `from` or `messaging_service_sid`",
        "herald::config_secret: `channels.hook.url` has its password written out",
        "herald::unknown_key: unknown key `serevr` in herald.yaml",
    ];
    for w in want {
        assert!(messages.iter().any(|m| m == w), "missing {w:?} in {messages:#?}");
    }
    assert_eq!(messages.len(), want.len(), "{messages:#?}");
}

#[test]
fn campaign_channels_must_be_defined_and_fit_the_step() {
    let (config, _) = load_text(FULL);
    let config = config.unwrap();
    let used = [
        ("welcome".to_string(), "sms".to_string(), false),
        ("welcome".to_string(), "emial".to_string(), false),
        ("welcome".to_string(), "email".to_string(), true),
        ("welcome".to_string(), "voice".to_string(), true),
    ];
    let problems = check_channels(&config, &used);
    let messages: Vec<_> = problems.iter().map(|d| (d.message.clone(), d.help.clone())).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[0].0, "campaign `welcome` uses channel `emial`, which herald.yaml does not define");
    assert_eq!(messages[0].1.as_deref(), Some("did you mean `email`?"));
    assert!(messages[1].0.contains("cannot place a call"), "{messages:#?}");
}

#[test]
fn rates_read_per_second_minute_and_hour() {
    assert_eq!(Rate::parse("100/s").unwrap().interval(), std::time::Duration::from_millis(10));
    assert_eq!(Rate::parse("60/m").unwrap().interval(), std::time::Duration::from_secs(1));
    assert_eq!(Rate::parse("2/h").unwrap().interval(), std::time::Duration::from_secs(1800));
    for bad in ["0/s", "x/s", "10", "10/d", "-1/s"] {
        assert_eq!(Rate::parse(bad), None, "{bad}");
    }
}
