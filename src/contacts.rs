//! Contacts: CSV import, normalisation (E.164, email), dedup, suppression, the audience filter.
//!
//! ```text
//! file --QuoteTracker--> csv::Reader --Importer (one record at a time)--> Row::Contact | Row::Skipped
//!      (strips the BOM,    (flexible:                 key, require, typed fields, timezone,
//!       finds unclosed      we count cells)            duplicate, suppressed, `where`
//!       quotes)
//! ```
//!
//! The import streams: one record is held at a time, duplicates are found with a set of 64-bit
//! key hashes (9 bytes a slot: about 19 MB for a million keys), so a million rows stay within a
//! few tens of MB (43 MB peak for the whole test process).
//! A bad row is `Row::Skipped` with its reason and the import goes on; only a file that cannot
//! be read as CSV at all (cannot open, invalid UTF-8, a quote that is never closed, no key
//! column) is an `ImportError`, after which the iterator ends.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use phonenumber::country;
use serde::{Deserialize, Serialize};

use crate::expr::{Condition, Scope, Value};
use crate::fields::Fields;
use crate::graph::{ContactSpec, FieldType};
use compact_str::CompactString;

/// One imported contact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The normalised key (E.164 phone, lower-case email, or the key column as written).
    pub key: String,
    /// IANA zone from the `timezone` column, already validated.
    pub timezone: Option<String>,
    /// Every column by name: numbers and bools typed (per `contacts.fields`), phones in
    /// E.164, dates and datetimes as written (conditions read them as datetimes), other text
    /// as written. An empty text cell is `""`; an empty typed cell is absent (null).
    pub fields: Fields,
}

/// A problem with the file itself, which stops the import (a bad row never does).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}:{line}: malformed CSV: {detail}", .path.display())]
    Malformed { path: PathBuf, line: u64, detail: String },
    #[error("{}: the key column {key} is not in the header (columns: {})", .path.display(), list_columns(.columns))]
    NoKeyColumn { path: PathBuf, key: String, columns: Vec<String> },
    #[error("cannot read the suppression list {}: {source}", .path.display())]
    Suppress {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn list_columns(columns: &[String]) -> String {
    if columns.is_empty() {
        "none".to_string()
    } else {
        columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    }
}

/// What an import needs from the campaign.
#[derive(Clone, Copy)]
pub struct ImportSettings<'a> {
    pub spec: &'a ContactSpec,
    /// The schedule's zone: `where` reads dates of contacts without a `timezone` in it.
    pub default_timezone: Tz,
    /// The campaign's `data:` constants, visible to `where` by key.
    pub data: &'a serde_json::Map<String, serde_json::Value>,
    pub campaign_id: &'a str,
    pub campaign_name: &'a str,
    pub now: DateTime<Utc>,
}

impl<'a> ImportSettings<'a> {
    /// The settings a campaign's graph gives, for contacts imported at `now`.
    pub fn of(graph: &'a crate::graph::Graph, now: DateTime<Utc>) -> ImportSettings<'a> {
        ImportSettings {
            spec: &graph.contacts,
            default_timezone: graph.schedule.timezone,
            data: &graph.data,
            campaign_id: &graph.id,
            campaign_name: &graph.name,
            now,
        }
    }
}

/// One data row of the CSV.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Contact(Contact),
    Skipped {
        /// The row's first line in the file (the header is line 1).
        line: u64,
        /// The normalised key, or the raw key cell when it did not normalise, or `line N`
        /// when it is empty.
        key: String,
        reason: SkipReason,
    },
}

/// Why a row was not imported. The order is the order of the checks, and of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// A different number of cells than the header has.
    InvalidRow,
    MissingKey,
    InvalidPhone,
    InvalidEmail,
    MissingRequired,
    InvalidField,
    InvalidTimezone,
    Duplicate,
    Suppressed,
    Filtered,
}

impl SkipReason {
    pub const ALL: [SkipReason; 10] = [
        SkipReason::InvalidRow,
        SkipReason::MissingKey,
        SkipReason::InvalidPhone,
        SkipReason::InvalidEmail,
        SkipReason::MissingRequired,
        SkipReason::InvalidField,
        SkipReason::InvalidTimezone,
        SkipReason::Duplicate,
        SkipReason::Suppressed,
        SkipReason::Filtered,
    ];

    /// The reason as stored (a skipped lead's outcome) and counted.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::InvalidRow => "invalid_row",
            SkipReason::MissingKey => "missing_key",
            SkipReason::InvalidPhone => "invalid_phone",
            SkipReason::InvalidEmail => "invalid_email",
            SkipReason::MissingRequired => "missing_required",
            SkipReason::InvalidField => "invalid_field",
            SkipReason::InvalidTimezone => "invalid_timezone",
            SkipReason::Duplicate => "duplicate",
            SkipReason::Suppressed => "suppressed",
            SkipReason::Filtered => "filtered",
        }
    }

    pub fn parse(text: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// A sentence for people: what was wrong with the row.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::InvalidRow => "the row has a different number of cells than the header",
            SkipReason::MissingKey => "the key column is empty",
            SkipReason::InvalidPhone => "a phone number is not valid",
            SkipReason::InvalidEmail => "an email address is not valid",
            SkipReason::MissingRequired => "a column listed in contacts.require is missing or empty",
            SkipReason::InvalidField => "a value does not have the type contacts.fields gives its column",
            SkipReason::InvalidTimezone => "the timezone column is not an IANA time zone name",
            SkipReason::Duplicate => "an earlier row has the same key",
            SkipReason::Suppressed => "the contact is on a suppression list",
            SkipReason::Filtered => "contacts.where is not true for the contact",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per reason, for the report printed after an import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub read: u64,
    pub imported: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
}

impl ImportReport {
    pub fn record(&mut self, row: &Row) {
        self.read += 1;
        match row {
            Row::Contact(_) => self.imported += 1,
            Row::Skipped { reason, .. } => *self.skipped.entry(*reason).or_default() += 1,
        }
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// `1,000 rows: 990 imported, 10 skipped (4 invalid_phone, 3 duplicate, 2 suppressed, 1 filtered)`
impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = if self.read == 1 { "row" } else { "rows" };
        write!(
            f,
            "{} {rows}: {} imported, {} skipped",
            thousands(self.read),
            thousands(self.imported),
            thousands(self.skipped_total())
        )?;
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(reason, n)| format!("{} {reason}", thousands(*n)))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(", "))?;
        }
        Ok(())
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/// The default country when `contacts.region` is not written.
pub const DEFAULT_REGION: &str = "US";

/// A region code as `contacts.region` / `--region` take it (`US`, `gb`).
pub fn parse_region(region: &str) -> Option<country::Id> {
    region.trim().to_ascii_uppercase().parse().ok()
}

/// A phone number in E.164 (`+14155550100`), or `None` when it is not a valid number.
/// National numbers (`(415) 555-0100`) are read in `region`.
pub fn normalise_phone(text: &str, region: Option<country::Id>) -> Option<String> {
    let text = text.trim();
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    // Only what people write around numbers: no letters (vanity numbers, extensions), which
    // also keeps odd input away from the parser.
    let plausible = text.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.' | '/'));
    if !plausible || !(3..=17).contains(&digits) {
        return None;
    }
    // The parser has panicked on odd input in the past; a bad cell must never stop an import.
    let number = std::panic::catch_unwind(|| phonenumber::parse(region, text)).ok()?.ok()?;
    if !validity::is_valid(&number) {
        return None;
    }
    // E.164 is `+`, the country code and the national number (with its leading zeros): what
    // `number.format().mode(Mode::E164)` writes, without the display-format search it runs first.
    Some(format!("+{}{}", number.code().value(), number.national()))
}

