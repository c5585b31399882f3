//! `herald run --listen` through real HTTP on 127.0.0.1 against the real binary: signed events
//! applied once, every kind of bad request refused with its status and nothing changed, and
//! what shows the run (`/healthz`, `/status`, `/metrics`, `/report`) read while it runs.

use std::path::Path;

use herald::runtime::{Event, Input};
use herald::store::Store;

use crate::live::{Live, SECRET, now, signed};

/// Leads parked in an await for an event that never comes: every other event is recorded in
/// their history and moves nothing, so the history counts the events applied.
pub const HOLD: &str = "\
id: hold
channel: sms
contacts:
  key: id
steps:
  - id: wait_done
    await: { event: done, timeout: 30d }
";

pub const CONFIG: &str = "\
channels:
  sms: { kind: log, outbox: out.jsonl }
server:
  secret: \"${HERALD_SECRET}\"
  public_url: \"https://hooks.example.com\"
";

/// A folder with the campaign, `leads` contacts keyed 0, 1, … and herald.yaml.
pub fn folder(campaign: &str, leads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("campaign.yaml"), campaign).unwrap();
    let mut csv = String::from("id,name,phone\n");
    for i in 0..leads {
        csv.push_str(&format!("{i},C{i},+1415555{:04}\n", 100 + i));
    }
    std::fs::write(d.join("c.csv"), csv).unwrap();
    std::fs::write(d.join("herald.yaml"), CONFIG).unwrap();
    dir
}

pub const RUN: &[&str] = &["run", "campaign.yaml", "--contacts", "c.csv", "--db", "h.redb", "--config", "herald.yaml"];

/// Names of the events a lead took: the `event` records of its history, then those still in its
/// inbox (stored, and not yet advanced when the run stopped: the next run takes them).
pub fn events_of(db: &Path, campaign: &str, contact: &str) -> Vec<String> {
    let store = Store::open(db).unwrap();
    let mut names: Vec<String> = store
        .history(campaign, contact)
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Event { name } => Some(name.to_string()),
            _ => None,
        })
        .collect();
    if let Some((_, lead)) = store.lead(campaign, contact).unwrap() {
        names.extend(lead.inbox.into_iter().filter_map(|(_, input)| match input {
            Input::Event { name, .. } => Some(name),
            _ => None,
        }));
    }
    names
}

