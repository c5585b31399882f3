//! History records, in two formats that share one description of each event (`put_event`,
//! `get_event`) and differ in how texts, times and action keys are written:
//!
//! - format 2 (`get_plain`; only tests still write it): every text in full, every time absolute;
//! - format 3 (`put_packed`, `get_packed`): history is most of what a lead stores, so each record's
//!   time is the difference from the record before (an event's own time, from its record's),
//!   a record on the same step as the one before says so in one byte, a text already written in
//!   the same value is referred to by its number, and an action key that is the lead's usual
//!   `campaign/contact/step/attempt` keeps only the attempt. A lead of the peer flow went from
//!   420 bytes of history to 245.
//!
//! Tags are fixed forever, whatever order the Rust enums are declared in.

use chrono::{DateTime, Utc};

use super::codec::{Dec, Enc, Res, status_byte, status_from_byte};
use crate::runtime::{Event, Record, Text, action_key};
use crate::short::same;

/// Texts kept for reference per value: enough for a lead's usual history.
const MAX_SEEN: usize = 64;
/// `Packer::slots` has `1 << SLOT_BITS` slots: twice `MAX_SEEN`.
const SLOT_BITS: u32 = 7;

/// Where an event is written.
trait Sink<'r> {
    fn byte(&mut self, b: u8);
    fn number(&mut self, n: u64);
    fn text(&mut self, s: &'r str);
    fn instant(&mut self, t: DateTime<Utc>);
    fn key(&mut self, key: &'r str);

    fn flag(&mut self, b: bool) {
        self.byte(u8::from(b));
    }

    fn opt_text(&mut self, s: Option<&'r str>) {
        match s {
            Some(s) => {
                self.byte(1);
                self.text(s);
            }
            None => self.byte(0),
        }
    }
}

/// Where an event is read from.
trait Source {
    fn byte(&mut self) -> Res<u8>;
    fn number(&mut self) -> Res<u64>;
    fn text(&mut self) -> Res<Text>;
    fn instant(&mut self) -> Res<DateTime<Utc>>;
    fn key(&mut self) -> Res<Text>;

    fn flag(&mut self) -> Res<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("bad flag {other}")),
        }
    }

    fn opt_text(&mut self) -> Res<Option<Text>> {
        if self.flag()? { self.text().map(Some) } else { Ok(None) }
    }

    fn small(&mut self) -> Res<u32> {
        u32::try_from(self.number()?).map_err(|_| "number out of range".into())
    }
}

/// Writes records in format 3 (without the format byte): `campaign` and `contact` are the
/// lead's, from which its usual action keys are derived again when read.
pub fn put_packed(out: &mut Vec<u8>, records: &[Record], campaign: &str, contact: &str) {
    let seen = Vec::with_capacity(24);
    let slots = [0; 1 << SLOT_BITS];
    let mut packer = Packer { e: Enc(out), seen, slots, secs: 0, nanos: 0, at: None, step: None, campaign, contact };
    packer.e.uint(records.len() as u64);
    for record in records {
        packer.record(record);
    }
}

/// Reads records written by `put_packed` for the same campaign and contact.
pub fn get_packed(bytes: &[u8], campaign: &str, contact: &str) -> Res<Vec<Record>> {
    let budget = bytes.len().saturating_mul(64).saturating_add(1 << 16);
    let mut d =
        Unpacker { d: Dec::new(bytes), seen: Vec::new(), secs: 0, nanos: 0, step: None, campaign, contact, budget };
    let n = d.d.len()?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let (at, step) = d.record_head()?;
        out.push(Record { at, step, event: get_event(&mut d)? });
    }
    if !d.d.is_empty() {
        return Err("bytes after the last record".into());
    }
    Ok(out)
}

/// Writes records in format 2 (without the format byte); only tests write it now.
#[cfg(test)]
pub fn put_plain(out: &mut Vec<u8>, records: &[Record]) {
    let mut e = Enc(out);
    e.uint(records.len() as u64);
    for record in records {
        e.time(record.at);
        e.opt_text(record.step.as_deref());
        put_event(&mut e, &record.event);
    }
}

