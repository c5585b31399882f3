//! `herald explain` on databases `simulate --db` made from the repository's campaigns and
//! examples, and `herald preview` of campaigns for one contact: the binary end to end.

use std::path::Path;

use serde_json::Value;

use crate::herald::{Out, herald};
use crate::support::{setup, write};

/// `herald --db DB ARGS`.
fn on(db: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--db", db.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    herald(&all)
}

/// Simulates appointment-reminders with its example contacts and responses into `db`.
fn simulate_reminders(db: &Path) {
    let args = [
        "simulate",
        "campaigns/appointment-reminders.yaml",
        "--contacts",
        "examples/appointment-reminders.csv",
        "--responses",
        "examples/appointment-reminders.responses.yaml",
        "--format",
        "summary",
    ];
    on(db, &args).ok();
}

/// The lines of `text` that contain `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn explain_shows_conditions_with_values_deferrals_retries_keys_and_where_the_lead_stands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.redb");
    simulate_reminders(&db);
    // David Cho: voicemail on all three calls, the SMS fallback, "Yes" by text, confirmed.
    let out = on(&db, &["explain", "appointment-reminders", "(415) 555-0114"]).ok().stdout;
    assert!(out.starts_with("lead `+14155550114` in campaign `appointment-reminders`"), "{out}");
    assert!(out.contains("local times in America/Los_Angeles (the campaign's schedule)"), "{out}");
    // Steps entered, each with UTC and local time: the wait ends at midnight before the day.
    let wait = lines_with(&out, "wait until");
    assert_eq!(wait.len(), 2, "{out}");
    assert!(wait[0].contains("Wed 2026-12-02 00:00 PST (2026-12-02T08:00:00Z)"), "{out}");
    // The call waits for the window to open at 08:00 local.
    let deferred = lines_with(&out, "deferred to");
    assert!(
        deferred
            .iter()
            .any(|l| l.contains("Wed 2026-12-02 08:00 PST (2026-12-02T16:00:00Z) (outside the schedule window)")),
        "{out}"
    );
    // Three calls, each with its key; two retries, each after the voicemail that caused it.
    let calls = lines_with(&out, "call voice +14155550114");
    assert_eq!(calls.len(), 3, "{out}");
    for (i, call) in calls.iter().enumerate() {
        let n = i + 1;
        assert!(
            call.contains(&format!("(attempt {n}), key appointment-reminders/+14155550114/confirm_call/{n}")),
            "{call}"
        );
        assert!(call.contains("confirm_call"), "{call}");
    }
    let retries = lines_with(&out, "retry after outcome voicemail");
    assert_eq!(retries.len(), 2, "{out}");
    assert!(retries[0].ends_with("attempt 2 at Wed 2026-12-02 12:01 PST (2026-12-02T20:01:00Z)"), "{out}");
    // `exit_when` is shown when what it read changes, not after every input.
    assert_eq!(lines_with(&out, "exit_when: reply.intent").len(), 1, "{out}");
    // The retry's `until` with the values it read.
    assert!(
        out.contains("until: vars.confirmed == true or vars.reschedule == true → false, vars.confirmed = null, vars.reschedule = null"),
        "{out}"
    );
    // The reply and the route condition that matched it, with the value it read.
    assert!(out.contains("reply: \"Yes\""), "{out}");
    let matched = lines_with(&out, "if: reply.text matches");
    assert!(matched.iter().any(|l| l.ends_with("→ true, reply.text = \"Yes\"")), "{out}");
    assert!(out.contains("set vars.confirmed = true"), "{out}");
    // Sends with their keys, and where the lead stands now.
    assert!(out.contains("send sms to +14155550114, key appointment-reminders/+14155550114/sms_fallback/1"), "{out}");
    assert!(out.contains("■ completed"), "{out}");
    assert!(out.contains("now: completed\n"), "{out}");
    assert!(out.contains("  next due: never (final)"), "{out}");
    assert!(out.contains("  vars.confirmed = true"), "{out}");
}

