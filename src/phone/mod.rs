//! Phone numbers in E.164, read exactly as Google's libphonenumber reads them (`parse`, then
//! `is_valid_number`), on libphonenumber's own metadata (`metadata.json`, written by
//! `make_metadata.py` from the `phonenumbers` package that `tests/it/phones.rs` compares with).
//!
//! Two rules are herald's own (docs/language.md, "Phone numbers"):
//! - a number that starts with `00` where the default region's international prefix is
//!   something else (the US dials `011`) is read as if written with `+`;
//! - only digits, `+` and the punctuation people write around numbers are accepted: a cell with
//!   letters (`1-800-FLOWERS`, `ext. 12`) or other symbols is rejected rather than guessed at.

mod metadata;

use std::fmt;

use metadata::Region as RegionData;
use metadata::{Compiled, Length, METADATA, NON_GEO};

/// A default region for national numbers (`US`, `DE`), as `contacts.region` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region(u16);

impl Region {
    /// `us`, ` GB ` and `DE` are regions; `XX`, `001` and `EU` are not.
    pub fn parse(code: &str) -> Option<Region> {
        let code = code.trim().to_ascii_uppercase();
        let index = METADATA.region_index(&code)?;
        u16::try_from(index).ok().map(Region)
    }

    pub fn code(self) -> &'static str {
        &METADATA.region(usize::from(self.0)).id
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The libphonenumber metadata version herald reads numbers with.
pub fn metadata_version() -> &'static str {
    &METADATA.version
}

/// Why a text is not a phone number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("has `{0}` in it (only digits, `+` and the punctuation around numbers are read)")]
    Character(char),
    #[error("is not a phone number")]
    NotANumber,
    #[error("is a national number and there is no region to read it in")]
    NoRegion,
    #[error("has no known country code after its `+` or international prefix")]
    CountryCode,
    #[error("is too short to be a phone number")]
    TooShort,
    #[error("is too long to be a phone number")]
    TooLong,
    #[error("is not a valid number in {0}")]
    Invalid(String),
}

/// Longer texts are not read at all (libphonenumber's limit).
const MAX_INPUT: usize = 250;
/// Bounds of a national significant number.
const MIN_NATIONAL: usize = 2;
const MAX_NATIONAL: usize = 17;

/// `text` in E.164 (`+14155550102`): a number written with `+` (or `00`) is read in its own
/// country; a national number in `region`.
pub fn normalise(text: &str, region: Option<Region>) -> Result<String, PhoneError> {
    let text = text.trim();
    if text.chars().count() > MAX_INPUT {
        return Err(PhoneError::TooLong);
    }
    let number = extract(text)?;
    let meta = region.and_then(|r| METADATA.region(usize::from(r.0)).compiled());
    if let Some(rest) = double_zero(&number, meta) {
        return parse(&format!("+{rest}"), region);
    }
    parse(&number, region)
}

/// The one character that may lead a number.
fn is_plus(c: char) -> bool {
    matches!(c, '+' | '\u{FF0B}')
}

/// libphonenumber's `_VALID_PUNCTUATION` without `x` and the tildes `~` `～`, which its
/// extension patterns read as "extension follows": `030 123456 ~ 7` is `+4930123456` with
/// extension 7, and a number with an extension is rejected here, not run together.
fn is_punctuation(c: char) -> bool {
    matches!(c,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}'..='\u{FF0F}' | ' '
        | '\u{00A0}' | '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{3000}' | '(' | ')' | '\u{FF08}'
        | '\u{FF09}' | '\u{FF3B}' | '\u{FF3D}' | '.' | '[' | ']' | '/' | '\u{2053}' | '\u{223C}')
}

/// A decimal digit of the scripts numbers are written in (ASCII, full-width, Arabic-Indic,
/// Persian, Devanagari), as its ASCII digit.
fn digit(c: char) -> Option<char> {
    let zero = match c {
        '0'..='9' => '0',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        '\u{0966}'..='\u{096F}' => '\u{0966}',
        _ => return None,
    };
    char::from_digit(c as u32 - zero as u32, 10)
}

/// libphonenumber's `_extract_possible_number` and `_is_viable_phone_number` on the characters
/// herald accepts: from the first digit or plus to the last digit; pluses only in front; at
/// least three digits, or exactly two.
fn extract(text: &str) -> Result<String, PhoneError> {
    if let Some(c) = text.chars().find(|&c| digit(c).is_none() && !is_plus(c) && !is_punctuation(c)) {
        return Err(PhoneError::Character(c));
    }
    let start = text.find(|c: char| digit(c).is_some() || is_plus(c)).ok_or(PhoneError::NotANumber)?;
    let end = text.char_indices().rfind(|(_, c)| digit(*c).is_some()).map(|(i, c)| i + c.len_utf8());
    let Some(end) = end.filter(|&end| end > start) else { return Err(PhoneError::NotANumber) };
    let number = &text[start..end];
    let body = number.trim_start_matches(is_plus);
    let digits = number.chars().filter(|&c| digit(c).is_some()).count();
    let two_digits = digits == 2 && number.chars().count() == 2;
    if body.chars().any(is_plus) || (digits < 3 && !two_digits) {
        return Err(PhoneError::NotANumber);
    }
    Ok(number.to_string())
}

/// The number's digits in ASCII (libphonenumber's `normalize_digits_only`).
fn digits_of(text: &str) -> String {
    text.chars().filter_map(digit).collect()
}

