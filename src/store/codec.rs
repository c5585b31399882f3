//! The compact binary encoding of leads, contacts and history records.
//!
//! JSON cost more CPU than every B-tree write together and tripled the file, so hot values are
//! written field by field: varints, length-prefixed strings, one tag byte per enum. The layout
//! is fixed by the order of the calls below; changing it needs a new format byte (see `rows`).
//! Tags are fixed forever, whatever order the Rust enums are declared in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use crate::contact::Contact;
use crate::fields::Fields;
use crate::runtime::{CallInfo, Input, Lead, LeadStatus, Park, Reply, Text};

/// Appends values to a byte buffer.
pub struct Enc<'a>(pub &'a mut Vec<u8>);

impl Enc<'_> {
    pub fn u8(&mut self, byte: u8) {
        self.0.push(byte);
    }

    pub fn uint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    pub fn int(&mut self, n: i64) {
        self.uint(((n << 1) ^ (n >> 63)) as u64);
    }

    fn bool(&mut self, b: bool) {
        self.u8(u8::from(b));
    }

    pub(super) fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }

    pub(super) fn time(&mut self, t: DateTime<Utc>) {
        self.int(t.timestamp());
        self.uint(u64::from(t.timestamp_subsec_nanos()));
    }

    fn opt_time(&mut self, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => {
                self.u8(1);
                self.time(t);
            }
            None => self.u8(0),
        }
    }

    fn opt_f64(&mut self, x: Option<f64>) {
        match x {
            Some(x) => {
                self.u8(1);
                self.0.extend_from_slice(&x.to_le_bytes());
            }
            None => self.u8(0),
        }
    }

    fn map(&mut self, map: &Map<String, Value>) {
        self.uint(map.len() as u64);
        for (name, value) in map {
            self.str(name);
            self.value(value);
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.u8(0),
            Value::Bool(false) => self.u8(1),
            Value::Bool(true) => self.u8(2),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.u8(3);
                    self.int(i);
                } else if let Some(u) = n.as_u64() {
                    self.u8(4);
                    self.uint(u);
                } else {
                    self.u8(5);
                    self.0.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_le_bytes());
                }
            }
            Value::String(s) => {
                self.u8(6);
                self.str(s);
            }
            Value::Array(items) => {
                self.u8(7);
                self.uint(items.len() as u64);
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.u8(8);
                self.map(map);
            }
        }
    }
}

/// Reads values back; every error is a description of what was wrong.
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(super) type Res<T> = Result<T, String>;

/// Nesting bound for stored JSON values: a corrupt byte must not recurse the stack away.
const MAX_DEPTH: u32 = 64;

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self) -> Res<u8> {
        let byte = *self.buf.get(self.pos).ok_or("cut short")?;
        self.pos += 1;
        Ok(byte)
    }

    pub fn uint(&mut self) -> Res<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(n);
            }
        }
        Err("varint too long".into())
    }

    pub fn int(&mut self) -> Res<i64> {
        let n = self.uint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn u32(&mut self) -> Res<u32> {
        u32::try_from(self.uint()?).map_err(|_| "number out of range".into())
    }

    pub(super) fn len(&mut self) -> Res<usize> {
        let n = usize::try_from(self.uint()?).map_err(|_| "length out of range")?;
        if n > self.buf.len() - self.pos.min(self.buf.len()) {
            return Err(format!("length {n} beyond the value"));
        }
        Ok(n)
    }

    fn bool(&mut self) -> Res<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("bad flag {other}")),
        }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("cut short")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(super) fn str(&mut self) -> Res<String> {
        let n = self.len()?;
        let bytes = self.bytes(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "text is not UTF-8".into())
    }

    fn opt_str(&mut self) -> Res<Option<String>> {
        if self.bool()? { self.str().map(Some) } else { Ok(None) }
    }

    /// `str` as a `Text`: short texts are read without a heap allocation.
    pub(super) fn text(&mut self) -> Res<Text> {
        let n = self.len()?;
        let bytes = self.bytes(n)?;
        std::str::from_utf8(bytes).map(Text::new).map_err(|_| "text is not UTF-8".into())
    }

    fn opt_text(&mut self) -> Res<Option<Text>> {
        if self.bool()? { self.text().map(Some) } else { Ok(None) }
    }

    pub(super) fn time(&mut self) -> Res<DateTime<Utc>> {
        let secs = self.int()?;
        let nanos = self.u32()?;
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| format!("time {secs}.{nanos} out of range"))
    }

    fn opt_time(&mut self) -> Res<Option<DateTime<Utc>>> {
        if self.bool()? { self.time().map(Some) } else { Ok(None) }
    }

    fn f64(&mut self) -> Res<f64> {
        let bytes = self.bytes(8)?;
        Ok(f64::from_le_bytes(bytes.try_into().map_err(|_| "cut short")?))
    }

    fn opt_f64(&mut self) -> Res<Option<f64>> {
        if self.bool()? { self.f64().map(Some) } else { Ok(None) }
    }

    /// A contact's fields, written as a map (`put_contact`).
    fn fields(&mut self) -> Res<Fields> {
        let n = self.len()?;
        let mut fields = Fields::with_capacity(n.min(256));
        for _ in 0..n {
            let name = self.text()?;
            fields.insert(name, self.value(0)?);
        }
        Ok(fields)
    }

    fn map(&mut self, depth: u32) -> Res<Map<String, Value>> {
        let n = self.len()?;
        let mut map = Map::new();
        for _ in 0..n {
            let name = self.str()?;
            let value = self.value(depth)?;
            map.insert(name, value);
        }
        Ok(map)
    }

    fn value(&mut self, depth: u32) -> Res<Value> {
        if depth > MAX_DEPTH {
            return Err("values nested too deep".into());
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Number(self.int()?.into()),
            4 => Value::Number(self.uint()?.into()),
            5 => Number::from_f64(self.f64()?).map_or(Value::Null, Value::Number),
            6 => Value::String(self.str()?),
            7 => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            8 => Value::Object(self.map(depth + 1)?),
            tag => return Err(format!("unknown value tag {tag}")),
        })
    }
}

