//! `herald test` end to end: the real binary on test files written into a temporary folder.

use std::path::Path;

use crate::herald::{Herald, Out, herald, herald_in};

const CAMPAIGN: &str = "\
id: hello
schedule: { timezone: UTC, hours: \"09:00-17:00\", days: every_day }
steps:
  - id: greet
    send: { channel: sms, text: \"Hi {{ contact.first_name }}\" }
  - id: wait_reply
    await: { reply: 1d }
    routes:
      - if: reply.text == \"YES\"
        goto: thanks
      - else: end
  - id: thanks
    send: { channel: sms, text: \"Thanks!\" }
";

const HEADER: &str = "\
campaign: hello.yaml
start: 2026-12-01T09:00:00Z
contacts:
  - { phone: \"+14155550111\", first_name: Ana }
  - { phone: \"+14155550112\", first_name: Ben }
cases:
";

const PASSING: &str = "  - name: says yes
    contact: \"(415) 555-0111\"
    events:
      - { step: greet, reply: \"YES\", after: 1h }
    expect:
      path: [greet, wait_reply, thanks]
      status: completed
      sends: [{ step: greet, contains: Ana, local_time: \"09:00\" }, { step: thanks }]
      in_window: true
  - name: silent
    contact: \"+14155550112\"
    expect:
      status: completed
      sends: 1
      max_messages: 1
";

/// Write the campaign and `test` (after the common header) into `dir`, run `herald test ARGS`.
fn run_in(dir: &Path, cases: &str, args: &[&str]) -> Out {
    std::fs::write(dir.join("hello.yaml"), CAMPAIGN).unwrap();
    std::fs::write(dir.join("hello.test.yaml"), format!("{HEADER}{cases}")).unwrap();
    Herald::new().dir(dir).arg("test").args(args).run()
}

fn run(cases: &str, args: &[&str]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), cases, args)
}

#[test]
fn a_passing_file_exits_0() {
    let out = run(PASSING, &["hello.test.yaml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("✓ hello: says yes"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ hello: silent"), "{}", out.stdout);
    assert!(out.stdout.contains("2 cases, 2 passed, 0 failed"), "{}", out.stdout);
}

#[test]
fn directories_are_searched_and_default_to_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    let out = run_in(&dir.path().join("campaigns"), PASSING, &["."]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let output = herald_in(dir.path(), &["test"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.contains("2 cases, 2 passed"));
}

#[test]
fn a_broken_expectation_exits_1_with_expected_actual_line_and_history() {
    let broken = PASSING.replace("status: completed\n      sends: 1", "status: opted_out\n      sends: 1");
    let out = run(&broken, &["hello.test.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("✓ hello: says yes"), "{}", out.stdout);
    assert!(out.stdout.contains("✗ hello: silent"), "{}", out.stdout);
    assert!(out.stdout.contains("case `silent`: `status` expected opted_out, got completed"), "{}", out.stdout);
    assert!(out.stdout.contains("expected: opted_out") && out.stdout.contains("actual: completed"), "{}", out.stdout);
    assert!(out.stdout.contains("hello.test.yaml:19:15"), "points at the expectation: {}", out.stdout);
    assert!(out.stdout.contains("history:"), "{}", out.stdout);
    assert!(out.stdout.contains("send sms to +14155550112: \"Hi Ben\""), "{}", out.stdout);
    assert!(out.stdout.contains("2 cases, 1 passed, 1 failed"), "{}", out.stdout);
}

#[test]
fn a_failing_send_entry_is_pointed_at() {
    let broken = PASSING.replace("{ step: thanks }", "{ step: thanks, contains: Bye }");
    let out = run(&broken, &["hello.test.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("send 2 containing \"Bye\""), "{}", out.stdout);
    assert!(out.stdout.contains("got \"Thanks!\""), "{}", out.stdout);
}

#[test]
fn an_unknown_step_is_a_diagnostic_and_nothing_runs() {
    let broken = PASSING.replace("path: [greet, wait_reply, thanks]", "path: [greet, wait_reply, thank]");
    let out = run(&broken, &["hello.test.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("no step `thank` in campaign `hello`"), "{}", out.stdout);
    assert!(out.stdout.contains("did you mean `thanks`?"), "{}", out.stdout);
    assert!(out.stdout.contains("hello.test.yaml:12"), "{}", out.stdout);
    assert!(out.stdout.contains("0 cases, 0 passed, 0 failed, 1 test file with errors"), "{}", out.stdout);
}

#[test]
fn unknown_keys_contacts_and_outcomes_are_diagnostics() {
    let broken = PASSING
        .replace("status: completed\n      sends: 1", "stauts: completed\n      sends: 1")
        .replace("contact: \"+14155550112\"", "contact: \"+14155550119\"")
        .replace("reply: \"YES\", after: 1h", "delivery: deliverd");
    let out = run(&broken, &["hello.test.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("unknown key `stauts`"), "{}", out.stdout);
    assert!(out.stdout.contains("did you mean `status`?"), "{}", out.stdout);
    assert!(out.stdout.contains("no contact `+14155550119`"), "{}", out.stdout);
    assert!(out.stdout.contains("unknown delivery status `deliverd`"), "{}", out.stdout);
}

#[test]
fn a_case_without_expectations_is_an_error() {
    let cases = "  - name: nothing\n    contact: \"+14155550111\"\n    events: []\n";
    let out = run(cases, &["hello.test.yaml"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("case `nothing` expects nothing"), "{}", out.stdout);
}

#[test]
fn a_campaign_with_errors_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), PASSING, &["hello.test.yaml"]);
    assert_eq!(out.code, 0);
    std::fs::write(dir.path().join("hello.yaml"), CAMPAIGN.replace("goto: thanks", "goto: thanx")).unwrap();
    let output = herald_in(dir.path(), &["test", "hello.test.yaml"]);
    let stdout = &output.stdout;
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the campaign has errors"), "{stdout}");
    assert!(stdout.contains("thanx"), "{stdout}");
}

#[test]
fn github_format_annotates_the_failing_line() {
    let broken = PASSING.replace("sends: 1\n", "sends: 3\n");
    let out = run(&broken, &["hello.test.yaml", "--format", "github"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let line = out.stdout.lines().find(|l| l.starts_with("::error ")).expect("an annotation");
    assert!(line.contains("file=hello.test.yaml,line=20,"), "{line}");
    assert!(line.contains("::case `silent`: `sends` expected 3 sends, got 1 send"), "{line}");
}

#[test]
fn json_format_lists_cases() {
    let out = run(PASSING, &["hello.test.yaml", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(report["summary"]["cases"], 2);
    assert_eq!(report["files"][0]["cases"][0]["name"], "says yes");
    assert_eq!(report["files"][0]["cases"][0]["passed"], true);
}

#[test]
fn events_at_a_time_and_attempts() {
    let cases = "  - name: opts out before the reply window ends
    contact: \"+14155550111\"
    events:
      - { at: 2026-12-01T10:00:00Z, opt_out: true }
    expect:
      status: opted_out
      path: [greet, wait_reply]
  - name: the first text fails
    contact: \"+14155550111\"
    events:
      - { step: greet, attempt: 1, delivery: failed }
    expect:
      sends: 1
";
    let out = run(cases, &["hello.test.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn contacts_from_a_csv_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "phone,first_name\n(415) 555-0111,Ana\n").unwrap();
    let header = HEADER.replace(
        "contacts:\n  - { phone: \"+14155550111\", first_name: Ana }\n  - { phone: \"+14155550112\", first_name: Ben }\n",
        "contacts: people.csv\n",
    );
    std::fs::write(dir.path().join("hello.yaml"), CAMPAIGN).unwrap();
    let cases = "  - name: ana\n    contact: \"+14155550111\"\n    expect: { sends: [{ contains: Ana }] }\n";
    std::fs::write(dir.path().join("hello.test.yaml"), format!("{header}{cases}")).unwrap();
    let output = herald_in(dir.path(), &["test", "."]);
    let stdout = &output.stdout;
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("✓ hello: ana"), "{stdout}");
}

#[test]
fn no_test_files_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = herald_in(dir.path(), &["test", "."]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stderr.contains("no test files"));
    let output = herald(&["test", "/no/such/dir"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_shipped_campaign_tests_pass() {
    let output = herald(&["test", "campaigns/"]);
    let stdout = &output.stdout;
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
