//! New leads sorted by key before they reach the store.
//!
//! A B-tree that takes keys in random order writes a whole page for nearly every insert: each
//! transaction copies every leaf it touches, and a batch of a few thousand keys spread over a
//! large tree touches a different leaf for each. Contacts exported from a CRM come in no
//! particular key order, and importing them was several times slower than the same rows in the
//! peer benchmark's order (BENCHMARKS.md, 'Contacts in random key order'). So the writer holds
//! new leads back and sorts them (an external merge sort: runs of up to `BUDGET` bytes sorted
//! in memory, spilled to unnamed temporary files, then merged), and inserts them in key order,
//! where each insert lands next to the one before.
//!
//! Ties keep arrival order (runs are merged oldest first), so that of two rows for one contact
//! the first handed over still wins, as in `Store::apply`.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use crate::store::{NewLeads, StoreError};

/// Bytes of buffers held in memory (their capacity: a sealed buffer keeps room for history it
/// no longer holds) before a sorted run is spilled to a file.
pub const BUDGET: usize = 16 * 1024 * 1024;

/// Rows per transaction when the sorted leads are inserted.
pub const INSERT: usize = 16_384;

/// A temporary file for a sorted run could not be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("cannot sort new leads in a temporary file in {}: {source}", std::env::temp_dir().display())]
pub struct SpillError {
    #[from]
    source: std::io::Error,
}

impl From<SpillError> for StoreError {
    fn from(error: SpillError) -> StoreError {
        StoreError::Temporary(error.to_string())
    }
}

#[derive(Default)]
pub struct Sorter {
    /// Buffers held in memory, in arrival order.
    held: Vec<NewLeads>,
    /// Sorted runs spilled so far, oldest first.
    runs: Vec<File>,
    budget: usize,
}

impl Sorter {
    pub fn new(budget: usize) -> Sorter {
        Sorter { budget, ..Sorter::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.runs.is_empty()
    }

    /// Takes a buffer of new leads; gives back buffers emptied by a spill, to be reused.
    pub fn add(&mut self, leads: NewLeads) -> Result<Vec<NewLeads>, SpillError> {
        self.held.push(leads);
        if self.held.iter().map(NewLeads::held_bytes).sum::<usize>() < self.budget {
            return Ok(Vec::new());
        }
        let mut file = tempfile::tempfile()?;
        {
            let mut out = BufWriter::with_capacity(1 << 16, &mut file);
            for (campaign, key, row) in sorted(&self.held).into_iter().map(|at| item(&self.held, at)) {
                for part in [campaign.as_bytes(), key.as_bytes(), row] {
                    out.write_all(&(part.len() as u32).to_le_bytes())?;
                    out.write_all(part)?;
                }
            }
            out.flush()?;
        }
        file.rewind()?;
        self.runs.push(file);
        let mut freed = std::mem::take(&mut self.held);
        freed.iter_mut().for_each(NewLeads::clear);
        Ok(freed)
    }

    /// Hands every lead taken so far to `insert` in key order, in buffers of up to `INSERT`
    /// rows, and empties the sorter. `insert` is told whether a buffer is the last, and gives
    /// the buffer back to be filled again.
    pub fn drain<E: From<SpillError>>(
        &mut self,
        mut insert: impl FnMut(NewLeads, bool) -> Result<NewLeads, E>,
    ) -> Result<(), E> {
        if self.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let order = sorted(&held);
        let mut sources: Vec<Source> = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|file| Source::File { reader: BufReader::with_capacity(1 << 16, file), entry: Entry::default() })
            .chain([Source::Memory { order: order.into_iter(), at: None }])
            .collect();
        let mut live = Vec::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if source.next().map_err(SpillError::from)? {
                live.push(i);
            }
        }
        let mut out = NewLeads::with_capacity(INSERT, 384);
        while !live.is_empty() {
            // The smallest current entry; on a tie the oldest source (`live` stays in order).
            let mut best = 0;
            for candidate in 1..live.len() {
                let (a, b) = (sources[live[candidate]].current(&held), sources[live[best]].current(&held));
                if (a.0, a.1).cmp(&(b.0, b.1)) == Ordering::Less {
                    best = candidate;
                }
            }
            let (campaign, key, row) = sources[live[best]].current(&held);
            out.push_row(campaign, key, row);
            if !sources[live[best]].next().map_err(SpillError::from)? {
                live.remove(best);
            }
            if out.len() == INSERT || live.is_empty() {
                out = insert(out, live.is_empty())?;
                out.clear();
            }
        }
        Ok(())
    }
}

/// The held rows' places (buffer, item), sorted by campaign and key; stable.
fn sorted(held: &[NewLeads]) -> Vec<(u32, u32)> {
    let mut order: Vec<(u32, u32)> =
        held.iter().enumerate().flat_map(|(b, leads)| (0..leads.len() as u32).map(move |i| (b as u32, i))).collect();
    order.sort_by(|&(xb, xi), &(yb, yi)| {
        held[xb as usize].sort_key(xi as usize).cmp(&held[yb as usize].sort_key(yi as usize))
    });
    order
}

fn item(held: &[NewLeads], (b, i): (u32, u32)) -> (&str, &str, &[u8]) {
    held[b as usize].get(i as usize)
}

/// One sorted run being merged.
enum Source {
    File { reader: BufReader<File>, entry: Entry },
    Memory { order: std::vec::IntoIter<(u32, u32)>, at: Option<(u32, u32)> },
}

#[derive(Default)]
struct Entry {
    campaign: String,
    key: String,
    row: Vec<u8>,
}

