//! Events and outcomes applied to their leads, each once per database: what `ingest` does with
//! a file's lines and what `run --listen` does with what its server takes (docs/events.md).
//!
//! An event finds its lead as at import (the contact normalised in the region of the campaign
//! it names, or of each campaign); an outcome names its action's key. Each is applied once: its
//! key (`event_key`, or the sender's id) is stored in the transaction that stores the leads it
//! changed, and one whose key is taken is counted as a duplicate. Leads changed since the last
//! write are kept here, so that a later event about the same lead sees the earlier one's effect.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::arrival::{CallNotes, split_key};
use super::event_key::{EventKeys, id_key};
use super::events::Inbound;
use crate::contact::Contact;
use crate::graph::{Graph, NodeKind};
use crate::runtime::{Input, Lead, Park, Record};
use crate::store::{AppliedEvents, Batch, CampaignRecord, CampaignStatus, Store, StoreError};

/// Where the campaigns' graphs come from.
pub enum Graphs<'g> {
    /// `ingest`: compiled from the file each campaign last ran, if it is unchanged.
    Files(HashMap<String, Option<Graph>>),
    /// `run --listen`: the graphs the run is running.
    Live(Vec<&'g Graph>),
}

/// Why an event or outcome is refused; nothing of it is applied.
pub enum Rejected {
    /// No such campaign or lead.
    NotFound(String),
    /// Understood, but it applies to nothing (an outcome for no action in flight, an ambiguous
    /// contact).
    Content(String),
    Store(StoreError),
}

impl From<StoreError> for Rejected {
    fn from(error: StoreError) -> Rejected {
        Rejected::Store(error)
    }
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

/// A lead an event reaches: as read from the store, or `None` when it is among the leads
/// changed since the last write.
type Found = Option<(Contact, Lead)>;

pub struct Applier<'a, 'g> {
    store: &'a Store,
    campaigns: Vec<CampaignRecord>,
    graphs: Graphs<'g>,
    /// Leads changed since the last write, by (campaign, contact).
    changed: HashMap<(String, String), (Contact, Lead, Vec<Record>)>,
    batch: Batch,
    keys: EventKeys,
    /// The keys stored before this batch (read again after each write).
    stored: AppliedEvents,
    /// Keys of the events in `batch`, not yet stored: a repeat within them is a duplicate.
    pending: HashSet<Vec<u8>>,
    pub applied: u64,
    pub duplicates: u64,
}

impl<'a, 'g> Applier<'a, 'g> {
    pub fn new(store: &'a Store, graphs: Graphs<'g>) -> Result<Applier<'a, 'g>, StoreError> {
        Ok(Applier {
            store,
            campaigns: store.campaigns()?,
            graphs,
            changed: HashMap::new(),
            batch: Batch::default(),
            keys: EventKeys::default(),
            stored: store.applied_events()?,
            pending: HashSet::new(),
            applied: 0,
            duplicates: 0,
        })
    }

    /// Leads changed and not yet written.
    pub fn changed(&self) -> usize {
        self.changed.len()
    }

