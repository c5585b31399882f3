//! `--rejects FILE`: every row skipped for a problem of its own, as CSV: the row's cells under
//! the contacts file's header, then `line,column,value,reason`, so that it can be fixed and
//! imported again. Written to a temporary file beside it and renamed at the end; a file that
//! herald did not write (its header does not end with those four columns) is never replaced, nor
//! the contacts file being read. A rejects file fed back in (fixed) has its four columns left
//! out by the import, and out of the next rejects file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use super::Row;

/// The columns appended to the row's own.
pub const APPENDED: [&str; 4] = ["line", "column", "value", "reason"];

/// Whether a header ends with the appended columns: the file is a rejects file.
pub fn is_rejects_header(columns: &[String]) -> bool {
    columns.len() >= APPENDED.len() && columns[columns.len() - APPENDED.len()..].iter().eq(APPENDED.iter())
}

pub struct Rejects {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
    writer: csv::Writer<BufWriter<File>>,
    header: bool,
    /// The row's own cells: the contacts file's columns, without appended ones it had.
    width: usize,
    rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RejectsError {
    #[error("--rejects {}: {reason}", .path.display())]
    Refused { path: PathBuf, reason: String },
    #[error("--rejects {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Rejects {
    /// Ready to write `path`, which must not exist or be a rejects file herald wrote, and must
    /// not be the `contacts` file being imported.
    pub fn create(path: &Path, contacts: &Path) -> Result<Rejects, RejectsError> {
        let refused = |reason: &str| RejectsError::Refused { path: path.to_path_buf(), reason: reason.to_string() };
        let io = |source| RejectsError::Io { path: path.to_path_buf(), source };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_file() => return Err(refused("is not a regular file; not replaced")),
            Ok(_) if same_file(path, contacts) => {
                return Err(refused("is the contacts file being imported; not replaced"));
            }
            Ok(_) if !written_by_herald(path) => {
                return Err(refused(
                    "exists and is not a rejects file herald wrote (its header does not end with line,column,value,reason); not replaced",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new().prefix(".herald-rejects").tempfile_in(dir).map_err(io)?;
        let file = temp.reopen().map_err(io)?;
        // Rows with the wrong number of cells are rejects too: the writer takes every length.
        let writer = csv::WriterBuilder::new().flexible(true).from_writer(BufWriter::new(file));
        Ok(Rejects { path: path.to_path_buf(), temp, writer, header: false, width: 0, rows: 0 })
    }

    /// The contacts file's columns: the rejects file's header is them and the four appended.
    pub fn header(&mut self, columns: &[String]) -> Result<(), RejectsError> {
        if self.header {
            return Ok(());
        }
        self.header = true;
        let own = if is_rejects_header(columns) { &columns[..columns.len() - APPENDED.len()] } else { columns };
        self.width = own.len();
        let header = own.iter().map(String::as_str).chain(APPENDED);
        self.writer.write_record(header).map_err(|e| self.error(e.into()))
    }

    /// Writes `row` when it was skipped for a problem of its own.
    pub fn write(&mut self, row: &Row) -> Result<(), RejectsError> {
        let Row::Skipped { line, reason, problem, .. } = row else { return Ok(()) };
        if !reason.is_problem() {
            return Ok(());
        }
        let line = line.to_string();
        let appended = [
            line.as_str(),
            problem.column.as_deref().unwrap_or(""),
            problem.value.as_deref().unwrap_or(""),
            reason.as_str(),
        ];
        // A short row is padded, so that the appended columns stay under their names; a long
        // one is written whole.
        let width = self.width.max(problem.cells.len());
        let cells = problem.cells.iter().map(String::as_str).chain(std::iter::repeat("")).take(width);
        self.rows += 1;
        self.writer.write_record(cells.chain(appended)).map_err(|e| self.error(e.into()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file, and says how many rows it has.
    pub fn finish(mut self) -> Result<u64, RejectsError> {
        self.writer.flush().map_err(|e| self.error(e))?;
        let path = self.path.clone();
        let io = |source| RejectsError::Io { path: path.clone(), source };
        self.temp.as_file().sync_all().map_err(io)?;
        self.temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(self.rows)
    }

    fn error(&self, source: io::Error) -> RejectsError {
        RejectsError::Io { path: self.path.clone(), source }
    }
}

/// The two paths name one file (a link, another spelling).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The file's first line ends with the four columns this writes.
fn written_by_herald(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    let mut first = String::new();
    if BufReader::new(file).take(1 << 20).read_line(&mut first).is_err() {
        return false;
    }
    first.trim_end().ends_with("line,column,value,reason")
}
