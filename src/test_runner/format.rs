//! The test file (`*.test.yaml`): spanned YAML -> `TestFile`, with every problem of its
//! shape reported as a diagnostic (unknown keys with "did you mean", wrong types, a case
//! without expectations). What needs the campaign (step names, variants, contacts) is
//! checked in `check`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::source::{SourceFile, Span, Spanned};
use crate::syntax::yaml::{self, Kind, Node};

pub type Text = Spanned<String>;

pub struct TestFile {
    pub file: SourceFile,
    /// The campaign, resolved against the test file's folder.
    pub campaign: Option<Spanned<PathBuf>>,
    pub start: Option<Text>,
    pub until: Option<Text>,
    pub contacts: Contacts,
    pub cases: Vec<Case>,
}

/// Contacts as CSV columns and rows (inline rows, or the rows of a CSV file).
#[derive(Default)]
pub struct Contacts {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub span: Span,
}

pub struct Case {
    pub name: Text,
    pub contact: Option<Text>,
    pub start: Option<Text>,
    /// This case's own end of the clock (else the file's `until`).
    pub until: Option<Text>,
    /// Split step id -> the variant this case's contact is put in.
    pub variants: Vec<(Text, Text)>,
    pub events: Vec<ScriptEvent>,
    pub expect: Vec<Expectation>,
}

/// One scripted answer (`step:`/`reply:`/`call:`/`delivery:`) or an input at a time (`at:`).
#[derive(Default)]
pub struct ScriptEvent {
    pub span: Span,
    pub step: Option<Text>,
    pub attempt: Option<Spanned<i64>>,
    pub call: Option<Text>,
    pub vars: Option<Map<String, Json>>,
    pub reply: Option<(Option<String>, Option<String>, Span)>,
    pub delivery: Option<Text>,
    pub after: Option<Text>,
    pub at: Option<Text>,
    pub event: Option<Text>,
    pub opt_out: bool,
}

pub struct Expectation {
    /// The key as written (`status`, `sends`, …): the span is its value's.
    pub key: &'static str,
    pub span: Span,
    pub kind: Expect,
}

pub enum Expect {
    Path(Vec<Text>),
    Status(Text),
    Outcome(Text),
    SendCount(i64),
    Sends(Vec<SendExpect>),
    Calls(i64),
    CallList(Vec<CallExpect>),
    Vars(Map<String, Json>),
    Variant(Vec<(Text, Text)>),
    InWindow(bool),
    MaxMessages(i64),
}

#[derive(Default)]
pub struct SendExpect {
    pub span: Span,
    pub step: Option<Text>,
    pub channel: Option<String>,
    pub contains: Option<String>,
    pub matches: Option<regex::Regex>,
    pub local_time: Option<Text>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
}

/// One entry of `calls: [ … ]`.
#[derive(Default)]
pub struct CallExpect {
    pub span: Span,
    pub step: Option<Text>,
    /// `09:00` or with the weekday, `Mon 09:00`, in the contact's time zone.
    pub local_time: Option<Text>,
    pub attempt: Option<i64>,
}

pub const FILE_KEYS: &[&str] = &["campaign", "start", "until", "contacts", "cases"];
pub const CASE_KEYS: &[&str] = &["name", "contact", "start", "until", "variants", "events", "expect"];
pub const EVENT_KEYS: &[&str] =
    &["step", "attempt", "call", "vars", "reply", "delivery", "after", "at", "event", "opt_out"];
pub const REPLY_KEYS: &[&str] = &["text", "intent"];
pub const EXPECT_KEYS: &[&str] =
    &["path", "status", "outcome", "sends", "calls", "vars", "variant", "in_window", "max_messages"];

/// Parse a test file; `diagnostics` gets every problem of its shape.
pub fn parse(file: SourceFile, diagnostics: &mut Vec<Diagnostic>) -> TestFile {
    let dir = Path::new(&file.name).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut test =
        TestFile { file, campaign: None, start: None, until: None, contacts: Contacts::default(), cases: vec![] };
    let root = match yaml::parse(&test.file) {
        Ok(root) => root,
        Err(d) => {
            diagnostics.push(d);
            return test;
        }
    };
    let mut p = Parser { diagnostics, dir };
    let Some(fields) = p.map(&root, "the test file", FILE_KEYS) else { return test };
    for (key, key_span, value) in fields {
        match key {
            "campaign" => {
                test.campaign = p.text(value, key).map(|t| Spanned::new(p.dir.join(&t.value), t.span));
            }
            "start" => test.start = p.text(value, key),
            "until" => test.until = p.text(value, key),
            "contacts" => test.contacts = p.contacts(value),
            "cases" => match &value.kind {
                Kind::Seq(items) => test.cases = items.iter().filter_map(|c| p.case(c)).collect(),
                _ => p.wrong(value, "cases", "a list of cases"),
            },
            _ => unreachable!("{key} {key_span:?}"),
        }
    }
    let fine = !p.diagnostics.iter().any(Diagnostic::is_error);
    for (key, missing) in [("campaign", test.campaign.is_none()), ("cases", test.cases.is_empty())] {
        if missing && fine {
            p.diagnostics.push(
                Diagnostic::error("herald::test_missing_key", format!("the test file has no `{key}`"))
                    .label(Span::new(root.span.start, root.span.start), "")
                    .help("a test file needs `campaign:` (the file to test) and `cases:`; see docs/testing.md"),
            );
        }
    }
    test
}

