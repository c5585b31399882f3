//! Run-time values of conditions, and durations as written in campaign files.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Duration(TimeDelta),
    DateTime(DateTime<Utc>),
    List(Vec<Value>),
}

impl Value {
    /// A JSON value (contact fields, variables, `data:`) as a condition value. Objects have no
    /// condition type and read as `null`; reach into them with a longer path.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null | serde_json::Value::Object(_) => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map_or(Value::Null, Value::Number),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
        }
    }

    /// Follow `fields` into a JSON value: `company.name` in `data:`.
    pub fn from_json_path(json: &serde_json::Value, fields: &[String]) -> Value {
        let mut at = json;
        for field in fields {
            match at.get(field) {
                Some(next) => at = next,
                None => return Value::Null,
            }
        }
        Value::from_json(at)
    }

    /// The value as JSON, for storing variables set by `set`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, |n| {
                if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9e15) {
                    serde_json::Value::from(n.as_f64().unwrap_or_default() as i64)
                } else {
                    serde_json::Value::Number(n)
                }
            }),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Duration(d) => serde_json::Value::String(format_duration(*d)),
            Value::DateTime(t) => serde_json::Value::String(t.to_rfc3339()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
        }
    }

    /// The value as `Display` writes it, without the formatting machinery for the values a
    /// condition reads most (null, a bool, a whole number, plain text): `explain` records one
    /// per path a condition read, for every lead that reaches it.
    pub fn to_text(&self) -> compact_str::CompactString {
        use compact_str::{CompactString, ToCompactString};
        match self {
            Value::Null => CompactString::const_new("null"),
            Value::Bool(true) => CompactString::const_new("true"),
            Value::Bool(false) => CompactString::const_new("false"),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => (*n as i64).to_compact_string(),
            // `{s:?}` escapes only `"`, `\`, control and unprintable characters: none of them in
            // printable ASCII but the two.
            Value::String(s) if s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') => {
                let mut text = CompactString::with_capacity(s.len() + 2);
                text.push('"');
                text.push_str(s);
                text.push('"');
                text
            }
            _ => self.to_compact_string(),
        }
    }

    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// A datetime, or text that reads as one (an untyped CSV column holding a date).
    pub fn as_datetime(&self, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Value::DateTime(t) => Some(*t),
            Value::String(s) => parse_datetime(s, tz),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Duration(d) => f.write_str(&format_duration(*d)),
            Value::DateTime(t) => f.write_str(&t.to_rfc3339()),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt(f)?;
                }
                f.write_str("]")
            }
        }
    }
}

/// RFC 3339, or a date (`2026-12-01`, midnight in `tz`; a midnight lost to DST is the first
/// instant after the gap).
pub fn parse_datetime(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    local_midnight(date, tz)
}

/// The first instant of `date` in `tz`.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    // A zone may skip midnight (DST at 00:00): take the first instant of the day that exists.
    (0..=180).step_by(15).find_map(|minutes| {
        let local = midnight + TimeDelta::minutes(minutes);
        tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
    })
}

/// Longest duration a campaign may write: a hundred years.
const MAX_SECONDS: i64 = 100 * 366 * 86_400;

/// `30s`, `15m`, `4h`, `2d`, `1w`, and combinations like `1d12h`.
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        if digits.is_empty() || digits.len() > 12 {
            return None;
        }
        let n: i64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() || total > MAX_SECONDS {
        return None;
    }
    Some(TimeDelta::seconds(total))
}

/// The shortest way to write a duration: `1d12h`, `90s` as `1m30s`, zero as `0s`.
pub fn format_duration(duration: TimeDelta) -> String {
    let mut seconds = duration.num_seconds();
    let mut out = String::new();
    if seconds < 0 {
        out.push('-');
        seconds = seconds.saturating_neg();
    }
    if seconds == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        if seconds >= size {
            out.push_str(&(seconds / size).to_string());
            out.push(unit);
            seconds %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        let cases = [("30s", 30), ("15m", 900), ("4h", 14_400), ("2d", 172_800), ("1w", 604_800), ("1d12h", 129_600)];
        for (text, seconds) in cases {
            assert_eq!(parse_duration(text), Some(TimeDelta::seconds(seconds)), "{text}");
            assert_eq!(format_duration(TimeDelta::seconds(seconds)), text);
        }
        for bad in ["", "10", "3x", "h", "1.5h", "-1h", "1h 30m", "99999999999999w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(TimeDelta::seconds(90)), "1m30s");
        assert_eq!(format_duration(TimeDelta::zero()), "0s");
    }

    #[test]
    fn dates_are_local_midnight() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let t = parse_datetime("2026-12-01", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T05:00:00+00:00");
        assert_eq!(parse_datetime("2026-12-01T09:00:00-05:00", tz).unwrap().to_rfc3339(), "2026-12-01T14:00:00+00:00");
        assert_eq!(parse_datetime("2026-13-01", tz), None);
        // Santiago skips midnight when DST starts: the day begins at 01:00.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = local_midnight(day, santiago).unwrap();
        assert_eq!(start.with_timezone(&santiago).format("%H:%M").to_string(), "01:00");
    }
}
