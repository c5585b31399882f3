//! Hostile files and environments (issue 20, items 5–8 and 15), through the real binary: what
//! herald must refuse rather than destroy, and the small faults a careless shell exposes.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::herald::{Herald, Out, herald_in};
use crate::support::write;

/// Sends one text to every contact: a campaign that `run --once` finishes in one pass.
const HELLO: &str = "\
id: hello
channel: sms
contacts:
  key: phone
steps:
  - id: hi
    send: { text: \"Hi {{ contact.name }}\" }
";

const CONTACTS: &str = "phone,name\n+14155550101,Ada\n+14155550102,Bo\n";

/// A directory with the campaign and contacts written, and a database `h.redb` that `run --once`
/// made from them.
fn ran() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hello.yaml", HELLO);
    write(dir.path(), "contacts.csv", CONTACTS);
    let outbox = dir.path().join("out.jsonl");
    herald_in(
        dir.path(),
        &[
            "--db",
            "h.redb",
            "run",
            "hello.yaml",
            "--contacts",
            "contacts.csv",
            "--once",
            "--outbox",
            outbox.to_str().unwrap(),
        ],
    )
    .ok();
    dir
}

// ---------------------------------------------------------------------------------------------
// 5. export --output
// ---------------------------------------------------------------------------------------------

#[test]
fn export_output_refuses_the_database_itself_and_leaves_it_whole() {
    let dir = ran();
    let db = dir.path().join("h.redb");
    let before = std::fs::read(&db).unwrap();
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "--output", "h.redb"]).fails(2, "it is the database");
    // Under another name (a hard link) as well.
    std::fs::hard_link(&db, dir.path().join("other.redb")).unwrap();
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "-o", "other.redb"]).fails(2, "it is the database");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    herald_in(dir.path(), &["--db", "h.redb", "status"]).ok();
}

#[test]
fn export_output_refuses_directories_symlinks_and_devices() {
    let dir = ran();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "-o", "sub"]).fails(2, "is a directory");
    let target = write(dir.path(), "target.txt", "keep me\n");
    std::os::unix::fs::symlink(&target, dir.path().join("link.csv")).unwrap();
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "-o", "link.csv"]).fails(2, "symbolic link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(std::fs::symlink_metadata(dir.path().join("link.csv")).unwrap().file_type().is_symlink());
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "-o", "/dev/null"]).fails(2, "not a regular file");
    // A regular file is replaced whole, and nothing is left beside it.
    write(dir.path(), "leads.csv", "old\n");
    herald_in(dir.path(), &["--db", "h.redb", "export", "hello", "-o", "leads.csv"]).ok();
    let text = std::fs::read_to_string(dir.path().join("leads.csv")).unwrap();
    assert!(text.starts_with("key,status,") && text.lines().count() == 3, "{text}");
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with('.')), "a temporary file was left: {names:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. run --outbox on a file herald did not write
// ---------------------------------------------------------------------------------------------

#[test]
fn run_refuses_an_outbox_file_that_is_not_herald_s_and_leaves_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hello.yaml", HELLO);
    write(dir.path(), "contacts.csv", CONTACTS);
    let notes = "meeting notes
- call Ada
- no newline at the end";
    write(dir.path(), "notes.txt", notes);
    let args = ["--db", "h.redb", "run", "hello.yaml", "--contacts", "contacts.csv", "--once", "--outbox"];
    herald_in(dir.path(), &[&args[..], &["notes.txt"]].concat())
        .fails(2, "--outbox notes.txt: its first line is not a herald outbox line");
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), notes);
    // Herald's own outbox with a torn last line is repaired, and appended to.
    herald_in(dir.path(), &[&args[..], &["out.jsonl"]].concat()).ok();
    let out = dir.path().join("out.jsonl");
    let whole = std::fs::read_to_string(&out).unwrap();
    assert_eq!(whole.lines().count(), 2, "{whole}");
    std::fs::write(&out, format!("{whole}{{\"campaign\":\"hel")).unwrap();
    let run = herald_in(dir.path(), &[&args[..], &["out.jsonl"]].concat()).ok();
    assert!(run.stderr.contains("cut a torn last line"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), whole);
}

