//! The `twilio` channel kind end to end: `herald run --config` against a local fake of Twilio's
//! REST API (fake_twilio.rs): the requests' fields and auth for SMS, WhatsApp and calls, 21610
//! opting the contact out, transient answers retried, and a lost answer looked up rather than
//! sent twice. Every run is bounded by short timeouts and `retry_for`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use herald::runtime::LeadStatus;
use herald::store::Store;

use crate::fake_twilio::{FakeTwilio, Fault, SID, TOKEN, error};
use crate::herald::{Herald, Out};
use crate::support::setup;

const CONTACTS: &str = "phone,name\n+14155550101,Ada\n";

const HELLO: &str = "\
id: hello
channel: sms
contacts: { key: phone }
steps:
  - id: text
    send: { text: \"Hi {{ contact.name }}, see you at 10 & bring the form\" }
  - id: chat
    send: { channel: whatsapp, text: \"Your form: https://acme.example/f?id=1\" }
";

const CALL: &str = "\
id: ring
channel: voice
contacts: { key: phone }
steps:
  - id: confirm
    call:
      prompt: \"Confirm {{ contact.name }}'s visit\"
      max_duration: 4m
      voicemail: hangup
";

fn config(fake: &FakeTwilio) -> String {
    let base = fake.base_url();
    format!(
        "channels:
  sms: {{ kind: twilio, account_sid: \"${{TW_SID}}\", auth_token: \"${{TW_TOKEN}}\", from: \"+14155550100\",
         base_url: \"{base}\", timeout: 1s, backoff: 100ms, retry_for: 20s }}
  whatsapp: {{ kind: twilio, whatsapp: true, account_sid: \"${{TW_SID}}\", auth_token: \"${{TW_TOKEN}}\",
              from: \"+14155550111\", base_url: \"{base}\", timeout: 1s, backoff: 100ms, retry_for: 20s }}
  voice: {{ kind: twilio, account_sid: \"${{TW_SID}}\", auth_token: \"${{TW_TOKEN}}\", from: \"+14155550122\",
           voice_url: \"https://acme.example/twiml/confirm\", base_url: \"{base}\", timeout: 1s, backoff: 100ms,
           retry_for: 20s }}
server: {{ public_url: \"https://hooks.acme.example\" }}
"
    )
}

/// `herald run` until every lead is final, or with `--once` (a call waits for its outcome).
fn run(dir: &Path, campaign: &str) -> Out {
    let once = campaign == CALL;
    std::fs::write(dir.join("c.yaml"), campaign).unwrap();
    let out = Herald::new()
        .dir(dir)
        .env("TW_SID", SID)
        .env("TW_TOKEN", TOKEN)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--config", "herald.yaml", "--db", "h.redb"])
        .args(once.then_some("--once"))
        .timeout(Duration::from_secs(60))
        .run();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN), "the token was printed");
    out
}

fn counts(dir: &Path, campaign: &str) -> BTreeMap<LeadStatus, u64> {
    Store::open(&dir.join("h.redb")).unwrap().counts(campaign).unwrap()
}

fn folder(fake: &FakeTwilio) -> tempfile::TempDir {
    setup(&[("c.csv", CONTACTS), ("herald.yaml", &config(fake))])
}

#[test]
fn sms_and_whatsapp_reach_twilio_with_their_fields_auth_and_the_key_in_the_status_callback() {
    let fake = FakeTwilio::start();
    let dir = folder(&fake);
    run(dir.path(), HELLO);
    let state = fake.state();
    assert!(state.requests.iter().all(|r| r.authorized), "{:?}", state.requests);
    let forms: Vec<&BTreeMap<String, String>> = state.messages.iter().map(|(form, _)| form).collect();
    assert_eq!(forms.len(), 2, "{forms:?}");
    let sms = forms[0];
    assert_eq!(sms["To"], "+14155550101");
    assert_eq!(sms["From"], "+14155550100");
    assert_eq!(sms["Body"], "Hi Ada, see you at 10 & bring the form");
    assert_eq!(sms["StatusCallback"], "https://hooks.acme.example/twilio/status?key=hello%2F%2B14155550101%2Ftext%2F1");
    let whatsapp = forms[1];
    assert_eq!(whatsapp["To"], "whatsapp:+14155550101");
    assert_eq!(whatsapp["From"], "whatsapp:+14155550111");
    assert_eq!(whatsapp["Body"], "Your form: https://acme.example/f?id=1");
    assert!(whatsapp["StatusCallback"].ends_with("?key=hello%2F%2B14155550101%2Fchat%2F1"));
    assert_eq!(state.requests.len(), 2, "one request each, no lookups: {:?}", state.requests);
    drop(state);
    assert_eq!(counts(dir.path(), "hello"), BTreeMap::from([(LeadStatus::Completed, 1)]));
    let history = Store::open(&dir.path().join("h.redb")).unwrap().history("hello", "+14155550101").unwrap();
    let text = format!("{history:?}");
    assert!(!text.contains(TOKEN), "{text}");
    let db = std::fs::read(dir.path().join("h.redb")).unwrap();
    assert!(!db.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in the database");
}

#[test]
fn a_call_step_places_a_call_with_machine_detection_and_a_time_limit() {
    let fake = FakeTwilio::start();
    let dir = folder(&fake);
    run(dir.path(), CALL);
    let state = fake.state();
    assert_eq!(state.calls.len(), 1, "{:?}", state.requests);
    let call = &state.calls[0].0;
    assert_eq!(call["To"], "+14155550101");
    assert_eq!(call["From"], "+14155550122");
    assert_eq!(call["Url"], "https://acme.example/twiml/confirm");
    assert_eq!(call["MachineDetection"], "Enable");
    assert_eq!(call["TimeLimit"], "240");
    assert_eq!(call["StatusCallbackEvent"], "completed");
    assert_eq!(
        call["StatusCallback"],
        "https://hooks.acme.example/twilio/status?key=ring%2F%2B14155550101%2Fconfirm%2F1"
    );
    assert!(state.messages.is_empty());
}

#[test]
fn error_21610_ends_the_lead_opted_out_and_suppresses_the_contact() {
    let fake = FakeTwilio::start();
    fake.state().unsubscribed.insert("+14155550101".into());
    let dir = folder(&fake);
    run(dir.path(), HELLO);
    assert_eq!(fake.count("POST", "/Messages.json"), 1, "not retried, and the next step never sent");
    assert!(fake.state().messages.is_empty());
    assert_eq!(counts(dir.path(), "hello"), BTreeMap::from([(LeadStatus::OptedOut, 1)]));
    assert!(Store::open(&dir.path().join("h.redb")).unwrap().is_suppressed("+14155550101").unwrap());
}

#[test]
fn a_20429_and_a_500_are_retried_and_the_message_is_sent_once() {
    let fake = FakeTwilio::start();
    fake.fault(Fault::Answer(429, error(429, 20429, "Too Many Requests"), Some(1)));
    fake.fault(Fault::Answer(500, error(500, 20500, "Internal Server Error"), None));
    let dir = folder(&fake);
    let started = std::time::Instant::now();
    run(dir.path(), HELLO);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    let state = fake.state();
    let bodies: Vec<&str> = state.messages.iter().map(|(f, _)| f["Body"].as_str()).collect();
    assert_eq!(bodies, ["Hi Ada, see you at 10 & bring the form", "Your form: https://acme.example/f?id=1"]);
    drop(state);
    assert_eq!(fake.count("POST", "/Messages.json"), 4);
    // After the 500 (which may have created it) the next try looked first.
    assert_eq!(fake.count("GET", "/Messages.json"), 1);
    assert_eq!(counts(dir.path(), "hello"), BTreeMap::from([(LeadStatus::Completed, 1)]));
}

#[test]
fn a_lost_answer_is_found_by_the_lookup_and_not_sent_twice() {
    for fault in [Fault::TakeThenDrop, Fault::TakeThenSleep(Duration::from_millis(1500))] {
        let fake = FakeTwilio::start();
        fake.fault(fault.clone());
        let dir = folder(&fake);
        run(dir.path(), HELLO);
        let state = fake.state();
        let bodies: Vec<&str> = state.messages.iter().map(|(f, _)| f["Body"].as_str()).collect();
        assert_eq!(
            bodies,
            ["Hi Ada, see you at 10 & bring the form", "Your form: https://acme.example/f?id=1"],
            "{fault:?}: {:?}",
            state.requests
        );
        drop(state);
        assert_eq!(fake.count("POST", "/Messages.json"), 2, "{fault:?}");
        let lookups: Vec<_> =
            fake.state().requests.iter().filter(|r| r.method == "GET").map(|r| r.query.clone()).collect();
        assert_eq!(lookups.len(), 1, "{fault:?}");
        assert_eq!((lookups[0]["To"].as_str(), lookups[0]["From"].as_str()), ("+14155550101", "+14155550100"));
        assert_eq!(counts(dir.path(), "hello"), BTreeMap::from([(LeadStatus::Completed, 1)]), "{fault:?}");
    }
}

#[test]
fn a_lost_call_answer_is_found_by_the_lookup_too() {
    let fake = FakeTwilio::start();
    fake.fault(Fault::TakeThenDrop);
    let dir = folder(&fake);
    run(dir.path(), CALL);
    assert_eq!(fake.state().calls.len(), 1);
    assert_eq!((fake.count("POST", "/Calls.json"), fake.count("GET", "/Calls.json")), (1, 1));
}

#[test]
fn check_fetches_the_account_and_says_what_is_wrong_without_the_token() {
    use herald::channel::transport::Transport;
    let fake = FakeTwilio::start();
    let dir = folder(&fake);
    let check = |token: &str| {
        let path = dir.path().join("herald.yaml");
        let file = herald::source::SourceFile::new(path.display().to_string(), std::fs::read_to_string(&path).unwrap());
        let env = |name: &str| match name {
            "TW_SID" => Some(SID.to_string()),
            "TW_TOKEN" => Some(token.to_string()),
            _ => None,
        };
        let mut diagnostics = Default::default();
        let config = herald::config::load(&file, dir.path(), &env, &mut diagnostics).expect("config");
        let sms = config.channel("sms").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let transport = Transport::build(sms, config.server.as_ref()).unwrap().unwrap();
            transport.check().await
        })
    };
    assert_eq!(check(TOKEN), Ok("account Acme Clinics (active)".to_string()));
    let wrong = check("not-the-token-1234").unwrap_err();
    assert!(wrong.contains("account_sid or auth_token is wrong"), "{wrong}");
    assert!(!wrong.contains("not-the-token-1234") && !wrong.contains(TOKEN), "{wrong}");
    assert!(fake.state().messages.is_empty(), "a check sends nothing");
    drop(fake);
    let down = check(TOKEN).unwrap_err();
    assert!(down.contains("cannot be reached"), "{down}");
}

#[test]
fn another_error_fails_the_action_with_twilios_code_and_message_and_is_not_retried() {
    let fake = FakeTwilio::start();
    let invalid = "The 'To' number +14155550101 is not a valid phone number.";
    fake.fault(Fault::Answer(400, error(400, 21211, invalid), None));
    let dir = folder(&fake);
    run(dir.path(), HELLO);
    assert_eq!((fake.count("POST", "/Messages.json"), fake.count("GET", "/Messages.json")), (2, 0));
    let history = Store::open(&dir.path().join("h.redb")).unwrap().history("hello", "+14155550101").unwrap();
    let history = format!("{history:?}");
    assert!(history.contains(&format!("Twilio 21211: {invalid}")), "{history}");
}

#[test]
fn after_a_kill_during_a_send_the_next_run_finds_the_message_and_does_not_send_it_again() {
    let fake = FakeTwilio::start();
    // The first answer would come after herald is killed.
    fake.fault(Fault::TakeThenSleep(Duration::from_secs(10)));
    let dir = folder(&fake);
    let slow = config(&fake).replacen("timeout: 1s", "timeout: 30s", 1);
    std::fs::write(dir.path().join("herald.yaml"), slow).unwrap();
    std::fs::write(dir.path().join("c.yaml"), HELLO).unwrap();
    let mut child = Herald::new()
        .dir(dir.path())
        .env("TW_SID", SID)
        .env("TW_TOKEN", TOKEN)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--config", "herald.yaml", "--db", "h.redb"])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while fake.state().messages.is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fake.state().messages.len(), 1, "the first message reached Twilio before the kill");

    std::fs::write(dir.path().join("herald.yaml"), config(&fake)).unwrap();
    run(dir.path(), HELLO);
    let state = fake.state();
    let bodies: Vec<&str> = state.messages.iter().map(|(f, _)| f["Body"].as_str()).collect();
    assert_eq!(bodies, ["Hi Ada, see you at 10 & bring the form", "Your form: https://acme.example/f?id=1"]);
    drop(state);
    assert_eq!((fake.count("POST", "/Messages.json"), fake.count("GET", "/Messages.json")), (2, 1));
    assert_eq!(counts(dir.path(), "hello"), BTreeMap::from([(LeadStatus::Completed, 1)]));
}
