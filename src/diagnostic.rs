//! Diagnostics: what `check` reports, and the three ways `validate` prints them.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde_json::json;

use crate::source::{SourceFile, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a file: a stable code, a message, labelled spans and a help line.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: Severity::Error, message: message.into(), labels: Vec::new(), help: None }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push((span, text.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        self.help = help.or(self.help);
        self
    }

    /// Where the diagnostic points: its first label.
    pub fn primary(&self) -> Option<Span> {
        self.labels.first().map(|(span, _)| *span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Collects every problem of one file, so all of them are reported at once.
#[derive(Default, Debug)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// File order, then errors before warnings at the same place.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| (d.primary().map_or(0, |s| s.start), d.severity));
    }
}

/// "did you mean `x`?" for the closest candidate, when one is close enough.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|best| format!("did you mean `{best}`?"))
}

pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let length = lower.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let chars = c.chars().count();
        let allowed = (chars / 3).max(1) + usize::from(c.len() > 6);
        // The distance is at least the difference in length: most candidates stop here.
        if chars.abs_diff(length) > allowed || !spend_suggestion_work() {
            continue;
        }
        let distance = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Comparisons "did you mean" may make per file: a file with 10,000 unknown names among
/// 10,000 ids would otherwise make 100 million. Past it, diagnostics come without a guess.
const SUGGESTION_BUDGET: usize = 1_000_000;

thread_local! {
    static SUGGESTION_WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Start a new file's budget of "did you mean" comparisons.
pub fn reset_suggestion_budget() {
    SUGGESTION_WORK.with(|w| w.set(0));
}

fn spend_suggestion_work() -> bool {
    SUGGESTION_WORK.with(|w| {
        let spent = w.get();
        w.set(spent.saturating_add(1));
        spent < SUGGESTION_BUDGET
    })
}

/// A diagnostic bound to its file, in the shape miette renders.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Excerpt<'a>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.message.fmt(f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.message.fmt(f)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.diagnostic.labels.is_empty() { None } else { Some(&self.source) }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let labels = self.diagnostic.labels.iter().map(|(span, text)| {
            let text = (!text.is_empty()).then(|| text.clone());
            LabeledSpan::new_with_span(text, SourceSpan::from(span.range()))
        });
        Some(Box::new(labels))
    }
}

/// Renders diagnostics for people: miette's graphical report.
pub struct Renderer {
    handler: GraphicalReportHandler,
}

impl Renderer {
    /// `color` for terminals; tests and pipes get plain text at a fixed width.
    pub fn new(color: bool) -> Renderer {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        Renderer { handler }
    }

    pub fn render(&self, file: &SourceFile, diagnostic: &Diagnostic) -> String {
        // miette reads the source from its start for every label; only the lines around the
        // labels are handed over, so 10,000 diagnostics in one file cost linear time.
        let (window, first_line) = window(file, diagnostic);
        let shift = |span: Span| Span::new(span.start - window.start, span.end - window.start);
        let labels = diagnostic.labels.iter().map(|(span, label)| (shift(*span), label.clone())).collect();
        let local = Diagnostic { labels, ..diagnostic.clone() };
        let (text, clipped) = clip_long_lines(&file.text[window], &local);
        let shown = clipped.as_ref().unwrap_or(&local);
        // miette pads to a label's column with a format width, which panics past 65,535: such a
        // label is reported by its line and column, without the snippet.
        let far = shown.labels.iter().any(|(span, _)| column_of(&text, span.start) > MAX_SNIPPET_COLUMN);
        if far {
            let bare = Diagnostic { labels: Vec::new(), ..diagnostic.clone() };
            let (line, column) = file.line_col(diagnostic.primary().unwrap_or_default().start);
            let mut out = self.render_report(&bare, Excerpt { name: &file.name, text, first_line });
            out.push_str(&format!("  at {}:{line}:{column} (the line is too long to show)\n", file.name));
            return out;
        }
        self.render_report(shown, Excerpt { name: &file.name, text, first_line })
    }

