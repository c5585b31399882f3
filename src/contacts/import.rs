//! The importer: one CSV record at a time to a contact, or to a skipped row with its problem
//! (line, column, value, reason). Duplicates are found with a map of 64-bit key hashes to the
//! line that first had the key.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use compact_str::CompactString;

use super::csv_file::{
    CsvReader, MAX_FIELD, csv_error, long_record_detail, open_csv, record_line, unclosed_detail, unclosed_in_last,
};
use super::normalise::{self, DEFAULT_REGION, is_date, is_datetime, parse_bool, parse_number, parse_region};
use super::{Contact, ImportError, ImportSettings, Problem, Row, SkipReason, quoted};
use crate::bounded::{LineLimit, MAX_LINE_BYTES};
use crate::expr::Condition;
use crate::fields::Fields;
use crate::graph::{ContactSpec, FieldType};
use crate::phone::Region;
use crate::runtime::scope::{Campaign, LeadScope};

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

type KeySet = std::collections::HashSet<u64, BuildHasherDefault<PreHashed>>;
/// Keys seen (their hash as two halves), each with the line of the row that first had it: 12
/// bytes a slot where `(u64, u64)` would take 16 (a million keys hold 2 million slots).
type SeenKeys = HashMap<[u32; 2], u32, BuildHasherDefault<PreHashed>>;

fn halves(hash: u64) -> [u32; 2] {
    [hash as u32, (hash >> 32) as u32]
}

/// Room to make in the map of keys seen, for the file at `path`: its rows if they were as short
/// as a contact list's rows get (16 bytes: an id and a short name), at most two million. The
/// map then rarely grows during the import: a growth near the end of a million rows holds the
/// old table and one twice its size at once, which was the import's peak (BENCHMARKS.md).
fn expected_rows(path: &Path) -> usize {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    usize::try_from(bytes / 16).unwrap_or(usize::MAX).min(1 << 21)
}

