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
    /// An HTML file (`.html`, `.htm`, with an optional `.j2`/`.jinja`): its output is a page,
    /// not plain text (email sends it with a plain-text copy).
    pub html: bool,
}

fn is_html(name: &str) -> bool {
    let name = name.strip_suffix(".j2").or_else(|| name.strip_suffix(".jinja")).unwrap_or(name);
    let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm")
}

/// Every template of a campaign, compiled once.
pub struct Templates {
    env: Environment<'static>,
    /// Templates that are only text and `{{ root.field }}`, by name: rendered without the
    /// engine when every value is a string (a third of a simple campaign's CPU otherwise).
    plain: crate::fxhash::FxMap<String, Vec<Piece>>,
}

/// A part of a plain template.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    /// `{{ root }}` or `{{ root.field }}`.
    Value(String, Option<String>),
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
        Templates { env, plain: crate::fxhash::FxMap::default() }
    }

    /// Compile `source` under `name`. Names ending in `.html` are HTML-escaped when rendered.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(Template, Vec<Variable>), TemplateError> {
        if let Some(range) = too_deep(source) {
            let message = format!(
                "this expression nests more than {MAX_NESTING} levels deep or chains more than \
                 {MAX_OPERATORS} operators"
            );
            return Err(TemplateError { message, range: Some(range) });
        }
        self.env.add_template_owned(name.to_string(), source.to_string()).map_err(|e| error_of(&e, source))?;
        let template = self.env.get_template(name).map_err(|e| error_of(&e, source))?;
        let escaped = !matches!(minijinja::default_auto_escape_callback(name), minijinja::AutoEscape::None);
        match plain_pieces(source).filter(|_| !escaped) {
            Some(pieces) => self.plain.insert(name.to_string(), pieces),
            None => self.plain.remove(name),
        };
        let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        names.sort();
        let variables = names
            .into_iter()
            .filter(|n| !BUILTINS.contains(&n.split('.').next().unwrap_or_default()))
            .map(|n| variable(&n, source))
            .collect();
        Ok((Template { name: name.to_string(), html: is_html(name) }, variables))
    }

    /// Filters (`| name`) and tests (`is name`) a template uses that this environment does
    /// not have. minijinja only notices them when the expression runs, so a typo would fail
    /// every render: each name is probed against the environment itself.
    pub fn unknown_helpers(&self, source: &str) -> Vec<UnknownHelper> {
        let mut out: Vec<UnknownHelper> = Vec::new();
        for (kind, name, range) in helper_names(source) {
            if out.iter().any(|u| u.kind == kind && u.name == name) || self.has_helper(kind, &name) {
                continue;
            }
            let candidates: Vec<&str> = match kind {
                HelperKind::Filter => COMMON_FILTERS,
                HelperKind::Test => COMMON_TESTS,
            }
            .iter()
            .copied()
            .filter(|c| self.has_helper(kind, c))
            .collect();
            let suggestion = crate::diagnostic::did_you_mean(&name, candidates.iter().copied());
            out.push(UnknownHelper { kind, name, range, suggestion });
        }
        out
    }

    fn has_helper(&self, kind: HelperKind, name: &str) -> bool {
        let probe = match kind {
            HelperKind::Filter => format!("{{{{ 1 | {name} }}}}"),
            HelperKind::Test => format!("{{{{ 1 is {name} }}}}"),
        };
        match self.env.render_str(&probe, ()) {
            Ok(_) => true,
            Err(e) => !matches!(e.kind(), minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest),
        }
    }

    pub fn source(&self, template: &Template) -> Option<String> {
        self.env.get_template(&template.name).ok().map(|t| t.source().to_string())
    }

    /// The dotted names a compiled template reads (`contact.first_name`, `brand`), sorted:
    /// for naming the value a render found undefined.
    pub fn variables(&self, template: &Template) -> Vec<String> {
        let Ok(compiled) = self.env.get_template(&template.name) else { return Vec::new() };
        let mut names: Vec<String> = compiled
            .undeclared_variables(true)
            .into_iter()
            .filter(|n| !BUILTINS.contains(&n.split('.').next().unwrap_or_default()))
            .collect();
        names.sort();
        names
    }

    /// Render a plain template (text and `{{ root.field }}` only) from `lookup`; `None` when
    /// the template is not plain or a value is not a string, for `render` to do it.
    pub fn render_plain<'a>(
        &self,
        template: &Template,
        lookup: impl Fn(&str, Option<&str>) -> Option<&'a str>,
    ) -> Option<String> {
        let pieces = self.plain.get(&template.name)?;
        let mut out = String::with_capacity(128);
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Value(root, field) => out.push_str(lookup(root, field.as_deref())?),
            }
        }
        Some(out)
    }

    /// Render with a context of roots (`contact`, `vars`, data keys, …). The error is the
    /// reason to record against the lead's action.
    pub fn render(&self, template: &Template, context: &serde_json::Value) -> Result<String, String> {
        let compiled = self.env.get_template(&template.name).map_err(|e| e.to_string())?;
        compiled.render(minijinja::value::Serde(context)).map_err(|e| describe(&e))
    }
}