// ---------------------------------------------------------------------------------------------
// 7. a database is run's or simulate's
// ---------------------------------------------------------------------------------------------

/// Waits a day for a reply: `run --once` leaves its leads waiting, which a simulation would
/// move on its virtual clock.
const WAITS: &str = "\
id: waits
channel: sms
contacts:
  key: phone
steps:
  - id: ask
    send: { text: \"Coming?\" }
  - id: answer
    await: { reply: 1d }
";

#[test]
fn simulate_refuses_run_s_database_and_run_refuses_a_simulation_s() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "waits.yaml", WAITS);
    write(dir.path(), "c.csv", CONTACTS);
    write(dir.path(), "more.csv", "phone,name\n+14155550103,Cy\n");
    herald_in(
        dir.path(),
        &["--db", "real.redb", "run", "waits.yaml", "--contacts", "c.csv", "--once", "--outbox", "o.jsonl"],
    )
    .ok();
    let before = herald_in(dir.path(), &["--db", "real.redb", "export", "waits"]).ok().stdout;
    assert_eq!(before.matches(",waiting,").count(), 2, "{before}");
    herald_in(dir.path(), &["--db", "real.redb", "simulate", "waits.yaml", "--contacts", "more.csv"])
        .fails(2, "holds the real leads of `herald run`");
    assert_eq!(herald_in(dir.path(), &["--db", "real.redb", "export", "waits"]).ok().stdout, before);
    // run keeps using its own database.
    herald_in(dir.path(), &["--db", "real.redb", "run", "waits.yaml", "--once", "--outbox", "o.jsonl"]).ok();

    // The other way round: a simulation's database is not run.
    herald_in(dir.path(), &["--db", "sim.redb", "simulate", "waits.yaml", "--contacts", "c.csv"]).ok();
    herald_in(dir.path(), &["--db", "sim.redb", "run", "waits.yaml", "--once", "--outbox", "o.jsonl"])
        .fails(2, "holds a simulation");
    // simulate goes on with its own.
    herald_in(dir.path(), &["--db", "sim.redb", "simulate", "waits.yaml", "--contacts", "more.csv"]).ok();
}

#[test]
fn a_database_from_before_the_mark_with_campaigns_is_run_s() {
    // The fixtures were written before databases were marked, and hold campaigns.
    let dir = tempfile::tempdir().unwrap();
    let fixtures = crate::herald::root().join("tests/fixtures");
    let Some(fixture) = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "redb"))
    else {
        panic!("no fixture database in {}", fixtures.display());
    };
    std::fs::copy(&fixture, dir.path().join("old.redb")).unwrap();
    write(dir.path(), "waits.yaml", WAITS);
    write(dir.path(), "c.csv", CONTACTS);
    herald_in(dir.path(), &["--db", "old.redb", "simulate", "waits.yaml", "--contacts", "c.csv"])
        .fails(2, "holds the real leads of `herald run`");
}

// ---------------------------------------------------------------------------------------------
// 8. rows without a key
// ---------------------------------------------------------------------------------------------

/// Keyed by a free-text id, so that `line 2` is a key a real contact can have.
const BY_ID: &str = "\
id: by-id
channel: sms
contacts:
  key: id
