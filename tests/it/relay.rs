//! examples/relay/ai_relay.py between `herald run` (a `call` step on a `webhook` channel) and a
//! fake AI calling provider on 127.0.0.1 that speaks Vapi's, Retell's or Bland's create-call
//! API: one call per contact with the provider's documented fields and herald's key in the
//! call's metadata, a retry after a lost answer places no second call, bad signatures are
//! refused. docs/calling-providers.md describes the relay.

mod parts;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use herald::runtime::LeadStatus;
use herald::store::Store;

use crate::channels::SECRET;
use crate::herald::Herald;
use parts::{API_KEY, FakeProvider, First, Relay, Seen};
const PUBLIC_URL: &str = "https://herald.example.com";

const CAMPAIGN: &str = "\
id: calls
channel: voice
contacts:
  key: id
steps:
  - id: ring
    call:
      agent: sdr
      from: \"+14155550100\"
      to: \"{{ contact.phone }}\"
      prompt: \"Ask {{ contact.name }} about the demo\"
";

fn phone(i: usize) -> String {
    format!("+1415555011{i}")
}

/// The campaign, `n` contacts and a herald.yaml whose `voice` channel posts to `relay`.
fn setup(dir: &Path, n: usize, relay: &str) {
    std::fs::write(dir.join("c.yaml"), CAMPAIGN).unwrap();
    let mut csv = String::from("id,name,phone\n");
    for i in 0..n {
        csv.push_str(&format!("{i},Contact{i},{}\n", phone(i)));
    }
    std::fs::write(dir.join("c.csv"), csv).unwrap();
    let config = format!(
        "channels:\n  voice: {{ kind: webhook, url: \"{relay}\", secret: \"${{HOOK_SECRET}}\", timeout: 1s, backoff: 100ms }}\nserver:\n  public_url: \"{PUBLIC_URL}\"\n"
    );
    std::fs::write(dir.join("herald.yaml"), config).unwrap();
}

fn run_once(dir: &Path) {
    Herald::new()
        .dir(dir)
        .env("HOOK_SECRET", SECRET)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--db", "s.redb", "--config", "herald.yaml", "--once"])
        .timeout(Duration::from_secs(60))
        .run()
        .ok();
}

/// The relay's key file: the last state of each key, with the provider's call id.
fn relayed(dir: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let text = std::fs::read_to_string(dir.join("keys.jsonl")).unwrap_or_default();
    let mut last = BTreeMap::new();
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = entry["key"].as_str().unwrap().to_string();
        last.insert(key, (entry["state"].as_str().unwrap().to_string(), entry["id"].as_str().map(str::to_string)));
    }
    last
}

fn keys(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("calls/{i}/ring/1")).collect()
}

/// The herald key a provider request carries in its metadata.
fn herald_key(provider: &str, body: &serde_json::Value) -> String {
    let metadata = if provider == "vapi" { &body["assistantOverrides"]["metadata"] } else { &body["metadata"] };
    metadata["herald_key"].as_str().unwrap_or_default().to_string()
}

