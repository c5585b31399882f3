//! The operations commands end to end (`status`, `export`, `pause`, `resume`, `cancel`,
//! `retry-failed`, `lead reset|complete|remove`): the real binary, on databases that
//! `herald simulate --db` produced from the campaigns and examples in the repository (and a
//! few small campaigns written here), checked against what the simulation reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::herald::{Out, herald, herald_in};
use crate::support::write;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `herald --db DB ARGS`.
fn on(db: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--db", db.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    herald(&all)
}

/// Simulates one of the repository's campaigns with its example contacts and responses into
/// `db`; returns the lead counts of the summary (final and still in progress).
fn simulate_example(db: &Path, name: &str, extra: &[&str]) -> BTreeMap<String, u64> {
    let campaign = format!("campaigns/{name}.yaml");
    let contacts = format!("examples/{name}.csv");
    let responses = format!("examples/{name}.responses.yaml");
    let mut args = vec!["simulate", &campaign, "--contacts", &contacts, "--responses", &responses];
    args.extend_from_slice(&["--format", "summary"]);
    args.extend_from_slice(extra);
    summary_counts(&on(db, &args).ok().stdout)
}

/// Writes a campaign, contacts and responses into `dir` and simulates them into `db`.
fn simulate_own(
    dir: &Path,
    db: &Path,
    campaign: &str,
    csv: &str,
    responses: &str,
    start: &str,
) -> BTreeMap<String, u64> {
    let name = campaign.lines().find_map(|l| l.strip_prefix("id: ")).expect("the campaign has an id");
    let file = write(dir, &format!("{name}.yaml"), campaign);
    let contacts = write(dir, &format!("{name}.csv"), csv);
    let rules = write(dir, &format!("{name}.responses.yaml"), responses);
    let args = [
        "simulate",
        file.to_str().unwrap(),
        "--contacts",
        contacts.to_str().unwrap(),
        "--responses",
        rules.to_str().unwrap(),
        "--start",
        start,
        "--format",
        "summary",
    ];
    summary_counts(&on(db, &args).ok().stdout)
}

/// The lead counts of `simulate --format summary`: its "final status" and "still in progress"
/// sections, `  status  count  share` per line.
fn summary_counts(summary: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut inside = false;
    for line in summary.lines() {
        if line == "final status" || line.starts_with("still in progress") {
            inside = true;
        } else if line.trim().is_empty() {
            inside = false;
        } else if inside {
            let words: Vec<&str> = line.split_whitespace().collect();
            counts.insert(words[0].to_string(), words[1].parse().expect("a count"));
        }
    }
    assert!(!counts.is_empty(), "no counts in the summary:\n{summary}");
    counts
}

