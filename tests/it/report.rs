//! `herald report` (issue 24): its figures against the same run's jsonl, its statistics against
//! scipy (committed reference values, and scipy itself where it is installed), and the HTML page
//! in a real headless Chromium.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use herald::report::stats::{chi_square_2x2, wilson};
use serde_json::Value;

use crate::herald::{Out, herald_in};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report").join(name)
}

/// The stdout of a run that must succeed, which must be UTF-8.
fn ok(output: Out) -> String {
    String::from_utf8(output.ok().stdout_bytes).unwrap()
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * b.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn chi_square_and_wilson_match_scipy_on_the_reference_tables() {
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(fixture("chi2.json")).unwrap()).unwrap();
    assert!(cases.len() >= 40);
    for case in &cases {
        let t = &case["table"];
        let cell = |r: usize, c: usize| t[r][c].as_u64().unwrap();
        let table = [[cell(0, 0), cell(0, 1)], [cell(1, 0), cell(1, 1)]];
        let test = chi_square_2x2(table).unwrap();
        let (statistic, p) = (case["statistic"].as_f64().unwrap(), case["p"].as_f64().unwrap());
        assert!(close(test.statistic, statistic, 1e-9), "{table:?}: statistic {} vs scipy {statistic}", test.statistic);
        // Past 1e-300 scipy's p underflows to 0 (subnormals); herald's is as small.
        let both_vanish = p < 1e-300 && test.p < 1e-300;
        assert!(close(test.p, p, 1e-7) || both_vanish, "{table:?}: p {:e} vs scipy {p:e}", test.p);
        let (lo, hi) = wilson(table[0][0], table[0][0] + table[0][1]).unwrap();
        let w = &case["wilson"];
        assert!(close(lo, w[0].as_f64().unwrap(), 1e-9) && close(hi, w[1].as_f64().unwrap(), 1e-9), "{table:?}");
    }
}

/// What the jsonl of a simulation says per variant: leads, converted, replied.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    leads: u64,
    converted: u64,
    replied: u64,
}

/// A 600-contact simulation of the three-way split, kept in `t.redb`, and its jsonl.
fn simulated() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..600 {
        csv.push_str(&format!("{i},N{i}\n"));
    }
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let campaign = fixture("three.yaml");
    let responses = fixture("three.responses.yaml");
    let args = [
        "simulate",
        campaign.to_str().unwrap(),
        "--contacts",
        "c.csv",
        "--responses",
        responses.to_str().unwrap(),
        "--db",
        "t.redb",
        "--format",
        "jsonl",
    ];
    let jsonl = ok(herald_in(dir.path(), &args));
    (dir, jsonl)
}

