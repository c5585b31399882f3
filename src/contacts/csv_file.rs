//! Reading a contacts CSV: the BOM, quotes that are never closed (reported with the line they
//! opened on), each record's first line, and errors with their line.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::ImportError;

/// A quoted field longer than this is taken for a quote that is never closed (instead of
/// reading the rest of the file into one cell).
pub(super) const MAX_QUOTED: u64 = 1 << 20;

/// The longest record (a row, with any lines its quoted cells span): past it the row is cut
/// and skipped, since `csv` would otherwise hold a row of any length; with no end of the row
/// within `MAX_SKIP_BYTES` after it (`/dev/zero` is one row), the file is refused.
pub(super) const MAX_RECORD: u64 = crate::bounded::MAX_LINE_BYTES as u64;

/// The longest cell: a longer one makes its row `invalid_row` (the row itself fits in memory).
pub(super) const MAX_FIELD: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum QuoteState {
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
pub(super) struct QuoteTracker<R> {
    inner: R,
    pub(super) state: QuoteState,
    /// The line being read (1-based, counting `\n` like `csv_core`).
    pub(super) line: u64,
    /// Where the current quoted field opened, and how long it is so far.
    pub(super) opened: u64,
    pub(super) quoted: u64,
    /// Bytes passed on.
    total: u64,
    /// The first line of each record read ahead of the CSV reader (at most a buffer's worth).
    pub(super) starts: VecDeque<u64>,
    /// The end of the file came inside a quoted field opened on this line.
    unclosed: Option<u64>,
    /// A quoted field opened on this line grew past `MAX_QUOTED`; reading stopped.
    overlong: Option<u64>,
    /// Where the record being read began, and its bytes so far.
    record_start: u64,
    record_bytes: u64,
    /// A record that grew past `MAX_RECORD` with no end within `MAX_SKIP_BYTES` began on this
    /// line; reading stopped.
    long_record: Option<u64>,
    /// The record that began on this line passed `MAX_RECORD` and its rest is being read past,
    /// and how many bytes of it so far.
    skipping: Option<u64>,
    skipped: u64,
    /// The first lines of records cut short, for the importer to skip.
    pub(super) cut: VecDeque<u64>,
}

impl<R: BufRead> QuoteTracker<R> {
    pub(super) fn new(mut inner: R) -> io::Result<QuoteTracker<R>> {
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
            record_start: 1,
            record_bytes: 0,
            long_record: None,
            skipping: None,
            skipped: 0,
            cut: VecDeque::new(),
        })
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(line) = self.overlong {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unclosed quote on line {line}")));
        }
        if let Some(line) = self.long_record {
            return Err(long_record_error(line));
        }
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                self.skipping = None;
                if self.state == QuoteState::Quoted {
                    self.unclosed = Some(self.opened);
                }
                return Ok(0);
            }
            if self.skipping.is_none() {
                return self.track(buf, n);
            }
            if let Some(end) = self.skip(&buf[..n])? {
                buf.copy_within(end..n, 0);
                return self.track(buf, n - end);
            }
        }
    }
}