steps:
  - id: hi
    send: { to: \"{{ contact.phone }}\", text: \"Hi {{ contact.name }}\" }
";

/// Line 2 has no key; line 3's key is `line 2`.
const LINE_2: &str = "id,phone,name\n,+14155550101,Nobody\nline 2,+14155550102,Real\n";

#[test]
fn a_row_without_a_key_does_not_take_a_real_contact_s_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "by-id.yaml", BY_ID);
    write(dir.path(), "c.csv", LINE_2);
    let run = herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "by-id.yaml", "--contacts", "c.csv", "--once", "--outbox", "out.jsonl"],
    )
    .ok();
    assert!(run.stderr.contains("line 2: column id: is empty (the key column)"), "{}", run.stderr);
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["contact"], "line 2");
    assert_eq!(lines[0]["to"], "+14155550102");
    // The keyless row is no lead: the export has the real contact only, completed.
    let export = herald_in(dir.path(), &["--db", "h.redb", "export", "by-id"]).ok().stdout;
    let rows: Vec<&str> = export.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{export}");
    assert!(rows[0].starts_with("line 2,completed,"), "{export}");

    // simulate the same: the real contact is sent to.
    let run = herald_in(dir.path(), &["simulate", "by-id.yaml", "--contacts", "c.csv", "--format", "jsonl"]).ok();
    assert!(run.stdout.contains("\"line 2\""), "{}", run.stdout);
    assert!(run.stdout.contains("Hi Real"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// 15. small ones
// ---------------------------------------------------------------------------------------------

#[test]
fn a_closed_stdout_is_not_an_error() {
    // More rows than the CSV writer buffers, so that a row's write meets the closed pipe (the
    // last flush's error was already taken as a broken pipe).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hello.yaml", HELLO);
    let rows: String = (0..400).map(|i| format!("+1415555{i:04},Name {i}\n")).collect();
    write(dir.path(), "many.csv", &format!("phone,name\n{rows}"));
    herald_in(
        dir.path(),
        &["--db", "h.redb", "simulate", "hello.yaml", "--contacts", "many.csv", "--format", "summary"],
    )
    .ok();
    for args in [&["--db", "h.redb", "export", "hello"][..], &["--db", "h.redb", "status"], &["validate", "hello.yaml"]]
    {
        // The reading end is closed before herald writes: every write fails with EPIPE, as
        // under `| head -1` once head has its line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut command = Herald::new().dir(dir.path()).args(args).command();
        let run = Out::from(command.stdout(writer).stderr(Stdio::piped()).output().unwrap());
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_config_file_that_is_not_there_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    herald_in(dir.path(), &["--config", "nonexistent.yaml", "schema"]).fails(2, "--config nonexistent.yaml:");
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    herald_in(dir.path(), &["--config", "conf", "schema"]).fails(2, "--config conf:");
}

#[test]
fn a_config_that_cannot_be_read_or_is_not_yaml_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hello.yaml", HELLO);
    write(dir.path(), "contacts.csv", CONTACTS);
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    std::fs::write(dir.path().join("binary.yaml"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    write(dir.path(), "tabs.yaml", "channels:\n\tsms: { kind: log }\n");
    let run = |config: &str| {
        herald_in(dir.path(), &["run", "hello.yaml", "--contacts", "contacts.csv", "--once", "--config", config])
    };
    run("missing.yaml").fails(2, "--config missing.yaml: no such file");
    run("folder").fails(2, "--config folder: not a file");
    let out = run("binary.yaml").fails(1, "binary.yaml has errors");
    assert!(out.stderr.contains("not UTF-8"), "{}", out.stderr);
    let out = run("tabs.yaml").fails(1, "tabs.yaml has errors");
    assert!(out.stderr.contains("indent with spaces"), "{}", out.stderr);
    assert!(!dir.path().join("herald.redb").exists(), "nothing stored before the config is good");
    // A herald.yaml in the folder is the configuration when `--config` is not given.
    write(dir.path(), "herald.yaml", "channels: { sms: { kind: lgo } }\n");
    let out = herald_in(dir.path(), &["validate", "hello.yaml"]).fails(1, "");
    assert!(out.stdout.contains("unknown channel kind `lgo`"), "{}", out.stdout);
}

#[test]
fn an_empty_database_file_is_not_taken_as_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hello.yaml", HELLO);
    write(dir.path(), "contacts.csv", CONTACTS);
    write(dir.path(), "empty.redb", "");
    for args in [
        &["--db", "empty.redb", "status"][..],
        &["--db", "empty.redb", "run", "hello.yaml", "--once", "--outbox", "o.jsonl"],
        &["--db", "empty.redb", "simulate", "hello.yaml", "--contacts", "contacts.csv"],
    ] {
        herald_in(dir.path(), args).fails(2, "is damaged or is not a herald database: the file is empty");
        assert_eq!(std::fs::metadata(dir.path().join("empty.redb")).unwrap().len(), 0, "{args:?}");
    }
}

/// `herald ARGS` unable to write files its user cannot write: as root (as in CI containers),
/// without the capabilities that let root write anyway.
fn herald_unprivileged(dir: &Path, args: &[&str], probe: &Path) -> Out {
    let root_writes = std::fs::OpenOptions::new().append(true).open(probe).is_ok();
    let mut command = if root_writes {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set", "-dac_override,-dac_read_search", crate::herald::BIN]);
        c
    } else {
        Command::new(crate::herald::BIN)
    };
    command.current_dir(dir).env("NO_COLOR", "1").args(args);
    Out::from(command.output().expect("herald runs"))
}

#[test]
fn status_and_export_read_a_read_only_database() {
    use std::os::unix::fs::PermissionsExt;
    let dir = ran();
    let db = dir.path().join("h.redb");
    let before = std::fs::read(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let status = herald_unprivileged(dir.path(), &["--db", "h.redb", "status", "hello", "--format", "json"], &db).ok();
    assert!(status.stdout.contains("\"completed\": 2"), "{}", status.stdout);
    let export = herald_unprivileged(dir.path(), &["--db", "h.redb", "export", "hello"], &db).ok();
    assert_eq!(export.stdout.lines().count(), 3, "{}", export.stdout);
    // A change cannot be made, and says why.
    herald_unprivileged(dir.path(), &["--db", "h.redb", "lead", "remove", "hello", "+14155550101"], &db)
        .fails(2, "it can only be read");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn control_characters_from_csv_cells_and_events_are_escaped_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "by-id.yaml", BY_ID);
    // An id that clears the screen, a name that backspaces over itself, and the id again (a
    // duplicate, whose message names the key).
    let csv = "id,phone,name\n\u{1b}[2Jx,+14155550101,ok\u{8}\u{8}XX\n\u{1b}[2Jx,+14155550102,Bo\n";
    write(dir.path(), "c.csv", csv);
    let run = herald_in(dir.path(), &["simulate", "by-id.yaml", "--contacts", "c.csv"]).ok();
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(['\u{1b}', '\u{8}']), "a raw control character: {text:?}");
    }
    assert!(run.stdout.contains("\\u{1b}[2Jx"), "{}", run.stdout);
    assert!(run.stdout.contains("ok\\u{8}\\u{8}XX"), "{}", run.stdout);
    assert!(run.stderr.contains("\\u{1b}[2Jx"), "{}", run.stderr);

    // An event line whose fields carry escapes: refused, and said without them.
    herald_in(
        dir.path(),
        &["--db", "h.redb", "run", "by-id.yaml", "--contacts", "c.csv", "--once", "--outbox", "o.jsonl"],
    )
    .ok();
    let line = "{\"type\":\"reply\",\"campaign\":\"by-id\",\"contact\":\"\\u001b]0;pwned\\u0007\",\"text\":\"hi\"}\n";
    write(dir.path(), "events.jsonl", line);
    let run = herald_in(dir.path(), &["--db", "h.redb", "ingest", "events.jsonl"]);
    assert!(!run.stderr.contains(['\u{1b}', '\u{7}']), "a raw control character: {:?}", run.stderr);
    assert!(run.stderr.contains("\\u{1b}]0;pwned\\u{7}"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// 15. A reply from before the await, and a message that cannot be rendered
// ---------------------------------------------------------------------------------------------

/// Asks, then waits a day for the answer: a reply routes to `thanks`, silence ends the lead.
const ASK: &str = "\
id: ask
channel: sms
contacts:
  key: phone
steps:
  - id: question
    send: { text: \"Coming?\" }
  - id: answer
    await: { reply: 1d }
    routes:
      - if: reply.timed_out
        goto: end
      - else: thanks
  - id: thanks
    send: { text: \"Thanks\" }
";

#[test]
fn a_reply_dated_before_the_await_began_does_not_answer_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ask.yaml", ASK);
    write(d, "contacts.csv", CONTACTS);
    herald_in(d, &["--db", "h.redb", "run", "ask.yaml", "--contacts", "contacts.csv", "--once", "--outbox", "o.jsonl"])
        .ok();
    let line = |at: &str| {
        format!(
            "{{\"type\":\"reply\",\"campaign\":\"ask\",\"contact\":\"+14155550101\",\"text\":\"yes\",\"at\":\"{at}\"}}\n"
        )
    };
    write(d, "old.jsonl", &line("0001-01-01T00:00:00Z"));
    herald_in(d, &["--db", "h.redb", "ingest", "old.jsonl"]).ok();
    let shown = herald_in(d, &["--db", "h.redb", "export", "ask"]).ok().stdout;
    let row = shown.lines().find(|l| l.contains("+14155550101")).unwrap_or_default().to_string();
    assert!(row.contains("waiting") && row.contains("answer"), "a reply from year 1 answered the await:\n{shown}");

    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    write(d, "new.jsonl", &line(&now));
    herald_in(d, &["--db", "h.redb", "ingest", "new.jsonl"]).ok();
    let shown = herald_in(d, &["--db", "h.redb", "export", "ask"]).ok().stdout;
    let row = shown.lines().find(|l| l.contains("+14155550101")).unwrap_or_default().to_string();
    assert!(!row.contains("waiting") && row.contains("thanks"), "a reply during the await answers it:\n{shown}");
}

#[test]
fn a_message_that_cannot_be_rendered_fails_the_lead_unless_a_route_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `vars.nick` is set by no step: rendering fails for every lead at run time.
    let plain = "id: plain\nchannel: sms\ncontacts: { key: phone }\nsteps:\n  - id: hi\n    send: { text: \"Hi {{ vars.nick }}\" }\n  - id: bye\n    send: { text: \"Bye\" }\n";
    write(d, "plain.yaml", plain);
    write(d, "contacts.csv", CONTACTS);
    let out = herald_in(d, &["simulate", "plain.yaml", "--contacts", "contacts.csv", "--format", "jsonl"]).ok().stdout;
    let exits: Vec<&str> = out.lines().filter(|l| l.contains("\"event\":\"exit\"")).collect();
    assert_eq!(exits.len(), 2, "{out}");
    for exit in &exits {
        assert!(exit.contains("\"lead_status\":\"failed\"") && exit.contains("\"reason\":\"render_failed\""), "{exit}");
    }
    assert!(!out.contains("Bye"), "a lead whose message failed went on as if it had gone:\n{out}");

    // A route that takes `failed` still decides where the lead goes.
    let routed = plain.replace("id: plain", "id: routed").replace(
        "    send: { text: \"Hi {{ vars.nick }}\" }\n",
        "    send: { text: \"Hi {{ vars.nick }}\" }\n    routes:\n      - if: message.status == \"failed\"\n        goto: bye\n",
    );
    write(d, "routed.yaml", &routed);
    let out = herald_in(d, &["simulate", "routed.yaml", "--contacts", "contacts.csv", "--format", "jsonl"]).ok().stdout;
    assert_eq!(out.matches("\"lead_status\":\"completed\"").count(), 2, "{out}");
    assert!(out.contains("Bye"), "{out}");
}

#[test]
fn contact_key_and_timezone_are_readable_whatever_the_columns() {
    // Evaluation reads the contact's own key and zone without such columns (`Contact::column`);
    // the checker agrees, with declared fields and with a CSV header.
    let dir = tempfile::tempdir().unwrap();
    let campaign = "id: ck\nchannel: sms\ncontacts:\n  key: phone\n  fields: { name: string }\n  where: contact.key != \"\" and contact.timezone == null\nsteps:\n  - id: hi\n    send: { text: \"Hi {{ contact.key }}!\" }\n";
    write(dir.path(), "ck.yaml", campaign);
    write(dir.path(), "contacts.csv", CONTACTS);
    herald_in(dir.path(), &["validate", "ck.yaml"]).ok();
    herald_in(dir.path(), &["validate", "ck.yaml", "--contacts", "contacts.csv"]).ok();
    let out =
        herald_in(dir.path(), &["simulate", "ck.yaml", "--contacts", "contacts.csv", "--format", "jsonl"]).ok().stdout;
    assert!(out.contains("Hi +14155550101!"), "{out}");
    let typo = campaign.replace("contact.key !=", "contact.kye !=");
    write(dir.path(), "typo.yaml", &typo);
    let typo = herald_in(dir.path(), &["validate", "typo.yaml"]);
    assert_eq!(typo.code, 1);
    assert!(typo.stdout.contains("unknown contact column `kye`"), "{}", typo.stdout);
}