#[test]
fn explain_as_json_and_a_lead_not_yet_final() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.redb");
    let args = [
        "simulate",
        "campaigns/appointment-reminders.yaml",
        "--contacts",
        "examples/appointment-reminders.csv",
        "--responses",
        "examples/appointment-reminders.responses.yaml",
        "--until",
        "2026-12-03T17:00:00Z",
        "--format",
        "summary",
    ];
    on(&db, &args).ok();
    // Erin never answers: at 09:00 local on the day before, her first call's outcome is in, and
    // a retry is due 4h after it.
    let out = on(&db, &["explain", "appointment-reminders", "+14155550115", "--format", "json"]).ok().stdout;
    let json: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["contact"], "+14155550115");
    assert_eq!(json["timezone"], "America/Los_Angeles");
    let now = &json["now"];
    assert_eq!(now["status"], "scheduled", "{out}");
    assert_eq!(now["step"], "confirm_call", "{out}");
    assert_eq!(now["next_due"], "2026-12-03T20:00:30Z", "{out}");
    assert_eq!(now["next_due_local"], "Thu 2026-12-03 12:00 PST", "{out}");
    assert_eq!(
        now["waiting_for"], "its turn to act again (a retry, the schedule window, the policy or pacing)",
        "{out}"
    );
    let history = json["history"].as_array().unwrap();
    let retry = history.iter().find(|r| r["event"] == "retry").expect("a retry");
    assert_eq!(retry["after"], "outcome no_answer", "{out}");
    assert_eq!(retry["attempt"], 2);
    let until = history.iter().find(|r| r["event"] == "condition" && r["what"] == "until").expect("until");
    assert_eq!(until["result"], false);
    assert_eq!(until["values"]["vars.confirmed"], "null");
    let call = history.iter().find(|r| r["event"] == "call").expect("a call");
    assert_eq!(call["key"], "appointment-reminders/+14155550115/confirm_call/1");
    assert!(history.iter().all(|r| r["at"].as_str().is_some_and(|t| t.ends_with('Z'))), "{out}");
}

#[test]
fn explain_lists_inputs_already_queued_for_the_lead() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.redb");
    let args = [
        "simulate",
        "campaigns/appointment-reminders.yaml",
        "--contacts",
        "examples/appointment-reminders.csv",
        "--responses",
        "examples/appointment-reminders.responses.yaml",
        "--until",
        "2026-12-03T00:10:00Z",
        "--format",
        "summary",
    ];
    on(&db, &args).ok();
    // David's "Yes" comes 25 minutes after the SMS fallback went at 16:03 local.
    let out = on(&db, &["explain", "appointment-reminders", "+14155550114"]).ok().stdout;
    assert!(out.contains("now: waiting\n  step: await_confirm"), "{out}");
    assert!(out.contains("  queued: reply \"Yes\" at Wed 2026-12-02 16:28 PST (2026-12-03T00:28:00Z)"), "{out}");
}

#[test]
fn explain_of_an_unknown_contact_or_campaign_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.redb");
    simulate_reminders(&db);
    on(&db, &["explain", "appointment-reminders", "+14155550199"])
        .fails(1, "campaign `appointment-reminders` has no lead for contact `+14155550199`");
    on(&db, &["explain", "appointment-reminder", "+14155550114"])
        .fails(1, "no campaign `appointment-reminder`")
        .fails(1, "did you mean `appointment-reminders`?");
    // A skipped contact has a lead: its one record says why.
    let out = on(&db, &["explain", "appointment-reminders", "+14155550117"]).ok().stdout;
    assert!(out.contains("■ skipped (suppressed)"), "{out}");
    // No database: never made.
    let missing = dir.path().join("none.redb");
    on(&missing, &["explain", "appointment-reminders", "+14155550114"]).exits(2);
    assert!(!missing.exists());
}

