//! Loading `steps:`, routes and the step actions.

use super::load::Loader;
use super::yaml::{Kind, Node};
use super::*;
use crate::diagnostic::Diagnostic;

impl Loader<'_> {
    pub(super) fn steps(&mut self, node: &Node) -> Vec<Step> {
        match &node.kind {
            Kind::Seq(items) => items.iter().filter_map(|item| self.step(item)).collect(),
            Kind::Null => Vec::new(),
            _ => {
                self.wrong_type(node, "steps", "a list of steps");
                Vec::new()
            }
        }
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let mut f = self.fields(node, "a step")?;
        let present: Vec<(&str, Span)> = f.keys().filter(|(k, _)| keys::ACTIONS.contains(k)).collect();
        if present.len() > 1 {
            let names: Vec<_> = present.iter().map(|(k, _)| format!("`{k}`")).collect();
            let mut diagnostic = Diagnostic::error(
                "herald::multiple_actions",
                format!("a step has more than one action: {}", names.join(", ")),
            )
            .help("split it into one step per action; steps run in list order");
            for (key, span) in &present {
                diagnostic = diagnostic.label(*span, format!("`{key}` action"));
            }
            self.error(diagnostic);
        }
        let action = present.first().and_then(|(key, span)| {
            let value = f.take(key)?;
            self.action(key, value).map(|a| Spanned::new(a, *span))
        });
        for (key, _) in present.iter().skip(1) {
            f.take(key);
        }
        let routes = f.take("routes").map(|n| Spanned::new(self.routes(n, "routes"), n.span));
        let step = Step {
            id: self.text(f.take("id"), "id"),
            name: self.text(f.take("name"), "name"),
            when: self.text(f.take("when"), "when"),
            next: self.text(f.take("next"), "next"),
            routes,
            retry: f.take("retry").and_then(|n| self.retry(n)),
            pacing: {
                let key = f.key_span("pacing");
                f.take("pacing").and_then(|n| self.pacing(n, key, false))
            },
            frequency: self.text(f.take("frequency"), "frequency"),
            action,
            span: node.span,
        };
        if present.is_empty() {
            self.missing_action(&f, node.span);
        }
        let mut known: Vec<&str> = keys::STEP_COMMON.to_vec();
        known.extend_from_slice(keys::ACTIONS);
        self.finish(f, &known, "a step");
        Some(step)
    }

    fn missing_action(&mut self, f: &super::load::Fields<'_>, span: Span) {
        let unknown = f.keys().find(|(k, _)| !keys::STEP_COMMON.contains(k));
        // A misspelt action key is reported as an unknown key with its suggestion already.
        if unknown.is_some_and(|(k, _)| crate::diagnostic::closest(k, keys::ACTIONS.iter().copied()).is_some()) {
            return;
        }
        self.error(
            Diagnostic::error("herald::missing_action", "a step has no action")
                .label(Span::new(span.start, span.start), "this step")
                .help(format!("give it exactly one of: {}", keys::ACTIONS.join(", "))),
        );
    }

    fn action(&mut self, key: &str, node: &Node) -> Option<Action> {
        Some(match key {
            "send" => Action::Send(self.send(node)?),
            "call" => Action::Call(self.call(node)?),
            "wait" => Action::Wait(self.wait(node)?),
            "await" => Action::Await(self.await_(node)?),
            "branch" => Action::Branch(self.routes(node, "branch")),
            "split" => Action::Split(self.arms(node)),
            "set" => Action::Set(self.pairs(Some(node), "set")),
            _ => Action::Exit(self.text(Some(node), "exit")?),
        })
    }

    fn send(&mut self, node: &Node) -> Option<Send> {
        let mut f = self.fields(node, "send")?;
        let mut send = Send {
            channel: self.text(f.take("channel"), "send.channel"),
            to: self.text(f.take("to"), "send.to"),
            from: self.text(f.take("from"), "send.from"),
            body: Body {
                subject: self.text(f.take("subject"), "send.subject"),
                text: self.text(f.take("text"), "send.text"),
                template: self.text(f.take("template"), "send.template"),
                span: node.span,
            },
            variants: Vec::new(),
        };
        if let Some(variants) = f.take("variants") {
            send.variants = self.variants(variants);
        }
        self.finish(f, keys::SEND, "send");
        Some(send)
    }

    fn variants(&mut self, node: &Node) -> Vec<(Text, Body)> {
        let Kind::Map(entries) = &node.kind else {
            self.wrong_type(node, "send.variants", "a map of variant names");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.text(Some(key), "variant name") else {
                continue;
            };
            let Some(mut f) = self.fields(value, "a variant") else {
                continue;
            };
            let body = Body {
                subject: self.text(f.take("subject"), "subject"),
                text: self.text(f.take("text"), "text"),
                template: self.text(f.take("template"), "template"),
                span: value.span,
            };
            self.finish(f, keys::VARIANT, "a variant");
            out.push((name, body));
        }
        out
    }

    fn call(&mut self, node: &Node) -> Option<Call> {
        if matches!(node.kind, Kind::Null) {
            return Some(Call::default());
        }
        let mut f = self.fields(node, "call")?;
        let call = Call {
            channel: self.text(f.take("channel"), "call.channel"),
            agent: self.text(f.take("agent"), "call.agent"),
            from: self.text(f.take("from"), "call.from"),
            to: self.text(f.take("to"), "call.to"),
            prompt: self.text(f.take("prompt"), "call.prompt"),
            max_duration: self.text(f.take("max_duration"), "call.max_duration"),
            voicemail: self.text(f.take("voicemail"), "call.voicemail"),
            retry: f.take("retry").and_then(|n| self.retry(n)),
        };
        self.finish(f, keys::CALL, "call");
        Some(call)
    }

    fn wait(&mut self, node: &Node) -> Option<Wait> {
        if let Kind::Map(_) = node.kind {
            let mut f = self.fields(node, "wait")?;
            let until = self.text(f.take("until"), "wait.until");
            let missing = until.is_none() && f.key_span("until").is_none();
            self.finish(f, keys::WAIT, "wait");
            if missing {
                self.error(
                    Diagnostic::error("herald::missing_key", "`wait` needs a duration or `until`")
                        .label(node.span, "nothing to wait for")
                        .help("write `wait: 2d`, `wait: {until: \"09:00\"}` or `wait: {until: contact.date - 1d}`"),
                );
            }
            return until.map(Wait::Until);
        }
        self.text(Some(node), "wait").map(Wait::For)
    }

    fn await_(&mut self, node: &Node) -> Option<Await> {
        let mut f = self.fields(node, "await")?;
        let awaited = Await {
            reply: self.text(f.take("reply"), "await.reply"),
            event: self.text(f.take("event"), "await.event"),
            timeout: self.text(f.take("timeout"), "await.timeout"),
            span: node.span,
        };
        self.finish(f, keys::AWAIT, "await");
        Some(awaited)
    }

    pub(super) fn routes(&mut self, node: &Node, what: &str) -> Vec<Route> {
        let Kind::Seq(items) = &node.kind else {
            self.wrong_type(node, what, "a list of `- if: … goto: …` routes");
            return Vec::new();
        };
        items.iter().filter_map(|item| self.route(item, what)).collect()
    }

    fn route(&mut self, node: &Node, what: &str) -> Option<Route> {
        let mut f = self.fields(node, &format!("a {what} entry"))?;
        let condition = self.text(f.take("if"), "if");
        let otherwise = self.text(f.take("else"), "else");
        let mut goto = self.text(f.take("goto"), "goto");
        let set = self.pairs(f.take("set"), "set");
        let is_else = otherwise.is_some();
        if is_else {
            if let (Some(condition), Some(_)) = (&condition, &otherwise) {
                self.error(
                    Diagnostic::error("herald::wrong_type", "a route has both `if` and `else`")
                        .label(condition.span, "condition")
                        .help("an `else` route takes no condition: `- else: <step>`"),
                );
            }
            goto = otherwise;
        } else if condition.is_none() {
            self.error(
                Diagnostic::error("herald::missing_key", format!("a {what} entry has neither `if` nor `else`"))
                    .label(Span::at(node.span.start), "route")
                    .help("write `- if: <condition>` with `goto: <step>`, or `- else: <step>` last"),
            );
        }
        self.finish(f, keys::ROUTE, &format!("a {what} entry"));
        Some(Route { condition: if is_else { None } else { condition }, goto, set, span: node.span })
    }

    fn arms(&mut self, node: &Node) -> Vec<Arm> {
        let Kind::Seq(items) = &node.kind else {
            self.wrong_type(node, "split", "a list of `- variant: … weight: … goto: …`");
            return Vec::new();
        };
        items.iter().filter_map(|item| self.arm(item)).collect()
    }

    fn arm(&mut self, node: &Node) -> Option<Arm> {
        let mut f = self.fields(node, "a split variant")?;
        let variant = self.text(f.take("variant"), "variant");
        let weight = f.take("weight").and_then(|w| self.number(w, "weight"));
        let goto = self.text(f.take("goto"), "goto");
        self.finish(f, keys::ARM, "a split variant");
        match (variant, goto) {
            (Some(variant), Some(goto)) => {
                Some(Arm { variant, weight: weight.unwrap_or(Spanned::new(1.0, node.span)), goto, span: node.span })
            }
            _ => {
                self.error(
                    Diagnostic::error("herald::missing_key", "a split variant needs `variant` and `goto`")
                        .label(Span::at(node.span.start), "incomplete variant")
                        .help("write `- { variant: a, weight: 50, goto: offer_a }`"),
                );
                None
            }
        }
    }
}