/// Stored bytes of the statuses: fixed forever, whatever order `LeadStatus` is declared in.
pub fn status_byte(status: LeadStatus) -> u8 {
    match status {
        LeadStatus::Pending => 0,
        LeadStatus::Scheduled => 1,
        LeadStatus::Waiting => 2,
        LeadStatus::InProgress => 3,
        LeadStatus::Completed => 4,
        LeadStatus::Converted => 5,
        LeadStatus::Exited => 6,
        LeadStatus::Failed => 7,
        LeadStatus::OptedOut => 8,
        LeadStatus::Skipped => 9,
        LeadStatus::Expired => 10,
        LeadStatus::Cancelled => 11,
    }
}

pub fn status_from_byte(byte: u8) -> Option<LeadStatus> {
    LeadStatus::ALL.into_iter().find(|s| status_byte(*s) == byte)
}

fn status(d: &mut Dec) -> Res<LeadStatus> {
    let byte = d.u8()?;
    status_from_byte(byte).ok_or_else(|| format!("unknown status {byte}"))
}

/// A contact without its key (the row's key carries it).
pub fn put_contact(out: &mut Vec<u8>, contact: &Contact) {
    let mut e = Enc(out);
    e.opt_str(contact.timezone.as_deref());
    e.uint(contact.fields.len() as u64);
    for (name, value) in contact.fields.iter() {
        e.str(name);
        e.value(value);
    }
}

pub fn get_contact(key: &str, bytes: &[u8]) -> Res<Contact> {
    let mut d = Dec::new(bytes);
    Ok(Contact { key: key.to_string(), timezone: d.opt_str()?, fields: d.fields()? })
}

/// A lead without its contact key (the row's key carries it).
pub fn put_lead(out: &mut Vec<u8>, lead: &Lead) {
    let mut e = Enc(out);
    e.u8(status_byte(lead.status));
    e.opt_str(lead.step.as_deref());
    e.u8(match lead.park {
        Park::Start => 0,
        Park::Wait => 1,
        Park::Await => 2,
        Park::Act => 3,
        Park::Outcome => 4,
    });
    e.uint(u64::from(lead.attempts));
    e.time(lead.entered_at);
    e.opt_time(lead.wake_at);
    e.opt_time(lead.timer);
    e.uint(lead.inbox.len() as u64);
    for (at, input) in &lead.inbox {
        e.time(*at);
        put_input(&mut e, input);
    }
    e.map(&lead.vars);
    e.uint(lead.variants.len() as u64);
    for (split, variant) in &lead.variants {
        e.str(split);
        e.str(variant);
    }
    match &lead.reply {
        Some(reply) => {
            e.u8(1);
            e.opt_str(reply.text.as_deref());
            e.opt_str(reply.intent.as_deref());
            e.opt_str(reply.channel.as_deref());
            e.opt_time(reply.at);
            e.bool(reply.timed_out);
        }
        None => e.u8(0),
    }
    match &lead.call {
        Some(call) => {
            e.u8(1);
            e.opt_str(call.status.as_deref());
            e.opt_f64(call.duration);
            e.uint(u64::from(call.attempt));
        }
        None => e.u8(0),
    }
    e.opt_str(lead.message_status.as_deref());
    e.opt_str(lead.outcome.as_deref());
    e.uint(u64::from(lead.seq));
    // Added after the first release, at the end and only when there is something to keep, so
    // that a lead without them has the bytes it always had and an older row reads as empty.
    // `events` follows `acts` (written empty when there are events but no acts).
    if !lead.acts.is_empty() || !lead.events.is_empty() {
        e.uint(lead.acts.len() as u64);
        for (step, n) in &lead.acts {
            e.str(step);
            e.uint(u64::from(*n));
        }
    }
    if !lead.events.is_empty() {
        e.uint(lead.events.len() as u64);
        for (name, at) in &lead.events {
            e.str(name);
            e.time(*at);
        }
    }
}