/// Reads records in format 2.
pub fn get_plain(bytes: &[u8]) -> Res<Vec<Record>> {
    let mut d = Dec::new(bytes);
    let n = d.len()?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let at = d.time()?;
        let step = Source::opt_text(&mut d)?;
        out.push(Record { at, step, event: get_event(&mut d)? });
    }
    Ok(out)
}

impl<'r> Sink<'r> for Enc<'_> {
    fn byte(&mut self, b: u8) {
        self.u8(b);
    }
    fn number(&mut self, n: u64) {
        self.uint(n);
    }
    fn text(&mut self, s: &'r str) {
        self.str(s);
    }
    fn instant(&mut self, t: DateTime<Utc>) {
        self.time(t);
    }
    fn key(&mut self, key: &'r str) {
        self.str(key);
    }
}

impl Source for Dec<'_> {
    fn byte(&mut self) -> Res<u8> {
        self.u8()
    }
    fn number(&mut self) -> Res<u64> {
        self.uint()
    }
    fn text(&mut self) -> Res<Text> {
        Dec::text(self)
    }
    fn instant(&mut self) -> Res<DateTime<Utc>> {
        self.time()
    }
    fn key(&mut self) -> Res<Text> {
        Dec::text(self)
    }
}

struct Packer<'e, 'r> {
    e: Enc<'e>,
    /// Texts written so far, each with its `fingerprint`.
    seen: Vec<(u64, &'r str)>,
    /// Where each text of `seen` is found by its fingerprint: its number (from 1), or 0.
    slots: [u8; 1 << SLOT_BITS],
    /// The current (then previous) record's time, from which the next record's time and its
    /// event's times are counted, and that time whole.
    secs: i64,
    nanos: u32,
    at: Option<DateTime<Utc>>,
    /// The current (then previous) record's step.
    step: Option<&'r str>,
    campaign: &'r str,
    contact: &'r str,
}

impl<'r> Packer<'_, 'r> {
    fn record(&mut self, record: &'r Record) {
        // Most records of a lead share their time with the one before: its parts are kept.
        let (secs, nanos) = match self.at {
            Some(at) if at == record.at => (self.secs, self.nanos),
            _ => (record.at.timestamp(), record.at.timestamp_subsec_nanos()),
        };
        self.offset_parts(secs, nanos);
        (self.secs, self.nanos, self.at) = (secs, nanos, Some(record.at));
        match record.step.as_deref() {
            None => self.e.u8(0),
            Some(step) if self.step.is_some_and(|before| same(before, step)) => self.e.u8(1),
            Some(step) => {
                self.e.u8(2);
                self.text(step);
            }
        }
        self.step = record.step.as_deref();
        put_event(self, &record.event);
    }

    /// `t` as a difference from the current record's time: seconds, with a low bit saying
    /// whether a difference in nanoseconds follows.
    fn offset(&mut self, t: DateTime<Utc>) {
        self.offset_parts(t.timestamp(), t.timestamp_subsec_nanos());
    }

    fn offset_parts(&mut self, secs: i64, nanos: u32) {
        let secs = secs - self.secs;
        let nanos = i64::from(nanos) - i64::from(self.nanos);
        let zigzag = ((secs << 1) ^ (secs >> 63)) as u64;
        self.e.uint((zigzag << 1) | u64::from(nanos != 0));
        if nanos != 0 {
            self.e.int(nanos);
        }
    }
}