fn event(contact: &str, name: &str) -> String {
    format!(r#"{{"type":"event","campaign":"hold","contact":"{contact}","name":"{name}"}}"#)
}

#[test]
fn signed_events_apply_once_and_bad_requests_change_nothing() {
    let dir = folder(HOLD, 3);
    let d = dir.path();
    let live = Live::start(d, RUN);

    // Signed: applied; the same delivery again (a retry): a duplicate.
    let a = live.post_signed("/events", "msg_1", &event("0", "ping"));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("applied")), "{a:?}");
    let again = live.post_signed("/events", "msg_1", &event("0", "ping"));
    assert_eq!((again.status, again.json()["status"].as_str()), (200, Some("duplicate")), "{again:?}");

    // An array: each element keyed by the delivery and its index.
    let array = format!("[{},{}]", event("1", "a"), event("2", "b"));
    let many = live.post_signed("/events", "msg_2", &array);
    assert_eq!(many.status, 200, "{many:?}");
    assert_eq!(many.json()["results"].as_array().unwrap().len(), 2);

    // Unsigned, wrongly signed, signed long ago: 401.
    let body = event("0", "forged");
    let unsigned = live.request("POST", "/events", &[], body.as_bytes());
    assert_eq!(unsigned.status, 401, "{unsigned:?}");
    assert!(unsigned.json()["error"].as_str().unwrap().contains("webhook-signature"), "{unsigned:?}");
    let mut wrong = signed("msg_3", body.as_bytes(), now());
    wrong[3].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    assert_eq!(live.request("POST", "/events", &wrong, body.as_bytes()).status, 401);
    let replay = signed("msg_4", body.as_bytes(), now() - 600);
    let old = live.request("POST", "/events", &replay, body.as_bytes());
    assert_eq!(old.status, 401, "{old:?}");
    assert!(old.json()["error"].as_str().unwrap().contains("5 minutes"), "{old:?}");
    // Signed for another body: 401.
    let other = signed("msg_5", b"{}", now());
    assert_eq!(live.request("POST", "/events", &other, body.as_bytes()).status, 401);

    // Malformed: 400 with a JSON error; an array with one bad element applies none of it.
    let bad = live.post_signed("/events", "msg_6", r#"{"type":"event","contact":"0"}"#);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json()["error"].as_str().unwrap().contains("name"), "{bad:?}");
    let not_json = live.post_signed("/events", "msg_7", "{nope");
    assert_eq!(not_json.status, 400, "{not_json:?}");
    let mixed = format!("[{},{{\"type\":\"nope\"}}]", event("0", "never"));
    let m = live.post_signed("/events", "msg_8", &mixed);
    assert_eq!(m.status, 400, "{m:?}");
    assert!(m.json()["error"].as_str().unwrap().contains("event 1"), "{m:?}");

    // Over 1 MiB: 413.
    let huge = format!(r#"{{"type":"event","campaign":"hold","contact":"0","name":"{}"}}"#, "x".repeat(1 << 20));
    assert_eq!(live.post_signed("/events", "msg_9", &huge).status, 413);

    // Unknown campaign or contact: 404 with the reason; an outcome for no action: 422.
    let unknown =
        live.post_signed("/events", "msg_10", r#"{"type":"event","campaign":"nope","contact":"0","name":"x"}"#);
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.json()["error"].as_str().unwrap().contains("unknown campaign `nope`"), "{unknown:?}");
    let nobody = live.post_signed("/events", "msg_11", &event("77", "x"));
    assert_eq!(nobody.status, 404, "{nobody:?}");
    let call = r#"{"type":"call","campaign":"hold","contact":"0","status":"answered"}"#;
    let c = live.post_signed("/events", "msg_12", call);
    assert_eq!(c.status, 422, "{c:?}");
    assert!(c.json()["error"].as_str().unwrap().contains("no call in flight"), "{c:?}");

    // Unknown path: 404 JSON; wrong method: 405.
    assert_eq!(live.get("/nope").status, 404);
    assert_eq!(live.get("/events").status, 405);

    // What shows the run.
    assert_eq!(live.get("/healthz").json()["status"], "ok");
    let status = live.get("/status");
    assert_eq!(status.status, 200, "{status:?}");
    assert_eq!(
        (status.json()[0]["id"].as_str(), status.json()[0]["leads"]["waiting"].as_u64()),
        (Some("hold"), Some(3))
    );
    let metrics = live.get("/metrics").body;
    assert!(metrics.contains("herald_leads{campaign=\"hold\",status=\"waiting\"} 3"), "{metrics}");
    assert!(metrics.contains("herald_events_total{endpoint=\"events\",result=\"applied\"} 3"), "{metrics}");
    assert!(metrics.contains("herald_events_total{endpoint=\"events\",result=\"duplicate\"} 1"), "{metrics}");
    assert!(metrics.contains("herald_events_total{endpoint=\"events\",result=\"unauthorized\"} 4"), "{metrics}");
    let report = live.get("/report/hold");
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(live.get("/report/nope").status, 404);
    // The export shows contacts: only with the secret as a bearer token.
    assert_eq!(live.get("/export/hold").status, 401);
    let wrong = [("authorization", "Bearer whsec_nope".to_string())];
    assert_eq!(live.request("GET", "/export/hold", &wrong, b"").status, 401);
    let bearer = [("authorization", format!("Bearer {SECRET}"))];
    let export = live.request("GET", "/export/hold", &bearer, b"");
    assert_eq!(export.status, 200, "{export:?}");
    assert_eq!(export.body.lines().count(), 4, "a header and three leads: {}", export.body);
    assert!(export.body.starts_with("key,status"), "{}", export.body);
    // While the run holds the database, the CLI says where to ask instead.
    let locked = crate::herald::herald_in(d, &["status", "--db", "h.redb"]);
    assert!(locked.stderr.contains("GET /status"), "{}", locked.stderr);

    assert_eq!(live.stop(), Some(0));
    let db = d.join("h.redb");
    assert_eq!(events_of(&db, "hold", "0"), ["ping"], "applied once; nothing of the refused requests");
    assert_eq!(events_of(&db, "hold", "1"), ["a"]);
    assert_eq!(events_of(&db, "hold", "2"), ["b"]);
}

/// Garbage, half requests and clients that stall: each is answered or cut off, and the run
/// goes on serving (the header and body timeouts are 10 s).
#[test]
fn slow_and_garbage_requests_are_cut_off_and_the_run_goes_on() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = folder(HOLD, 1);
    let live = Live::start(dir.path(), RUN);
    let stall = |bytes: &'static [u8]| {
        let addr = live.addr.clone();
        std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            stream.write_all(bytes).unwrap();
            let started = Instant::now();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            (started.elapsed(), String::from_utf8_lossy(&answer).into_owned())
        })
    };
    // Headers that never end; a body shorter than its Content-Length.
    let headers = stall(b"POST /events HTTP/1.1\r\nHost: x\r\nwebhook-id: 1\r\n");
    let body = stall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\"");
    let mut seed = 7;
    for i in 0..200 {
        let n = 1 + crate::support::next(&mut seed) as usize % 300;
        let junk: Vec<u8> = (0..n).map(|_| crate::support::next(&mut seed) as u8).collect();
        let raw = if i % 2 == 0 {
            junk
        } else {
            [b"POST /events HTTP/1.1\r\nContent-Length: 3\r\n\r\n".as_slice(), &junk[..3.min(n)]].concat()
        };
        if let Ok(mut stream) = std::net::TcpStream::connect(&live.addr) {
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = stream.write_all(&raw);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
    assert_eq!(live.get("/healthz").status, 200, "serving after garbage");
    let (took, answer) = headers.join().unwrap();
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(25), "{took:?} {answer:?}");
    let (took, answer) = body.join().unwrap();
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(25), "{took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let a = live.post_signed("/events", "after", &event("0", "still"));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(live.stop(), Some(0));
    assert_eq!(events_of(&dir.path().join("h.redb"), "hold", "0"), ["still"]);
}

#[test]
fn listen_without_a_secret_refuses_to_start() {
    let dir = folder(HOLD, 1);
    let d = dir.path();
    std::fs::write(d.join("herald.yaml"), "channels:\n  sms: { kind: log }\n").unwrap();
    let out = crate::herald::Herald::new()
        .dir(d)
        .args(RUN)
        .args(["--listen", "127.0.0.1:0"])
        .timeout(std::time::Duration::from_secs(60))
        .run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("server.secret"), "{}", out.stderr);
    let _ = SECRET;
}