/// `phonenumber::is_valid`, faster. The crate keeps its patterns in one global, mutex-guarded
/// LRU cache keyed by the pattern text, so every check hashes several kilobytes of pattern
/// (about 10µs a number, most of an import's time). This follows the same steps
/// (`validator::is_valid_with` of phonenumber 0.3: the region for the number, then "the
/// general pattern matches and one of the type patterns does") on the crate's own metadata,
/// with the patterns compiled once per region. Anything unexpected falls back to the crate;
/// `tests::fast_validity_agrees_with_phonenumber` compares the two.
mod validity {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    use phonenumber::PhoneNumber;
    use phonenumber::country;
    use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
    use regex::{Regex, RegexBuilder};

    pub fn is_valid(number: &PhoneNumber) -> bool {
        fast(number).unwrap_or_else(|| phonenumber::is_valid(number))
    }

    /// A descriptor's pattern, matched the crate's way: a possible length, and a match that
    /// starts at the first digit.
    struct Pattern {
        lengths: &'static [u16],
        regex: Regex,
    }

    impl Pattern {
        fn new(descriptor: &'static Descriptor) -> Option<Pattern> {
            Some(Pattern {
                lengths: descriptor.possible_length(),
                regex: compile(descriptor.national_number().as_str())?,
            })
        }

        fn is_match(&self, national: &str) -> bool {
            let length_ok = self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16));
            length_ok && starts_match(&self.regex, national)
        }
    }

    fn compile(pattern: &str) -> Option<Regex> {
        RegexBuilder::new(pattern).ignore_whitespace(true).build().ok()
    }

    fn starts_match(regex: &Regex, text: &str) -> bool {
        regex.find(text).is_some_and(|m| m.start() == 0)
    }

    struct Rules {
        general: Pattern,
        /// Every type `validator::number_type` can answer other than `Unknown`.
        types: Vec<Pattern>,
        leading_digits: Option<Regex>,
    }

    impl Rules {
        fn new(meta: &'static Metadata) -> Option<Rules> {
            let d = meta.descriptors();
            let types = [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ];
            Some(Rules {
                general: Pattern::new(d.general())?,
                types: types.into_iter().flatten().map(Pattern::new).collect::<Option<_>>()?,
                leading_digits: match meta.leading_digits() {
                    Some(pattern) => Some(compile(pattern.as_str())?),
                    None => None,
                },
            })
        }

        /// `number_type(meta, national) != Type::Unknown`.
        fn known_type(&self, national: &str) -> bool {
            self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
        }
    }

    thread_local! {
        static RULES: RefCell<HashMap<&'static str, Option<Rc<Rules>>>> = RefCell::new(HashMap::new());
    }

    fn rules(meta: &'static Metadata) -> Option<Rc<Rules>> {
        RULES.with(|cache| cache.borrow_mut().entry(meta.id()).or_insert_with(|| Rules::new(meta).map(Rc::new)).clone())
    }

    fn fast(number: &PhoneNumber) -> Option<bool> {
        let db = &*DATABASE;
        let code = number.code().value();
        let national = number.national().to_string();
        let Some(regions) = db.region(&code) else { return Some(false) };
        // `validator::source_for`.
        let meta: &'static Metadata = if let [region] = regions.as_slice() {
            if *region == "001" {
                match db.by_code(&code).and_then(|m| m.into_iter().next()) {
                    Some(meta) => meta,
                    None => return Some(false),
                }
            } else {
                match region.parse::<country::Id>().ok().and_then(|id| db.by_id(id.as_ref())) {
                    Some(meta) => meta,
                    None => return Some(false),
                }
            }
        } else {
            let mut found = None;
            for region in regions {
                let meta = db.by_id(region)?;
                let rules = rules(meta)?;
                let hit = match &rules.leading_digits {
                    Some(leading) => starts_match(leading, &national),
                    None => rules.known_type(&national),
                };
                if hit {
                    found = Some(db.by_id(region.parse::<country::Id>().ok()?.as_ref())?);
                    break;
                }
            }
            match found {
                Some(meta) => meta,
                None => return Some(false),
            }
        };
        Some(rules(meta)?.known_type(&national))
    }
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
pub fn normalise_address(text: &str, region: Option<country::Id>) -> Option<String> {
    if text.contains('@') { normalise_email(text) } else { normalise_phone(text, region) }
}

fn parse_number(text: &str) -> Option<serde_json::Value> {
    let n: f64 = text.trim().parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 9e15 {
        return Some(serde_json::Value::from(n as i64));
    }
    serde_json::Number::from_f64(n).map(serde_json::Value::Number)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// RFC 3339, or a date (SPEC §1: "Datetimes are RFC 3339, or a date").
fn is_datetime(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok() || is_date(text)
}

// ---------------------------------------------------------------------------------------------
// Key hashes

/// 64-bit hash of a normalised key. Distinct keys collide with odds of about n²/2⁶⁵ (1 in 36
/// million for a million keys): a collision would skip one contact as a duplicate.
fn key_hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// The set's own hasher: the values are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<PreHashed>>;

/// Room to make in the set of keys seen, for the file at `path`: its rows if they were as short
/// as a contact list's rows get (24 bytes: an id and a short name), at most a million. The set
/// then rarely grows during the import (each growth rehashes every key so far), and never
/// starts larger than a million keys would make it anyway.
fn expected_rows(path: &Path) -> usize {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    usize::try_from(bytes / 24).unwrap_or(usize::MAX).min(1 << 20)
}

// ---------------------------------------------------------------------------------------------
// Reading the file

/// A quoted field longer than this is taken for a quote that is never closed (instead of
/// reading the rest of the file into one cell).
const MAX_QUOTED: u64 = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    /// Between records: `\r` and `\n` here are blank lines, which `csv_core` skips.
    RecordStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: the end of the field, or the first half of `""`.
    QuoteInQuoted,
}

/// Passes the file through to the CSV reader, minus a UTF-8 BOM, following records and quoting
/// the way `csv_core` does (a `"` opens a quoted field only as a field's first byte; blank lines
/// between records are skipped), so that a quote that is never closed can be reported with the
/// line it opened on (`csv` itself reads such a field to the end of the file without
/// complaint), and so that each record's first line is known: `csv` gives the position where
/// reading began, before any blank lines it skipped.
struct QuoteTracker<R> {
    inner: R,
    state: QuoteState,
    /// The line being read (1-based, counting `\n` like `csv_core`).
    line: u64,
    /// Where the current quoted field opened, and how long it is so far.
    opened: u64,
    quoted: u64,
    /// Bytes passed on.
    total: u64,
    /// The first line of each record read ahead of the CSV reader (at most a buffer's worth).
    starts: VecDeque<u64>,
    /// The end of the file came inside a quoted field opened on this line.
    unclosed: Option<u64>,
    /// A quoted field opened on this line grew past `MAX_QUOTED`; reading stopped.
    overlong: Option<u64>,
}

