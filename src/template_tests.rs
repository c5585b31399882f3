use super::*;
use serde_json::json;

#[test]
fn lists_variables_with_positions() {
    let mut templates = Templates::new();
    let (_, vars) = templates.add("t", "Hi {{ contact.name }} from {{ company.name | upper }}").unwrap();
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0].root, "company");
    assert_eq!(vars[1].field.as_deref(), Some("name"));
    assert_eq!(vars[1].range, Some(6..18));
}

/// The plain path must print exactly what the engine prints, or decline.
#[test]
fn plain_templates_render_as_the_engine_does() {
    let ctx =
        json!({ "contact": { "name": "Ada <3", "n": 7, "empty": "" }, "vars": { "code": "A1" }, "brand": "Acme" });
    let lookup = |root: &str, field: Option<&str>| {
        let value = &ctx[root];
        match field {
            Some(f) => value.get(f)?.as_str(),
            None => value.as_str(),
        }
    };
    let cases = [
        ("Hi {{ contact.name }}, code {{vars.code}} from {{ brand }}!", true),
        ("{{ contact.name }}{{ contact.name }}", true),
        ("no values at all", true),
        ("empty: [{{ contact.empty }}]", true),
        ("x }} y {{ contact.name }}", false),
        ("n = {{ contact.n }}", false),
        ("{{ contact.missing }}", false),
        ("{{ contact.name | upper }}", false),
        ("{{- contact.name }}", false),
        ("{% if contact.name %}yes{% endif %}", false),
        ("{# note #}{{ contact.name }}", false),
        ("ends with a newline {{ contact.name }}\n", false),
        ("{{ true }}", false),
        ("{{ None }}", false),
        ("{{ True }}", false),
    ];
    for (i, (source, plain)) in cases.into_iter().enumerate() {
        let mut templates = Templates::new();
        let (template, _) = templates.add(&format!("t{i}"), source).unwrap();
        let fast = templates.render_plain(&template, lookup);
        assert_eq!(fast.is_some(), plain, "{source}");
        if let Some(fast) = fast {
            assert_eq!(fast, templates.render(&template, &ctx).unwrap(), "{source}");
        }
    }
    let mut templates = Templates::new();
    let (html, _) = templates.add("mail.html", "{{ contact.name }}").unwrap();
    assert_eq!(templates.render_plain(&html, lookup), None, "HTML is escaped by the engine");
}

#[test]
fn syntax_error_has_a_range() {
    let mut templates = Templates::new();
    let error = templates.add("t", "Hi {{ contact.name }").unwrap_err();
    assert!(error.range.is_some());
    assert!(error.message.contains("syntax"), "{}", error.message);
}

#[test]
fn html_templates_are_known_by_their_extension() {
    let mut templates = Templates::new();
    for (name, html) in [("a.html", true), ("b.HTM", true), ("c.html.j2", true), ("d.txt", false), ("e", false)] {
        assert_eq!(templates.add(name, "x").unwrap().0.html, html, "{name}");
    }
}

#[test]
fn strict_undefined_and_html_escape() {
    let mut templates = Templates::new();
    let (plain, _) = templates.add("a.txt", "{{ contact.name }}").unwrap();
    let (html, _) = templates.add("b.html", "{{ contact.name }}").unwrap();
    let ctx = json!({ "contact": { "name": "<Bo>" } });
    assert_eq!(templates.render(&plain, &ctx).unwrap(), "<Bo>");
    assert_eq!(templates.render(&html, &ctx).unwrap(), "&lt;Bo&gt;");
    assert!(templates.render(&plain, &json!({ "contact": {} })).is_err());
    // An empty CSV cell is absent: it can be tested, not printed.
    let (guarded, _) =
        templates.add("c.txt", "{% if contact.time %}at {{ contact.time }}{% else %}soon{% endif %}").unwrap();
    assert_eq!(templates.render(&guarded, &json!({ "contact": {} })).unwrap(), "soon");
    assert_eq!(templates.render(&guarded, &json!({ "contact": { "time": "9am" } })).unwrap(), "at 9am");
}

#[test]
fn unknown_filters_and_tests_are_found_with_suggestions() {
    let templates = Templates::new();
    let source = "Hi {{ contact.name | uppr }} {{ \"a|b\" | upper }}{% if vars.x is definedd %}!{% endif %} a | b";
    let unknown = templates.unknown_helpers(source);
    let names: Vec<(&str, Option<&str>)> = unknown.iter().map(|u| (u.name.as_str(), u.suggestion.as_deref())).collect();
    assert_eq!(names, [("uppr", Some("did you mean `upper`?")), ("definedd", Some("did you mean `defined`?"))]);
    assert_eq!(&source[unknown[0].range.clone()], "uppr");
    assert_eq!(unknown[1].kind, HelperKind::Test);
    assert!(templates.unknown_helpers("{{ x | default('there') | title }} {{ y is defined }}").is_empty());
}

#[test]
fn fuel_stops_runaway_loops() {
    let mut templates = Templates::new();
    let (t, _) = templates
        .add("t", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
        .unwrap();
    let error = templates.render(&t, &json!({})).unwrap_err();
    assert!(error.contains("fuel"), "{error}");
}

/// minijinja's parser stops at 150 levels with an error; that must not overflow the 2 MB
/// stack of a test thread in a debug build either.
#[test]
fn deep_templates_are_errors_not_overflows() {
    let mut templates = Templates::new();
    for source in [
        format!("{{{{ {}1{} }}}}", "(".repeat(5_000), ")".repeat(5_000)),
        format!("{{{{ {}1 }}}}", "not ".repeat(20_000)),
        format!("{{{{ {} }}}}", vec!["1"; 50_000].join(" + ")),
        format!("{{{{ x{} }}}}", "|upper".repeat(20_000)),
        format!("{{{{ x{} }}}}", ".y".repeat(20_000)),
    ] {
        let error = templates.add("deep", &source).expect_err("rejected");
        assert!(error.message.contains("32 levels"), "{}", error.message);
    }
    let blocks = format!("{}x{}", "{% if true %}".repeat(2_000), "{% endif %}".repeat(2_000));
    assert!(templates.add("blocks", &blocks).is_err());
    assert!(templates.add("fine", "{{ (contact.a | upper) ~ \" - \" ~ (not (x.y or z)) }}").is_ok());
    // Found by tests/it/fuzz.rs: an unclosed tag ending in a wide character.
    assert!(templates.add("unclosed", "Hi {{ name \u{feff}").is_err());
    assert!(templates.add("unclosed", "{%\u{202e}").is_err());
}
