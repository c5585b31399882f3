//! The test-file schema against the parser's keys, the stored file and the example tests.

use serde_json::Value;

use super::{render, schema};
use crate::schema::keys_test::{keys_of, sorted};
use crate::source::SourceFile;
use crate::test_runner::expect::{CALL_KEYS, SEND_KEYS};
use crate::test_runner::format::{CASE_KEYS, EVENT_KEYS, EXPECT_KEYS, FILE_KEYS, REPLY_KEYS, to_json};

const STORED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/test.schema.json");

#[test]
fn schema_keys_match_the_parser() {
    let schema = schema();
    let case = &schema["properties"]["cases"]["items"];
    let expect = &case["properties"]["expect"];
    let event = &case["properties"]["events"]["items"];
    assert_eq!(keys_of(&schema), sorted(FILE_KEYS));
    assert_eq!(keys_of(case), sorted(CASE_KEYS));
    assert_eq!(keys_of(event), sorted(EVENT_KEYS));
    assert_eq!(keys_of(&event["properties"]["reply"]["oneOf"][1]), sorted(REPLY_KEYS));
    assert_eq!(keys_of(expect), sorted(EXPECT_KEYS));
    assert_eq!(keys_of(&expect["properties"]["sends"]["oneOf"][1]["items"]), sorted(SEND_KEYS));
    assert_eq!(keys_of(&expect["properties"]["calls"]["oneOf"][1]["items"]), sorted(CALL_KEYS));
}

/// `HERALD_WRITE_SCHEMA=1 cargo test --lib test_schema_file` rewrites the stored file.
#[test]
fn test_schema_file_is_up_to_date() {
    if std::env::var_os("HERALD_WRITE_SCHEMA").is_some() {
        std::fs::write(STORED, render()).expect("write schema/test.schema.json");
    }
    let stored = std::fs::read_to_string(STORED).unwrap_or_default();
    assert!(
        stored == render(),
        "schema/test.schema.json is stale: run `HERALD_WRITE_SCHEMA=1 cargo test --lib test_schema_file`"
    );
}

#[test]
fn every_example_test_file_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/campaigns/tests");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("campaigns/tests") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".test.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let node = crate::syntax::yaml::parse(&SourceFile::new(path.to_string_lossy(), text)).expect("yaml");
        let mut problems = Vec::new();
        validate(&schema(), &to_json(&node), "", &mut problems);
        assert!(problems.is_empty(), "{}: {problems:?}", path.display());
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} test files");
}

#[test]
fn the_schema_rejects_what_the_parser_rejects() {
    let schema = schema();
    let bad = [
        "campaign: c.yaml\ncases: [{ name: n, expect: { stauts: completed } }]",
        "campaign: c.yaml\ncases: [{ name: n, expect: { calls: [{ attempt: two }] } }]",
        "campaign: c.yaml\ncases: [{ name: n, expect: { calls: [{ local_time: Monday 9am }] } }]",
        "campaign: c.yaml\ncases: [{ name: n, variants: [a], expect: { sends: 1 } }]",
        "campaign: c.yaml\ncases: [{ name: n, expect: { sends: [{ subjct: Hi }] } }]",
        "cases: [{ name: n, expect: { sends: 1 } }]",
    ];
    for text in bad {
        let node = crate::syntax::yaml::parse(&SourceFile::new("x.test.yaml", text)).expect("yaml");
        let mut problems = Vec::new();
        validate(&schema, &to_json(&node), "", &mut problems);
        assert!(!problems.is_empty(), "accepted: {text}");
    }
    let good = "campaign: c.yaml\ncases:\n  - name: n\n    until: 2026-12-02\n    variants: { ab: b }\n    \
                expect: { vars: { x: null }, calls: [{ step: s, local_time: Mon 09:00, attempt: 2 }], \
                sends: [{ to: a@b.c, subject: Hi, from: me }] }";
    let node = crate::syntax::yaml::parse(&SourceFile::new("x.test.yaml", good)).expect("yaml");
    let mut problems = Vec::new();
    validate(&schema, &to_json(&node), "", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}

/// The part of JSON Schema this schema uses: type, enum, pattern, minimum, properties,
/// additionalProperties, required, items and oneOf.
fn validate(schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|option| {
                let mut inner = Vec::new();
                validate(option, value, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if fits != 1 {
            problems.push(format!("{at}: {fits} of oneOf fit {value}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() && !types.iter().any(|t| *t == type_of || (*t == "number" && type_of == "integer")) {
        return problems.push(format!("{at}: {type_of} is not {types:?}"));
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        problems.push(format!("{at}: {value} not in enum"));
    }
    if let (Some(pattern), Some(text)) = (schema["pattern"].as_str(), value.as_str())
        && !regex::Regex::new(pattern).expect("pattern").is_match(text)
    {
        problems.push(format!("{at}: {text:?} does not match {pattern}"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
        && n < min
    {
        problems.push(format!("{at}: {n} < {min}"));
    }
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            validate(&schema["items"], item, &format!("{at}[{i}]"), problems);
        }
    }
    if let Value::Object(map) = value {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(required) {
                problems.push(format!("{at}: missing {required}"));
            }
        }
        for (key, item) in map {
            let inner = match (&schema["properties"][key], &schema["additionalProperties"]) {
                (Value::Null, Value::Bool(false)) => {
                    problems.push(format!("{at}: unknown key {key}"));
                    continue;
                }
                (Value::Null, other) => other,
                (known, _) => known,
            };
            validate(inner, item, &format!("{at}.{key}"), problems);
        }
    }
}
