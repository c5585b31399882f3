//! herald.yaml's `policy.frequency` through the binary (docs/policy.md, Frequency caps): a cap
//! holds two campaigns against one contact and across `run --once` invocations (the counts are
//! in the database), an exempt step goes anyway and is not counted, per-channel caps in
//! `simulate` and `herald test`, and the errors and listings of `validate`.

use chrono::{DateTime, TimeDelta, Utc};
use herald::runtime::Event;
use herald::store::Store;
use serde_json::Value;

use crate::herald::herald_in;
use crate::support::{setup, write};

const ANN: &str = "+14155550100";
const CONTACTS: &str = "phone,name,email\n+14155550100,Ann,ann@example.com\n";

fn one_text(id: &str, text: &str) -> String {
    format!(
        "id: {id}\nchannel: sms\npurpose: transactional\nsteps:\n  - id: only\n    send: {{ text: \"{text} Reply STOP to opt out.\" }}\n"
    )
}

const BOOKING: &str = "\
id: booking
channel: sms
purpose: transactional
steps:
  - id: confirm
    frequency: exempt
    send: { text: \"Your table is booked. Reply STOP to opt out.\" }
  - id: upsell
    send: { text: \"Add dessert? Reply STOP to opt out.\" }
";

const CAP_TWO: &str = "channels: { sms: { kind: log } }\npolicy:\n  frequency: { max: 2, per: 1d }\n";
const CAP_ONE: &str = "channels: { sms: { kind: log } }\npolicy:\n  frequency: { max: 1, per: 1d }\n";

fn outbox(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn deferral(store: &Store, campaign: &str) -> Option<(DateTime<Utc>, String)> {
    store.history(campaign, ANN).unwrap().iter().rev().find_map(|r| match &r.event {
        Event::Defer { until, reason } => Some((*until, reason.to_string())),
        _ => None,
    })
}

/// The outbox shows times to the second; the database keeps them whole.
fn a_day_after(shown: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    let late = until - (shown + TimeDelta::days(1));
    TimeDelta::zero() <= late && late < TimeDelta::seconds(1)
}

#[test]
fn a_cap_holds_across_campaigns_and_run_once_invocations_and_an_exempt_step_goes_uncounted() {
    let dir = setup(&[
        ("welcome.yaml", &one_text("welcome", "Welcome!")),
        ("offer.yaml", &one_text("offer", "20% off today.")),
        ("extra.yaml", &one_text("extra", "One more thing.")),
        ("booking.yaml", BOOKING),
        ("c.csv", CONTACTS),
        ("herald.yaml", CAP_TWO),
    ]);
    let d = dir.path();
    let run = |files: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(files);
        args.extend(["--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
        herald_in(d, &args).ok()
    };
    // Three campaigns text Ann in one pass: two fit the day's cap, the third waits for it.
    run(&["welcome.yaml", "offer.yaml", "extra.yaml"]);
    let sent = outbox(d);
    let campaigns: Vec<&str> = sent.iter().map(|a| a["campaign"].as_str().unwrap()).collect();
    assert_eq!(campaigns, ["welcome", "offer"], "{sent:?}");
    let first_at: DateTime<Utc> = sent[0]["at"].as_str().unwrap().parse().unwrap();
    let store = Store::open(&d.join("h.redb")).unwrap();
    let (until, reason) = deferral(&store, "extra").expect("extra is held");
    assert_eq!(reason, "policy frequency: 2 per 1d");
    assert!(a_day_after(first_at, until), "it waits for the first text to leave the day: {until}");
    let sent_and_held = |store: &Store| {
        let all = store.sends(ANN).unwrap();
        let held: Vec<String> = all.iter().filter_map(|s| s.held_for.clone()).collect();
        (all.len() - held.len(), held)
    };
    assert_eq!(sent_and_held(&store), (2, vec!["extra".to_string()]), "two texts counted, a slot held");
    drop(store);

    // Another `run --once`, another process, another campaign: the counts come from the
    // database. The exempt confirmation goes; the upsell after it waits.
    let out = run(&["booking.yaml"]);
    let sent = outbox(d);
    let steps: Vec<(&str, &str)> =
        sent.iter().map(|a| (a["campaign"].as_str().unwrap(), a["step"].as_str().unwrap())).collect();
    assert_eq!(steps, [("welcome", "only"), ("offer", "only"), ("booking", "confirm")], "{}", out.stderr);
    let store = Store::open(&d.join("h.redb")).unwrap();
    let (until, reason) = deferral(&store, "booking").expect("the upsell is held");
    assert!(a_day_after(first_at, until), "{until}");
    assert_eq!(reason, "policy frequency: 2 per 1d");
    let (sent, held) = sent_and_held(&store);
    assert_eq!(sent, 2, "the exempt confirmation is not counted");
    assert_eq!(held, ["extra", "booking"]);
    drop(store);
    // A third: nothing is due, and it says why the upsell waits.
    let out = herald_in(d, &["run", "booking.yaml", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]).ok();
    assert!(out.stderr.contains("0 due now") && out.stderr.contains("(policy frequency: 2 per 1d)"), "{}", out.stderr);
    assert_eq!(outbox(d).len(), 3);

    // Without the policy nothing holds them: the same run sends the upsell and the extra.
    write(d, "herald.yaml", "channels: { sms: { kind: log } }\n");
    // Both leads wait for tomorrow; `lead reset`-free check: a fresh database, same files.
    std::fs::remove_file(d.join("h.redb")).unwrap();
    std::fs::remove_file(d.join("out.jsonl")).unwrap();
    run(&["welcome.yaml", "offer.yaml", "extra.yaml", "booking.yaml"]);
    assert_eq!(outbox(d).len(), 5, "{:?}", outbox(d));
}

/// Two texts and an email in a row, at once; sms is capped at 1 an hour, all at 2 a day.
const THREE: &str = "\
id: three
channel: sms
purpose: transactional
schedule: { timezone: UTC }
steps:
  - id: first
    send: { text: \"One. Reply STOP to opt out.\" }
  - id: second
    send: { text: \"Two.\" }
  - id: third
    send: { channel: email, subject: Three, text: \"Three.\" }
";

const PER_CHANNEL: &str = "\
channels:
  sms: { kind: log }
  email: { kind: log }
policy:
  frequency:
    max: 2
    per: 1d
    channels:
      sms: { max: 1, per: 1h }
";

#[test]
fn simulate_holds_each_send_to_every_cap_that_counts_it_and_the_timeline_says_which() {
    let dir = setup(&[("three.yaml", THREE), ("c.csv", CONTACTS), ("policy.yaml", PER_CHANNEL)]);
    let d = dir.path();
    let args = ["simulate", "three.yaml", "--contacts", "c.csv", "--start", "2026-12-01T15:00:00Z", "--config"];
    let jsonl = herald_in(d, &[&args[..], &["policy.yaml", "--format", "jsonl"]].concat()).ok().stdout;
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sends: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["event"] == "send")
        .map(|l| (l["step"].as_str().unwrap(), l["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sends,
        [("first", "2026-12-01T15:00:00Z"), ("second", "2026-12-01T16:00:00Z"), ("third", "2026-12-02T15:00:00Z")],
        "{jsonl}"
    );
    let reasons: Vec<&str> =
        lines.iter().filter(|l| l["event"] == "defer").map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["policy frequency: sms 1 per 1h", "policy frequency: 2 per 1d"], "{jsonl}");
    let timeline = herald_in(d, &[&args[..], &["policy.yaml"]].concat()).ok().stdout;
    assert!(timeline.contains("deferred to Tue 16:00 UTC (policy frequency: sms 1 per 1h)"), "{timeline}");
    // Without `--config` the three go at once.
    let plain = herald_in(d, &[&args[..args.len() - 1], &["--format", "jsonl"]].concat()).ok().stdout;
    assert_eq!(plain.lines().filter(|l| l.contains("\"event\":\"send\"")).count(), 3, "{plain}");
    assert!(!plain.contains("\"event\":\"defer\""), "{plain}");
}

/// A text, an hour's wait, a text: a cap of one a day holds the second.
const PAUSE: &str = "\
id: pause
channel: sms
purpose: transactional
schedule: { timezone: UTC }
steps:
  - id: a
    send: { text: \"One. Reply STOP to opt out.\" }
  - id: wait
    wait: 1h
  - id: b
    send: { text: \"Two.\" }
";

#[test]
fn a_simulation_stopped_and_carried_on_with_db_still_counts_the_sends_before_the_stop() {
    let dir = setup(&[("pause.yaml", PAUSE), ("c.csv", CONTACTS), ("policy.yaml", CAP_ONE)]);
    let d = dir.path();
    let sim = |until: &str| {
        let args = ["simulate", "pause.yaml", "--contacts", "c.csv", "--start", "2026-12-01T15:00:00Z", "--until"];
        let rest = ["--config", "policy.yaml", "--db", "sim.redb", "--format", "jsonl"];
        herald_in(d, &[&args[..], &[until], &rest[..]].concat()).ok().stdout
    };
    let first = sim("2026-12-01T15:30:00Z");
    assert_eq!(first.lines().filter(|l| l.contains("\"event\":\"send\"")).count(), 1, "{first}");
    // Carried on: the text at 15:00 still counts, so the second waits for the next day.
    let rest = sim("2026-12-03T00:00:00Z");
    let sends: Vec<&str> = rest.lines().filter(|l| l.contains("\"event\":\"send\"")).collect();
    assert_eq!(sends.len(), 1, "{rest}");
    assert!(sends[0].contains("\"at\":\"2026-12-02T15:00:00Z\""), "{rest}");
    assert!(rest.contains("policy frequency: 1 per 1d"), "{rest}");
}

#[test]
fn herald_test_holds_its_cases_to_the_caps_of_its_config() {
    let dir = setup(&[("three.yaml", THREE), ("policy.yaml", PER_CHANNEL)]);
    let test = "\
campaign: three.yaml
start: 2026-12-01T15:00:00Z
contacts:
  - { phone: \"+14155550100\", email: ann@example.com }
cases:
  - name: the second text waits an hour and the email a day
    contact: \"+14155550100\"
    expect:
      sends:
        - { step: first, local_time: \"15:00\" }
        - { step: second, local_time: \"16:00\" }
        - { step: third, local_time: \"15:00\" }
";
    write(dir.path(), "three.test.yaml", test);
    let out = herald_in(dir.path(), &["test", "three.test.yaml", "--config", "policy.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = herald_in(dir.path(), &["test", "three.test.yaml"]);
    assert_eq!(out.code, 1, "without the caps every send is at 15:00: {out:?}");
}

#[test]
fn validate_lists_exempt_steps_and_refuses_bad_caps_at_their_line() {
    let dir = setup(&[("booking.yaml", BOOKING), ("policy.yaml", CAP_TWO)]);
    let d = dir.path();
    let out = herald_in(d, &["validate", "booking.yaml", "--config", "policy.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("booking.yaml:6:16: step `confirm` is exempt from policy.frequency"), "{}", out.stdout);
    let json = herald_in(d, &["validate", "booking.yaml", "--config", "policy.yaml", "--format", "json"]).stdout;
    let report: Value = serde_json::from_str(&json).unwrap();
    let exempt = &report["files"][0]["frequency_exempt"];
    assert_eq!(exempt, &serde_json::json!([{ "step": "confirm", "line": 6, "column": 16 }]), "{json}");
    let github = herald_in(d, &["validate", "booking.yaml", "--config", "policy.yaml", "--format", "github"]).stdout;
    assert!(github.contains("::notice file=booking.yaml,line=6,col=16::step `confirm` is exempt"), "{github}");

    let check = |config: &str, says: &[&str]| {
        write(d, "bad.yaml", config);
        let out = herald_in(d, &["validate", "booking.yaml", "--config", "bad.yaml"]);
        assert_eq!(out.code, 1, "{config}: {out:?}");
        for s in says {
            assert!(out.stdout.contains(s), "lacks {s:?}:\n{}", out.stdout);
        }
    };
    check("policy:\n  frequency: { max: 0, per: 1d }\n", &["herald::config_number", "bad.yaml:2:21", "at least 1"]);
    check("policy:\n  frequency: { max: 3, per: soon }\n", &["herald::config_duration", "bad.yaml:2:29"]);
    check("policy:\n  frequency: { max: 3 }\n", &["`policy.frequency` has no `per`"]);
    check("policy:\n  frequency: {}\n", &["`policy.frequency` sets no cap"]);
    check("policy:\n  frequency: { max: 3, per: 1d, every: 2 }\n", &["unknown key `every`"]);
    check(
        "channels: { sms: { kind: log } }\npolicy:\n  frequency: { channels: { smss: { max: 1, per: 1h } } }\n",
        &["caps `smss`, which herald.yaml does not define", "did you mean `sms`?"],
    );
    check(
        "policy:\n  frequency: { channels: { sms: { max: 1 } } }\n",
        &["`policy.frequency.channels.sms` has no `per`"],
    );

    // In the campaign: an unknown value is an error, a mark on a step that makes no action a warning.
    write(d, "wrong.yaml", &BOOKING.replace("frequency: exempt", "frequency: never"));
    let out = herald_in(d, &["validate", "wrong.yaml", "--config", "policy.yaml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("`frequency` is `exempt`, not `never`"), "{}", out.stdout);
    let waiting = "id: waiting\nsteps:\n  - id: pause\n    frequency: exempt\n    wait: 1h\n";
    write(d, "waiting.yaml", waiting);
    let out = herald_in(d, &["validate", "waiting.yaml", "--config", "policy.yaml", "--deny-warnings"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("herald::unused_frequency"), "{}", out.stdout);
}

#[test]
fn leads_held_by_a_cap_go_in_the_order_they_were_held_across_invocations() {
    let dir = setup(&[
        ("welcome.yaml", &one_text("welcome", "Welcome!")),
        ("offer.yaml", &one_text("offer", "20% off today.")),
        ("survey.yaml", &one_text("survey", "How did we do?")),
        ("later.yaml", &one_text("later", "One more thing.")),
        ("c.csv", CONTACTS),
        ("herald.yaml", "channels: { sms: { kind: log } }\npolicy:\n  frequency: { max: 1, per: 1d }\n"),
    ]);
    let d = dir.path();
    let run = |file: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(file);
        args.extend(["--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
        herald_in(d, &args).ok()
    };
    run(&["welcome.yaml", "offer.yaml"]);
    let sent = outbox(d);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let first: DateTime<Utc> = sent[0]["at"].as_str().unwrap().parse().unwrap();
    let until = |campaign: &str| {
        let store = Store::open(&d.join("h.redb")).unwrap();
        deferral(&store, campaign).map(|(t, _)| t).expect("held")
    };
    let offer = until("offer");
    assert!(a_day_after(first, offer), "{offer}");
    // Held later, by another process: the survey goes a day after the offer, not with it.
    run(&["survey.yaml"]);
    let survey = until("survey");
    assert_eq!(survey - offer, TimeDelta::days(1), "{survey} after {offer}");
    // The offer's lead is removed: its slot is no longer held, and the next campaign held gets it.
    herald_in(d, &["lead", "remove", "offer", ANN, "--db", "h.redb"]).ok();
    run(&["later.yaml"]);
    assert_eq!(until("later"), offer, "the slot the offer held is free again");
    assert_eq!(outbox(d).len(), 1, "nothing else went");
}
