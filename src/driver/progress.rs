//! A progress line on stderr for long work, only when stderr is a terminal (a log or a CI job
//! gets the commands' own summary lines instead).

use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    on: bool,
    started: Instant,
    last: std::cell::Cell<Instant>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        let now = Instant::now();
        Progress { on: std::io::stderr().is_terminal(), started: now, last: std::cell::Cell::new(now) }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Redraws the line, at most four times a second.
    pub fn show(&self, line: std::fmt::Arguments) {
        if !self.on || self.last.get().elapsed().as_millis() < 250 {
            return;
        }
        self.last.set(Instant::now());
        crate::say_raw!("\r  {line}   ");
    }

    /// Ends the line, if one was drawn.
    pub fn done(&self) {
        if self.on && self.started.elapsed().as_millis() >= 250 {
            crate::say!();
        }
    }
}