/// Each request has the provider's path, authentication and documented fields.
fn assert_shape(provider: &str, seen: &Seen) {
    let body = &seen.body;
    let key = herald_key(provider, body);
    let i: usize = key.split('/').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("key {key}"));
    let prompt = format!("Ask Contact{i} about the demo");
    match provider {
        "vapi" => {
            assert_eq!(seen.path, "/call");
            assert_eq!(seen.headers["authorization"], format!("Bearer {API_KEY}"));
            assert_eq!(body["assistantId"], "agent-sdr-1");
            assert_eq!(body["phoneNumberId"], "pn-123");
            assert_eq!(body["customer"]["number"], phone(i));
            let overrides = &body["assistantOverrides"];
            assert_eq!(overrides["variableValues"]["prompt"], prompt);
            assert_eq!(overrides["variableValues"]["contact"], i.to_string());
            assert_eq!(overrides["server"]["url"], format!("{PUBLIC_URL}/calls/vapi"));
            assert_eq!(overrides["server"]["credentialId"], "cred-herald");
        }
        "retell" => {
            assert_eq!(seen.path, "/v2/create-phone-call");
            assert_eq!(seen.headers["authorization"], format!("Bearer {API_KEY}"));
            assert_eq!(body["from_number"], "+14155550100");
            assert_eq!(body["to_number"], phone(i));
            assert_eq!(body["override_agent_id"], "agent-sdr-1");
            assert_eq!(body["retell_llm_dynamic_variables"]["prompt"], prompt);
            let all_strings = body["retell_llm_dynamic_variables"].as_object().unwrap().values().all(|v| v.is_string());
            assert!(all_strings, "Retell's dynamic variables are strings: {body}");
        }
        _ => {
            assert_eq!(seen.path, "/v1/calls");
            assert_eq!(seen.headers["authorization"], API_KEY);
            assert_eq!(body["phone_number"], phone(i));
            assert_eq!(body["pathway_id"], "agent-sdr-1");
            assert_eq!(body["request_data"]["prompt"], prompt);
            assert_eq!(body["from"], "+14155550100");
            assert_eq!(body["webhook"], format!("{PUBLIC_URL}/calls/bland"));
        }
    }
    assert_eq!(seen.headers["content-type"], "application/json");
}

/// One run through the relay to `provider`: one create-call per contact, with the key.
fn one_call_per_contact(provider: &'static str) {
    let n = 4;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start(provider, First::Taken);
    let relay = Relay::start(provider, &fake.url, dir.path());
    setup(dir.path(), n, &relay.url);
    run_once(dir.path());
    let seen = fake.seen();
    assert_eq!(seen.len(), n, "one create-call per contact: {seen:#?}");
    let found: BTreeSet<String> = seen.iter().map(|s| herald_key(provider, &s.body)).collect();
    assert_eq!(found, keys(n), "each call carries its herald key in metadata");
    for request in &seen {
        assert_shape(provider, request);
    }
    let relayed = relayed(dir.path());
    assert_eq!(relayed.keys().cloned().collect::<BTreeSet<_>>(), keys(n));
    assert!(relayed.values().all(|(state, id)| state == "placed" && id.is_some()), "{relayed:?}");
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    assert!(store.pending_actions().unwrap().is_empty(), "every call handed over");
    let counts = store.counts("calls").unwrap();
    assert_eq!(counts, BTreeMap::from([(LeadStatus::InProgress, n as u64)]), "waiting for their outcomes");
    drop(store);
    // Until `run --listen` takes the provider's report, its outcome comes in through `ingest`.
    let (_, id) = &relayed["calls/2/ring/1"];
    let event = format!(
        "{{\"type\":\"call\",\"campaign\":\"calls\",\"contact\":\"2\",\"status\":\"answered\",\"duration\":42,\"id\":\"{}\"}}\n",
        id.as_deref().unwrap()
    );
    std::fs::write(dir.path().join("outcome.jsonl"), event).unwrap();
    let out = Herald::new().dir(dir.path()).args(["ingest", "outcome.jsonl", "--db", "s.redb"]).run().ok();
    assert!(out.stderr.contains("1 events applied"), "{}", out.stderr);
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let (_, lead) = store.lead("calls", "2").unwrap().unwrap();
    assert_eq!(lead.status, LeadStatus::Completed);
}

#[test]
fn vapi_gets_one_call_per_contact_with_the_key_in_metadata() {
    one_call_per_contact("vapi");
}

#[test]
fn retell_gets_one_call_per_contact_with_the_key_in_metadata() {
    one_call_per_contact("retell");
}

#[test]
fn bland_gets_one_call_per_contact_with_the_key_in_metadata() {
    one_call_per_contact("bland");
}

