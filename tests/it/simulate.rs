//! `herald simulate` end to end: the real binary on a virtual clock, one test per rule of
//! SPEC §5, asserting on the JSON lines it prints (`--format jsonl`).
//!
//! Every run also checks the output contract of SPEC §7: lines come in time order, and every
//! contact ends with exactly one `exit` line carrying its `lead_status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::herald::{Herald, Out, herald_in};
use crate::support::write;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Write `campaign.yaml`, `contacts.csv` and (if given) `responses.yaml` into `dir` and run
/// `herald simulate campaign.yaml --contacts contacts.csv [--responses responses.yaml] ARGS`.
fn run_in(dir: &Path, campaign: &str, csv: &str, responses: Option<&str>, args: &[&str]) -> Out {
    let file = write(dir, "campaign.yaml", campaign);
    let contacts = write(dir, "contacts.csv", csv);
    let mut herald = Herald::new().dir(dir).arg("simulate").arg(&file).arg("--contacts").arg(&contacts);
    if let Some(responses) = responses {
        herald = herald.arg("--responses").arg(write(dir, "responses.yaml", responses));
    }
    herald.args(args).run()
}

/// Simulate from `start` in a fresh directory and return the JSON lines.
fn simulate(campaign: &str, csv: &str, responses: Option<&str>, start: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    simulate_in(dir.path(), campaign, csv, responses, &["--start", start])
}

/// Simulate in `dir` with extra arguments (`--format jsonl` is added) and return the lines.
fn simulate_in(dir: &Path, campaign: &str, csv: &str, responses: Option<&str>, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "jsonl"];
    all.extend_from_slice(args);
    let run = run_in(dir, campaign, csv, responses, &all);
    assert_eq!(run.code, 0, "simulate failed\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    parse(&run.stdout)
}

/// Parse the JSON lines and check the contract every run keeps.
fn parse(stdout: &str) -> Vec<Value> {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &lines {
        for field in ["at", "contact", "event"] {
            assert!(line.get(field).is_some(), "no `{field}`: {line}");
        }
        assert!(line["at"].as_str().unwrap().ends_with('Z'), "`at` is not RFC 3339 UTC: {line}");
    }
    for pair in lines.windows(2) {
        assert!(at(&pair[0]) <= at(&pair[1]), "out of time order:\n{}\n{}", pair[0], pair[1]);
    }
    let contacts: BTreeSet<&str> = lines.iter().map(|l| l["contact"].as_str().unwrap()).collect();
    for contact in contacts {
        let mine: Vec<&Value> = lines.iter().filter(|l| l["contact"] == contact).collect();
        let last = mine.last().unwrap();
        assert_eq!(last["event"], "exit", "{contact}'s last line is not its exit: {last}");
        assert!(last["lead_status"].is_string(), "exit without lead_status: {last}");
        // A duplicate row is reported under the key it duplicates; the contact itself still
        // ends exactly once.
        let exits = mine.iter().filter(|l| l["event"] == "exit" && l["reason"] != "duplicate").count();
        assert_eq!(exits, 1, "{contact} has {exits} exit lines:\n{}", show(&mine));
    }
    lines
}

fn show(lines: &[&Value]) -> String {
    lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
}

fn at(line: &Value) -> &str {
    line["at"].as_str().expect("`at` is a string")
}

/// A contact's lines.
fn of<'a>(lines: &'a [Value], contact: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["contact"] == contact).collect()
}

/// A contact's lines of one event kind.
fn events<'a>(lines: &'a [Value], contact: &str, event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["contact"] == contact && l["event"] == event).collect()
}

/// Every line of one event kind.
fn all<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

fn times(lines: &[&Value]) -> Vec<String> {
    lines.iter().map(|l| at(l).to_string()).collect()
}

/// A contact's final exit line (the contract says it is its last line).
fn exit<'a>(lines: &'a [Value], contact: &str) -> &'a Value {
    let mine = of(lines, contact);
    let last = *mine.last().unwrap_or_else(|| panic!("no lines for {contact}"));
    assert_eq!(last["event"], "exit", "{}", show(&mine));
    last
}

/// (lead_status, reason) of a contact's exit.
fn status(lines: &[Value], contact: &str) -> (String, Option<String>) {
    let exit = exit(lines, contact);
    (exit["lead_status"].as_str().unwrap().to_string(), exit["reason"].as_str().map(str::to_string))
}

fn phones(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1415555{:04}", 100 + i)).collect()
}

const ANN: &str = "+14155550100";
const BO: &str = "+14155550101";
const CY: &str = "+14155550102";
const DEE: &str = "+14155550103";

const FOUR: &str = "phone,name\n+14155550100,Ann\n+14155550101,Bo\n+14155550102,Cy\n+14155550103,Dee\n";

// ---------------------------------------------------------------------------------------------
// 1. Schedule window
// ---------------------------------------------------------------------------------------------

