//! Source files and byte spans. Every diagnostic points into a `SourceFile` through a `Span`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A byte range in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end: end.max(start) }
    }

    pub fn at(offset: usize) -> Span {
        Span::new(offset, offset)
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// A value with the span it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// A file's name (as given on the command line) and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Byte offset of each line's start, made on first use: a file with 10,000 diagnostics
    /// would otherwise be scanned from its start for each one.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into(), line_starts: std::sync::OnceLock::new() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset);
        let line = self.line_of(offset);
        let line_start = self.line_start(line);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// 0-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&start| start <= offset).saturating_sub(1)
    }

    /// Byte offset where a 0-based line starts (the text's length past the last line).
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts().get(line).copied().unwrap_or(self.text.len())
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts
            .get_or_init(|| std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
}

impl SourceFile {
    /// Byte offset of a 1-based line and character column (clamped to the text).
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let start = self.line_start(line.saturating_sub(1));
        let rest = &self.text[start.min(self.text.len())..];
        let within: usize = rest.chars().take(column.saturating_sub(1)).map(char::len_utf8).sum();
        (start + within).min(self.text.len())
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Maps byte offsets inside a YAML scalar's *value* back to the file.
///
/// serde-saphyr gives the span of the scalar as written: for quoted scalars it starts at the
/// quote, for block scalars (`|`, `>`) at the first content character. The value differs from
/// the written text by quotes, escapes, indentation and folding, so we walk both in step: each
/// value character is matched to the next written character that can produce it.
pub struct ScalarMap {
    /// `starts[i]..ends[i]` is the written text that produced value byte `i`.
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// Where the written scalar continues after the value's last character.
    tail: usize,
}

impl ScalarMap {
    pub fn new(file_text: &str, scalar: Span, value: &str) -> ScalarMap {
        let written = &file_text[scalar.start.min(file_text.len())..];
        let bytes = written.as_bytes();
        let double = bytes.first() == Some(&b'"');
        let single = bytes.first() == Some(&b'\'');
        let mut pos = usize::from(double || single);
        let mut starts = Vec::with_capacity(value.len());
        let mut ends = Vec::with_capacity(value.len());
        for ch in value.chars() {
            pos = Self::find(written, pos, ch, double);
            let end = Self::consume(written, pos, ch, double, single);
            for _ in 0..ch.len_utf8() {
                starts.push(scalar.start + pos.min(written.len()));
                ends.push(scalar.start + end.min(written.len()));
            }
            pos = end;
        }
        let tail = scalar.start + pos.min(written.len());
        ScalarMap { starts, ends, tail }
    }

    /// Position of the written text that produces `ch`, at or after `pos`.
    fn find(written: &str, mut pos: usize, ch: char, double: bool) -> usize {
        let limit = (pos + 256).min(written.len());
        let start = pos;
        while pos < limit {
            let Some(c) = written[pos..].chars().next() else {
                break;
            };
            if double && c == '\\' {
                return pos;
            }
            if c == ch || (ch.is_whitespace() && c.is_whitespace()) {
                return pos;
            }
            pos += c.len_utf8();
        }
        start
    }

    /// Position after the written text that produced `ch` at `pos`.
    fn consume(written: &str, pos: usize, ch: char, double: bool, single: bool) -> usize {
        let rest = &written[pos.min(written.len())..];
        let Some(c) = rest.chars().next() else {
            return pos;
        };
        if double && c == '\\' {
            let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
            let extra = match rest[1..].chars().next() {
                Some('x') => 2,
                Some('u') => 4,
                Some('U') => 8,
                _ => 0,
            };
            return pos + 1 + escaped + extra;
        }
        // `''` is one quote only inside a single-quoted scalar.
        if single && c == '\'' && ch == '\'' && rest[1..].starts_with('\'') {
            return pos + 2;
        }
        pos + c.len_utf8()
    }

