//! herald.yaml's `policy:` through the binary (docs/policy.md): quiet hours hold sends in
//! `simulate`, `run --once` and `herald test`, across DST changes; `policy.checks` switches a
//! compliance check off for every campaign, with its reason in `validate --format json`.

use std::path::Path;

use chrono::{DateTime, Timelike, Utc};
use herald::runtime::Event;
use herald::store::Store;
use serde_json::Value;

use crate::herald::{Herald, Out, herald_in};
use crate::support::{setup, write};

/// A first text at once, a second four hours later; New York time, any hour.
const TWO_TEXTS: &str = r#"
id: nightly
channel: sms
schedule: { timezone: America/New_York }
purpose: transactional
steps:
  - id: first
    send: { text: "Hi {{ contact.name }}. Reply STOP to opt out." }
  - id: later
    wait: 4h
  - id: second
    send: { text: "Still there, {{ contact.name }}?" }
"#;

const ANN: &str = "+14155550100";
const CONTACTS: &str = "phone,name\n+14155550100,Ann\n";

const QUIET: &str = "channels: { sms: { kind: log } }\npolicy:\n  quiet_hours: \"21:00-08:00\"\n";

fn simulate(dir: &Path, config: Option<&str>, start: &str) -> Vec<Value> {
    write(dir, "nightly.yaml", TWO_TEXTS);
    write(dir, "c.csv", CONTACTS);
    let mut args = vec!["simulate", "nightly.yaml", "--contacts", "c.csv", "--format", "jsonl", "--start", start];
    if let Some(config) = config {
        write(dir, "policy.yaml", config);
        args.extend(["--config", "policy.yaml"]);
    }
    let out = herald_in(dir, &args).ok();
    out.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn kind<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

fn at(line: &Value) -> &str {
    line["at"].as_str().unwrap()
}

#[test]
fn quiet_hours_hold_a_send_to_their_local_end_across_the_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    // Sat 2026-10-31 18:00 EDT: the first text goes at once, the second falls due at 22:00 EDT,
    // inside the quiet hours, which end at 08:00 on Sunday, after the clocks went back (EST).
    let lines = simulate(dir.path(), Some(QUIET), "2026-10-31T22:00:00Z");
    let sends = kind(&lines, "send");
    assert_eq!(sends.iter().map(|s| at(s)).collect::<Vec<_>>(), ["2026-10-31T22:00:00Z", "2026-11-01T13:00:00Z"]);
    let defers = kind(&lines, "defer");
    assert_eq!(defers.len(), 1, "{lines:?}");
    assert_eq!((at(defers[0]), &defers[0]["step"]), ("2026-11-01T02:00:00Z", &"second".into()));
    assert_eq!(defers[0]["until"], "2026-11-01T13:00:00Z");
    assert_eq!(defers[0]["reason"], "policy quiet hours");
    // Without the policy the campaign's schedule alone rules: the text goes at 22:00 EDT.
    let lines = simulate(dir.path(), None, "2026-10-31T22:00:00Z");
    assert_eq!(kind(&lines, "send").iter().map(|s| at(s)).collect::<Vec<_>>()[1], "2026-11-01T02:00:00Z");
    assert!(kind(&lines, "defer").is_empty(), "{lines:?}");
}

#[test]
fn quiet_hours_end_at_local_eight_after_the_spring_forward_and_the_timeline_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nightly.yaml", TWO_TEXTS);
    write(dir.path(), "c.csv", CONTACTS);
    write(dir.path(), "policy.yaml", QUIET);
    // Sat 2027-03-13 23:30 EST: the first text is due inside the quiet hours, which end at
    // 08:00 EDT on Sunday (12:00Z, not 13:00Z).
    let out = herald_in(
        dir.path(),
        &[
            "simulate",
            "nightly.yaml",
            "--contacts",
            "c.csv",
            "--config",
            "policy.yaml",
            "--start",
            "2027-03-14T04:30:00Z",
        ],
    )
    .ok();
    assert!(out.stdout.contains("Sat 23:30 EST"), "{}", out.stdout);
    assert!(out.stdout.contains("deferred to Sun 08:00 EDT (policy quiet hours)"), "{}", out.stdout);
    let lines = simulate(dir.path(), Some(QUIET), "2027-03-14T04:30:00Z");
    let sends = kind(&lines, "send");
    assert_eq!(at(sends[0]), "2027-03-14T12:00:00Z");
    assert_eq!(kind(&lines, "defer")[0]["reason"], "policy quiet hours");
}

