//! The file behind `--outbox FILE`: where the `log` channel's lines go when they must survive
//! a crash.

use std::path::Path;

/// An outbox file. Lines collect in memory and go out in one write at `flush`, which returns
/// once they are on disk (data, not only in the page cache): the driver marks actions done only
/// after that.
pub struct OutboxFile {
    file: std::fs::File,
    pending: Vec<u8>,
    /// Only a regular file is synced (`/dev/null` or a pipe cannot be).
    regular: bool,
}

impl OutboxFile {
    /// Opens for appending. A kill in the middle of a write can leave a torn last line; it is
    /// cut off, since its action was not marked done and is offered again.
    pub fn open(path: &std::path::Path) -> std::io::Result<OutboxFile> {
        use std::io::{Read, Seek, SeekFrom};
        let existed = path.exists();
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path)?;
        if !existed {
            // A new file's directory entry must survive a power cut as well as its lines.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::File::open(dir)?.sync_all()?;
        }
        let meta = file.metadata()?;
        let (len, regular) = (meta.len(), meta.is_file());
        if regular && len > 0 {
            let tail = len.min(1 << 20);
            file.seek(SeekFrom::Start(len - tail))?;
            let mut buf = Vec::with_capacity(tail as usize);
            Read::by_ref(&mut file).take(tail).read_to_end(&mut buf)?;
            if buf.last() != Some(&b'\n') {
                let keep = match buf.iter().rposition(|&b| b == b'\n') {
                    Some(i) => len - tail + i as u64 + 1,
                    None if tail == len => 0,
                    None => len,
                };
                file.set_len(keep)?;
                crate::say!("run: cut a torn last line off the outbox {}", path.display());
            }
        }
        Ok(OutboxFile { file, pending: Vec::with_capacity(1 << 16), regular })
    }
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

    use super::OutboxFile;

    #[test]
    fn a_torn_last_line_is_cut_and_whole_lines_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        for (before, after) in [
            ("{\"a\":1}\n{\"b\":2}\n{\"c\":", "{\"a\":1}\n{\"b\":2}\n"),
            ("{\"c\":", ""),
            ("{\"a\":1}\n", "{\"a\":1}\n"),
            ("", ""),
        ] {
            std::fs::write(&path, before).unwrap();
            let mut file = OutboxFile::open(&path).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "{before:?}");
            file.write_all(b"{\"d\":4}\n").unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "nothing is written before flush");
            file.flush().unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{after}{{\"d\":4}}\n"));
        }
    }
}
