//! Unit tests of the test-file parser and the scripted answers.

use super::format::{self, Expect};
use crate::source::SourceFile;

fn parse(text: &str) -> (format::TestFile, Vec<crate::diagnostic::Diagnostic>) {
    let mut diagnostics = Vec::new();
    let test = format::parse(SourceFile::new("dir/x.test.yaml", text), &mut diagnostics);
    (test, diagnostics)
}

#[test]
fn inline_contacts_take_the_union_of_columns() {
    let (test, diagnostics) = parse(
        "campaign: c.yaml\ncontacts:\n  - { phone: '1', name: A }\n  - { phone: '2', city: Paris }\n\
         cases:\n  - { name: n, expect: { status: completed } }\n",
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(test.contacts.header, ["phone", "name", "city"]);
    assert_eq!(test.contacts.rows, [vec!["1", "A", ""], vec!["2", "", "Paris"]]);
    assert_eq!(test.campaign.unwrap().value, std::path::Path::new("dir/c.yaml"));
    assert!(matches!(test.cases[0].expect[0].kind, Expect::Status(_)));
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let (_, diagnostics) =
        parse("campaign: c.yaml\ncontacts: []\ncases:\n  - { name: n, expect: { stauts: completed } }\n");
    let unknown = diagnostics.iter().find(|d| d.code == "herald::unknown_key").expect("unknown key");
    assert_eq!(unknown.help.as_deref(), Some("did you mean `status`?"));
    // The misspelt expectation is reported once, not also as "expects nothing".
    assert!(!diagnostics.iter().any(|d| d.code == "herald::test_no_expectation"), "{diagnostics:?}");
}

#[test]
fn a_case_without_expect_is_an_error() {
    let (_, diagnostics) = parse("campaign: c.yaml\ncontacts: []\ncases:\n  - { name: n }\n");
    assert!(diagnostics.iter().any(|d| d.code == "herald::test_no_expectation"), "{diagnostics:?}");
}

#[test]
fn events_need_an_answer_or_a_time() {
    let (test, diagnostics) = parse(
        "campaign: c.yaml\ncontacts: []\ncases:\n  - name: n\n    events:\n      - { step: s }\n      \
         - { opt_out: true }\n      - { step: s, call: answered, event: bought }\n      \
         - { at: 2026-12-01, event: bought }\n      - { step: s, event: bought }\n    expect: { sends: 1 }\n",
    );
    assert_eq!(diagnostics.iter().filter(|d| d.code == "herald::test_event").count(), 3, "{diagnostics:?}");
    assert_eq!(test.cases[0].events.len(), 2);
}

#[test]
fn a_named_event_without_a_time_answers_a_step() {
    let (test, diagnostics) = parse(
        "campaign: c.yaml\ncontacts: []\ncases:\n  - name: n\n    events:\n      \
         - { step: s, event: activated, after: 2h, vars: { plan: pro } }\n    expect: { sends: 1 }\n",
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let rules = super::run::rules(&test.cases[0].events);
    assert_eq!(rules[0]["step"], "s");
    assert_eq!(rules[0]["event"], serde_json::json!({ "name": "activated", "after": "2h", "vars": { "plan": "pro" } }));
    assert!(rules[0].get("vars").is_none(), "the vars are the event's, not post-call ones");
}

#[test]
fn attempt_specific_answers_come_first() {
    let (test, diagnostics) = parse(
        "campaign: c.yaml\ncontacts: []\ncases:\n  - name: n\n    events:\n      \
         - { step: s, call: answered }\n      - { step: s, attempt: 1, call: no_answer }\n    expect: { calls: 2 }\n",
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let rules = super::run::rules(&test.cases[0].events);
    assert_eq!(rules[0]["when"], "call.attempt == 1");
    assert_eq!(rules[0]["call"]["no_answer"], 1);
    assert_eq!(rules[1]["call"]["answered"], 1);
}

#[test]
fn calls_as_a_list_and_case_keys_parse() {
    let (test, diagnostics) = parse(
        "campaign: c.yaml\ncontacts: []\ncases:\n  - name: n\n    until: 2026-12-02\n    variants: { ab: b }\n    \
         expect:\n      calls: [{ step: s, local_time: Mon 09:00, attempt: 2 }, {}]\n      \
         sends: [{ to: a@b.c, subject: Hi, from: me }]\n      vars: { x: null }\n",
    );
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let case = &test.cases[0];
    assert_eq!(case.until.as_ref().unwrap().value, "2026-12-02");
    assert_eq!((case.variants[0].0.value.as_str(), case.variants[0].1.value.as_str()), ("ab", "b"));
    let Expect::CallList(calls) = &case.expect[0].kind else { panic!("calls is a list") };
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].step.as_ref().unwrap().value, "s");
    assert_eq!(calls[0].local_time.as_ref().unwrap().value, "Mon 09:00");
    assert_eq!(calls[0].attempt, Some(2));
    assert!(calls[1].step.is_none() && calls[1].attempt.is_none());
    let Expect::Sends(sends) = &case.expect[1].kind else { panic!("sends is a list") };
    assert_eq!(sends[0].to.as_deref(), Some("a@b.c"));
    assert_eq!(sends[0].subject.as_deref(), Some("Hi"));
    assert_eq!(sends[0].from.as_deref(), Some("me"));
    let Expect::Vars(vars) = &case.expect[2].kind else { panic!("vars") };
    assert!(vars["x"].is_null());
}

#[test]
fn calls_as_a_count_still_parse() {
    let (test, diagnostics) = parse("campaign: c.yaml\ncontacts: []\ncases:\n  - { name: n, expect: { calls: 3 } }\n");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(matches!(test.cases[0].expect[0].kind, Expect::Calls(3)));
    let (_, diagnostics) = parse("campaign: c.yaml\ncontacts: []\ncases:\n  - { name: n, expect: { calls: many } }\n");
    assert!(diagnostics.iter().any(|d| d.code == "herald::wrong_type"), "{diagnostics:?}");
}

#[test]
fn forced_variants_are_weights_and_are_put_back() {
    use crate::graph::NodeKind;
    use crate::source::Spanned;
    let campaign = "id: c\nsteps:\n  - id: ab\n    split:\n      - { variant: a, weight: 30, goto: end }\n      \
                    - { variant: b, weight: 70, goto: end }\n";
    let options = crate::check::Options { contact_columns: None, base_dir: Default::default() };
    let (graph, found) = crate::check::check_file(&SourceFile::new("c.yaml", campaign), &options);
    let mut graph = graph.unwrap_or_else(|| panic!("{:?}", found.items));
    let weights = |graph: &crate::graph::Graph| match &graph.nodes[0].kind {
        NodeKind::Split(arms) => arms.iter().map(|a| a.weight).collect::<Vec<_>>(),
        _ => panic!("not a split"),
    };
    let span = crate::source::Span::new(0, 0);
    let forced = [(Spanned::new("ab".to_string(), span), Spanned::new("a".to_string(), span))];
    let saved = super::run::force_variants(&mut graph, &forced);
    assert_eq!(weights(&graph), [1.0, 0.0]);
    let NodeKind::Split(arms) = &graph.nodes[0].kind else { unreachable!() };
    for key in ["+14155550100", "+14155550101", "x@example.com"] {
        assert_eq!(crate::runtime::split::choose(arms, "c", "ab", key).map(|a| a.variant.as_str()), Some("a"));
    }
    super::run::restore_weights(&mut graph, saved);
    assert_eq!(weights(&graph), [30.0, 70.0]);
}