impl<R> QuoteTracker<R> {
    /// Reads past the rest of a record that passed `MAX_RECORD`, following quotes as `csv_core`
    /// does, without passing it on: the position of the terminator that ends it, if in `bytes`.
    fn skip(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        for (i, &b) in bytes.iter().enumerate() {
            let terminator = matches!(b, b'\n' | b'\r');
            if terminator && self.state != QuoteState::Quoted {
                self.skipping = None;
                return Ok(Some(i));
            }
            self.state = match (self.state, b) {
                (QuoteState::FieldStart, b'"') => {
                    self.opened = self.line;
                    QuoteState::Quoted
                }
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (_, b',') => QuoteState::FieldStart,
                (_, _) => QuoteState::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
        self.skipped += bytes.len() as u64;
        if self.skipped > crate::bounded::MAX_SKIP_BYTES {
            let line = self.skipping.take().unwrap_or(self.record_start);
            self.long_record = Some(line);
            return Err(long_record_error(line));
        }
        Ok(None)
    }

    /// Follows the first `n` bytes of `buf`, all passed on.
    fn track(&mut self, buf: &mut [u8], n: usize) -> io::Result<usize> {
        let mut at = 0;
        while at < n {
            // Outside quotes, a run of bytes up to the next `\n`, `\r` or `"` changes nothing
            // but the state its last byte leaves (most of a file is such runs).
            if matches!(self.state, QuoteState::RecordStart | QuoteState::FieldStart | QuoteState::Unquoted) {
                let run = buf[at..n].iter().position(|&b| matches!(b, b'\n' | b'\r' | b'"')).unwrap_or(n - at);
                if run > 0 {
                    if self.state == QuoteState::RecordStart {
                        self.record_started();
                    }
                    self.record_bytes += run as u64;
                    at += run;
                    self.state = if buf[at - 1] == b',' { QuoteState::FieldStart } else { QuoteState::Unquoted };
                    continue;
                }
            }
            let b = buf[at];
            at += 1;
            let terminator = matches!(b, b'\n' | b'\r');
            if self.state == QuoteState::RecordStart && !terminator {
                self.record_started();
                self.state = QuoteState::FieldStart;
            }
            self.record_bytes += 1;
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
        // Inside a quoted field the quote limit speaks first: a never-closed quote is the likelier
        // mistake, and its message names the line the quote opened on; a row of many quoted
        // cells is refused only past both limits.
        if self.state == QuoteState::Quoted && self.record_bytes > MAX_RECORD + MAX_QUOTED {
            self.long_record = Some(self.record_start);
            return Err(long_record_error(self.record_start));
        }
        // Outside quotes a row too long is cut here (the CSV reader holds at most this chunk
        // more) and the rest of it read past: the importer skips it as `invalid_row`.
        if matches!(self.state, QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::QuoteInQuoted)
            && self.record_bytes > MAX_RECORD
        {
            self.skipping = Some(self.record_start);
            self.skipped = 0;
            self.cut.push_back(self.record_start);
        }
        self.total += n as u64;
        Ok(n)
    }

    fn record_started(&mut self) {
        self.starts.push_back(self.line);
        self.record_start = self.line;
        self.record_bytes = 0;
    }
}

fn long_record_error(line: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the row on line {line} is too long"))
}

pub(super) fn long_record_detail() -> String {
    format!("the row is longer than {} (the limit)", crate::bounded::size(MAX_RECORD as usize))
}

pub(super) type CsvReader = csv::Reader<QuoteTracker<BufReader<File>>>;

pub(super) fn unclosed_detail() -> String {
    "a quoted field opened on this line is never closed (unbalanced `\"`)".to_string()
}

/// The file's CSV reader, positioned after the header, and the header's names.
pub(super) fn open_csv(path: &Path) -> Result<(CsvReader, Vec<String>), ImportError> {
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
pub(super) fn unclosed_in_last(reader: &CsvReader) -> Option<u64> {
    let tracker = reader.get_ref();
    tracker.unclosed.filter(|_| reader.position().byte() >= tracker.total)
}

/// The first line of the record just read: `csv` gives where reading began, before any blank
/// lines; the tracker saw where the record itself began.
pub(super) fn record_line(reader: &mut CsvReader, record: &csv::StringRecord) -> u64 {
    let began = record.position().map_or_else(|| reader.position().line(), |p| p.line());
    match reader.get_mut().starts.pop_front() {
        Some(line) if line >= began => line,
        _ => began,
    }
}

pub(super) fn csv_error(path: &Path, reader: &mut CsvReader, error: csv::Error) -> ImportError {
    let path = path.to_path_buf();
    if let Some(line) = reader.get_ref().overlong {
        return ImportError::Malformed { path, line, detail: unclosed_detail() };
    }
    if let Some(line) = reader.get_ref().long_record {
        return ImportError::Malformed { path, line, detail: long_record_detail() };
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
