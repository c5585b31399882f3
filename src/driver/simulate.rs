//! `herald simulate`: every contact through the campaign on a virtual clock, with the real
//! store, in time order. The clock jumps from one due time to the next; leads due at the same
//! instant are advanced together and written in one transaction (group commit).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::clock::{Clock, VirtualClock};
use super::error::DriverError;
use super::frequency::{Capped, Paced};
use super::import::{self, Walker};
use super::output::{self, SimFormat, Tally};
use super::progress::Progress;
use super::responses::Responses;
use super::writer::Writer;
use crate::contacts::{Contact, ImportReport};
use crate::graph::Graph;
use crate::runtime::scope::timezone_of;
use crate::runtime::{Effect, Event, Input, Lead, LeadStatus, Record, step_due};
use crate::store::{Batch, CampaignRecord, CampaignStatus, Purpose, Store};

/// Leads advanced per transaction.
pub(super) const BATCH: usize = 4_000;

/// Room made per new lead's row in a batch buffer (they grow as needed).
pub(super) const ROW: usize = 512;

/// Without `--until`, a simulation stops after a year of virtual time.
const HORIZON: chrono::TimeDelta = chrono::TimeDelta::days(365);

pub struct Simulation<'a> {
    pub graph: &'a Graph,
    pub contacts: PathBuf,
    pub responses: Responses,
    pub start: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub format: SimFormat,
    pub store: Store,
    /// The campaign file, recorded for the commands that follow on the same `--db`.
    pub source: Option<PathBuf>,
    /// Inputs every imported lead receives at the given times (`herald test`'s scripted
    /// events); empty for `simulate`.
    pub inject: Vec<(DateTime<Utc>, Input)>,
    /// `--rejects FILE`: every row skipped for a problem, written as the CSV is read.
    pub rejects: std::sync::Mutex<Option<crate::contacts::Rejects>>,
    /// herald.yaml's `policy.frequency` (`--config`), kept as a run would.
    pub frequency: Option<crate::config::Frequency>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Import(#[from] crate::contacts::ImportError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Rejects(#[from] crate::contacts::RejectsError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("lead {0} did not move at {1}: this is a bug in herald, please report it")]
    Stuck(String, DateTime<Utc>),
    #[error("a simulation thread crashed: this is a bug in herald, please report it")]
    Crashed,
}

impl SimulateError {
    /// 1 when the contacts are wrong; 2 for the environment, and for herald's own bugs.
    pub fn exit_code(&self) -> u8 {
        match self {
            SimulateError::Import(e) => super::error::import_exit_code(e),
            _ => 2,
        }
    }
}

pub struct Outcome {
    pub import: ImportReport,
    pub tally: Tally,
    /// Leads per status in the store at the end (earlier runs on the same `--db` included).
    pub statuses: BTreeMap<LeadStatus, u64>,
}

