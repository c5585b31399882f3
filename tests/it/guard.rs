//! The last checks before an action leaves: the address it goes to is not suppressed, whatever
//! the lead's key, and an action recorded earlier but not handed over (the outbox could not be
//! written) is checked again before a later run hands it over.

use std::path::Path;

use crate::herald::herald_in;

const MAIL: &str = "\
id: mail
channel: sms
contacts:
  key: email
steps:
  - id: pause
    wait: 2s
  - id: hello
    send: { to: \"{{ contact.phone }}\", text: \"Hi {{ contact.name }}\" }
";

const NOW: &str = "\
id: now
channel: sms
contacts:
  key: email
steps:
  - id: hello
    send: { to: \"{{ contact.phone }}\", text: \"Hi {{ contact.name }}\" }
";

const CONTACTS: &str = "email,phone,name\nann@example.com,(415) 310-0001,Ann\nbo@example.com,(415) 310-0002,Bo\ncy@example.com,(415) 310-0003,Cy\n";

fn setup(campaign: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), campaign).unwrap();
    std::fs::write(dir.path().join("c.csv"), CONTACTS).unwrap();
    dir
}

fn sent_to(dir: &Path) -> Vec<String> {
    let outbox = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    outbox
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["to"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_suppressed_phone_is_not_texted_by_a_campaign_keyed_by_email() {
    let dir = setup(MAIL);
    let first = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "c.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(first.status.success(), "{}", first.stderr);
    let opt_out = "{\"type\":\"opt_out\",\"contact\":\"(415) 310-0001\"}\n";
    std::fs::write(dir.path().join("e.jsonl"), opt_out).unwrap();
    assert!(herald_in(dir.path(), &["--db", "h.redb", "ingest", "e.jsonl"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let again = herald_in(dir.path(), &["--db", "h.redb", "run", "c.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert_eq!(sent_to(dir.path()), ["+14153100002", "+14153100003"]);
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    let (_, ann) = store.lead("mail", "ann@example.com").unwrap().unwrap();
    assert_eq!(ann.status, herald::runtime::LeadStatus::OptedOut);
}

#[test]
fn an_address_rendered_from_any_column_is_checked_before_it_is_sent_to() {
    // `mobile` is a text column: the rendered `to` is the cell as written, normalised here.
    let dir = setup(&MAIL.replace("contact.phone", "contact.mobile"));
    std::fs::write(dir.path().join("c.csv"), CONTACTS.replace("email,phone,name", "email,mobile,name")).unwrap();
    let first = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "c.yaml", "--contacts", "c.csv", "--outbox", "out.jsonl", "--once"],
    );
    assert!(first.status.success(), "{}", first.stderr);
    std::fs::write(dir.path().join("e.jsonl"), "{\"type\":\"opt_out\",\"contact\":\"+14153100001\"}\n").unwrap();
    assert!(herald_in(dir.path(), &["--db", "h.redb", "ingest", "e.jsonl"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let again = herald_in(dir.path(), &["--db", "h.redb", "run", "c.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert_eq!(sent_to(dir.path()), ["(415) 310-0002", "(415) 310-0003"]);
    let store = herald::store::Store::open(&dir.path().join("h.redb")).unwrap();
    let history = store.history("mail", "ann@example.com").unwrap();
    assert!(history.iter().any(|r| format!("{:?}", r.event).contains("+14153100001 is suppressed")), "{history:?}");
}

#[test]
fn actions_recorded_but_not_handed_over_are_checked_again_before_a_later_run_sends_them() {
    let dir = setup(NOW);
    // The outbox cannot be written: the actions are recorded, not handed over.
    let full = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "c.yaml", "--contacts", "c.csv", "--outbox", "/dev/full", "--once"],
    );
    assert_eq!(full.status.code(), Some(2), "{}", full.stderr);
    // Ann opts out by phone meanwhile.
    std::fs::write(dir.path().join("e.jsonl"), "{\"type\":\"opt_out\",\"contact\":\"+1 415 310 0001\"}\n").unwrap();
    assert!(herald_in(dir.path(), &["--db", "h.redb", "ingest", "e.jsonl"]).status.success());
    let again = herald_in(dir.path(), &["--db", "h.redb", "run", "c.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(again.stderr.contains("mail") || again.stderr.contains("not handed over"), "{}", again.stderr.clone());
    assert_eq!(sent_to(dir.path()), ["+14153100002", "+14153100003"]);
    // Nothing is left to hand over: a further run sends nothing again.
    let last = herald_in(dir.path(), &["--db", "h.redb", "run", "c.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(last.status.success(), "{}", last.stderr);
    assert_eq!(sent_to(dir.path()).len(), 2);
}

#[test]
fn actions_recorded_earlier_wait_while_their_window_is_closed() {
    let dir = setup(NOW);
    let full = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "c.yaml", "--contacts", "c.csv", "--outbox", "/dev/full", "--once"],
    );
    assert_eq!(full.status.code(), Some(2), "{}", full.stderr);
    // The file now allows sends only in an hour that is not now.
    let hour = (chrono::Utc::now() + chrono::TimeDelta::hours(3)).format("%H").to_string();
    let closed =
        NOW.replace("steps:", &format!("schedule: {{ timezone: UTC, hours: \"{hour}:00-{hour}:30\" }}\nsteps:"));
    std::fs::write(dir.path().join("c.yaml"), closed).unwrap();
    let again = herald_in(dir.path(), &["--db", "h.redb", "run", "c.yaml", "--outbox", "out.jsonl", "--once"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(again.stderr.contains("3 actions recorded earlier wait"), "{}", again.stderr);
    assert!(sent_to(dir.path()).is_empty());
}