impl<'r> Sink<'r> for Packer<'_, 'r> {
    fn byte(&mut self, b: u8) {
        self.e.u8(b);
    }
    fn number(&mut self, n: u64) {
        self.e.uint(n);
    }
    /// 0 and the text the first time; after that, the text's number from 1.
    fn text(&mut self, s: &'r str) {
        let print = fingerprint(s);
        // Open addressing: the slots are twice as many as texts kept, so a probe ends soon.
        let mut slot = (print.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize;
        loop {
            match self.slots[slot] {
                0 => break,
                n => {
                    let (p, seen) = self.seen[usize::from(n) - 1];
                    if p == print && same(seen, s) {
                        self.e.uint(u64::from(n));
                        return;
                    }
                }
            }
            slot = (slot + 1) % self.slots.len();
        }
        self.e.u8(0);
        self.e.str(s);
        if self.seen.len() < MAX_SEEN {
            self.seen.push((print, s));
            self.slots[slot] = self.seen.len() as u8;
        }
    }
    fn instant(&mut self, t: DateTime<Utc>) {
        self.offset(t);
    }
    /// 0 and the attempt when the key is the usual one for this lead and step; else 1 and the
    /// key.
    fn key(&mut self, key: &'r str) {
        let attempt = self.step.and_then(|step| {
            let rest = key.strip_prefix(self.campaign)?.strip_prefix('/')?.strip_prefix(self.contact)?;
            let digits = rest.strip_prefix('/')?.strip_prefix(step)?.strip_prefix('/')?;
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            canonical.then(|| digits.parse::<u32>().ok()).flatten()
        });
        match attempt {
            Some(n) => {
                self.e.u8(0);
                self.e.uint(u64::from(n));
            }
            None => {
                self.e.u8(1);
                self.text(key);
            }
        }
    }
}

/// The length and three bytes of a text: two texts that differ here differ, so most texts are
/// told apart from the ones before without comparing them whole.
fn fingerprint(s: &str) -> u64 {
    let b = s.as_bytes();
    match b.len() {
        0 => 0,
        n => (n as u64) << 24 | u64::from(b[0]) << 16 | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]),
    }
}

struct Unpacker<'d, 'r> {
    d: Dec<'d>,
    seen: Vec<Text>,
    /// Text bytes still allowed out: a reference copies a whole earlier text in one byte, so
    /// damaged bytes could otherwise ask for gigabytes.
    budget: usize,
    secs: i64,
    nanos: u32,
    step: Option<Text>,
    campaign: &'r str,
    contact: &'r str,
}

impl Unpacker<'_, '_> {
    fn record_head(&mut self) -> Res<(DateTime<Utc>, Option<Text>)> {
        let at = self.offset()?;
        (self.secs, self.nanos) = (at.timestamp(), at.timestamp_subsec_nanos());
        let step = match self.d.u8()? {
            0 => None,
            1 => Some(self.step.clone().ok_or("same step as a record without one")?),
            2 => Some(self.text()?),
            other => return Err(format!("bad step flag {other}")),
        };
        self.step.clone_from(&step);
        Ok((at, step))
    }

    fn offset(&mut self) -> Res<DateTime<Utc>> {
        let n = self.d.uint()?;
        let zigzag = n >> 1;
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let nanos = if n & 1 == 1 { self.d.int()? } else { 0 };
        let secs = self.secs.checked_add(delta).ok_or("time out of range")?;
        let nanos = i64::from(self.nanos).checked_add(nanos).and_then(|n| u32::try_from(n).ok());
        let nanos = nanos.ok_or("nanoseconds out of range")?;
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| format!("time {secs}.{nanos} out of range"))
    }
}

impl Source for Unpacker<'_, '_> {
    fn byte(&mut self) -> Res<u8> {
        self.d.u8()
    }
    fn number(&mut self) -> Res<u64> {
        self.d.uint()
    }
    fn text(&mut self) -> Res<Text> {
        let s = match usize::try_from(self.d.uint()?).map_err(|_| "text number out of range")? {
            0 => {
                let s = self.d.text()?;
                if self.seen.len() < MAX_SEEN {
                    self.seen.push(s.clone());
                }
                s
            }
            i => {
                let s = self.seen.get(i - 1).ok_or_else(|| format!("text number {i} not seen"))?;
                if s.len() > self.budget {
                    return Err("more text than such a value can hold".into());
                }
                s.clone()
            }
        };
        self.budget = self.budget.saturating_sub(s.len());
        Ok(s)
    }
    fn instant(&mut self) -> Res<DateTime<Utc>> {
        self.offset()
    }
    fn key(&mut self) -> Res<Text> {
        match self.d.u8()? {
            0 => {
                let attempt = self.small()?;
                let step = self.step.as_deref().ok_or("an action key on a record without a step")?;
                Ok(action_key(self.campaign, self.contact, step, attempt))
            }
            1 => self.text(),
            other => Err(format!("bad key flag {other}")),
        }
    }
}