impl Source {
    /// Moves to the next entry; false at the end.
    fn next(&mut self) -> std::io::Result<bool> {
        match self {
            Source::Memory { order, at } => {
                *at = order.next();
                Ok(at.is_some())
            }
            Source::File { reader, entry } => {
                let mut len = [0; 4];
                match reader.read_exact(&mut len) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                    Err(e) => return Err(e),
                }
                let mut campaign = std::mem::take(&mut entry.campaign).into_bytes();
                read_part(reader, u32::from_le_bytes(len), &mut campaign)?;
                let mut key = std::mem::take(&mut entry.key).into_bytes();
                reader.read_exact(&mut len)?;
                read_part(reader, u32::from_le_bytes(len), &mut key)?;
                reader.read_exact(&mut len)?;
                read_part(reader, u32::from_le_bytes(len), &mut entry.row)?;
                let text = |bytes: Vec<u8>| {
                    String::from_utf8(bytes)
                        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a sorted run was damaged"))
                };
                entry.campaign = text(campaign)?;
                entry.key = text(key)?;
                Ok(true)
            }
        }
    }

    fn current<'a>(&'a self, held: &'a [NewLeads]) -> (&'a str, &'a str, &'a [u8]) {
        match self {
            Source::Memory { at, .. } => at.map_or(("", "", &[][..]), |at| item(held, at)),
            Source::File { entry, .. } => (&entry.campaign, &entry.key, &entry.row),
        }
    }
}

fn read_part(reader: &mut impl Read, len: u32, into: &mut Vec<u8>) -> std::io::Result<()> {
    into.clear();
    into.resize(len as usize, 0);
    reader.read_exact(into)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::contacts::Contact;
    use crate::runtime::Lead;

    fn leads(keys: &[&str]) -> NewLeads {
        let mut out = NewLeads::with_capacity(keys.len(), 64);
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        for key in keys {
            let contact = Contact { key: (*key).to_string(), ..Contact::default() };
            out.push("c", &contact, &Lead::new((*key).to_string(), at), &[]);
        }
        out
    }

    /// (key, row) in the order inserted; checks that only the last buffer is called last.
    fn drained(sorter: &mut Sorter) -> Vec<(String, Vec<u8>)> {
        let (mut got, mut lasts) = (Vec::new(), Vec::new());
        sorter
            .drain(|leads, last| {
                got.extend(leads.iter().map(|(_, key, row)| (key.to_string(), row.to_vec())));
                lasts.push(last);
                Ok::<NewLeads, SpillError>(leads)
            })
            .unwrap();
        if let Some((last, before)) = lasts.split_last() {
            assert!(*last && before.iter().all(|l| !l), "{lasts:?}");
        }
        got
    }

    #[test]
    fn leads_come_out_in_key_order_from_memory_and_spilled_runs() {
        for budget in [usize::MAX, 1, 200] {
            let mut sorter = Sorter::new(budget);
            sorter.add(leads(&["m", "b", "x"])).unwrap();
            sorter.add(leads(&["a", "z", "c"])).unwrap();
            sorter.add(leads(&["k"])).unwrap();
            let got = drained(&mut sorter);
            let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["a", "b", "c", "k", "m", "x", "z"], "budget {budget}");
            assert!(sorter.is_empty());
        }
    }

    #[test]
    fn rows_survive_a_spill_byte_for_byte() {
        let mut memory = Sorter::new(usize::MAX);
        let mut spilled = Sorter::new(1);
        for sorter in [&mut memory, &mut spilled] {
            sorter.add(leads(&["b", "a"])).unwrap();
            sorter.add(leads(&["c"])).unwrap();
        }
        assert!(!spilled.runs.is_empty(), "the budget of 1 byte spills every buffer");
        assert_eq!(drained(&mut memory), drained(&mut spilled));
    }

    #[test]
    fn of_two_rows_for_one_key_the_first_handed_over_comes_first() {
        for budget in [usize::MAX, 1] {
            let mut sorter = Sorter::new(budget);
            let mut first = leads(&["a"]);
            let mut second = leads(&["a"]);
            first.clear();
            second.clear();
            let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
            let contact = Contact { key: "a".into(), ..Contact::default() };
            first.push("c", &contact, &Lead::new("a".to_string(), at), &[]);
            second.push("c", &contact, &Lead::new("a".to_string(), at + chrono::TimeDelta::days(1)), &[]);
            let (one, two) = (first.get(0).2.to_vec(), second.get(0).2.to_vec());
            assert_ne!(one, two);
            sorter.add(first).unwrap();
            sorter.add(second).unwrap();
            let got = drained(&mut sorter);
            assert_eq!(got.iter().map(|(_, row)| row.clone()).collect::<Vec<_>>(), [one, two], "budget {budget}");
        }
    }

    #[test]
    fn a_spill_gives_back_emptied_buffers() {
        let mut sorter = Sorter::new(1);
        let freed = sorter.add(leads(&["a", "b"])).unwrap();
        assert_eq!(freed.len(), 1);
        assert!(freed[0].is_empty());
    }

    #[test]
    fn the_budget_counts_the_memory_buffers_hold_not_the_rows_in_them() {
        // Two rows in buffers with room for 4,000 rows of 512 bytes (as the drivers make them):
        // few bytes used, 3.5 MB held with the room for their history.
        let roomy = |key: &str| {
            let mut out = NewLeads::with_capacity(4_000, 512);
            let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
            out.push("c", &Contact { key: key.into(), ..Contact::default() }, &Lead::new(key.to_string(), at), &[]);
            out
        };
        let mut sorter = Sorter::new(5 * 1024 * 1024);
        assert!(sorter.add(roomy("a")).unwrap().is_empty(), "one buffer fits");
        assert_eq!(sorter.add(roomy("b")).unwrap().len(), 2, "two buffers hold more than 5 MiB: spilled");
        assert_eq!(drained(&mut sorter).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }
}
