//! Message templates: minijinja, strict about undefined values (semi-strict: an empty CSV cell
//! may be tested with `{% if contact.x %}`, never printed), compiled at check time.

use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};

/// Rendering budget: enough for any message, small enough that a runaway loop fails fast.
pub const FUEL: u64 = 50_000;

/// Names minijinja provides itself; a template may use them without a root of ours.
const BUILTINS: &[&str] = &["range", "dict", "namespace", "debug", "loop", "true", "false", "none"];

/// A compiled template in `Templates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
}

/// Every template of a campaign, compiled once.
pub struct Templates {
    env: Environment<'static>,
}

/// Why a template did not compile, with the byte range inside its source when known.
#[derive(Debug)]
pub struct TemplateError {
    pub message: String,
    pub range: Option<Range<usize>>,
}

/// A variable a template reads, e.g. `contact.name`, split into its root and the rest.
#[derive(Debug, PartialEq, Eq)]
pub struct Variable {
    pub root: String,
    pub field: Option<String>,
    /// Where it first appears in the template source.
    pub range: Option<Range<usize>>,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_fuel(Some(FUEL));
        Templates { env }
    }

    /// Compile `source` under `name`. Names ending in `.html` are HTML-escaped when rendered.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(Template, Vec<Variable>), TemplateError> {
        self.env.add_template_owned(name.to_string(), source.to_string()).map_err(|e| error_of(&e, source))?;
        let template = self.env.get_template(name).map_err(|e| error_of(&e, source))?;
        let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        names.sort();
        let variables = names
            .into_iter()
            .filter(|n| !BUILTINS.contains(&n.split('.').next().unwrap_or_default()))
            .map(|n| variable(&n, source))
            .collect();
        Ok((Template { name: name.to_string() }, variables))
    }

    pub fn source(&self, template: &Template) -> Option<String> {
        self.env.get_template(&template.name).ok().map(|t| t.source().to_string())
    }

    /// Render with a context of roots (`contact`, `vars`, data keys, …). The error is the
    /// reason to record against the lead's action.
    pub fn render(&self, template: &Template, context: &serde_json::Value) -> Result<String, String> {
        let compiled = self.env.get_template(&template.name).map_err(|e| e.to_string())?;
        compiled.render(minijinja::value::Serde(context)).map_err(|e| describe(&e))
    }
}

fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

fn error_of(error: &minijinja::Error, source: &str) -> TemplateError {
    let range = error.range().or_else(|| {
        let line = error.line()?;
        let start: usize = source.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
        let end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        Some(start..end)
    });
    TemplateError { message: describe(error), range }
}

fn variable(name: &str, source: &str) -> Variable {
    let (root, field) = match name.split_once('.') {
        Some((root, rest)) => (root, Some(rest.split('.').next().unwrap_or(rest).to_string())),
        None => (name, None),
    };
    let written = match &field {
        Some(field) => format!("{root}.{field}"),
        None => root.to_string(),
    };
    Variable { root: root.to_string(), range: find_word(source, &written).or_else(|| find_word(source, root)), field }
}

/// First occurrence of `word` not inside a longer identifier.
fn find_word(source: &str, word: &str) -> Option<Range<usize>> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(found) = source[from..].find(word) {
        let start = from + found;
        let end = start + word.len();
        let before = source[..start].chars().next_back();
        let after = source[end..].chars().next();
        if !before.is_some_and(|c| is_ident(c) || c == '.') && !after.is_some_and(is_ident) {
            return Some(start..end);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn syntax_error_has_a_range() {
        let mut templates = Templates::new();
        let error = templates.add("t", "Hi {{ contact.name }").unwrap_err();
        assert!(error.range.is_some());
        assert!(error.message.contains("syntax"), "{}", error.message);
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
    fn fuel_stops_runaway_loops() {
        let mut templates = Templates::new();
        let (t, _) = templates
            .add("t", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
            .unwrap();
        let error = templates.render(&t, &json!({})).unwrap_err();
        assert!(error.contains("fuel"), "{error}");
    }
}
