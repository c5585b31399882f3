//! Pacing per channel and per step (docs/language.md, Pacing): the calls of
//! campaigns/appointment-reminders.yaml are paced without holding back the texts, a step's
//! own limit counts only that step, and the narrow limits hold across `run`s.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use herald::runtime::LeadStatus;
use herald::store::Store;

use crate::herald::{Herald, herald_in, root};
use crate::support::{setup, write};

/// `herald simulate CAMPAIGN --contacts CSV --responses RESPONSES --format jsonl`, parsed.
fn simulate(dir: &Path, campaign: &Path, csv: &Path, responses: Option<&Path>) -> Vec<Value> {
    let mut herald = Herald::new().dir(dir).arg("simulate").arg(campaign).arg("--contacts").arg(csv);
    if let Some(responses) = responses {
        herald = herald.arg("--responses").arg(responses);
    }
    let out = herald.args(["--format", "jsonl"]).run().ok();
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn at(line: &Value) -> DateTime<Utc> {
    line["at"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no time: {line}"))
}

/// Deferrals by (step, reason).
fn defers(lines: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for line in lines.iter().filter(|l| l["event"] == "defer") {
        let key = (line["step"].as_str().unwrap_or("").to_string(), line["reason"].as_str().unwrap_or("").to_string());
        *out.entry(key).or_default() += 1;
    }
    out
}

fn count(lines: &[Value], event: &str, step: &str) -> usize {
    lines.iter().filter(|l| l["event"] == event && l["step"] == step).count()
}

/// 300 patients, all booked for the same morning: the calls the day before far exceed the
/// call centre's 120 an hour and five lines.
fn patients(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("phone,customer_name,appointment_date,appointment_time,service_type,advisor\n");
    for i in 0..300 {
        csv.push_str(&format!("+1415555{:04},Patient {i},2026-12-03,10:00 AM,oil change,Marcus\n", 1000 + i));
    }
    write(dir, "patients.csv", &csv)
}

const RESPONSES: &str = "\
- step: confirm_call
  call: { answered: 0.55, no_answer: 0.25, voicemail: 0.15, busy: 0.05 }
  vars: { confirmed: true }
- step: sms_fallback
  reply: { text: \"YES\", after: 40m, probability: 0.5 }
";

/// Sends held back by a pacing limit, by step.
fn texts_paced(lines: &[Value]) -> Vec<(String, usize)> {
    let sends = ["sms_fallback", "confirmed_sms", "day_of_sms", "reschedule_sms", "flag_front_desk"];
    defers(lines)
        .into_iter()
        .filter(|((step, reason), _)| sends.contains(&step.as_str()) && reason.starts_with("pacing"))
        .map(|((step, _), n)| (step, n))
        .collect()
}

#[test]
fn booking_confirmations_are_not_held_back_by_the_calls_pacing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = patients(d);
    let responses = write(d, "responses.yaml", RESPONSES);
    let campaign = root().join("campaigns/appointment-reminders.yaml");
    let lines = simulate(d, &campaign, &csv, Some(&responses));

    let confirmations = count(&lines, "send", "confirmed_sms");
    assert!(confirmations > 200, "{confirmations} confirmations");
    assert_eq!(texts_paced(&lines), [], "no text waits for the calls' limits");
    // The calls are still paced, by the channel's limit, and keep to it.
    let call_defers = defers(&lines).get(&("confirm_call".into(), "pacing (channel voice)".into())).copied();
    assert!(call_defers.unwrap_or(0) > 0, "{:?}", defers(&lines));
    let calls: Vec<DateTime<Utc>> = lines.iter().filter(|l| l["event"] == "call").map(at).collect();
    for start in &calls {
        let within = calls.iter().filter(|t| *t >= start && **t < *start + TimeDelta::hours(1)).count();
        assert!(within <= 120, "{within} calls in the hour from {start}");
    }
    assert!(most_calls_at_once(&lines) <= 5, "{} calls at once", most_calls_at_once(&lines));

    // The same limits for the whole campaign, as before: the confirmations queue behind calls.
    let text = std::fs::read_to_string(&campaign).unwrap();
    let old = "pacing:\n  channels:\n    voice:\n      per_hour: 120\n      concurrency: 5";
    assert!(text.contains(old), "the campaign's pacing changed: update this test");
    let whole = text.replace(old, "pacing:\n  per_hour: 120\n  concurrency: 5");
    std::fs::create_dir_all(d.join("campaigns")).unwrap();
    std::fs::create_dir_all(d.join("examples")).unwrap();
    std::fs::copy(root().join("examples/dnc.csv"), d.join("examples/dnc.csv")).unwrap();
    let whole = write(&d.join("campaigns"), "whole.yaml", &whole);
    let before = simulate(d, &whole, &csv, Some(&responses));
    let held: usize = texts_paced(&before).iter().filter(|(step, _)| step == "confirmed_sms").map(|(_, n)| n).sum();
    assert!(held > 0, "campaign-wide pacing holds confirmations back: {:?}", defers(&before));
}

/// The most calls between their `call` and their `outcome` at any instant (an outcome at the
/// instant a call starts is counted first).
fn most_calls_at_once(lines: &[Value]) -> usize {
    let mut changes: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for line in lines {
        if line["event"] == "call" {
            changes.push((at(line), 1));
        } else if line["event"] == "outcome" && line["step"] == "confirm_call" {
            changes.push((at(line), -1));
        }
    }
    changes.sort();
    let (mut now, mut most) = (0i64, 0i64);
    for (_, change) in changes {
        now += change;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn a_steps_own_pacing_counts_only_that_step() {
    let campaign = "\
id: two
channel: sms
steps:
  - id: pick
    branch:
      - if: contact.name == \"slow\"
        goto: slow
      - else: fast
  - id: slow
    pacing: { per_hour: 1 }
    send: { text: \"One an hour\" }
    next: end
  - id: fast
    send: { text: \"At once\" }
";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write(d, "two.yaml", campaign);
    let rows: String =
        (0..6).map(|i| format!("+1415555010{i},{}\n", if i % 2 == 0 { "slow" } else { "fast" })).collect();
    let csv = write(d, "c.csv", &format!("phone,name\n{rows}"));
    let out = Herald::new()
        .dir(d)
        .arg("simulate")
        .arg(&file)
        .arg("--contacts")
        .arg(&csv)
        .args(["--format", "jsonl", "--start", "2026-12-01T15:00:00Z"])
        .run()
        .ok();
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sends = |step: &str| -> Vec<String> {
        lines.iter().filter(|l| l["event"] == "send" && l["step"] == step).map(|l| at(l).to_rfc3339()).collect()
    };
    assert_eq!(sends("fast"), ["2026-12-01T15:00:00+00:00"; 3]);
    assert_eq!(sends("slow"), ["2026-12-01T15:00:00+00:00", "2026-12-01T16:00:00+00:00", "2026-12-01T17:00:00+00:00"]);
    let reasons: Vec<(String, String)> = defers(&lines).into_keys().collect();
    assert_eq!(reasons, [("slow".to_string(), "pacing (step slow)".to_string())]);
}

fn outbox(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_channels_per_hour_holds_across_cron_runs() {
    let campaign = "\
id: mixed
channel: sms
contacts: { key: phone }
pacing:
  channels:
    sms: { per_hour: 2 }
steps:
  - id: hello
    send: { text: \"hi\" }
  - id: mail
    send: { channel: email, to: \"{{ contact.email }}\", subject: \"Hi\", text: \"hi\" }
";
    let two = "phone,email\n+14155550101,a@example.com\n+14155550102,b@example.com\n";
    let three = "phone,email\n+14155550103,c@example.com\n+14155550104,d@example.com\n+14155550105,e@example.com\n";
    let dir = setup(&[("mixed.yaml", campaign), ("two.csv", two), ("three.csv", three)]);
    let d = dir.path();
    let run = |csv: &str| {
        herald_in(d, &["run", "mixed.yaml", "--contacts", csv, "--db", "h.redb", "--once", "--outbox", "out.jsonl"])
            .ok();
    };
    let sent = |step: &str| outbox(d).iter().filter(|a| a["step"] == step).count();
    run("two.csv");
    assert_eq!((sent("hello"), sent("mail")), (2, 2));
    // A later run: the hour's two SMS are used up (stored with the campaign); email is not
    // counted against them, and none is due before its SMS.
    run("three.csv");
    assert_eq!((sent("hello"), sent("mail")), (2, 2), "two SMS in any hour, however many runs");
    let counts = Store::open(&d.join("h.redb")).unwrap().counts("mixed").unwrap();
    assert_eq!(counts, BTreeMap::from([(LeadStatus::Completed, 2), (LeadStatus::Scheduled, 3)]));
}

#[test]
fn one_voice_line_holds_the_calls_not_the_texts() {
    let campaign = "\
id: lines
channel: voice
contacts: { key: phone }
pacing:
  channels:
    voice: { concurrency: 1 }
steps:
  - id: text
    send: { channel: sms, text: \"We will call you shortly\" }
  - id: ring
    call: { prompt: \"Hello\" }
";
    let three = "phone\n+14155550101\n+14155550102\n+14155550103\n";
    let dir = setup(&[("lines.yaml", campaign), ("c.csv", three)]);
    let d = dir.path();
    let run = || {
        herald_in(
            d,
            &["run", "lines.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"],
        )
        .ok();
    };
    let sent = |step: &str| outbox(d).iter().filter(|a| a["step"] == step).count();
    run();
    assert_eq!((sent("text"), sent("ring")), (3, 1), "every text goes; one line, one call");
    // The call has no outcome yet: another run makes no second call (the count of calls in
    // flight across a restart is driver::run_tests' `a_channels_calls_in_flight_...`).
    run();
    assert_eq!((sent("text"), sent("ring")), (3, 1), "{:?}", outbox(d));
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = store.history("lines", "+14155550102").unwrap();
    let reasons: Vec<String> = history
        .iter()
        .filter_map(|r| match &r.event {
            herald::runtime::Event::Defer { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    assert!(!reasons.is_empty() && reasons.iter().all(|r| r == "pacing (channel voice)"), "{reasons:?}");
}
