//! `herald run` as typed: load and check the campaign files, open the store, and run the
//! engine (`engine::Runner`) on the system clock and the `log` channel, with SIGINT and SIGTERM
//! finishing the page in flight.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::clock::SystemClock;
use super::engine::Runner;
use super::error::DriverError;
use crate::store::{Purpose, Store};

pub use super::error::RunError;

/// `herald run` as typed.
pub struct Args {
    pub files: Vec<PathBuf>,
    pub contacts: Option<PathBuf>,
    pub db: PathBuf,
    pub once: bool,
    pub outbox: Option<PathBuf>,
    /// `--rejects FILE`: the rows each campaign's import skipped for a problem.
    pub rejects: Option<PathBuf>,
    /// herald.yaml: the channels by name. None: every channel is `log`.
    pub config: Option<PathBuf>,
}

/// What the live server gets from the run that serves it (`server::start`, which sits above
/// the driver, is given to `command` as a function).
pub struct Serving<'a> {
    pub store: Arc<Store>,
    pub inbox: Arc<super::arrival::Inbox>,
    pub metrics: Arc<super::metrics::Metrics>,
    pub runtime: tokio::runtime::Handle,
    pub config: Option<&'a crate::config::Config>,
}

/// Starts the live server if `--listen` or `server.listen` asks for it (true), or says why it
/// cannot (before any lead moves).
pub type Serve<'s> = &'s dyn Fn(Serving<'_>) -> Result<bool, DriverError>;

pub fn command(args: Args, serve: Option<Serve<'_>>) -> Result<(), DriverError> {
    let columns = args.contacts.as_deref().map(crate::contacts::read_header).transpose()?;
    let mut graphs = Vec::new();
    for file in &args.files {
        graphs.push(super::load::campaign(file, columns.clone())?);
    }
    if let Some(dup) = graphs.iter().enumerate().find_map(|(i, g)| graphs[..i].iter().find(|o| o.id == g.id)) {
        return Err(DriverError::DuplicateCampaign(dup.id.clone()));
    }
    let config = args.config.as_deref().map(|path| super::load::config(path, &graphs)).transpose()?;
    for graph in &mut graphs {
        super::load::set_quiet(graph, config.as_ref().and_then(|c| c.policy.quiet_hours));
    }
    let store = Arc::new(Store::open(&args.db).and_then(|store| store.claim(Purpose::Run).map(|()| store))?);
    let out: Box<dyn std::io::Write + Send> = match &args.outbox {
        Some(path) => Box::new(crate::channel::file::OutboxFile::open(path)?),
        None => Box::new(std::io::stdout()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DriverError::Runtime)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut channel: Box<dyn crate::channel::Channel> = match &config {
        None => Box::new(crate::channel::log::LogChannel::new("log", out)),
        Some(config) => {
            let _inside = runtime.enter();
            let shared = crate::channel::log::Shared::new(out);
            let dispatcher =
                crate::channel::dispatch::Dispatcher::new(config, wake.clone(), &|| Box::new(shared.clone()))
                    .map_err(|e| DriverError::Run(e.into()))?;
            Box::new(dispatcher)
        }
    };
    let metrics = Arc::new(super::metrics::Metrics::default());
    let frequency = config.as_ref().and_then(|c| c.policy.frequency.clone());
    let mut runner = Runner::new(&store, &graphs, &args.files, &mut *channel, &SystemClock)
        .with_metrics(metrics.clone())
        .with_frequency(frequency);
    if let Some(serve) = serve {
        let inbox = super::arrival::Inbox::new(wake.clone());
        let handle = runtime.handle().clone();
        let serving =
            Serving { store: store.clone(), inbox: inbox.clone(), metrics, runtime: handle, config: config.as_ref() };
        if serve(serving)? {
            runner = runner.with_inbox(inbox);
        }
    }
    let stop = runner.stop_flag();
    match Signals::new(&runtime) {
        Ok(signals) => drop(runtime.spawn(watch_signals(signals, stop.clone(), wake.clone()))),
        Err(e) => crate::say!("warning: cannot watch for Ctrl-C and SIGTERM ({e}); they stop herald at once"),
    }
    Ok(runtime.block_on(runner.run(&args, &wake))?)
}

/// SIGINT or SIGTERM: finish the page in flight, commit, exit 0. A second one stops at once
/// (the outbox keeps the process safe to kill anywhere).
async fn watch_signals(mut signals: Signals, stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) {
    signals.next().await;
    stop.store(true, Ordering::SeqCst);
    wake.notify_one();
    signals.next().await;
    crate::say!("run: stopped at once by a second signal");
    std::process::exit(130);
}

/// SIGTERM and SIGINT, registered before any work starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new(runtime: &tokio::runtime::Runtime) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = runtime.enter();
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