    /// Applies the event unless its key (the sender's `id` if given, else the event's own)
    /// says it was applied before; returns whether it was applied (false: a duplicate).
    pub fn event(
        &mut self,
        mut event: Inbound,
        id: Option<&str>,
        message: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, Rejected> {
        event.contact = self.resolve(&event)?;
        let key = match id {
            Some(id) if event.id.is_none() => id_key(id),
            _ => self.keys.key(&event),
        };
        if self.seen(&key)? {
            return Ok(false);
        }
        self.apply(event, message, now)?;
        self.pending.insert(key);
        Ok(true)
    }

    /// Applies the outcome of the action `key` under the sender's `id`. An outcome for an action
    /// its lead no longer waits on (a timeout moved it on) is kept in the history and decides
    /// nothing, as a channel's late answer is.
    pub fn outcome(
        &mut self,
        key: &str,
        input: Input,
        at: DateTime<Utc>,
        notes: Option<CallNotes>,
        id: &str,
    ) -> Result<bool, Rejected> {
        let Some((campaign, contact, _, _)) = split_key(key) else {
            return Err(Rejected::NotFound(format!("`{key}` is not an action key (campaign/contact/step/attempt)")));
        };
        self.known(campaign)?;
        if self.seen(&id_key(id))? {
            return Ok(false);
        }
        // An opt-out a provider reports (Twilio's 21610) ends every lead of the contact at once,
        // as a STOP reply does, whatever the lead of this key waits on.
        if matches!(input, Input::OptOut) {
            if self.find(campaign, contact)?.is_none() {
                return unreachable_lead(campaign, contact);
            }
            let event = Inbound { campaign: None, contact: contact.to_string(), at: Some(at), id: None, input };
            self.apply(event, false, at)?;
            self.pending.insert(id_key(id));
            return Ok(true);
        }
        let entry_key = (campaign.to_string(), contact.to_string());
        let (contact, mut lead, mut records) = match self.changed.remove(&entry_key) {
            Some(entry) => entry,
            None => match self.store.lead(campaign, contact)? {
                Some((contact, lead)) => (contact, lead, Vec::new()),
                None => return unreachable_lead(campaign, contact),
            },
        };
        if let Some(notes) =
            notes.filter(|n| n.summary.is_some() || n.transcript.is_some() || n.recording_url.is_some())
        {
            records.push(lead.note_call_report(at, notes.summary, notes.transcript, notes.recording_url));
        }
        if lead.status.is_final() || !super::answers::in_flight(&lead, key) {
            records.push(lead.note(at, &input));
        } else {
            lead.deliver_at(at, input);
        }
        self.changed.insert(entry_key, (contact, lead, records));
        self.pending.insert(id_key(id));
        self.applied += 1;
        Ok(true)
    }

    /// Whether `key` was applied before, here or in the store; counts it if so.
    fn seen(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        if self.pending.contains(key) || self.stored.contains(key)? {
            self.duplicates += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn known(&self, campaign: &str) -> Result<(), Rejected> {
        if self.campaigns.iter().any(|c| c.id == campaign) {
            return Ok(());
        }
        let ids: Vec<&str> = self.campaigns.iter().map(|c| c.id.as_str()).collect();
        let hint = crate::diagnostic::did_you_mean(campaign, ids.iter().copied())
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        Err(Rejected::NotFound(format!("unknown campaign `{campaign}`{hint}")))
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

    fn apply(&mut self, event: Inbound, message: bool, now: DateTime<Utc>) -> Result<(), Rejected> {
        let at = event.at.unwrap_or(now);
        let opts_out = match &event.input {
            Input::OptOut => true,
            Input::Reply { text, .. } => text.as_deref().is_some_and(crate::runtime::is_opt_out),
            _ => false,
        };
        let mut targets = self.targets(&event, opts_out, message)?;
        if message && !opts_out && targets.len() > 1 {
            targets = vec![self.likeliest(targets, &event.contact)];
        }
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
                if let Graphs::Files(_) = self.graphs {
                    self.advance(&campaign, &contact, &mut lead, &mut records, opts_out, now)?;
                }
            }
            self.changed.insert(key, (contact, lead, records));
        }
        self.applied += 1;
        Ok(())
    }

    /// `ingest` moves the lead at once, in a running campaign whose file is as it last ran
    /// (otherwise the event waits in the lead, due now, for the next `run`); a live run leaves
    /// it to the engine's next page.
    fn advance(
        &mut self,
        campaign: &str,
        contact: &Contact,
        lead: &mut Lead,
        records: &mut Vec<Record>,
        opts_out: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Rejected> {
        let active = self
            .campaigns
            .iter()
            .any(|c| c.id == campaign && matches!(c.status, CampaignStatus::Running | CampaignStatus::Scheduled));
        // An opt-out event ends the lead itself (its reply recorded); `suppressed` is for a
        // contact already on the list.
        let suppressed =
            !opts_out && (self.batch.suppress.contains(&contact.key) || self.store.is_suppressed(&contact.key)?);
        let Graphs::Files(files) = &mut self.graphs else { return Ok(()) };
        let graph = files.entry(campaign.to_string()).or_insert_with(|| compile_recorded(&self.campaigns, campaign));
        if let Some(graph) = graph.as_ref().filter(|_| active) {
            records.extend(super::step::step(
                graph,
                &mut HandOver,
                contact,
                lead,
                now,
                &mut self.batch,
                suppressed,
                &crate::channel::log::answer_at_once,
            ));
        }
        Ok(())
    }

    /// Of several campaigns' leads for one contact, the one an unaddressed message most likely
    /// answers: one still going, waiting for a reply if any does, the latest to move.
    fn likeliest(&self, mut targets: Vec<(String, Found)>, contact: &str) -> (String, Found) {
        let rank = |(campaign, found): &(String, Found)| {
            let lead = match found {
                Some((_, lead)) => Some(lead),
                None => self.changed.get(&(campaign.clone(), contact.to_string())).map(|(_, l, _)| l),
            };
            lead.map(|l| (!l.status.is_final(), l.park == Park::Await, l.entered_at))
        };
        targets.sort_by_key(|t| std::cmp::Reverse(rank(t)));
        targets.swap_remove(0)
    }

    /// The campaigns the event applies to: the one it names, or every campaign that has the
    /// contact for an opt-out or a `message` (which then picks one), or the contact's only
    /// campaign; each with the lead read from the store (`None`: it is among the leads changed
    /// since the last write).
    fn targets(&self, event: &Inbound, opts_out: bool, message: bool) -> Result<Vec<(String, Found)>, Rejected> {
        if let Some(campaign) = &event.campaign {
            self.known(campaign)?;
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
            0 => Err(Rejected::NotFound(format!("no campaign has a lead for contact `{}`", event.contact))),
            1 => Ok(found),
            _ if opts_out || message => Ok(found),
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
        let graph: Option<&Graph> = match &mut self.graphs {
            Graphs::Files(files) => files
                .entry(campaign.to_string())
                .or_insert_with(|| compile_recorded(&self.campaigns, campaign))
                .as_ref(),
            Graphs::Live(graphs) => graphs.iter().find(|g| g.id == campaign).copied(),
        };
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

    /// The addresses (or contact keys) the events so far suppress, stored by the next `flush`.
    pub fn suppressed(&self) -> &[String] {
        &self.batch.suppress
    }

    /// Stores what changed, with the keys applied, in one durable transaction.
    pub fn flush(&mut self) -> Result<(), StoreError> {
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

fn unreachable_lead<T>(campaign: &str, contact: &str) -> Result<T, Rejected> {
    Err(Rejected::NotFound(format!("campaign `{campaign}` has no lead for contact `{contact}`")))
}

/// The campaign's graph from the file its last run recorded, if that file is unchanged.
fn compile_recorded(campaigns: &[CampaignRecord], campaign: &str) -> Option<Graph> {
    let record = campaigns.iter().find(|c| c.id == campaign)?;
    compile(record.path.as_deref()?, &record.content_hash, campaign)
}

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
