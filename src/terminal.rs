//! Text from outside (CSV cells, event fields, rendered messages) on its way to a terminal, with
//! its control characters escaped: a cell must not be able to move the cursor, rewrite the line
//! before it, retitle the window or reverse what follows (ANSI escape sequences, carriage
//! returns, backspaces, bidirectional overrides). Escaped as Rust writes them: `\u{1b}`.
//! Also the one decision whether to colour output (`color`).

use std::borrow::Cow;
use std::io::IsTerminal;

/// Where output goes, for `color`.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether to colour what goes to `stream`: only a terminal, and never with `NO_COLOR` set (to
/// anything, <https://no-color.org>). Every coloured output asks here, so they all agree.
pub fn color(stream: Stream) -> bool {
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    terminal && std::env::var_os("NO_COLOR").is_none()
}

/// `text` with every control character escaped: for one line of output.
pub fn clean(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `clean`, keeping line breaks and tabs: for a message of several lines.
pub fn clean_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, lines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        let kept = lines && matches!(c, '\n' | '\t');
        (c.is_control() && !kept) || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{clean, clean_lines};

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        let cases = [
            ("Ada", "Ada"),
            ("Zoë 🛑 日本", "Zoë 🛑 日本"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("\u{1b}]0;title\u{7}", "\\u{1b}]0;title\\u{7}"),
            ("ok\rFORGED", "ok\\u{d}FORGED"),
            ("a\u{8}b", "a\\u{8}b"),
            ("\u{202e}evil", "\\u{202e}evil"),
            ("two\nlines\tx", "two\\u{a}lines\\u{9}x"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(clean(text), expected, "{text:?}");
        }
        assert_eq!(clean_lines("two\nlines\tx\u{1b}"), "two\nlines\tx\\u{1b}");
    }
}