/// The pieces of a template made only of text and `{{ root }}` / `{{ root.field }}`; `None`
/// for anything else (tags, comments, filters, whitespace control, a trailing newline, which
/// the engine strips).
fn plain_pieces(source: &str) -> Option<Vec<Piece>> {
    if source.contains("{%") || source.contains("{#") || source.ends_with('\n') || source.ends_with('\r') {
        return None;
    }
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let close = open + rest[open..].find("}}")?;
        if rest[..open].contains("}}") {
            return None;
        }
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let inner = rest[open + 2..close].trim();
        let (root, field) = match inner.split_once('.') {
            Some((root, field)) => (root, Some(field)),
            None => (inner, None),
        };
        if !ident(root)
            || !field.is_none_or(ident)
            || matches!(root, "true" | "True" | "false" | "False" | "none" | "None")
        {
            return None;
        }
        pieces.push(Piece::Value(root.to_string(), field.map(str::to_string)));
        rest = &rest[close + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Some(pieces)
}

/// Filters and tests offered in "did you mean" (only those the environment really has).
const COMMON_FILTERS: &[&str] = &[
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "default",
    "join",
    "length",
    "round",
    "int",
    "float",
    "replace",
    "first",
    "last",
    "tojson",
    "escape",
    "safe",
    "list",
    "sort",
    "unique",
    "reverse",
    "abs",
    "indent",
    "dictsort",
    "items",
    "map",
    "select",
    "reject",
    "batch",
    "slice",
    "sum",
    "min",
    "max",
    "string",
    "bool",
    "lines",
    "split",
    "count",
    "urlencode",
    "truncate",
    "wordcount",
    "center",
    "format",
];
const COMMON_TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "number",
    "string",
    "odd",
    "even",
    "in",
    "true",
    "false",
    "sequence",
    "mapping",
    "startingwith",
    "endingwith",
    "divisibleby",
    "lower",
    "upper",
    "filter",
    "test",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperKind {
    Filter,
    Test,
}

/// A filter or test a template names that does not exist.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownHelper {
    pub kind: HelperKind,
    pub name: String,
    pub range: Range<usize>,
    pub suggestion: Option<String>,
}

/// Every `| filter` and `is test` inside `{{ }}` and `{% %}`, outside string literals.
fn helper_names(source: &str) -> Vec<(HelperKind, String, Range<usize>)> {
    static TAG: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}").expect("valid regex"));
    static HELPER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)|\bis\s+(?:not\s+)?([A-Za-z_][A-Za-z0-9_]*)")
            .expect("valid regex")
    });
    let mut out = Vec::new();
    for tag in TAG.find_iter(source) {
        let blanked = blank_strings(tag.as_str());
        for found in HELPER.captures_iter(&blanked) {
            let (kind, name) = match (found.get(1), found.get(2)) {
                (Some(name), _) => (HelperKind::Filter, name),
                (None, Some(name)) => (HelperKind::Test, name),
                _ => continue,
            };
            let start = tag.start() + name.start();
            out.push((kind, name.as_str().to_string(), start..start + name.len()));
        }
    }
    out
}

