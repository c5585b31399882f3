//! The condition language as tables: what parses, what is rejected (with which code, where),
//! and what evaluates to what.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;

fn env() -> TypeEnv {
    TypeEnv {
        data: BTreeMap::from([("company".to_string(), Type::Unknown), ("threshold".to_string(), Type::Number)]),
        contact_fields: Some(BTreeMap::from([
            ("first_name".to_string(), Type::String),
            ("age".to_string(), Type::Number),
            ("appointment_date".to_string(), Type::DateTime),
            ("segment".to_string(), Type::String),
            ("email".to_string(), Type::String),
        ])),
        split_steps: vec!["offer".to_string(), "ab-test".to_string()],
    }
}

/// A scope with fixed values: `now` is 2026-12-01 15:00 UTC (10:00 in New York, a Tuesday).
struct Fixed(Vec<(&'static str, Value)>);

impl Scope for Fixed {
    fn get(&self, path: &Path) -> Value {
        let key = path.to_string();
        self.0.iter().find(|(k, _)| *k == key).map_or(Value::Null, |(_, v)| v.clone())
    }
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
    }
    fn timezone(&self) -> Tz {
        "America/New_York".parse().unwrap()
    }
}

fn scope() -> Fixed {
    let at = |s: &str| Value::DateTime(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
    Fixed(vec![
        ("contact.first_name", Value::String("Ann".into())),
        ("contact.age", Value::Number(42.0)),
        ("contact.segment", Value::String("enterprise".into())),
        ("contact.appointment_date", at("2026-12-03T05:00:00Z")),
        ("contact.signup", Value::String("2026-11-21".into())),
        ("reply.text", Value::String("  Yes please ".into())),
        ("reply.at", at("2026-12-01T14:00:00Z")),
        ("reply.timed_out", Value::Bool(false)),
        ("call.status", Value::String("answered".into())),
        ("call.attempt", Value::Number(2.0)),
        ("vars.score", Value::Number(9.0)),
        ("vars.tags", Value::List(vec![Value::String("vip".into()), Value::String("beta".into())])),
        ("variant.offer", Value::String("b".into())),
        ("variant.ab-test", Value::String("control".into())),
        ("threshold", Value::Number(7.0)),
        ("company.name", Value::String("Acme".into())),
    ])
}

macro_rules! parses {
    ($($source:expr => $ty:ident),* $(,)?) => {{
        let env = env();
        $(
            match compile($source, &env) {
                Ok((_, ty)) => assert_eq!(ty, Type::$ty, "type of {:?}", $source),
                Err(problems) => panic!("{:?} should compile: {problems:?}", $source),
            }
        )*
    }};
}

macro_rules! rejects {
    ($($source:expr => $code:literal at $at:literal),* $(,)?) => {{
        let env = env();
        $(
            let problems = compile($source, &env).err().unwrap_or_else(|| panic!("{:?} should be rejected", $source));
            let first = &problems[0];
            assert_eq!(first.code, concat!("herald::", $code), "{:?}: {first:?}", $source);
            assert_eq!(&$source[first.span.clone()], $at, "span of {:?}: {first:?}", $source);
        )*
    }};
}

macro_rules! evaluates {
    ($($source:expr => $value:expr),* $(,)?) => {{
        let env = TypeEnv { contact_fields: None, ..env() };
        let scope = scope();
        $(
            let (condition, _) = compile($source, &env).unwrap_or_else(|p| panic!("{:?}: {p:?}", $source));
            assert_eq!(condition.eval(&scope), $value, "{:?}", $source);
        )*
    }};
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

const T: Value = Value::Bool(true);
const F: Value = Value::Bool(false);

#[test]
fn parse_table() {
    parses! {
        "true" => Bool,
        "reply.text == \"yes\"" => Bool,
        "reply.text matches \"(?i)^\\s*(yes|y)\\b\"" => Bool,
        "vars.confirmed == true and not reply.timed_out" => Bool,
        "call.status in [\"no_answer\", \"busy\"]" => Bool,
        "call.status not in [\"answered\"]" => Bool,
        "contact.age >= 18 or contact.segment == 'vip'" => Bool,
        "contact.appointment_date - 1d" => DateTime,
        "now + 1d12h" => DateTime,
        "now - contact.appointment_date" => Duration,
        "3d * 2" => Duration,
        "-(contact.age + 1) * 2 % 5" => Number,
        "len(vars.tags) > 1" => Bool,
        "exists(contact.email)" => Bool,
        "days_since(reply.at) < 30 and hours_since(reply.at) >= 1" => Bool,
        "weekday(now) in [\"sat\", \"sun\"]" => Bool,
        "hour(now) < 9" => Bool,
        "date(\"2026-12-01\") < now" => Bool,
        "number(reply.text) >= threshold" => Bool,
        "lower(trim(reply.text)) starts_with \"y\"" => Bool,
        "upper(contact.first_name) ends_with \"N\"" => Bool,
        "vars.tags contains \"vip\"" => Bool,
        "variant.offer == \"b\" and variant.ab-test != \"control\"" => Bool,
        "company.name == \"Acme\"" => Bool,
        "lead.status == \"waiting\" and lead.attempts < 3" => Bool,
        "campaign.id == \"x\" and message.status == \"bounced\"" => Bool,
        "vars.order != null" => Bool,
        "today" => DateTime,
        "[1, 2,]" => List,
        "vars.orders_count > 0" => Bool,
        "(((true)))" => Bool,
        "vars.x\n  and\n  vars.y" => Bool,
    }
}

#[test]
fn reject_table() {
    rejects! {
        "" => "condition_syntax" at "",
        "reply.text ==" => "condition_syntax" at "",
        "(reply.text == \"a\"" => "condition_syntax" at "(",
        "((1 + 2) * 3" => "condition_syntax" at "(",
        "reply.text == \"yes" => "condition_syntax" at "\"",
        "reply.text = \"yes\"" => "condition_syntax" at "=",
        "vars.a && vars.b" => "condition_syntax" at "&&",
        "vars.a || vars.b" => "condition_syntax" at "||",
        "3days > 1" => "condition_syntax" at "3",
        "reply.text == \"a\" vars.x" => "condition_syntax" at "v",
        "repy.text == \"x\"" => "unknown_root" at "repy",
        "reply.text == yes" => "unknown_root" at "yes",
        "reply.txt == \"x\"" => "unknown_field" at "txt",
        "call.statuss == \"busy\"" => "unknown_field" at "statuss",
        "contact == \"x\"" => "unknown_field" at "contact",
        "now.hour > 3" => "unknown_field" at "hour",
        "contact.frist_name == \"Ann\"" => "unknown_column" at "frist_name",
        "lowr(reply.text) == \"y\"" => "unknown_function" at "lowr",
        "len() > 1" => "wrong_arity" at "len()",
        "lower(reply.text, 2) == \"y\"" => "wrong_arity" at "lower(reply.text, 2)",
        "contact.age > \"ten\"" => "type_mismatch" at "contact.age > \"ten\"",
        "contact.first_name == 3" => "type_mismatch" at "contact.first_name == 3",
        "contact.appointment_date < \"2026-12-01\"" => "type_mismatch" at "contact.appointment_date < \"2026-12-01\"",
        "call.attempt + \"x\" > 1" => "type_mismatch" at "call.attempt + \"x\"",
        "reply.text and true" => "type_mismatch" at "reply.text",
        "not call.attempt" => "type_mismatch" at "call.attempt",
        "reply.text in 3" => "type_mismatch" at "3",
        "call.attempt matches \"1\"" => "type_mismatch" at "call.attempt",
        "-reply.text == 1" => "type_mismatch" at "-reply.text",
        "lower(call.attempt) == \"1\"" => "type_mismatch" at "call.attempt",
        "exists(\"x\")" => "type_mismatch" at "\"x\"",
        "true < false" => "type_mismatch" at "true < false",
        "reply.text matches \"(unclosed\"" => "invalid_regex" at "\"(unclosed\"",
        "reply.text matches '[z-a]'" => "invalid_regex" at "'[z-a]'",
        "variant.nosuch == \"a\"" => "unknown_variant" at "nosuch",
        "call.status == \"anwsered\"" => "unknown_outcome" at "\"anwsered\"",
        "call.status in [\"busy\", \"no-answer\"]" => "unknown_outcome" at "\"no-answer\"",
        "message.status != \"read\"" => "unknown_outcome" at "\"read\"",
        "99999999999999999w > 1d" => "condition_syntax" at "99999999999999999w",
    }
}

#[test]
fn every_problem_is_reported() {
    let problems = compile("repy.text == \"a\" or lowr(x) or call.status == \"nope\"", &env());
    // The unknown function stops the parse; a parse that succeeds reports every type problem.
    assert_eq!(problems.unwrap_err().len(), 1);
    let problems = compile("repy.text == \"a\" or call.statuss == \"b\" or contact.age > \"x\"", &env()).unwrap_err();
    let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, ["herald::unknown_root", "herald::unknown_field", "herald::type_mismatch"]);
}

#[test]
fn evaluate_table() {
    evaluates! {
        "1 + 2 * 3" => Value::Number(7.0),
        "(1 + 2) * 3" => Value::Number(9.0),
        "7 % 4 - -1" => Value::Number(4.0),
        "10 / 4" => Value::Number(2.5),
        "1 / 0" => Value::Null,
        "reply.text matches \"(?i)^\\s*(yes|y)\\b\"" => T,
        "reply.text matches \"^no\"" => F,
        "lower(trim(reply.text))" => s("yes please"),
        "upper(contact.first_name)" => s("ANN"),
        "len(reply.text)" => Value::Number(13.0),
        "len(vars.tags)" => Value::Number(2.0),
        "vars.tags contains \"vip\"" => T,
        "\"beta\" in vars.tags" => T,
        "\"gamma\" not in vars.tags" => T,
        "contact.segment in [\"enterprise\", \"mid\"]" => T,
        "reply.text contains \"Yes\"" => T,
        "\"ent\" in contact.segment" => T,
        "contact.segment starts_with \"ent\" and contact.segment ends_with \"prise\"" => T,
        "call.status == \"answered\" and call.attempt == 2" => T,
        "not reply.timed_out" => T,
        "vars.score >= threshold" => T,
        "variant.ab-test" => s("control"),
        "company.name" => s("Acme"),
        // Strings keep any backslash that is not an escape.
        "\"a\\tb\\n\\\"c\\\"\\d\"" => s("a\tb\n\"c\"\\d"),
        "'it\\'s'" => s("it's"),
    }
}

#[test]
fn null_semantics() {
    evaluates! {
        "vars.missing" => Value::Null,
        "vars.missing == null" => T,
        "vars.missing != null" => F,
        "vars.missing == 0" => F,
        "vars.missing < 3" => F,
        "vars.missing > 3" => F,
        "vars.missing >= vars.missing" => F,
        "vars.missing + 1" => Value::Null,
        "vars.missing in [null]" => F,
        "vars.missing not in [1]" => F,
        "vars.missing contains \"x\"" => F,
        "vars.missing matches \".*\"" => F,
        "not vars.missing" => T,
        "vars.missing and true" => F,
        "vars.missing or true" => T,
        "lower(vars.missing)" => Value::Null,
        "len(vars.missing)" => Value::Null,
        "exists(vars.missing)" => F,
        "exists(contact.first_name)" => T,
        "number(\"abc\")" => Value::Null,
        "number(\" 42 \")" => Value::Number(42.0),
        "number(\"inf\")" => Value::Null,
        "date(\"not a date\")" => Value::Null,
        // A known-typed mismatch is a check error; an unknown one is false at run time.
        "vars.score == \"9\"" => F,
        "vars.score < \"a\"" => F,
    }
}

#[test]
fn datetime_arithmetic() {
    let at = |s: &str| Value::DateTime(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
    evaluates! {
        "contact.appointment_date - 1d" => at("2026-12-02T05:00:00Z"),
        "contact.appointment_date + 1d12h" => at("2026-12-04T17:00:00Z"),
        "contact.appointment_date - now" => Value::Duration(chrono::TimeDelta::hours(38)),
        "now - 2h > reply.at" => F,
        "contact.appointment_date > now" => T,
        // Untyped text that reads as a date works beside a duration, at local midnight.
        "contact.signup + 1d" => at("2026-11-22T05:00:00Z"),
        "days_since(contact.signup)" => Value::Number(10.0),
        "hours_since(reply.at)" => Value::Number(1.0),
        "hour(now)" => Value::Number(10.0),
        "weekday(now)" => s("tue"),
        "weekday(contact.appointment_date)" => s("thu"),
        "today" => at("2026-12-01T05:00:00Z"),
        "date(\"2026-12-01\") == today" => T,
        "date(\"2026-12-01T10:00:00-05:00\") == now" => T,
        "contact.appointment_date == \"2026-12-03\"" => T,
        "1d + 12h == 36h" => T,
        "2h * 3 == 6h" => T,
        "1w / 7" => Value::Duration(chrono::TimeDelta::days(1)),
        "1d > 23h" => T,
        "-1d < 0s" => T,
    }
}

#[test]
fn paths_are_listed_with_their_spans() {
    let (condition, _) = compile("vars.confirmed == true or contact.age > 3", &env()).unwrap();
    let spans = condition.path_spans();
    assert_eq!(spans[0], ("vars", "confirmed".to_string(), 0..14));
    assert_eq!(spans[1], ("contact", "age".to_string(), 26..37));
    let names: Vec<&str> = condition.reads().iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["vars.confirmed", "contact.age"]);
}

#[test]
fn evaluation_never_panics_on_odd_values() {
    let env = TypeEnv::default();
    let odd = Fixed(vec![
        ("vars.big", Value::Number(f64::MAX)),
        ("vars.list", Value::List(vec![Value::Null, Value::List(vec![])])),
        ("vars.text", Value::String("ß\u{0}é".into())),
    ]);
    let sources = [
        "vars.big * vars.big",
        "vars.big / 0",
        "1w * vars.big",
        "now + 1w * vars.big",
        "now - 1w * 5000",
        "vars.list contains null",
        "len(vars.text)",
        "vars.text matches vars.text",
        "upper(vars.text)",
        "days_since(vars.text)",
        "weekday(vars.big)",
        "vars.list == vars.list",
        "-vars.text",
    ];
    for source in sources {
        let (condition, _) = compile(source, &env).unwrap_or_else(|p| panic!("{source}: {p:?}"));
        let _ = condition.eval(&odd);
    }
    let (c, _) = compile("vars.big * vars.big", &env).unwrap();
    assert_eq!(c.eval(&odd), Value::Null);
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    /// Fragments that make near-miss conditions more often than random bytes do.
    const PIECES: &[&str] = &[
        "reply.text",
        "vars.x",
        "contact.age",
        "now",
        "today",
        "call.status",
        "variant.offer",
        " == ",
        " != ",
        " < ",
        " >= ",
        " and ",
        " or ",
        "not ",
        " in ",
        " not in ",
        " contains ",
        " matches ",
        " + ",
        " - ",
        " * ",
        " / ",
        " % ",
        "(",
        ")",
        "[",
        "]",
        ",",
        "\"",
        "'",
        "\\",
        "1",
        "2.5",
        "3d",
        "1d12h",
        "true",
        "null",
        "len(",
        "date(",
        "\"(?i)^y\"",
        "\"(\"",
        "é",
        "\n",
        "=",
        "&&",
        "!",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_text(source in "\\PC{0,60}") {
            if let Ok((condition, _)) = compile(&source, &env()) {
                let _ = condition.eval(&scope());
            }
        }

        #[test]
        fn near_miss_conditions(picks in proptest::collection::vec(0..PIECES.len(), 0..14)) {
            let source: String = picks.iter().map(|&i| PIECES[i]).collect();
            match compile(&source, &env()) {
                Ok((condition, _)) => { let _ = condition.eval(&scope()); }
                Err(problems) => {
                    prop_assert!(!problems.is_empty());
                    for p in problems {
                        prop_assert!(p.span.end <= source.len() && source.is_char_boundary(p.span.start) && source.is_char_boundary(p.span.end), "{p:?} in {source:?}");
                    }
                }
            }
        }
    }
}

mod value_text {
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::Number),
            (-2e15f64..2e15).prop_map(|n| Value::Number(n.trunc())),
            prop_oneof![Just(-0.0), Just(1e15), Just(-1e15), Just(f64::NAN), Just(f64::INFINITY), Just(0.5)]
                .prop_map(Value::Number),
            "\\PC{0,30}".prop_map(Value::String),
            "[ -~]{0,30}".prop_map(Value::String),
            "[\"\\\\\t\n\u{7f}\u{301}a-z ]{0,12}".prop_map(Value::String),
            (0i64..1_000_000).prop_map(|s| Value::Duration(chrono::TimeDelta::seconds(s))),
            proptest::collection::vec(any::<bool>().prop_map(Value::Bool), 0..3).prop_map(Value::List),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// `to_text`'s shortcuts write what `Display` writes (it is what `explain` shows).
        #[test]
        fn to_text_is_display(value in value()) {
            let text = value.to_text();
            prop_assert_eq!(text.as_str(), value.to_string());
        }
    }
}