impl Simulation<'_> {
    pub fn run(self, out: &mut impl Write) -> Result<Outcome, SimulateError> {
        let outcome = std::thread::scope(|scope| {
            let mut writer = Writer::spawn(scope, &self.store);
            let result = self.drive(out, &mut writer);
            match (result, writer.finish()) {
                (Ok(outcome), Ok(())) => Ok(outcome),
                // The writer's own error, rather than "the writer stopped" that others saw.
                (_, Err(error)) => Err(error.into()),
                (Err(error), Ok(())) => Err(error),
            }
        })?;
        // The last commits were not durable (`drive`): closing makes them so, or fails here.
        self.store.close()?;
        Ok(outcome)
    }

    /// Import, then wake leads in time order. Pages of due leads are read while the writer
    /// applies the previous page: a page continues after the last lead of the one before, and
    /// a lead advanced at `now` always wakes later, so no page needs the writer's changes. The
    /// writer is synced before each new instant.
    /// Every batch is committed durably: redb reuses the pages that non-durable commits free
    /// only after a durable one, so without it the file grows with every pass, and the fsync
    /// runs on the writer thread while the others go on; that was faster than a durable commit
    /// every fifth batch (BENCHMARKS.md, 'Figures behind code comments').
    fn drive(&self, out: &mut impl Write, writer: &mut Writer) -> Result<Outcome, SimulateError> {
        let progress = Progress::new();
        let mut tally = Tally::default();
        let mut pacer = Paced::new(self.graph, self.frequency.as_ref());
        // Carried on in its database: what its leads sent before the stop still counts.
        if let Some(ledger) = &mut pacer.ledger
            && self.store.campaign(&self.graph.id)?.is_some()
        {
            ledger.recount(self.graph, &self.store)?;
        }
        let horizon = self.until.unwrap_or(self.start + HORIZON);
        let (import, known) = self.import(out, &mut tally, &mut pacer, writer, horizon, &progress)?;
        let campaign = self.graph.id.clone();
        let mut advanced: u64 = 0;
        let clock = VirtualClock::new(self.start);
        loop {
            writer.sync()?;
            let Some(due_at) = self.store.next_due(&campaign)? else { break };
            if due_at > horizon {
                break;
            }
            clock.advance_to(due_at);
            let now = clock.now();
            let mut after: Option<(DateTime<Utc>, String)> = None;
            loop {
                let due = self.store.due(&campaign, now, after.as_ref().map(|(t, k)| (*t, k.as_str())), BATCH)?;
                let Some((_, last)) = due.last() else { break };
                let full = due.len() == BATCH;
                after = last.wake_at.map(|t| (t, last.contact.clone()));
                let mut batch = Batch::default();
                for (contact, mut lead) in due {
                    let mut records = Vec::new();
                    self.step_lead(&mut pacer, &contact, &mut lead, now, &mut records, &mut batch.suppress);
                    if lead.wake_at.is_some_and(|t| t <= now) {
                        return Err(SimulateError::Stuck(contact.key, now));
                    }
                    self.emit(out, &contact, &records, &mut tally)?;
                    let first_seq = lead.seq - records.len() as u32;
                    batch.history.push((campaign.clone(), contact.key, first_seq, records));
                    batch.leads.push((campaign.clone(), lead));
                    advanced += 1;
                }
                writer.write(batch, true)?;
                if let Some(ledger) = &mut pacer.ledger {
                    ledger.sweep(now);
                }
                progress.show(format_args!(
                    "simulating: {advanced} lead advances, virtual time {}",
                    now.format("%Y-%m-%d %H:%M UTC")
                ));
                if !full {
                    break;
                }
            }
        }
        let mut record = self.record(CampaignStatus::Running);
        let finished = self.store.next_due(&campaign)?.is_none();
        if finished {
            record.status = CampaignStatus::Completed;
        }
        // Not durable by itself: closing the store (at the end of `run`) makes every pending
        // commit durable in the one commit that records redb's allocator state, so a durable
        // commit here would only add an fsync to the end of the run.
        writer.write(Batch { campaigns: vec![record], ..Batch::default() }, false)?;
        writer.sync()?;
        progress.done();
        if !finished {
            self.stop_lines(out, horizon)?;
            if self.until.is_none() {
                crate::say!(
                    "warning: stopped after {} of virtual time with leads still in progress; give --until to choose",
                    crate::expr::format_duration(HORIZON)
                );
            }
        }
        let statuses = match known {
            Some(statuses) => statuses,
            None => self.store.counts(&campaign)?,
        };
        Ok(Outcome { import, tally, statuses })
    }

    /// Every lead still in progress when the simulation stops gets its closing line too, with
    /// the status it has then.
    fn stop_lines(&self, out: &mut impl Write, at: DateTime<Utc>) -> Result<(), SimulateError> {
        if !self.format.per_line() {
            return Ok(());
        }
        let mut result = Ok(());
        self.store.for_each_lead(&self.graph.id, |contact, lead| {
            if lead.status.is_final() || result.is_err() {
                return;
            }
            let record = Record {
                at,
                step: lead.step.clone(),
                event: Event::Exit { lead_status: lead.status, reason: Some("simulation_stopped".into()) },
            };
            result = match self.format {
                SimFormat::Jsonl => output::jsonl(out, &contact.key, &record),
                _ => output::timeline(out, &contact.key, timezone_of(self.graph, contact), &record),
            };
        })?;
        Ok(result?)
    }

    fn record(&self, status: CampaignStatus) -> CampaignRecord {
        CampaignRecord {
            id: self.graph.id.clone(),
            name: self.graph.name.clone(),
            status,
            content_hash: self.graph.content_hash.clone(),
            started_at: Some(self.start),
            path: self.source.clone(),
            pace: Vec::new(),
            pace_narrow: Default::default(),
            region: self.graph.contacts.region.clone(),
        }
    }

    /// Stream the CSV into the store; skipped rows become final `skipped` leads. A new lead is
    /// due at the start, so it is advanced right away and written once, already parked (or, when
    /// leads are independent, finished). Also gives the store's lead counts when they are known
    /// without reading it: every lead is new and walked to the horizon.
    fn import(
        &self,
        out: &mut impl Write,
        tally: &mut Tally,
        pacer: &mut Paced,
        writer: &mut Writer,
        horizon: DateTime<Utc>,
        progress: &Progress,
    ) -> Result<(ImportReport, Option<BTreeMap<LeadStatus, u64>>), SimulateError> {
        // Into a database that already has the campaign, only new contacts are added.
        let resumed = self.store.campaign(&self.graph.id)?.is_some();
        writer.write(Batch { campaigns: vec![self.record(CampaignStatus::Running)], ..Batch::default() }, false)?;
        let whole = self.independent().then_some(horizon);
        let (report, walked) = match whole.and_then(|_| import::parallel(self, writer, horizon, progress, resumed)) {
            Some(result) => result?,
            None => {
                let mut walker = Walker::new(self, pacer, whole, writer.new_leads(BATCH, ROW));
                let report = import::read(
                    self,
                    resumed,
                    progress,
                    || Vec::with_capacity(import::CHUNK),
                    |chunk| {
                        for item in &chunk {
                            walker.take(item, out)?;
                        }
                        if let Some(batch) = walker.full(|| writer.new_leads(BATCH, ROW)) {
                            writer.write(batch, true)?;
                        }
                        Ok(true)
                    },
                )?;
                let (batch, walked) = walker.finish();
                writer.write(batch, false)?;
                (report, walked)
            }
        };
        tally.merge(walked.tally);
        Ok((report, (whole.is_some() && !resumed).then_some(walked.statuses)))
    }

    pub(super) fn skip(
        &self,
        out: &mut impl Write,
        tally: &mut Tally,
        batch: &mut Batch,
        key: &str,
        reason: &str,
    ) -> Result<(), SimulateError> {
        let (lead, record) = Lead::skipped(key, reason, self.start);
        let contact = Contact { key: key.to_string(), ..Contact::default() };
        self.emit(out, &contact, std::slice::from_ref(&record), tally)?;
        batch.contacts.push(&self.graph.id, &contact, &lead, std::slice::from_ref(&record));
        Ok(())
    }

    /// Whether each lead can be walked to its end on its own as it is imported, instead of all
    /// leads together in time order: nothing couples one lead's timeline to another's (no
    /// pacing; responses are drawn per action), and the output is a summary, which does not
    /// list every contact's lines in time order. The store ends the same either way.
    fn independent(&self) -> bool {
        !self.format.per_line() && !self.graph.pacing.is_set()
    }

    /// Wake the lead at each of its due times up to `horizon`, as the time-ordered loop would.
    pub(super) fn finish_lead(
        &self,
        pacer: &mut Paced,
        contact: &Contact,
        lead: &mut Lead,
        horizon: DateTime<Utc>,
        records: &mut Vec<Record>,
        suppressed: &mut Vec<String>,
    ) -> Result<(), SimulateError> {
        while let Some(at) = lead.wake_at.filter(|t| *t <= horizon) {
            self.step_lead(pacer, contact, lead, at, records, suppressed);
            if lead.wake_at.is_some_and(|t| t <= at) {
                return Err(SimulateError::Stuck(contact.key.clone(), at));
            }
        }
        Ok(())
    }

    /// Feed the lead every input due by `now`, answering its actions from the responses.
    pub(super) fn step_lead(
        &self,
        pacer: &mut Paced,
        contact: &Contact,
        lead: &mut Lead,
        now: DateTime<Utc>,
        records: &mut Vec<Record>,
        suppressed: &mut Vec<String>,
    ) {
        let mut pacer = Capped::new(&mut pacer.pacer, self.graph, pacer.ledger.as_mut());
        step_due(self.graph, &mut pacer, contact, lead, now, None, records, |effect, lead| match effect {
            Effect::Act(action) => {
                let responded = self.responses.respond(self.graph, lead, contact, &action);
                for (at, input) in responded.inputs() {
                    lead.deliver_at(at, input);
                }
            }
            Effect::Suppress(address) => suppressed.push(address),
        });
    }

    pub(super) fn emit(
        &self,
        out: &mut impl Write,
        contact: &Contact,
        records: &[Record],
        tally: &mut Tally,
    ) -> std::io::Result<()> {
        for record in records {
            tally.count(record);
            match self.format {
                SimFormat::Jsonl => output::jsonl(out, &contact.key, record)?,
                SimFormat::Timeline => output::timeline(out, &contact.key, timezone_of(self.graph, contact), record)?,
                SimFormat::Summary | SimFormat::Report => {}
            }
        }
        Ok(())
    }
}