#[test]
fn a_retry_after_a_lost_answer_places_no_second_call() {
    // The provider takes 2.5 s over the first call: herald gives up after 1 s and retries
    // with the same key while the relay is still waiting, then after it has the call id.
    let n = 3;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start("retell", First::Slow(Duration::from_millis(2500)));
    let relay = Relay::start("retell", &fake.url, dir.path());
    setup(dir.path(), n, &relay.url);
    let started = Instant::now();
    run_once(dir.path());
    let seen = fake.seen();
    let found: Vec<String> = seen.iter().map(|s| herald_key("retell", &s.body)).collect();
    assert_eq!(found.len(), n, "no second call at the provider: {found:?}");
    assert!(started.elapsed() >= Duration::from_millis(2500), "herald waited for the slow call");
    assert_eq!(found.iter().cloned().collect::<BTreeSet<_>>(), keys(n));
    let slow = &found[0];
    let log = std::fs::read_to_string(dir.path().join("relay.log")).unwrap();
    assert!(log.contains(&format!("{slow} is still being placed")), "herald retried while in flight: {log}");
    assert!(log.contains(&format!("{slow} already placed as retell-call-0")), "the retry got the first id: {log}");
    let relayed = relayed(dir.path());
    assert_eq!(relayed[slow], ("placed".to_string(), Some("retell-call-0".to_string())));
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    assert!(store.pending_actions().unwrap().is_empty(), "every call handed over");
    assert_eq!(store.counts("calls").unwrap(), BTreeMap::from([(LeadStatus::InProgress, n as u64)]));
}

/// POSTs `body` to the relay with these headers; the status code of its answer.
fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text =
        format!("POST / HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok();
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn the_relay_refuses_bad_and_old_signatures_and_anything_but_calls() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start("bland", First::Taken);
    let relay = Relay::start("bland", &fake.url, dir.path());
    let key = herald::channel::sign::webhook_key(SECRET).unwrap();
    let signed = |id: &str, at: i64, body: &[u8]| {
        vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", at.to_string()),
            ("webhook-signature", herald::channel::sign::webhook_signature(&key, id, at, body)),
        ]
    };
    let id = "calls/0/ring/1";
    let call = format!("{{\"key\":\"{id}\",\"kind\":\"call\",\"to\":\"{}\",\"prompt\":\"hi\"}}", phone(0));
    let call = call.as_bytes();
    let now = chrono::Utc::now().timestamp();
    let mut forged = signed(id, now, call);
    forged[2].1 = herald::channel::sign::webhook_signature(&key, id, now, b"{}");
    assert_eq!(post(&relay.url, &forged, call), 401, "a signature of another body");
    assert_eq!(post(&relay.url, &signed(id, now - 600, call), call), 401, "a timestamp 10 minutes old");
    assert_eq!(post(&relay.url, &[], call), 401, "no signature");
    let other = herald::channel::sign::webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let wrong = vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", herald::channel::sign::webhook_signature(&other, id, now, call)),
    ];
    assert_eq!(post(&relay.url, &wrong, call), 401, "signed with another secret");
    let send = b"{\"key\":\"m/0/hi/1\",\"kind\":\"send\",\"to\":\"+14155550110\",\"text\":\"hi\"}";
    assert_eq!(post(&relay.url, &signed("m/0/hi/1", now, send), send), 422, "a send is not a call");
    let ping = b"{\"type\":\"ping\"}";
    assert_eq!(post(&relay.url, &signed("ping_1", now, ping), ping), 200, "herald channels check's ping");
    assert!(fake.seen().is_empty(), "nothing reached the provider: {:?}", fake.seen());
    setup(dir.path(), 1, &relay.url);
    let check = Herald::new()
        .dir(dir.path())
        .env("HOOK_SECRET", SECRET)
        .args(["channels", "check", "--config", "herald.yaml"])
        .run()
        .ok();
    assert!(check.stdout.contains("answered a signed ping with HTTP 200"), "{}", check.stdout);
    assert!(fake.seen().is_empty(), "a check places no call");
    assert_eq!(post(&relay.url, &signed(id, now, call), call), 200, "a good one goes through");
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(fake.seen()[0].body["task"], "hi", "no pathway: the prompt is Bland's task");
}