#[test]
fn a_send_due_friday_evening_is_deferred_to_monday_morning_local() {
    let campaign = r#"
id: weekend
channel: sms
schedule:
  timezone: America/New_York
  hours: "09:00-17:00"
  days: weekdays
steps:
  - id: pause
    wait: 2h
  - id: hello
    send: { text: "Hi {{ contact.name }}" }
"#;
    // Ann is in New York (the campaign zone); Bo is in Los Angeles, three hours behind.
    let csv = "phone,name,timezone\n+14155550100,Ann,\n+14155550101,Bo,America/Los_Angeles\n";
    // Friday 2026-12-04 16:30 EST; the send is due at 18:30 EST.
    let lines = simulate(campaign, csv, None, "2026-12-04T21:30:00Z");

    let defers = events(&lines, ANN, "defer");
    assert_eq!(defers.len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!(at(defers[0]), "2026-12-04T23:30:00Z");
    assert_eq!(defers[0]["step"], "hello");
    // Monday 2026-12-07 09:00 EST.
    assert_eq!(defers[0]["until"], "2026-12-07T14:00:00Z");
    let sends = events(&lines, ANN, "send");
    assert_eq!(times(&sends), ["2026-12-07T14:00:00Z"]);
    assert_eq!(sends[0]["text"], "Hi Ann");
    assert_eq!(sends[0]["to"], ANN);
    assert_eq!(status(&lines, ANN), ("completed".into(), None));

    // 15:30 in Los Angeles is inside the window: no deferral.
    assert!(events(&lines, BO, "defer").is_empty(), "{}", show(&of(&lines, BO)));
    assert_eq!(times(&events(&lines, BO, "send")), ["2026-12-04T23:30:00Z"]);
    assert_eq!(status(&lines, BO).0, "completed");
}

// ---------------------------------------------------------------------------------------------
// 2. Retries
// ---------------------------------------------------------------------------------------------

const RETRY_CALL: &str = r#"
id: retries
channel: voice
steps:
  - id: remind
    call: { prompt: "Hello {{ contact.name }}" }
    retry: { attempts: 2, interval: [15m, 1h], on: [no_answer] }
"#;

const NEVER_ANSWERS: &str = "- step: remind\n  call: { no_answer: 1.0 }\n";

#[test]
fn retries_run_out_into_failed_max_retries_at_progressive_intervals() {
    let lines = simulate(RETRY_CALL, "phone,name\n+14155550100,Ann\n", Some(NEVER_ANSWERS), "2026-12-01T15:00:00Z");

    let calls = events(&lines, ANN, "call");
    // First try, then 15m after the first no_answer (30 s later), then 1h after the second.
    assert_eq!(times(&calls), ["2026-12-01T15:00:00Z", "2026-12-01T15:15:30Z", "2026-12-01T16:16:00Z"]);
    let attempts: Vec<&Value> = calls.iter().map(|c| &c["attempt"]).collect();
    assert_eq!(attempts, [1, 2, 3]);
    let keys: BTreeSet<&str> = calls.iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 3, "every attempt has its own idempotency key: {keys:?}");

    let outcomes = events(&lines, ANN, "outcome");
    assert!(outcomes.iter().all(|o| o["status"] == "no_answer"), "{}", show(&outcomes));
    assert_eq!(outcomes.len(), 3);

    let retries = events(&lines, ANN, "retry");
    assert_eq!(retries.len(), 2, "{}", show(&of(&lines, ANN)));
    assert_eq!(retries[0]["attempt"], 2);
    assert_eq!(retries[0]["until"], "2026-12-01T15:15:30Z");
    assert_eq!(retries[1]["attempt"], 3);
    assert_eq!(retries[1]["until"], "2026-12-01T16:16:00Z");

    assert_eq!(status(&lines, ANN), ("failed".into(), Some("max_retries".into())));
    assert_eq!(at(exit(&lines, ANN)), "2026-12-01T16:16:30Z");
}

#[test]
fn when_retries_run_out_the_routes_see_the_last_outcome() {
    let campaign = r#"
id: retries-routed
channel: voice
steps:
  - id: remind
    call: { prompt: "Hello" }
    retry: { attempts: 1, interval: 1h, on: [no_answer] }
    routes:
      - if: call.status == "no_answer" and call.attempt == 2
        goto: fallback
  - id: thanks
    send: { channel: sms, text: "Thanks" }
    next: end
  - id: fallback
    send: { channel: sms, text: "We could not reach you" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n", Some(NEVER_ANSWERS), "2026-12-01T15:00:00Z");
    assert_eq!(times(&events(&lines, ANN, "call")), ["2026-12-01T15:00:00Z", "2026-12-01T16:00:30Z"]);
    let sends = events(&lines, ANN, "send");
    assert_eq!(sends.len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!(sends[0]["step"], "fallback");
    assert_eq!(at(sends[0]), "2026-12-01T16:01:00Z");
    assert_eq!(status(&lines, ANN), ("completed".into(), None));
}

#[test]
fn a_retry_due_outside_the_window_waits_for_the_next_opening() {
    let campaign = r#"
id: retry-window
channel: voice
schedule:
  timezone: UTC
  hours: "09:00-17:00"
  days: every_day
steps:
  - id: remind
    call: { prompt: "Hello" }
    retry: { attempts: 1, interval: 15m, on: [no_answer] }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n", Some(NEVER_ANSWERS), "2026-12-01T16:50:00Z");
    // The retry is due at 17:05:30, after closing: it goes at the next day's opening.
    let retries = events(&lines, ANN, "retry");
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0]["until"], "2026-12-01T17:05:30Z");
    let defers = events(&lines, ANN, "defer");
    assert_eq!(defers.len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!(at(defers[0]), "2026-12-01T17:05:30Z");
    assert_eq!(defers[0]["until"], "2026-12-02T09:00:00Z");
    assert_eq!(times(&events(&lines, ANN, "call")), ["2026-12-01T16:50:00Z", "2026-12-02T09:00:00Z"]);
    assert_eq!(status(&lines, ANN), ("failed".into(), Some("max_retries".into())));
}

// ---------------------------------------------------------------------------------------------
// 3. Goal-based retry
// ---------------------------------------------------------------------------------------------

const NO_ANSWER_THEN_CONFIRMED: &str = "
- step: remind
  when: call.attempt <= 1
  call: { no_answer: 1.0 }
- step: remind
  call: { answered: 1.0 }
  vars: { confirmed: true }
";

#[test]
fn goal_based_retry_stops_as_soon_as_until_holds_and_routes_on_it() {
    let campaign = r#"
id: confirm
channel: voice
steps:
  - id: remind
    call: { prompt: "Can you confirm?" }
    retry: { attempts: 3, interval: 1h, until: vars.confirmed == true }
    routes:
      - if: vars.confirmed == true
        goto: thanks
      - else: end
  - id: thanks
    send: { channel: sms, text: "Thanks, see you soon!" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n", Some(NO_ANSWER_THEN_CONFIRMED), "2026-12-01T15:00:00Z");
    let calls = events(&lines, ANN, "call");
    assert_eq!(times(&calls), ["2026-12-01T15:00:00Z", "2026-12-01T16:00:30Z"], "{}", show(&of(&lines, ANN)));
    let outcomes: Vec<&Value> = events(&lines, ANN, "outcome").iter().map(|o| &o["status"]).collect();
    assert_eq!(outcomes[..2], ["no_answer", "answered"]);
    assert_eq!(events(&lines, ANN, "retry").len(), 1);
    let routes = events(&lines, ANN, "route");
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["to"], "thanks");
    // An answered call lasts 3 minutes in the simulation.
    assert_eq!(at(routes[0]), "2026-12-01T16:03:30Z");
    let sends = events(&lines, ANN, "send");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["text"], "Thanks, see you soon!");
    assert_eq!(status(&lines, ANN), ("completed".into(), None));
}

