//! The whole loop of `herald run --listen` through the real binary: a `call` step on a
//! `webhook` channel posts each call to a fake AI calling provider on 127.0.0.1, which checks
//! herald's signature and answers each call with a signed generic end-of-call report to the
//! action's `callback_url` (`/calls/generic`); the leads then go on to their follow-up SMS as the
//! campaign routes them. Once with the report after the provider's 200 (the usual order), once
//! with the report before it (a fast provider).

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::runtime::{Event, LeadStatus};
use herald::store::Store;
use serde_json::{Value, json};

use crate::live::{self, Live};
use crate::receiver::read_request;

/// The webhook channel's secret (the provider checks herald's signature with it); the server's
/// is `live::SECRET`, a different one.
const HOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

const CAMPAIGN: &str = "\
id: loop
channel: voice
contacts:
  key: id
vars: [interested]
steps:
  - id: ring
    call:
      to: \"{{ contact.phone }}\"
      prompt: \"Ask {{ contact.name }} about the demo\"
    routes:
      - if: call.status == \"answered\" and vars.interested == true
        goto: thanks
      - if: call.status == \"voicemail\"
        goto: sorry
      - else: no_call
  - id: thanks
    send: { channel: sms, text: \"thanks {{ contact.name }}\" }
    next: end
  - id: sorry
    send: { channel: sms, text: \"sorry we missed you, {{ contact.name }}\" }
    next: end
  - id: no_call
    exit: no_call
";

const CONTACTS: &str = "id,name,phone\na,Ann,+14155550101\nb,Bob,+14155550102\nc,Cy,+14155550103\n";

const RUN: &[&str] = &["run", "c.yaml", "--contacts", "c.csv", "--db", "h.redb", "--config", "herald.yaml"];

/// What the provider's report says for each contact: status and vars.
fn outcome(contact: &str) -> (&'static str, Value) {
    match contact {
        "a" => ("answered", json!({ "interested": true })),
        "b" => ("voicemail", json!({})),
        _ => ("no_answer", json!({})),
    }
}

/// The generic end-of-call report for the call of `contact` under herald's action `key`.
fn report(contact: &str, key: &str) -> String {
    let (status, vars) = outcome(contact);
    json!({
        "type": "call", "key": key, "call_id": format!("call-{contact}"), "status": status,
        "duration": 12.5, "vars": vars, "summary": format!("spoke to {contact}"),
    })
    .to_string()
}

/// One call herald placed, and the answers its report got, in order.
#[derive(Clone, Debug, Default)]
struct Call {
    key: String,
    signed: bool,
    callback_url: String,
    answers: Vec<(u16, String)>,
}

/// A fake AI calling provider: takes herald's webhooks, reports each call's end.
struct Provider {
    url: String,
    calls: Arc<Mutex<BTreeMap<String, Vec<Call>>>>,
    stop: Arc<AtomicBool>,
}

impl Provider {
    /// `fast`: the report is posted (and retried until 2xx) before herald's webhook is answered.
    fn start(fast: bool) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (calls.clone(), stop.clone());
        std::thread::spawn(move || {
            listener.set_nonblocking(true).unwrap();
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let calls = shared.clone();
                        std::thread::spawn(move || serve(stream, &calls, fast));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Provider { url, calls, stop }
    }

    /// The calls, once each one's report has its answer (at most 30 s): the report's thread
    /// notes it a moment after herald has applied it.
    fn calls(&self) -> BTreeMap<String, Vec<Call>> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls.lock().unwrap().clone();
            let answered = calls.values().flatten().all(|c| !c.signed || !c.answers.is_empty());
            if answered || Instant::now() > until {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One connection: each request is a call to place (or `channels check`'s ping).
fn serve(stream: TcpStream, calls: &Arc<Mutex<BTreeMap<String, Vec<Call>>>>, fast: bool) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let key = herald::channel::sign::webhook_key(HOOK_SECRET).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(raw) = read_request(&mut reader) {
        let header = |name: &str| raw.headers.get(name).cloned().unwrap_or_default();
        let id = header("webhook-id");
        let signed = header("webhook-timestamp").parse::<i64>().is_ok_and(|ts| {
            herald::channel::sign::webhook_verify(&key, &id, ts, &raw.body, &header("webhook-signature"))
        });
        let body: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
        let contact = body["contact"].as_str().unwrap_or_default().to_string();
        let call = Call {
            key: body["key"].as_str().unwrap_or_default().to_string(),
            signed,
            callback_url: body["callback_url"].as_str().unwrap_or_default().to_string(),
            answers: Vec::new(),
        };
        let index = {
            let mut calls = calls.lock().unwrap();
            let list = calls.entry(contact.clone()).or_default();
            list.push(call.clone());
            list.len() - 1
        };
        if !signed {
            let _ = writer.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 13\r\n\r\nbad signature");
            continue;
        }
        let deliver = {
            let calls = calls.clone();
            move || {
                let answers = post_report(&call.callback_url, &format!("msg_{contact}"), &report(&contact, &call.key));
                calls.lock().unwrap().get_mut(&contact).unwrap()[index].answers = answers;
            }
        };
        let later = if fast {
            deliver();
            None
        } else {
            Some(deliver)
        };
        let answer = format!("{{\"id\":\"call-{}\"}}", body["contact"].as_str().unwrap_or_default());
        let text = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
        if let Some(deliver) = later {
            std::thread::spawn(deliver);
        }
    }
}

/// Posts a signed report to `url` as a provider does: again, after a pause, until it is
/// answered 2xx (for at most 20 s). Returns every answer's status and body.
fn post_report(url: &str, id: &str, body: &str) -> Vec<(u16, String)> {
    let Some((addr, path)) = url.strip_prefix("http://").and_then(|rest| rest.split_once('/')) else {
        return vec![(0, format!("no callback_url in the action: {url:?}"))];
    };
    let path = format!("/{path}");
    let mut answers = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    for attempt in 0.. {
        let id = format!("{id}_{attempt}");
        let answer =
            live::request(addr, "POST", &path, &live::signed(&id, body.as_bytes(), live::now()), body.as_bytes());
        let (status, text) = match answer {
            Ok(answer) => (answer.status, answer.body),
            Err(e) => (0, e.to_string()),
        };
        answers.push((status, text));
        if (200..300).contains(&status) || Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    answers
}

/// A port free now on 127.0.0.1 (herald binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn setup(dir: &Path, provider: &str, port: u16) {
    std::fs::write(dir.join("c.yaml"), CAMPAIGN).unwrap();
    std::fs::write(dir.join("c.csv"), CONTACTS).unwrap();
    let config = format!(
        "channels:\n  voice: {{ kind: webhook, url: \"{provider}\", secret: \"${{HOOK_SECRET}}\", timeout: 10s }}\n  sms: {{ kind: log, outbox: out.jsonl }}\nserver:\n  secret: \"${{HERALD_SECRET}}\"\n  public_url: \"http://127.0.0.1:{port}\"\n"
    );
    std::fs::write(dir.join("herald.yaml"), config).unwrap();
}

/// The SMSs written so far: (contact, text) per line.
fn outbox(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|v| (v["contact"].as_str().unwrap_or_default().into(), v["text"].as_str().unwrap_or_default().into()))
        .collect()
}

/// Waits (at most 30 s) until `/status` shows no lead left unfinished and both SMSs are out.
fn wait_for_the_end(live: &Live, dir: &Path) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let status = live.get("/status").json();
        let leads = &status[0]["leads"];
        let finished = ["completed", "exited"].iter().map(|s| leads[s].as_u64().unwrap_or(0)).sum::<u64>();
        if finished == 3 && outbox(dir).len() >= 2 {
            return;
        }
        assert!(Instant::now() < until, "the loop did not finish in 30 s: {status}\n{}", live.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the loop; returns the provider's calls, by contact.
fn run_loop(fast: bool) -> BTreeMap<String, Vec<Call>> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let provider = Provider::start(fast);
    let port = free_port();
    setup(d, &provider.url, port);
    let live = Live::start_on(d, RUN, &[("HOOK_SECRET", HOOK_SECRET)], &format!("127.0.0.1:{port}"));
    wait_for_the_end(&live, d);

    let calls = provider.calls();
    for contact in ["a", "b", "c"] {
        let list = &calls[contact];
        assert_eq!(list.len(), 1, "one call to {contact}: {list:?}");
        assert!(list[0].signed, "herald's webhook is signed: {list:?}");
        assert_eq!(list[0].key, format!("loop/{contact}/ring/1"));
        assert_eq!(list[0].callback_url, format!("http://127.0.0.1:{port}/calls/generic"));
    }

    // The same report for A again (a provider's retry, same call id): a duplicate.
    let again = live.post_signed("/calls/generic", "msg_again", &report("a", "loop/a/ring/1"));
    assert_eq!((again.status, again.json()["status"].as_str()), (200, Some("duplicate")), "{again:?}");
    assert_eq!(live.stop(), Some(0));

    let mut sms = outbox(d);
    sms.sort();
    assert_eq!(
        sms,
        [("a".to_string(), "thanks Ann".to_string()), ("b".to_string(), "sorry we missed you, Bob".to_string())]
    );
    assert_leads(&d.join("h.redb"));
    calls
}

/// A and B completed and C exited, each with its call's status, and one call outcome and one
/// call report in each history (the duplicate added none).
fn assert_leads(db: &Path) {
    let store = Store::open(db).unwrap();
    for (contact, status, call) in [
        ("a", LeadStatus::Completed, "answered"),
        ("b", LeadStatus::Completed, "voicemail"),
        ("c", LeadStatus::Exited, "no_answer"),
    ] {
        let (_, lead) = store.lead("loop", contact).unwrap().unwrap();
        assert_eq!(lead.status, status, "{contact}: {lead:?}");
        assert_eq!(lead.call.as_ref().and_then(|c| c.status.as_deref()), Some(call), "{contact}: {lead:?}");
        let history = store.history("loop", contact).unwrap();
        let at_ring = || history.iter().filter(|r| r.step.as_deref() == Some("ring"));
        let count = |f: fn(&Event) -> bool| at_ring().filter(|r| f(&r.event)).count();
        assert_eq!(count(|e| matches!(e, Event::Outcome { .. })), 1, "{contact}: {history:?}");
        assert_eq!(count(|e| matches!(e, Event::CallReport { .. })), 1, "{contact}: {history:?}");
    }
    let (_, a) = store.lead("loop", "a").unwrap().unwrap();
    assert_eq!(a.vars.get("interested"), Some(&json!(true)));
}

/// Each call's report was answered 200 `applied` the first time it was posted.
fn applied_at_once(calls: &BTreeMap<String, Vec<Call>>) {
    for (contact, list) in calls {
        let answers = &list[0].answers;
        assert_eq!(answers.len(), 1, "{contact}: {answers:?}");
        assert_eq!(answers[0].0, 200, "{contact}: {answers:?}");
        assert!(answers[0].1.contains("\"applied\""), "{contact}: {answers:?}");
    }
}

#[test]
fn calls_reported_to_calls_generic_lead_to_their_follow_up_sms() {
    applied_at_once(&run_loop(false));
}

/// A provider that reports the call's end before it answers herald's request: the lead waits
/// for the outcome from the moment the call is recorded, which is before herald posts it, so
/// the report is applied at once (no 422 and retry).
#[test]
fn a_report_before_the_providers_answer_still_applies_once() {
    applied_at_once(&run_loop(true));
}

#[test]
fn the_server_example_validates() {
    let out = crate::herald::Herald::new()
        .args(["validate", "examples/server/call-follow-up.yaml", "--config", "examples/server/herald.yaml"])
        .args(["--deny-warnings"])
        .env("HERALD_SECRET", live::SECRET)
        .env("HERALD_VOICE_SECRET", HOOK_SECRET)
        .env("HERALD_VOICE_URL", "http://127.0.0.1:8787/")
        .run()
        .ok();
    assert!(out.stdout.contains("0 errors"), "{}", out.stdout);
}