#[test]
fn a_campaign_window_closed_names_itself_not_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = TWO_TEXTS.replace(
        "schedule: { timezone: America/New_York }",
        "schedule: { timezone: America/New_York, hours: \"09:00-17:00\" }",
    );
    write(dir.path(), "nightly.yaml", &campaign);
    write(dir.path(), "c.csv", CONTACTS);
    write(dir.path(), "policy.yaml", QUIET);
    // Tue 2026-12-01 23:00 EST: both the window and the quiet hours are closed; the window opens later.
    let out = herald_in(
        dir.path(),
        &[
            "simulate",
            "nightly.yaml",
            "--contacts",
            "c.csv",
            "--config",
            "policy.yaml",
            "--format",
            "jsonl",
            "--start",
            "2026-12-02T04:00:00Z",
        ],
    )
    .ok();
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let defer = kind(&lines, "defer")[0];
    assert_eq!(
        (defer["until"].as_str(), defer["reason"].as_str()),
        (Some("2026-12-02T14:00:00Z"), Some("outside the schedule window"))
    );
}

/// Quiet hours around the present hour in UTC, for `run`, which runs on the system clock.
fn quiet_now() -> (String, DateTime<Utc>) {
    let now = Utc::now();
    let start = (now.hour() + 23) % 24;
    let end = (now.hour() + 2) % 24;
    let end_at = now.date_naive().and_hms_opt(now.hour(), 0, 0).unwrap().and_utc() + chrono::TimeDelta::hours(2);
    (format!("channels: {{ sms: {{ kind: log }} }}\npolicy:\n  quiet_hours: \"{start:02}:00-{end:02}:00\"\n"), end_at)
}