#[test]
fn goal_met_by_a_retried_call_converts_the_lead_at_once() {
    let campaign = r#"
id: confirm-goal
channel: voice
goal: vars.confirmed == true
steps:
  - id: remind
    call: { prompt: "Can you confirm?" }
    retry: { attempts: 3, interval: 1h, until: vars.confirmed == true }
  - id: later
    wait: 1d
  - id: followup
    send: { channel: sms, text: "Following up" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n", Some(NO_ANSWER_THEN_CONFIRMED), "2026-12-01T15:00:00Z");
    assert_eq!(events(&lines, ANN, "call").len(), 2, "{}", show(&of(&lines, ANN)));
    assert!(events(&lines, ANN, "send").is_empty(), "{}", show(&of(&lines, ANN)));
    assert_eq!(status(&lines, ANN), ("converted".into(), None));
    assert_eq!(at(exit(&lines, ANN)), "2026-12-01T16:03:30Z");
}

#[test]
fn an_outcome_in_on_is_retried_even_once_until_holds() {
    // SPEC §1's shape: a campaign policy with `until`. After the call confirms, `until` holds,
    // but a `thanks` SMS that failed is still an outcome in `on`: it is sent again.
    let campaign = r#"
id: confirm-thanks
channel: voice
retry: { attempts: 1, interval: 1h, on: [no_answer, failed], until: vars.confirmed == true }
steps:
  - id: remind
    call: { prompt: "Can you confirm?" }
  - id: thanks
    send: { channel: sms, text: "Thanks, see you soon!" }
"#;
    let responses = "
- step: remind
  call: { answered: 1.0 }
  vars: { confirmed: true }
- step: thanks
  when: lead.attempts <= 1
  delivery: { failed: 1.0 }
";
    let lines = simulate(campaign, "phone\n+14155550100\n", Some(responses), "2026-12-01T15:00:00Z");
    assert_eq!(events(&lines, ANN, "call").len(), 1, "{}", show(&of(&lines, ANN)));
    // The call ends at 15:03; the failed SMS is retried an hour later and delivered.
    assert_eq!(times(&events(&lines, ANN, "send")), ["2026-12-01T15:03:00Z", "2026-12-01T16:03:00Z"]);
    let outcomes: Vec<&Value> = events(&lines, ANN, "outcome").iter().map(|o| &o["status"]).collect();
    assert_eq!(outcomes, ["answered", "failed", "delivered"]);
    assert_eq!(status(&lines, ANN), ("completed".into(), None));
}

// ---------------------------------------------------------------------------------------------
// 4. Opt-out
// ---------------------------------------------------------------------------------------------

const NURTURE: &str = r#"
id: nurture
channel: sms
steps:
  - id: first
    send: { text: "Hi {{ contact.name }}, reply STOP to opt out" }
  - id: pause
    wait: 1d
  - id: second
    send: { text: "Still there?" }
"#;

#[test]
fn an_opt_out_reply_ends_the_lead_opted_out_with_no_further_sends() {
    let responses = r#"
- step: first
  when: contact.name == "Ann"
  reply: { text: "  stop ", after: 10m }
- step: first
  when: contact.name == "Bo"
  reply: { text: "Opt  OUT", after: 2h }
- step: first
  when: contact.name == "Cy"
  reply: { text: "please stop calling me maybe", after: 1h }
"#;
    let lines = simulate(NURTURE, FOUR, Some(responses), "2026-12-01T15:00:00Z");

    let replies = events(&lines, ANN, "reply");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["text"], "  stop ");
    assert_eq!(at(replies[0]), "2026-12-01T15:10:00Z");
    assert_eq!(status(&lines, ANN), ("opted_out".into(), Some("opt_out".into())));
    assert_eq!(at(exit(&lines, ANN)), "2026-12-01T15:10:00Z");
    let steps: Vec<&Value> = events(&lines, ANN, "send").iter().map(|s| &s["step"]).collect();
    assert_eq!(steps, ["first"]);

    assert_eq!(status(&lines, BO).0, "opted_out");
    assert_eq!(at(exit(&lines, BO)), "2026-12-01T17:00:00Z");
    assert_eq!(events(&lines, BO, "send").len(), 1);

    // Not an opt-out keyword on its own: recorded, and the sequence goes on.
    assert_eq!(events(&lines, CY, "reply").len(), 1);
    assert_eq!(times(&events(&lines, CY, "send")), ["2026-12-01T15:00:00Z", "2026-12-02T15:00:00Z"]);
    assert_eq!(status(&lines, CY).0, "completed");
    assert_eq!(status(&lines, DEE).0, "completed");
}

#[test]
fn an_opt_out_suppresses_the_contact_in_later_runs_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let db = db.to_str().unwrap();
    let responses = "- step: first\n  when: contact.name == \"Ann\"\n  reply: { text: STOP, after: 10m }\n";
    let first = dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let lines = simulate_in(&first, NURTURE, FOUR, Some(responses), &["--start", "2026-12-01T15:00:00Z", "--db", db]);
    assert_eq!(status(&lines, ANN).0, "opted_out");

    // Another campaign, same database: Ann is never contacted again.
    let other = NURTURE.replace("id: nurture", "id: other");
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let lines = simulate_in(&second, &other, FOUR, None, &["--start", "2026-12-05T15:00:00Z", "--db", db]);
    assert_eq!(status(&lines, ANN), ("skipped".into(), Some("suppressed".into())), "{}", show(&of(&lines, ANN)));
    assert!(events(&lines, ANN, "send").is_empty());
    assert_eq!(status(&lines, BO).0, "completed");
}

// ---------------------------------------------------------------------------------------------
// 5. Awaits and replies
// ---------------------------------------------------------------------------------------------

const CONFIRM_SMS: &str = r#"
id: confirm-sms
channel: sms
steps:
  - id: ask
    send: { text: "Reply YES to confirm" }
  - id: pause
    wait: 1h
    when: contact.name == "Dee"
  - id: wait_confirm
    await: { reply: 1d }
    routes:
      - if: reply.text matches "(?i)^\s*(yes|y)\b"
        set: { confirmed: true }
        goto: thanks
      - if: reply.timed_out
        goto: nudge
      - else: end
  - id: thanks
    send: { text: "Thanks!" }
    next: end
  - id: nudge
    send: { text: "Still there?" }
"#;

