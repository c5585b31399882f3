//! `herald run --listen` through real HTTP on 127.0.0.1 against the real binary: signed events
//! applied once, every kind of bad request refused with its status and nothing changed, and
//! what shows the run (`/healthz`, `/status`, `/metrics`, `/report`) read while it runs.

use std::path::Path;

use herald::runtime::Event;
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

/// Names of the `event` records in a lead's history.
pub fn events_of(db: &Path, campaign: &str, contact: &str) -> Vec<String> {
    let store = Store::open(db).unwrap();
    store
        .history(campaign, contact)
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Event { name } => Some(name.to_string()),
            _ => None,
        })
        .collect()
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

    assert_eq!(live.stop(), Some(0));
    let db = d.join("h.redb");
    assert_eq!(events_of(&db, "hold", "0"), ["ping"], "applied once; nothing of the refused requests");
    assert_eq!(events_of(&db, "hold", "1"), ["a"]);
    assert_eq!(events_of(&db, "hold", "2"), ["b"]);
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
