//! `herald ingest FILE|-` (docs/run.md, docs/events.md): replies, call outcomes, deliveries, opt-outs and events,
//! one JSON object per line, applied to their leads.
//!
//! Each lead takes its event as the interpreter's input and is advanced at once, with the
//! campaign file recorded by the last `run` (or `simulate --db`), up to its next send or call:
//! that action is left to the next `run`, which makes it inside the window and pacing of the
//! time it runs. A lead that is already final keeps
//! the event in its history and does not move. A line that is malformed, unknown, names no
//! lead, or reports an outcome the lead has no action for is reported with its number and
//! changes nothing; the others still apply.
//!
//! Each event is applied once per database: its key (`event_key`) is stored in the transaction
//! that stores the leads it changed, and an event whose key is taken is counted as already
//! applied. So running the same file again, whole or after a kill, applies each line once.

use std::io::BufRead;
use std::path::Path;

use chrono::Utc;

use super::DriverError;
use super::apply::{Applier, Graphs, Rejected};
use super::events::parse_lines;
use crate::store::Store;

/// Leads changed per durable transaction.
const BATCH: usize = 5_000;

/// Applies every line of `input`; returns how many were rejected (each reported on stderr with
/// its line number).
pub fn command(db: &Path, input: &Path) -> Result<u64, DriverError> {
    // The same open as every other command on a database: never created here.
    let store = Store::open_existing(db)?.ok_or_else(|| DriverError::NoDatabase(db.to_path_buf()))?;
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(input).map_err(|source| DriverError::Input { path: input.to_path_buf(), source })?;
        Box::new(std::io::BufReader::new(file))
    };
    let name = if input == Path::new("-") { "stdin".to_string() } else { input.display().to_string() };
    let mut ingest = Applier::new(&store, Graphs::Files(Default::default()))?;
    let mut rejected = 0u64;
    let now = Utc::now();
    for (line, event) in parse_lines(reader) {
        let result = match event {
            Ok(event) => ingest.event(event, None, false, now).map(|_| ()),
            Err(error) => Err(Rejected::Content(error.to_string())),
        };
        match result {
            Ok(()) => {}
            Err(Rejected::Content(reason) | Rejected::NotFound(reason)) => {
                rejected += 1;
                crate::say!("{name}:{line}: {reason}");
            }
            Err(Rejected::Store(error)) => return Err(error.into()),
        }
        if ingest.changed() >= BATCH {
            ingest.flush()?;
        }
    }
    ingest.flush()?;
    crate::say!(
        "ingest: {} events applied, {} already applied, {rejected} rejected",
        ingest.applied,
        ingest.duplicates
    );
    Ok(rejected)
}