/// `herald simulate` as typed.
pub struct Args {
    pub file: PathBuf,
    pub contacts: PathBuf,
    pub responses: Option<PathBuf>,
    pub start: Option<String>,
    pub until: Option<String>,
    pub seed: u64,
    pub format: SimFormat,
    pub db: Option<PathBuf>,
    pub rejects: Option<PathBuf>,
    /// herald.yaml's policy (`--config`): quiet hours and frequency caps, kept as a run would.
    pub policy: crate::config::Policy,
}

/// Check the campaign against the CSV's columns, simulate, print. Exit 1 when the campaign,
/// the CSV or the responses are wrong; 2 for the environment (unreadable files, a locked db).
/// Runs the simulation; returns the campaign id (what `--format report` reports on).
pub fn command(args: Args) -> Result<String, DriverError> {
    let columns = crate::contacts::read_header(&args.contacts)?;
    let mut graph = super::load::campaign(&args.file, Some(columns.clone()))?;
    super::load::set_quiet(&mut graph, args.policy.quiet_hours);
    let parse_time = |text: &Option<String>, what: &str| -> Result<Option<DateTime<Utc>>, DriverError> {
        text.as_ref()
            .map(|t| {
                crate::expr::parse_datetime(t, graph.schedule.timezone).ok_or_else(|| {
                    DriverError::Time(format!("--{what} `{t}` is not a datetime (RFC 3339, or a date like 2026-12-01)"))
                })
            })
            .transpose()
    };
    let (start, until) = (parse_time(&args.start, "start")?, parse_time(&args.until, "until")?);
    // Without a start, the current minute (whole: times shown to the minute are exact).
    let start = start.or(graph.schedule.start).unwrap_or_else(|| {
        let now = Utc::now().timestamp();
        DateTime::from_timestamp(now - now.rem_euclid(60), 0).unwrap_or_default()
    });
    let responses = match &args.responses {
        Some(path) => Responses::load(path, &graph, Some(&columns), args.seed)?,
        None => Responses::none(args.seed),
    };
    let temp = match args.db {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(DriverError::TempDb)?),
    };
    let db =
        args.db.clone().unwrap_or_else(|| temp.as_ref().map(|d| d.path().join("simulate.redb")).unwrap_or_default());
    let store = Store::open(&db).and_then(|store| store.claim(Purpose::Simulate).map(|()| store))?;
    let rejects =
        args.rejects.as_deref().map(|path| crate::contacts::Rejects::create(path, &args.contacts)).transpose()?;
    let simulation = Simulation {
        rejects: std::sync::Mutex::new(rejects),
        graph: &graph,
        contacts: args.contacts,
        responses,
        start,
        until,
        format: args.format,
        store,
        source: std::path::absolute(&args.file).ok(),
        inject: Vec::new(),
        frequency: args.policy.frequency,
    };
    output::color_timeline(crate::terminal::color(crate::terminal::Stream::Stdout));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let outcome = match simulation.run(&mut out) {
        Ok(outcome) => outcome,
        Err(SimulateError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(graph.id.clone()),
        Err(error) => return Err(error.into()),
    };
    let written = match args.format {
        SimFormat::Summary => {
            let _ = writeln!(out, "contacts: {}", outcome.import);
            output::summary(&mut out, &graph.id, start, &outcome.tally, &outcome.statuses).and_then(|()| out.flush())
        }
        _ => out.flush(),
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(DriverError::Output(e));
    }
    if args.format != SimFormat::Summary {
        crate::say!("contacts: {}", outcome.import);
    }
    for line in outcome.import.details() {
        crate::say!("{line}");
    }
    Ok(graph.id.clone())
}
