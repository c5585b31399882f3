//! The file behind `--outbox FILE`: where the `log` channel's lines go when they must survive
//! a crash.
//!
//! An existing file is only appended to, and only repaired, when its lines are herald's own:
//! `--outbox` naming the wrong file (a CSV, a campaign, someone's notes) must not lose a byte
//! of it, so anything else is refused before it is changed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How much of the file's start and end is read to judge it, and so the longest line herald
/// accepts there. A herald line is a few hundred bytes: a line this long is not one.
const WINDOW: u64 = 1 << 20;

/// The fields every line of the `log` channel has (`log::line`), by which herald knows its own.
const FIELDS: [&str; 4] = ["key", "campaign", "contact", "step"];

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(
        "--outbox {}: {reason}; it is left as it is (give a new file, or one that herald's outbox lines were written to)",
        .path.display()
    )]
    Refused { path: PathBuf, reason: String },
    #[error("cannot open the outbox {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An outbox file. Lines collect in memory and go out in one write at `flush`, which returns
/// once they are on disk (data, not only in the page cache): the driver marks actions done only
/// after that.
pub struct OutboxFile {
    file: File,
    pending: Vec<u8>,
    /// Only a regular file is synced (`/dev/null` or a pipe cannot be).
    regular: bool,
}

impl OutboxFile {
    /// Opens for appending. A kill in the middle of a write can leave a torn last line; it is
    /// cut off, since its action was not marked done and is offered again. A non-empty
    /// regular file whose lines are not herald's is refused untouched.
    pub fn open(path: &Path) -> Result<OutboxFile, OutboxError> {
        let io = |source| OutboxError::Io { path: path.to_path_buf(), source };
        let existed = path.exists();
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path).map_err(io)?;
        if !existed {
            // A new file's directory entry must survive a power cut as well as its lines.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let meta = file.metadata().map_err(io)?;
        let (len, regular) = (meta.len(), meta.is_file());
        if regular && len > 0 {
            let keep = match whole_end(&mut file, len).map_err(io)? {
                Ok(keep) => keep,
                Err(reason) => return Err(OutboxError::Refused { path: path.to_path_buf(), reason }),
            };
            if keep < len {
                file.set_len(keep).map_err(io)?;
                crate::say!("run: cut a torn last line off the outbox {}", path.display());
            }
        }
        Ok(OutboxFile { file, pending: Vec::with_capacity(1 << 16), regular })
    }
}

/// Where the herald outbox in `file` (`len` bytes, more than 0) ends its last whole line:
/// `len` when nothing is torn. `Ok(Err(reason))` when it is not herald's: its first line, or a
/// whole line within its last `WINDOW` bytes, is not a herald line, or its torn end cannot be
/// the start of one.
fn whole_end(file: &mut File, len: u64) -> io::Result<Result<u64, String>> {
    let head = read_at(file, 0, len.min(WINDOW))?;
    match head.iter().position(|&b| b == b'\n') {
        Some(end) if !is_herald_line(&head[..end]) => return Ok(Err(not_herald("its first line"))),
        Some(_) => {}
        // One line and no newline: all of it is torn, or it is no outbox at all.
        None if len <= WINDOW => {
            return Ok(if is_torn_herald_line(&head) { Ok(0) } else { Err(not_herald("its only line")) });
        }
        None => return Ok(Err("its first line is longer than 1 MiB, which no herald line is".into())),
    }
    let start = len - len.min(WINDOW);
    let tail = if start == 0 { head } else { read_at(file, start, WINDOW)? };
    let Some(last) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok(Err("its last line is longer than 1 MiB, which no herald line is".into()));
    };
    // Past the window's start, its first piece may be the end of a line that began before it.
    let from = if start == 0 { 0 } else { tail.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1) };
    if from <= last && !tail[from..last].split(|&b| b == b'\n').all(is_herald_line) {
        return Ok(Err(not_herald("a line near its end")));
    }
    let torn = &tail[last + 1..];
    if torn.is_empty() {
        return Ok(Ok(len));
    }
    if !is_torn_herald_line(torn) {
        return Ok(Err(not_herald("its unfinished last line")));
    }
    Ok(Ok(len - torn.len() as u64))
}