#[test]
fn events_by_name_are_datetimes_or_null() {
    parses! {
        "events.activated != null" => Bool,
        "events.activated" => DateTime,
        "days_since(events.activated) < 7" => Bool,
        "events.trial-started > now - 2d" => Bool,
        "events.activated - 1d" => DateTime,
        "exists(events.purchased)" => Bool,
    }
    rejects! {
        "events == null" => "unknown_field" at "events",
        "events.activated.at != null" => "unknown_field" at "activated.at",
        "events.activated == true" => "type_mismatch" at "events.activated == true",
        "events.activated > 3" => "type_mismatch" at "events.activated > 3",
        "event.activated != null" => "unknown_root" at "event",
    }
    let at = |s: &str| Value::DateTime(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
    let env = TypeEnv { contact_fields: None, ..env() };
    let scope = Fixed(vec![("events.activated", at("2026-11-28T15:00:00Z"))]);
    for (source, value) in [
        ("events.activated != null", T),
        ("events.purchased != null", F),
        ("events.purchased == null", T),
        ("days_since(events.activated)", Value::Number(3.0)),
        ("days_since(events.activated) < 7", T),
        ("days_since(events.purchased) < 7", F),
        ("events.activated + 1d", at("2026-11-29T15:00:00Z")),
        ("exists(events.activated) and not exists(events.purchased)", T),
    ] {
        let (condition, _) = compile(source, &env).unwrap_or_else(|p| panic!("{source:?}: {p:?}"));
        assert_eq!(condition.eval(&scope), value, "{source:?}");
    }
}

/// Hostile nesting is a diagnostic, not a stack overflow; these run on the test thread's 2 MB
/// stack, in debug builds too.
#[test]
fn deep_nesting_is_rejected_before_it_recurses() {
    let env = env();
    let deep = |open: &str, close: &str, n: usize| format!("{}true{}", open.repeat(n), close.repeat(n));
    let nested = [
        deep("(", ")", 700),
        deep("(", ")", 7_000),
        deep("lower(", ")", 1_000),
        deep("[", "]", 5_000),
        format!("{}true", "not ".repeat(20_000)),
        format!("{}1 > 0", "-".repeat(20_000)),
        format!("{}1 > 0", "not -".repeat(17)),
        format!("{}true{}", "(not ".repeat(17), ")".repeat(17)),
    ];
    for source in nested {
        let problems = compile(&source, &env).expect_err("rejected");
        assert_eq!(problems[0].code, "herald::too_deep", "{problems:?}");
        assert!(problems[0].message.contains("32 levels"), "{problems:?}");
    }
    let within = format!("{}true{}", "(not ".repeat(16), ")".repeat(16));
    assert!(compile(&within, &env).is_ok());
    let within = format!("{}contact.age{} > 1", "lower(".repeat(31), ")".repeat(31));
    assert_eq!(compile(&within, &env).err().map(|p| p[0].code), Some("herald::type_mismatch"));
}

#[test]
fn long_and_or_chains_check_and_evaluate() {
    let env = TypeEnv { contact_fields: None, ..env() };
    let terms = vec!["vars.score > 1"; 50_000];
    let (all, ty) = compile(&terms.join(" and "), &env).expect("compiles");
    assert_eq!(ty, Type::Bool);
    assert_eq!(all.eval(&scope()), T);
    let mut mixed = vec!["vars.score > 100"; 49_999];
    mixed.push("reply.text contains \"Yes\"");
    let (any, _) = compile(&mixed.join(" or "), &env).expect("compiles");
    assert_eq!(any.eval(&scope()), T);
    let mut last_false = terms.clone();
    last_false.push("vars.score > 100");
    let (and, _) = compile(&last_false.join(" and "), &env).expect("compiles");
    assert_eq!(and.eval(&scope()), Value::Bool(false));
    // The type of each term is still checked, at that term.
    let source = format!("{} and reply.text", terms[..1000].join(" and "));
    let problems = compile(&source, &env).expect_err("rejected");
    assert_eq!(&source[problems[0].span.clone()], "reply.text");
}

#[test]
fn long_arithmetic_chains_are_rejected_not_overflowed() {
    let env = env();
    let ok = format!("{} > 0", vec!["1"; 200].join(" + "));
    assert!(compile(&ok, &env).is_ok());
    for op in [" + ", " - ", " * "] {
        let source = format!("{} > 0", vec!["1"; 50_000].join(op));
        let problems = compile(&source, &env).expect_err("rejected");
        assert_eq!(problems[0].code, "herald::too_deep", "{problems:?}");
    }
}
