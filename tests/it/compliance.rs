//! The compliance checks through the binary: what `--config` changes, what `--deny-warnings`
//! makes of them, and the switched-off checks in `--format json` (docs/compliance.md).

use crate::herald::herald;
use crate::support::write;

const NEWSLETTER: &str = "\
id: newsletter
channel: email
steps:
  - id: news
    send: { subject: December news, text: \"Hello {{ contact.name }}, here is what's new.\" }
";

fn config(unsubscribe: &str) -> String {
    format!(
        "channels:\n  email:\n    kind: smtp\n    url: \"smtp://127.0.0.1:2525?tls=none\"\n    from: \"Shop <news@shop.example>\"\n{unsubscribe}\
         server:\n  public_url: \"http://127.0.0.1:8080\"\n  secret: \"${{COMPLIANCE_TEST_SECRET}}\"\n"
    )
}

fn validate(dir: &std::path::Path, extra: &[&str]) -> crate::herald::Out {
    let campaign = dir.join("newsletter.yaml");
    let mut args = vec!["validate", campaign.to_str().unwrap()];
    args.extend_from_slice(extra);
    crate::herald::Herald::new()
        .args(&args)
        .env("COMPLIANCE_TEST_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        .run()
}

#[test]
fn unsubscribe_is_the_channels_header_with_a_config_and_the_text_without() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "newsletter.yaml", NEWSLETTER);
    // No config: the text has no unsubscribe link.
    let out = validate(dir.path(), &["--deny-warnings"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("herald::unsubscribe") && out.stdout.contains("no unsubscribe link"), "{}", out.stdout);
    // An smtp channel without `unsubscribe`: the warning names the channel.
    let bare = write(dir.path(), "bare.yaml", &config(""));
    let out = validate(dir.path(), &["--config", bare.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("channel `email` has no `unsubscribe` in herald.yaml"), "{}", out.stdout);
    assert!(out.stdout.contains("0 errors, 1 warning"), "{}", out.stdout);
    // With it, every email carries the one-click header, whatever the text says.
    let header = write(dir.path(), "header.yaml", &config("    unsubscribe: \"http://127.0.0.1:8080/unsubscribe\"\n"));
    let out = validate(dir.path(), &["--config", header.to_str().unwrap(), "--deny-warnings"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("0 errors, 0 warnings"), "{}", out.stdout);
}

#[test]
fn switched_off_checks_are_listed_with_their_reasons_in_json() {
    let out = herald(&["validate", "tests/cases/ok_compliance_checks_off.yaml", "--format", "json", "--deny-warnings"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let off = &report["files"][0]["checks_off"];
    assert_eq!(off[0]["check"], "herald::whatsapp_window", "{off}");
    assert!(off[0]["reason"].as_str().unwrap().contains("approved WhatsApp templates"), "{off}");
    assert_eq!(off[0]["line"], 6, "{off}");
    // Without the switch the same file warns; files that switch nothing off have no key.
    let out = herald(&["validate", "tests/cases/warn_whatsapp_window.yaml", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(report["files"][0].get("checks_off").is_none(), "{}", out.stdout);
    assert_eq!(report["summary"]["warnings"], 2, "{}", out.stdout);
}

#[test]
fn the_example_campaigns_pass_every_compliance_check() {
    let out = herald(&["validate", "campaigns/", "bench/pgo/train.yaml", "--deny-warnings"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("7 files, 0 errors, 0 warnings"), "{}", out.stdout);
    // Each switched-off check says why, in the file.
    let out = herald(&["validate", "campaigns/", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let reasons: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.get("checks_off"))
        .flat_map(|off| off.as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.len() > 20), "{reasons:?}");
}
