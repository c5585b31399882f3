//! `herald run` as typed: load and check the campaign files, open the store, and run the
//! engine (`engine::Runner`) on the system clock and the `log` channel, with SIGINT and SIGTERM
//! finishing the page in flight.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::clock::SystemClock;
use super::engine::Runner;
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
}

pub fn command(args: Args) -> ExitCode {
    let columns = match &args.contacts {
        Some(path) => match crate::contacts::read_header(path) {
            Ok(columns) => Some(columns),
            Err(error) => {
                crate::say!("error: {error}");
                let code = if matches!(error, crate::contacts::ImportError::Open { .. }) { 2 } else { 1 };
                return ExitCode::from(code);
            }
        },
        None => None,
    };
    let mut graphs = Vec::new();
    for file in &args.files {
        match super::load::campaign(file, columns.clone()) {
            Ok(graph) => graphs.push(graph),
            Err(code) => return code,
        }
    }
    if let Some(dup) = graphs.iter().enumerate().find_map(|(i, g)| graphs[..i].iter().find(|o| o.id == g.id)) {
        crate::say!("error: two files define campaign `{}`; campaign ids must be unique", dup.id);
        return ExitCode::from(1);
    }
    let store = match Store::open(&args.db).and_then(|store| store.claim(Purpose::Run).map(|()| store)) {
        Ok(store) => store,
        Err(error) => {
            crate::say!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let channel: Box<dyn std::io::Write> = match &args.outbox {
        Some(path) => match crate::channel::file::OutboxFile::open(path) {
            Ok(file) => Box::new(file),
            Err(e) => {
                crate::say!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Box::new(std::io::stdout()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            crate::say!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut channel = crate::channel::log::LogChannel::new("log", channel);
    let mut runner = Runner::new(&store, &graphs, &args.files, &mut channel, &SystemClock);
    let stop = runner.stop_flag();
    match Signals::new(&runtime) {
        Ok(signals) => drop(runtime.spawn(watch_signals(signals, stop.clone(), wake.clone()))),
        Err(e) => crate::say!("warning: cannot watch for Ctrl-C and SIGTERM ({e}); they stop herald at once"),
    }
    let result = runtime.block_on(runner.run(&args, &wake));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            crate::say!("error: {error}");
            error.exit_code()
        }
    }
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
