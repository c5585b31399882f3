//! Input that is too big is refused in bounded memory and time (issue 20 #13): an event line
//! past 1 MiB, a reply text past 10,000 characters, a contacts row past 1 MiB, a suppression
//! list or test-file contacts with such a line. The inputs are large but finite, so each test
//! is bounded in time (`/dev/zero` would be too, but only if the limits work).

use std::path::Path;

use herald::store::Store;

use crate::herald::{Herald, Out, herald_in};

const HOLD: &str = "\
id: hold
channel: sms
contacts:
  key: id
steps:
  - id: wait_reply
    await: { reply: 30d }
";

fn started() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("campaign.yaml"), HOLD).unwrap();
    std::fs::write(d.join("c.csv"), "id,name\n1,Ada\n2,Bo\n").unwrap();
    let run = herald_in(d, &["run", "campaign.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"]);
    assert!(run.status.success(), "{}", run.stderr);
    dir
}

/// A 3 MB line between two good ones: refused with its number, the others applied, and the
/// database does not grow by the line.
#[test]
fn ingest_refuses_a_line_past_1_mib_and_applies_the_next() {
    let dir = started();
    let d = dir.path();
    let before = std::fs::metadata(d.join("h.redb")).unwrap().len();
    let mut events = b"{\"type\":\"event\",\"contact\":\"1\",\"name\":\"first\"}\n".to_vec();
    events.extend(b"{\"type\":\"reply\",\"contact\":\"2\",\"text\":\"");
    events.extend(std::iter::repeat_n(b'x', 3_000_000));
    events.extend(b"\"}\n{\"type\":\"event\",\"contact\":\"2\",\"name\":\"third\"}\n");
    std::fs::write(d.join("events.jsonl"), &events).unwrap();
    let out = herald_in(d, &["ingest", "events.jsonl", "--db", "h.redb"]);
    let err = out.stderr.clone();
    assert!(err.contains("events.jsonl:2: the line is longer than 1 MiB (the limit); it was skipped"), "{err}");
    assert!(!err.contains("events.jsonl:1:") && !err.contains("events.jsonl:3:"), "{err}");
    let after = std::fs::metadata(d.join("h.redb")).unwrap().len();
    assert!(after < before + 1_000_000, "the database grew from {before} to {after} bytes");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let names = |contact| format!("{:?}", store.history("hold", contact).unwrap());
    assert!(names("1").contains("first"), "{}", names("1"));
    assert!(names("2").contains("third"), "{}", names("2"));
}

/// The same through stdin, with a reply just past the text limit: refused, not cut.
#[test]
fn ingest_from_stdin_refuses_a_long_reply_text() {
    let dir = started();
    let d = dir.path();
    let line = format!("{{\"type\":\"reply\",\"contact\":\"1\",\"text\":\"{}\"}}\n", "y".repeat(10_001));
    let out = Herald::new().dir(d).args(["ingest", "-", "--db", "h.redb"]).stdin(line).run();
    let err = out.stderr.clone();
    assert!(err.contains("stdin:1: `text` is longer than 10000 characters (the limit)"), "{err}");
    let store = Store::open(&d.join("h.redb")).unwrap();
    let history = format!("{:?}", store.history("hold", "1").unwrap());
    assert!(!history.contains("yyyy"), "{history}");
}

/// A campaign that sends, keyed by phone, with a suppression list.
const GREET: &str = "\
id: greet
channel: sms
contacts:
  suppress: [dnc.csv]
steps:
  - id: hello
    send: { text: \"Hi {{ contact.name }}\" }
";

fn greet_dir(contacts: &[u8], dnc: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("greet.yaml"), GREET).unwrap();
    std::fs::write(d.join("c.csv"), contacts).unwrap();
    std::fs::write(d.join("dnc.csv"), dnc).unwrap();
    dir
}

fn run_greet(d: &Path) -> Out {
    herald_in(d, &["run", "greet.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once", "--outbox", "out.jsonl"])
}

/// A cell past 64 KiB makes its row `invalid_row`; the other rows are imported.
#[test]
fn a_contacts_cell_past_64_kib_skips_its_row() {
    let mut csv = b"phone,name\n+14155550101,Ada\n+14155550102,".to_vec();
    csv.extend(std::iter::repeat_n(b'n', 100_000));
    csv.extend(b"\n+14155550103,Cy\n");
    let dir = greet_dir(&csv, b"phone\n");
    let out = run_greet(dir.path());
    let err = out.stderr.clone();
    assert!(out.status.success(), "{err}");
    let all = format!("{}{err}", out.stdout);
    assert!(all.contains("line 3: column name") && all.contains("is longer than 64 KiB (the limit)"), "{all}");
    let outbox = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert!(outbox.contains("+14155550101") && outbox.contains("+14155550103"), "{outbox}");
    assert!(!outbox.contains("+14155550102"), "{outbox}");
}

/// A 3 MB row is skipped as `invalid_row` with its line, read past without being kept, and
/// the rows after it imported; so is one with no newline at the end of the file, and one whose
/// rest holds a quoted cell spanning lines (the newline inside it does not end the row).
#[test]
fn a_contacts_row_past_1_mib_is_skipped_and_the_next_imported() {
    for end in [&b"\n+14155550103,Cy\n"[..], b"", b",\"a\n+14155550104,b\"\n+14155550103,Cy\n"] {
        let mut csv = b"phone,name\n+14155550101,Ada\n+14155550102,".to_vec();
        csv.extend(std::iter::repeat_n(b'n', 3_000_000));
        csv.extend(end);
        let dir = greet_dir(&csv, b"phone\n");
        let out = run_greet(dir.path());
        let err = out.stderr.clone();
        assert!(out.status.success(), "{err}");
        let all = format!("{}{err}", out.stdout);
        assert!(all.contains("line 3: the row is longer than 1 MiB (the limit)"), "{all}");
        let outbox = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
        assert!(outbox.contains("+14155550101") && !outbox.contains("+14155550102"), "{outbox}");
        assert_eq!(outbox.contains("+14155550103"), !end.is_empty(), "{outbox}");
        assert!(!outbox.contains("+14155550104"), "{outbox}");
    }
}

/// A suppression list with a 3 MB line is refused, rather than read whole.
#[test]
fn a_suppression_list_with_a_line_past_1_mib_is_refused() {
    let mut dnc = b"phone\n+14155550109\n".to_vec();
    dnc.extend(std::iter::repeat_n(b'9', 3_000_000));
    let dir = greet_dir(b"phone,name\n+14155550101,Ada\n", &dnc);
    let out = run_greet(dir.path());
    let err = out.stderr.clone();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("dnc.csv") && err.contains("line 3 is longer than 1 MiB (the limit)"), "{err}");
}

/// A test file's contacts CSV with a 3 MB line is a diagnostic, not a whole read.
#[test]
fn test_file_contacts_with_a_line_past_1_mib_are_refused() {
    let dir = greet_dir(b"phone,name\n+14155550101,Ada\n", b"phone\n");
    let d = dir.path();
    let mut people = b"phone,name\n".to_vec();
    people.extend(std::iter::repeat_n(b'1', 3_000_000));
    std::fs::write(d.join("people.csv"), people).unwrap();
    let test = "campaign: greet.yaml\ncontacts: people.csv\ncases:\n  - name: ada\n    contact: \"+14155550101\"\n    expect: { sends: 1 }\n";
    std::fs::write(d.join("greet.test.yaml"), test).unwrap();
    let out = herald_in(d, &["test", "greet.test.yaml"]);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("line 2 is longer than 1 MiB (the limit)"), "{all}");
}