    /// The file span of a byte range of the value.
    pub fn span(&self, range: Range<usize>) -> Span {
        let start = self.starts.get(range.start).copied().unwrap_or(self.tail);
        if range.end <= range.start {
            return Span::at(start);
        }
        let end = self.ends.get(range.end - 1).copied().unwrap_or(self.tail);
        Span::new(start, end)
    }
}

/// The quoted literals (`"…"`, `'…'`, with backslash escapes) of a condition or a template
/// tag, quotes included. One that never closes runs to the end and is also `unclosed`.
pub struct Quoted {
    pub spans: Vec<Range<usize>>,
    pub unclosed: Option<usize>,
}

impl Quoted {
    pub fn scan(text: &str) -> Quoted {
        let mut spans = Vec::new();
        let mut open: Option<(usize, char)> = None;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match open {
                Some(_) if escaped => escaped = false,
                Some(_) if c == '\\' => escaped = true,
                Some((start, q)) if c == q => {
                    spans.push(start..i + 1);
                    open = None;
                }
                Some(_) => {}
                None if c == '"' || c == '\'' => open = Some((i, c)),
                None => {}
            }
        }
        let unclosed = open.map(|(start, _)| start);
        spans.extend(unclosed.map(|start| start..text.len()));
        Quoted { spans, unclosed }
    }

    /// Whether byte `at` is inside a literal.
    pub fn contains(&self, at: usize) -> bool {
        self.spans.iter().any(|span| span.contains(&at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(text: &str, needle: &str, value: &str, sub: &str) -> String {
        let start = text.find(needle).unwrap();
        let map = ScalarMap::new(text, Span::new(start, start + needle.len()), value);
        let at = value.find(sub).unwrap();
        let span = map.span(at..at + sub.len());
        text[span.range()].to_string()
    }

    #[test]
    fn quoted_literals_with_escapes_and_an_unclosed_one() {
        let text = r#"a == "x\"y" or b == 'it' and "open"#;
        let quoted = Quoted::scan(text);
        let literals: Vec<&str> = quoted.spans.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(literals, [r#""x\"y""#, "'it'", "\"open"]);
        assert_eq!(quoted.unclosed, Some(text.len() - 5));
        assert!(quoted.contains(6) && !quoted.contains(0));
    }

    #[test]
    fn plain_scalar() {
        assert_eq!(located("if: a == bee\n", "a == bee", "a == bee", "bee"), "bee");
    }

    #[test]
    fn double_quoted_with_escapes() {
        let text = r#"if: "x == \"yo\" and zed""#;
        assert_eq!(located(text, r#""x =="#, r#"x == "yo" and zed"#, "zed"), "zed");
        assert_eq!(located(text, r#""x =="#, r#"x == "yo" and zed"#, "yo"), "yo");
    }

    #[test]
    fn single_quoted_with_doubled_quote() {
        let text = "if: 'a == ''it''s'' or bob'";
        assert_eq!(located(text, "'a ==", "a == 'it's' or bob", "bob"), "bob");
    }

    #[test]
    fn doubled_quotes_are_literal_outside_single_quotes() {
        let text = "when: |\n  a == \"it''s\" and zed\n";
        let start = text.find("a ==").unwrap();
        let value = "a == \"it''s\" and zed\n";
        let map = ScalarMap::new(text, Span::new(start, text.len()), value);
        let at = value.find("zed").unwrap();
        assert_eq!(&text[map.span(at..at + 3).range()], "zed");
        let text = r#"when: "a == 'it''s' and zed""#;
        assert_eq!(located(text, "\"a ==", "a == 'it''s' and zed", "zed"), "zed");
    }

    #[test]
    fn literal_block() {
        let text = "if: |\n  a == 1\n  and  flag\n";
        let start = text.find("a ==").unwrap();
        let map = ScalarMap::new(text, Span::new(start, text.len()), "a == 1\nand  flag\n");
        let span = map.span(12..16);
        assert_eq!(&text[span.range()], "flag");
    }

    #[test]
    fn folded_block() {
        let text = "if: >\n    a == 1\n    and flag\n";
        let start = text.find("a ==").unwrap();
        let map = ScalarMap::new(text, Span::new(start, text.len()), "a == 1 and flag\n");
        let span = map.span(11..15);
        assert_eq!(&text[span.range()], "flag");
    }

    #[test]
    fn line_col_counts_characters() {
        let file = SourceFile::new("x", "é: 1\nab: 2");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(2), (1, 2));
        assert_eq!(file.line_col(3), (1, 3));
        assert_eq!(file.line_col(7), (2, 2));
    }
}