/// The text with string literals replaced by spaces, so a `|` inside quotes is not a filter.
fn blank_strings(text: &str) -> String {
    let quoted = crate::source::Quoted::scan(text);
    text.char_indices()
        .map(|(i, c)| if quoted.contains(i) { " ".repeat(c.len_utf8()) } else { c.to_string() })
        .collect()
}

fn describe(error: &minijinja::Error) -> String {
    // minijinja names the undefined value only in debug builds: say the same in both.
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        return error.kind().to_string();
    }
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

/// How deep an expression in `{{ }}` or `{% %}` may nest (brackets, `not`, unary `-`), and how
/// many operators, filters and attribute dots it may chain. minijinja recurses over both, and
/// 20,000 `not` overflowed the stack; a message needs a handful.
pub const MAX_NESTING: usize = 32;
pub const MAX_OPERATORS: usize = 256;

/// The first `{{ … }}` or `{% … %}` past either limit, checked on the text before minijinja
/// parses it. It over-counts (`==` is two operators), never under-counts.
fn too_deep(source: &str) -> Option<Range<usize>> {
    let mut from = 0;
    while let Some(at) = source[from..].find('{').map(|i| from + i) {
        let close = match source[at + 1..].chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            _ => {
                from = at + 1;
                continue;
            }
        };
        // An unclosed tag runs to the end of the text (cutting two bytes off it could split a
        // character).
        let (inner, end) = match source[at + 2..].find(close) {
            Some(i) => (&source[at + 2..at + 2 + i], at + 2 + i + 2),
            None => (&source[at + 2..], source.len()),
        };
        if segment_too_deep(inner) {
            return Some(at..end);
        }
        from = end;
    }
    None
}

fn segment_too_deep(expr: &str) -> bool {
    let (mut depth, mut outer, mut prefix, mut operators) = (0usize, Vec::new(), 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if let Some(q) = quote {
            quote = (c != q).then_some(q);
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        match word.as_str() {
            "" => {}
            "not" => (prefix, operators) = (prefix + 1, operators + 1),
            "and" | "or" | "in" | "is" | "if" | "else" => operators += 1,
            _ => prefix = 0,
        }
        word.clear();
        match c {
            '"' | '\'' => (quote, prefix) = (Some(c), 0),
            '(' | '[' | '{' => {
                outer.push(depth);
                depth += prefix + 1;
                prefix = 0;
            }
            ')' | ']' | '}' => (depth, prefix) = (outer.pop().unwrap_or(0), 0),
            '-' => (prefix, operators) = (prefix + 1, operators + 1),
            '+' | '*' | '/' | '%' | '~' | '|' | '.' | '<' | '>' | '=' | '!' => operators += 1,
            _ => {}
        }
        if depth + prefix > MAX_NESTING || operators > MAX_OPERATORS {
            return true;
        }
    }
    false
}

/// The tags that would load another template (`include`, `import`, `from`, `extends`), each
/// with the byte range of its keyword.
pub fn loading_tags(source: &str) -> Vec<(&'static str, Range<usize>)> {
    const TAGS: [&str; 4] = ["include", "import", "from", "extends"];
    let mut out = Vec::new();
    for (at, _) in source.match_indices("{%") {
        let body = &source[at + 2..];
        let trimmed = body.trim_start_matches(['-', '+']).trim_start();
        let start = at + 2 + (body.len() - trimmed.len());
        let word: &str = trimmed.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or_default();
        if let Some(tag) = TAGS.iter().find(|t| **t == word) {
            out.push((*tag, start..start + word.len()));
        }
    }
    out
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
