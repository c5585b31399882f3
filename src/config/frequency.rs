//! herald.yaml's `policy.frequency`: how many sends and calls one contact may get in a period,
//! across every campaign, and per channel (docs/policy.md, Frequency caps).

use chrono::TimeDelta;

use crate::diagnostic::Diagnostic;
use crate::source::{Span, Spanned};
use crate::syntax::Loader;
use crate::syntax::yaml::{Kind as Yaml, Node};

const FREQUENCY: &[&str] = &["max", "per", "channels"];
const CAP: &[&str] = &["max", "per"];

/// `frequency: { max: 3, per: 1d, channels: { sms: { max: 1, per: 1d } } }`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frequency {
    /// Across every channel.
    pub all: Option<Cap>,
    /// One channel's sends only, by the channel's name (`channel: sms` in a step).
    pub channels: Vec<(Spanned<String>, Cap)>,
}

/// At most `max` actions in any period of length `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cap {
    pub max: u32,
    pub per: TimeDelta,
}

impl Cap {
    /// `3 per 1d`, as the reason of a lead held back.
    pub fn describe(&self) -> String {
        format!("{} per {}", self.max, crate::expr::format_duration(self.per))
    }
}

impl Frequency {
    /// The longest period any cap looks back over: sends older than this count for nothing.
    pub fn longest(&self) -> TimeDelta {
        self.all.iter().chain(self.channels.iter().map(|(_, c)| c)).map(|c| c.per).max().unwrap_or_default()
    }

    /// Whether any cap is set.
    pub fn is_set(&self) -> bool {
        self.all.is_some() || !self.channels.is_empty()
    }
}

/// Reads `policy.frequency`, every problem at its place.
pub(super) fn read(loader: &mut Loader<'_>, node: &Node) -> Option<Frequency> {
    let mut f = loader.fields(node, "policy.frequency")?;
    let has_cap = f.key_span("max").is_some() || f.key_span("per").is_some();
    let all = if has_cap { cap(loader, f.take("max"), f.take("per"), node.span, "policy.frequency") } else { None };
    let mut channels = Vec::new();
    if let Some(node) = f.take("channels")
        && let Some(mut by_name) = loader.fields(node, "policy.frequency.channels")
    {
        let names: Vec<(String, Span)> = by_name.keys().map(|(k, span)| (k.to_string(), span)).collect();
        for (name, span) in names {
            let Some(value) = by_name.take(&name) else { continue };
            let what = format!("policy.frequency.channels.{name}");
            let Some(mut limits) = loader.fields(value, &what) else { continue };
            let cap = cap(loader, limits.take("max"), limits.take("per"), value.span, &what);
            loader.finish(limits, CAP, &what);
            if let Some(cap) = cap {
                channels.push((Spanned::new(name, span), cap));
            }
        }
    }
    loader.finish(f, FREQUENCY, "policy.frequency");
    if !has_cap && channels.is_empty() && matches!(node.kind, Yaml::Map(_)) {
        loader.error(
            Diagnostic::error("herald::missing_key", "`policy.frequency` sets no cap")
                .label(node.span, "no `max`/`per` and no `channels`")
                .help("write e.g. `frequency: { max: 3, per: 1d }`, or leave `frequency` out"),
        );
    }
    let frequency = Frequency { all, channels };
    frequency.is_set().then_some(frequency)
}

/// One `{ max, per }`, both required.
fn cap(loader: &mut Loader<'_>, max: Option<&Node>, per: Option<&Node>, at: Span, what: &str) -> Option<Cap> {
    if max.is_none() || per.is_none() {
        let missing = if max.is_none() { "max" } else { "per" };
        loader.error(
            Diagnostic::error("herald::missing_key", format!("`{what}` has no `{missing}`"))
                .label(at, format!("`{missing}` missing"))
                .help("a cap is both: `{ max: 3, per: 1d }` (at most 3 sends and calls in any day)"),
        );
    }
    let max = loader.int(max, &format!("{what}.max")).and_then(|n| match u32::try_from(n.value) {
        Ok(v) if v > 0 => Some(v),
        _ => {
            loader.error(
                Diagnostic::error(
                    "herald::config_number",
                    format!("`{what}.max` must be a whole number of at least 1"),
                )
                .label(n.span, "out of range")
                .help("to stop every send, pause the campaigns; a cap is at least 1"),
            );
            None
        }
    });
    let per =
        loader.text(per, &format!("{what}.per")).and_then(|text| match crate::expr::parse_duration(&text.value) {
            Some(d) if d > TimeDelta::zero() && d <= TimeDelta::days(366) => Some(d),
            _ => {
                loader.error(
                    Diagnostic::error(
                        "herald::config_duration",
                        format!("`{what}.per` must be a duration like `1h`, `1d` or `7d`, at most a year"),
                    )
                    .label(text.span, "not a period"),
                );
                None
            }
        });
    Some(Cap { max: max?, per: per? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_period_counts_and_caps_describe_themselves() {
        let cap = |max, days| Cap { max, per: TimeDelta::days(days) };
        let f =
            Frequency { all: Some(cap(3, 1)), channels: vec![(Spanned::new("sms".into(), Span::at(0)), cap(5, 7))] };
        assert_eq!(f.longest(), TimeDelta::days(7));
        assert!(f.is_set());
        assert_eq!(cap(3, 1).describe(), "3 per 1d");
        assert!(!Frequency::default().is_set());
    }
}