fn put_event<'r>(e: &mut impl Sink<'r>, event: &'r Event) {
    match event {
        Event::Enter => e.byte(0),
        Event::Condition { what, source, result, values } => {
            e.byte(1);
            e.text(what);
            e.text(source);
            e.flag(*result);
            e.number(values.len() as u64);
            for (path, value) in values {
                e.text(path);
                e.text(value);
            }
        }
        Event::Send { channel, to, text, key, variant } => {
            e.byte(2);
            e.text(channel);
            e.text(to);
            e.text(text);
            e.key(key);
            e.opt_text(variant.as_deref());
        }
        Event::Call { channel, to, key, attempt } => {
            e.byte(3);
            e.text(channel);
            e.text(to);
            e.key(key);
            e.number(u64::from(*attempt));
        }
        Event::Outcome { status } => {
            e.byte(4);
            e.text(status);
        }
        Event::Reply { text, intent } => {
            e.byte(5);
            e.opt_text(text.as_deref());
            e.opt_text(intent.as_deref());
        }
        Event::Event { name } => {
            e.byte(6);
            e.text(name);
        }
        Event::Wait { until } => {
            e.byte(7);
            e.instant(*until);
        }
        Event::Route { to } => {
            e.byte(8);
            e.text(to);
        }
        Event::Split { variant } => {
            e.byte(9);
            e.text(variant);
        }
        Event::Set { name, value } => {
            e.byte(10);
            e.text(name);
            e.text(value);
        }
        Event::Retry { attempt, until } => {
            e.byte(11);
            e.number(u64::from(*attempt));
            e.instant(*until);
        }
        Event::Defer { until, reason } => {
            e.byte(12);
            e.instant(*until);
            e.text(reason);
        }
        Event::Skip { reason } => {
            e.byte(13);
            e.text(reason);
        }
        Event::Error { reason } => {
            e.byte(14);
            e.text(reason);
        }
        Event::Exit { lead_status, reason } => {
            e.byte(15);
            e.byte(status_byte(*lead_status));
            e.opt_text(reason.as_deref());
        }
        Event::CallReport { summary, transcript, recording_url } => {
            e.byte(16);
            e.opt_text(summary.as_deref());
            e.opt_text(transcript.as_deref());
            e.opt_text(recording_url.as_deref());
        }
    }
}

fn get_event(d: &mut impl Source) -> Res<Event> {
    Ok(match d.byte()? {
        0 => Event::Enter,
        1 => {
            let (what, source, result) = (d.text()?, d.text()?, d.flag()?);
            let n = d.number()?;
            let mut values = Vec::with_capacity(n.min(64) as usize);
            for _ in 0..n {
                let path = d.text()?;
                values.push((path, d.text()?));
            }
            Event::Condition { what, source, result, values }
        }
        2 => Event::Send { channel: d.text()?, to: d.text()?, text: d.text()?, key: d.key()?, variant: d.opt_text()? },
        3 => Event::Call { channel: d.text()?, to: d.text()?, key: d.key()?, attempt: d.small()? },
        4 => Event::Outcome { status: d.text()? },
        5 => Event::Reply { text: d.opt_text()?, intent: d.opt_text()? },
        6 => Event::Event { name: d.text()? },
        7 => Event::Wait { until: d.instant()? },
        8 => Event::Route { to: d.text()? },
        9 => Event::Split { variant: d.text()? },
        10 => Event::Set { name: d.text()?, value: d.text()? },
        11 => Event::Retry { attempt: d.small()?, until: d.instant()? },
        12 => Event::Defer { until: d.instant()?, reason: d.text()? },
        13 => Event::Skip { reason: d.text()? },
        14 => Event::Error { reason: d.text()? },
        15 => {
            let byte = d.byte()?;
            let lead_status = status_from_byte(byte).ok_or_else(|| format!("unknown status {byte}"))?;
            Event::Exit { lead_status, reason: d.opt_text()? }
        }
        16 => Event::CallReport { summary: d.opt_text()?, transcript: d.opt_text()?, recording_url: d.opt_text()? },
        tag => return Err(format!("unknown event tag {tag}")),
    })
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
