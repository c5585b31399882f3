//! Conditions and templates: compile them, and point their errors into the YAML.

use super::Checker;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::expr::{self, Condition, Type};
use crate::source::{ScalarMap, Span};
use crate::syntax::Text;
use crate::template::{Template, Variable};
use crate::vocab::Root;

impl Checker<'_> {
    /// Compile a condition; `boolean` when it decides something (`if`, `when`, `goal`, …).
    pub fn condition(&mut self, text: &Text, boolean: bool) -> Option<Condition> {
        let (condition, ty) = self.expression(text)?;
        if boolean && !matches!(ty, Type::Bool | Type::Unknown | Type::Null) {
            self.push(
                Diagnostic::error("herald::type_mismatch", format!("this condition is a {ty}, not true or false"))
                    .label(text.span, format!("{ty}"))
                    .help("compare it with something, e.g. `== \"yes\"` or `> 0`"),
            );
            return None;
        }
        Some(condition)
    }

    /// Compile an expression that must give a datetime (`wait: {until: …}`).
    pub fn datetime_expression(&mut self, text: &Text) -> Option<Condition> {
        let (condition, ty) = self.expression(text)?;
        if !matches!(ty, Type::DateTime | Type::Unknown) {
            self.push(
                Diagnostic::error("herald::type_mismatch", format!("`wait.until` must be a time, found a {ty}"))
                    .label(text.span, format!("{ty}"))
                    .help("write a local time like \"09:00\" or a datetime like `contact.appointment_date - 1d`"),
            );
            return None;
        }
        Some(condition)
    }

    fn expression(&mut self, text: &Text) -> Option<(Condition, Type)> {
        match expr::compile(&text.value, &self.env) {
            Ok(compiled) => {
                let events = compiled.0.path_spans().into_iter().filter(|(root, ..)| *root == Root::Events.as_str());
                self.events.extend(events.map(|(_, name, _)| name));
                Some(compiled)
            }
            Err(problems) => {
                let map = ScalarMap::new(&self.file.text, text.span, &text.value);
                for problem in problems {
                    let span = map.span(problem.span.clone());
                    let span = if span.is_empty() {
                        Span::new(span.start, span.start + 1).min_in(&self.file.text)
                    } else {
                        span
                    };
                    self.push(
                        Diagnostic::error(problem.code, problem.message)
                            .label(span, problem.label)
                            .maybe_help(problem.help),
                    );
                }
                None
            }
        }
    }

    /// Compile an inline template written at `text`, checking the variables it reads.
    pub fn template(&mut self, name: &str, text: &Text) -> Option<Template> {
        let map = ScalarMap::new(&self.file.text, text.span, &text.value);
        if !self.template_tags(&text.value, |range| map.span(range)) {
            return None;
        }
        match self.templates.add(name, &text.value) {
            Ok((template, variables)) => {
                let ok = self.template_variables(&variables, |range| map.span(range), text.span);
                let helpers_ok = self.template_helpers(&text.value, |range| map.span(range));
                (ok && helpers_ok).then_some(template)
            }
            Err(error) => {
                let span = error.range.map_or(text.span, |r| map.span(r));
                self.push(
                    Diagnostic::error("herald::template_syntax", format!("template error: {}", error.message))
                        .label(span, "here")
                        .help("templates use Jinja syntax: `{{ contact.name }}`, `{% if … %}…{% endif %}`"),
                );
                None
            }
        }
    }

    /// Compile a template file (`template: path`), pointing its errors at the `template:` value.
    pub fn template_file(&mut self, text: &Text) -> Option<Template> {
        let source = match read_template(&self.options.base_dir, &text.value) {
            Ok(source) => source,
            Err((message, help)) => {
                self.push(
                    Diagnostic::error("herald::template_file", message)
                        .label(text.span, "unreadable template")
                        .help(help),
                );
                return None;
            }
        };
        if !self.template_tags(&source, |_| text.span) {
            return None;
        }
        match self.templates.add(&text.value, &source) {
            Ok((template, variables)) => {
                let ok = self.template_variables(&variables, |_| text.span, text.span);
                let helpers_ok = self.template_helpers(&source, |_| text.span);
                (ok && helpers_ok).then_some(template)
            }
            Err(error) => {
                let line = error.range.map_or(1, |r| source[..r.start.min(source.len())].lines().count().max(1));
                self.push(
                    Diagnostic::error(
                        "herald::template_syntax",
                        format!("template error in `{}` line {line}: {}", text.value, error.message),
                    )
                    .label(text.span, "in this template")
                    .help("templates use Jinja syntax: `{{ contact.name }}`, `{% if … %}…{% endif %}`"),
                );
                None
            }
        }
    }

    /// Report `{% include %}`, `{% import %}`, `{% from %}` and `{% extends %}`: a message is
    /// one template, and the engine has no loader, so they would fail every render.
    fn template_tags(&mut self, source: &str, locate: impl Fn(std::ops::Range<usize>) -> Span) -> bool {
        let tags = crate::template::loading_tags(source);
        for (tag, range) in &tags {
            self.push(
                Diagnostic::error("herald::template_include", format!("`{{% {tag} %}}` is not supported in templates"))
                    .label(locate(range.clone()), "not supported")
                    .help("each message is one template: put the shared text in it, or in `data:` and read it as `{{ key }}`"),
            );
        }
        tags.is_empty()
    }

    /// Report filters and tests the template engine does not have (`| uppr`, `is definedd`).
    fn template_helpers(&mut self, source: &str, locate: impl Fn(std::ops::Range<usize>) -> Span) -> bool {
        let unknown = self.templates.unknown_helpers(source);
        for helper in &unknown {
            let what = match helper.kind {
                crate::template::HelperKind::Filter => "filter",
                crate::template::HelperKind::Test => "test",
            };
            self.push(
                Diagnostic::error(
                    "herald::template_unknown_filter",
                    format!("unknown template {what} `{}`", helper.name),
                )
                .label(locate(helper.range.clone()), format!("not a {what}"))
                .help(
                    helper
                        .suggestion
                        .clone()
                        .unwrap_or_else(|| format!("see docs/templates.md for the {what}s templates can use")),
                ),
            );
        }
        unknown.is_empty()
    }

    /// Report variables outside the known roots and unknown contact columns.
    fn template_variables(
        &mut self,
        variables: &[Variable],
        locate: impl Fn(std::ops::Range<usize>) -> Span,
        whole: Span,
    ) -> bool {
        let mut ok = true;
        for variable in variables {
            let span = variable.range.clone().map_or(whole, &locate);
            let known_root =
                Root::parse(&variable.root).is_some_and(Root::in_templates) || self.data_keys.contains(&variable.root);
            if !known_root {
                ok = false;
                let roots: Vec<&str> = Root::names(true).chain(self.data_keys.iter().map(String::as_str)).collect();
                let help = did_you_mean(&variable.root, roots.iter().copied())
                    .unwrap_or_else(|| format!("templates can read: {}", roots.join(", ")));
                self.push(
                    Diagnostic::error(
                        "herald::template_unknown_root",
                        format!("template reads unknown variable `{}`", variable.root),
                    )
                    .label(span, "unknown variable")
                    .help(help),
                );
                continue;
            }
            if variable.root == "contact" {
                ok &= self.contact_column(variable, span);
            }
        }
        ok
    }

    fn contact_column(&mut self, variable: &Variable, span: Span) -> bool {
        let (Some(columns), Some(field)) = (&self.columns, &variable.field) else {
            return true;
        };
        // Without such a column, `key` and `timezone` are the contact's own (`Contact::column`).
        if columns.contains(field) || crate::contact::ALWAYS_READABLE.contains(&field.as_str()) {
            return true;
        }
        let help = did_you_mean(field, columns.iter().map(String::as_str))
            .unwrap_or_else(|| format!("known columns: {}", columns.join(", ")));
        self.push(
            Diagnostic::error("herald::unknown_column", format!("unknown contact column `{field}`"))
                .label(span, "not a column")
                .help(help),
        );
        false
    }
}