    fn render_report(&self, diagnostic: &Diagnostic, source: Excerpt<'_>) -> String {
        let report = Report { diagnostic, source };
        let mut out = String::new();
        if self.handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {} [{}]\n", diagnostic.severity, diagnostic.message, diagnostic.code);
        }
        out
    }
}

/// The whole lines from the one before the first label to the one after the last (miette's
/// one line of context), and the 0-based number of the first.
fn window(file: &SourceFile, diagnostic: &Diagnostic) -> (std::ops::Range<usize>, usize) {
    let len = file.text.len();
    let start = diagnostic.labels.iter().map(|(s, _)| s.start.min(len)).min().unwrap_or(0);
    let end = diagnostic.labels.iter().map(|(s, _)| s.end.min(len)).max().unwrap_or(0);
    let first_line = file.line_of(start).saturating_sub(1);
    let last_line = file.line_of(end) + 1;
    (file.line_start(first_line)..file.line_start(last_line + 1).min(len), first_line)
}

/// A few lines of a file, numbered as in the file.
struct Excerpt<'a> {
    name: &'a str,
    text: String,
    first_line: usize,
}

impl miette::SourceCode for Excerpt<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            inner.column(),
            // miette counts lines from the start of the source here, not of the span.
            inner.line_count() + self.first_line,
        )))
    }
}

/// Labels past this column (in characters) are reported without a snippet.
const MAX_SNIPPET_COLUMN: usize = 60_000;

/// Source lines longer than this (in characters) are cut when rendered.
const MAX_LINE_CHARS: usize = 160;

/// miette prints every source line it shows in full, so one generated or minified line (say
/// 200 KB of brackets) would flood the terminal. Cut such lines a little after the last label
/// on them; only the tail goes, so lines, columns and the labels before the cut stay exact.
fn clip_long_lines(text: &str, diagnostic: &Diagnostic) -> (String, Option<Diagnostic>) {
    if text.split('\n').all(|line| line.len() <= MAX_LINE_CHARS) {
        return (text.to_string(), None);
    }
    const MARK: &str = " …";
    let mut out = String::with_capacity(text.len().min(1 << 16));
    // (offset where a cut starts, bytes removed): sorted by offset.
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let line_end = line_start + body.len();
        let mut keep = byte_index_of_char(body, MAX_LINE_CHARS);
        for (span, _) in &diagnostic.labels {
            if (line_start..=line_end).contains(&span.start) {
                let label_end = span.end.clamp(span.start, line_end) - line_start;
                let after = byte_index_of_char(&body[label_end..], 40);
                keep = keep.max(label_end + after);
            }
        }
        if keep < body.len() {
            out.push_str(&body[..keep]);
            out.push_str(MARK);
            out.push_str(&line[body.len()..]);
            cuts.push((line_start + keep, body.len() - keep));
        } else {
            out.push_str(line);
        }
        line_start += line.len();
    }
    let map = |offset: usize| -> usize {
        let mut shift = 0isize;
        for &(at, removed) in &cuts {
            if offset >= at + removed {
                shift += MARK.len() as isize - removed as isize;
            } else if offset > at {
                return (at as isize + shift) as usize;
            } else {
                break;
            }
        }
        (offset as isize + shift) as usize
    };
    let labels =
        diagnostic.labels.iter().map(|(span, label)| (Span::new(map(span.start), map(span.end)), label.clone()));
    let clipped = Diagnostic { labels: labels.collect(), ..diagnostic.clone() };
    (out, Some(clipped))
}

/// 1-based column, in characters, of a byte offset.
fn column_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    before.rsplit('\n').next().map_or(0, |line| line.chars().count()) + 1
}

/// Byte index of the `n`-th character of `text`, or its length when it is shorter.
fn byte_index_of_char(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
}