#[test]
fn preview_renders_subjects_and_texts_of_every_variant_for_the_first_contact_and_the_one_named() {
    let out =
        herald(&["preview", "campaigns/winback-email.yaml", "--contacts", "examples/winback-email.csv"]).ok().stdout;
    assert!(out.starts_with("preview of `winback-email` for contact `hannah.bell@example.com`"), "{out}");
    assert!(out.contains("── first_email · send · email · variant discount"), "{out}");
    assert!(out.contains("  subject: Hannah, 20% off to welcome you back"), "{out}");
    assert!(out.contains("── first_email · send · email · variant story"), "{out}");
    assert!(out.contains("  subject: New in knitwear since your last visit"), "{out}");
    assert!(out.contains("    A lot has changed since your last order: new knitwear,"), "{out}");
    assert!(out.contains("  from:    Juniper & Co <hello@juniper.example.com>"), "{out}");
    assert!(out.contains("  to:      hannah.bell@example.com"), "{out}");
    assert!(out.contains("  html:"), "{out}");
    assert!(out.contains("  subject: Last day: COMEBACK20 expires December 15"), "{out}");
    assert!(out.contains("  when:    variant.assign == \"discount\""), "{out}");
    // Another contact, by key in any case.
    let out = herald(&[
        "preview",
        "campaigns/winback-email.yaml",
        "--contacts",
        "examples/winback-email.csv",
        "--contact",
        "Marco.Rossi@example.com",
    ])
    .ok()
    .stdout;
    assert!(out.contains("for contact `marco.rossi@example.com`"), "{out}");
    assert!(out.contains("  subject: Marco, 20% off to welcome you back"), "{out}");
    assert!(out.contains("  subject: New in shoes since your last visit"), "{out}");
    assert!(!out.contains("Hannah"), "{out}");
    // A contact `where` leaves out is still shown, with a note.
    let out = herald(&[
        "preview",
        "campaigns/winback-email.yaml",
        "--contacts",
        "examples/winback-email.csv",
        "--contact",
        "olivia.grant@example.com",
    ])
    .ok()
    .stdout;
    assert!(
        out.contains("note: the campaign would not reach this contact: contacts.where is not true for the contact"),
        "{out}"
    );
    assert!(out.contains("  subject: Olivia, 20% off to welcome you back"), "{out}");
    // A call: prompt and agent.
    let out = herald(&[
        "preview",
        "campaigns/appointment-reminders.yaml",
        "--contacts",
        "examples/appointment-reminders.csv",
        "--contact",
        "(415) 555-0114",
    ])
    .ok()
    .stdout;
    assert!(out.contains("── confirm_call (Confirmation call) · call · voice"), "{out}");
    assert!(out.contains("  agent:   reminder-assistant"), "{out}");
    assert!(out.contains("You are calling David Cho on behalf of Northside Auto Service"), "{out}");
    herald(&[
        "preview",
        "campaigns/winback-email.yaml",
        "--contacts",
        "examples/winback-email.csv",
        "--contact",
        "x@y.z",
    ])
    .fails(1, "has no contact `x@y.z`");
}