trait MinIn {
    fn min_in(self, text: &str) -> Span;
}

impl MinIn for Span {
    /// Keep a one-character span inside the file and on a character boundary.
    fn min_in(self, text: &str) -> Span {
        let mut end = self.end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        Span::new(self.start.min(end), end)
    }
}

/// Template files this large are refused: a message template is text written by hand.
pub const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// Read a `template:` file: it must resolve (symlinks and `..` followed) inside the campaign
/// file's directory tree, be a regular file and be at most `MAX_TEMPLATE_BYTES`, so a campaign
/// cannot send `/proc/self/environ` or `../../.env` to its contacts.
pub(super) fn read_template(base_dir: &std::path::Path, written: &str) -> Result<String, (String, String)> {
    use std::io::Read as _;
    let relative = "template paths are relative to the campaign file".to_string();
    let unreadable = |error: std::io::Error| (format!("cannot read template `{written}`: {error}"), relative.clone());
    let base = if base_dir.as_os_str().is_empty() { std::path::Path::new(".") } else { base_dir };
    let outside = std::path::Path::new(written).is_absolute();
    let root = base.canonicalize().map_err(unreadable)?;
    let path = if outside { None } else { Some(root.join(written).canonicalize().map_err(unreadable)?) };
    let Some(path) = path.filter(|p| p.starts_with(&root)) else {
        return Err((
            format!("template `{written}` is outside the campaign's directory"),
            "templates are read from the campaign file's directory and the folders below it (links are followed \
             first); move the file there and write a relative path"
                .to_string(),
        ));
    };
    let file = std::fs::File::open(&path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err((format!("template `{written}` is not a regular file"), relative));
    }
    let mut source = String::new();
    let read = file.take(MAX_TEMPLATE_BYTES + 1).read_to_string(&mut source).map_err(unreadable)?;
    if read as u64 > MAX_TEMPLATE_BYTES {
        return Err((
            format!("template `{written}` is larger than {} KiB", MAX_TEMPLATE_BYTES / 1024),
            "a message template is written by hand; check that this is the file you meant".to_string(),
        ));
    }
    Ok(source)
}
