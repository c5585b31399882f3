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

/// A split, a send with per-variant subjects and a `from`, a call with a retry, and a var.
const SPLIT_CAMPAIGN: &str = "\
id: ab
schedule: { timezone: America/New_York, hours: \"09:00-17:00\", days: every_day }
from: \"Shop <hi@shop.example.com>\"
vars: [flag]
steps:
  - id: pick
    split:
      - { variant: short, weight: 50, goto: mail }
      - { variant: long, weight: 50, goto: mail }
  - id: mail
    send:
      channel: email
      subject: \"Hello {{ contact.first_name }}\"
      text: Hi
      variants:
        long: { subject: \"A longer hello, {{ contact.first_name }}\", text: Hi there }
  - id: ring
    call: { channel: voice, prompt: Say hi }
    retry: { attempts: 1, interval: 2h, on: [no_answer] }
  - id: note
    set: { seen: \"true\" }
";

fn run_split(cases: &str) -> Out {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ab.yaml"), SPLIT_CAMPAIGN).unwrap();
    let header = "campaign: ab.yaml\nstart: 2026-12-07T09:00:00-05:00\n\
                  contacts:\n  - { phone: \"+14155550111\", email: ana@example.com, first_name: Ana }\ncases:\n";
    std::fs::write(dir.path().join("ab.test.yaml"), format!("{header}{cases}")).unwrap();
    Herald::new().dir(dir.path()).arg("test").arg("ab.test.yaml").run()
}

const FORCED: &str = "  - name: forced VARIANT
    variants: { pick: VARIANT }
    events:
      - { step: ring, attempt: 1, call: no_answer }
    expect:
      variant: { pick: VARIANT }
      sends: [{ step: mail, to: ana@example.com, from: \"Shop <hi@shop.example.com>\", subject: \"SUBJECT\" }]
      calls:
        - { step: ring, attempt: 1, local_time: \"Mon 09:00\" }
        - { step: ring, attempt: 2, local_time: \"Mon 11:00\" }
      vars: { flag: null, seen: true }
";

#[test]
fn forced_variants_subjects_and_a_list_of_calls() {
    let cases = FORCED.replace("VARIANT", "short").replace("SUBJECT", "Hello Ana")
        + &FORCED.replace("VARIANT", "long").replace("SUBJECT", "A longer hello, Ana");
    let out = run_split(&cases);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("2 cases, 2 passed, 0 failed"), "{}", out.stdout);
}

#[test]
fn new_expectations_fail_with_the_entry_pointed_at() {
    // The other variant's subject, a wrong attempt, a var expected unset that is set.
    let cases = FORCED.replace("VARIANT", "short").replace("SUBJECT", "A longer hello, Ana");
    let out = run_split(&cases);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("send 1 with subject \"A longer hello, Ana\""), "{}", out.stdout);
    assert!(out.stdout.contains("actual: \"Hello Ana\""), "{}", out.stdout);
    let cases = FORCED
        .replace("VARIANT", "short")
        .replace("SUBJECT", "Hello Ana")
        .replace("attempt: 2, local_time: \"Mon 11:00\"", "attempt: 3, local_time: \"Mon 11:00\"")
        .replace("flag: null, seen: true", "seen: null");
    let out = run_split(&cases);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("call 2 to be attempt 3"), "{}", out.stdout);
    assert!(out.stdout.contains("ab.test.yaml:15:13"), "points at the call entry: {}", out.stdout);
    assert!(out.stdout.contains("`vars` expected seen unset, got seen = true"), "{}", out.stdout);
}

#[test]
fn a_case_until_stops_its_clock_only() {
    let cases = "  - name: stopped early
    until: 2026-12-07T08:00:00-05:00
    start: 2026-12-07T07:00:00-05:00
    expect: { path: [pick, mail], max_messages: 0 }
  - name: runs on
    expect: { path: [pick, mail, ring, note], status: completed }
";
    let out = run_split(cases);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let broken = cases.replace("07:00:00-05:00", "09:00:00-05:00");
    let out = run_split(&broken);
    assert!(out.stdout.contains("`until` is not after the start"), "{}", out.stdout);
}

#[test]
fn new_keys_are_checked_with_did_you_mean_and_spans() {
    let cases = "  - name: typos
    variants: { pikc: short }
    expect:
      calls: [{ step: ring, atempt: 1 }, { local_time: \"Mnd 09:00\" }]
      sends: [{ subjct: Hi }]
  - name: wrong variant
    variants: { pick: shrt }
    expect: { calls: [{ attempt: first }] }
  - name: wrong type
    variants: [pick]
    until: { at: noon }
    expect: { sends: 1 }
";
    let out = run_split(cases);
    let stdout = &out.stdout;
    assert_eq!(out.code, 1, "{stdout}");
    assert!(stdout.contains("no split step `pikc` in campaign `ab`"), "{stdout}");
    assert!(stdout.contains("did you mean `pick`?"), "{stdout}");
    assert!(stdout.contains("split `pick` has no variant `shrt`"), "{stdout}");
    assert!(stdout.contains("did you mean `short`?"), "{stdout}");
    assert!(stdout.contains("unknown key `atempt` in a call"), "{stdout}");
    assert!(stdout.contains("did you mean `attempt`?"), "{stdout}");
    assert!(stdout.contains("unknown key `subjct` in a send"), "{stdout}");
    assert!(stdout.contains("did you mean `subject`?"), "{stdout}");
    assert!(stdout.contains("`attempt` must be a whole number of 0 or more, found"), "{stdout}");
    assert!(stdout.contains("`variants` must be a map of split step ids to variants"), "{stdout}");
    assert!(stdout.contains("`until` must be a string"), "{stdout}");
    assert!(stdout.contains("ab.test.yaml:15:"), "points at `variants: [pick]`: {stdout}");
}