#[test]
fn run_once_holds_a_due_lead_inside_quiet_hours_and_its_history_says_why() {
    let campaign = TWO_TEXTS.replace("America/New_York", "UTC");
    let (policy, end) = quiet_now();
    let dir = setup(&[("nightly.yaml", &campaign), ("c.csv", CONTACTS), ("herald.yaml", &policy)]);
    let d = dir.path();
    let run = ["run", "nightly.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    let out = herald_in(d, &run).ok();
    let sent = std::fs::read_to_string(d.join("out.jsonl")).unwrap_or_default();
    assert!(sent.trim().is_empty(), "nothing acts inside quiet hours: {sent}\n{}", out.stderr);
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = store.history("nightly", ANN).unwrap();
    let deferred = history.iter().find_map(|r| match &r.event {
        Event::Defer { until, reason } => Some((*until, reason.to_string())),
        _ => None,
    });
    assert_eq!(deferred, Some((end, "policy quiet hours".to_string())), "{history:?}");
    drop(store);
    // `--config` naming no policy: the same lead is due and acts.
    let dir = setup(&[
        ("nightly.yaml", &campaign),
        ("c.csv", CONTACTS),
        ("plain.yaml", "channels: { sms: { kind: log } }\n"),
    ]);
    herald_in(
        dir.path(),
        &[
            "run",
            "nightly.yaml",
            "--contacts",
            "c.csv",
            "--db",
            "h.redb",
            "--once",
            "--outbox",
            "out.jsonl",
            "--config",
            "plain.yaml",
        ],
    )
    .ok();
    let sent = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(sent.lines().count(), 1, "{sent}");
}

#[test]
fn herald_test_applies_the_policy_of_its_config() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nightly.yaml", TWO_TEXTS);
    let test = "\
campaign: nightly.yaml
start: 2026-12-01T03:00:00Z
contacts:
  - { phone: \"+14155550100\", name: Ann }
cases:
  - name: the first text waits for the morning
    contact: \"+14155550100\"
    expect:
      sends:
        - { step: first, local_time: \"08:00\" }
        - { step: second, local_time: \"12:00\" }
";
    write(dir.path(), "nightly.test.yaml", test);
    write(dir.path(), "policy.yaml", QUIET);
    let out = herald_in(dir.path(), &["test", "nightly.test.yaml", "--config", "policy.yaml"]);
    assert_eq!(out.code, 0, "{out:?}");
    // Without the policy the text goes at the start, and the case fails.
    let out = herald_in(dir.path(), &["test", "nightly.test.yaml"]);
    assert_eq!(out.code, 1, "{out:?}");
}

const NIGHT_CALLS: &str = "\
id: night_calls
channel: voice
pacing: { concurrency: 2 }
steps:
  - id: ring
    call: { prompt: \"Tell them the table is ready.\" }
";

fn validate(dir: &Path, config: &str, extra: &[&str]) -> Out {
    write(dir, "night_calls.yaml", NIGHT_CALLS);
    write(dir, "policy.yaml", config);
    let mut args = vec!["validate", "night_calls.yaml", "--config", "policy.yaml"];
    args.extend_from_slice(extra);
    Herald::new().dir(dir).args(&args).run()
}

#[test]
fn quiet_hours_over_the_night_satisfy_the_calling_hours_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(dir.path(), "channels: { voice: { kind: log } }\n", &["--deny-warnings"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("herald::tcpa_hours"), "{}", out.stdout);
    let quiet =
        format!("channels: {{ voice: {{ kind: log }} }}\n{}", QUIET.replace("channels: { sms: { kind: log } }\n", ""));
    let out = validate(dir.path(), &quiet, &["--deny-warnings"]);
    assert_eq!(out.code, 0, "{out:?}");
    // Quiet hours that leave 21:00-22:00 open do not.
    let short = "channels: { voice: { kind: log } }\npolicy: { quiet_hours: \"22:00-08:00\" }\n";
    let out = validate(dir.path(), short, &["--deny-warnings"]);
    assert!(out.stdout.contains("herald::tcpa_hours"), "{}", out.stdout);
}

#[test]
fn policy_checks_off_silence_a_warning_and_are_reported_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = "\
channels: { voice: { kind: log } }
policy:
  checks:
    stop_notice: on
    tcpa_hours: { off: \"every contact asked to be called in the evening\" }
";
    let out = validate(dir.path(), config, &["--deny-warnings", "--format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let files = report["files"].as_array().unwrap();
    let policy = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("policy.yaml")).unwrap();
    let off = &policy["checks_off"];
    assert_eq!(off[0]["check"], "herald::tcpa_hours", "{off}");
    assert_eq!(off[0]["source"], "policy", "{off}");
    assert_eq!(off[0]["reason"], "every contact asked to be called in the evening", "{off}");
    assert_eq!(off[0]["line"], 5, "{off}");
    assert_eq!(off.as_array().unwrap().len(), 1, "`on` switches nothing off: {off}");
    assert_eq!(report["summary"]["warnings"], 0, "{}", out.stdout);
}

#[test]
fn bad_policies_are_errors_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let check = |config: &str, says: &[&str]| {
        let out = validate(dir.path(), config, &[]);
        assert_eq!(out.code, 1, "{out:?}");
        for s in says {
            assert!(out.stdout.contains(s), "lacks {s:?}:\n{}", out.stdout);
        }
    };
    check(
        "policy:\n  quiet_hours: \"9pm-8am\"\n",
        &["herald::config_quiet_hours", "policy.yaml:2:16", "expected HH:MM-HH:MM"],
    );
    check("policy:\n  quiet_hours: \"08:00-08:00\"\n", &["start and end at the same time"]);
    check(
        "policy:\n  checks:\n    tcpa_hours: off\n",
        &["`policy.checks.tcpa_hours` is switched off without a reason", "policy.yaml:3:5", "off: \"why"],
    );
    check("policy:\n  checks:\n    stop_notice: { off: \"\" }\n", &["without a reason"]);
    check("policy:\n  checks:\n    tcpa_hour: on\n", &["unknown key `tcpa_hour`", "did you mean `tcpa_hours`?"]);
    check(
        "policy:\n  quiet_hour: \"21:00-08:00\"\n",
        &["unknown key `quiet_hour` in policy", "did you mean `quiet_hours`?"],
    );
    // `run` refuses to start on them, like any other error of herald.yaml.
    write(dir.path(), "c.csv", CONTACTS);
    let out = herald_in(
        dir.path(),
        &["run", "night_calls.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--config", "policy.yaml"],
    );
    assert_eq!(out.code, 1, "{out:?}");
}

#[test]
fn quiet_hours_over_every_hour_a_schedule_opens_are_a_warning_before_launch() {
    let dir = tempfile::tempdir().unwrap();
    let late = TWO_TEXTS.replace(
        "schedule: { timezone: America/New_York }",
        "schedule: { timezone: America/New_York, hours: [\"21:30-23:00\", \"06:00-07:30\"] }",
    );
    write(dir.path(), "late.yaml", &late);
    write(dir.path(), "policy.yaml", QUIET);
    let out = herald_in(dir.path(), &["validate", "late.yaml", "--config", "policy.yaml"]);
    assert_eq!(out.code, 0, "a warning: {out:?}");
    assert!(out.stdout.contains("herald::quiet_schedule"), "{}", out.stdout);
    assert!(out.stdout.contains("quiet hours 21:00-08:00 cover every hour this schedule opens"), "{}", out.stdout);
    assert!(out.stdout.contains("late.yaml:4:"), "at the schedule's hours: {}", out.stdout);
    // One window left open is enough.
    write(dir.path(), "late.yaml", &late.replace("06:00-07:30", "06:00-09:00"));
    let out = herald_in(dir.path(), &["validate", "late.yaml", "--config", "policy.yaml", "--deny-warnings"]);
    assert_eq!(out.code, 0, "{out:?}");
}
