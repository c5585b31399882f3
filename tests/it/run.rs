//! `herald run` on the real clock and `herald ingest`, end to end through the binary: the
//! outbox, `--once`, waiting for the next due lead, signals, several campaigns sharing the
//! suppression list, paused campaigns, live edits with and without `moved:`, and events
//! applied, refused and recorded.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald::runtime::{Event, LeadStatus};
use herald::store::Store;

use crate::herald::{Herald, Out, herald_in};
use crate::support::setup;

const ASK: &str = "\
id: ask
channel: sms
contacts:
  key: phone
steps:
  - id: question
    send: { text: \"Coming tomorrow, {{ contact.name }}? Reply YES or NO\" }
  - id: answer
    await: { reply: 1d }
    routes:
      - if: reply.intent == \"confirm\"
        goto: thanks
      - if: reply.timed_out
        goto: end
  - id: thanks
    send: { text: \"Thanks, see you!\" }
";

const CONTACTS: &str = "phone,name\n+14155550101,Ada\n+14155550102,Bo\n+14155550103,Cy\n";

fn outbox(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn counts(dir: &Path, campaign: &str) -> BTreeMap<LeadStatus, u64> {
    Store::open(&dir.join("h.redb")).unwrap().counts(campaign).unwrap()
}

#[test]
fn once_sends_what_is_due_ingest_routes_the_reply_and_the_next_run_sends_the_follow_up() {
    let dir = setup(&[("ask.yaml", ASK), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    let first = herald_in(d, &run);
    assert!(first.status.success(), "{}", first.stderr);
    let sent = outbox(d);
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|a| a["step"] == "question"));
    assert_eq!(sent[0]["text"], "Coming tomorrow, Ada? Reply YES or NO");
    assert_eq!(counts(d, "ask"), BTreeMap::from([(LeadStatus::Waiting, 3)]));

    let events = concat!(
        "{\"type\":\"reply\",\"contact\":\"+14155550101\",\"text\":\"YES\",\"intent\":\"confirm\"}\n",
        "{\"type\":\"replly\",\"contact\":\"+14155550101\"}\n",
        "\n",
        "{\"type\":\"reply\",\"campaign\":\"ask\",\"contact\":\"+19999999999\",\"text\":\"hi\"}\n",
        "{\"type\":\"reply\",\"campaign\":\"aks\",\"contact\":\"+14155550101\",\"text\":\"hi\"}\n",
        "{\"type\":\"reply\",\"contact\":\"+14155550102\",\"text\":\" stop \"}\n",
        "{\"type\":\"event\",\"campaign\":\"ask\",\"contact\":\"+14155550102\",\"name\":\"late\"}\n",
    );
    std::fs::write(d.join("events.jsonl"), events).unwrap();
    let ingest = herald_in(d, &["ingest", "events.jsonl", "--db", "h.redb"]);
    let err = ingest.stderr.clone();
    assert_eq!(ingest.status.code(), Some(1), "{err}");
    assert!(err.contains("events.jsonl:2: unknown type") && err.contains("did you mean `reply`"), "{err}");
    assert!(err.contains("events.jsonl:4: campaign `ask` has no lead for contact `+19999999999`"), "{err}");
    assert!(err.contains("events.jsonl:5: unknown campaign `aks` (did you mean `ask`?)"), "{err}");
    assert!(err.contains("3 events applied, 0 already applied, 3 rejected"), "{err}");
    // The confirmed lead went on to `thanks`, whose message is left to the next `run` (which
    // checks the window and pacing at the time it sends).
    assert_eq!(
        counts(d, "ask"),
        BTreeMap::from([(LeadStatus::Waiting, 1), (LeadStatus::Scheduled, 1), (LeadStatus::OptedOut, 1)])
    );
    {
        let store = Store::open(&d.join("h.redb")).unwrap();
        assert!(store.is_suppressed("+14155550102").unwrap());
        // An event for a lead already final is kept in its history and moves nothing.
        let history = store.history("ask", "+14155550102").unwrap();
        assert!(matches!(&history.last().unwrap().event, Event::Event { name } if name == "late"), "{history:?}");
        assert!(store.pending_actions().unwrap().is_empty(), "ingest hands nothing to a channel");
        let (_, lead) = store.lead("ask", "+14155550101").unwrap().unwrap();
        assert_eq!(lead.step.as_deref(), Some("thanks"));
        let history = store.history("ask", "+14155550101").unwrap();
        assert!(
            matches!(&history.last().unwrap().event, Event::Defer { reason, .. } if reason == "left to the next run"),
            "{history:?}"
        );
    }
    // Nothing reaches a channel before `run`; the deferred send is due at once.
    assert_eq!(outbox(d).len(), 3);
    let second = herald_in(d, &run);
    assert!(second.status.success(), "{}", second.stderr);
    let sent = outbox(d);
    assert_eq!(sent.len(), 4);
    assert_eq!((&sent[3]["step"], &sent[3]["contact"]), (&"thanks".into(), &"+14155550101".into()));
    assert_eq!(sent[3]["key"], "ask/+14155550101/thanks/1");
    assert_eq!(
        counts(d, "ask"),
        BTreeMap::from([(LeadStatus::Waiting, 1), (LeadStatus::Completed, 1), (LeadStatus::OptedOut, 1)])
    );
}

#[test]
fn run_once_right_after_ingest_hands_over_what_the_events_made_due() {
    let dir = setup(&[("ask.yaml", ASK), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    let yes = "{\"type\":\"reply\",\"contact\":\"+14155550103\",\"text\":\"yes\",\"intent\":\"confirm\"}\n";
    std::fs::write(d.join("e.jsonl"), yes).unwrap();
    assert!(herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]).status.success());
    // At once, as cron would: no second has to pass for the follow-up to be due.
    let second = herald_in(d, &run);
    let err = second.stderr.clone();
    assert!(second.status.success(), "{err}");
    assert!(err.contains("run: 1 actions handed to channels"), "{err}");
    let sent = outbox(d);
    assert_eq!(sent.last().unwrap()["key"], "ask/+14155550103/thanks/1", "{sent:?}");
}

#[test]
fn run_sleeps_until_the_next_due_lead_and_exits_when_every_lead_is_final() {
    let campaign = "id: nap\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: a\n    send: { text: \"one\" }\n  - id: pause\n    wait: 2s\n  - id: b\n    send: { text: \"two\" }\n";
    let dir = setup(&[("nap.yaml", campaign), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let started = Instant::now();
    let out = herald_in(d, &["run", "nap.yaml", "--contacts", "c.csv", "--db", "h.redb", "--outbox", "out.jsonl"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(took >= Duration::from_secs(2), "the wait was not waited: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let sent = outbox(d);
    assert_eq!(sent.iter().filter(|a| a["step"] == "b").count(), 3);
    let first_b = sent.iter().find(|a| a["step"] == "b").unwrap();
    let first_a = sent.iter().find(|a| a["step"] == "a").unwrap();
    let at = |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
    assert!(at(first_b) - at(first_a) >= chrono::TimeDelta::seconds(2));
    assert_eq!(counts(d, "nap"), BTreeMap::from([(LeadStatus::Completed, 3)]));
    let store = Store::open(&d.join("h.redb")).unwrap();
    assert_eq!(store.campaign("nap").unwrap().unwrap().status, herald::store::CampaignStatus::Completed);
    assert!(out.stderr.contains("campaign `nap` completed"));
}

#[test]
fn sigterm_finishes_the_page_commits_and_exits_0_and_the_next_run_resumes() {
    let campaign = "id: long\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: a\n    send: { text: \"one\" }\n  - id: later\n    wait: 1h\n  - id: b\n    send: { text: \"two\" }\n";
    let dir = setup(&[("long.yaml", campaign), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let child = Herald::new()
        .dir(d)
        .args(["run", "long.yaml", "--contacts", "c.csv", "--db", "h.redb", "--outbox", "out.jsonl"])
        .command()
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first sends are out, then ask it to stop.
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(d).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = Out::from(child.wait_with_output().unwrap());
    assert_eq!(exit.status.code(), Some(0), "{}", exit.stderr);
    assert!(exit.stderr.contains("stopped by a signal"), "{}", exit.stderr);
    assert_eq!(counts(d, "long"), BTreeMap::from([(LeadStatus::Scheduled, 3)]));
    let once = herald_in(d, &["run", "long.yaml", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
    assert!(once.status.success(), "{}", once.stderr);
    assert_eq!(outbox(d).len(), 3, "nothing is due for an hour and nothing is sent twice");
}

#[test]
fn campaigns_in_one_run_share_the_suppression_list_and_a_paused_one_does_not_move() {
    let other = ASK.replace("id: ask", "id: other");
    let dir = setup(&[("ask.yaml", ASK), ("other.yaml", &other), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let out =
        herald_in(d, &["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
    assert!(out.status.success(), "{}", out.stderr);
    std::fs::write(d.join("stop.jsonl"), "{\"type\":\"opt_out\",\"contact\":\"+14155550103\"}\n").unwrap();
    let ingest = herald_in(d, &["ingest", "stop.jsonl", "--db", "h.redb"]);
    assert!(ingest.status.success(), "{}", ingest.stderr);
    let pause = herald_in(d, &["pause", "ask", "--db", "h.redb"]);
    assert!(pause.status.success(), "{}", pause.stderr);
    let both =
        ["run", "ask.yaml", "other.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    let out = herald_in(d, &both);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("campaign `ask` is paused"), "{}", out.stderr);
    let to_other: Vec<_> = outbox(d).into_iter().filter(|a| a["campaign"] == "other").collect();
    assert_eq!(to_other.len(), 2, "the opted-out contact is skipped in the new campaign");
    assert!(to_other.iter().all(|a| a["contact"] != "+14155550103"));
    assert_eq!(counts(d, "other").get(&LeadStatus::Skipped), Some(&1));
    assert_eq!(counts(d, "ask"), BTreeMap::from([(LeadStatus::Waiting, 2), (LeadStatus::OptedOut, 1)]));
}

#[test]
fn a_removed_step_holding_leads_stops_the_run_unless_moved_says_where_they_go() {
    let v1 = "id: edit\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: hello\n    send: { text: \"hi\" }\n  - id: nap\n    wait: 3d\n  - id: bye\n    send: { text: \"bye\" }\n";
    let dir = setup(&[("edit.yaml", v1), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "edit.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    let v2 = "id: edit\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: hello\n    send: { text: \"hi\" }\n  - id: bye\n    send: { text: \"bye\" }\n";
    std::fs::write(d.join("edit.yaml"), v2).unwrap();
    let refused = herald_in(d, &run);
    let err = refused.stderr.clone();
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("step `nap` no longer exists and 3 leads are there"), "{err}");
    assert!(err.contains("moved: { nap: <step id> }"), "{err}");
    assert_eq!(outbox(d).len(), 3, "nothing ran");
    std::fs::write(d.join("edit.yaml"), format!("{v2}moved:\n  nap: bye\n")).unwrap();
    let moved = herald_in(d, &run);
    assert!(moved.status.success(), "{}", moved.stderr);
    let byes = outbox(d).into_iter().filter(|a| a["step"] == "bye").count();
    assert_eq!(byes, 3);
    // A moved lead's send counts as sent like any other: the leads are done, not in flight.
    assert_eq!(counts(d, "edit"), BTreeMap::from([(LeadStatus::Completed, 3)]));
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = store.history("edit", "+14155550101").unwrap();
    assert!(history.iter().any(|r| matches!(&r.event, Event::Route { to } if to == "bye")), "{history:?}");
}

#[test]
fn leads_moved_back_to_a_step_they_acted_on_send_it_with_a_new_key() {
    let v1 = "id: edit\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: hello\n    send: { text: \"hi\" }\n  - id: nap\n    wait: 3d\n  - id: bye\n    send: { text: \"bye\" }\n";
    let dir = setup(&[("edit.yaml", v1), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "edit.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    // `nap` removed, its leads sent back to `hello`, which they already sent.
    let v2 = "id: edit\nchannel: sms\ncontacts: { key: phone }\nmoved:\n  nap: hello\nsteps:\n  - id: hello\n    send: { text: \"hi again\" }\n  - id: bye\n    send: { text: \"bye\" }\n";
    std::fs::write(d.join("edit.yaml"), v2).unwrap();
    let moved = herald_in(d, &run);
    assert!(moved.status.success(), "{}", moved.stderr);
    let keys: Vec<String> = outbox(d)
        .iter()
        .filter(|a| a["contact"] == "+14155550101" && a["step"] == "hello")
        .map(|a| a["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["edit/+14155550101/hello/1", "edit/+14155550101/hello/2"]);
}

#[test]
fn ingest_without_a_database_or_input_is_an_environment_error() {
    let dir = setup(&[("e.jsonl", "{}\n")]);
    let d = dir.path();
    let out = herald_in(d, &["ingest", "e.jsonl", "--db", "none.redb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("no database at none.redb"), "{}", out.stderr);
    assert!(!d.join("none.redb").exists(), "no empty database is left behind");
}

#[test]
fn an_unreadable_campaign_or_contacts_file_is_exit_2_a_wrong_campaign_exit_1() {
    let dir =
        setup(&[("bad.yaml", "id: bad\nchannel: sms\nsteps:\n  - id: a\n    wait: banana\n"), ("c.csv", CONTACTS)]);
    let d = dir.path();
    assert_eq!(herald_in(d, &["run", "missing.yaml", "--db", "h.redb", "--once"]).status.code(), Some(2));
    assert_eq!(herald_in(d, &["run", "bad.yaml", "--db", "h.redb", "--once"]).status.code(), Some(1));
    std::fs::write(d.join("ask.yaml"), ASK).unwrap();
    assert_eq!(herald_in(d, &["run", "ask.yaml", "--contacts", "nope.csv", "--db", "h.redb"]).status.code(), Some(2));
}

#[test]
fn a_corrupt_or_foreign_database_is_a_clear_error_and_is_left_as_it_was() {
    let dir = setup(&[("ask.yaml", ASK), ("c.csv", CONTACTS), ("h.redb", "id,name\n1,not a database\n")]);
    let d = dir.path();
    let before = std::fs::read(d.join("h.redb")).unwrap();
    for args in [
        &["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"][..],
        &["ingest", "c.csv", "--db", "h.redb"][..],
        &["status", "--db", "h.redb"][..],
    ] {
        let out = herald_in(d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("is damaged or is not a herald database"), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert_eq!(std::fs::read(d.join("h.redb")).unwrap(), before, "nothing was written to it");
}

#[test]
fn an_opt_out_in_one_campaign_stops_the_others_before_they_act() {
    let later = "id: later\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: nap\n    wait: 1s\n  - id: hello\n    send: { text: \"hi\" }\n";
    let dir = setup(&[("ask.yaml", ASK), ("later.yaml", later), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run =
        ["run", "ask.yaml", "later.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    // A STOP naming one campaign, and one naming none for a contact in two campaigns.
    let events = concat!(
        "{\"type\":\"reply\",\"campaign\":\"ask\",\"contact\":\"+14155550101\",\"text\":\"STOP\"}\n",
        "{\"type\":\"reply\",\"contact\":\"+14155550102\",\"text\":\"unsubscribe\"}\n",
        "{\"type\":\"opt_out\",\"contact\":\"+14155550199\"}\n",
    );
    std::fs::write(d.join("e.jsonl"), events).unwrap();
    let ingest = herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]);
    assert!(ingest.status.success(), "{}", ingest.stderr);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(herald_in(d, &run).status.success());
    let hellos: Vec<String> = outbox(d)
        .into_iter()
        .filter(|a| a["step"] == "hello")
        .map(|a| a["contact"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hellos, ["+14155550103"], "only the contact who did not opt out");
    assert_eq!(counts(d, "later"), BTreeMap::from([(LeadStatus::Completed, 1), (LeadStatus::OptedOut, 2)]));
    assert_eq!(counts(d, "ask"), BTreeMap::from([(LeadStatus::Waiting, 1), (LeadStatus::OptedOut, 2)]));
    let store = Store::open(&d.join("h.redb")).unwrap();
    assert!(store.is_suppressed("+14155550199").unwrap(), "an opt-out without a lead is still listed");
    // The STOP itself is in the history of the lead it answered, before the lead ends.
    let history = store.history("ask", "+14155550101").unwrap();
    let reply = history.iter().position(|r| matches!(&r.event, Event::Reply { text: Some(t), .. } if t == "STOP"));
    let exit = history.iter().position(|r| matches!(r.event, Event::Exit { lead_status: LeadStatus::OptedOut, .. }));
    assert!(reply.is_some() && reply < exit, "{history:?}");
}

#[test]
fn a_paused_campaign_sends_nothing_until_resumed() {
    let dir = setup(&[("ask.yaml", ASK), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "ask.yaml", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &[&run[..], &["--contacts", "c.csv"]].concat()).status.success());
    assert!(herald_in(d, &["pause", "ask", "--db", "h.redb"]).status.success());
    let yes = "{\"type\":\"reply\",\"contact\":\"+14155550101\",\"text\":\"YES\",\"intent\":\"confirm\"}\n";
    std::fs::write(d.join("e.jsonl"), yes).unwrap();
    assert!(herald_in(d, &["ingest", "e.jsonl", "--db", "h.redb"]).status.success());
    assert!(herald_in(d, &run).status.success());
    assert_eq!(outbox(d).len(), 3, "paused: the reply waits, nothing is sent");
    assert!(herald_in(d, &["resume", "ask", "--db", "h.redb"]).status.success());
    assert!(herald_in(d, &run).status.success());
    let sent = outbox(d);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(sent[3]["key"], "ask/+14155550101/thanks/1");
}

#[test]
fn per_hour_holds_across_cron_runs() {
    let campaign = "id: slow\nchannel: sms\ncontacts: { key: phone }\npacing:\n  per_hour: 2\nsteps:\n  - id: hello\n    send: { text: \"hi\" }\n";
    let two = "phone,name\n+14155550101,Ada\n+14155550102,Bo\n";
    let dir = setup(&[("slow.yaml", campaign), ("two.csv", two), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = |csv: &str| {
        let out =
            herald_in(d, &["run", "slow.yaml", "--contacts", csv, "--db", "h.redb", "--once", "--outbox", "out.jsonl"]);
        assert!(out.status.success(), "{}", out.stderr);
    };
    run("two.csv");
    assert_eq!(outbox(d).len(), 2);
    // A new contact, due now, in the next cron run: the hour's two starts are used up.
    run("c.csv");
    assert_eq!(outbox(d).len(), 2, "two actions in any hour, however many runs");
    assert_eq!(counts(d, "slow"), BTreeMap::from([(LeadStatus::Completed, 2), (LeadStatus::Scheduled, 1)]));
}

#[test]
fn a_database_damaged_inside_its_keys_is_exit_2_with_a_message_not_a_crash() {
    let dir = setup(&[("ask.yaml", ASK), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    // Every copy of one contact's key made invalid UTF-8: redb itself panics decoding it.
    let mut bytes = std::fs::read(d.join("h.redb")).unwrap();
    let key = b"+14155550101";
    let spots: Vec<usize> = (0..bytes.len() - key.len()).filter(|&i| bytes[i..].starts_with(key)).collect();
    assert!(!spots.is_empty());
    for i in spots {
        bytes[i] = 0xff;
    }
    std::fs::write(d.join("h.redb"), bytes).unwrap();
    for args in [&["status", "--db", "h.redb"][..], &["export", "ask", "--db", "h.redb"][..]] {
        let out = herald_in(d, args);
        let err = out.stderr.clone();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("the database file h.redb is damaged"), "{err}");
        assert!(!err.contains("panicked at") && !err.contains("RUST_BACKTRACE"), "{err}");
    }
}

#[test]
fn a_campaign_paused_before_its_start_resumes_scheduled() {
    let later = "id: later\nchannel: sms\ncontacts: { key: phone }\nschedule:\n  start: 2099-01-01T00:00:00Z\nsteps:\n  - id: hello\n    send: { text: \"hi\" }\n";
    let dir = setup(&[("later.yaml", later), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let run = ["run", "later.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"];
    assert!(herald_in(d, &run).status.success());
    assert!(herald_in(d, &["pause", "later", "--db", "h.redb"]).status.success());
    let resume = herald_in(d, &["resume", "later", "--db", "h.redb"]);
    assert!(resume.status.success(), "{}", resume.stderr);
    assert!(resume.stdout.contains("scheduled"), "{resume:?}");
    let store = Store::open(&d.join("h.redb")).unwrap();
    assert_eq!(store.campaign("later").unwrap().unwrap().status, herald::store::CampaignStatus::Scheduled);
}

/// `run --once` with nothing due says when the next lead wakes and why (issue 24).
#[test]
fn run_once_with_nothing_due_says_when_and_why() {
    use chrono::Timelike;
    let open = (chrono::Utc::now().hour() + 3) % 24;
    let campaign = format!(
        "id: later\nchannel: sms\ncontacts:\n  key: id\nschedule:\n  timezone: UTC\n  hours: \"{open:02}:00-{:02}:00\"\nsteps:\n  - id: hi\n    send:\n      text: \"hi, reply STOP to opt out\"\n",
        (open + 1) % 24
    );
    let dir = crate::support::setup(&[("c.yaml", &campaign), ("c.csv", "id\n1\n2\n")]);
    let d = dir.path();
    crate::herald::herald_in(d, &["run", "c.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"]).ok();
    let again = crate::herald::herald_in(d, &["run", "c.yaml", "--db", "h.redb", "--once"]).ok();
    assert!(again.stderr.contains("run: later: 0 due now; next at "), "{}", again.stderr);
    assert!(again.stderr.contains(&format!("{open:02}:00 UTC (outside the schedule window)")), "{}", again.stderr);
}