/// `status CAMPAIGN --format json`.
fn status_json(db: &Path, campaign: &str) -> Value {
    let run = on(db, &["status", campaign, "--format", "json"]).ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

/// The non-zero lead counts of `status --format json`.
fn lead_counts(db: &Path, campaign: &str) -> BTreeMap<String, u64> {
    let status = status_json(db, campaign);
    let leads = status["leads"].as_object().expect("leads object");
    leads.iter().filter(|(_, n)| n.as_u64() != Some(0)).map(|(s, n)| (s.clone(), n.as_u64().unwrap())).collect()
}

fn campaign_status(db: &Path, campaign: &str) -> String {
    status_json(db, campaign)["status"].as_str().expect("status").to_string()
}

/// The export as (header, rows by key).
struct Export {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Export {
    fn parse(text: &str) -> Export {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().expect("a header").iter().map(String::from).collect();
        let rows = reader.records().map(|r| r.expect("a CSV record").iter().map(String::from).collect()).collect();
        Export { header, rows }
    }

    fn column(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {:?}", self.header))
    }

    /// The row whose key is `key` (as exported, guard included).
    fn row(&self, key: &str) -> BTreeMap<&str, &str> {
        let row = self.rows.iter().find(|r| r[0] == key).unwrap_or_else(|| panic!("no row {key}"));
        self.header.iter().map(String::as_str).zip(row.iter().map(String::as_str)).collect()
    }

    fn values(&self, name: &str) -> Vec<&str> {
        let at = self.column(name);
        self.rows.iter().map(|r| r[at].as_str()).collect()
    }
}

fn export(db: &Path, campaign: &str) -> Export {
    Export::parse(&on(db, &["export", campaign]).ok().stdout)
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.redb");
    (dir, db)
}

const EMERGENCY: &str = "emergency-notification";

/// The columns `export` gives every lead (SPEC §7), before the variant and variable columns.
const LEAD_COLUMNS: [&str; 10] = [
    "key",
    "status",
    "outcome",
    "step",
    "attempts",
    "call_status",
    "call_duration",
    "message_status",
    "reply_text",
    "reply_intent",
];
/// Never answers: its calls run out of retries and it ends `failed` (max_retries).
const UNREACHABLE: &str = "+14155550145";
/// The campaign's `until` is needed: acknowledged households wait for an all-clear forever.
const EMERGENCY_PAST: &[&str] = &["--start", "2025-12-01T10:00:00-08:00", "--until", "2025-12-08T10:00:00-08:00"];

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

#[test]
fn status_counts_are_the_simulations_counts() {
    for (name, extra) in [
        ("winback-email", &[][..]),
        ("lead-qualification", &["--start", "2026-12-01T09:00:00-06:00"][..]),
        ("appointment-reminders", &[][..]),
        (EMERGENCY, EMERGENCY_PAST),
    ] {
        let (_dir, db) = temp();
        let simulated = simulate_example(&db, name, extra);
        assert_eq!(lead_counts(&db, name), simulated, "{name}");
        let status = status_json(&db, name);
        assert_eq!(status["id"], name);
        assert_eq!(status["total"].as_u64(), Some(simulated.values().sum()), "{name}");
        let expected = if name == EMERGENCY { "running" } else { "completed" };
        assert_eq!(status["status"], expected, "{name}");
        assert!(status["started_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{status}");
        // All twelve statuses, in the order of SPEC §5.
        let keys: Vec<&str> = status["leads"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys.len(), 12, "{keys:?}");
        assert_eq!(
            sorted,
            [
                "cancelled",
                "completed",
                "converted",
                "exited",
                "expired",
                "failed",
                "in_progress",
                "opted_out",
                "pending",
                "scheduled",
                "skipped",
                "waiting"
            ]
        );
    }
}

#[test]
fn status_lists_every_campaign_with_non_zero_columns_and_totals() {
    let (_dir, db) = temp();
    let winback = simulate_example(&db, "winback-email", &[]);
    let emergency = simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    let table = on(&db, &["status"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "header, two campaigns, totals:\n{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header[..4], ["campaign", "name", "status", "started"]);
    // Only statuses some lead has, in SPEC order, then the total.
    assert_eq!(header[4..], ["waiting", "completed", "exited", "failed", "opted_out", "skipped", "total"], "{table}");
    assert!(
        lines[1].starts_with("emergency-notification  Boil-Water Advisory") && lines[1].contains(" running "),
        "{table}"
    );
    assert!(lines[2].starts_with("winback-email") && lines[2].contains(" completed "), "{table}");
    let total: u64 = winback.values().sum::<u64>() + emergency.values().sum::<u64>();
    let last: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(last[0], "total");
    assert_eq!(last.last().unwrap().parse::<u64>().unwrap(), total, "{table}");
    let waiting = emergency["waiting"];
    assert_eq!(last[1].parse::<u64>().unwrap(), waiting, "{table}");

    let all: Value = serde_json::from_str(&on(&db, &["status", "--format", "json"]).ok().stdout).unwrap();
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [EMERGENCY, "winback-email"]);
}

#[test]
fn an_unknown_campaign_names_the_known_ones() {
    let (_dir, db) = temp();
    simulate_example(&db, "winback-email", &[]);
    let run = on(&db, &["status", "winback-emial"]).fails(1, "no campaign `winback-emial` in");
    assert!(run.stderr.contains("did you mean `winback-email`?"), "{}", run.stderr);
    assert!(run.stderr.contains("(campaigns: `winback-email`)"), "{}", run.stderr);
    on(&db, &["status", "winback"]).fails(1, "did you mean `winback-email`?");
    for command in ["export", "pause", "resume", "cancel", "retry-failed"] {
        on(&db, &[command, "welcome"]).fails(1, "no campaign `welcome`");
    }
    on(&db, &["lead", "reset", "welcome", "+14155550100"]).fails(1, "no campaign `welcome`");
}

#[test]
fn a_missing_database_is_reported_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nowhere.redb");
    let shown = db.display().to_string();
    std::fs::write(dir.path().join("events.jsonl"), "").unwrap();
    let events = dir.path().join("events.jsonl").display().to_string();
    let commands: [&[&str]; 9] = [
        &["status"],
        &["ingest", &events],
        &["export", "x"],
        &["pause", "x"],
        &["resume", "x"],
        &["cancel", "x"],
        &["retry-failed", "x"],
        &["lead", "complete", "x", "+14155550100"],
        &["lead", "remove", "x", "+14155550100"],
    ];
    for args in commands {
        let message = format!("no database at {shown} (run `herald run` or `herald simulate --db {shown}` first)");
        on(&db, args).fails(2, &message);
        assert!(!db.exists(), "{args:?} created the database");
    }
    // Without --db: herald.redb in the working directory.
    let run = herald_in(dir.path(), &["status"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no database at herald.redb"), "{}", run.stderr);
    assert!(!dir.path().join("herald.redb").exists());
}

#[test]
fn a_locked_database_is_an_environment_error() {
    let (_dir, db) = temp();
    simulate_example(&db, "winback-email", &[]);
    let store = herald::store::Store::open(&db).expect("opens");
    for args in [&["status"][..], &["export", "winback-email"], &["pause", "winback-email"]] {
        on(&db, args).fails(2, "is in use by another herald process");
    }
    drop(store);
    assert_eq!(campaign_status(&db, "winback-email"), "completed", "nothing changed while locked");
}

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

#[test]
fn export_has_a_row_per_lead_with_outcomes_calls_replies_and_vars() {
    let (_dir, db) = temp();
    let simulated = simulate_example(&db, "lead-qualification", &["--start", "2026-12-01T09:00:00-06:00"]);
    let export = export(&db, "lead-qualification");
    assert_eq!(export.rows.len() as u64, simulated.values().sum::<u64>());
    assert_eq!(export.header[..10], LEAD_COLUMNS);
    // One column per variable any lead has, sorted; no split step, so no variant column.
    let vars: Vec<&str> = export.header[10..].iter().map(String::as_str).collect();
    assert!(vars.iter().all(|v| v.starts_with("var.")), "{vars:?}");
    for var in ["var.budget", "var.qualified", "var.timeline", "var.do_not_call", "var.meeting_booked"] {
        assert!(vars.contains(&var), "{var} missing: {vars:?}");
    }
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for status in export.values("status") {
        *counted.entry(status.to_string()).or_default() += 1;
    }
    assert_eq!(counted, simulated);

    // Jordan: qualified with a big budget, never books, handed to a human.
    let jordan = export.row("'+14155550121");
    assert_eq!(jordan["status"], "exited");
    assert_eq!(jordan["outcome"], "needs_human_followup");
    assert_eq!(jordan["step"], "handoff");
    assert_eq!(jordan["call_status"], "answered");
    assert_eq!(jordan["var.budget"], "50000");
    assert_eq!(jordan["var.qualified"], "true");
    assert_eq!(jordan["var.timeline"], "Q1");
    assert_eq!(jordan["var.meeting_booked"], "");
    // Sam books on the retried call: converted on the call step, after two attempts.
    let sam = export.row("'+14155550122");
    assert_eq!((sam["status"], sam["step"], sam["attempts"]), ("converted", "qualify_call", "2"));
    // Drew replies "not interested" to the email: exit_when.
    let drew = export.row("'+14155550129");
    assert_eq!((drew["status"], drew["outcome"]), ("exited", "exit_when"));
    assert_eq!(drew["reply_text"], "Thanks, but we went with another vendor.");
    assert_eq!(drew["reply_intent"], "not_interested");
    // Skipped at import: no step, no call.
    let casey = export.row("'+14155550125");
    assert_eq!(
        (casey["status"], casey["outcome"], casey["step"], casey["call_status"]),
        ("skipped", "filtered", "", "")
    );
}

#[test]
fn export_has_one_column_per_split_step() {
    let (_dir, db) = temp();
    simulate_example(&db, "winback-email", &[]);
    let export = export(&db, "winback-email");
    assert_eq!(export.column("variant.assign"), 5, "{:?}", export.header);
    assert_eq!(export.column("call_status"), 6);
    let mut variants = export.values("variant.assign");
    variants.sort();
    // The simulation's summary: 3 discount, 3 story; the 4 skipped contacts have none.
    assert_eq!(variants, ["", "", "", "", "discount", "discount", "discount", "story", "story", "story"]);
    // Email keys are not formulas: no guard.
    let nina = export.row("nina.shah@example.com");
    assert_eq!((nina["status"], nina["message_status"]), ("exited", "opened"));
    assert_eq!(nina["reply_intent"], "unsubscribe");
}

const NOTES: &str = r#"
id: notes
channel: sms
contacts:
  key: id
steps:
  - id: keep
    set: { note: contact.note, amount: number(contact.amount) }
  - id: hello
    send: { to: "+14155550100", text: "Hi" }
"#;

#[test]
fn export_guards_cells_a_spreadsheet_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.redb");
    let csv = "id,note,amount\n\
               \"=HYPERLINK(\"\"http://x.example\"\",\"\"y\"\")\",@SUM(A1),-5\n\
               plain,\"+1 (415) 555-0100\",3\n\
               tabbed,\"\tindent\",0\n";
    simulate_own(dir.path(), &db, NOTES, csv, "[]", "2026-12-01T15:00:00Z");
    let text = on(&db, &["export", "notes"]).ok().stdout;
    let export = Export::parse(&text);
    assert_eq!(export.header, [&LEAD_COLUMNS[..], &["var.amount", "var.note"]].concat());
    let formula = export.row("'=HYPERLINK(\"http://x.example\",\"y\")");
    assert_eq!(formula["var.note"], "'@SUM(A1)");
    assert_eq!(formula["var.amount"], "'-5");
    assert_eq!(formula["status"], "completed");
    let plain = export.row("plain");
    assert_eq!(plain["var.note"], "'+1 (415) 555-0100");
    assert_eq!(plain["var.amount"], "3");
    assert_eq!(export.row("tabbed")["var.note"], "'\tindent");
    // No cell of the output starts a formula.
    for row in &export.rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "unguarded cell {cell:?}");
        }
    }

    // --raw: as stored, for programs.
    let raw = Export::parse(&on(&db, &["export", "notes", "--raw"]).ok().stdout);
    assert_eq!(raw.row("=HYPERLINK(\"http://x.example\",\"y\")")["var.note"], "@SUM(A1)");
    assert_eq!(raw.row("plain")["var.note"], "+1 (415) 555-0100");

    // --output: the same CSV in a file, and one line on stderr.
    let file = dir.path().join("out.csv");
    let run = on(&db, &["export", "notes", "--output", file.to_str().unwrap()]).ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("exported 3 leads of notes to"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    on(&db, &["export", "notes", "--output", dir.path().join("no/such/dir.csv").to_str().unwrap()])
        .fails(2, "cannot write");
}

// ---------------------------------------------------------------------------------------------
// pause, resume, cancel
// ---------------------------------------------------------------------------------------------

#[test]
fn pause_and_resume_change_the_campaign_status() {
    let (_dir, db) = temp();
    simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    let before = lead_counts(&db, EMERGENCY);
    let run = on(&db, &["pause", EMERGENCY]).ok();
    assert_eq!(
        run.stdout,
        format!("paused campaign `{EMERGENCY}` (was running); `herald resume {EMERGENCY}` carries on\n")
    );
    assert_eq!(campaign_status(&db, EMERGENCY), "paused");
    assert!(on(&db, &["pause", EMERGENCY]).ok().stdout.contains("already paused; nothing changed"));
    assert_eq!(on(&db, &["resume", EMERGENCY]).ok().stdout, format!("resumed campaign `{EMERGENCY}`: running\n"));
    assert_eq!(campaign_status(&db, EMERGENCY), "running");
    assert!(on(&db, &["resume", EMERGENCY]).ok().stdout.contains("is not paused (it is running); nothing changed"));
    assert_eq!(lead_counts(&db, EMERGENCY), before, "pausing moves no lead");
}

#[test]
fn a_campaign_paused_before_its_start_resumes_scheduled() {
    let (_dir, db) = temp();
    simulate_example(&db, EMERGENCY, &["--start", "2099-01-05T10:00:00-08:00", "--until", "2099-01-06T10:00:00-08:00"]);
    on(&db, &["pause", EMERGENCY]).ok();
    let run = on(&db, &["resume", EMERGENCY]).ok();
    assert_eq!(run.stdout, format!("resumed campaign `{EMERGENCY}`: scheduled, it starts 2099-01-05 18:00 UTC\n"));
    assert_eq!(campaign_status(&db, EMERGENCY), "scheduled");
}

#[test]
fn cancel_ends_every_unfinished_lead_and_is_for_good() {
    let (_dir, db) = temp();
    let simulated = simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    let waiting = simulated["waiting"];
    let finished: u64 = simulated.iter().filter(|(s, _)| *s != "waiting").map(|(_, n)| n).sum();
    let run = on(&db, &["cancel", EMERGENCY]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "cancelled campaign `{EMERGENCY}` (was running): {waiting} leads cancelled, {finished} already final\n"
        )
    );
    let mut expected = simulated.clone();
    expected.remove("waiting");
    expected.insert("cancelled".into(), waiting);
    assert_eq!(lead_counts(&db, EMERGENCY), expected);
    assert_eq!(campaign_status(&db, EMERGENCY), "cancelled");
    let export = export(&db, EMERGENCY);
    for row in export.rows.iter().filter(|r| r[1] == "cancelled") {
        assert_eq!(row[2], "campaign_cancelled", "{row:?}");
        assert_eq!(row[3], "await_all_clear", "the step is kept: {row:?}");
    }
    // The history says why: the last record of a cancelled lead is its exit.
    let store = herald::store::Store::open(&db).unwrap();
    let history = store.history(EMERGENCY, "+14155550141").unwrap();
    let last = serde_json::to_value(&history.last().unwrap().event).unwrap();
    assert_eq!(last, serde_json::json!({"event": "exit", "lead_status": "cancelled", "reason": "campaign_cancelled"}));
    let (_, lead) = store.lead(EMERGENCY, "+14155550141").unwrap().unwrap();
    assert_eq!((lead.wake_at, lead.timer), (None, None));
    assert_eq!(lead.seq as usize, history.len(), "sequence numbers stay in step with the history");
    drop(store);

    on(&db, &["resume", EMERGENCY]).fails(1, "is cancelled, and a cancelled campaign never resumes");
    on(&db, &["pause", EMERGENCY]).fails(1, "is cancelled: there is nothing left to pause");
    on(&db, &["retry-failed", EMERGENCY]).fails(1, "is cancelled: its leads never run again");
    on(&db, &["lead", "reset", EMERGENCY, "+14155550142"]).fails(1, "is cancelled");
    let again = on(&db, &["cancel", EMERGENCY]).ok();
    assert!(again.stdout.contains("already cancelled; nothing changed"), "{}", again.stdout);
    assert_eq!(campaign_status(&db, EMERGENCY), "cancelled");
}

#[test]
fn a_completed_campaign_cannot_be_paused_resumed_or_cancelled() {
    let (_dir, db) = temp();
    let simulated = simulate_example(&db, "winback-email", &[]);
    on(&db, &["pause", "winback-email"])
        .fails(1, "campaign `winback-email` is completed: there is nothing left to pause");
    on(&db, &["resume", "winback-email"]).fails(1, "is completed: every lead is final");
    on(&db, &["cancel", "winback-email"]).fails(1, "is completed: every lead is final, there is nothing to cancel");
    assert_eq!(campaign_status(&db, "winback-email"), "completed");
    assert_eq!(lead_counts(&db, "winback-email"), simulated);
}

// ---------------------------------------------------------------------------------------------
// retry-failed
// ---------------------------------------------------------------------------------------------

#[test]
fn retry_failed_puts_failed_leads_back_on_their_step_and_they_run_again() {
    let (_dir, db) = temp();
    let simulated = simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    assert_eq!(simulated["failed"], 1);
    let failed = export(&db, EMERGENCY)
        .row(&format!("'{UNREACHABLE}"))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(
        (failed["status"].as_str(), failed["outcome"].as_str(), failed["step"].as_str()),
        ("failed", "max_retries", "priority_call")
    );

    let run = on(&db, &["retry-failed", EMERGENCY]).ok();
    assert_eq!(run.stdout, format!("retried 1 lead of `{EMERGENCY}`: due now, on the step they failed on\n"));
    let counts = lead_counts(&db, EMERGENCY);
    assert_eq!(counts.get("failed"), None);
    assert_eq!(counts["scheduled"], 1);
    let export = export(&db, EMERGENCY);
    let row = export.row(&format!("'{UNREACHABLE}"));
    assert_eq!((row["status"], row["outcome"], row["step"], row["attempts"]), ("scheduled", "", "priority_call", "0"));
    assert_eq!(row["call_status"], failed["call_status"], "the last call is still known");
    // Nothing left to retry.
    assert_eq!(
        on(&db, &["retry-failed", EMERGENCY]).ok().stdout,
        format!("no failed lead of `{EMERGENCY}` to retry\n")
    );

    // The next run (any time after now: the lead is due now) acts on the step again from the
    // first attempt, and, never answering, the lead fails again once the step's retries run out.
    let campaign = format!("campaigns/{EMERGENCY}.yaml");
    let contacts = format!("examples/{EMERGENCY}.csv");
    let responses = format!("examples/{EMERGENCY}.responses.yaml");
    let args = [
        "simulate",
        &campaign,
        "--contacts",
        &contacts,
        "--responses",
        &responses,
        "--format",
        "jsonl",
        "--start",
        "2099-01-05T10:00:00-08:00",
        "--until",
        "2099-01-06T10:00:00-08:00",
    ];
    let lines: Vec<Value> = on(&db, &args).ok().stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mine: Vec<&Value> = lines.iter().filter(|l| l["contact"] == UNREACHABLE).collect();
    let calls: Vec<&Value> = mine.iter().copied().filter(|l| l["event"] == "call").collect();
    assert_eq!(
        calls.first().map(|c| (&c["step"], &c["attempt"])),
        Some((&"priority_call".into(), &1.into())),
        "{mine:?}"
    );
    assert_eq!(calls.len(), 6, "the first try and five retries: {mine:?}");
    assert_eq!(mine.last().map(|l| (&l["lead_status"], &l["reason"])), Some((&"failed".into(), &"max_retries".into())));
    // Their idempotency keys follow the six of the first run, so a channel that drops a key it
    // has seen does not drop these calls.
    let keys: Vec<&str> = calls.iter().map(|c| c["key"].as_str().unwrap()).collect();
    let expected: Vec<String> = (7..=12).map(|n| format!("{EMERGENCY}/{UNREACHABLE}/priority_call/{n}")).collect();
    assert_eq!(keys, expected);
}

const DIALER: &str = r#"
id: dialer
channel: voice
steps:
  - id: ring
    call: { prompt: "Hello {{ contact.name }}" }
    retry: { attempts: 1, interval: 1h, on: [no_answer] }
"#;

const NEWSLETTER: &str = r#"
id: newsletter
channel: sms
steps:
  - id: hello
    send: { text: "Hi {{ contact.name }}" }
  - id: listen
    await: { reply: 1d }
"#;

const PEOPLE: &str = "phone,name\n+14155550100,Ann\n+14155550101,Bo\n+14155550102,Cy\n";

#[test]
fn retry_failed_reopens_a_completed_campaign_and_leaves_opted_out_contacts_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.redb");
    let never = "- step: ring\n  when: contact.name != \"Cy\"\n  call: { no_answer: 1.0 }\n";
    let counts = simulate_own(dir.path(), &db, DIALER, PEOPLE, never, "2026-12-01T15:00:00Z");
    assert_eq!(counts, BTreeMap::from([("completed".to_string(), 1), ("failed".to_string(), 2)]));
    assert_eq!(campaign_status(&db, "dialer"), "completed");
    // Bo opts out in another campaign on the same database.
    let stop = "- step: hello\n  when: contact.name == \"Bo\"\n  reply: { text: STOP, after: 5m }\n";
    simulate_own(dir.path(), &db, NEWSLETTER, PEOPLE, stop, "2026-12-03T15:00:00Z");

    let run = on(&db, &["retry-failed", "dialer"]).ok();
    assert_eq!(
        run.stdout,
        "retried 1 lead of `dialer`: due now, on the step they failed on; left 1 lead failed whose contact has opted out\n"
    );
    assert_eq!(campaign_status(&db, "dialer"), "running", "work to do again");
    let export = export(&db, "dialer");
    assert_eq!(export.row("'+14155550100")["status"], "scheduled");
    assert_eq!(export.row("'+14155550101")["status"], "failed");
    assert_eq!(export.row("'+14155550102")["status"], "completed");
    // The history of the retried lead says so.
    let store = herald::store::Store::open(&db).unwrap();
    let history = store.history("dialer", "+14155550100").unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.step.as_deref(), Some("ring"));
    assert_eq!(serde_json::to_value(&last.event).unwrap()["event"], "retry");
}

