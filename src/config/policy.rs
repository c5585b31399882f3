//! herald.yaml's `policy:`, rules that hold across every campaign: quiet hours in the
//! contact's local time, frequency caps per contact (`frequency.rs`), and compliance checks
//! switched off with a reason (docs/policy.md).

use chrono::NaiveTime;

use crate::diagnostic::Diagnostic;
use crate::source::{Span, Spanned};
use crate::syntax::yaml::{Kind as Yaml, Node};
use crate::syntax::{CheckOff, Loader, keys};

const POLICY: &[&str] = &["quiet_hours", "frequency", "checks"];

/// `policy:`; the default is no policy at all.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub quiet_hours: Option<QuietHours>,
    pub frequency: Option<super::Frequency>,
    /// Compliance checks switched off for every campaign, each with its reason.
    pub checks_off: Vec<CheckOff>,
}

/// `quiet_hours: "21:00-08:00"`: `start > end` spans midnight; the two are never equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Where herald.yaml says so.
    pub span: Span,
}

impl QuietHours {
    /// Whether the quiet hours take in every minute from `from` to `to` (across midnight when
    /// `from > to`), e.g. the hours outside US calling hours.
    pub fn covers(&self, from: NaiveTime, to: NaiveTime) -> bool {
        let wraps = self.start > self.end;
        match (wraps, from > to) {
            (true, true) => self.start <= from && to <= self.end,
            (true, false) => to <= self.end || self.start <= from,
            (false, true) => false,
            (false, false) => self.start <= from && to <= self.end,
        }
    }

    /// `HH:MM-HH:MM`, `24:00` allowed as an end (midnight).
    pub fn parse(text: &str) -> Result<(NaiveTime, NaiveTime), &'static str> {
        let (start, end) = text.split_once('-').ok_or("expected HH:MM-HH:MM")?;
        let time = |t: &str| {
            let t = t.trim();
            if t == "24:00" {
                return Some(NaiveTime::MIN);
            }
            let (h, m) = t.split_once(':')?;
            let ok = h.len() == 2 && m.len() == 2 && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit());
            ok.then(|| NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)).flatten()
        };
        let (Some(start), Some(end)) = (time(start), time(end)) else {
            return Err("expected HH:MM-HH:MM");
        };
        if start == end {
            return Err("the quiet hours start and end at the same time");
        }
        Ok((start, end))
    }
}

/// Reads `policy:`, every problem at its place.
pub(super) fn read(loader: &mut Loader<'_>, node: &Node) -> Policy {
    let Some(mut f) = loader.fields(node, "policy") else { return Policy::default() };
    let quiet_hours = f.take("quiet_hours").and_then(|n| quiet_hours(loader, n));
    let frequency = f.take("frequency").and_then(|n| super::frequency::read(loader, n));
    let checks_off = f.take("checks").map(|n| checks(loader, n)).unwrap_or_default();
    loader.finish(f, POLICY, "policy");
    Policy { quiet_hours, frequency, checks_off }
}

fn quiet_hours(loader: &mut Loader<'_>, node: &Node) -> Option<QuietHours> {
    let text = loader.text(Some(node), "policy.quiet_hours")?;
    match QuietHours::parse(&text.value) {
        Ok((start, end)) => Some(QuietHours { start, end, span: node.span }),
        Err(why) => {
            loader.error(
                Diagnostic::error(
                    "herald::config_quiet_hours",
                    format!("`policy.quiet_hours` `{}` is not a range of local hours", text.value),
                )
                .label(node.span, why)
                .help("write e.g. \"21:00-08:00\" (contact-local time; past midnight is allowed)"),
            );
            None
        }
    }
}

/// `checks: { <check>: on | { off: "<reason>" } }`; unknown names are reported by `finish`.
fn checks(loader: &mut Loader<'_>, node: &Node) -> Vec<CheckOff> {
    let Some(mut fields) = loader.fields(node, "policy.checks") else { return Vec::new() };
    let names: Vec<(String, Span)> = fields.keys().map(|(k, span)| (k.to_string(), span)).collect();
    let mut out = Vec::new();
    for (name, key_span) in names {
        if !keys::CHECKS.contains(&name.as_str()) {
            continue;
        }
        let Some(value) = fields.take(&name) else { continue };
        let what = format!("policy.checks.{name}");
        let bare_off = match &value.kind {
            Yaml::Str(word) if word == "on" => continue,
            Yaml::Bool(true) => continue,
            Yaml::Str(word) => word == "off",
            Yaml::Bool(false) | Yaml::Null => true,
            _ => false,
        };
        if bare_off {
            missing_reason(loader, &what, &name, key_span);
            continue;
        }
        if !matches!(value.kind, Yaml::Map(_)) {
            loader.wrong_type(value, &what, "`on` or `{ off: \"<reason>\" }`");
            continue;
        }
        let Some(mut f) = loader.fields(value, &what) else { continue };
        let off = f.take("off");
        let reason = loader.text(off, &format!("{what}.off"));
        loader.finish(f, keys::CHECK, &what);
        match reason {
            Some(reason) if !reason.value.trim().is_empty() => {
                out.push(CheckOff { name: Spanned::new(name, key_span), reason })
            }
            // A reason of the wrong type is reported as such already.
            None if off.is_some_and(|n| !matches!(n.kind, Yaml::Null)) => {}
            _ => missing_reason(loader, &what, &name, key_span),
        }
    }
    loader.finish(fields, keys::CHECKS, "policy.checks");
    out
}

fn missing_reason(loader: &mut Loader<'_>, what: &str, name: &str, key_span: Span) {
    loader.error(
        Diagnostic::error("herald::missing_key", format!("`{what}` is switched off without a reason"))
            .label(key_span, "no reason given")
            .help(format!("write `{name}: {{ off: \"why this rule does not apply to any campaign\" }}`")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn parses_ranges_and_refuses_the_rest() {
        assert_eq!(QuietHours::parse("21:00-08:00"), Ok((t(21, 0), t(8, 0))));
        assert_eq!(QuietHours::parse(" 22:30 - 24:00 "), Ok((t(22, 30), t(0, 0))));
        assert!(QuietHours::parse("21:00").is_err());
        assert!(QuietHours::parse("9:00-17:00").is_err());
        assert!(QuietHours::parse("25:00-08:00").is_err());
        assert!(QuietHours::parse("08:00-08:00").is_err());
        assert!(QuietHours::parse("00:00-24:00").is_err());
    }

    #[test]
    fn covers_the_calling_hours_gap_only_when_wide_enough() {
        let quiet = |s, e| QuietHours { start: s, end: e, span: Span::at(0) };
        let (nine_pm, eight_am) = (t(21, 0), t(8, 0));
        assert!(quiet(t(21, 0), t(8, 0)).covers(nine_pm, eight_am));
        assert!(quiet(t(20, 0), t(9, 0)).covers(nine_pm, eight_am));
        assert!(!quiet(t(22, 0), t(8, 0)).covers(nine_pm, eight_am));
        assert!(!quiet(t(21, 0), t(7, 0)).covers(nine_pm, eight_am));
        assert!(!quiet(t(0, 0), t(23, 0)).covers(nine_pm, eight_am));
        assert!(quiet(t(1, 0), t(3, 0)).covers(t(1, 30), t(2, 0)));
    }
}
