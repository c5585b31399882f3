//! Reading input that a stranger may have written, in bounded memory: a line reader that gives
//! up on a line past a limit and skips to the next newline without keeping it, and a `Read`
//! adapter that refuses a file once any line in it passes a limit (for the CSV readers, which
//! otherwise grow a record to whatever the file holds: `/dev/zero` is one endless line).

use std::io::{self, BufRead, Read};

/// The longest line of any line-oriented input herald reads (event lines, CSV records).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The most bytes read past, without keeping them, to find the end of a line that was too
/// long: past this the input is taken for one endless line (`/dev/zero`) and reading stops.
pub const MAX_SKIP_BYTES: u64 = 256 << 20;

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The end of the input.
    End,
    /// A line is in the buffer (with its `\n`, if it had one).
    Read,
    /// The line passed the limit: the buffer is empty and the reader is inside the line, for
    /// [`skip_line`] to read past the rest of it.
    TooLong,
}

/// How [`skip_line`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Skipped {
    /// At the start of the next line.
    Newline,
    /// At the end of the input.
    End,
    /// `budget` bytes read without finding a newline.
    Budget,
}

/// Reads one line into `buffer` (cleared first), keeping at most `limit` bytes of it.
/// `BufRead::read_until` would keep an endless line whole; this loop over `fill_buf`/`consume`
/// stops as soon as the line passes `limit`, holding no more than `limit` bytes.
pub fn read_line<R: BufRead + ?Sized>(reader: &mut R, buffer: &mut Vec<u8>, limit: usize) -> io::Result<Line> {
    buffer.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buffer.is_empty() { Line::End } else { Line::Read });
        }
        let (taken, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        // The `\n` itself does not count towards the limit.
        if buffer.len() + taken - usize::from(ended) > limit {
            buffer.clear();
            return Ok(Line::TooLong);
        }
        buffer.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if ended {
            return Ok(Line::Read);
        }
    }
}

/// Reads past the rest of a line (up to and including its `\n`) without keeping it, giving up
/// after `budget` bytes.
pub fn skip_line<R: BufRead + ?Sized>(reader: &mut R, budget: u64) -> io::Result<Skipped> {
    let mut skipped = 0u64;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(Skipped::End);
        }
        if let Some(at) = available.iter().position(|&b| b == b'\n') {
            reader.consume(at + 1);
            return Ok(Skipped::Newline);
        }
        let taken = available.len();
        reader.consume(taken);
        skipped += taken as u64;
        if skipped >= budget {
            return Ok(Skipped::Budget);
        }
    }
}

/// Passes a file through unchanged until a line in it passes `limit` bytes, then fails with
/// `InvalidData` naming that line: for readers that would otherwise hold the whole line.
pub struct LineLimit<R> {
    inner: R,
    limit: usize,
    /// Bytes of the current line so far, and its number (1-based).
    current: usize,
    line: u64,
}

impl<R> LineLimit<R> {
    pub fn new(inner: R, limit: usize) -> LineLimit<R> {
        LineLimit { inner, limit, current: 0, line: 1 }
    }
}

/// The error [`LineLimit`] fails with.
pub fn too_long_error(line: u64, limit: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("line {line} is longer than {} (the limit)", size(limit)))
}

/// A byte count as people say it: `1 MiB`, `64 KiB`, else bytes.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current > self.limit {
            return Err(too_long_error(self.line, self.limit));
        }
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
                self.current = 0;
            } else {
                self.current += 1;
                if self.current > self.limit {
                    return Err(too_long_error(self.line, self.limit));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `b'0'` forever, like `/dev/zero`.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'0');
            Ok(buf.len())
        }
    }

    #[test]
    fn an_endless_line_is_refused_after_the_limit_and_skipping_it_gives_up() {
        let mut reader = io::BufReader::new(Endless);
        let mut buffer = Vec::new();
        assert_eq!(read_line(&mut reader, &mut buffer, 1024).unwrap(), Line::TooLong);
        assert!(buffer.capacity() <= 1024 + 8 * 1024, "{}", buffer.capacity());
        assert_eq!(skip_line(&mut reader, 1 << 20).unwrap(), Skipped::Budget);
    }

    #[test]
    fn an_endless_line_is_an_error_after_the_limit_line_limit() {
        let mut limited = LineLimit::new(Endless, 1 << 20);
        let mut sink = Vec::new();
        let error = limited.read_to_end(&mut sink).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "line 1 is longer than 1 MiB (the limit)");
        assert!(sink.len() <= (1 << 20) + 64 * 1024, "{}", sink.len());
    }

    #[test]
    fn lines_at_and_past_the_limit() {
        let input = b"abc\nabcd\nabcde\n\nab";
        let mut reader = io::BufReader::with_capacity(2, &input[..]);
        let mut buffer = Vec::new();
        let mut found = Vec::new();
        loop {
            match read_line(&mut reader, &mut buffer, 4).unwrap() {
                Line::End => break,
                Line::Read => found.push(String::from_utf8(buffer.clone()).unwrap()),
                Line::TooLong => {
                    assert_eq!(skip_line(&mut reader, 100).unwrap(), Skipped::Newline);
                    found.push("too long".into());
                }
            }
        }
        assert_eq!(found, ["abc\n", "abcd\n", "too long", "\n", "ab"]);
    }
}
