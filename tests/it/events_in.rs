//! Events by name (`events.<name>` in conditions, issue 19), end to end through the binary:
//! scripted by a responses file in `simulate`, applied by `ingest` and seen by `status` and
//! `export`, and stopping a retry whose `until` (or the goal) they make true.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use herald::store::Store;

use crate::herald::herald_in;
use crate::support::write;

/// `herald ARGS` in `dir`, which must succeed; its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    herald_in(dir, args).ok().stdout
}

/// `simulate campaign.yaml --contacts contacts.csv --responses responses.yaml --format jsonl`
/// from 2026-12-01 09:00 UTC, into `h.redb`: the JSON lines.
fn simulate(dir: &Path, campaign: &str, csv: &str, responses: &str) -> Vec<Value> {
    write(dir, "campaign.yaml", campaign);
    write(dir, "contacts.csv", csv);
    write(dir, "responses.yaml", responses);
    let args = [
        "simulate",
        "campaign.yaml",
        "--contacts",
        "contacts.csv",
        "--responses",
        "responses.yaml",
        "--start",
        "2026-12-01T09:00:00Z",
        "--format",
        "jsonl",
        "--db",
        "h.redb",
    ];
    ok(dir, &args).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// A contact's lines of one event kind.
fn lines<'a>(all: &'a [Value], contact: &str, event: &str) -> Vec<&'a Value> {
    all.iter().filter(|l| l["contact"] == contact && l["event"] == event).collect()
}

/// A contact's final status and when it ended.
fn exit(all: &[Value], contact: &str) -> (String, String) {
    let exit = lines(all, contact, "exit");
    let last = exit.last().unwrap_or_else(|| panic!("{contact} has no exit line"));
    (last["lead_status"].as_str().unwrap().to_string(), last["at"].as_str().unwrap().to_string())
}

const ONBOARD: &str = "\
id: onboard
channel: sms
contacts: { key: phone }
goal: events.activated != null
steps:
  - id: welcome
    send: { text: \"Welcome, {{ contact.name }}\" }
  - id: nap
    wait: 3d
  - id: nudge
    when: not exists(events.opened_app)
    send: { text: \"Need a hand?\" }
";

const PEOPLE: &str = "phone,name\n+14155550101,Ada\n+14155550102,Bo\n+14155550103,Cy\n";

#[test]
fn a_scripted_event_converts_leads_whose_goal_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let responses = "\
- step: welcome
  when: contact.name == \"Ada\"
  event: { name: activated, after: 2d }
- step: welcome
  when: contact.name == \"Bo\"
  event: { name: activated, after: 1h, probability: 0 }
- step: welcome
  when: contact.name == \"Cy\"
  event: { name: opened_app, after: 1d, vars: { source: push } }
";
    let all = simulate(dir.path(), ONBOARD, PEOPLE, responses);
    // Ada: the event comes two days after the welcome, and the goal takes her out then.
    assert_eq!(exit(&all, "+14155550101"), ("converted".into(), "2026-12-03T09:00:00Z".into()));
    assert_eq!(lines(&all, "+14155550101", "send").len(), 1);
    // Bo: probability 0, no event; Cy: another event, which the `when` of `nudge` reads.
    assert_eq!(exit(&all, "+14155550102").0, "completed");
    assert_eq!(lines(&all, "+14155550102", "send").len(), 2);
    assert_eq!(exit(&all, "+14155550103").0, "completed");
    assert_eq!(lines(&all, "+14155550103", "send").len(), 1, "nudge skipped: events.opened_app is set");
    let cy = lines(&all, "+14155550103", "event");
    assert_eq!(cy.len(), 1, "{cy:?}");
    assert_eq!(cy[0]["name"], "opened_app");

    // The leads keep the names the conditions read, with when they came, and nothing else.
    let store = Store::open(&dir.path().join("h.redb")).unwrap();
    let (_, ada) = store.lead("onboard", "+14155550101").unwrap().unwrap();
    let names: Vec<&str> = ada.events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["activated"]);
    let (_, cy) = store.lead("onboard", "+14155550103").unwrap().unwrap();
    assert_eq!(cy.events.len(), 1);
    assert_eq!(cy.vars.get("source"), Some(&Value::from("push")), "an event's vars still reach `vars`");
}

#[test]
fn event_rules_are_checked_when_the_responses_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "campaign.yaml", ONBOARD);
    write(d, "contacts.csv", PEOPLE);
    for (rules, says) in [
        ("- event: { name: activated, after: soon }\n", "rule 1: event.after: `soon` is not a duration"),
        ("- event: { name: activated, probability: 2 }\n", "rule 1: event.probability must be between 0 and 1"),
        ("- event: { after: 1d }\n", "name"),
        ("- event: { name: activated, afer: 1d }\n", "afer"),
    ] {
        write(d, "responses.yaml", rules);
        let out =
            herald_in(d, &["simulate", "campaign.yaml", "--contacts", "contacts.csv", "--responses", "responses.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{rules}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{rules}: {}", out.stderr);
    }
}

