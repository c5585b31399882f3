//! Language behaviour as fixture files: every `cases/err_*.yaml` must produce diagnostics
//! (snapshotted as rendered, without colour, at a fixed width), every `cases/warn_*.yaml`
//! warnings and no error (snapshotted the same way), and every `cases/ok_*.yaml` must check
//! cleanly (its `graph --format text` snapshotted). Files the repository should
//! not hold (10 MB, binary) are generated here.

use std::path::{Path, PathBuf};

use herald::check::{self, Options};
use herald::diagnostic::Renderer;
use herald::source::SourceFile;
use herald::validate;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn fixtures(prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(prefix) && (name.ends_with(".yaml") || name.ends_with(".yml"))
        })
        .collect();
    files.sort();
    files
}

/// Check a file the way `validate` does and render every diagnostic.
fn render(path: &Path, display_name: &str) -> (String, usize) {
    let (file, problem) = validate::read_source(path).expect("fixture is readable");
    let file = SourceFile::new(display_name, file.text.to_string());
    let options = Options { contact_columns: None, base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let diagnostics = match problem {
        Some(d) => vec![d],
        None => check::check_file(&file, &options).1.items,
    };
    let renderer = Renderer::new(false);
    let text: String = diagnostics.iter().map(|d| renderer.render(&file, d) + "\n").collect();
    (text, diagnostics.iter().filter(|d| d.is_error()).count())
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => cases_dir().join("snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

/// Runs `check` on every fixture, each inside its own unwind guard, so that one failing fixture
/// does not hide the others: the test fails at the end listing every fixture that failed
/// (insta prints each snapshot's diff as it goes).
fn each_fixture(files: Vec<PathBuf>, check: impl Fn(&str, &Path)) {
    let mut failed = Vec::new();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&stem, &path))).is_err() {
            failed.push(stem);
        }
    }
    assert!(failed.is_empty(), "{} fixtures failed: {}", failed.len(), failed.join(", "));
}

#[test]
fn error_cases_report_errors() {
    let files = fixtures("err_");
    assert!(files.len() >= 40, "expected at least 40 error fixtures, found {}", files.len());
    each_fixture(files, |stem, path| {
        let (text, errors) = render(path, &format!("cases/{stem}.yaml"));
        assert!(errors > 0, "{stem} should have errors but has none:\n{text}");
        snapshot(stem, &text);
    });
}

#[test]
fn warning_cases_report_only_warnings() {
    let files = fixtures("warn_");
    assert!(files.len() >= 6, "expected a warning fixture per compliance check, found {}", files.len());
    each_fixture(files, |stem, path| {
        let (text, errors) = render(path, &format!("cases/{stem}.yaml"));
        assert_eq!(errors, 0, "{stem} should have no errors:\n{text}");
        // The fixture is named after the check it shows, and shows it.
        let code = format!("herald::{}", stem.trim_start_matches("warn_"));
        assert!(text.contains(&code), "{stem} should report {code}:\n{text}");
        snapshot(stem, &text);
    });
}

#[test]
fn ok_cases_compile_and_draw() {
    let files = fixtures("ok_");
    assert!(!files.is_empty());
    each_fixture(files, |stem, path| {
        let (file, _) = validate::read_source(path).expect("fixture is readable");
        let options = Options { contact_columns: None, base_dir: cases_dir() };
        let (graph, diagnostics) = check::check_file(&file, &options);
        let (text, _) = render(path, &format!("cases/{stem}.yaml"));
        assert!(diagnostics.items.is_empty(), "{stem} should be clean:\n{text}");
        let graph = graph.expect("a clean file compiles");
        snapshot(stem, &herald::draw::text(&graph));
    });
}

fn generated(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, bytes).expect("write fixture");
    render(&path, &format!("cases/{name}.yaml")).0
}

#[test]
fn ten_megabyte_file_is_refused_quickly() {
    let mut text = String::from("steps:\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("  - send: { text: \"hello there, this line pads the file\" }\n");
    }
    let started = std::time::Instant::now();
    let output = generated("err_ten_megabytes", text.as_bytes());
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
    snapshot("err_ten_megabytes", &output);
}