pub(super) struct Parser<'d> {
    pub diagnostics: &'d mut Vec<Diagnostic>,
    dir: PathBuf,
}

impl Parser<'_> {
    pub(super) fn wrong(&mut self, node: &Node, what: &str, expected: &str) {
        let message = format!("`{what}` must be {expected}, found {}", node.describe());
        self.diagnostics
            .push(Diagnostic::error("herald::wrong_type", message).label(node.span, format!("expected {expected}")));
    }

    /// The entries of a map with known keys; unknown keys are reported (and left out).
    pub(super) fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&'static str],
    ) -> Option<Vec<(&'static str, Span, &'n Node)>> {
        let Kind::Map(entries) = &node.kind else {
            self.wrong(node, what, "a map");
            return None;
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let name = key.as_text().unwrap_or_default();
            match known.iter().find(|k| **k == name) {
                Some(k) => out.push((*k, key.span, value)),
                None => {
                    let help = did_you_mean(&name, known.iter().copied())
                        .unwrap_or_else(|| format!("{what} accepts: {}", known.join(", ")));
                    self.diagnostics.push(
                        Diagnostic::error("herald::unknown_key", format!("unknown key `{name}` in {what}"))
                            .label(key.span, "unknown key")
                            .help(help),
                    );
                }
            }
        }
        Some(out)
    }

    pub(super) fn text(&mut self, node: &Node, what: &str) -> Option<Text> {
        match (&node.kind, node.as_text()) {
            (Kind::Null, _) | (_, None) => {
                self.wrong(node, what, "a string");
                None
            }
            (_, Some(text)) => Some(Spanned::new(text, node.span)),
        }
    }

    pub(super) fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        match node.kind {
            Kind::Int(i) if i >= 0 => Some(i),
            _ => {
                self.wrong(node, what, "a whole number of 0 or more");
                None
            }
        }
    }

    pub(super) fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.wrong(node, what, "true or false");
                None
            }
        }
    }

    pub(super) fn vars(&mut self, node: &Node, what: &str) -> Option<Map<String, Json>> {
        match to_json(node) {
            Json::Object(map) => Some(map),
            _ => {
                self.wrong(node, what, "a map of names to values");
                None
            }
        }
    }

    fn contacts(&mut self, node: &Node) -> Contacts {
        let mut contacts = Contacts { span: node.span, ..Contacts::default() };
        if let Kind::Str(path) = &node.kind {
            let path = self.dir.join(path);
            match read_csv(&path) {
                Ok((header, rows)) => (contacts.header, contacts.rows) = (header, rows),
                Err(e) => self.diagnostics.push(
                    Diagnostic::error("herald::test_contacts", format!("cannot read {}: {e}", path.display()))
                        .label(node.span, "this file"),
                ),
            }
            return contacts;
        }
        let Kind::Seq(items) = &node.kind else {
            self.wrong(node, "contacts", "a list of contacts or a CSV file name");
            return contacts;
        };
        let mut rows: Vec<Vec<(String, String)>> = Vec::new();
        for item in items {
            let Kind::Map(entries) = &item.kind else {
                self.wrong(item, "contacts", "a map of column names to values");
                continue;
            };
            let mut row = Vec::new();
            for (key, value) in entries {
                let column = key.as_text().unwrap_or_default();
                let text = match &value.kind {
                    Kind::Null => Some(String::new()),
                    _ => value.as_text(),
                };
                match text {
                    Some(text) => row.push((column.clone(), text)),
                    None => self.wrong(value, &column, "a value (text, number, date or boolean)"),
                }
                if !contacts.header.contains(&column) {
                    contacts.header.push(column);
                }
            }
            rows.push(row);
        }
        contacts.rows = rows
            .into_iter()
            .map(|row| {
                let value = |c: &String| row.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default();
                contacts.header.iter().map(value).collect()
            })
            .collect();
        contacts
    }

    fn case(&mut self, node: &Node) -> Option<Case> {
        let fields = self.map(node, "a case", CASE_KEYS)?;
        let mut case = Case {
            name: Spanned::new(String::new(), node.span),
            contact: None,
            start: None,
            until: None,
            variants: Vec::new(),
            events: Vec::new(),
            expect: Vec::new(),
        };
        let mut expect_span = None;
        let mut expect_problems = false;
        for (key, key_span, value) in fields {
            match key {
                "name" => case.name = self.text(value, key)?,
                "contact" => case.contact = self.text(value, key),
                "start" => case.start = self.text(value, key),
                "until" => case.until = self.text(value, key),
                "variants" => case.variants = self.text_map(value, key).unwrap_or_default(),
                "events" => match &value.kind {
                    Kind::Seq(items) => case.events = items.iter().filter_map(|e| self.event(e)).collect(),
                    Kind::Null => {}
                    _ => self.wrong(value, "events", "a list of events"),
                },
                _ => {
                    expect_span = Some(key_span);
                    let before = self.diagnostics.len();
                    case.expect = self.expect(value);
                    expect_problems = self.diagnostics.len() > before;
                }
            }
        }
        if case.name.value.is_empty() {
            self.diagnostics.push(
                Diagnostic::error("herald::test_missing_key", "a case needs a `name`")
                    .label(Span::new(node.span.start, node.span.start), "this case"),
            );
            return None;
        }
        if case.expect.is_empty() && !expect_problems {
            self.diagnostics.push(
                Diagnostic::error("herald::test_no_expectation", format!("case `{}` expects nothing", case.name.value))
                    .label(expect_span.unwrap_or(case.name.span), "a case needs `expect:`")
                    .help(format!("give at least one of: {}", EXPECT_KEYS.join(", "))),
            );
        }
        Some(case)
    }

    fn event(&mut self, node: &Node) -> Option<ScriptEvent> {
        let fields = self.map(node, "an event", EVENT_KEYS)?;
        let mut event = ScriptEvent { span: node.span, ..ScriptEvent::default() };
        for (key, _, value) in fields {
            match key {
                "step" => event.step = self.text(value, key),
                "attempt" => event.attempt = self.int(value, key).map(|i| Spanned::new(i, value.span)),
                "call" => event.call = self.text(value, key),
                "vars" => event.vars = self.vars(value, key),
                "delivery" => event.delivery = self.text(value, key),
                "after" => event.after = self.text(value, key),
                "at" => event.at = self.text(value, key),
                "event" => event.event = self.text(value, key),
                "opt_out" => event.opt_out = self.bool(value, key).unwrap_or(false),
                _ => {
                    event.reply = match &value.kind {
                        Kind::Map(_) => {
                            let fields = self.map(value, "a reply", REPLY_KEYS)?;
                            let mut reply = (None, None, value.span);
                            for (k, _, v) in fields {
                                let text = self.text(v, k).map(|t| t.value);
                                if k == "text" { reply.0 = text } else { reply.1 = text }
                            }
                            Some(reply)
                        }
                        _ => self.text(value, key).map(|t| (Some(t.value), None, t.span)),
                    }
                }
            }
        }
        // Without `at`, a named `event` answers a step's action (it follows it `after`), as a
        // responses file's `event:` rule does.
        let answers = event.call.is_some() || event.delivery.is_some() || event.reply.is_some();
        let inputs = event.event.is_some() || event.opt_out;
        let problem = match (&event.at, answers, inputs) {
            (None, _, _) if event.opt_out => Some("`opt_out` needs `at`: the time it happens"),
            (None, _, _) if event.event.is_some() && event.call.is_some() => {
                Some("a named `event` and a `call` answer need an event each: `vars` would belong to both")
            }
            (None, false, false) => Some(
                "an event needs `call`, `reply`, `delivery` or `event` (or `at` with `event`, `reply` or `opt_out`)",
            ),
            (Some(_), _, _) if event.step.is_some() || event.attempt.is_some() => {
                Some("an event `at` a time happens whatever the step: leave out `step` and `attempt`")
            }
            (Some(_), _, _) if event.call.is_some() || event.delivery.is_some() => {
                Some("`call` and `delivery` answer a step; they take `step` (and `attempt`), not `at`")
            }
            (Some(_), false, false) if event.reply.is_none() => {
                Some("give `event`, `reply` or `opt_out: true` with `at`")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            self.diagnostics.push(Diagnostic::error("herald::test_event", problem).label(node.span, "this event"));
            return None;
        }
        Some(event)
    }
}

/// A YAML node as JSON (for `vars`).
pub fn to_json(node: &Node) -> Json {
    match &node.kind {
        Kind::Null => Json::Null,
        Kind::Bool(b) => Json::Bool(*b),
        Kind::Int(i) => Json::from(*i),
        Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Kind::Str(s) => Json::String(s.clone()),
        Kind::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (k.as_text().unwrap_or_default(), to_json(v))).collect())
        }
    }
}

/// The most rows of a test's contacts CSV: a test needs a few contacts, and every row is held
/// in memory for the cases.
const MAX_TEST_ROWS: usize = 100_000;

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let limited = crate::bounded::LineLimit::new(std::io::BufReader::new(file), crate::bounded::MAX_LINE_BYTES);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(limited);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        if rows.len() == MAX_TEST_ROWS {
            return Err(format!("more than {MAX_TEST_ROWS} rows (the limit for a test's contacts)"));
        }
        rows.push((0..header.len()).map(|i| record.get(i).unwrap_or("").to_string()).collect());
    }
    Ok((header, rows))
}
