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

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::DriverError;
use super::event_key::EventKeys;
use super::events::{Inbound, parse_lines};
use crate::contact::Contact;
use crate::graph::{Graph, NodeKind};
use crate::runtime::{Input, Lead, Park, Record};
use crate::store::{AppliedEvents, Batch, CampaignRecord, CampaignStatus, Store, StoreError};

/// Leads changed per durable transaction.
const BATCH: usize = 5_000;

/// A campaign's compiled graph, when its file is still there and unchanged.
struct Loaded {
    graph: Option<Graph>,
}

/// `ingest` makes no action itself: a lead that reaches a send or call is deferred to the next
/// `run`, which acts on it with the real clock's window and the campaign's pacing (so that a
/// reply ingested at 20:59 is not answered at 03:00 by a run that comes late).
struct HandOver;

impl crate::runtime::Pacer for HandOver {
    fn acquire(&mut self, _: crate::graph::StateId, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        Err(now)
    }

    fn reason(&self) -> &str {
        "left to the next run"
    }
}

struct Ingest<'a> {
    store: &'a Store,
    campaigns: Vec<CampaignRecord>,
    loaded: HashMap<String, Loaded>,
    /// Leads changed since the last write, by (campaign, contact): a later line about the same
    /// lead sees the earlier one's effect.
    changed: HashMap<(String, String), (Contact, Lead, Vec<Record>)>,
    batch: Batch,
    keys: EventKeys,
    /// The keys stored before this batch (read again after each write).
    stored: AppliedEvents,
    /// Keys of the events in `batch`, not yet stored: a repeat within them is a duplicate.
    pending: HashSet<Vec<u8>>,
    applied: u64,
    duplicates: u64,
}

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
    let campaigns = store.campaigns()?;
    let stored = store.applied_events()?;
    let name = if input == Path::new("-") { "stdin".to_string() } else { input.display().to_string() };
    let mut ingest = Ingest {
        store: &store,
        campaigns,
        loaded: HashMap::new(),
        changed: HashMap::new(),
        batch: Batch::default(),
        keys: EventKeys::default(),
        stored,
        pending: HashSet::new(),
        applied: 0,
        duplicates: 0,
    };
    let mut rejected = 0u64;
    let now = Utc::now();
    for (line, event) in parse_lines(reader) {
        let result = match event {
            Ok(event) => ingest.take(event, now),
            Err(error) => Err(Rejected::Content(error.to_string())),
        };
        match result {
            Ok(()) => {}
            Err(Rejected::Content(reason)) => {
                rejected += 1;
                crate::say!("{name}:{line}: {reason}");
            }
            Err(Rejected::Store(error)) => return Err(error.into()),
        }
        if ingest.changed.len() >= BATCH {
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

/// A lead an event reaches: as read from the store, or `None` when it is among the leads
/// changed since the last write.
type Found = Option<(Contact, Lead)>;

enum Rejected {
    /// The line is refused; nothing of it is applied.
    Content(String),
    Store(StoreError),
}

impl From<StoreError> for Rejected {
    fn from(error: StoreError) -> Rejected {
        Rejected::Store(error)
    }
}

impl Ingest<'_> {
    /// Applies the event unless its key says it was applied before (then counts it).
    fn take(&mut self, mut event: Inbound, now: DateTime<Utc>) -> Result<(), Rejected> {
        event.contact = self.resolve(&event)?;
        let key = self.keys.key(&event);
        if self.pending.contains(&key) || self.stored.contains(&key)? {
            self.duplicates += 1;
            return Ok(());
        }
        self.apply(event, now)?;
        self.pending.insert(key);
        Ok(())
    }

    /// The event's contact as it is stored (docs/events.md: normalised as at import): its E.164
    /// number in the region of the campaign it names (or of each campaign, for the first that
    /// has it), its lower-cased email, or the text as written (an id); when no lead has any of
    /// them, the first (an opt-out suppresses that address).
    fn resolve(&self, event: &Inbound) -> Result<String, StoreError> {
        let named = |c: &&CampaignRecord| event.campaign.as_ref().is_none_or(|named| *named == c.id);
        let mut first = None;
        for record in self.campaigns.iter().filter(named) {
            for key in crate::contacts::lookup_keys(&event.contact, record.region.as_deref()) {
                if self.find(&record.id, &key)?.is_some() {
                    return Ok(key);
                }
                first.get_or_insert(key);
            }
        }
        let fallback = || crate::contacts::lookup_keys(&event.contact, None).into_iter().next();
        Ok(first.or_else(fallback).unwrap_or_else(|| event.contact.clone()))
    }

    fn apply(&mut self, event: Inbound, now: DateTime<Utc>) -> Result<(), Rejected> {
        let at = event.at.unwrap_or(now);
        let opts_out = match &event.input {
            Input::OptOut => true,
            Input::Reply { text, .. } => text.as_deref().is_some_and(crate::runtime::is_opt_out),
            _ => false,
        };
        let targets = self.targets(&event, opts_out)?;
        if let [(campaign, stored)] = targets.as_slice() {
            self.expected(&event, campaign, stored.as_ref())?;
        }
        if opts_out {
            // Suppressed everywhere at once (docs/language.md): every other lead of the contact ends too.
            self.batch.suppress.push(event.contact.clone());
        }
        for (campaign, stored) in targets {
            let input = match &event.campaign {
                Some(named) if *named != campaign => Input::OptOut,
                _ => event.input.clone(),
            };
            let key = (campaign.clone(), event.contact.clone());
            let entry = match stored {
                Some((contact, lead)) => (contact, lead, Vec::new()),
                None => match self.changed.remove(&key) {
                    Some(entry) => entry,
                    None => unreachable_lead(&campaign, &event.contact)?,
                },
            };
            let (contact, mut lead, mut records) = entry;
            if lead.status.is_final() {
                records.push(lead.note(at, &input));
            } else {
                lead.deliver_at(at, input);
                let active = self.campaigns.iter().any(|c| {
                    c.id == campaign && matches!(c.status, CampaignStatus::Running | CampaignStatus::Scheduled)
                });
                // An opt-out event ends the lead itself (its reply recorded); `suppressed` is for
                // a contact already on the list.
                let suppressed = !opts_out
                    && (self.batch.suppress.contains(&contact.key) || self.store.is_suppressed(&contact.key)?);
                let loaded = load(&mut self.loaded, &self.campaigns, &campaign);
                // The lead moves now only in a running campaign whose file is as it last ran;
                // otherwise the event waits in the lead (due now) for the next `run` of it, as
                // does an event dated later.
                if let Some(graph) = loaded.graph.as_ref().filter(|_| active) {
                    records.extend(super::step::step(
                        graph,
                        &mut HandOver,
                        &contact,
                        &mut lead,
                        now,
                        &mut self.batch,
                        suppressed,
                        &crate::channel::log::answer_at_once,
                    ));
                }
            }
            self.changed.insert(key, (contact, lead, records));
        }
        self.applied += 1;
        Ok(())
    }

    /// The campaigns the event applies to: the one it names, or every campaign that has the
    /// contact for an opt-out, or the contact's only campaign; each with the lead read from the
    /// store (`None`: it is among the leads changed since the last write).
    fn targets(&self, event: &Inbound, opts_out: bool) -> Result<Vec<(String, Found)>, Rejected> {
        if let Some(campaign) = &event.campaign {
            if !self.campaigns.iter().any(|c| &c.id == campaign) {
                let ids: Vec<&str> = self.campaigns.iter().map(|c| c.id.as_str()).collect();
                let hint = crate::diagnostic::did_you_mean(campaign, ids.iter().copied())
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                return Err(Rejected::Content(format!("unknown campaign `{campaign}`{hint}")));
            }
            if !opts_out {
                return match self.find(campaign, &event.contact)? {
                    Some(lead) => Ok(vec![(campaign.clone(), lead)]),
                    None => unreachable_lead(campaign, &event.contact),
                };
            }
        }
        let mut found = Vec::new();
        for campaign in &self.campaigns {
            match self.find(&campaign.id, &event.contact)? {
                Some(lead) => found.push((campaign.id.clone(), lead)),
                None if event.campaign.as_ref() == Some(&campaign.id) => {
                    return unreachable_lead(&campaign.id, &event.contact);
                }
                None => {}
            }
        }
        match found.len() {
            // An opt-out from someone not (yet) in any campaign still goes on the list.
            0 if opts_out => Ok(found),
            0 => Err(Rejected::Content(format!("no campaign has a lead for contact `{}`", event.contact))),
            1 => Ok(found),
            _ if opts_out => Ok(found),
            _ => Err(Rejected::Content(format!(
                "contact `{}` is in campaigns {}; give `campaign`",
                event.contact,
                found.iter().map(|(c, _)| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Refuses a call outcome for a lead with no call in flight, and a delivery report for one
    /// that was never sent a message: applied, they would set `call.*` or `message.status` for
    /// an action that never happened. A lead that ended with its action in flight (an opt-out
    /// during a call) still takes the late outcome into its history.
    fn expected(&mut self, event: &Inbound, campaign: &str, stored: Option<&(Contact, Lead)>) -> Result<(), Rejected> {
        let (of_call, what) = match event.input {
            Input::Call { .. } => (true, "no call in flight for"),
            Input::Delivery { .. } => (false, "no message sent to"),
            _ => return Ok(()),
        };
        let lead = match stored {
            Some((_, lead)) => lead,
            None => match self.changed.get(&(campaign.to_string(), event.contact.clone())) {
                Some((_, lead, _)) => lead,
                None => return Ok(()),
            },
        };
        let graph = load(&mut self.loaded, &self.campaigns, campaign).graph.as_ref();
        // Without the campaign's graph the step's kind is unknown: the lead's parking decides.
        let step_is = |call: bool| match (graph, lead.step.as_deref()) {
            (Some(graph), Some(step)) => graph.state(step).is_some_and(|id| match graph.node(id).kind {
                NodeKind::Call(_) => call,
                NodeKind::Send(_) => !call,
                _ => false,
            }),
            _ => true,
        };
        let in_flight = lead.park == Park::Outcome && step_is(of_call);
        if in_flight || (!of_call && lead.message_status.is_some()) {
            return Ok(());
        }
        let whereabouts = match &lead.step {
            Some(step) => format!("at step `{step}` ({})", lead.status),
            None if lead.status.is_final() => format!("finished ({})", lead.status),
            None => format!("not started ({})", lead.status),
        };
        Err(Rejected::Content(format!("{what} `{}` in `{campaign}`: the lead is {whereabouts}", event.contact)))
    }

    /// Whether the campaign has a lead for the contact: `Some(None)` when it changed since the
    /// last write, `Some(Some(..))` as stored.
    fn find(&self, campaign: &str, contact: &str) -> Result<Option<Found>, StoreError> {
        if self.changed.contains_key(&(campaign.to_string(), contact.to_string())) {
            return Ok(Some(None));
        }
        Ok(self.store.lead(campaign, contact)?.map(Some))
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let mut batch = std::mem::take(&mut self.batch);
        batch.events.extend(self.pending.drain());
        for ((campaign, _), (contact, lead, records)) in self.changed.drain() {
            if !records.is_empty() {
                let first_seq = lead.seq - records.len() as u32;
                batch.history.push((campaign.clone(), contact.key, first_seq, records));
            }
            batch.leads.push((campaign, lead));
        }
        if !batch.is_empty() {
            self.store.write(batch, true)?;
            self.stored = self.store.applied_events()?;
        }
        Ok(())
    }
}

/// The campaign's graph from the file its last run recorded, if that file is unchanged.
fn load<'a>(loaded: &'a mut HashMap<String, Loaded>, campaigns: &[CampaignRecord], campaign: &str) -> &'a mut Loaded {
    loaded.entry(campaign.to_string()).or_insert_with(|| {
        let record = campaigns.iter().find(|c| c.id == campaign);
        Loaded { graph: record.and_then(|r| compile(r.path.as_deref()?, &r.content_hash, campaign)) }
    })
}

fn unreachable_lead<T>(campaign: &str, contact: &str) -> Result<T, Rejected> {
    Err(Rejected::Content(format!("campaign `{campaign}` has no lead for contact `{contact}`")))
}

/// The history record of an event that reached a lead already final.
/// Compiles the campaign file, if it is there and is the version the database last ran.
fn compile(path: &Path, hash: &str, campaign: &str) -> Option<Graph> {
    let warn = |why: &str| {
        crate::say!("ingest: {campaign}: {why}; its events wait in the leads for the next `herald run`");
        None
    };
    let file = match crate::validate::read_source(path) {
        Ok((file, None)) => file,
        _ => return warn(&format!("cannot read {}", path.display())),
    };
    if crate::check::content_hash(&file.text) != hash {
        return warn(&format!("{} changed since the last run", path.display()));
    }
    let options =
        crate::check::Options { contact_columns: None, base_dir: path.parent().map(PathBuf::from).unwrap_or_default() };
    match crate::check::check_file(&file, &options).0 {
        Some(graph) => Some(graph),
        None => warn(&format!("{} has errors", path.display())),
    }
}