#[test]
fn an_await_routes_a_reply_by_its_text_and_a_timeout_exactly_at_the_deadline() {
    let responses = r#"
- step: ask
  when: contact.name == "Ann"
  reply: { text: " yes please", after: 2h }
- step: ask
  when: contact.name == "Cy"
  reply: { text: "maybe later", after: 30m }
- step: ask
  when: contact.name == "Dee"
  reply: { text: "YES", after: 10m }
"#;
    let lines = simulate(CONFIRM_SMS, FOUR, Some(responses), "2026-12-01T15:00:00Z");

    // Ann: the reply routes to thanks when it arrives.
    let routes = events(&lines, ANN, "route");
    assert_eq!(routes.len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!((at(routes[0]), &routes[0]["to"]), ("2026-12-01T17:00:00Z", &Value::from("thanks")));
    let sets = events(&lines, ANN, "set");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["name"], "confirmed");
    let sends: Vec<(String, &Value)> = events(&lines, ANN, "send").iter().map(|s| (at(s).into(), &s["text"])).collect();
    assert_eq!(
        sends,
        [
            ("2026-12-01T15:00:00Z".to_string(), &Value::from("Reply YES to confirm")),
            ("2026-12-01T17:00:00Z".to_string(), &Value::from("Thanks!"))
        ]
    );
    assert_eq!(status(&lines, ANN).0, "completed");

    // Bo never replies: the timeout route, exactly one day later.
    let routes = events(&lines, BO, "route");
    assert_eq!(routes.len(), 1, "{}", show(&of(&lines, BO)));
    assert_eq!((at(routes[0]), &routes[0]["to"]), ("2026-12-02T15:00:00Z", &Value::from("nudge")));
    let timeouts: Vec<&Value> =
        events(&lines, BO, "outcome").into_iter().filter(|o| o["status"] == "timed_out").collect();
    assert_eq!(timeouts.len(), 1);
    assert_eq!(at(timeouts[0]), "2026-12-02T15:00:00Z");
    assert_eq!(times(&events(&lines, BO, "send")), ["2026-12-01T15:00:00Z", "2026-12-02T15:00:00Z"]);

    // Cy's reply matches nothing but `else`: the lead ends when it arrives.
    assert_eq!(events(&lines, CY, "route")[0]["to"], "end");
    assert_eq!(status(&lines, CY).0, "completed");
    assert_eq!(at(exit(&lines, CY)), "2026-12-01T15:30:00Z");
    assert_eq!(events(&lines, CY, "send").len(), 1);

    // Dee replied YES before the await began (during a wait): entering the await clears
    // `reply.*`, so it times out and gets the nudge.
    assert_eq!(at(events(&lines, DEE, "reply")[0]), "2026-12-01T15:10:00Z");
    let routes = events(&lines, DEE, "route");
    assert_eq!(routes.len(), 1, "{}", show(&of(&lines, DEE)));
    assert_eq!((at(routes[0]), &routes[0]["to"]), ("2026-12-02T16:00:00Z", &Value::from("nudge")));
}

