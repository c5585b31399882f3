//! The `expect:` part of a test file: what must hold when a case's clock stops.

use super::format::{CallExpect, EXPECT_KEYS, Expect, Expectation, Parser, SendExpect, Text};
use crate::diagnostic::Diagnostic;
use crate::syntax::yaml::{Kind, Node};

pub const SEND_KEYS: &[&str] = &["step", "channel", "contains", "matches", "local_time", "to", "subject", "from"];
pub const CALL_KEYS: &[&str] = &["step", "local_time", "attempt"];

impl Parser<'_> {
    pub(super) fn expect(&mut self, node: &Node) -> Vec<Expectation> {
        let Some(fields) = self.map(node, "`expect`", EXPECT_KEYS) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, _, value) in fields {
            let kind = match key {
                "path" => match &value.kind {
                    Kind::Seq(items) => Some(Expect::Path(items.iter().filter_map(|i| self.text(i, "path")).collect())),
                    _ => {
                        self.wrong(value, key, "a list of step ids");
                        None
                    }
                },
                "status" => self.text(value, key).map(Expect::Status),
                "outcome" => self.text(value, key).map(Expect::Outcome),
                "sends" => match &value.kind {
                    Kind::Seq(items) => Some(Expect::Sends(items.iter().filter_map(|i| self.send(i)).collect())),
                    _ => self.int(value, key).map(Expect::SendCount),
                },
                "calls" => match &value.kind {
                    Kind::Seq(items) => Some(Expect::CallList(items.iter().filter_map(|i| self.call(i)).collect())),
                    _ => self.int(value, key).map(Expect::Calls),
                },
                "vars" => self.vars(value, key).map(Expect::Vars),
                "variant" => self.text_map(value, key).map(Expect::Variant),
                "in_window" => self.bool(value, key).map(Expect::InWindow),
                _ => self.int(value, key).map(Expect::MaxMessages),
            };
            if let Some(kind) = kind {
                out.push(Expectation { key, span: value.span, kind });
            }
        }
        out
    }

    pub(super) fn text_map(&mut self, node: &Node, what: &str) -> Option<Vec<(Text, Text)>> {
        let Kind::Map(entries) = &node.kind else {
            self.wrong(node, what, "a map of split step ids to variants");
            return None;
        };
        let pairs = entries.iter().filter_map(|(k, v)| Some((self.text(k, what)?, self.text(v, what)?)));
        Some(pairs.collect())
    }

    fn send(&mut self, node: &Node) -> Option<SendExpect> {
        let fields = self.map(node, "a send", SEND_KEYS)?;
        let mut send = SendExpect { span: node.span, ..SendExpect::default() };
        for (key, _, value) in fields {
            let text = self.text(value, key);
            match key {
                "step" => send.step = text,
                "channel" => send.channel = text.map(|t| t.value),
                "contains" => send.contains = text.map(|t| t.value),
                "local_time" => send.local_time = text,
                "to" => send.to = text.map(|t| t.value),
                "subject" => send.subject = text.map(|t| t.value),
                "from" => send.from = text.map(|t| t.value),
                _ => match text.map(|t| regex::Regex::new(&t.value)) {
                    Some(Ok(re)) => send.matches = Some(re),
                    Some(Err(e)) => self.diagnostics.push(
                        Diagnostic::error("herald::test_regex", "`matches` is not a valid regular expression")
                            .label(value.span, "this pattern")
                            .help(e.to_string()),
                    ),
                    None => {}
                },
            }
        }
        Some(send)
    }

    fn call(&mut self, node: &Node) -> Option<CallExpect> {
        let fields = self.map(node, "a call", CALL_KEYS)?;
        let mut call = CallExpect { span: node.span, ..CallExpect::default() };
        for (key, _, value) in fields {
            match key {
                "step" => call.step = self.text(value, key),
                "local_time" => call.local_time = self.text(value, key),
                _ => call.attempt = self.int(value, key),
            }
        }
        Some(call)
    }
}
