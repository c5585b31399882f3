//! Getting started through the binary: `herald init` writes a project that `validate`,
//! `simulate`, `test` and `run --once` accept as written, and never writes over a file;
//! `herald completions` for each shell; `status` shows when leads are next due.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::herald::herald_in;
use crate::support::setup;

/// Every file `init` writes, relative to its folder.
const STARTER: [&str; 5] =
    ["herald.yaml", "campaigns/welcome.yaml", "campaigns/tests/welcome.test.yaml", "contacts.csv", "responses.yaml"];

#[test]
fn init_writes_a_project_that_validates_simulates_tests_and_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let init = herald_in(dir.path(), &["init", "shop"]).ok();
    for name in STARTER {
        assert!(init.stdout.contains(name), "init names {name}:\n{}", init.stdout);
    }
    assert!(init.stdout.contains("cd shop\n") && init.stdout.contains("herald test\n"), "{}", init.stdout);
    let d = &dir.path().join("shop");

    // The campaign and herald.yaml (checked with it), from the folder's defaults.
    let validate = herald_in(d, &["validate"]).ok();
    assert!(validate.stdout.contains("2 files, 0 errors, 0 warnings"), "{}", validate.stdout);
    let simulate = [
        "simulate",
        "campaigns/welcome.yaml",
        "--contacts",
        "contacts.csv",
        "--responses",
        "responses.yaml",
        "--start",
        "2026-12-07T09:00:00-05:00",
        "--format",
        "jsonl",
    ];
    let simulate = herald_in(d, &simulate).ok();
    let exits: Vec<Value> = simulate
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|e| e["event"] == "exit")
        .collect();
    assert_eq!(exits.len(), 6, "one exit per contact:\n{}", simulate.stdout);
    // The responses file's scripted contacts go the ways its comments say.
    let status_of = |key: &str| exits.iter().find(|e| e["contact"] == key).map(|e| e["lead_status"].clone());
    assert_eq!(status_of("+14155550101"), Some("completed".into()), "Ana says yes");
    assert_eq!(status_of("+14155550103"), Some("opted_out".into()), "Chloe texts STOP");
    let emails = simulate.stdout.lines().filter(|l| l.contains("\"channel\":\"email\"")).count();
    assert!(emails >= 2, "Ana and Dev get the guide by email:\n{}", simulate.stdout);

    let test = herald_in(d, &["test"]).ok();
    assert!(test.stdout.contains("5 cases, 5 passed, 0 failed"), "{}", test.stdout);

    let run = ["run", "campaigns/welcome.yaml", "--contacts", "contacts.csv", "--once", "--db", "h.redb"];
    herald_in(d, &run).ok();
    let status: Value =
        serde_json::from_str(&herald_in(d, &["status", "welcome", "--db", "h.redb", "--format", "json"]).ok().stdout)
            .expect("status JSON");
    assert_eq!(status["total"], 6, "{status}");
    assert!(status["next_due"].is_string(), "every lead waits for the window or a reply: {status}");
}

#[test]
fn init_without_a_folder_writes_into_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let init = herald_in(dir.path(), &["init"]).ok();
    assert!(init.stdout.contains("in the current folder") && !init.stdout.contains("cd "), "{}", init.stdout);
    for name in STARTER {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    herald_in(dir.path(), &["test"]).ok();
}

#[test]
fn init_refuses_over_an_existing_file_and_writes_nothing() {
    let dir = setup(&[("contacts.csv", "mine\n")]);
    let d = dir.path();
    std::fs::create_dir_all(d.join("campaigns/tests")).unwrap();
    std::fs::write(d.join("campaigns/tests/welcome.test.yaml"), "mine too\n").unwrap();
    let run = herald_in(d, &["init"]).fails(2, "nothing was written");
    assert!(run.stderr.contains("contacts.csv") && run.stderr.contains("welcome.test.yaml"), "{}", run.stderr);
    assert!(!run.stderr.contains("herald.yaml"), "only the files that are there are named: {}", run.stderr);
    for name in ["herald.yaml", "campaigns/welcome.yaml", "responses.yaml"] {
        assert!(!d.join(name).exists(), "{name} was written");
    }
    assert_eq!(std::fs::read_to_string(d.join("contacts.csv")).unwrap(), "mine\n");

    // A folder that is a file is an environment error too.
    std::fs::write(d.join("taken"), "").unwrap();
    herald_in(d, &["init", "taken"]).fails(2, "cannot create");
    // A file where a folder must go fails midway: what was written before it is removed.
    std::fs::create_dir(d.join("half")).unwrap();
    std::fs::write(d.join("half/campaigns"), "").unwrap();
    herald_in(d, &["init", "half"]).fails(2, "cannot create");
    assert!(!d.join("half/herald.yaml").exists(), "herald.yaml was left behind");
}