pub fn get_lead(key: &str, bytes: &[u8]) -> Res<Lead> {
    let mut d = Dec::new(bytes);
    let status = status(&mut d)?;
    let step = d.opt_text()?;
    let park = match d.u8()? {
        0 => Park::Start,
        1 => Park::Wait,
        2 => Park::Await,
        3 => Park::Act,
        4 => Park::Outcome,
        other => return Err(format!("unknown park {other}")),
    };
    let attempts = d.u32()?;
    let entered_at = d.time()?;
    let wake_at = d.opt_time()?;
    let timer = d.opt_time()?;
    let n = d.len()?;
    let mut inbox = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let at = d.time()?;
        inbox.push((at, get_input(&mut d)?));
    }
    let vars = d.map(0)?;
    let n = d.len()?;
    let mut variants = BTreeMap::new();
    for _ in 0..n {
        let split = d.str()?;
        variants.insert(split, d.str()?);
    }
    let reply = if d.bool()? {
        Some(Reply {
            text: d.opt_str()?,
            intent: d.opt_str()?,
            channel: d.opt_str()?,
            at: d.opt_time()?,
            timed_out: d.bool()?,
        })
    } else {
        None
    };
    let call = if d.bool()? {
        Some(CallInfo { status: d.opt_str()?, duration: d.opt_f64()?, attempt: d.u32()? })
    } else {
        None
    };
    Ok(Lead {
        contact: key.to_string(),
        status,
        step,
        park,
        attempts,
        entered_at,
        wake_at,
        timer,
        inbox,
        vars,
        variants,
        reply,
        call,
        message_status: d.opt_text()?,
        outcome: d.opt_str()?,
        seq: d.u32()?,
        acts: Vec::new(),
        events: Vec::new(),
    })
    .and_then(|mut lead| {
        (lead.acts, lead.events) = trailer(&mut d)?;
        Ok(lead)
    })
}

/// What follows a lead's first-release fields, each part only when there is something in it
/// (`put_lead`): `acts` (a count, then each step with its number of actions), then `events`
/// (a count, then each name with when it last came). An empty part with nothing after it was
/// never written, so it is damage.
type Trailer = (Vec<(Text, u32)>, Vec<(Text, DateTime<Utc>)>);

fn trailer(d: &mut Dec) -> Res<Trailer> {
    let (mut acts, mut events) = (Vec::new(), Vec::new());
    if d.is_empty() {
        return Ok((acts, events));
    }
    let n = d.len()?;
    acts.reserve(n.min(64));
    for _ in 0..n {
        acts.push((d.text()?, d.u32()?));
    }
    if d.is_empty() {
        return if n == 0 { Err("an empty list of actions".into()) } else { Ok((acts, events)) };
    }
    let n = d.len()?;
    events.reserve(n.min(64));
    for _ in 0..n {
        events.push((d.text()?, d.time()?));
    }
    if n == 0 {
        return Err("an empty list of events".into());
    }
    if !d.is_empty() {
        return Err("bytes after the lead".into());
    }
    Ok((acts, events))
}

fn put_input(e: &mut Enc, input: &Input) {
    match input {
        Input::Wake => e.u8(0),
        Input::Call { status, duration, vars } => {
            e.u8(1);
            e.str(status);
            e.opt_f64(*duration);
            e.map(vars);
        }
        Input::Delivery { status } => {
            e.u8(2);
            e.str(status);
        }
        Input::Reply { text, intent, channel } => {
            e.u8(3);
            e.opt_str(text.as_deref());
            e.opt_str(intent.as_deref());
            e.opt_str(channel.as_deref());
        }
        Input::Event { name, vars } => {
            e.u8(4);
            e.str(name);
            e.map(vars);
        }
        Input::OptOut => e.u8(5),
    }
}

fn get_input(d: &mut Dec) -> Res<Input> {
    Ok(match d.u8()? {
        0 => Input::Wake,
        1 => Input::Call { status: d.text()?, duration: d.opt_f64()?, vars: d.map(0)? },
        2 => Input::Delivery { status: d.text()? },
        3 => Input::Reply { text: d.opt_str()?, intent: d.opt_str()?, channel: d.opt_str()? },
        4 => Input::Event { name: d.str()?, vars: d.map(0)? },
        5 => Input::OptOut,
        tag => return Err(format!("unknown input tag {tag}")),
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