#[test]
fn an_ingested_event_converts_the_lead_and_status_and_export_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "onboard.yaml", ONBOARD);
    write(d, "c.csv", PEOPLE);
    ok(d, &["run", "onboard.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
    let events = concat!(
        "{\"type\":\"event\",\"campaign\":\"onboard\",\"contact\":\"+14155550101\",\"name\":\"activated\"}\n",
        "{\"type\":\"event\",\"campaign\":\"onboard\",\"contact\":\"+14155550102\",\"name\":\"clicked\"}\n",
    );
    write(d, "e.jsonl", events);
    ok(d, &["ingest", "e.jsonl", "--db", "h.redb"]);

    let status: Value = serde_json::from_str(&ok(d, &["status", "onboard", "--format", "json", "--db", "h.redb"]))
        .expect("status JSON");
    let counts: BTreeMap<&str, u64> = status["leads"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(s, n)| n.as_u64().filter(|n| *n > 0).map(|n| (s.as_str(), n)))
        .collect();
    assert_eq!(counts, BTreeMap::from([("converted", 1), ("scheduled", 2)]), "{status}");

    let export = ok(d, &["export", "onboard", "--db", "h.redb"]);
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let status_at = header.iter().position(|h| h == "status").expect("a status column");
    let rows: BTreeMap<String, String> = reader
        .records()
        .map(|r| r.unwrap())
        // Keys that start with `+` are guarded against spreadsheets with a leading `'`.
        .map(|r| (r[0].trim_start_matches('\'').to_string(), r[status_at].to_string()))
        .collect();
    assert_eq!(rows["+14155550101"], "converted", "{export}");
    assert_eq!(rows["+14155550102"], "scheduled", "{export}");

    let store = Store::open(&d.join("h.redb")).unwrap();
    let (_, bo) = store.lead("onboard", "+14155550102").unwrap().unwrap();
    assert!(bo.events.is_empty(), "`clicked` is read by no condition, so it is not kept: {:?}", bo.events);
}

const CONFIRM: &str = "\
id: confirm
channel: voice
contacts: { key: phone }
vars: [confirmed]
steps:
  - id: remind
    call: { prompt: \"Hi {{ contact.name }}, can you confirm tomorrow?\" }
    retry: { attempts: 3, interval: 1d, on: [no_answer], until: vars.confirmed == true }
    routes:
      - if: vars.confirmed == true
        goto: thanks
      - else: end
  - id: thanks
    send: { channel: sms, text: \"Thanks, see you tomorrow!\" }
";

#[test]
fn an_event_that_makes_retry_until_true_stops_the_retry() {
    let dir = tempfile::tempdir().unwrap();
    // Answered without confirming, so `until` asks for a retry a day later; two hours after
    // the call the booking page confirms.
    let responses = "\
- step: remind
  call: { answered: 1.0 }
  event: { name: booking_confirmed, after: 2h, vars: { confirmed: true } }
";
    let all = simulate(dir.path(), CONFIRM, "phone,name\n+14155550101,Ada\n", responses);
    let ada = "+14155550101";
    assert_eq!(lines(&all, ada, "call").len(), 1, "no second call once `until` holds");
    let sends = lines(&all, ada, "send");
    assert_eq!(sends.len(), 1);
    assert_eq!((sends[0]["step"].as_str(), sends[0]["at"].as_str()), (Some("thanks"), Some("2026-12-01T11:00:00Z")));
    assert_eq!(exit(&all, ada).0, "completed");
}

#[test]
fn an_event_that_meets_the_goal_during_a_retry_wait_converts_the_lead() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = CONFIRM.replace("vars: [confirmed]\n", "vars: [confirmed]\ngoal: events.booked != null\n");
    let responses = "\
- step: remind
  call: { no_answer: 1.0 }
  event: { name: booked, after: 5h }
";
    let all = simulate(dir.path(), &campaign, "phone,name\n+14155550101,Ada\n", responses);
    assert_eq!(lines(&all, "+14155550101", "call").len(), 1);
    assert_eq!(exit(&all, "+14155550101"), ("converted".into(), "2026-12-01T14:00:00Z".into()));
}

#[test]
fn a_goal_reading_events_validates_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let campaign = ONBOARD.replace("goal: events.activated != null", "goal: days_since(events.activated) < 7");
    // Never sent: the compliance rules (docs/compliance.md) are not what this test is about.
    let campaign =
        format!("{campaign}purpose: transactional\nchecks: {{ stop_notice: {{ off: \"a test campaign\" }} }}\n");
    write(d, "onboard.yaml", &campaign);
    let out = herald_in(d, &["validate", "onboard.yaml", "--deny-warnings"]);
    assert!(out.status.success(), "{}{}", out.stdout.clone(), out.stderr);
    let typo = ONBOARD.replace("events.activated != null", "events.activated == true");
    write(d, "typo.yaml", &typo);
    let out = herald_in(d, &["validate", "typo.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let said = format!("{}{}", out.stdout.clone(), out.stderr);
    assert!(said.contains("herald::type_mismatch") && said.contains("datetime"), "{said}");
}