#[test]
fn retry_failed_on_a_paused_campaign_says_they_wait_for_resume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.redb");
    let never = "- step: ring\n  call: { no_answer: 1.0 }\n";
    simulate_own(dir.path(), &db, &DIALER.replace("id: dialer", "id: dialer2"), PEOPLE, never, "2026-12-01T15:00:00Z");
    // A completed campaign cannot be paused; reopen it first.
    on(&db, &["lead", "reset", "dialer2", "+14155550102"]).ok();
    assert_eq!(campaign_status(&db, "dialer2"), "running");
    on(&db, &["pause", "dialer2"]).ok();
    let run = on(&db, &["retry-failed", "dialer2"]).ok();
    assert!(run.stdout.starts_with("retried 2 leads of `dialer2`"), "{}", run.stdout);
    assert!(run.stdout.contains("(the campaign is paused: they run after `herald resume dialer2`)"), "{}", run.stdout);
    assert_eq!(campaign_status(&db, "dialer2"), "paused");
    assert_eq!(lead_counts(&db, "dialer2"), BTreeMap::from([("pending".to_string(), 1), ("scheduled".to_string(), 2)]));
}

// ---------------------------------------------------------------------------------------------
// lead reset | complete | remove
// ---------------------------------------------------------------------------------------------

#[test]
fn lead_commands_change_one_lead() {
    let (_dir, db) = temp();
    let simulated = simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    let total: u64 = simulated.values().sum();
    let store = herald::store::Store::open(&db).unwrap();
    let seq_before = store.lead(EMERGENCY, "+14155550142").unwrap().unwrap().1.seq;
    let history_before = store.history(EMERGENCY, "+14155550142").unwrap().len();
    drop(store);

    // complete: by hand, outcome `manual`.
    let run = on(&db, &["lead", "complete", EMERGENCY, "+14155550141"]).ok();
    assert_eq!(
        run.stdout,
        format!(
            "completed lead `+14155550141` of `{EMERGENCY}` by hand: was waiting at `await_all_clear`, now completed (outcome `manual`)\n"
        )
    );
    let row = export(&db, EMERGENCY)
        .row("'+14155550141")
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!((row["status"].as_str(), row["outcome"].as_str()), ("completed", "manual"));
    assert!(
        on(&db, &["lead", "complete", EMERGENCY, "+14155550141"])
            .ok()
            .stdout
            .contains("already completed; nothing changed")
    );

    // reset: back to the start, as a new lead; the history is kept and nothing is added.
    let run = on(&db, &["lead", "reset", EMERGENCY, "+14155550142"]).ok();
    assert!(run.stdout.starts_with("reset lead `+14155550142`"), "{}", run.stdout);
    assert!(run.stdout.contains("now pending"), "{}", run.stdout);
    let export_now = export(&db, EMERGENCY);
    let reset = export_now.row("'+14155550142");
    assert_eq!((reset["status"], reset["step"], reset["attempts"], reset["call_status"]), ("pending", "", "0", ""));
    assert!(reset.iter().filter(|(k, _)| k.starts_with("var.")).all(|(_, v)| v.is_empty()), "{reset:?}");
    let store = herald::store::Store::open(&db).unwrap();
    let (_, lead) = store.lead(EMERGENCY, "+14155550142").unwrap().unwrap();
    assert_eq!(lead.seq, seq_before, "seq kept so new history follows the old");
    assert!(lead.vars.is_empty() && lead.variants.is_empty() && lead.reply.is_none());
    assert_eq!(store.history(EMERGENCY, "+14155550142").unwrap().len(), history_before);
    let used = action_keys(&store.history(EMERGENCY, "+14155550142").unwrap());
    assert!(!used.is_empty());
    drop(store);

    // remove: gone, with its history.
    let run = on(&db, &["lead", "remove", EMERGENCY, "+14155550143"]).ok();
    assert!(
        run.stdout.starts_with(&format!("removed lead `+14155550143` from `{EMERGENCY}` with its history")),
        "{}",
        run.stdout
    );
    let after = export(&db, EMERGENCY);
    assert_eq!(after.rows.len() as u64, total - 1);
    assert!(after.rows.iter().all(|r| r[0] != "'+14155550143"));
    let store = herald::store::Store::open(&db).unwrap();
    assert!(store.history(EMERGENCY, "+14155550143").unwrap().is_empty());
    drop(store);

    // What status counts now.
    let mut expected = simulated.clone();
    *expected.get_mut("waiting").unwrap() -= 3;
    expected.insert("completed".into(), 1);
    expected.insert("pending".into(), 1);
    assert_eq!(lead_counts(&db, EMERGENCY), expected);

    // Run again: the reset lead acts from the first step, with keys it never used before.
    let lines = simulate_lines(
        &db,
        EMERGENCY,
        &["--start", "2099-01-05T10:00:00-08:00", "--until", "2099-01-05T12:00:00-08:00"],
    );
    let again: Vec<&str> = lines
        .iter()
        .filter(|l| l["contact"] == "+14155550142" && (l["event"] == "send" || l["event"] == "call"))
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert!(again.iter().any(|k| k.contains("/sms_alert/")), "starts again at the first step: {again:?}");
    assert!(again.iter().all(|k| !used.contains(*k)), "a key used before the reset: {again:?} of {used:?}");
}