#[test]
fn the_report_counts_what_the_run_did_and_tests_variants_as_scipy_does() {
    let (dir, jsonl) = simulated();
    // Tallied from the jsonl, independently of the report's code.
    let mut variant_of = BTreeMap::new();
    let mut status_of = BTreeMap::new();
    let mut replied = BTreeSet::new();
    let mut entered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in jsonl.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let contact = v["contact"].as_str().unwrap().to_string();
        match v["event"].as_str().unwrap() {
            "split" => {
                variant_of.insert(contact, v["variant"].as_str().unwrap().to_string());
            }
            "exit" => {
                status_of.insert(contact, v["lead_status"].as_str().unwrap().to_string());
            }
            "reply" => {
                replied.insert(contact);
            }
            "enter" => {
                entered.entry(v["step"].as_str().unwrap().to_string()).or_default().insert(contact);
            }
            _ => {}
        }
    }
    let mut expected: BTreeMap<String, Counts> = BTreeMap::new();
    for (contact, variant) in &variant_of {
        let c = expected.entry(variant.clone()).or_default();
        c.leads += 1;
        c.converted += u64::from(status_of[contact] == "converted");
        c.replied += u64::from(replied.contains(contact));
    }
    assert_eq!(expected.len(), 3);

    let report: Value =
        serde_json::from_str(&ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three", "--format", "json"])))
            .unwrap();
    assert_eq!(report["leads"], 600);
    for step in report["steps"].as_array().unwrap() {
        let name = step["step"].as_str().unwrap();
        assert_eq!(step["entered"].as_u64().unwrap(), entered[name].len() as u64, "entered {name}");
    }
    let converted = status_of.values().filter(|s| *s == "converted").count() as u64;
    let statuses: BTreeMap<String, u64> = report["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_u64().unwrap()))
        .collect();
    assert_eq!(statuses["converted"], converted);

    let split = &report["splits"][0];
    assert_eq!(split["step"], "ab");
    let mut tables = Vec::new();
    for row in split["variants"].as_array().unwrap() {
        let name = row["variant"].as_str().unwrap();
        let got = Counts {
            leads: row["leads"].as_u64().unwrap(),
            converted: row["converted"].as_u64().unwrap(),
            replied: row["replied"].as_u64().unwrap(),
        };
        assert_eq!(got, expected[name], "variant {name}");
        let (all, all_converted) = expected.values().fold((0, 0), |(l, c), v| (l + v.leads, c + v.converted));
        let e = &expected[name];
        let table = [
            [e.converted, e.leads - e.converted],
            [all_converted - e.converted, (all - e.leads) - (all_converted - e.converted)],
        ];
        let reference = chi_square_2x2(table).unwrap();
        let p = row["test"]["p"].as_f64().unwrap();
        assert!(close(p, reference.p, 1e-12), "variant {name}: p {p} vs {}", reference.p);
        tables.push((name.to_string(), table, row["test"]["statistic"].as_f64().unwrap(), p));
    }
    // The simulated rates differ (30%, 18%, 0%): the verdict names the best one, significantly.
    let verdict = split["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("`short` converts better than the others together"), "{verdict}");

    // And against scipy itself, where it is installed (.ci/run installs it).
    let script = "import json,sys\nfrom scipy.stats import chi2_contingency\nfor t in json.load(sys.stdin):\n    s,p,_,_=chi2_contingency(t)\n    print(repr(float(s)),repr(float(p)))\n";
    let input = serde_json::to_string(&tables.iter().map(|t| t.1).collect::<Vec<_>>()).unwrap();
    match python(script, &input) {
        Some(out) => {
            for (line, (name, _, statistic, p)) in out.lines().zip(&tables) {
                let (s, q) = line.split_once(' ').unwrap();
                let (s, q): (f64, f64) = (s.parse().unwrap(), q.parse().unwrap());
                assert!(close(*statistic, s, 1e-9) && close(*p, q, 1e-7), "{name}: {statistic} {p} vs scipy {s} {q}");
            }
        }
        None => assert!(std::env::var_os("CI").is_none(), "CI must have python3 with scipy"),
    }
}

/// Runs a Python script with `input` on stdin; `None` without python3 or scipy.
fn python(script: &str, input: &str) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn table_and_csv_carry_the_same_figures_and_errors_have_their_exit_codes() {
    let (dir, _) = simulated();
    let json: Value =
        serde_json::from_str(&ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three", "--format", "json"])))
            .unwrap();
    let converted = json["splits"][0]["variants"][0]["converted"].as_u64().unwrap();
    let name = json["splits"][0]["variants"][0]["variant"].as_str().unwrap().to_string();
    let csv = ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three", "--format", "csv"]));
    assert!(csv.starts_with("section,name,metric,value\n"), "{csv}");
    assert!(csv.contains(&format!("variant,ab/{name},converted,{converted}\n")), "{csv}");
    assert!(csv.contains("funnel,ask,acted,600\n"), "{csv}");
    let table = ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three"]));
    assert!(table.contains("funnel per step") && table.contains("split `ab`"), "{table}");
    assert!(table.contains("`short` converts better"), "{table}");

    let unknown = herald_in(dir.path(), &["--db", "t.redb", "report", "thre"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stderr.contains("did you mean `three`?"));
    let missing = herald_in(dir.path(), &["--db", "nothing.redb", "report", "three"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(!dir.path().join("nothing.redb").exists(), "report never creates a database");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let found = Command::new("which").arg(name).output().ok()?;
        found.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
    })
}

#[test]
fn the_html_page_renders_in_chromium_with_its_charts_and_no_console_errors() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must have chromium (.ci/run installs it)");
        eprintln!("skipped: no chromium on this machine");
        return;
    };
    let (dir, _) = simulated();
    let html = ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three", "--format", "html"]));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "self-contained");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("profile");
    let base = |extra: &[&str]| {
        let mut c = Command::new(&browser);
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url);
        c
    };
    let dom = base(&["--enable-logging=stderr", "--v=0", "--dump-dom"]).output().unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom_text.contains("<svg class=\"funnel\""), "the funnel chart is in the page");
    assert!(dom_text.matches("<rect").count() >= 6 + 3, "bars for 3 steps and 3 variants");
    assert!(dom_text.contains("<svg class=\"variants\""), "the variants chart is in the page");
    assert!(dom_text.contains("<code>short</code> converts better"), "the verdict names the variant as code");
    let log = String::from_utf8_lossy(&dom.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let shot = dir.path().join("report.png");
    let screenshot =
        base(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,1400", "--hide-scrollbars"])
            .output()
            .unwrap();
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot ({} bytes)", png.len());
    if let Some(keep) = std::env::var_os("HERALD_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn simulate_format_report_prints_the_forecast_and_keeps_no_database() {
    let (dir, _) = simulated();
    let kept = ok(herald_in(dir.path(), &["--db", "t.redb", "report", "three"]));
    let campaign = fixture("three.yaml");
    let responses = fixture("three.responses.yaml");
    let forecast = ok(herald_in(
        dir.path(),
        &[
            "simulate",
            campaign.to_str().unwrap(),
            "--contacts",
            "c.csv",
            "--responses",
            responses.to_str().unwrap(),
            "--format",
            "report",
        ],
    ));
    // The same seeded run, reported from a temporary store: the same report.
    assert_eq!(forecast, kept);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 2, "a database left behind next to c.csv and t.redb: {files:?}");
}