fn not_herald(what: &str) -> String {
    format!("{what} is not a herald outbox line (a JSON object with {})", FIELDS.join(", "))
}

/// `n` bytes (or fewer at the end) of `file` from `start`.
fn read_at(file: &mut File, start: u64, n: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    Read::by_ref(file).take(n).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A whole line the `log` channel writes: a JSON object with the four identifying fields.
fn is_herald_line(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line)
        .is_ok_and(|object| FIELDS.iter().all(|f| object.get(*f).is_some_and(serde_json::Value::is_string)))
}

/// The start of a herald line cut short by a kill: a whole herald line that lost only its
/// newline, or the start of a JSON object that does not parse yet (`log::line` writes objects
/// only, each starting `{"`).
fn is_torn_herald_line(torn: &[u8]) -> bool {
    if serde_json::from_slice::<serde_json::Value>(torn).is_ok() {
        return is_herald_line(torn);
    }
    torn.starts_with(b"{\"") || torn == b"{"
}

impl std::io::Write for OutboxFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        if self.regular { self.file.sync_data() } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{OutboxError, OutboxFile, WINDOW};

    /// A herald line with `n` in its key.
    fn line(n: u32) -> String {
        format!(
            "{{\"campaign\":\"c\",\"contact\":\"+1415555010{n}\",\"key\":\"c/{n}/s/1\",\"step\":\"s\",\"text\":\"hi\"}}\n"
        )
    }

    #[test]
    fn a_torn_last_herald_line_is_cut_and_whole_lines_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (a, b) = (line(1), line(2));
        let whole = format!("{a}{b}");
        for (before, after) in [
            (format!("{whole}{{\"campaign\":\"c\",\"cont"), whole.clone()),
            (format!("{whole}{}", b.trim_end()), whole.clone()),
            ("{\"campaign\":\"c".to_string(), String::new()),
            ("{".to_string(), String::new()),
            (a.clone(), a.clone()),
            (String::new(), String::new()),
        ] {
            std::fs::write(&path, &before).unwrap();
            let mut file = OutboxFile::open(&path).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "{before:?}");
            let next = line(3);
            file.write_all(next.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "nothing is written before flush");
            file.flush().unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{after}{next}"));
        }
    }

    #[test]
    fn a_file_that_is_not_a_herald_outbox_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let (a, b) = (line(1), line(2));
        for before in [
            "first line\nsecond line\nno newline at the end".to_string(),
            "no newline at all".to_string(),
            "phone,name\n+14155550101,Ada\n".to_string(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":".to_string(),
            "[\"key\",\"campaign\",\"contact\",\"step\"]\n".to_string(),
            // Herald's lines, then someone else's: not ours to cut.
            format!("{a}{b}a note\n{{\"camp"),
            format!("{a}\n{b}"),
            "{\"a\":1}".to_string(),
            "\n".to_string(),
        ] {
            std::fs::write(&path, &before).unwrap();
            let error = OutboxFile::open(&path).err();
            assert!(matches!(error, Some(OutboxError::Refused { .. })), "{before:?}: {error:?}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "the file was changed");
        }
    }

    #[test]
    fn a_long_outbox_is_judged_by_its_first_line_and_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let lines: String = (0..(2 * WINDOW as u32 / 80)).map(|n| line(n % 10)).collect();
        assert!(lines.len() as u64 > 2 * WINDOW);
        std::fs::write(&path, format!("{lines}{{\"campaign\"")).unwrap();
        OutboxFile::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), lines);
        // Someone else's line at the start of a long file: refused.
        std::fs::write(&path, format!("a note\n{lines}")).unwrap();
        assert!(OutboxFile::open(&path).is_err());
    }
}