/// herald's `00` rule: a number that starts with `00` where the region's own international
/// prefix does not match is international; the digits after the `00`.
fn double_zero(number: &str, meta: Option<&Compiled>) -> Option<String> {
    if number.starts_with(is_plus) {
        return None;
    }
    let digits = digits_of(number);
    let rest = digits.strip_prefix("00")?;
    let own_prefix = meta.and_then(|m| m.international_prefix.as_ref()).is_some_and(|idd| idd.is_match(&digits));
    (!own_prefix).then(|| rest.to_string())
}

/// libphonenumber's `parse` then `is_valid_number`, on an extracted number.
fn parse(number: &str, region: Option<Region>) -> Result<String, PhoneError> {
    let plus = number.starts_with(is_plus);
    if region.is_none() && !plus {
        return Err(PhoneError::NoRegion);
    }
    let default = region.map(|r| METADATA.region(usize::from(r.0)));
    let default_meta = default.and_then(|r| r.compiled());
    let (mut code, mut national) = match country_code(number, default_meta) {
        Err(PhoneError::CountryCode) if plus => {
            // libphonenumber tries again without the plus (`+011 49…`, `+1…` in the US).
            let (code, national) = country_code(number.trim_start_matches(is_plus), default_meta)?;
            if code == 0 {
                return Err(PhoneError::CountryCode);
            }
            (code, national)
        }
        result => result?,
    };
    let mut meta = default_meta;
    if code != 0 {
        let main = METADATA.regions_of(code).next();
        if main.map(|m| &m.id) != default.map(|d| &d.id) {
            meta = main.and_then(|m| m.compiled());
        }
    } else {
        national = digits_of(number);
        code = default.map_or(0, |d| d.code);
    }
    if national.len() < MIN_NATIONAL {
        return Err(PhoneError::TooShort);
    }
    if let Some(meta) = meta {
        let (potential, _) = strip_national_prefix(&national, meta);
        if !matches!(meta.length(&potential), Length::TooShort | Length::LocalOnly | Length::Invalid) {
            national = potential;
        }
    }
    if national.len() < MIN_NATIONAL {
        return Err(PhoneError::TooShort);
    }
    if national.len() > MAX_NATIONAL {
        return Err(PhoneError::TooLong);
    }
    if !is_valid(code, &national) {
        let region = METADATA.regions_of(code).next().map_or_else(|| format!("+{code}"), |r| r.id.clone());
        let region = if region == NON_GEO { format!("+{code}") } else { region };
        return Err(PhoneError::Invalid(region));
    }
    Ok(format!("+{code}{national}"))
}

/// libphonenumber's `_maybe_extract_country_code`: the calling code and the national number
/// after it, or `(0, "")` for a number without one.
fn country_code(number: &str, meta: Option<&Compiled>) -> Result<(u16, String), PhoneError> {
    let (international, full) = if number.starts_with(is_plus) {
        (true, digits_of(number.trim_start_matches(is_plus)))
    } else {
        let digits = digits_of(number);
        match meta.and_then(|m| m.international_prefix.as_ref()).and_then(|idd| idd.find(&digits)) {
            // A calling code never starts with 0: `0` after the prefix is not international.
            Some(m) if !digits[m.end()..].starts_with('0') => (true, digits[m.end()..].to_string()),
            _ => (false, digits),
        }
    };
    if international {
        if full.len() <= MIN_NATIONAL {
            return Err(PhoneError::TooShort);
        }
        return split_calling_code(&full).ok_or(PhoneError::CountryCode);
    }
    if let Some(meta) = meta
        && let Some(rest) = full.strip_prefix(meta.code.to_string().as_str())
    {
        let (potential, _) = strip_national_prefix(rest, meta);
        let better = !meta.general_matches(&full) && meta.general_matches(&potential);
        if better || meta.length(&full) == Length::TooLong {
            return Ok((meta.code, potential));
        }
    }
    Ok((0, String::new()))
}

/// `_extract_country_code`: the shortest known calling code (1–3 digits) the number starts with.
fn split_calling_code(full: &str) -> Option<(u16, String)> {
    if full.starts_with('0') {
        return None;
    }
    (1..=full.len().min(3)).find_map(|n| {
        let code: u16 = full[..n].parse().ok()?;
        METADATA.is_calling_code(code).then(|| (code, full[n..].to_string()))
    })
}

/// `_maybe_strip_national_prefix_carrier_code`: the number without its national prefix (or
/// carrier code), transformed where the region says so, unless that would make a number that
/// matched the region's pattern stop matching it.
fn strip_national_prefix(number: &str, meta: &Compiled) -> (String, bool) {
    let Some((at_start, anywhere)) = &meta.national_prefix else { return (number.to_string(), false) };
    if number.is_empty() {
        return (number.to_string(), false);
    }
    let Some(captures) = at_start.captures(number) else { return (number.to_string(), false) };
    let viable = meta.general_matches(number);
    let groups = captures.len() - 1;
    let stripped = match &meta.transform_rule {
        Some(rule) if groups > 0 && captures.get(groups).is_some() => {
            anywhere.replacen(number, 1, rule.as_str()).into_owned()
        }
        _ => number[captures.get(0).map_or(0, |m| m.end())..].to_string(),
    };
    if viable && !meta.general_matches(&stripped) {
        return (number.to_string(), false);
    }
    (stripped, true)
}

/// `is_valid_number`: the number's region (by leading digits, or the first whose types know
/// it), then a type of that region that matches.
fn is_valid(code: u16, national: &str) -> bool {
    let region = if METADATA.regions_of(code).count() == 1 {
        METADATA.regions_of(code).next()
    } else {
        METADATA
            .regions_of(code)
            .find(|r| r.compiled().is_some_and(|m| m.leading_digits(national).unwrap_or_else(|| m.has_type(national))))
    };
    region.and_then(RegionData::compiled).is_some_and(|m| m.has_type(national))
}

#[cfg(test)]
mod tests;