/// The idempotency keys of the sends and calls in a history.
fn action_keys(history: &[herald::runtime::Record]) -> BTreeSet<String> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            herald::runtime::Event::Send { key, .. } | herald::runtime::Event::Call { key, .. } => {
                Some(key.to_string())
            }
            _ => None,
        })
        .collect()
}

/// `simulate` of an example campaign on `db` in `--format jsonl`, with extra arguments.
fn simulate_lines(db: &Path, name: &str, extra: &[&str]) -> Vec<Value> {
    let campaign = format!("campaigns/{name}.yaml");
    let contacts = format!("examples/{name}.csv");
    let responses = format!("examples/{name}.responses.yaml");
    let mut args = vec!["simulate", &campaign, "--contacts", &contacts, "--responses", &responses, "--format", "jsonl"];
    args.extend_from_slice(extra);
    on(db, &args).ok().stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn lead_commands_refuse_what_would_be_wrong() {
    let (_dir, db) = temp();
    simulate_example(&db, EMERGENCY, EMERGENCY_PAST);
    // An unknown contact, with the key it probably meant (a number written another way is
    // found: `(415) 555-0141` is `+14155550141`).
    let run = on(&db, &["lead", "reset", EMERGENCY, "+1415555014"]).fails(1, "has no lead for contact `+1415555014`");
    assert!(run.stderr.contains("did you mean `+1415555014"), "{}", run.stderr);
    on(&db, &["lead", "complete", EMERGENCY, "nobody"])
        .fails(1, "campaign `emergency-notification` has no lead for contact `nobody`");
    // An opted-out contact is never contacted again, and a skipped one never started.
    on(&db, &["lead", "reset", EMERGENCY, "+14155550148"]).fails(1, "has opted out (suppressed in every campaign)");
    on(&db, &["lead", "reset", EMERGENCY, "+14155550149"]).fails(1, "was skipped at import (filtered)");
    let export = export(&db, EMERGENCY);
    assert_eq!(export.row("'+14155550148")["status"], "opted_out");
    assert_eq!(export.row("'+14155550149")["status"], "skipped");
}

#[test]
fn resetting_a_lead_of_a_completed_campaign_reopens_it() {
    let (_dir, db) = temp();
    simulate_example(&db, "winback-email", &[]);
    on(&db, &["lead", "reset", "winback-email", "hannah.bell@example.com"]).ok();
    assert_eq!(campaign_status(&db, "winback-email"), "running");
    assert_eq!(export(&db, "winback-email").row("hannah.bell@example.com")["status"], "pending");
}