/// Read a suppression list: a CSV (first column) or one entry per line. A first line that is
/// neither a phone nor an email is a header. Other entries that are neither are kept as
/// written, so that lists of ids suppress id keys.
fn load_suppressed(path: &Path, region: Option<Region>, into: &mut KeySet) -> Result<(), ImportError> {
    let error = |source| ImportError::Suppress { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(error)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(LineLimit::new(BufReader::new(file), MAX_LINE_BYTES));
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    while reader.read_byte_record(&mut record).map_err(|e| error(e.into()))? {
        let Some(cell) = record.get(0) else { continue };
        let cell = String::from_utf8_lossy(cell);
        let cell = cell.trim_start_matches('\u{feff}').trim();
        if cell.is_empty() {
            continue;
        }
        match normalise::normalise_address(cell, region) {
            Some(address) => _ = into.insert(key_hash(&address)),
            None if first => {}
            None => _ = into.insert(key_hash(cell)),
        }
        first = false;
    }
    Ok(())
}

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

/// How each column is read. A rejects file fed back in (fixed) keeps its appended columns out
/// of the contacts.
fn kinds(columns: &[String], spec: &ContactSpec) -> Vec<Kind> {
    let own = if super::rejects::is_rejects_header(columns) {
        columns.len() - super::rejects::APPENDED.len()
    } else {
        columns.len()
    };
    columns.iter().enumerate().map(|(i, name)| if i < own { kind_of(name, spec) } else { Kind::Ignore }).collect()
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
    required_names: Vec<String>,
    region: Option<Region>,
    /// The `region` column: the region of the row's national numbers.
    region_column: Option<usize>,
    seen: SeenKeys,
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
        let region_column = position("region");
        let mut suppressed = KeySet::default();
        for file in &spec.suppress {
            load_suppressed(file, region, &mut suppressed)?;
        }
        Ok(Importer {
            path: path.to_path_buf(),
            record: csv::StringRecord::new(),
            kinds: kinds(&columns, spec),
            names: columns.iter().map(CompactString::new).collect(),
            key,
            required: spec.require.iter().map(|name| position(name)).collect(),
            required_names: spec.require.clone(),
            columns,
            reader,
            region,
            region_column,
            seen: SeenKeys::with_capacity_and_hasher(expected_rows(path), Default::default()),
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

    /// A skipped row: its reason, and what is wrong (`column` and its cell, `message`).
    fn skipped(
        &self,
        line: u64,
        key: impl Into<Option<String>>,
        reason: SkipReason,
        column: Option<usize>,
        message: String,
    ) -> Row {
        let problem = Problem {
            column: column.map(|i| self.columns[i].clone()),
            value: column.and_then(|i| self.record.get(i)).map(str::to_string),
            message,
            cells: self.record.iter().map(str::to_string).collect(),
        };
        Row::Skipped { line, key: key.into(), reason, problem: Box::new(problem) }
    }

    /// The row's `region` cell, when it names a region other than `contacts.region` (a cell
    /// that names none, such as a sales region, is not the country of its numbers).
    fn row_region(&self) -> Option<Region> {
        let cell = self.region_column.and_then(|i| self.record.get(i)).map(str::trim)?;
        parse_region(cell).filter(|region| Some(*region) != self.region)
    }

    /// A phone cell in E.164: a national number in the row's region when it has one, else in
    /// `contacts.region`. A number valid in both, as different numbers, is refused: a `region`
    /// column of US states (`DE` is Delaware and Germany) must not send to another country.
    fn phone(&self, text: &str, row_region: Option<Region>) -> Result<String, (SkipReason, String)> {
        let invalid = |e: crate::phone::PhoneError| (SkipReason::InvalidPhone, format!("{} {e}", quoted(text)));
        let Some(row_region) = row_region else { return normalise::phone(text, self.region).map_err(invalid) };
        let in_row = normalise::phone(text, Some(row_region)).map_err(invalid)?;
        match (self.region, normalise::phone(text, self.region)) {
            (Some(default), Ok(other)) if other != in_row => Err((
                SkipReason::InvalidPhone,
                format!(
                    "{} is {in_row} in {row_region} (the region column) and {other} in {default} (contacts.region): write it with its country code",
                    quoted(text)
                ),
            )),
            _ => Ok(in_row),
        }
    }

    /// The row in `self.record`, which starts on `line`.
    fn row(&mut self, line: u64) -> Row {
        let record = &self.record;
        let raw_key = record.get(self.key).map_or("", str::trim).to_string();
        if record.len() != self.columns.len() {
            let key = (!raw_key.is_empty()).then_some(raw_key);
            let message = format!("the row has {} cells, the header {}", record.len(), self.columns.len());
            return self.skipped(line, key, SkipReason::InvalidRow, None, message);
        }
        if let Some(column) = record.iter().position(|cell| cell.len() > MAX_FIELD) {
            let key = (column != self.key && !raw_key.is_empty()).then_some(raw_key);
            let message = format!("is longer than {} (the limit)", crate::bounded::size(MAX_FIELD));
            return self.skipped(line, key, SkipReason::InvalidRow, Some(column), message);
        }
        if raw_key.is_empty() {
            return self.skipped(
                line,
                None,
                SkipReason::MissingKey,
                Some(self.key),
                "is empty (the key column)".into(),
            );
        }
        let region = self.row_region();
        let key = match self.kinds[self.key] {
            Kind::Phone => self.phone(&raw_key, region),
            Kind::Email => normalise::normalise_email(&raw_key)
                .ok_or_else(|| (SkipReason::InvalidEmail, format!("{} is not an email address", quoted(&raw_key)))),
            _ => Ok(raw_key.clone()),
        };
        let key = match key {
            Ok(key) => key,
            Err((reason, message)) => return self.skipped(line, raw_key, reason, Some(self.key), message),
        };
        // The first row with a key is that contact, whether it is imported or skipped: a later
        // row with the same key is a duplicate either way (one lead per key, and the report
        // counts what the store holds).
        let hash = key_hash(&key);
        if let Some(first) = self.seen.get(&halves(hash)).copied() {
            let message = format!("duplicates line {first} (the same {} {key})", self.columns[self.key]);
            return self.skipped(line, key, SkipReason::Duplicate, None, message);
        }
        self.seen.insert(halves(hash), u32::try_from(line).unwrap_or(u32::MAX));
        if let Some(missing) = self.missing_required() {
            return match missing {
                Ok(i) => self.skipped(
                    line,
                    key,
                    SkipReason::MissingRequired,
                    Some(i),
                    "is empty (contacts.require lists it)".into(),
                ),
                Err(name) => {
                    let message = format!("column {name} is not in the header (contacts.require lists it)");
                    self.skipped(line, key, SkipReason::MissingRequired, None, message)
                }
            };
        }
        let mut suppressed = self.suppressed.contains(&hash) || self.external.iter().any(|f| f(&key));
        let mut contact = Contact { key, timezone: None, fields: Fields::with_capacity(self.record.len()) };
        for i in 0..self.record.len() {
            match self.cell(i, region, &mut contact) {
                Ok(Some((value, also_suppressed))) => {
                    suppressed |= also_suppressed;
                    contact.fields.insert(self.names[i].clone(), value);
                }
                Ok(None) => {}
                Err((reason, message)) => return self.skipped(line, contact.key, reason, Some(i), message),
            }
        }
        if suppressed {
            return self.skipped(
                line,
                contact.key,
                SkipReason::Suppressed,
                None,
                "the contact is on a suppression list".into(),
            );
        }
        if let Some(filter) = &self.filter {
            let campaign = Campaign { id: &self.campaign_id, name: &self.campaign_name, data: &self.data };
            let zone = contact.timezone.as_deref().and_then(|tz| tz.parse().ok()).unwrap_or(self.default_timezone);
            let scope = LeadScope::before_lead(campaign, &contact, self.now, zone);
            if !filter.holds(&scope) {
                return self.skipped(
                    line,
                    contact.key,
                    SkipReason::Filtered,
                    None,
                    "contacts.where is not true".into(),
                );
            }
        }
        Row::Contact(contact)
    }

    /// The first `require` column that is empty in the row (`Ok(index)`) or not in the header
    /// (`Err(name)`).
    fn missing_required(&self) -> Option<Result<usize, String>> {
        self.required.iter().enumerate().find_map(|(n, index)| match index {
            None => Some(Err(self.required_names[n].clone())),
            Some(i) if self.record[*i].trim().is_empty() => Some(Ok(*i)),
            Some(_) => None,
        })
    }

    /// Cell `i` as its column's type: `Ok(None)` when it adds no field, else the value and
    /// whether it is a suppressed address; `Err` with the reason and the message.
    fn cell(
        &self,
        i: usize,
        region: Option<Region>,
        contact: &mut Contact,
    ) -> Result<Option<(serde_json::Value, bool)>, (SkipReason, String)> {
        let cell = &self.record[i];
        let text = cell.trim();
        if text.is_empty() {
            // An empty text cell is empty text (`contact.x != ""` filters it, as docs/language.md's
            // example does); an empty typed cell has no value (null).
            return Ok((self.kinds[i] == Kind::Text).then(|| (serde_json::Value::String(String::new()), false)));
        }
        let field = |expected: &str| (SkipReason::InvalidField, format!("{} is not {expected}", quoted(text)));
        let value = match self.kinds[i] {
            Kind::Ignore => return Ok(None),
            Kind::Text => serde_json::Value::String(cell.to_string()),
            Kind::Number => parse_number(text).ok_or_else(|| field("a number"))?,
            Kind::Bool => {
                parse_bool(text).map(serde_json::Value::Bool).ok_or_else(|| field("true or false (or yes/no, 1/0)"))?
            }
            Kind::Date if is_date(text) => text.into(),
            Kind::DateTime if is_datetime(text) => text.into(),
            Kind::Date => {
                let expected = normalise::date_hint(text).unwrap_or_else(|| "YYYY-MM-DD".to_string());
                return Err(field(&format!("a date (expected {expected})")));
            }
            Kind::DateTime => {
                let hint = normalise::date_hint(text).map(|d| format!(", or {d}")).unwrap_or_default();
                return Err(field(&format!("a datetime (expected RFC 3339 such as 2026-03-10T09:00:00-05:00{hint})")));
            }
            Kind::Zone | Kind::ContactZone => match text.parse::<Tz>() {
                Ok(tz) => {
                    if self.kinds[i] == Kind::ContactZone {
                        contact.timezone = Some(tz.name().to_string());
                    }
                    tz.name().into()
                }
                Err(_) => {
                    let reason = if self.kinds[i] == Kind::Zone {
                        SkipReason::InvalidField
                    } else {
                        SkipReason::InvalidTimezone
                    };
                    let hint =
                        normalise::zone_suggestion(text).map(|z| format!(" (did you mean {z}?)")).unwrap_or_default();
                    return Err((reason, format!("{} is not an IANA time zone name{hint}", quoted(text))));
                }
            },
            Kind::Phone | Kind::Email => {
                let normal = if i == self.key {
                    Ok(contact.key.clone())
                } else if self.kinds[i] == Kind::Phone {
                    self.phone(text, region)
                } else {
                    normalise::normalise_email(text)
                        .ok_or_else(|| (SkipReason::InvalidEmail, format!("{} is not an email address", quoted(text))))
                }?;
                let suppressed = i != self.key && self.is_suppressed(&normal);
                return Ok(Some((normal.into(), suppressed)));
            }
        };
        Ok(Some((value, false)))
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
                let cut = &mut self.reader.get_mut().cut;
                while cut.front().is_some_and(|&start| start < line) {
                    cut.pop_front();
                }
                if cut.front() == Some(&line) {
                    cut.pop_front();
                    // What was read of it may end mid-cell: no key from it is trusted.
                    let message = long_record_detail();
                    return Some(Ok(self.skipped(line, None, SkipReason::InvalidRow, None, message)));
                }
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
