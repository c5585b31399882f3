//! The binary, run as users and CI run it: exit codes, formats, stdout and stderr.

use crate::herald::{Herald, herald};
use crate::support::write;

const THREE_TYPOS: &str = "\
id: typos
chanel: sms
steps:
  - id: hello
    send: { text: \"Hi {{ contact.frist_name }}\" }
  - id: pause
    wait: 2d
  - id: bye
    send: { text: \"Bye\" }
    next: ned
";

/// Appended to the small campaigns below: they are never sent, and the compliance rules
/// (docs/compliance.md) are not what these tests are about.
const NOT_SENT: &str = "purpose: transactional\nchecks: { stop_notice: { off: \"a test campaign, never sent\" } }\n";

#[test]
fn every_campaign_validates_without_warnings() {
    let r = herald(&["validate", "campaigns", "--deny-warnings"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(", 0 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn three_typos_are_all_reported_with_lines_and_hints() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "contacts.csv", "phone,first_name\n+14155550100,Ann\n");
    let file = write(dir.path(), "typos.yaml", THREE_TYPOS);
    let r = herald(&["validate", file.to_str().unwrap(), "--contacts", csv.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("typos.yaml:2:1"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `channel`?"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `first_name`?"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `end`?"), "{}", r.stdout);
    assert!(r.stdout.contains("1 file, 3 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn github_format_prints_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "typos.yaml", THREE_TYPOS);
    let r = herald(&["validate", file.to_str().unwrap(), "--format", "github"]);
    assert_eq!(r.code, 1);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(lines[0].contains(",line=2,col=1,"), "{}", lines[0]);
    assert!(lines[0].contains("title=herald%3A%3Aunknown_key::unknown key `chanel`"), "{}", lines[0]);
    assert!(lines[1].contains(",line=10,col=11,"), "{}", lines[1]);
}

#[test]
fn json_format_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "typos.yaml", THREE_TYPOS);
    let r = herald(&["validate", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(r.code, 1);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert_eq!(report["summary"]["errors"], 2);
    assert_eq!(report["files"][0]["diagnostics"][0]["code"], "herald::unknown_key");
    assert_eq!(report["files"][0]["diagnostics"][0]["line"], 2);
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("steps:\n  - send: {{ text: hi }}\n    next: end\n  - send: {{ text: never }}\n{NOT_SENT}");
    let file = write(dir.path(), "warn.yaml", &text);
    let r = herald(&["validate", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("herald::unreachable_step"), "{}", r.stdout);
    assert!(r.stdout.contains("1 file, 0 errors, 1 warning"), "{}", r.stdout);
    let r = herald(&["validate", file.to_str().unwrap(), "--deny-warnings"]);
    assert_eq!(r.code, 1);
}

#[test]
fn directories_are_walked_recursively_and_test_files_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    write(dir.path(), "a/one.yaml", &format!("steps:\n  - send: {{ text: hi }}\n{NOT_SENT}"));
    write(dir.path(), "a/b/two.yml", &format!("steps:\n  - send: {{ text: hi }}\n{NOT_SENT}"));
    write(dir.path(), "a/b/two.test.yaml", "not: a campaign\n");
    write(dir.path(), "a/notes.txt", "ignored");
    let r = herald(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("2 files, 0 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn usage_and_environment_errors_exit_2() {
    let r = herald(&["validate", "does/not/exist.yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no such file or directory: does/not/exist.yaml"), "{}", r.stderr);
    assert_eq!(herald(&["validate", "--format", "xml"]).code, 2);
    assert_eq!(herald(&["frobnicate"]).code, 2);
    let r = herald(&["validate", "campaigns", "--contacts", "missing.csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.csv"), "{}", r.stderr);
}

#[test]
fn graph_formats() {
    let dir = tempfile::tempdir().unwrap();
    let text = "id: g\nsteps:\n  - id: ask\n    send: { text: \"Yes?\" }\n  - id: listen\n    await: { reply: 1d }\n    routes:\n      - if: reply.text == \"yes\"\n        goto: end\n      - else: ask\n";
    let file = write(dir.path(), "g.yaml", text);
    let r = herald(&["graph", file.to_str().unwrap(), "--format", "mermaid"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("flowchart TD\n"), "{}", r.stdout);
    assert!(r.stdout.contains("s_listen -->|\"reply.text == #quot;yes#quot;\"| end_"), "{}", r.stdout);
    let r = herald(&["graph", file.to_str().unwrap(), "--format", "dot"]);
    assert!(r.stdout.starts_with("digraph \"g\" {"), "{}", r.stdout);
    assert!(r.stdout.contains("\"listen\" -> \"ask\" [label=\"else\"];"), "{}", r.stdout);
    let r = herald(&["graph", file.to_str().unwrap()]);
    assert!(r.stdout.contains("listen: await reply (timeout 1d)"), "{}", r.stdout);
    let bad = write(dir.path(), "bad.yaml", "steps:\n  - send: { text: hi }\n    next: nowhere\n");
    let r = herald(&["graph", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("herald::unknown_step"), "{}", r.stderr);
}

#[test]
fn schema_command_matches_the_stored_schema() {
    let r = herald(&["schema"]);
    assert_eq!(r.code, 0);
    let stored = std::fs::read_to_string(crate::herald::root().join("schema/campaign.schema.json")).unwrap();
    assert_eq!(r.stdout, stored);
    let _: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
}

#[test]
fn github_format_prints_warnings_as_warning_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("steps:\n  - send: {{ text: hi }}\n    next: end\n  - send: {{ text: never }}\n{NOT_SENT}");
    let file = write(dir.path(), "warn.yaml", &text);
    let r = herald(&["validate", file.to_str().unwrap(), "--format", "github"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert!(lines[0].starts_with("::warning file="), "{}", lines[0]);
    assert!(lines[0].contains(",line=4,col=5,"), "{}", lines[0]);
    assert!(lines[0].contains("title=herald%3A%3Aunreachable_step::"), "{}", lines[0]);
    assert!(r.stdout.contains("1 file, 0 errors, 1 warning"), "{}", r.stdout);
    // Denied warnings fail the run but stay warnings in the annotations.
    let r = herald(&["validate", file.to_str().unwrap(), "--format", "github", "--deny-warnings"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("::warning "), "{}", r.stdout);
}

#[test]
fn yaml_syntax_error_exits_1_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "broken.yaml", "id: broken\nsteps:\n  - send: { text: \"hi }\n");
    let r = herald(&["validate", file.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.stdout.contains("herald::yaml_syntax"), "{}", r.stdout);
    assert!(r.stdout.contains("broken.yaml:3:19"), "{}", r.stdout);
    assert!(r.stdout.contains("1 file, 1 error, 0 warnings"), "{}", r.stdout);
    let r = herald(&["validate", file.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    let diagnostic = &report["files"][0]["diagnostics"][0];
    assert_eq!(diagnostic["code"], "herald::yaml_syntax");
    assert_eq!((diagnostic["line"].as_u64(), diagnostic["column"].as_u64()), (Some(3), Some(19)));
}

#[test]
fn non_utf8_file_is_a_content_error_and_the_others_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    // Saved as Latin-1 by an old editor: `é` is the single byte 0xE9.
    std::fs::write(dir.path().join("a-latin1.yaml"), b"name: Caf\xe9\nsteps:\n  - send: { text: hi }\n").unwrap();
    write(dir.path(), "b-typo.yaml", "steps:\n  - send: { text: hi }\n    nxt: end\n");
    let r = herald(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "exit 1 (content), not 2 (environment): {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("herald::not_utf8"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `next`?"), "{}", r.stdout);
    assert!(r.stdout.contains("2 files, 2 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn summary_counts_every_file_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1-clean.yaml", &format!("steps:\n  - send: {{ text: hi }}\n{NOT_SENT}"));
    write(dir.path(), "2-errors.yaml", "chanel: sms\nsteps:\n  - send: { text: hi }\n    next: nowhere\n");
    write(
        dir.path(),
        "3-warning.yaml",
        &format!("steps:\n  - send: {{ text: hi }}\n    next: end\n  - send: {{ text: never }}\n{NOT_SENT}"),
    );
    let path = dir.path().to_str().unwrap();
    let r = herald(&["validate", path]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.ends_with("3 files, 2 errors, 1 warning\n"), "{}", r.stdout);
    let r = herald(&["validate", path, "--format", "github"]);
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("::error ")).count(), 2, "{}", r.stdout);
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("::warning ")).count(), 1, "{}", r.stdout);
    assert!(r.stdout.ends_with("3 files, 2 errors, 1 warning\n"), "{}", r.stdout);
    let r = herald(&["validate", path, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(report["summary"], serde_json::json!({ "files": 3, "errors": 2, "warnings": 1 }));
    let counts: Vec<usize> =
        report["files"].as_array().unwrap().iter().map(|f| f["diagnostics"].as_array().unwrap().len()).collect();
    assert_eq!(counts, [0, 2, 1]);
}

#[test]
fn contacts_csv_with_bom_checks_condition_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "contacts.csv", "\u{feff}phone,first_name\n+14155550100,Ann\n");
    let typo = write(
        dir.path(),
        "typo.yaml",
        "steps:\n  - id: hi\n    when: contact.frist_name != \"\"\n    send: { text: hi }\n",
    );
    let r = herald(&["validate", typo.to_str().unwrap(), "--contacts", csv.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("herald::unknown_column"), "{}", r.stdout);
    assert!(r.stdout.contains("typo.yaml:3:19"), "{}", r.stdout);
    assert!(r.stdout.contains("did you mean `first_name`?"), "{}", r.stdout);
    let good = write(
        dir.path(),
        "good.yaml",
        "steps:\n  - id: hi\n    when: contact.first_name != \"\"\n    send: { text: \"Hi {{ contact.first_name }}\" }\n",
    );
    let r = herald(&["validate", good.to_str().unwrap(), "--contacts", csv.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    // `herald … 2>&1 | head -1`: stdout and stderr closed early must not panic (exit 101).
    for args in [&["test", "campaigns"][..], &["validate", "tests/cases"], &["does-not-exist"]] {
        let mut child = Herald::new()
            .args(args)
            .command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("herald starts");
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().expect("herald ends");
        assert_ne!(status.code(), Some(101), "{args:?} panicked");
        assert!(status.code().is_some(), "{args:?} was killed by a signal");
    }
}

const SMALL: &str = "id: ok\nchannel: sms\nsteps:\n  - id: hi\n    send: { text: \"Hi. Reply STOP to opt out.\" }\npurpose: transactional\n";

#[cfg(unix)]
#[test]
fn symlink_loops_and_fifos_do_not_stop_validate() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", SMALL);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", dir.path().join("dangling.yaml")).unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let output = Herald::new()
        .args(["validate", dir.path().to_str().unwrap()])
        .timeout(std::time::Duration::from_secs(60))
        .run();
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 file, 0 errors, 0 warnings"), "{stdout}");
    assert!(stderr.contains("pipe.yaml: not a regular file"), "{stderr}");
    assert!(stderr.contains("dangling.yaml: a link to nothing"), "{stderr}");
    assert!(stderr.contains("up: a link to a directory already read"), "{stderr}");
}

/// Thousands of errors cost linear time: each help lists a few step ids, not all of them (the
/// output was quadratic: 10,000 unknown targets printed 750 MB and took 45 s).
#[test]
fn many_unknown_targets_are_reported_in_linear_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id: many\nchannel: sms\nsteps:\n");
    for i in 0..3_000 {
        text.push_str(&format!("  - id: s{i}\n    send: {{ text: hi }}\n    next: nope{i}\n"));
    }
    let file = write(dir.path(), "many.yaml", &text);
    let output =
        Herald::new().args(["validate", file.to_str().unwrap()]).timeout(std::time::Duration::from_secs(120)).run();
    let stdout = &output.stdout;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout.ends_with("1 file, 3000 errors, 0 warnings\n"), "{}", &stdout[stdout.len().saturating_sub(200)..]);
    assert!(stdout.len() < 3_000 * 1_000, "{} bytes", stdout.len());
    assert!(stdout.contains("(2989 more)"), "{}", &stdout[..2_000]);
}

/// One hostile condition used to abort (stack overflow, exit 134) the whole directory's run.
#[test]
fn deep_conditions_are_errors_and_the_other_files_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a_ok.yaml", SMALL);
    let step = |when: String| {
        format!(
            "id: deep\nchannel: sms\nsteps:\n  - id: hi\n    when: \"{when}\"\n    send: {{ text: hi }}\n{NOT_SENT}"
        )
    };
    write(dir.path(), "b_parens.yaml", &step(format!("{}true{}", "(".repeat(7_000), ")".repeat(7_000))));
    write(dir.path(), "c_calls.yaml", &step(format!("{}contact.x{} == 1", "len(".repeat(1_000), ")".repeat(1_000))));
    write(dir.path(), "d_not.yaml", &step(format!("{}true", "not ".repeat(20_000))));
    write(dir.path(), "e_and.yaml", &step(vec!["true"; 50_000].join(" and ")));
    let r = herald(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.matches("herald::too_deep").count(), 3, "{}", r.stdout);
    assert!(r.stdout.contains("5 files, 3 errors, 0 warnings"), "{}", r.stdout);
}
