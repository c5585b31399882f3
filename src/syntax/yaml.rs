//! YAML text -> a tree of spanned nodes. The only place that touches serde-saphyr.
//!
//! The campaign is read into this generic tree first, and only then into typed structs by
//! `syntax::load`, so a wrong key or type in one place does not hide the problems after it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Options};

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};

/// Campaign files larger than this are refused before parsing: a campaign is hand-written, and
/// a huge file is a mistake (a data dump, a wrong path), not a campaign.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What the node is, in words for "expected X, found Y".
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }

    /// The scalar as text (numbers and booleans as written), for string-valued keys.
    pub fn as_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// How deep a campaign's YAML may nest (maps and lists).
pub const MAX_YAML_DEPTH: usize = 32;

/// Parse a whole file. The error is a finished diagnostic pointing at the problem.
pub fn parse(file: &SourceFile) -> Result<Node, Diagnostic> {
    let text: &str = &file.text;
    if text.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            "herald::file_too_large",
            format!("file is {} bytes, more than the {} allowed for a campaign", text.len(), MAX_FILE_BYTES),
        )
        .help("a campaign file is written by hand; check that this is the file you meant"));
    }
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        let message = if text.trim().is_empty() { "the file is empty" } else { "the file has only comments" };
        return Err(Diagnostic::error("herald::empty_file", message)
            .help("a campaign needs at least `steps:`; see docs/language.md"));
    }
    let mut options = Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    options.with_snippet = false;
    // Deserialising recurses per level with large frames in debug builds: 64 levels overflowed
    // a 2 MB test thread. A campaign nests about ten.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_YAML_DEPTH;
    options.budget = Some(budget);
    let root: serde_saphyr::Spanned<Raw> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax_error(file, &e))?;
    Ok(convert(text, root))
}

fn syntax_error(file: &SourceFile, error: &serde_saphyr::Error) -> Diagnostic {
    let location = error.location().filter(|l| l.line() > 0);
    let mut offset = location.map_or(0, |l| file.offset_of(l.line() as usize, l.column() as usize));
    let first = first_line(&error.to_string());
    let (code, help) = classify(error, &first);
    if code == "herald::yaml_syntax" && first.contains("tab") {
        offset = tab_near(&file.text, offset).unwrap_or(offset);
    }
    let message = match code {
        // The parser's recursion limit (flow nesting) or the depth budget (block nesting).
        "herald::yaml_too_complex" if first.contains("recursion") || first.starts_with("budget breached: Depth ") => {
            format!("the YAML nests deeper than {MAX_YAML_DEPTH} levels")
        }
        "herald::yaml_too_complex" => "the YAML expands to too many values (aliases repeating aliases?)".to_string(),
        _ if first.contains("unknown anchor") => {
            "this alias (`*name`) repeats an anchor (`&name`) that is not defined before it".to_string()
        }
        _ if first.contains("multiple YAML documents") => {
            "the file holds more than one YAML document (a `---` line): a campaign file is one document".to_string()
        }
        "herald::duplicate_key" => duplicate_message(&first_line(&error.to_string())),
        _ => first_line(&error.to_string()),
    };
    let mut diagnostic = Diagnostic::error(code, message).help(help);
    if location.is_some() {
        diagnostic = diagnostic.label(Span::new(offset, next_char(&file.text, offset)), "here");
    }
    diagnostic
}

fn classify(error: &serde_saphyr::Error, message: &str) -> (&'static str, &'static str) {
    let lower = message.to_lowercase();
    if lower.contains("unknown anchor") {
        ("herald::yaml_syntax", "write `&name` on the value to repeat, above this alias, or write the value out")
    } else if lower.contains("multiple yaml documents") {
        ("herald::yaml_syntax", "put each campaign in its own file, or remove the `---` line")
    } else if matches!(error, serde_saphyr::Error::DuplicateMappingKey { .. }) || lower.contains("duplicate") {
        ("herald::duplicate_key", "each key may appear once in a map; remove or rename one of them")
    } else if lower.contains("budget") || lower.contains("alias") || lower.contains("depth") || lower.contains("limit")
    {
        (
            "herald::yaml_too_complex",
            "the YAML nests too deeply or expands too many aliases; write the campaign out plainly",
        )
    } else if lower.contains("tab") {
        ("herald::yaml_syntax", "indent with spaces: YAML does not allow tabs for indentation")
    } else {
        ("herald::yaml_syntax", "check indentation, quotes and colons around this point")
    }
}

fn duplicate_message(message: &str) -> String {
    match message.split_once("duplicate mapping key: ") {
        Some((_, rest)) => format!("duplicate key `{}`", rest.split(", set ").next().unwrap_or(rest)),
        None => message.to_string(),
    }
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr appends "at line X column Y"; the label shows where.
    let line = line.split(" at line ").next().unwrap_or(line);
    line.trim_start_matches("error: ").to_string()
}

/// The scanner reports a tab near the token it was reading (after the tab, or where a plain
/// scalar began on the line before); point at the tab itself, on that line or the next.
fn tab_near(text: &str, offset: usize) -> Option<usize> {
    let offset = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let rest = &text[offset..];
    let window: usize = rest.split_inclusive('\n').take(2).map(str::len).sum();
    rest[..window].find('\t').map(|i| offset + i)
}

fn next_char(text: &str, offset: usize) -> usize {
    text[offset..].chars().next().map_or(offset, |c| offset + c.len_utf8())
}

/// What serde-saphyr fills in; `convert` turns it into `Node`s with byte spans.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<serde_saphyr::Spanned<Raw>>),
    Map(Vec<(serde_saphyr::Spanned<Raw>, serde_saphyr::Spanned<Raw>)>),
}

fn convert(text: &str, raw: serde_saphyr::Spanned<Raw>) -> Node {
    let span = raw.referenced.span();
    let start = span.byte_offset().map_or(0, |o| o as usize).min(text.len());
    let end = (start + span.byte_len().map_or(0, |l| l as usize)).min(text.len());
    let span = Span::new(start, end);
    let kind = match raw.value {
        Raw::Null => Kind::Null,
        Raw::Bool(b) => Kind::Bool(b),
        Raw::Int(i) => Kind::Int(i),
        Raw::Float(f) => Kind::Float(f),
        Raw::Str(s) => Kind::Str(s),
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|i| convert(text, i)).collect()),
        Raw::Map(entries) => {
            Kind::Map(entries.into_iter().map(|(k, v)| (convert(text, k), convert(text, v))).collect())
        }
    };
    // Containers get the span from their first to their last child: serde-saphyr only marks
    // where they open.
    let span = match &kind {
        Kind::Seq(items) => children_span(span, items.iter()),
        Kind::Map(entries) => children_span(span, entries.iter().flat_map(|(k, v)| [k, v])),
        _ => span,
    };
    Node { kind, span }
}

fn children_span<'a>(own: Span, mut children: impl Iterator<Item = &'a Node>) -> Span {
    let Some(first) = children.next() else {
        return own;
    };
    let mut span = first.span;
    for child in children {
        if child.span.end > span.end {
            span.end = child.span.end;
        }
    }
    span
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Float(v as f64))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}
