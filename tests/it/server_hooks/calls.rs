//! `POST /calls/{vapi,retell,bland,generic}` against the real binary: leads whose call went to a
//! `webhook` channel (the local receiver) wait for its outcome; each provider's recorded report
//! (tests/fixtures/providers/), with its `herald_key` made the real action key and signed with
//! that provider's scheme, settles the call once and routes the lead, keeping the summary,
//! transcript and recording in its history.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use super::{PUBLIC_URL, count, lead, wait_for};
use crate::channels::SECRET as HOOK_SECRET;
use crate::live::{Answer, Live};
use crate::receiver::Receiver;
use herald::runtime::{Event, LeadStatus};

const VAPI_SECRET: &str = "vapi-3c1e9a";
const RETELL_API_KEY: &str = "key_5b2d7f0e8a";
const BLAND_SECRET: &str = "bland-whs-91c4";

const QUALIFY: &str = "\
id: qualify
channel: voice
contacts: { key: phone }
vars: [confirmed, slot]
steps:
  - id: qualify_call
    call: { prompt: \"Ask {{ contact.name }} about the demo\" }
    routes:
      - if: call.status == \"voicemail\"
        goto: voicemail_sms
      - if: call.status == \"answered\" and vars.confirmed == true
        goto: booked
      - if: call.status == \"answered\"
        goto: talked
      - else: missed
  - id: voicemail_sms
    send: { channel: sms, text: \"Sorry we missed you, {{ contact.name }}\" }
    next: end
  - id: booked
    exit: booked
  - id: talked
    exit: talked
  - id: missed
    exit: missed
";

/// The key the fixtures carry, made the real one.
const FIXTURE_KEY: &str = "demo/+14155550111/qualify_call/1";

fn key(contact: &str) -> String {
    format!("qualify/{contact}/qualify_call/1")
}

/// A recorded report with its herald_key set to `key`.
fn fixture(name: &str, key: &str) -> String {
    let path = format!("{}/tests/fixtures/providers/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(text.contains(FIXTURE_KEY), "{name} has no herald_key to rewrite");
    text.replace(FIXTURE_KEY, key)
}

fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers `provider` signs `body` with, under `secret` (the provider's own, or for
/// `generic` a Standard Webhooks `whsec_` secret, with `id` as the webhook-id).
fn signature(provider: &str, secret: &str, id: &str, body: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![("content-type", "application/json".to_string())];
    match provider {
        "vapi" => headers.push(("x-vapi-secret", secret.to_string())),
        "retell" => {
            let ms = chrono::Utc::now().timestamp_millis().to_string();
            let digest = hmac_hex(secret, &[body.as_bytes(), ms.as_bytes()]);
            headers.push(("x-retell-signature", format!("v={ms},d={digest}")));
        }
        "bland" => headers.push(("x-webhook-signature", hmac_hex(secret, &[body.as_bytes()]))),
        _ => {
            let key = herald::channel::sign::webhook_key(secret).unwrap();
            let now = chrono::Utc::now().timestamp();
            let signature = herald::channel::sign::webhook_signature(&key, id, now, body.as_bytes());
            headers.extend([
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", signature),
            ]);
        }
    }
    headers
}

fn secret(provider: &str) -> &'static str {
    match provider {
        "vapi" => VAPI_SECRET,
        "retell" => RETELL_API_KEY,
        "bland" => BLAND_SECRET,
        _ => crate::live::SECRET,
    }
}

/// `POST /calls/<provider>` of `body`, signed as that provider signs with `secret`.
fn post(live: &Live, provider: &str, secret: &str, id: &str, body: &str) -> Answer {
    let headers = signature(provider, secret, id, body);
    live.request("POST", &format!("/calls/{provider}"), &headers, body.as_bytes())
}

fn status_of(answer: &Answer) -> (u16, String) {
    (answer.status, answer.json()["status"].as_str().unwrap_or_default().to_string())
}

fn folder(receiver: &Receiver) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("qualify.yaml"), QUALIFY).unwrap();
    let mut csv = String::from("phone,name\n");
    for (i, name) in ["Ann", "Ben", "Cat", "Dan", "Eve"].iter().enumerate() {
        csv.push_str(&format!("+1415555011{},{name}\n", i + 1));
    }
    std::fs::write(d.join("c.csv"), csv).unwrap();
    let config = format!(
        "channels:
  voice: {{ kind: webhook, url: \"{}\", secret: \"${{HOOK_SECRET}}\", timeout: 2s, backoff: 100ms }}
  sms: {{ kind: log, outbox: out.jsonl }}
server:
  secret: \"${{HERALD_SECRET}}\"
  public_url: \"{PUBLIC_URL}\"
  vapi_secret: \"${{VAPI_SECRET}}\"
  retell_api_key: \"${{RETELL_API_KEY}}\"
  bland_secret: \"${{BLAND_SECRET}}\"
",
        receiver.url
    );
    std::fs::write(d.join("herald.yaml"), config).unwrap();
    dir
}

const ENV: &[(&str, &str)] = &[
    ("HOOK_SECRET", HOOK_SECRET),
    ("VAPI_SECRET", VAPI_SECRET),
    ("RETELL_API_KEY", RETELL_API_KEY),
    ("BLAND_SECRET", BLAND_SECRET),
];

#[test]
fn ai_call_reports_settle_the_call_once_route_the_lead_and_keep_the_report() {
    let receiver = Receiver::start(HOOK_SECRET, &[]);
    let dir = folder(&receiver);
    let d = dir.path();
    let args = ["run", "qualify.yaml", "--contacts", "c.csv", "--db", "h.redb", "--config", "herald.yaml"];
    let live = Live::start_with(d, &args, ENV);
    wait_for(&live, "qualify", "in_progress", 5);
    let handed = receiver.requests();
    let first = handed.iter().find(|r| r.id == key("+14155550111")).expect("the call was handed over");
    assert_eq!(first.body["callback_url"], format!("{PUBLIC_URL}/calls/generic"));

    // One report per provider, each for its own lead.
    let reports = [
        ("vapi", "vapi_voicemail.json", "+14155550111"),
        ("retell", "retell_end_of_call.json", "+14155550112"),
        ("bland", "bland_end_of_call.json", "+14155550113"),
        ("generic", "generic_report.json", "+14155550114"),
    ];
    for (provider, file, contact) in reports {
        let body = fixture(file, &key(contact));
        let a = post(&live, provider, secret(provider), &format!("msg_{provider}"), &body);
        assert_eq!(status_of(&a), (200, "applied".into()), "{provider}: {a:?}");
    }
    // Sent again (Vapi's retry; the relay's, under a new webhook-id): the same call, once.
    let vapi = fixture("vapi_voicemail.json", &key("+14155550111"));
    assert_eq!(status_of(&post(&live, "vapi", VAPI_SECRET, "", &vapi)), (200, "duplicate".into()));
    let generic = fixture("generic_report.json", &key("+14155550114"));
    let a = post(&live, "generic", crate::live::SECRET, "msg_generic_again", &generic);
    assert_eq!(status_of(&a), (200, "duplicate".into()), "{a:?}");

    // Eve's report under a wrong secret, each provider: 401, nothing applied.
    let wrong = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    for (provider, file) in reports.iter().map(|(p, f, _)| (*p, *f)) {
        let body = fixture(file, &key("+14155550115"));
        let secret = if provider == "generic" { wrong } else { "not-the-secret" };
        let a = post(&live, provider, secret, "msg_forged", &body);
        assert_eq!(a.status, 401, "{provider}: {a:?}");
        assert!(a.json()["error"].as_str().is_some_and(|e| e.starts_with(provider)), "{provider}: {a:?}");
    }
    // Unsigned: 401.
    let unsigned = live.request("POST", "/calls/vapi", &[], vapi.as_bytes());
    assert_eq!(unsigned.status, 401, "{unsigned:?}");

    // A message of another kind: 200 `ignored`; a report for no campaign: 404.
    let update = fixture("vapi_status_update.json", &key("+14155550115"));
    assert_eq!(status_of(&post(&live, "vapi", VAPI_SECRET, "", &update)), (200, "ignored".into()));
    let started = fixture("retell_call_started.json", &key("+14155550115"));
    assert_eq!(status_of(&post(&live, "retell", RETELL_API_KEY, "", &started)), (200, "ignored".into()));
    let elsewhere = fixture("generic_report.json", "nope/+14155550115/qualify_call/1").replace("relay-", "other-");
    let a = post(&live, "generic", crate::live::SECRET, "msg_nope", &elsewhere);
    assert_eq!(a.status, 404, "{a:?}");
    assert!(a.json()["error"].as_str().unwrap().contains("unknown campaign `nope`"), "{a:?}");
    assert_eq!(live.request("POST", "/calls/twilio", &[], b"{}").status, 404);

    let metrics = live.get("/metrics").body;
    for (endpoint, result, n) in [
        ("calls/vapi", "applied", 1),
        ("calls/vapi", "duplicate", 1),
        ("calls/vapi", "unauthorized", 2),
        ("calls/vapi", "ignored", 1),
        ("calls/generic", "duplicate", 1),
        ("calls/generic", "not_found", 1),
        ("calls/bland", "unauthorized", 1),
    ] {
        let line = format!("herald_events_total{{endpoint=\"{endpoint}\",result=\"{result}\"}} {n}\n");
        assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    }

    wait_for(&live, "qualify", "completed", 1);
    wait_for(&live, "qualify", "exited", 3);
    assert_eq!(live.stop(), Some(0));
    assert_leads(d);
}

/// What the reports left in each lead.
fn assert_leads(d: &std::path::Path) {
    let db = d.join("h.redb");
    let call_reports = |history: &[herald::runtime::Record]| {
        history
            .iter()
            .filter_map(|r| match &r.event {
                Event::CallReport { summary, transcript, recording_url } => Some((
                    summary.as_deref().map(str::to_string),
                    transcript.as_deref().map(str::to_string),
                    recording_url.as_deref().map(str::to_string),
                )),
                _ => None,
            })
            .collect::<Vec<_>>()
    };

    // Vapi: voicemail, so the SMS step; the report once.
    let (ann, history) = lead(&db, "qualify", "+14155550111");
    assert_eq!(ann.status, LeadStatus::Completed, "{history:#?}");
    assert_eq!(ann.call.as_ref().and_then(|c| c.status.as_deref()), Some("voicemail"));
    assert_eq!(ann.call.as_ref().and_then(|c| c.duration), Some(9.5));
    let reports = call_reports(&history);
    assert_eq!(reports.len(), 1, "{history:#?}");
    assert_eq!(reports[0].0.as_deref(), Some("Reached voicemail; left no message."));
    assert!(reports[0].1.as_deref().is_some_and(|t| t.contains("You have reached Ann")), "{reports:?}");
    assert_eq!(reports[0].2.as_deref(), Some("https://storage.vapi.ai/7a1c-mono.wav"));
    let outbox = std::fs::read_to_string(d.join("out.jsonl")).unwrap_or_default();
    let texts: Vec<Value> = outbox.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(texts.len(), 1, "{outbox}");
    assert_eq!((texts[0]["step"].as_str(), texts[0]["to"].as_str()), (Some("voicemail_sms"), Some("+14155550111")));

    // Retell: answered, its extracted data in vars.
    let (ben, history) = lead(&db, "qualify", "+14155550112");
    assert_eq!((ben.status, ben.outcome.as_deref()), (LeadStatus::Exited, Some("booked")), "{history:#?}");
    let call = ben.call.as_ref().unwrap();
    assert_eq!((call.status.as_deref(), call.duration), (Some("answered"), Some(15.791)));
    assert_eq!(ben.vars.get("confirmed"), Some(&Value::Bool(true)));
    let reports = call_reports(&history);
    assert_eq!(reports.len(), 1, "{history:#?}");
    assert_eq!(reports[0].0.as_deref(), Some("Ann agreed to a demo tomorrow at 10am."));
    assert!(reports[0].2.as_deref().is_some_and(|u| u.ends_with("/recording.wav")), "{reports:?}");

    // Bland: answered by a person, nothing extracted (its system variables are not vars).
    let (cat, history) = lead(&db, "qualify", "+14155550113");
    assert_eq!((cat.status, cat.outcome.as_deref()), (LeadStatus::Exited, Some("talked")), "{history:#?}");
    assert_eq!(cat.call.as_ref().and_then(|c| c.duration), Some(45.0));
    assert!(!cat.vars.contains_key("now") && !cat.vars.contains_key("call_id"), "{:?}", cat.vars);
    let reports = call_reports(&history);
    assert_eq!(reports.len(), 1, "{history:#?}");
    assert!(reports[0].1.as_deref().is_some_and(|t| t.contains("tomorrow at ten")), "{reports:?}");

    // Generic: answered and confirmed, applied once though sent under two webhook-ids.
    let (dan, history) = lead(&db, "qualify", "+14155550114");
    assert_eq!((dan.status, dan.outcome.as_deref()), (LeadStatus::Exited, Some("booked")), "{history:#?}");
    assert_eq!(dan.vars.get("slot"), Some(&Value::from("2026-12-07T10:00:00Z")));
    assert_eq!(call_reports(&history).len(), 1, "{history:#?}");
    assert_eq!(count(&history, |e| matches!(e, Event::Outcome { status } if status == "answered")), 1);

    // Eve: every report refused or ignored; still waiting for her call.
    let (eve, history) = lead(&db, "qualify", "+14155550115");
    assert_eq!((eve.status, eve.call.is_none()), (LeadStatus::InProgress, true), "{history:#?}");
    assert!(call_reports(&history).is_empty(), "{history:#?}");

    let out = crate::herald::Herald::new()
        .dir(d)
        .args(["--db", "h.redb", "explain", "qualify", "+14155550111"])
        .timeout(std::time::Duration::from_secs(30))
        .run();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "call report: \"Reached voicemail; left no message.\"; transcript \"User: You have reached Ann, leave"
        ) && out.stdout.contains("recording https://storage.vapi.ai/7a1c-mono.wav"),
        "{}",
        out.stdout
    );

    // `export` has the report's columns: the summary and recording of Ann's voicemail.
    let export = crate::herald::Herald::new()
        .dir(d)
        .args(["--db", "h.redb", "export", "qualify", "--raw"])
        .timeout(std::time::Duration::from_secs(30))
        .run();
    assert!(export.status.success(), "{}", export.stderr);
    let mut csv = csv::Reader::from_reader(export.stdout.as_bytes());
    let header = csv.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let (summary, recording) = (at("call_summary"), at("call_recording_url"));
    let ann = csv.records().map(Result::unwrap).find(|r| &r[0] == "+14155550111").unwrap();
    assert_eq!(
        (&ann[summary], &ann[recording]),
        ("Reached voicemail; left no message.", "https://storage.vapi.ai/7a1c-mono.wav")
    );
}
