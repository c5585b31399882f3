//! Cells to values: phones in E.164 (by `crate::phone`), emails lower-cased, numbers, bools,
//! dates, and time zones with a suggestion when a name is not one.

use chrono::{DateTime, NaiveDate};

use crate::phone::{self, PhoneError, Region};

/// The default country when `contacts.region` is not written.
pub const DEFAULT_REGION: &str = "US";

/// A region code as `contacts.region` and the `region` column take it (`US`, `gb`).
pub fn parse_region(region: &str) -> Option<Region> {
    Region::parse(region)
}

/// A phone number in E.164 (`+14155550100`), or why it is not one. A number written with `+`
/// or `00` is read in its own country; a national one (`(415) 555-0100`) in `region`.
pub fn phone(text: &str, region: Option<Region>) -> Result<String, PhoneError> {
    phone::normalise(text, region)
}

/// [`phone`], without the reason.
pub fn normalise_phone(text: &str, region: Option<Region>) -> Option<String> {
    phone(text, region).ok()
}

/// The keys a contact typed by a person (a command's argument, an event's `contact`) may be
/// stored under, most likely first: its E.164 number (national numbers read in `region`, else
/// the default) or its lower-cased email, then the text as typed.
pub fn lookup_keys(typed: &str, region: Option<&str>) -> Vec<String> {
    let region = parse_region(region.unwrap_or(DEFAULT_REGION));
    let typed = typed.trim();
    let normal = if typed.contains('@') { normalise_email(typed) } else { normalise_phone(typed, region) };
    let mut keys: Vec<String> = normal.into_iter().collect();
    if !keys.iter().any(|k| k == typed) {
        keys.push(typed.to_string());
    }
    keys
}

/// An email address trimmed and lower-cased, or `None` when it does not look like one: exactly
/// one `@`, something before it, a domain with a dot (not at either end, no empty label), and
/// no spaces.
pub fn normalise_email(text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = text.split_once('@')?;
    let domain_ok = domain.contains('.') && !domain.contains('@') && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || !domain_ok {
        return None;
    }
    Some(text.to_lowercase())
}

/// An entry of a suppression list (or an opt-out address), normalised like contacts: emails
/// lower-cased, phones in E.164. `None` when it is neither.
pub fn normalise_address(text: &str, region: Option<Region>) -> Option<String> {
    if text.contains('@') { normalise_email(text) } else { normalise_phone(text, region) }
}

pub(super) fn parse_number(text: &str) -> Option<serde_json::Value> {
    let n: f64 = text.trim().parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 9e15 {
        return Some(serde_json::Value::from(n as i64));
    }
    serde_json::Number::from_f64(n).map(serde_json::Value::Number)
}

pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// RFC 3339, or a date, as campaign files write datetimes (docs/language.md).
pub(super) fn is_datetime(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok() || is_date(text)
}

/// What a date cell that is not `YYYY-MM-DD` most likely means, written that way:
/// `03/10/2026` (month first, as US sheets write it) is `2026-03-10`.
pub(super) fn date_hint(text: &str) -> Option<String> {
    const FORMATS: [&str; 8] =
        ["%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%m-%d-%Y", "%Y.%m.%d", "%b %d, %Y", "%d %b %Y"];
    let date = FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(text.trim(), f).ok()).or_else(|| {
        // A datetime where a date is wanted: its date.
        let head = text.trim().get(..10)?;
        is_date(head).then(|| NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()).flatten()
    })?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// Zones people write that are not IANA names, and the zone they mean.
const ZONE_ABBREVIATIONS: [(&str, &str); 14] = [
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("PT", "America/Los_Angeles"),
    ("MDT", "America/Denver"),
    ("MT", "America/Denver"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("CT", "America/Chicago"),
    ("EDT", "America/New_York"),
    ("ET", "America/New_York"),
    ("AKST", "America/Anchorage"),
    ("BST", "Europe/London"),
    ("CEST", "Europe/Berlin"),
    ("IST", "Asia/Kolkata"),
];

/// The IANA zone a text that is not one probably means: `PST` is `America/Los_Angeles`,
/// `america/new_york` is `America/New_York`, `Europe/Berln` is `Europe/Berlin`.
pub fn zone_suggestion(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if let Some((_, zone)) = ZONE_ABBREVIATIONS.iter().find(|(abbr, _)| abbr.eq_ignore_ascii_case(text)) {
        return Some(zone);
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(name) = names.clone().find(|name| name.eq_ignore_ascii_case(text)) {
        return Some(name);
    }
    let spaced = text.replace(' ', "_");
    crate::diagnostic::closest(&spaced, names.filter(|n| n.contains('/')))
}

/// Zones that keep one offset all year where their region changes clocks: a contact in
/// `EST` is an hour off all summer.
pub(super) fn is_fixed_offset(zone: &str) -> bool {
    matches!(zone, "EST" | "MST" | "HST") || zone.starts_with("Etc/GMT") && zone.len() > "Etc/GMT".len()
}

/// `3 contacts have the fixed-offset zone EST, which never changes to daylight saving time (did
/// you mean America/New_York?)`
pub(super) fn fixed_offset_warning(zone: &str, contacts: u64) -> String {
    let meant = match zone {
        "EST" => " (did you mean America/New_York?)",
        "MST" => " (America/Phoenix keeps MST all year; America/Denver changes to MDT)",
        "HST" => " (did you mean Pacific/Honolulu?)",
        _ => "",
    };
    let who = if contacts == 1 { "1 contact has".to_string() } else { format!("{contacts} contacts have") };
    format!("{who} the fixed-offset zone {zone}, which never changes to daylight saving time{meant}")
}