#[test]
fn preview_names_the_step_and_the_missing_value() {
    let dir = setup(&[]);
    let campaign = write(
        dir.path(),
        "remind.yaml",
        "id: remind\nchannel: sms\ncontacts:\n  fields: { name: string, appointment_date: date }\nsteps:\n  \
         - id: hello\n    send:\n      text: Hi {{ contact.name }}\n  - id: remind\n    \
         send:\n      text: See you on {{ contact.appointment_date }}\n",
    );
    let (campaign, d) = (campaign.to_str().unwrap(), dir.path());
    let contacts = write(d, "c.csv", "phone,name,appointment_date\n+14155550112,Bo,2026-12-09\n+14155550111,Ana,\n");
    let contacts = contacts.to_str().unwrap();
    let out = herald(&["preview", campaign, "--contacts", contacts]).ok().stdout;
    assert!(out.contains("    See you on 2026-12-09"), "{out}");
    // Ana's cell is empty: her preview names the step and the value.
    let out = herald(&["preview", campaign, "--contacts", contacts, "--contact", "(415) 555-0111"])
        .fails(1, "error: step `remind`: `contact.appointment_date` is undefined (its cell is empty for this contact)");
    // The steps that render are still shown.
    assert!(out.stdout.contains("    Hi Ana"), "{}", out.stdout);
    // A column the CSV does not have at all is a check error at its line, as for `simulate`.
    let no_column = write(d, "n.csv", "phone,name\n+14155550111,Ana\n");
    herald(&["preview", campaign, "--contacts", no_column.to_str().unwrap()])
        .fails(1, "unknown contact column `appointment_date`")
        .fails(1, "remind.yaml:11");
    // A variable the run sets: missing in a preview unless given with --var.
    let survey = ["preview", "campaigns/satisfaction-survey.yaml", "--contacts", "examples/satisfaction-survey.csv"];
    herald(&survey).fails(1, "error: step `escalate`: `vars.score` is undefined (the run sets it; give one with --var");
    let mut with_vars = survey.to_vec();
    with_vars.extend(["--var", "score=3", "--var", "feedback=Late and messy"]);
    let out = herald(&with_vars).ok().stdout;
    assert!(out.contains("scored 3/10"), "{out}");
    assert!(out.contains("They said: \"Late and messy\""), "{out}");
    herald(&[&survey[..], &["--var", "score"]].concat()).fails(2, "`score` is not NAME=VALUE");
}

/// Every kind of step and check: a split, a `when` that skips, a branch that sets a variable,
/// the schedule window and pacing, a message that does not render.
const TOUR: &str = "\
id: tour
channel: sms
contacts:
  key: phone
  fields: { date: date }
schedule:
  timezone: Europe/Berlin
  hours: \"09:00-17:00\"
  start: 2026-12-07T08:00:00+01:00
pacing:
  per_hour: 1