#[test]
fn binary_garbage_is_not_yaml() {
    let bytes: Vec<u8> = (0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    snapshot("err_binary_garbage", &generated("err_binary_garbage", &bytes));
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let text = format!("steps: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    snapshot("err_deep_nesting_generated", &generated("err_deep_nesting_generated", text.as_bytes()));
}

/// The send and call steps that `Node::reentrant` marks, by id.
fn reentrant(yaml: &str) -> Vec<String> {
    let file = SourceFile::new("reentrant.yaml", yaml);
    let options = Options { contact_columns: None, base_dir: cases_dir() };
    let (graph, diagnostics) = check::check_file(&file, &options);
    let errors: Vec<String> = diagnostics.items.iter().filter(|d| d.is_error()).map(|d| format!("{d:?}")).collect();
    assert!(errors.is_empty(), "{yaml}\n{errors:?}");
    let graph = graph.expect("compiles");
    graph.nodes.iter().filter(|n| n.reentrant).map(|n| n.id.0.clone()).collect()
}

#[test]
fn steps_a_lead_can_act_on_again_are_marked_reentrant() {
    let head = "id: r\nchannel: sms\ncontacts: { key: phone }\n";
    // A straight sequence, with a branch forward: nothing.
    let straight = "steps:\n  - { id: a, send: { text: hi } }\n  - { id: w, wait: 1d }\n  - id: b\n    branch:\n      - { if: reply.text != null, goto: c }\n      - { else: end }\n  - { id: c, send: { text: bye } }\n";
    assert!(reentrant(&format!("{head}{straight}")).is_empty());
    // A loop back through a wait: the send in it, not the one before it.
    let looped = "steps:\n  - { id: a, send: { text: hi } }\n  - { id: r, send: { text: again } }\n  - { id: w, wait: 1d }\n  - id: b\n    branch:\n      - { if: reply.text == null, goto: r }\n      - { else: end }\n";
    assert_eq!(reentrant(&format!("{head}{looped}")), ["r"]);
    // A campaign reply's target can be entered from anywhere, itself included.
    let replies = "replies:\n  - { if: reply.text == \"help\", goto: h }\nsteps:\n  - { id: a, send: { text: hi } }\n  - { id: w, wait: 1d }\n  - { id: h, send: { text: help }, next: end }\n";
    assert_eq!(reentrant(&format!("{head}{replies}")), ["h"]);
    // An exit whose `when` does not hold passes to its `next`.
    let exit = "steps:\n  - { id: r, send: { text: again } }\n  - { id: w, wait: 1d }\n  - { id: x, when: reply.text != null, exit: replied, next: r }\n";
    assert_eq!(reentrant(&format!("{head}{exit}")), ["r"]);
}

#[cfg(unix)]
#[test]
fn template_files_stay_inside_the_campaign_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let campaigns = dir.path().join("campaigns");
    std::fs::create_dir_all(campaigns.join("templates")).expect("mkdir");
    std::fs::write(dir.path().join("secret.env"), "TOKEN=hunter2\n").expect("write");
    std::os::unix::fs::symlink("../../secret.env", campaigns.join("templates/link.txt")).expect("symlink");
    std::fs::write(campaigns.join("templates/big.txt"), "x".repeat(300 * 1024)).expect("write");
    std::fs::write(campaigns.join("templates/ok.txt"), "Hello {{ contact.name }}").expect("write");
    let step = |id: &str, path: &str| format!("  - id: {id}\n    send: {{ subject: s, template: {path} }}\n");
    let text = format!(
        "id: t\nchannel: email\nsteps:\n{}{}{}{}",
        step("link", "templates/link.txt"),
        step("big", "templates/big.txt"),
        step("dots", "templates/../../secret.env"),
        step("fine", "templates/../templates/ok.txt"),
    );
    let path = campaigns.join("t.yaml");
    std::fs::write(&path, text).expect("write");
    let (output, errors) = render(&path, "cases/err_template_files.yaml");
    assert_eq!(errors, 3, "{output}");
    assert!(!output.contains("hunter2"), "{output}");
    snapshot("err_template_files", &output);
}
