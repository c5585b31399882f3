//! Durations, times of day, datetimes, zones, schedules and retry policies.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::Checker;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::expr;
use crate::graph::{RetryPolicy, Schedule, Window};
use crate::syntax::{self, Text};
use crate::vocab::{CallOutcome, MessageOutcome};

const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MAX_ATTEMPTS: i64 = 10;

/// The outcomes a step can end with on a channel, by the channel's usual name.
pub fn outcomes_of(is_call: bool, channel: &str) -> &'static [&'static str] {
    if is_call { CallOutcome::NAMES } else { MessageOutcome::on_channel(channel) }
}

impl Checker<'_> {
    pub fn duration(&mut self, text: &Text, what: &str) -> Option<TimeDelta> {
        match expr::parse_duration(text.value.trim()) {
            Some(d) => Some(d),
            None => {
                let help = if text.value.trim().chars().all(|c| c.is_ascii_digit()) {
                    format!("durations need a unit: `{0}s`, `{0}m`, `{0}h`, `{0}d` or `{0}w`", text.value.trim())
                } else {
                    "write a duration like `30s`, `15m`, `4h`, `2d`, `1w` or `1d12h`".to_string()
                };
                self.push(
                    Diagnostic::error("herald::invalid_duration", format!("`{}` is not a duration", text.value))
                        .label(text.span, format!("invalid {what}"))
                        .help(help),
                );
                None
            }
        }
    }

    pub fn time_of_day(&mut self, text: &str, span: crate::source::Span) -> Option<Option<NaiveTime>> {
        if text == "24:00" {
            return Some(None);
        }
        match parse_hhmm(text) {
            Some(t) => Some(Some(t)),
            None => {
                self.push(
                    Diagnostic::error("herald::invalid_time", format!("`{text}` is not a time of day"))
                        .label(span, "expected HH:MM")
                        .help("write 24-hour times like `09:00` or `17:30`"),
                );
                None
            }
        }
    }

    pub fn timezone(&mut self, text: &Text) -> Option<Tz> {
        if let Ok(tz) = text.value.parse::<Tz>() {
            return Some(tz);
        }
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let help = did_you_mean(&text.value, names)
            .unwrap_or_else(|| "use an IANA zone name such as `America/New_York` or `Europe/Paris`".to_string());
        self.push(
            Diagnostic::error("herald::invalid_timezone", format!("unknown time zone `{}`", text.value))
                .label(text.span, "not an IANA time zone")
                .help(help),
        );
        None
    }

    /// RFC 3339, or a date (midnight in `tz`).
    pub fn datetime(&mut self, text: &Text, tz: Tz) -> Option<DateTime<Utc>> {
        let value = text.value.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
            return Some(dt.with_timezone(&Utc));
        }
        if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            let midnight = date.and_time(NaiveTime::MIN);
            if let Some(dt) = tz.from_local_datetime(&midnight).earliest() {
                return Some(dt.with_timezone(&Utc));
            }
        }
        self.push(
            Diagnostic::error("herald::invalid_datetime", format!("`{value}` is not a date or datetime"))
                .label(text.span, "invalid datetime")
                .help("write `2026-12-01` or `2026-12-01T09:00:00-05:00` (RFC 3339)"),
        );
        None
    }

    pub fn schedule(&mut self, schedule: Option<&syntax::Schedule>) -> Schedule {
        let mut out = Schedule::default();
        let Some(schedule) = schedule else {
            return out;
        };
        if let Some(tz) = schedule.timezone.as_ref().and_then(|t| self.timezone(t)) {
            out.timezone = tz;
        }
        if let Some(span) = schedule.hours_span {
            out.hours = schedule.hours.iter().filter_map(|h| self.window(h)).collect();
            if schedule.hours.is_empty() {
                self.never_opens(span, "no opening hours are listed");
            }
        }
        if let Some(span) = schedule.days_span {
            out.days = self.days(&schedule.days, span);
        }
        out.start = schedule.start.as_ref().and_then(|t| self.datetime(t, out.timezone));
        out.end = schedule.end.as_ref().and_then(|t| self.datetime(t, out.timezone));
        if let (Some(start), Some(end), Some(end_text)) = (out.start, out.end, schedule.end.as_ref())
            && end <= start
        {
            let mut diagnostic = Diagnostic::error("herald::end_before_start", "the campaign ends before it starts")
                .label(end_text.span, "end")
                .help("`schedule.end` must come after `schedule.start`");
            if let Some(start_text) = &schedule.start {
                diagnostic = diagnostic.label(start_text.span, "start");
            }
            self.push(diagnostic);
        }
        out
    }

    fn never_opens(&mut self, span: crate::source::Span, why: &str) {
        self.never_opens_with(span, why, "give at least one range of `hours` (e.g. \"09:00-17:00\") and one day");
    }

    fn never_opens_with(&mut self, span: crate::source::Span, why: &str, help: &str) {
        self.push(
            Diagnostic::error("herald::window_never_opens", format!("the schedule window never opens: {why}"))
                .label(span, why.to_string())
                .help(help.to_string()),
        );
    }

    fn window(&mut self, text: &Text) -> Option<Window> {
        let Some((open, close)) = text.value.split_once('-') else {
            self.push(
                Diagnostic::error("herald::invalid_time", format!("`{}` is not a range of hours", text.value))
                    .label(text.span, "expected HH:MM-HH:MM")
                    .help("write a range like \"09:00-17:00\"; give a list for several ranges"),
            );
            return None;
        };
        let open_time = self.time_of_day(open.trim(), text.span)?;
        let close_time = self.time_of_day(close.trim(), text.span)?;
        let Some(open_time) = open_time else {
            self.never_opens_with(
                text.span,
                "a range cannot open at 24:00",
                "write midnight as 00:00 when a range opens",
            );
            return None;
        };
        if close_time.is_some_and(|close| close <= open_time) {
            self.never_opens_with(
                text.span,
                "this range closes before it opens",
                "for hours past midnight write two ranges, e.g. [\"17:00-24:00\", \"00:00-09:00\"]",
            );
            return None;
        }
        Some(Window { open: open_time, close: close_time })
    }

    fn days(&mut self, days: &[Text], span: crate::source::Span) -> [bool; 7] {
        let mut out = [false; 7];
        for day in days {
            match day.value.as_str() {
                "weekdays" => out[..5].fill(true),
                "weekends" => out[5..].fill(true),
                "every_day" => out.fill(true),
                name => match DAYS.iter().position(|d| *d == name.to_lowercase()) {
                    Some(index) => out[index] = true,
                    None => {
                        let mut choices = DAYS.to_vec();
                        choices.extend(["weekdays", "weekends", "every_day"]);
                        let help = did_you_mean(name, choices.iter().copied())
                            .unwrap_or_else(|| "use weekdays, weekends, every_day or [mon, tue, …]".to_string());
                        self.push(
                            Diagnostic::error("herald::invalid_days", format!("`{name}` is not a day"))
                                .label(day.span, "unknown day")
                                .help(help),
                        );
                        out.fill(true);
                        return out;
                    }
                },
            }
        }
        if !out.contains(&true) {
            self.never_opens(span, "no days are listed");
        }
        out
    }

    /// A retry policy with `base` (the campaign default) filling what `retry` leaves out.
    pub fn retry(
        &mut self,
        retry: &syntax::Retry,
        is_call: bool,
        channel: &str,
        base: Option<&RetryPolicy>,
    ) -> Option<RetryPolicy> {
        let attempts = match &retry.attempts {
            Some(a) if (0..=MAX_ATTEMPTS).contains(&a.value) => a.value as u32,
            Some(a) => {
                self.push(
                    Diagnostic::error("herald::invalid_number", "`retry.attempts` must be between 0 and 10")
                        .label(a.span, "out of range")
                        .help("attempts counts retries after the first try"),
                );
                0
            }
            None => base.map_or(1, |b| b.attempts),
        };
        let intervals: Vec<TimeDelta> = retry.interval.iter().filter_map(|i| self.duration(i, "interval")).collect();
        let intervals = if intervals.is_empty() {
            base.map_or(vec![TimeDelta::hours(1)], |b| b.intervals.clone())
        } else {
            intervals
        };
        let on = match &retry.on {
            Some(on) => self.outcomes(on, is_call, channel),
            None => base.map_or_else(|| default_on(is_call), |b| b.on.clone()),
        };
        let until = match &retry.until {
            Some(text) => self.condition(text, true).map(std::sync::Arc::new),
            None => base.and_then(|b| b.until.clone()),
        };
        Some(RetryPolicy { attempts, intervals, on, until })
    }

    fn outcomes(&mut self, on: &[Text], is_call: bool, channel: &str) -> Vec<String> {
        let produced = outcomes_of(is_call, channel);
        for outcome in on {
            let known = CallOutcome::parse(&outcome.value).is_some() || MessageOutcome::parse(&outcome.value).is_some();
            if !known {
                let all = CallOutcome::NAMES.iter().chain(MessageOutcome::NAMES).copied();
                self.push(
                    Diagnostic::error("herald::unknown_outcome", format!("unknown outcome `{}`", outcome.value))
                        .label(outcome.span, "not an outcome")
                        .help(
                            did_you_mean(&outcome.value, all)
                                .unwrap_or_else(|| format!("outcomes are: {}", produced.join(", "))),
                        ),
                );
            } else if !produced.contains(&outcome.value.as_str()) && !channel.is_empty() {
                let kind = if is_call { "a call".to_string() } else { format!("a message on `{channel}`") };
                self.push(
                    Diagnostic::warning(
                        "herald::retry_outcome_never_produced",
                        format!("{kind} never ends `{}`", outcome.value),
                    )
                    .label(outcome.span, "never happens here")
                    .help(format!("outcomes here are: {}", produced.join(", "))),
                );
            }
        }
        on.iter().map(|o| o.value.clone()).collect()
    }
}

fn default_on(is_call: bool) -> Vec<String> {
    let on: &[&str] = if is_call { &["no_answer", "busy", "failed"] } else { &["failed"] };
    on.iter().map(|s| s.to_string()).collect()
}

pub fn parse_hhmm(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}