vars: [bought]
goal: vars.bought == true
steps:
  - id: pick
    split:
      - { variant: a, weight: 50, goto: hello }
      - { variant: b, weight: 50, goto: hello }
  - id: hello
    send: { text: \"Hi {{ contact.name }}\" }
  - id: vip_only
    when: contact.tier == \"vip\"
    send: { text: \"VIP perk\" }
  - id: check
    branch:
      - if: contact.tier == \"gold\"
        set: { bought: true }
        goto: end
      - else: broken
  - id: broken
    send: { text: \"Your date: {{ contact.date }}\" }
";

#[test]
fn explain_walks_every_kind_of_step_in_the_contacts_own_zone() {
    let dir = setup(&[("tour.yaml", TOUR)]);
    let d = dir.path();
    let csv =
        "phone,name,tier,date,timezone\n+4915112345678,Ada,gold,2026-12-24,\n+4915112345679,Bo,plain,,Asia/Tokyo\n";
    let contacts = write(d, "c.csv", csv);
    let db = d.join("h.redb");
    let file = d.join("tour.yaml");
    on(&db, &["simulate", file.to_str().unwrap(), "--contacts", contacts.to_str().unwrap(), "--format", "summary"])
        .ok();
    // Ada: the campaign's zone; the branch matches and sets the variable.
    let ada = on(&db, &["explain", "tour", "+4915112345678"]).ok().stdout;
    assert!(ada.contains("local times in Europe/Berlin (the campaign's schedule)"), "{ada}");
    assert!(ada.contains("split → variant a") || ada.contains("split → variant b"), "{ada}");
    assert!(
        ada.contains("deferred to Mon 2026-12-07 09:00 CET (2026-12-07T08:00:00Z) (outside the schedule window)"),
        "{ada}"
    );
    assert!(ada.contains("when: contact.tier == \"vip\" → false, contact.tier = \"gold\""), "{ada}");
    assert!(ada.contains("skipped: its `when` condition is false"), "{ada}");
    assert!(ada.contains("if: contact.tier == \"gold\" → true, contact.tier = \"gold\""), "{ada}");
    assert!(ada.contains("set vars.bought = true"), "{ada}");
    assert!(ada.contains("goal: vars.bought == true → false, vars.bought = null"), "{ada}");
    // Bo: his own zone; held back by pacing; his empty date does not render.
    let bo = on(&db, &["explain", "tour", "+4915112345679"]).ok().stdout;
    assert!(bo.contains("local times in Asia/Tokyo (the contact's timezone)"), "{bo}");
    // 16:00 in Tokyo is inside the window: sent at once; the next send waits for pacing, and
    // then for the window to open again the next morning in Tokyo.
    assert!(bo.contains("Mon 2026-12-07 16:00 JST  hello               send sms to +4915112345679"), "{bo}");
    assert!(bo.contains("deferred to Mon 2026-12-07 17:00 JST (2026-12-07T08:00:00Z) (pacing)"), "{bo}");
    assert!(
        bo.contains("deferred to Tue 2026-12-08 09:00 JST (2026-12-08T00:00:00Z) (outside the schedule window)"),
        "{bo}"
    );
    assert!(bo.contains("if: contact.tier == \"gold\" → false, contact.tier = \"plain\""), "{bo}");
    assert!(bo.contains("→ broken"), "{bo}");
    assert!(bo.contains("error: undefined value"), "{bo}");
    assert!(bo.contains("■ failed (render_failed)"), "{bo}");
    assert!(bo.contains("now: failed\n  step: broken (attempt 1)\n  outcome: render_failed\n"), "{bo}");
}

#[test]
fn explain_reads_a_run_database_and_says_what_the_lead_waits_for() {
    let ask = "\
id: ask
channel: sms
contacts:
  key: phone
steps:
  - id: question
    send: { text: \"Coming tomorrow, {{ contact.name }}?\" }
  - id: answer
    await: { reply: 1d }
    routes:
      - if: reply.text matches \"(?i)^yes\"
        goto: end
      - if: reply.timed_out
        goto: end
      - else: nudge
  - id: nudge
    send: { text: \"Sorry, was that a yes?\" }
  - id: again
    await: { reply: 1d }
";
    let dir = setup(&[("ask.yaml", ask), ("c.csv", "phone,name\n+14155550101,Ada\n")]);
    let d = dir.path();
    let run = ["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    crate::herald::herald_in(d, &run).ok();
    std::fs::write(d.join("e.jsonl"), "{\"type\":\"reply\",\"contact\":\"+14155550101\",\"text\":\"maybe\"}\n")
        .unwrap();
    crate::herald::herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]).ok();
    crate::herald::herald_in(d, &run).ok();
    let out = crate::herald::herald_in(d, &["explain", "ask", "4155550101", "--db", "h.redb"]).ok().stdout;
    assert!(out.contains("send sms to +14155550101, key ask/+14155550101/question/1"), "{out}");
    assert!(out.contains("reply: \"maybe\""), "{out}");
    assert!(out.contains("if: reply.text matches \"(?i)^yes\" → false, reply.text = \"maybe\""), "{out}");
    assert!(out.contains("send sms to +14155550101, key ask/+14155550101/nudge/1"), "{out}");
    assert!(out.contains("now: waiting\n  step: again"), "{out}");
    assert!(out.contains("waiting for a reply or event, else the timeout"), "{out}");
    // Read-only: explaining changes nothing a second look would show.
    let again = crate::herald::herald_in(d, &["explain", "ask", "+14155550101", "--db", "h.redb"]).ok().stdout;
    assert_eq!(out, again);
}