impl<R: BufRead> QuoteTracker<R> {
    fn new(mut inner: R) -> io::Result<QuoteTracker<R>> {
        if inner.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            inner.consume(3);
        }
        Ok(QuoteTracker {
            inner,
            state: QuoteState::RecordStart,
            line: 1,
            opened: 0,
            quoted: 0,
            total: 0,
            starts: VecDeque::new(),
            unclosed: None,
            overlong: None,
        })
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(line) = self.overlong {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unclosed quote on line {line}")));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if self.state == QuoteState::Quoted {
                self.unclosed = Some(self.opened);
            }
            return Ok(0);
        }
        let mut at = 0;
        while at < n {
            // Outside quotes, a run of bytes up to the next `\n`, `\r` or `"` changes nothing
            // but the state its last byte leaves (most of a file is such runs).
            if matches!(self.state, QuoteState::RecordStart | QuoteState::FieldStart | QuoteState::Unquoted) {
                let run = buf[at..n].iter().position(|&b| matches!(b, b'\n' | b'\r' | b'"')).unwrap_or(n - at);
                if run > 0 {
                    if self.state == QuoteState::RecordStart {
                        self.starts.push_back(self.line);
                    }
                    at += run;
                    self.state = if buf[at - 1] == b',' { QuoteState::FieldStart } else { QuoteState::Unquoted };
                    continue;
                }
            }
            let b = buf[at];
            at += 1;
            let terminator = matches!(b, b'\n' | b'\r');
            if self.state == QuoteState::RecordStart && !terminator {
                self.starts.push_back(self.line);
                self.state = QuoteState::FieldStart;
            }
            self.state = match (self.state, b) {
                (QuoteState::FieldStart, b'"') => {
                    self.opened = self.line;
                    self.quoted = 0;
                    QuoteState::Quoted
                }
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => {
                    self.quoted += 1;
                    QuoteState::Quoted
                }
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, _) if terminator => QuoteState::RecordStart,
                (_, b',') => QuoteState::FieldStart,
                (_, _) => QuoteState::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
        if self.state == QuoteState::Quoted && self.quoted > MAX_QUOTED {
            self.overlong = Some(self.opened);
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unclosed quote on line {}", self.opened)));
        }
        self.total += n as u64;
        Ok(n)
    }
}

type CsvReader = csv::Reader<QuoteTracker<BufReader<File>>>;

fn unclosed_detail() -> String {
    "a quoted field opened on this line is never closed (unbalanced `\"`)".to_string()
}

/// The file's CSV reader, positioned after the header, and the header's names.
fn open_csv(path: &Path) -> Result<(CsvReader, Vec<String>), ImportError> {
    let open_error = |source| ImportError::Open { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(open_error)?;
    let tracker = QuoteTracker::new(BufReader::with_capacity(64 * 1024, file)).map_err(open_error)?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).buffer_capacity(64 * 1024).from_reader(tracker);
    let mut header = csv::StringRecord::new();
    match reader.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ImportError::Malformed {
                path: path.to_path_buf(),
                line: 1,
                detail: "the file is empty; a header row naming the columns is expected".to_string(),
            });
        }
        Err(e) => return Err(csv_error(path, &mut reader, e)),
    }
    let line = record_line(&mut reader, &header);
    if let Some(line) = unclosed_in_last(&reader) {
        return Err(ImportError::Malformed { path: path.to_path_buf(), line, detail: unclosed_detail() });
    }
    let columns: Vec<String> =
        header.iter().map(|name| name.trim_start_matches('\u{feff}').trim().to_string()).collect();
    for (i, name) in columns.iter().enumerate() {
        if !name.is_empty() && columns[..i].contains(name) {
            return Err(ImportError::Malformed {
                path: path.to_path_buf(),
                line,
                detail: format!("the header names the column `{name}` more than once"),
            });
        }
    }
    Ok((reader, columns))
}

/// The line of a never-closed quote, when the record just read is the one it swallowed (the
/// last one: it runs to the end of the file).
fn unclosed_in_last(reader: &CsvReader) -> Option<u64> {
    let tracker = reader.get_ref();
    tracker.unclosed.filter(|_| reader.position().byte() >= tracker.total)
}

/// The first line of the record just read: `csv` gives where reading began, before any blank
/// lines; the tracker saw where the record itself began.
fn record_line(reader: &mut CsvReader, record: &csv::StringRecord) -> u64 {
    let began = record.position().map_or_else(|| reader.position().line(), |p| p.line());
    match reader.get_mut().starts.pop_front() {
        Some(line) if line >= began => line,
        _ => began,
    }
}

fn csv_error(path: &Path, reader: &mut CsvReader, error: csv::Error) -> ImportError {
    let path = path.to_path_buf();
    if let Some(line) = reader.get_ref().overlong {
        return ImportError::Malformed { path, line, detail: unclosed_detail() };
    }
    let fallback_line = reader.position().line();
    let detail = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(source) => ImportError::Open { path, source },
        csv::ErrorKind::Utf8 { pos, err } => ImportError::Malformed {
            path,
            line: {
                let began = pos.map_or(fallback_line, |p| p.line());
                reader.get_ref().starts.front().copied().filter(|line| *line >= began).unwrap_or(began)
            },
            detail: format!("cell {} is not valid UTF-8 (save the file as UTF-8)", err.field() + 1),
        },
        _ => ImportError::Malformed { path, line: fallback_line, detail },
    }
}

/// The header of a contacts CSV (BOM stripped, names trimmed), for `validate` and `simulate`
/// to check `contact.<column>` names.
pub fn read_header(path: &Path) -> Result<Vec<String>, ImportError> {
    open_csv(path).map(|(_, columns)| columns)
}

