use super::*;

fn doc(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(name)).unwrap()
}

#[test]
fn words_parse_back() {
    for status in LeadStatus::ALL {
        assert_eq!(LeadStatus::parse(status.as_str()), Some(status));
        // The JSON form (campaign records, actions) is the same word.
        assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
    }
    for reason in Reason::ALL {
        assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        assert!(!reason.retryable() || reason.status() == LeadStatus::Failed, "{reason}");
        assert!(reason.status().is_final(), "{reason}");
    }
    for reason in SkipReason::ALL {
        assert_eq!(SkipReason::parse(reason.as_str()), Some(reason));
    }
    assert!(CallOutcome::ALL.into_iter().all(|o| CallOutcome::parse(o.as_str()) == Some(o)));
    assert!(MessageOutcome::ALL.into_iter().all(|o| MessageOutcome::parse(o.as_str()) == Some(o)));
    assert_eq!(LeadStatus::ALL.len(), LeadStatus::NAMES.len());
}

#[test]
fn fields_are_grouped_by_root() {
    let mut listed = 0;
    for root in Root::ALL {
        for &field in root.fields() {
            assert_eq!(field.root(), root);
            assert_eq!(Field::find(root, field.as_str()), Some(field));
            listed += 1;
        }
    }
    assert_eq!(listed, Field::ALL.len(), "a field is outside its root's group in Field::ALL");
    assert!(Field::ALL.iter().all(|f| f.choices().is_none_or(|_| f.ty() == Type::String)));
}

/// docs/conditions.md lists every root and fixed field a condition can read, and the words
/// `call.status`, `message.status` take; docs/templates.md the template roots.
#[test]
fn the_docs_list_every_root_and_field() {
    let conditions = doc("conditions.md");
    let table = conditions.split("## What a condition can read").nth(1).unwrap().split("\n## ").next().unwrap();
    for root in Root::ALL.into_iter().filter(|r| r.in_conditions()) {
        assert!(table.contains(&format!("`{root}")), "docs/conditions.md does not list `{root}`");
        for field in root.fields() {
            let path = format!("`{root}.{}`", field.as_str());
            assert!(table.contains(&path), "docs/conditions.md does not list {path}");
        }
    }
    for (path, words) in [("call.status", CallOutcome::NAMES), ("message.status", MessageOutcome::NAMES)] {
        let row = table.lines().find(|l| l.starts_with(&format!("| `{path}`"))).unwrap();
        let listed = words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
        assert!(row.contains(&listed), "docs/conditions.md: {path} should list {listed}");
    }
    let templates = doc("templates.md");
    for root in Root::ALL.into_iter().filter(|r| r.in_templates()) {
        assert!(templates.contains(&format!("| `{root}` |")), "docs/templates.md does not list `{root}`");
        for field in root.fields() {
            let path = format!("`{root}.{}`", field.as_str());
            assert!(templates.contains(&path), "docs/templates.md does not list {path}");
        }
    }
}

/// docs/operations.md explains every reason a lead's `outcome` can hold.
#[test]
fn the_docs_list_every_reason() {
    let operations = doc("operations.md");
    let table = operations.split("### Outcomes").nth(1).expect("docs/operations.md has `### Outcomes`");
    for word in Reason::NAMES.iter().chain(SkipReason::NAMES) {
        assert!(table.contains(&format!("| `{word}` |")), "docs/operations.md does not list `{word}`");
    }
    for reason in Reason::ALL {
        let row = table.lines().find(|l| l.starts_with(&format!("| `{reason}` |"))).unwrap();
        assert!(row.contains(&format!("| {} |", reason.status())), "{reason} should say {}", reason.status());
    }
}
