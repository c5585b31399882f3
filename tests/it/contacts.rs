//! Contacts end to end through the binary: numbers normalised as libphonenumber does, every
//! skipped row explained (report, `--rejects`, `validate --contacts`), and a re-import that
//! updates the fields of known contacts without moving their leads.

use std::path::Path;

use crate::herald::herald_in;
use crate::support::setup;

const GREET: &str = "\
id: greet
channel: sms
contacts:
  key: phone
  fields: { name: string, visit: date }
steps:
  - id: hello
    send: { text: \"Hi {{ contact.name }}\" }
  - id: pause
    wait: 2s
  - id: bye
    send: { text: \"Bye {{ contact.name }}, see you {{ contact.visit }}\" }
";

/// The outbox's lines as (contact, text).
fn sent(dir: &Path) -> Vec<(String, String)> {
    let outbox = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    outbox
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["contact"].as_str().unwrap_or("").to_string(), v["text"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn a_reimport_updates_fields_and_later_messages_use_them() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit\n+14155550101,Ada,2026-03-10\n(415) 555-0102,Bo,2026-03-11\n"),
    ]);
    let run = |csv: &str| {
        herald_in(
            dir.path(),
            &["--db", "h.redb", "run", "greet.yaml", "--contacts", csv, "--outbox", "out.jsonl", "--once"],
        )
    };
    let first = run("c.csv");
    assert!(first.status.success(), "{}", first.stderr);
    assert_eq!(sent(dir.path()), [("+14155550101".into(), "Hi Ada".into()), ("+14155550102".into(), "Hi Bo".into())]);
    // Ada is renamed and her visit moves; Bo's row is written another way, unchanged.
    std::fs::write(
        dir.path().join("c.csv"),
        "phone,name,visit\n+14155550101,Adaline,2026-03-12\n415-555-0102,Bo,2026-03-11\n",
    )
    .unwrap();
    let again = run("c.csv");
    assert!(again.status.success(), "{}", again.stderr);
    assert!(again.stderr.contains("0 new leads, 1 updated"), "{}", again.stderr);
    assert_eq!(sent(dir.path()).len(), 2, "nobody is greeted twice");
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let last = herald_in(dir.path(), &["--db", "h.redb", "run", "greet.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(last.status.success(), "{}", last.stderr);
    let byes: Vec<String> = sent(dir.path()).into_iter().skip(2).map(|(_, t)| t).collect();
    assert_eq!(byes, ["Bye Adaline, see you 2026-03-12", "Bye Bo, see you 2026-03-11"]);
}

#[test]
fn numbers_with_a_country_code_are_never_changed_into_other_numbers() {
    let csv = "phone,name,visit,region\n+4917612345678,Jonas,,\n0049 160 12345678,Lena,,\n+5511912345804,Ana,,\n+8613812345678,Wei,,\n07911 123456,Amy,,GB\n(415) 555-0102,Bo,,\n";
    let dir = setup(&[("greet.yaml", GREET), ("c.csv", csv)]);
    let out = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let mut to: Vec<String> = sent(dir.path()).into_iter().map(|(c, _)| c).collect();
    to.sort();
    assert_eq!(
        to,
        ["+14155550102", "+447911123456", "+4916012345678", "+4917612345678", "+5511912345804", "+8613812345678"]
    );
}

const BAD: &str = "phone,name,visit,timezone\n+14155550101,Ada,2026-03-10,America/New_York\n+14155550102,Bo,03/10/2026,\n+14155550103,Cy,2026-03-10,PST\n+1415555010,Di,2026-03-10,\n+14155550101,Eve,2026-03-10,\n";

#[test]
fn skipped_rows_are_listed_with_line_column_value_and_reason_and_written_to_rejects() {
    let dir = setup(&[("greet.yaml", GREET), ("c.csv", BAD)]);
    let out = herald_in(
        dir.path(),
        &["simulate", "greet.yaml", "--contacts", "c.csv", "--rejects", "bad.csv", "--format", "summary"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let err = out.stderr.clone();
    for line in [
        r#"line 3: column visit: "03/10/2026" is not a date (expected 2026-03-10)"#,
        r#"line 4: column timezone: "PST" is not an IANA time zone name (did you mean America/Los_Angeles?)"#,
        r#"line 5: column phone: "+1415555010" is not a valid number in US"#,
        "line 6: duplicates line 2 (the same phone +14155550101)",
        "rejects: 4 rows written to bad.csv",
    ] {
        assert!(err.contains(line), "{line:?} not in:\n{err}");
    }
    let rejects = std::fs::read_to_string(dir.path().join("bad.csv")).unwrap();
    let mut lines = rejects.lines();
    assert_eq!(lines.next(), Some("phone,name,visit,timezone,line,column,value,reason"));
    assert_eq!(lines.next(), Some("+14155550102,Bo,03/10/2026,,3,visit,03/10/2026,invalid_field"));
    assert_eq!(lines.count(), 3);
    // The contacts file itself is never a rejects file's target.
    let refused = herald_in(dir.path(), &["simulate", "greet.yaml", "--contacts", "c.csv", "--rejects", "c.csv"]);
    assert_eq!(refused.status.code(), Some(2), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("c.csv")).unwrap(), BAD);
}

#[test]
fn validate_contacts_warns_at_each_skipped_row_and_fails_under_deny_warnings() {
    // Never sent: only the rows' warnings are counted here, not the compliance rules'.
    let greet = format!("{GREET}purpose: transactional\nchecks: {{ stop_notice: {{ off: \"a test campaign\" }} }}\n");
    let dir = setup(&[("greet.yaml", &greet), ("c.csv", BAD)]);
    let human = herald_in(dir.path(), &["validate", "greet.yaml", "--contacts", "c.csv"]);
    assert_eq!(human.status.code(), Some(0), "{}", human.stdout);
    let out = human.stdout.clone();
    assert!(out.contains("herald::contact_row"), "{out}");
    assert!(out.contains("0 errors, 4 warnings"), "{out}");
    let github = herald_in(dir.path(), &["validate", "greet.yaml", "--contacts", "c.csv", "--format", "github"]);
    let annotations = github.stdout.clone();
    assert!(
        annotations.contains("::warning file=c.csv,line=3,col=17,endLine=3,endColumn=27,title=herald%3A%3Acontact_row::line 3: column visit"),
        "{annotations}"
    );
    assert!(annotations.contains("file=c.csv,line=6,"), "{annotations}");
    let json = herald_in(dir.path(), &["validate", "greet.yaml", "--contacts", "c.csv", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["summary"]["warnings"], 4);
    let denied = herald_in(dir.path(), &["validate", "greet.yaml", "--contacts", "c.csv", "--deny-warnings"]);
    assert_eq!(denied.status.code(), Some(1));
}

#[test]
fn lead_commands_find_a_contact_written_the_way_people_write_it() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit\n+14155550101,Ada,2026-03-10\n+14155550102,Bo,2026-03-11\n"),
    ]);
    let out = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let complete = herald_in(dir.path(), &["--db", "h.redb", "lead", "complete", "greet", "(415) 555-0102"]);
    assert!(complete.status.success(), "{}", complete.stderr);
    assert!(complete.stdout.contains("+14155550102"), "{}", complete.stdout);
    let unknown = herald_in(dir.path(), &["--db", "h.redb", "lead", "complete", "greet", "(415) 555-0199"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", unknown.stderr);
}

#[test]
fn ingest_finds_and_suppresses_a_contact_however_it_is_written() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit\n+14155550101,Ada,2026-03-10\n+14155550102,Bo,2026-03-11\n"),
    ]);
    let out = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let events = concat!(
        "{\"type\":\"opt_out\",\"contact\":\"(415) 555-0102\"}\n",
        "{\"type\":\"event\",\"contact\":\"+1 415 555 0101\",\"name\":\"visited\"}\n",
        "{\"type\":\"opt_out\",\"contact\":\"MixedCase@Example.com\"}\n",
        "{\"type\":\"opt_out\",\"contact\":\"0049 176 12345678\"}\n",
    );
    std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
    let ingest = herald_in(dir.path(), &["--db", "h.redb", "ingest", "events.jsonl"]);
    assert!(ingest.status.success(), "{}", ingest.stderr);
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    assert_eq!(store.lead("greet", "+14155550102").unwrap().unwrap().1.status, herald::runtime::LeadStatus::OptedOut);
    assert!(
        store.history("greet", "+14155550101").unwrap().iter().any(|r| format!("{:?}", r.event).contains("visited"))
    );
    for address in ["+14155550102", "mixedcase@example.com", "+4917612345678"] {
        assert!(store.is_suppressed(address).unwrap(), "{address} is not suppressed");
    }
}

#[test]
fn a_rejected_row_fixed_and_imported_again_becomes_a_lead() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit\n+14155550101,Ada,03/10/2026\n+14155550102,Bo,2026-03-11\n"),
    ]);
    let run = |extra: &[&str]| {
        let mut args =
            vec!["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"];
        args.extend_from_slice(extra);
        herald_in(dir.path(), &args)
    };
    let first = run(&["--rejects", "fix.csv"]);
    assert!(first.status.success(), "{}", first.stderr);
    assert_eq!(sent(dir.path()).len(), 1);
    // The rejects file, fixed, is imported as it is (its line,column,value,reason columns are
    // left out), and its row becomes a lead.
    let rejects = std::fs::read_to_string(dir.path().join("fix.csv")).unwrap();
    assert_eq!(
        rejects,
        "phone,name,visit,line,column,value,reason\n+14155550101,Ada,03/10/2026,2,visit,03/10/2026,invalid_field\n"
    );
    std::fs::write(dir.path().join("c.csv"), rejects.replace("03/10/2026,2", "2026-03-10,2")).unwrap();
    let again = run(&["--rejects", "fix.csv"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(again.stderr.contains("1 new leads, 0 updated"), "{}", again.stderr);
    assert_eq!(sent(dir.path()).last(), Some(&("+14155550101".to_string(), "Hi Ada".to_string())));
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    let (contact, _) = store.lead("greet", "+14155550101").unwrap().unwrap();
    assert!(contact.fields.get("line").is_none(), "{contact:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("fix.csv")).unwrap(),
        "phone,name,visit,line,column,value,reason\n"
    );
}

#[test]
fn a_reimport_keeps_the_fields_the_new_file_does_not_have() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit,timezone\n+14155550101,Ada,2026-03-10,Europe/Berlin\n"),
    ]);
    let run = || {
        herald_in(
            dir.path(),
            &["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
        )
    };
    assert!(run().status.success());
    std::fs::write(dir.path().join("c.csv"), "phone,name,visit\n+14155550101,Adaline,2026-03-10\n").unwrap();
    let again = run();
    assert!(again.stderr.contains("0 new leads, 1 updated"), "{}", again.stderr);
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    let (contact, _) = store.lead("greet", "+14155550101").unwrap().unwrap();
    assert_eq!(contact.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(contact.fields.get("name"), Some(&serde_json::json!("Adaline")));
}

#[test]
fn rows_with_the_wrong_number_of_cells_go_to_the_rejects_file_too() {
    let dir = setup(&[
        ("greet.yaml", GREET),
        ("c.csv", "phone,name,visit\n+14155550101,Ada,2026-03-10\n+14155550102,Bo\n+14155550103,Cy,2026-03-10,extra\n"),
    ]);
    let out = herald_in(
        dir.path(),
        &["simulate", "greet.yaml", "--contacts", "c.csv", "--rejects", "bad.csv", "--format", "summary"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let rejects = std::fs::read_to_string(dir.path().join("bad.csv")).unwrap();
    assert_eq!(
        rejects,
        "phone,name,visit,line,column,value,reason\n+14155550102,Bo,,3,,,invalid_row\n+14155550103,Cy,2026-03-10,extra,4,,,invalid_row\n"
    );
}

#[test]
fn stop_however_it_is_typed_opts_the_contact_out() {
    let csv: String = std::iter::once("phone,name,visit\n".to_string())
        .chain((0..10).map(|i| format!("+1415555010{i},C{i},2026-03-10\n")))
        .collect();
    let dir = setup(&[("greet.yaml", GREET), ("c.csv", &csv)]);
    let out = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "greet.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let replies = [
        "STOP.",
        "Stop!",
        "OPTOUT",
        "opt-out",
        "\"STOP\"",
        "ＳＴＯＰ",
        "Stop\u{200b}",
        "Stop 🛑",
        "stop please",
        "stop by at 5",
    ];
    let events: String = replies
        .iter()
        .enumerate()
        .map(|(i, text)| {
            format!("{}\n", serde_json::json!({"type": "reply", "contact": format!("+1415555010{i}"), "text": text}))
        })
        .collect();
    std::fs::write(dir.path().join("replies.jsonl"), events).unwrap();
    let ingest = herald_in(dir.path(), &["--db", "h.redb", "ingest", "replies.jsonl"]);
    assert!(ingest.status.success(), "{}", ingest.stderr);
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    for (i, reply) in replies.iter().enumerate() {
        let key = format!("+1415555010{i}");
        assert_eq!(store.is_suppressed(&key).unwrap(), i < 9, "{reply:?}");
    }
}