/// Read a suppression list: a CSV (first column) or one entry per line. A first line that is
/// neither a phone nor an email is a header. Other entries that are neither are kept as
/// written, so that lists of ids suppress id keys.
fn load_suppressed(path: &Path, region: Option<country::Id>, into: &mut KeySet) -> Result<(), ImportError> {
    let error = |source| ImportError::Suppress { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(error)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(BufReader::new(file));
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    while reader.read_byte_record(&mut record).map_err(|e| error(e.into()))? {
        let Some(cell) = record.get(0) else { continue };
        let cell = String::from_utf8_lossy(cell);
        let cell = cell.trim_start_matches('\u{feff}').trim();
        if cell.is_empty() {
            continue;
        }
        match normalise_address(cell, region) {
            Some(address) => _ = into.insert(key_hash(&address)),
            None if first => {}
            None => _ = into.insert(key_hash(cell)),
        }
        first = false;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The importer

/// How a column's cells are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A column without a name: its cells are dropped.
    Ignore,
    Text,
    Number,
    Bool,
    Date,
    DateTime,
    Phone,
    Email,
    /// A column typed `timezone` in `contacts.fields`.
    Zone,
    /// The `timezone` column: the contact's own zone.
    ContactZone,
}

fn kind_of(name: &str, spec: &ContactSpec) -> Kind {
    if name.is_empty() {
        return Kind::Ignore;
    }
    if name == "timezone" {
        return Kind::ContactZone;
    }
    match spec.fields.iter().find(|(field, _)| field == name).map(|(_, ty)| *ty) {
        Some(FieldType::String) => Kind::Text,
        Some(FieldType::Number) => Kind::Number,
        Some(FieldType::Bool) => Kind::Bool,
        Some(FieldType::Date) => Kind::Date,
        Some(FieldType::DateTime) => Kind::DateTime,
        Some(FieldType::Phone) => Kind::Phone,
        Some(FieldType::Email) => Kind::Email,
        Some(FieldType::Timezone) => Kind::Zone,
        None => match name {
            "phone" => Kind::Phone,
            "email" => Kind::Email,
            _ => Kind::Text,
        },
    }
}

/// A caller's suppression list (the database's), asked with normalised phones and emails.
pub type SuppressedBy = Box<dyn Fn(&str) -> bool>;

/// Streams the rows of a contacts CSV: `Iterator<Item = Result<Row, ImportError>>`. After an
/// error the iterator ends.
pub struct Importer {
    path: PathBuf,
    reader: CsvReader,
    record: csv::StringRecord,
    columns: Vec<String>,
    /// The columns again, as the names a contact's fields keep (inline up to 24 bytes).
    names: Vec<CompactString>,
    kinds: Vec<Kind>,
    key: usize,
    /// Each `require` column's index, `None` when the header lacks it (every row is skipped).
    required: Vec<Option<usize>>,
    region: Option<country::Id>,
    seen: KeySet,
    suppressed: KeySet,
    external: Vec<SuppressedBy>,
    filter: Option<Arc<Condition>>,
    default_timezone: Tz,
    data: serde_json::Map<String, serde_json::Value>,
    campaign_id: String,
    campaign_name: String,
    now: DateTime<Utc>,
    done: bool,
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Importer").field("path", &self.path).field("columns", &self.columns).finish_non_exhaustive()
    }
}

impl Importer {
    /// Open the CSV, read its header, find the key column and load the `suppress:` files.
    pub fn open(path: &Path, settings: ImportSettings<'_>) -> Result<Importer, ImportError> {
        let spec = settings.spec;
        let (reader, columns) = open_csv(path)?;
        let position = |name: &str| columns.iter().position(|c| c == name);
        let key = match &spec.key {
            Some(name) => position(name).ok_or_else(|| ImportError::NoKeyColumn {
                path: path.to_path_buf(),
                key: format!("`{name}`"),
                columns: columns.clone(),
            })?,
            None => position("phone").or_else(|| position("email")).or_else(|| position("id")).ok_or_else(|| {
                ImportError::NoKeyColumn {
                    path: path.to_path_buf(),
                    key: "`phone`, `email` or `id` (or the one contacts.key names)".to_string(),
                    columns: columns.clone(),
                }
            })?,
        };
        let region = parse_region(spec.region.as_deref().unwrap_or(DEFAULT_REGION));
        let mut suppressed = KeySet::default();
        for file in &spec.suppress {
            load_suppressed(file, region, &mut suppressed)?;
        }
        Ok(Importer {
            path: path.to_path_buf(),
            record: csv::StringRecord::new(),
            kinds: columns.iter().map(|name| kind_of(name, spec)).collect(),
            names: columns.iter().map(CompactString::new).collect(),
            key,
            required: spec.require.iter().map(|name| position(name)).collect(),
            columns,
            reader,
            region,
            seen: KeySet::with_capacity_and_hasher(expected_rows(path), Default::default()),
            suppressed,
            external: Vec::new(),
            filter: spec.filter.clone(),
            default_timezone: settings.default_timezone,
            data: settings.data.clone(),
            campaign_id: settings.campaign_id.to_string(),
            campaign_name: settings.campaign_name.to_string(),
            now: settings.now,
            done: false,
        })
    }

    /// Also skip contacts this says are suppressed (the database's global list). It is asked
    /// with normalised values: the key, and every phone and email of the row.
    pub fn with_suppressed(mut self, f: SuppressedBy) -> Importer {
        self.external.push(f);
        self
    }

    /// The header's column names (trimmed, BOM stripped).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The name of the key column.
    pub fn key_column(&self) -> &str {
        &self.columns[self.key]
    }

    fn is_suppressed(&self, value: &str) -> bool {
        self.suppressed.contains(&key_hash(value)) || self.external.iter().any(|f| f(value))
    }

    /// The row in `self.record`, which starts on `line`.
    fn row(&mut self, line: u64) -> Row {
        let skip = |key: &str, reason| Row::Skipped { line, key: key.to_string(), reason };
        let record = &self.record;
        let raw_key = record.get(self.key).map_or("", str::trim);
        let no_key = || format!("line {line}");
        if record.len() != self.columns.len() {
            let key = if raw_key.is_empty() { no_key() } else { raw_key.to_string() };
            return skip(&key, SkipReason::InvalidRow);
        }
        if raw_key.is_empty() {
            return skip(&no_key(), SkipReason::MissingKey);
        }
        let key = match self.kinds[self.key] {
            Kind::Phone => normalise_phone(raw_key, self.region).ok_or(SkipReason::InvalidPhone),
            Kind::Email => normalise_email(raw_key).ok_or(SkipReason::InvalidEmail),
            _ => Ok(raw_key.to_string()),
        };
        let key = match key {
            Ok(key) => key,
            Err(reason) => return skip(raw_key, reason),
        };
        // The first row with a key is that contact, whether it is imported or skipped: a later
        // row with the same key is a duplicate either way (one lead per key, and the report
        // counts what the store holds).
        let hash = key_hash(&key);
        if !self.seen.insert(hash) {
            return skip(&key, SkipReason::Duplicate);
        }
        let empty = |i: usize| record[i].trim().is_empty();
        if self.required.iter().any(|index| index.is_none_or(empty)) {
            return skip(&key, SkipReason::MissingRequired);
        }

        let mut suppressed = self.suppressed.contains(&hash) || self.external.iter().any(|f| f(&key));
        let mut contact = Contact { key, timezone: None, fields: Fields::with_capacity(record.len()) };
        for (i, cell) in record.iter().enumerate() {
            let text = cell.trim();
            if text.is_empty() {
                // An empty text cell is empty text (`contact.x != ""` filters it, as SPEC §1's
                // example does); an empty typed cell has no value (null).
                if self.kinds[i] == Kind::Text {
                    contact.fields.insert(self.names[i].clone(), serde_json::Value::String(String::new()));
                }
                continue;
            }
            let value = match self.kinds[i] {
                Kind::Ignore => continue,
                Kind::Text => Ok(serde_json::Value::String(cell.to_string())),
                Kind::Number => parse_number(text).ok_or(SkipReason::InvalidField),
                Kind::Bool => parse_bool(text).map(serde_json::Value::Bool).ok_or(SkipReason::InvalidField),
                Kind::Date if is_date(text) => Ok(text.into()),
                Kind::DateTime if is_datetime(text) => Ok(text.into()),
                Kind::Date | Kind::DateTime => Err(SkipReason::InvalidField),
                Kind::Zone => text.parse::<Tz>().map(|tz| tz.name().into()).map_err(|_| SkipReason::InvalidField),
                Kind::ContactZone => match text.parse::<Tz>() {
                    Ok(tz) => {
                        contact.timezone = Some(tz.name().to_string());
                        Ok(tz.name().into())
                    }
                    Err(_) => Err(SkipReason::InvalidTimezone),
                },
                Kind::Phone | Kind::Email => {
                    let normal = if i == self.key {
                        Some(contact.key.clone())
                    } else if self.kinds[i] == Kind::Phone {
                        normalise_phone(text, self.region)
                    } else {
                        normalise_email(text)
                    };
                    match normal {
                        Some(value) => {
                            suppressed = suppressed || (i != self.key && self.is_suppressed(&value));
                            Ok(value.into())
                        }
                        None if self.kinds[i] == Kind::Phone => Err(SkipReason::InvalidPhone),
                        None => Err(SkipReason::InvalidEmail),
                    }
                }
            };
            match value {
                Ok(value) => _ = contact.fields.insert(self.names[i].clone(), value),
                Err(reason) => return Row::Skipped { line, key: contact.key, reason },
            }
        }

        if suppressed {
            return Row::Skipped { line, key: contact.key, reason: SkipReason::Suppressed };
        }
        if let Some(filter) = &self.filter {
            let scope = FilterScope {
                contact: &contact,
                data: &self.data,
                campaign_id: &self.campaign_id,
                campaign_name: &self.campaign_name,
                now: self.now,
                timezone: contact.timezone.as_deref().and_then(|tz| tz.parse().ok()).unwrap_or(self.default_timezone),
            };
            if !filter.holds(&scope) {
                return Row::Skipped { line, key: contact.key, reason: SkipReason::Filtered };
            }
        }
        Row::Contact(contact)
    }
}

impl Iterator for Importer {
    type Item = Result<Row, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {
                if let Some(line) = unclosed_in_last(&self.reader) {
                    self.done = true;
                    return Some(Err(ImportError::Malformed {
                        path: self.path.clone(),
                        line,
                        detail: unclosed_detail(),
                    }));
                }
                let line = record_line(&mut self.reader, &self.record);
                Some(Ok(self.row(line)))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(csv_error(&self.path, &mut self.reader, error)))
            }
        }
    }
}