/// A signed call action for contact `i`, as herald sends it: (headers, body).
fn signed_call(i: usize) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let id = format!("calls/{i}/ring/1");
    let body = serde_json::json!({
        "key": id, "kind": "call", "to": phone(i), "prompt": "hi", "agent": "sdr", "from": "+14155550100",
    })
    .to_string();
    let key = herald::channel::sign::webhook_key(SECRET).unwrap();
    let at = chrono::Utc::now().timestamp();
    let signature = herald::channel::sign::webhook_signature(&key, &id, at, body.as_bytes());
    let headers = vec![("webhook-id", id), ("webhook-timestamp", at.to_string()), ("webhook-signature", signature)];
    (headers, body.into_bytes())
}

#[test]
fn the_relay_answers_as_the_provider_did_and_never_calls_twice_when_unsure() {
    let dir = tempfile::tempdir().unwrap();
    // 429 and 503: herald should retry, and the retry places the call.
    for (i, status) in [(3, 429), (4, 503)] {
        let fake = FakeProvider::start("vapi", First::Status(status));
        let relay = Relay::start("vapi", &fake.url, dir.path());
        let (headers, body) = signed_call(i);
        assert_eq!(post(&relay.url, &headers, &body), status);
        assert_eq!(post(&relay.url, &headers, &body), 200, "the key was freed: the retry calls");
        assert_eq!(fake.seen().len(), 2);
    }
    // 422 (a bad number): refused, passed through.
    let fake = FakeProvider::start("retell", First::Status(422));
    let relay = Relay::start("retell", &fake.url, dir.path());
    let (headers, body) = signed_call(1);
    assert_eq!(post(&relay.url, &headers, &body), 422);
    assert_eq!(fake.seen().len(), 1, "the provider's refusal");
    // No answer in time: maybe placed. The retry is refused (409), not called again.
    let fake = FakeProvider::start("bland", First::Slow(Duration::from_secs(3)));
    let relay = Relay::start_with("bland", &fake.url, dir.path(), &[("RELAY_TIMEOUT", "1")]);
    let (headers, body) = signed_call(2);
    assert_eq!(post(&relay.url, &headers, &body), 504);
    assert_eq!(post(&relay.url, &headers, &body), 409);
    assert_eq!(fake.seen().len(), 1, "one call at most");
    drop(relay);
    // A relay started again over the same key file still knows: placed keys answer their id.
    let fake = FakeProvider::start("bland", First::Taken);
    let relay = Relay::start("bland", &fake.url, dir.path());
    assert_eq!(post(&relay.url, &headers, &body), 409, "still unknown after a restart");
    let (headers, body) = signed_call(4);
    assert_eq!(post(&relay.url, &headers, &body), 200, "placed before the restart");
    assert!(fake.seen().is_empty(), "nothing called again: {:?}", fake.seen());
}

#[test]
fn the_example_herald_yaml_is_valid_for_a_call_campaign() {
    let dir = tempfile::tempdir().unwrap();
    // Never sent: the compliance rules (docs/compliance.md) are not what this test is about.
    let campaign = format!("{CAMPAIGN}purpose: transactional\npacing: {{ concurrency: 2 }}\n");
    std::fs::write(dir.path().join("c.yaml"), campaign).unwrap();
    let config = crate::herald::root().join("examples/relay/herald.yaml");
    let out = Herald::new()
        .dir(dir.path())
        .env("HERALD_RELAY_SECRET", SECRET)
        .arg("validate")
        .arg("c.yaml")
        .arg("--config")
        .arg(&config)
        .run()
        .ok();
    assert!(out.stdout.contains("0 errors, 0 warnings"), "{}", out.stdout);
}