/// One JSON object per diagnostic, for tools.
pub fn to_json(file: &SourceFile, diagnostic: &Diagnostic) -> serde_json::Value {
    let position = |offset: usize| {
        let (line, column) = file.line_col(offset);
        json!({ "line": line, "column": column, "offset": offset })
    };
    let labels: Vec<_> = diagnostic
        .labels
        .iter()
        .map(|(span, text)| json!({ "start": position(span.start), "end": position(span.end), "label": text }))
        .collect();
    let (line, column) = diagnostic.primary().map_or((1, 1), |s| file.line_col(s.start));
    json!({
        "file": file.name,
        "code": diagnostic.code,
        "severity": diagnostic.severity.to_string(),
        "message": diagnostic.message,
        "line": line,
        "column": column,
        "labels": labels,
        "help": diagnostic.help,
    })
}

/// A GitHub Actions workflow command, which GitHub shows as an annotation on the pull request.
pub fn to_github(file: &SourceFile, diagnostic: &Diagnostic) -> String {
    let level = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let span = diagnostic.primary().unwrap_or_default();
    let (line, col) = file.line_col(span.start);
    let (end_line, end_col) = file.line_col(span.end);
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message = format!("{message}\nhelp: {help}");
    }
    format!(
        "::{level} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
        escape_property(&file.name),
        escape_property(diagnostic.code),
        escape_data(&message)
    )
}

/// A GitHub Actions notice at a line (`validate --format github`'s informational lines).
pub fn github_notice(file: &SourceFile, offset: usize, message: &str) -> String {
    let (line, col) = file.line_col(offset);
    format!("::notice file={},line={line},col={col}::{}", escape_property(&file.name), escape_data(message))
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(closest("chanel", ["channel", "steps"]), Some("channel"));
        assert_eq!(closest("stpes", ["channel", "steps"]), Some("steps"));
        assert_eq!(closest("zzzzzz", ["channel", "steps"]), None);
    }

    #[test]
    fn suggestions_stop_at_their_budget() {
        reset_suggestion_budget();
        let names: Vec<String> = (0..2_000).map(|i| format!("s{i:04}")).collect();
        let started = std::time::Instant::now();
        let found = (0..2_000).filter(|i| closest(&format!("t{i:04}"), names.iter().map(String::as_str)).is_some());
        assert!(found.count() < 2_000);
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
        reset_suggestion_budget();
        assert_eq!(closest("s0001x", names.iter().map(String::as_str)), Some("s0001"));
    }

    #[test]
    fn long_lines_are_cut_after_the_label() {
        let text = format!("a: 1\nsteps: {}x{}\nb: 2\n", "[".repeat(300), "]".repeat(5000));
        let file = SourceFile::new("long.yaml", text.as_str());
        let at = text.find('x').unwrap();
        let d = Diagnostic::error("herald::yaml_syntax", "bad").label(Span::new(at, at + 1), "here");
        let out = Renderer::new(false).render(&file, &d);
        assert!(out.len() < 2_000, "{} bytes", out.len());
        assert!(out.contains("[long.yaml:2:308]"), "{out}");
        assert!(out.contains("x]]]") && out.contains(" …"), "{out}");
        assert!(out.contains("b: 2"), "{out}");
    }

    #[test]
    fn labels_past_column_65535_are_reported_by_position() {
        let text = format!("a: 1\nb: {}@\n", "x".repeat(70_000));
        let file = SourceFile::new("wide.yaml", text.as_str());
        let at = text.find('@').unwrap();
        let d = Diagnostic::error("herald::yaml_syntax", "unexpected @").label(Span::new(at, at + 1), "here").help("h");
        let out = Renderer::new(false).render(&file, &d);
        assert!(out.contains("unexpected @"), "{out}");
        assert!(out.contains("help: h"), "{out}");
        assert!(out.contains("at wide.yaml:2:70004 (the line is too long to show)"), "{out}");
        assert!(out.len() < 1_000, "{} bytes", out.len());
    }

    #[test]
    fn github_annotation_escapes() {
        let file = SourceFile::new("a,b.yaml", "x: 1\ny: 2\n");
        let d = Diagnostic::error("herald::unknown_key", "bad: 100%").label(Span::new(5, 6), "here");
        assert_eq!(
            to_github(&file, &d),
            "::error file=a%2Cb.yaml,line=2,col=1,endLine=2,endColumn=2,title=herald%3A%3Aunknown_key::bad: 100%25"
        );
    }
}