/// What `contacts.where` sees: the row, `data:`, `campaign.*` and `now`; nothing of a journey.
struct FilterScope<'a> {
    contact: &'a Contact,
    data: &'a serde_json::Map<String, serde_json::Value>,
    campaign_id: &'a str,
    campaign_name: &'a str,
    now: DateTime<Utc>,
    timezone: Tz,
}

impl Scope for FilterScope<'_> {
    fn get(&self, path: &crate::expr::Path) -> Value {
        match path.root.as_str() {
            "contact" => match path.fields.split_first() {
                Some((column, rest)) => {
                    self.contact.fields.get(column).map_or(Value::Null, |value| Value::from_json_path(value, rest))
                }
                None => Value::Null,
            },
            "campaign" => match path.fields.as_slice() {
                [field] if field == "id" => Value::String(self.campaign_id.to_string()),
                [field] if field == "name" => Value::String(self.campaign_name.to_string()),
                _ => Value::Null,
            },
            "vars" | "reply" | "call" | "message" | "lead" | "variant" | "now" | "today" => Value::Null,
            root => self.data.get(root).map_or(Value::Null, |value| Value::from_json_path(value, &path.fields)),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn timezone(&self) -> Tz {
        self.timezone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Type, TypeEnv, compile};
    use chrono::TimeZone;
    use std::time::Instant;

    struct Fixture {
        dir: tempfile::TempDir,
        spec: ContactSpec,
        data: serde_json::Map<String, serde_json::Value>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture { dir: tempfile::tempdir().unwrap(), spec: ContactSpec::default(), data: serde_json::Map::new() }
        }

        fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }

        fn fields(mut self, fields: &[(&str, FieldType)]) -> Fixture {
            self.spec.fields = fields.iter().map(|(n, t)| (n.to_string(), *t)).collect();
            self
        }

        fn filter(mut self, source: &str) -> Fixture {
            let env = TypeEnv {
                data: self.data.keys().map(|k| (k.clone(), Type::Unknown)).collect(),
                contact_fields: None,
                split_steps: Vec::new(),
            };
            let (condition, _) = compile(source, &env).unwrap_or_else(|p| panic!("{source}: {p:?}"));
            self.spec.filter = Some(Arc::new(condition));
            self
        }

        fn settings(&self) -> ImportSettings<'_> {
            ImportSettings {
                spec: &self.spec,
                default_timezone: "America/New_York".parse().unwrap(),
                data: &self.data,
                campaign_id: "spring-promo",
                campaign_name: "Spring Promo",
                now: Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap(),
            }
        }

        fn open(&self, csv: &str) -> Result<Importer, ImportError> {
            let path = self.file("contacts.csv", csv);
            Importer::open(&path, self.settings())
        }

        /// Every row of `csv`; panics on an import error.
        fn rows(&self, csv: &str) -> Vec<Row> {
            self.open(csv).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
        }
    }

    fn contact(row: &Row) -> &Contact {
        match row {
            Row::Contact(c) => c,
            other => panic!("expected a contact, got {other:?}"),
        }
    }

    fn skipped(line: u64, key: &str, reason: SkipReason) -> Row {
        Row::Skipped { line, key: key.to_string(), reason }
    }

    fn keys(rows: &[Row]) -> Vec<&str> {
        rows.iter()
            .map(|r| match r {
                Row::Contact(c) => c.key.as_str(),
                Row::Skipped { .. } => "-",
            })
            .collect()
    }

    #[test]
    fn bom_is_stripped_and_header_names_trimmed() {
        let f = Fixture::new();
        let importer = f.open("\u{feff}phone , first name ,\"timezone\"\n+14155550100,Ann,\n").unwrap();
        assert_eq!(importer.columns(), ["phone", "first name", "timezone"]);
        assert_eq!(importer.key_column(), "phone");
        let rows: Vec<Row> = importer.map(Result::unwrap).collect();
        let ann = contact(&rows[0]);
        assert_eq!(ann.key, "+14155550100");
        assert_eq!(ann.fields["first name"], "Ann");
        assert_eq!(ann.timezone, None);
        // A BOM before a quoted first name, too.
        let path = f.file("quoted.csv", "\u{feff}\"email\",x\nA@B.CO,1\n");
        assert_eq!(read_header(&path).unwrap(), ["email", "x"]);
    }

    #[test]
    fn national_numbers_use_the_region() {
        let mut f = Fixture::new();
        let csv = "phone,name\n(415) 555-0100,a\n415.555.0101,b\n+44 20 7946 0958,c\n1-212-555-0199,d\n";
        let rows = f.rows(csv);
        assert_eq!(keys(&rows), ["+14155550100", "+14155550101", "+442079460958", "+12125550199"]);

        f.spec.region = Some("gb".to_string());
        let rows = f.rows("phone\n020 7946 0958\n07911 123456\n+1 415 555 0100\n(415) 555-0100\n");
        assert_eq!(keys(&rows)[..3], ["+442079460958", "+447911123456", "+14155550100"]);
        assert_eq!(rows[3], skipped(5, "(415) 555-0100", SkipReason::InvalidPhone));
    }

    #[test]
    fn invalid_phones_are_skipped_with_the_cell() {
        let f = Fixture::new().fields(&[("mobile", FieldType::Phone)]);
        let csv = "phone,mobile\n12345,\nnot a phone,\n+1 415 555,\n555-0100 ext 4,\n+14155550100,(212) 555-0199\n+14155550101,call me\n";
        let rows = f.rows(csv);
        assert_eq!(rows[0], skipped(2, "12345", SkipReason::InvalidPhone));
        assert_eq!(rows[1], skipped(3, "not a phone", SkipReason::InvalidPhone));
        assert_eq!(rows[2], skipped(4, "+1 415 555", SkipReason::InvalidPhone));
        assert_eq!(rows[3], skipped(5, "555-0100 ext 4", SkipReason::InvalidPhone));
        assert_eq!(contact(&rows[4]).fields["mobile"], "+12125550199");
        assert_eq!(rows[5], skipped(7, "+14155550101", SkipReason::InvalidPhone));
    }

    #[test]
    fn emails_are_lowercased_or_rejected() {
        let f = Fixture::new().fields(&[("work", FieldType::Email)]);
        let csv = "email,work\n  Ann@Example.COM ,BOSS@Corp.Example.org\nann@,\nann,\na b@x.com,\na@@x.com,\na@x,\na@x.,\na@x..com,\nbo@x.io,nope\n";
        let rows = f.rows(csv);
        let ann = contact(&rows[0]);
        assert_eq!(ann.key, "ann@example.com");
        assert_eq!(ann.fields["email"], "ann@example.com");
        assert_eq!(ann.fields["work"], "boss@corp.example.org");
        for (i, raw) in ["ann@", "ann", "a b@x.com", "a@@x.com", "a@x", "a@x.", "a@x..com"].iter().enumerate() {
            assert_eq!(rows[i + 1], skipped(i as u64 + 3, raw, SkipReason::InvalidEmail));
        }
        assert_eq!(rows[8], skipped(10, "bo@x.io", SkipReason::InvalidEmail));
    }

    #[test]
    fn required_columns_must_be_filled() {
        let mut f = Fixture::new();
        f.spec.require = vec!["phone".to_string(), "name".to_string()];
        let rows = f.rows("phone,name\n+14155550100,Ann\n+14155550101,\n+14155550102,   \n,Cy\n");
        assert_eq!(contact(&rows[0]).key, "+14155550100");
        assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::MissingRequired));
        assert_eq!(rows[2], skipped(4, "+14155550102", SkipReason::MissingRequired));
        assert_eq!(rows[3], skipped(5, "line 5", SkipReason::MissingKey));
        // A required column the file does not have: every row is skipped.
        f.spec.require = vec!["surname".to_string()];
        let rows = f.rows("phone,name\n+14155550100,Ann\n");
        assert_eq!(rows, [skipped(2, "+14155550100", SkipReason::MissingRequired)]);
    }

    #[test]
    fn typed_fields_parse_or_skip_the_row() {
        let f = Fixture::new().fields(&[
            ("age", FieldType::Number),
            ("vip", FieldType::Bool),
            ("due", FieldType::Date),
            ("at", FieldType::DateTime),
            ("home", FieldType::Timezone),
            ("note", FieldType::String),
        ]);
        let csv = "\
id,age,vip,due,at,home,note,other
1,42,Yes,2026-12-01,2026-12-01T09:00:00-05:00,Europe/Paris, hi ,7
2, 2.5 ,0,,2026-12-01,,,
3,,,,,,,
4,abc,,,,,,
5,,maybe,,,,,
6,,,12/01/2026,,,,
7,,,2026-2-30,,,,
8,,,,tomorrow,,,
9,,,,,Mars/Base,,
10,inf,,,,,,
";
        let rows = f.rows(csv);
        let one = contact(&rows[0]);
        assert_eq!(one.key, "1");
        assert_eq!(
            serde_json::Value::Object(one.fields.to_map()),
            serde_json::json!({
                "id": "1", "age": 42, "vip": true, "due": "2026-12-01", "at": "2026-12-01T09:00:00-05:00",
                "home": "Europe/Paris", "note": " hi ", "other": "7"
            })
        );
        let two = contact(&rows[1]);
        assert_eq!(
            serde_json::Value::Object(two.fields.to_map()),
            serde_json::json!({
                "id": "2", "age": 2.5, "vip": false, "at": "2026-12-01", "note": "", "other": ""
            })
        );
        // Empty text cells are empty text; empty typed cells (number, bool, dates, zones) are absent.
        assert_eq!(
            serde_json::Value::Object(contact(&rows[2]).fields.to_map()),
            serde_json::json!({ "id": "3", "note": "", "other": "" })
        );
        for (i, row) in rows.iter().enumerate().skip(3) {
            let id = (i + 1).to_string();
            assert_eq!(*row, skipped(i as u64 + 2, &id, SkipReason::InvalidField));
        }
    }

    #[test]
    fn the_timezone_column_is_checked_and_kept() {
        let f = Fixture::new();
        let rows = f.rows("phone,timezone\n+14155550100,America/Chicago\n+14155550101, Europe/Berlin \n+14155550102,\n+14155550103,Central\n+14155550104,america/chicago\n");
        assert_eq!(contact(&rows[0]).timezone.as_deref(), Some("America/Chicago"));
        assert_eq!(contact(&rows[0]).fields["timezone"], "America/Chicago");
        assert_eq!(contact(&rows[1]).timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(contact(&rows[2]).timezone, None);
        assert_eq!(rows[3], skipped(5, "+14155550103", SkipReason::InvalidTimezone));
        assert_eq!(rows[4], skipped(6, "+14155550104", SkipReason::InvalidTimezone));
    }

    #[test]
    fn duplicates_by_normalised_key_first_wins() {
        let f = Fixture::new();
        let csv =
            "phone,name\n(415) 555-0100,first\n+1 415 555 0100,second\n415-555-0101,other\n14155550100,third\nbad,x\n";
        let rows = f.rows(csv);
        assert_eq!(contact(&rows[0]).fields["name"], "first");
        assert_eq!(rows[1], skipped(3, "+14155550100", SkipReason::Duplicate));
        assert_eq!(contact(&rows[2]).key, "+14155550101");
        assert_eq!(rows[3], skipped(5, "+14155550100", SkipReason::Duplicate));
        let rows = f.rows("email,age\nA@x.io,\na@X.io,\n");
        assert_eq!(rows[1], skipped(3, "a@x.io", SkipReason::Duplicate));
        // A skipped row claims its key too: the first row decides, and the store holds one
        // lead per key, the one the report counts.
        let f = Fixture::new().fields(&[("age", FieldType::Number)]);
        let rows = f.rows("email,age\na@x.io,old\nA@x.io,40\n");
        assert_eq!(rows[0], skipped(2, "a@x.io", SkipReason::InvalidField));
        assert_eq!(rows[1], skipped(3, "a@x.io", SkipReason::Duplicate));
    }

    #[test]
    fn suppression_lists_in_both_formats_and_from_the_caller() {
        let mut f = Fixture::new();
        let dnc = f.file(
            "dnc.csv",
            "address,reason\n+14155550101,asked\n\"(415) 555-0102\",litigation\nBen@Example.com,unsubscribed\n",
        );
        let plain = f.file("plain.txt", "# opt-outs\n415 555 0103\n\n  +1 (415) 555-0104  \n");
        f.spec.suppress = vec![dnc, plain];
        let csv = "phone,email\n+14155550100,ann@example.com\n+14155550101,\n4155550102,\n+14155550103,\n+14155550104,\n+14155550105,ben@example.com\n+14155550106,\n+14155550107,cy@example.com\n";
        let importer = f.open(csv).unwrap();
        let importer = importer.with_suppressed(Box::new(|value| value == "+14155550106" || value == "cy@example.com"));
        let rows: Vec<Row> = importer.map(Result::unwrap).collect();
        assert_eq!(contact(&rows[0]).key, "+14155550100");
        for (i, row) in rows.iter().enumerate().skip(1) {
            assert_eq!(*row, skipped(i as u64 + 2, &format!("+1415555010{i}"), SkipReason::Suppressed), "row {i}");
        }
        // A header line that is a phone is an entry; a list of ids suppresses ids.
        let mut f = Fixture::new();
        let ids = f.file("ids.txt", "C-2\nC-3\n");
        let phones = f.file("phones.txt", "+14155550100\n");
        f.spec.suppress = vec![ids, phones];
        f.spec.key = Some("id".to_string());
        let rows = f.rows("id,phone\nC-1,\nC-2,\nC-3,\nC-4,+14155550100\n");
        assert_eq!(keys(&rows), ["C-1", "C-2", "-", "-"]);
        // A missing list is an error.
        f.spec.suppress = vec![f.dir.path().join("nowhere.csv")];
        let error = f.open("id\n").unwrap_err();
        assert!(matches!(error, ImportError::Suppress { .. }), "{error:?}");
        assert!(error.to_string().contains("nowhere.csv"), "{error}");
    }

    #[test]
    fn where_filter_reads_typed_fields_data_and_campaign() {
        let mut f = Fixture::new().fields(&[("employees", FieldType::Number), ("renewal", FieldType::Date)]);
        f.data.insert("threshold".to_string(), serde_json::json!(100));
        f.data.insert("company".to_string(), serde_json::json!({ "market": "US" }));
        let f = f.filter(
            "contact.employees >= threshold and contact.country == company.market and campaign.id == \"spring-promo\" \
             and not exists(vars.x) and contact.renewal < now + 7d",
        );
        let csv = "\
email,employees,country,renewal
a@x.io,240,US,2026-12-05
b@x.io,35,US,2026-12-05
c@x.io,1200,DE,2026-12-05
d@x.io,,US,2026-12-05
e@x.io,100,US,2027-01-05
";
        let rows = f.rows(csv);
        assert_eq!(contact(&rows[0]).key, "a@x.io");
        for (i, key) in ["b@x.io", "c@x.io", "d@x.io", "e@x.io"].iter().enumerate() {
            assert_eq!(rows[i + 1], skipped(i as u64 + 3, key, SkipReason::Filtered));
        }
    }

    #[test]
    fn the_filter_uses_the_contacts_timezone() {
        // now is 2026-12-01 15:00 UTC: 10:00 in New York, 00:00 on 2 Dec in Tokyo.
        let f = Fixture::new().filter("hour(now) == 10");
        let rows = f.rows("phone,timezone\n+14155550100,\n+14155550101,Asia/Tokyo\n");
        assert_eq!(contact(&rows[0]).key, "+14155550100");
        assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::Filtered));
    }

    #[test]
    fn a_row_with_the_wrong_cell_count_is_skipped_with_its_line() {
        let f = Fixture::new();
        let csv = "phone,name\n+14155550100,Ann\n+14155550101,Ben,extra\n\n+14155550102\n\"+14155550103\",\"multi\nline\"\n,,\n+14155550104,Dee\n";
        let rows = f.rows(csv);
        assert_eq!(contact(&rows[0]).key, "+14155550100");
        assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::InvalidRow));
        assert_eq!(rows[2], skipped(5, "+14155550102", SkipReason::InvalidRow));
        assert_eq!(contact(&rows[3]).fields["name"], "multi\nline");
        assert_eq!(rows[4], skipped(8, "line 8", SkipReason::InvalidRow));
        assert_eq!(rows[5], Row::Contact(contact(&rows[5]).clone()));
        assert_eq!(contact(&rows[5]).key, "+14155550104");
        // CRLF line endings count lines the same way.
        let rows = f.rows("phone,name\r\n+14155550100,Ann\r\n+14155550101\r\n");
        assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::InvalidRow));
    }

    #[test]
    fn an_unbalanced_quote_is_malformed_at_its_line() {
        let f = Fixture::new();
        // A stray quote inside a cell is text, as in `csv`; one that opens a cell must close.
        let csv = "phone,name\n+14155550100,\"Ann\n+14155550101,Ben\n+14155550102,Cy\n";
        let mut importer = f.open(csv).unwrap();
        let error = importer.next().unwrap().unwrap_err();
        match &error {
            ImportError::Malformed { line, .. } => assert_eq!(*line, 2),
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains("contacts.csv:2: malformed CSV"), "{error}");
        assert!(importer.next().is_none());

        let rows = f.rows("phone,name\n+14155550100,55\" TV\n+14155550101,\"a \"\"quote\"\"\"\n");
        assert_eq!(contact(&rows[0]).fields["name"], "55\" TV");
        assert_eq!(contact(&rows[1]).fields["name"], "a \"quote\"");

        // Good rows before it come first; a long file stops at the limit instead of reading
        // everything into one cell.
        let mut csv = String::from("phone,name\n+14155550100,Ann\n+14155550101,\"Ben\n");
        for i in 0..60_000 {
            csv.push_str(&format!("+1415555{:04},Someone\n", i % 10_000));
        }
        let mut importer = f.open(&csv).unwrap();
        assert!(matches!(importer.next(), Some(Ok(Row::Contact(_)))));
        assert!(matches!(importer.next(), Some(Err(ImportError::Malformed { line: 3, .. }))));
        assert!(importer.next().is_none());

        // In the header.
        let path = f.file("header.csv", "phone,\"name\n1,2\n");
        assert!(matches!(read_header(&path), Err(ImportError::Malformed { line: 1, .. })));
    }

    /// The tracker's runs of plain bytes give what stepping byte by byte gives (the state
    /// machine below, as the tracker was first written): each record's first line, the state,
    /// the line and where a quoted field opened, whatever the bytes and however reads split them.
    #[test]
    fn quote_tracking_by_runs_agrees_with_byte_by_byte() {
        use proptest::prelude::*;

        fn by_bytes(bytes: &[u8]) -> (Vec<u64>, bool, u64, u64, u64) {
            let (mut state, mut line, mut opened, mut quoted, mut starts) =
                (QuoteState::RecordStart, 1, 0, 0, Vec::new());
            for &b in bytes {
                let terminator = matches!(b, b'\n' | b'\r');
                if state == QuoteState::RecordStart && !terminator {
                    starts.push(line);
                    state = QuoteState::FieldStart;
                }
                state = match (state, b) {
                    (QuoteState::FieldStart, b'"') => {
                        (opened, quoted) = (line, 0);
                        QuoteState::Quoted
                    }
                    (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                    (QuoteState::Quoted, _) => {
                        quoted += 1;
                        QuoteState::Quoted
                    }
                    (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                    (_, _) if terminator => QuoteState::RecordStart,
                    (_, b',') => QuoteState::FieldStart,
                    (_, _) => QuoteState::Unquoted,
                };
                if b == b'\n' {
                    line += 1;
                }
            }
            (starts, state == QuoteState::Quoted, line, opened, quoted)
        }

        /// Hands out at most `chunk` bytes per read.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }

        let bytes = proptest::collection::vec(prop::sample::select(b"ab,\"\n\r".to_vec()), 0..80);
        proptest!(ProptestConfig::with_cases(2_000), |(bytes in bytes, chunk in 1usize..9)| {
            let mut tracker = QuoteTracker::new(io::BufReader::with_capacity(chunk, Trickle(&bytes, chunk))).unwrap();
            let mut out = Vec::new();
            tracker.read_to_end(&mut out).unwrap();
            prop_assert_eq!(&out, &bytes);
            let runs = (
                tracker.starts.iter().copied().collect::<Vec<_>>(),
                tracker.state == QuoteState::Quoted,
                tracker.line,
                tracker.opened,
                tracker.quoted,
            );
            prop_assert_eq!(runs, by_bytes(&bytes));
        });
    }

    #[test]
    fn invalid_utf8_is_malformed_at_its_line() {
        let f = Fixture::new();
        let path = f.file("latin1.csv", b"phone,name\n+14155550100,Ann\n+14155550101,Jos\xe9\n".as_slice());
        let mut importer = Importer::open(&path, f.settings()).unwrap();
        assert!(matches!(importer.next(), Some(Ok(Row::Contact(_)))));
        let error = importer.next().unwrap().unwrap_err();
        assert!(matches!(error, ImportError::Malformed { line: 3, .. }), "{error:?}");
        assert!(error.to_string().contains("UTF-8"), "{error}");
    }

    #[test]
    fn the_key_column_must_exist() {
        let mut f = Fixture::new();
        let error = f.open("name,city\nAnn,Paris\n").unwrap_err();
        match &error {
            ImportError::NoKeyColumn { columns, .. } => assert_eq!(columns, &["name", "city"]),
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains("`name`, `city`"), "{error}");
        f.spec.key = Some("customer_id".to_string());
        let error = f.open("phone,name\n+14155550100,Ann\n").unwrap_err();
        assert!(error.to_string().contains("key column `customer_id` is not in the header"), "{error}");
        // Defaults: phone, then email, then id.
        assert_eq!(Fixture::new().open("id,email\n").unwrap().key_column(), "email");
        assert_eq!(Fixture::new().open("id,name\n").unwrap().key_column(), "id");
        f.spec.key = Some("name".to_string());
        let rows = f.rows("phone,name\n+14155550100, Ann \n");
        assert_eq!(contact(&rows[0]).key, "Ann");
        // Empty files and duplicate names.
        assert!(matches!(Fixture::new().open(""), Err(ImportError::Malformed { line: 1, .. })));
        assert!(matches!(Fixture::new().open("phone,x,x\n"), Err(ImportError::Malformed { line: 1, .. })));
        let error = Importer::open(Path::new("/nonexistent/contacts.csv"), f.settings()).unwrap_err();
        assert!(matches!(error, ImportError::Open { .. }), "{error:?}");
    }

    #[test]
    fn the_report_counts_rows_per_reason() {
        let mut f = Fixture::new().filter("contact.name != \"skip\"");
        f.spec.suppress = vec![f.file("dnc.txt", "+14155550109\n")];
        let csv = "\
phone,name
+14155550100,a
bad,b
+14155550100,c
+14155550109,d
+14155550102,skip
+14155550103,e
,f
+14155550104,g,h
";
        let mut report = ImportReport::default();
        for row in f.open(csv).unwrap() {
            report.record(&row.unwrap());
        }
        assert_eq!(report.read, 8);
        assert_eq!(report.imported, 2);
        assert_eq!(report.skipped_total(), 6);
        assert_eq!(report.skipped[&SkipReason::Duplicate], 1);
        assert_eq!(
            report.to_string(),
            "8 rows: 2 imported, 6 skipped (1 invalid_row, 1 missing_key, 1 invalid_phone, 1 duplicate, 1 suppressed, 1 filtered)"
        );
        let big = ImportReport {
            read: 1000,
            imported: 990,
            skipped: BTreeMap::from([
                (SkipReason::Filtered, 1),
                (SkipReason::InvalidPhone, 4),
                (SkipReason::Suppressed, 2),
                (SkipReason::Duplicate, 3),
            ]),
        };
        assert_eq!(
            big.to_string(),
            "1,000 rows: 990 imported, 10 skipped (4 invalid_phone, 3 duplicate, 2 suppressed, 1 filtered)"
        );
        let one = ImportReport { read: 1, imported: 1, ..ImportReport::default() };
        assert_eq!(one.to_string(), "1 row: 1 imported, 0 skipped");
        assert_eq!(thousands(1_234_567), "1,234,567");
        for reason in SkipReason::ALL {
            assert_eq!(SkipReason::parse(reason.as_str()), Some(reason));
            assert!(!reason.describe().is_empty());
        }
    }

    #[test]
    fn fast_validity_agrees_with_phonenumber() {
        use phonenumber::metadata::DATABASE;
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut checked, mut valid) = (0, 0);
        let mut check = |text: String| {
            if let Ok(number) = phonenumber::parse(None, &text) {
                let expected = phonenumber::is_valid(&number);
                assert_eq!(validity::is_valid(&number), expected, "{text}");
                checked += 1;
                valid += usize::from(expected);
            }
        };
        // Every region's example numbers, as they are and with digits changed, dropped and added.
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let descriptors = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for example in descriptors.into_iter().flatten().filter_map(|d| d.example()) {
                for variant in 0..12u64 {
                    let mut digits: Vec<u8> = example.bytes().filter(u8::is_ascii_digit).collect();
                    let at = (random() as usize) % digits.len().max(1);
                    let digit = b'0' + (random() % 10) as u8;
                    match variant {
                        0 => {}
                        1 if !digits.is_empty() => _ = digits.remove(at),
                        2 => digits.insert(at, digit),
                        _ if !digits.is_empty() => digits[at] = digit,
                        _ => {}
                    }
                    check(format!("+{}{}", meta.country_code(), String::from_utf8(digits).unwrap()));
                }
            }
        }
        // North America: one code, many regions told apart by leading digits.
        for _ in 0..5_000 {
            check(format!("+1{:010}", random() % 10_000_000_000));
        }
        assert!(checked > 10_000 && valid > 3_000, "{checked} checked, {valid} valid");
    }

    /// `rows` generated contacts with distinct, valid US numbers in mixed formats.
    fn generated(rows: usize) -> String {
        const AREAS: [u32; 10] = [212, 415, 646, 312, 617, 206, 303, 404, 512, 702];
        let mut csv = String::with_capacity(rows * 80);
        csv.push_str("phone,email,first_name,employees,timezone\n");
        for i in 0..rows {
            let area = AREAS[i % AREAS.len()];
            let rest = i / AREAS.len();
            let exchange = 234 + rest / 10_000;
            let line = rest % 10_000;
            let phone = match i % 3 {
                0 => format!("({area}) {exchange}-{line:04}"),
                1 => format!("+1 {area} {exchange} {line:04}"),
                _ => format!("{area}.{exchange}.{line:04}"),
            };
            csv.push_str(&format!("{phone},user{i}@example.com,Name{i},{},America/Chicago\n", i % 500));
        }
        csv
    }

    /// Seconds this thread has run on a CPU (Linux), so that a loaded machine does not fail the
    /// speed check; elsewhere, wall-clock seconds.
    fn cpu_seconds(started: Instant) -> f64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .map_or_else(|| started.elapsed().as_secs_f64(), |ns| ns / 1e9)
    }

    /// Import `rows` generated rows: the report, wall-clock seconds and CPU seconds.
    fn stream(f: &Fixture, rows: usize) -> (ImportReport, f64, f64) {
        let path = f.file("big.csv", generated(rows));
        // Linux: restart the peak-memory count (VmHWM) here, after generating the file.
        _ = std::fs::write("/proc/self/clear_refs", "5");
        let started = Instant::now();
        let cpu_before = cpu_seconds(started);
        let mut report = ImportReport::default();
        for row in Importer::open(&path, f.settings()).unwrap() {
            report.record(&row.unwrap());
        }
        (report, started.elapsed().as_secs_f64(), cpu_seconds(started) - cpu_before)
    }

    #[test]
    fn a_large_file_streams() {
        // The full size in release; a tenth in debug builds, where the phone parser is slow.
        let rows = if cfg!(debug_assertions) { 20_000 } else { 200_000 };
        let f = Fixture::new().fields(&[("employees", FieldType::Number)]).filter("contact.employees >= 0");
        let (report, seconds, cpu) = stream(&f, rows);
        assert_eq!(report.read, rows as u64);
        assert_eq!(report.imported, rows as u64, "{report}");
        eprintln!("{rows} rows in {seconds:.2}s ({cpu:.2}s CPU): {:.0} rows/s", rows as f64 / seconds);
        if !cfg!(debug_assertions) {
            assert!(cpu < 5.0, "{rows} rows took {cpu:.2}s of CPU");
        }
    }

    /// Speed and peak memory for a million rows:
    /// `cargo test --release --lib contacts::tests::a_million_rows -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn a_million_rows() {
        let f = Fixture::new();
        let (report, seconds, _) = stream(&f, 1_000_000);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
        eprintln!("{report} in {seconds:.2}s ({:.0} rows/s); {peak}", report.read as f64 / seconds);
    }
}