#[test]
fn replies_outside_an_await_follow_the_campaign_replies_routes_and_exit_when() {
    let campaign = r#"
id: replies
channel: sms
exit_when: reply.intent == "not_interested"
replies:
  - if: reply.intent == "question"
    goto: answer
steps:
  - id: first
    send: { text: "Hello" }
  - id: pause
    wait: 2d
  - id: second
    send: { text: "Second" }
    next: end
  - id: answer
    send: { text: "Here is the answer" }
"#;
    let responses = r#"
- step: first
  when: contact.name == "Ann"
  reply: { text: "what is it?", intent: question, after: 1h }
- step: first
  when: contact.name == "Bo"
  reply: { text: "no thanks", intent: not_interested, after: 1h }
- step: first
  when: contact.name == "Cy"
  reply: { text: "hello", after: 1h }
"#;
    let lines = simulate(campaign, FOUR, Some(responses), "2026-12-01T15:00:00Z");
    let steps = |contact: &str| -> Vec<(String, String)> {
        events(&lines, contact, "send")
            .iter()
            .map(|s| (at(s).to_string(), s["step"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(
        steps(ANN),
        [("2026-12-01T15:00:00Z".into(), "first".into()), ("2026-12-01T16:00:00Z".into(), "answer".into())]
    );
    assert_eq!(status(&lines, ANN).0, "completed");
    assert_eq!(steps(BO), [("2026-12-01T15:00:00Z".into(), "first".into())]);
    assert_eq!(status(&lines, BO), ("exited".into(), Some("exit_when".into())));
    assert_eq!(at(exit(&lines, BO)), "2026-12-01T16:00:00Z");
    // A reply no route wants is only recorded.
    assert_eq!(
        steps(CY),
        [("2026-12-01T15:00:00Z".into(), "first".into()), ("2026-12-03T15:00:00Z".into(), "second".into())]
    );
    assert_eq!(events(&lines, CY, "reply").len(), 1);
}

#[test]
fn a_reply_with_no_delay_reaches_the_await_after_the_message() {
    let responses = "- step: ask\n  when: contact.name == \"Ann\"\n  reply: { text: \"yes\" }\n";
    let lines = simulate(CONFIRM_SMS, FOUR, Some(responses), "2026-12-01T15:00:00Z");
    let mine = of(&lines, ANN);
    let kinds: Vec<&str> = mine.iter().map(|l| l["event"].as_str().unwrap()).collect();
    let send = kinds.iter().position(|k| *k == "send").unwrap();
    let reply = kinds.iter().position(|k| *k == "reply").unwrap();
    assert!(send < reply, "the reply comes after the message: {kinds:?}");
    let routes = events(&lines, ANN, "route");
    assert_eq!(routes.len(), 1, "{}", show(&mine));
    assert_eq!((at(routes[0]), &routes[0]["to"]), ("2026-12-01T15:00:00Z", &Value::from("thanks")));
    assert_eq!(events(&lines, ANN, "send").len(), 2);
}

#[test]
fn an_event_await_times_out_with_reply_timed_out() {
    let campaign = r#"
id: purchase
channel: sms
steps:
  - id: offer
    send: { text: "Buy now" }
  - id: wait_purchase
    await: { event: purchased, timeout: 2d }
    routes:
      - if: reply.timed_out
        goto: nudge
      - else: end
  - id: nudge
    send: { text: "Last chance" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n", None, "2026-12-01T15:00:00Z");
    let routes = events(&lines, ANN, "route");
    assert_eq!(routes.len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!((at(routes[0]), &routes[0]["to"]), ("2026-12-03T15:00:00Z", &Value::from("nudge")));
    assert_eq!(times(&events(&lines, ANN, "send")), ["2026-12-01T15:00:00Z", "2026-12-03T15:00:00Z"]);
}

// ---------------------------------------------------------------------------------------------
// 6. Splits
// ---------------------------------------------------------------------------------------------

const SPLIT: &str = r#"
id: ab
channel: sms
steps:
  - id: pick
    split:
      - { variant: a, weight: 50, goto: offer }
      - { variant: b, weight: 30, goto: offer }
      - { variant: holdout, weight: 20, goto: end }
  - id: offer
    send:
      text: "Default offer"
      variants:
        a: { text: "Offer A" }
        b: { text: "Offer B" }
"#;

fn variants(lines: &[Value]) -> BTreeMap<String, String> {
    all(lines, "split")
        .iter()
        .map(|l| (l["contact"].as_str().unwrap().to_string(), l["variant"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn splits_follow_the_weights_are_deterministic_and_holdouts_get_nothing() {
    let keys = phones(1000);
    let csv = format!("phone\n{}\n", keys.join("\n"));
    let dir = tempfile::tempdir().unwrap();
    let lines = simulate_in(dir.path(), SPLIT, &csv, None, &["--start", "2026-12-01T15:00:00Z"]);
    assert_eq!(all(&lines, "exit").len(), 1000);
    let first = variants(&lines);
    assert_eq!(first.len(), 1000, "every contact is assigned once");

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for variant in first.values() {
        *counts.entry(variant.as_str()).or_default() += 1;
    }
    for (variant, weight) in [("a", 0.5), ("b", 0.3), ("holdout", 0.2)] {
        let share = counts.get(variant).copied().unwrap_or(0) as f64 / 1000.0;
        assert!((share - weight).abs() < 0.04, "{variant}: {share} for weight {weight}: {counts:?}");
    }

    for key in &keys {
        let sends = events(&lines, key, "send");
        match first[key].as_str() {
            "holdout" => {
                assert!(sends.is_empty(), "holdout {key} got {}", show(&sends));
                assert_eq!(status(&lines, key).0, "completed");
            }
            variant => {
                assert_eq!(sends.len(), 1, "{key}");
                assert_eq!(sends[0]["variant"], variant);
                assert_eq!(sends[0]["text"], if variant == "a" { "Offer A" } else { "Offer B" });
            }
        }
    }

    // A second run, with a database and another seed: the same assignment for everyone.
    let db = dir.path().join("again.redb");
    let again = simulate_in(
        dir.path(),
        SPLIT,
        &csv,
        None,
        &["--start", "2026-12-08T15:00:00Z", "--seed", "99", "--db", db.to_str().unwrap()],
    );
    assert_eq!(variants(&again), first);
}

// ---------------------------------------------------------------------------------------------
// 7. Daylight saving time
// ---------------------------------------------------------------------------------------------

fn wait_until(time: &str) -> String {
    format!(
        r#"
id: dst
channel: sms
schedule: {{ timezone: America/New_York }}
steps:
  - id: night
    wait: {{ until: "{time}" }}
  - id: ping
    send: {{ text: "ping" }}
"#
    )
}

#[test]
fn local_times_are_dst_safe() {
    let csv = "phone\n+14155550100\n";

    // 2027-03-14, New York springs forward 02:00 EST -> 03:00 EDT; 02:30 does not exist and
    // means 03:00 EDT (07:00Z). Start Saturday 23:00 EST.
    let lines = simulate(&wait_until("02:30"), csv, None, "2027-03-14T04:00:00Z");
    let waits = events(&lines, ANN, "wait");
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0]["until"], "2027-03-14T07:00:00Z");
    assert_eq!(times(&events(&lines, ANN, "send")), ["2027-03-14T07:00:00Z"]);

    // 2026-11-01, New York falls back; 01:30 happens twice, first in EDT (05:30Z), then in EST
    // (06:30Z). Start Saturday 23:00 EDT.
    let lines = simulate(&wait_until("01:30"), csv, None, "2026-11-01T03:00:00Z");
    assert_eq!(events(&lines, ANN, "wait")[0]["until"], "2026-11-01T05:30:00Z");
    assert_eq!(times(&events(&lines, ANN, "send")), ["2026-11-01T05:30:00Z"]);

    // A window opening at 02:30 on the spring-forward night opens at 03:00 EDT.
    let campaign = r#"
id: dst-window
channel: sms
schedule:
  timezone: America/New_York
  hours: "02:30-05:00"
  days: every_day
steps:
  - id: ping
    send: { text: "ping" }
"#;
    let lines = simulate(campaign, csv, None, "2027-03-14T05:00:00Z");
    let defers = events(&lines, ANN, "defer");
    assert_eq!(defers.len(), 1);
    assert_eq!(defers[0]["until"], "2027-03-14T07:00:00Z");
    assert_eq!(times(&events(&lines, ANN, "send")), ["2027-03-14T07:00:00Z"]);

    // The same window the next night is back to 02:30 EDT (06:30Z).
    let lines = simulate(campaign, csv, None, "2027-03-15T05:00:00Z");
    assert_eq!(times(&events(&lines, ANN, "send")), ["2027-03-15T06:30:00Z"]);
}

// ---------------------------------------------------------------------------------------------
// 8. Audience hygiene
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_duplicate_suppressed_filtered_and_incomplete_rows_are_skipped_with_reasons() {
    let campaign = r#"
id: hygiene
channel: sms
contacts:
  key: phone
  region: US
  require: [phone, name]
  where: contact.segment != "test"
  suppress: [dnc.csv]
steps:
  - id: pause
    wait: 1h
  - id: hello
    send: { text: "Hi {{ contact.name }}" }
"#;
    let csv = "\
phone,name,segment
+14155550100,Ann,retail
(415) 555-0100,Ann again,retail
12345,Bob,retail
+14155550102,Cara,retail
+14155550103,Dan,test
+14155550104,,retail
415-555-0105,Eve,retail
+14155550106,Fay,retail,extra
";
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "dnc.csv", "address,reason\n(415) 555-0102,asked\n");
    let lines = simulate_in(dir.path(), campaign, csv, None, &["--start", "2026-12-01T15:00:00Z"]);

    let skipped = |contact: &str, reason: &str| {
        let exits: Vec<&Value> =
            events(&lines, contact, "exit").into_iter().filter(|e| e["reason"] == reason).collect();
        assert_eq!(exits.len(), 1, "{contact}: no skipped exit for {reason}:\n{}", show(&of(&lines, contact)));
        assert_eq!(exits[0]["lead_status"], "skipped");
        assert_eq!(at(exits[0]), "2026-12-01T15:00:00Z");
    };
    // The duplicate row is the same contact again: counted by the import, no second lead.
    assert_eq!(events(&lines, ANN, "exit").len(), 1, "{}", show(&of(&lines, ANN)));
    skipped("12345", "invalid_phone");
    skipped(CY, "suppressed");
    skipped(DEE, "filtered");
    skipped("+14155550104", "missing_required");
    skipped("+14155550106", "invalid_row");
    for contact in ["12345", CY, DEE, "+14155550104", "+14155550106"] {
        assert_eq!(of(&lines, contact).len(), 1, "{}", show(&of(&lines, contact)));
    }

    // The first Ann row, and Eve (a national number), proceed.
    for (contact, name) in [(ANN, "Ann"), ("+14155550105", "Eve")] {
        let sends = events(&lines, contact, "send");
        assert_eq!(sends.len(), 1, "{contact}:\n{}", show(&of(&lines, contact)));
        assert_eq!(at(sends[0]), "2026-12-01T16:00:00Z");
        assert_eq!(sends[0]["text"], format!("Hi {name}"));
        assert_eq!(status(&lines, contact), ("completed".into(), None));
    }
    assert_eq!(all(&lines, "send").len(), 2);
}

#[test]
fn a_duplicate_row_does_not_override_the_final_status_of_its_contact() {
    let campaign = "id: dup\nchannel: sms\nsteps:\n  - id: hello\n    send: { text: \"Hi\" }\n";
    let lines = simulate(campaign, "phone\n+14155550100\n(415) 555-0100\n", None, "2026-12-01T15:00:00Z");
    assert_eq!(events(&lines, ANN, "send").len(), 1);
    assert_eq!(status(&lines, ANN), ("completed".into(), None), "{}", show(&of(&lines, ANN)));
}

#[test]
fn a_required_column_missing_from_the_header_skips_every_row() {
    let campaign = r#"
id: required
channel: sms
contacts:
  require: [phone, name]
steps:
  - id: hello
    send: { text: "Hi" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n+14155550101\n", None, "2026-12-01T15:00:00Z");
    assert!(all(&lines, "send").is_empty());
    for contact in [ANN, BO] {
        assert_eq!(status(&lines, contact), ("skipped".into(), Some("missing_required".into())));
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Pacing
// ---------------------------------------------------------------------------------------------

#[test]
fn per_hour_pacing_spreads_sends_in_order() {
    let campaign = r#"
id: paced
channel: sms
pacing: { per_hour: 2 }
steps:
  - id: hello
    send: { text: "Hi" }
"#;
    let keys = phones(5);
    let csv = format!("phone\n{}\n", keys.join("\n"));
    let lines = simulate(campaign, &csv, None, "2026-12-01T15:00:00Z");
    let sends = all(&lines, "send");
    let order: Vec<(&str, &str)> = sends.iter().map(|s| (at(s), s["contact"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        [
            ("2026-12-01T15:00:00Z", keys[0].as_str()),
            ("2026-12-01T15:00:00Z", keys[1].as_str()),
            ("2026-12-01T16:00:00Z", keys[2].as_str()),
            ("2026-12-01T16:00:00Z", keys[3].as_str()),
            ("2026-12-01T17:00:00Z", keys[4].as_str()),
        ]
    );
    // Any 60-minute period holds at most two starts.
    let starts: Vec<chrono::DateTime<chrono::Utc>> = sends.iter().map(|s| at(s).parse().unwrap()).collect();
    for t in &starts {
        let within = starts.iter().filter(|s| *s >= t && **s < *t + chrono::TimeDelta::hours(1)).count();
        assert!(within <= 2, "{within} sends in the hour from {t}");
    }
    for key in &keys[2..] {
        let defers = events(&lines, key, "defer");
        assert!(!defers.is_empty() && defers.iter().all(|d| d["reason"] == "pacing"), "{}", show(&of(&lines, key)));
    }
    assert!(keys.iter().all(|k| status(&lines, k).0 == "completed"));
}

#[test]
fn concurrency_one_serialises_calls() {
    let campaign = r#"
id: serial
channel: voice
pacing: { concurrency: 1 }
steps:
  - id: ring
    call: { prompt: "Hi" }
"#;
    let keys = phones(3);
    let csv = format!("phone\n{}\n", keys.join("\n"));
    let lines = simulate(campaign, &csv, None, "2026-12-01T15:00:00Z");
    let calls = all(&lines, "call");
    let callers: Vec<&str> = calls.iter().map(|c| c["contact"].as_str().unwrap()).collect();
    assert_eq!(callers, keys.iter().map(String::as_str).collect::<Vec<_>>(), "calls keep the contacts' order");
    // Each call starts only after the previous one's outcome came back.
    let mut spans = Vec::new();
    for key in &keys {
        let call = events(&lines, key, "call");
        let outcome = events(&lines, key, "outcome");
        assert_eq!((call.len(), outcome.len()), (1, 1), "{}", show(&of(&lines, key)));
        spans.push((at(call[0]).to_string(), at(outcome[0]).to_string()));
    }
    assert_eq!(spans[0], ("2026-12-01T15:00:00Z".into(), "2026-12-01T15:03:00Z".into()));
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "calls overlap: {spans:?}");
    }
    // Held back, not starved: the third call starts within a few minutes of the second's end.
    assert!(spans[2].0.as_str() <= "2026-12-01T15:12:00Z", "{spans:?}");
    assert!(keys.iter().all(|k| status(&lines, k).0 == "completed"));
}

#[test]
#[ignore = "herald bug: a lead deferred by pacing loses its place to a lead that became due later (due index ordered by wake time, then key)"]
fn pacing_serves_the_earliest_due_lead_first() {
    let campaign = r#"
id: order
channel: sms
pacing: { per_hour: 1 }
steps:
  - id: pause
    wait: 1h
    when: contact.name == "late"
  - id: hello
    send: { text: "Hi" }
"#;
    // 09 and 08 are due at 15:00; 01 only at 16:00, after its wait.
    let csv = "phone,name\n+14155550109,early\n+14155550108,early\n+14155550101,late\n";
    let lines = simulate(campaign, csv, None, "2026-12-01T15:00:00Z");
    let order: Vec<(&str, &str)> =
        all(&lines, "send").iter().map(|s| (at(s), s["contact"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        [
            ("2026-12-01T15:00:00Z", "+14155550109"),
            ("2026-12-01T16:00:00Z", "+14155550108"),
            ("2026-12-01T17:00:00Z", "+14155550101"),
        ]
    );
}

#[test]
fn a_lead_ending_during_its_call_frees_the_concurrency_slot() {
    let campaign = r#"
id: leak
channel: voice
pacing: { concurrency: 1 }
steps:
  - id: ring
    call: { prompt: "Hi" }
"#;
    // Ann opts out one minute into her call; the call's outcome is never reported.
    let responses = "- step: ring\n  when: contact.name == \"Ann\"\n  reply: { text: STOP, after: 1m }\n";
    let dir = tempfile::tempdir().unwrap();
    let lines = simulate_in(
        dir.path(),
        campaign,
        "phone,name\n+14155550100,Ann\n+14155550101,Bo\n",
        Some(responses),
        // Bounded: with the slot leaked, Bo would be deferred minute after minute forever.
        &["--start", "2026-12-01T15:00:00Z", "--until", "2026-12-01T18:00:00Z"],
    );
    assert_eq!(status(&lines, ANN).0, "opted_out");
    let calls = events(&lines, BO, "call");
    assert_eq!(calls.len(), 1, "{}", show(&of(&lines, BO)));
    assert!(at(calls[0]) <= "2026-12-01T15:05:00Z", "{}", calls[0]);
    assert_eq!(status(&lines, BO).0, "completed");
}

// ---------------------------------------------------------------------------------------------
// 10. Campaign start and end
// ---------------------------------------------------------------------------------------------

#[test]
fn nothing_happens_before_the_campaign_start() {
    let campaign = r#"
id: later
channel: sms
schedule:
  timezone: America/New_York
  start: 2026-12-01T09:00:00-05:00
steps:
  - id: hello
    send: { text: "Hi" }
"#;
    let lines = simulate(campaign, "phone\n+14155550100\n+14155550101\n", None, "2026-11-28T00:00:00Z");
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| at(l) >= "2026-12-01T14:00:00Z"), "{}", show(&lines.iter().collect::<Vec<_>>()));
    assert_eq!(at(&lines[0]), "2026-12-01T14:00:00Z");
    assert_eq!(times(&all(&lines, "send")), ["2026-12-01T14:00:00Z", "2026-12-01T14:00:00Z"]);
}

#[test]
fn leads_still_waiting_at_the_campaign_end_expire_then() {
    let campaign = r#"
id: ending
channel: sms
schedule:
  timezone: UTC
  end: 2026-12-03T00:00:00Z
steps:
  - id: hello
    send: { text: "Hi" }
  - id: pause
    wait: 3d
    when: contact.name == "Ann"
  - id: listen
    await: { reply: 5d }
  - id: bye
    send: { text: "Bye" }
"#;
    let lines = simulate(campaign, "phone,name\n+14155550100,Ann\n+14155550101,Bo\n", None, "2026-12-01T15:00:00Z");
    for contact in [ANN, BO] {
        assert_eq!(events(&lines, contact, "send").len(), 1, "{}", show(&of(&lines, contact)));
        assert_eq!(status(&lines, contact).0, "expired", "{}", show(&of(&lines, contact)));
        assert_eq!(at(exit(&lines, contact)), "2026-12-03T00:00:00Z", "{}", show(&of(&lines, contact)));
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds, formats and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn the_seed_makes_probabilistic_responses_reproducible() {
    let campaign = "id: coin\nchannel: voice\nsteps:\n  - id: ring\n    call: { prompt: \"Hi\" }\n";
    let responses = "- step: ring\n  call: { answered: 0.5, no_answer: 0.5 }\n";
    let csv = format!("phone\n{}\n", phones(40).join("\n"));
    let dir = tempfile::tempdir().unwrap();
    let run = |seed: &str| {
        let r = run_in(
            dir.path(),
            campaign,
            &csv,
            Some(responses),
            &["--format", "jsonl", "--start", "2026-12-01T15:00:00Z", "--seed", seed],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let (one, again, two) = (run("1"), run("1"), run("2"));
    assert_eq!(one, again, "same seed, same output");
    assert_ne!(one, two, "another seed draws other outcomes");
    let outcomes = |out: &str| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in all(&parse(out), "outcome") {
            *counts.entry(line["status"].as_str().unwrap().to_string()).or_default() += 1;
        }
        counts
    };
    let counts = outcomes(&one);
    assert_eq!(counts.values().sum::<usize>(), 40);
    assert!(counts.get("answered").is_some_and(|n| (8..=32).contains(n)), "{counts:?}");
}

#[test]
fn the_summary_gives_the_final_counts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "phone,name\n+14155550100,Ann\n+14155550101,Bo\n+14155550102,Cy\nnope,Dan\n";
    let responses = "- step: first\n  when: contact.name == \"Ann\"\n  reply: { text: STOP, after: 10m }\n";
    let r =
        run_in(dir.path(), NURTURE, csv, Some(responses), &["--format", "summary", "--start", "2026-12-01T15:00:00Z"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let row = |name: &str| -> Option<Vec<String>> {
        r.stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|words| words.first().is_some_and(|w| w == name))
    };
    assert_eq!(row("completed").map(|w| w[1].clone()), Some("2".into()), "{}", r.stdout);
    assert_eq!(row("opted_out").map(|w| w[1].clone()), Some("1".into()), "{}", r.stdout);
    assert_eq!(row("skipped").map(|w| w[1].clone()), Some("1".into()), "{}", r.stdout);
    assert!(r.stdout.contains("4 contacts"), "{}", r.stdout);
    assert!(r.stdout.contains("invalid_phone"), "{}", r.stdout);
}

#[test]
fn a_malformed_csv_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "phone,name\n+14155550100,Ann\n+14155550101,\"Bo\n+14155550102,Cy\n";
    let r = run_in(dir.path(), NURTURE, csv, None, &["--format", "jsonl", "--start", "2026-12-01T15:00:00Z"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // `FILE:LINE: malformed CSV: ...`, at the line where the unclosed quote opens.
    assert!(r.stderr.contains("contacts.csv:3: malformed CSV"), "{}", r.stderr);
    assert!(r.stderr.contains("unbalanced"), "{}", r.stderr);
}

#[test]
fn a_missing_csv_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "campaign.yaml", NURTURE);
    let output =
        herald_in(dir.path(), &["simulate", file.to_str().unwrap(), "--contacts", "nowhere.csv", "--format", "jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = &output.stderr;
    assert!(stderr.contains("nowhere.csv"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn an_invalid_responses_file_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("- step: first\n  delivery: { deliverd: 1.0 }\n", "did you mean `delivered`?"),
        ("- step: frist\n  reply: { text: hi }\n", "no step `frist`"),
        ("- step: first\n  when: contact.name ==\n  reply: { text: hi }\n", "rule 1"),
        ("- step: first\n  reply: { text: hi, after: soon }\n", "`soon` is not a duration"),
        ("- step: first\n  rply: { text: hi }\n", "rply"),
        ("- when: contact.nmae == \"Ann\"\n  reply: { text: hi }\n", "did you mean `name`?"),
        ("- step: pause\n  reply: { text: hi }\n", "`pause` is a `wait` step"),
    ];
    for (responses, message) in cases {
        let r = run_in(dir.path(), NURTURE, FOUR, Some(responses), &["--format", "jsonl"]);
        assert_eq!(r.code, 1, "{responses}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("responses.yaml"), "{}", r.stderr);
        assert!(r.stderr.contains(message), "{responses}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

#[test]
fn goal_and_exit_when_see_an_event_before_its_routes_send_anything() {
    let campaign = r#"
id: survey
channel: sms
vars: [booked]
goal: vars.booked == true
exit_when: reply.intent == "wrong_number"
steps:
  - id: ask
    send: { text: "How did we do?" }
  - id: listen
    await: { reply: 1d }
    routes:
      - if: reply.timed_out
        goto: end
      - else: clarify
  - id: clarify
    send: { text: "Sorry, could you say that again?" }
  - id: call
    call: { prompt: "Book a meeting" }
    routes:
      - else: booking_link
  - id: booking_link
    send: { text: "Here is the link" }
"#;
    let responses = r#"
- step: ask
  when: contact.name == "Ann"
  reply: { text: "who is this?", intent: wrong_number, after: 1h }
- step: ask
  when: contact.name == "Bo"
  reply: { text: "great", after: 1h }
- step: call
  call: { answered: 1.0 }
  vars: { booked: true }
"#;
    let lines =
        simulate(campaign, "phone,name\n+14155550100,Ann\n+14155550101,Bo\n", Some(responses), "2026-12-01T15:00:00Z");
    // Ann's reply meets exit_when: no `clarify` message goes out.
    assert_eq!(events(&lines, ANN, "send").len(), 1, "{}", show(&of(&lines, ANN)));
    assert_eq!(status(&lines, ANN), ("exited".into(), Some("exit_when".into())));
    // Bo's call brings `booked: true`: converted at the outcome, no booking link sent.
    let sends: Vec<&str> = events(&lines, BO, "send").iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(sends, ["ask", "clarify"], "{}", show(&of(&lines, BO)));
    assert_eq!(status(&lines, BO).0, "converted");
    assert_eq!(at(exit(&lines, BO)), at(events(&lines, BO, "outcome").last().unwrap()));
}

/// A weekly reminder loop with a retried send inside it, and a campaign reply that can send
/// its answer more than once: every action keeps a key of its own.
const LOOP: &str = r#"
id: loop
channel: sms
contacts:
  key: phone
replies:
  - if: lower(reply.text) contains "help"
    goto: help
steps:
  - id: intro
    send: { text: "Welcome" }
  - id: remind
    send: { text: "Reminder" }
    retry: { attempts: 2, interval: 1h, on: [failed] }
  - id: pause
    wait: 1d
  - id: again
    branch:
      - if: reply.text == null
        goto: remind
      - else: end
  - id: help
    send: { text: "A person will call you." }
    next: pause
"#;

#[test]
fn a_step_sent_again_in_a_loop_gets_a_new_idempotency_key_each_time() {
    // Ann never answers: intro once, then a reminder a day, whose first try fails each time
    // and is retried an hour later.
    // Bob asks for help twice (so `help` is entered twice, from wherever he is).
    let responses = r#"
- step: remind
  when: call.attempt == 1
  delivery: { failed: 1.0 }
- step: intro
  when: contact.phone == "+14155550101"
  reply: { text: "help", after: 2h }
- step: help
  when: contact.phone == "+14155550101" and reply.text == "help"
  reply: { text: "help again", after: 2h }
"#;
    let csv = "phone\n+14155550100\n+14155550101\n";
    let dir = tempfile::tempdir().unwrap();
    let lines = simulate_in(
        dir.path(),
        LOOP,
        csv,
        Some(responses),
        &["--start", "2026-12-01T15:00:00Z", "--until", "2026-12-04T16:00:00Z"],
    );
    let keys = |contact: &str| -> Vec<String> {
        of(&lines, contact)
            .iter()
            .filter(|l| l["event"] == "send")
            .map(|l| l["key"].as_str().unwrap().to_string())
            .collect()
    };
    let ann = keys(ANN);
    let remind: Vec<String> = (1..=6).map(|n| format!("loop/{ANN}/remind/{n}")).collect();
    assert_eq!(ann[0], format!("loop/{ANN}/intro/1"), "{ann:?}");
    assert_eq!(ann[1..], remind, "attempts count on across the loop's three visits: {ann:?}");
    let bob = keys("+14155550101");
    let helps: Vec<&String> = bob.iter().filter(|k| k.contains("/help/")).collect();
    assert_eq!(helps.len(), 2, "{bob:?}");
    let unique: BTreeSet<&String> = ann.iter().chain(&bob).collect();
    assert_eq!(unique.len(), ann.len() + bob.len(), "no two actions share a key: {ann:?} {bob:?}");
}

/// The timeline is coloured on a terminal (a pseudo-terminal from `script`), and plain with
/// `NO_COLOR` or into a pipe.
#[test]
fn the_timeline_is_coloured_on_a_terminal_unless_no_color() {
    let root = crate::herald::root();
    let command = format!(
        "{} simulate campaigns/winback-email.yaml --contacts examples/winback-email.csv --responses examples/winback-email.responses.yaml",
        crate::herald::BIN
    );
    let on_tty = |no_color: bool| {
        let mut script = std::process::Command::new("script");
        script.current_dir(root).args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let out = script.output().expect("script (util-linux) runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(coloured.contains("\u{1b}[36msend email to"), "{coloured}");
    assert!(coloured.contains("\u{1b}[2m2026-"), "{coloured}");
    let plain = on_tty(true);
    assert!(plain.contains("send email to") && !plain.contains('\u{1b}'), "{plain}");
    let piped = crate::herald::herald(&[
        "simulate",
        "campaigns/winback-email.yaml",
        "--contacts",
        "examples/winback-email.csv",
        "--responses",
        "examples/winback-email.responses.yaml",
    ]);
    assert!(!piped.stdout.contains('\u{1b}'));
}
