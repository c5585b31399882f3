//! Pacing: the campaign's limits, those of `pacing.channels`, and steps' own `pacing`, each
//! resolved to the send and call steps it counts (docs/language.md, Pacing).

use super::Checker;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::graph::{Defaults, NarrowPacing, Pacing, StateId};
use crate::source::Spanned;
use crate::syntax::{self, Action, Campaign};

impl Checker<'_> {
    pub(super) fn pacing(&mut self, campaign: &Campaign, defaults: &Defaults) -> Pacing {
        let acting = self.acting_steps(campaign, defaults);
        let mut pacing = Pacing::default();
        if let Some(syntax) = &campaign.pacing {
            pacing.per_hour = self.limit(syntax.per_hour.as_ref(), "pacing.per_hour");
            pacing.concurrency = self.limit(syntax.concurrency.as_ref(), "pacing.concurrency");
            for (name, limits) in &syntax.channels {
                let what = format!("pacing.channels.{}", name.value);
                let per_hour = self.limit(limits.per_hour.as_ref(), &format!("{what}.per_hour"));
                let concurrency = self.limit(limits.concurrency.as_ref(), &format!("{what}.concurrency"));
                let steps: Vec<StateId> =
                    acting.iter().filter(|(_, channel)| *channel == name.value).map(|(id, _)| *id).collect();
                if steps.is_empty() {
                    self.unused_channel(name, &acting);
                }
                pacing.narrow.push(NarrowPacing {
                    name: format!("channel {}", name.value),
                    per_hour,
                    concurrency,
                    steps,
                });
            }
        }
        for (i, step) in campaign.steps.iter().enumerate() {
            let Some(limits) = &step.pacing else { continue };
            let per_hour = self.limit(limits.per_hour.as_ref(), "pacing.per_hour");
            let concurrency = self.limit(limits.concurrency.as_ref(), "pacing.concurrency");
            let id = StateId(i as u32);
            if !acting.iter().any(|(s, _)| *s == id) {
                self.push(
                    Diagnostic::warning("herald::unused_pacing", "`pacing` on a step that makes no action")
                        .label(limits.span, "paces nothing")
                        .help("only send and call steps act; move `pacing` to the send or call step it should limit"),
                );
                continue;
            }
            pacing.narrow.push(NarrowPacing {
                name: format!("step {}", super::build::step_id(i, step)),
                per_hour,
                concurrency,
                steps: vec![id],
            });
        }
        // A limit with no number left (each reported above) counts nothing.
        pacing.narrow.retain(|n| (n.per_hour.is_some() || n.concurrency.is_some()) && !n.steps.is_empty());
        pacing
    }

    /// The send and call steps, with the channel each acts on.
    fn acting_steps(&mut self, campaign: &Campaign, defaults: &Defaults) -> Vec<(StateId, String)> {
        let mut acting = Vec::new();
        for (i, step) in campaign.steps.iter().enumerate() {
            let channel = match step.action.as_ref().map(|a| &a.value) {
                Some(Action::Send(send)) => self.channel(send.channel.as_ref(), defaults, "sms"),
                Some(Action::Call(call)) => self.channel(call.channel.as_ref(), defaults, "voice"),
                _ => continue,
            };
            acting.push((StateId(i as u32), channel));
        }
        acting
    }

    fn unused_channel(&mut self, name: &syntax::Text, acting: &[(StateId, String)]) {
        let mut used: Vec<&str> = acting.iter().map(|(_, c)| c.as_str()).collect();
        used.sort_unstable();
        used.dedup();
        let help = did_you_mean(&name.value, used.iter().copied()).unwrap_or_else(|| {
            if used.is_empty() {
                "no step sends or calls".to_string()
            } else {
                format!("the steps use: {}", used.join(", "))
            }
        });
        self.push(
            Diagnostic::warning("herald::unused_pacing", format!("no step acts on the channel `{}`", name.value))
                .label(name.span, "paces nothing")
                .help(help),
        );
    }

    fn limit(&mut self, value: Option<&Spanned<i64>>, what: &str) -> Option<u32> {
        let value = value?;
        match u32::try_from(value.value) {
            Ok(v) if v > 0 => Some(v),
            _ => {
                self.push(
                    Diagnostic::error("herald::invalid_number", format!("`{what}` must be a positive whole number"))
                        .label(value.span, "out of range")
                        .help("pacing limits are at least 1"),
                );
                None
            }
        }
    }
}