#[test]
fn completions_for_each_shell_cover_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = herald_in(dir.path(), &["completions", shell]).ok();
        assert!(out.stdout.len() > 500, "{shell}: {}", out.stdout);
        // fish writes flags as `-l contacts`.
        for word in ["simulate", "init", "completions", "contacts"] {
            assert!(out.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    herald_in(dir.path(), &["completions", "powershell"]).fails(2, "invalid value 'powershell'");
}

/// Waits half an hour before its message: due within the hour after `run --once`.
const SOON: &str =
    "id: soon\ncontacts: { key: phone }\nsteps:\n  - id: pause\n    wait: 30m\n  - id: hello\n    send: { text: Hi }\n";
/// Sends at once, then waits a day for a reply: due tomorrow.
const LATER: &str = "id: later\ncontacts: { key: phone }\nsteps:\n  - id: hello\n    send: { text: Hi }\n  - id: answer\n    await: { reply: 1d }\n    routes:\n      - else: end\n";
const CONTACTS: &str = "phone\n+14155550101\n+14155550102\n+14155550103\n";

fn minutes_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (a - b).num_minutes().abs()
}

#[test]
fn status_shows_when_leads_are_next_due_and_how_many_within_the_hour() {
    let dir = setup(&[("soon.yaml", SOON), ("later.yaml", LATER), ("c.csv", CONTACTS)]);
    let d = dir.path();
    let before = Utc::now();
    let run =
        ["run", "soon.yaml", "later.yaml", "--contacts", "c.csv", "--once", "--db", "h.redb", "--outbox", "o.jsonl"];
    herald_in(d, &run).ok();

    let json: Value =
        serde_json::from_str(&herald_in(d, &["status", "--db", "h.redb", "--format", "json"]).ok().stdout)
            .expect("status JSON");
    let by_id = |id: &str| json.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    let next = |c: &Value| c["next_due"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let (soon, later) = (by_id("soon"), by_id("later"));
    assert_eq!((soon["due_next_hour"].as_u64(), later["due_next_hour"].as_u64()), (Some(3), Some(0)), "{json}");
    assert!(minutes_between(next(&soon), before + Duration::minutes(30)) <= 1, "{soon}");
    assert!(minutes_between(next(&later), before + Duration::days(1)) <= 1, "{later}");

    let table = herald_in(d, &["status", "--db", "h.redb"]).ok().stdout;
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0][lines[0].len() - 2..], ["next_due", "due_1h"], "{table}");
    let row = |id: &str| lines.iter().find(|l| l[0] == id).unwrap_or_else(|| panic!("no {id} row:\n{table}"));
    // `2026-12-07 14:30 UTC  3`: the time in three words, then the count.
    let soon_row = row("soon");
    let shown = soon["next_due"].as_str().unwrap()[..16].replace('T', " ");
    assert_eq!(soon_row[soon_row.len() - 4..].join(" "), format!("{shown} UTC 3"), "{table}");
    assert_eq!(row("later").last(), Some(&"0"), "{table}");
    assert_eq!(row("total").last(), Some(&"3"), "{table}");

    // A simulation's leads wake on its virtual clock: no count against this one.
    let simulate =
        ["simulate", "later.yaml", "--contacts", "c.csv", "--db", "s.redb", "--until", "2026-12-07T12:00:00Z"];
    herald_in(d, &[&simulate[..], &["--start", "2026-12-07T10:00:00Z", "--format", "summary"]].concat()).ok();
    let sim: Value =
        serde_json::from_str(&herald_in(d, &["status", "later", "--db", "s.redb", "--format", "json"]).ok().stdout)
            .expect("status JSON");
    assert_eq!(sim["next_due"], "2026-12-08T10:00:00Z", "{sim}");
    assert!(sim["due_next_hour"].is_null(), "{sim}");
    let table = herald_in(d, &["status", "--db", "s.redb"]).ok().stdout;
    assert!(!table.contains("next_due"), "{table}");
}
