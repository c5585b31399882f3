//! Command line: clap commands, dispatch, exit codes and output formats.
//!
//! Exit codes: 0 success; 1 the content is wrong (check errors, an unknown campaign or
//! contact, a lifecycle change the campaign's state forbids); 2 usage or environment errors
//! (bad flags, unreadable files, a missing or locked database).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{self, Options};
use crate::diagnostic::Renderer;
use crate::driver::{SimFormat, simulate};
use crate::ops::lead::LeadAction;
use crate::ops::status::StatusFormat;
use crate::validate::{self, Format};
use crate::{draw, ops, schema};

/// The database of `run` and the commands after it, unless `--db` says otherwise.
const DEFAULT_DB: &str = "herald.redb";

#[derive(Parser, Debug)]
#[command(name = "herald", version, about = "Campaigns as code: check, compile and run outbound campaigns")]
struct Cli {
    /// Database file (default: herald.redb; `simulate` uses a temporary one unless given)
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// Channel configuration (default: herald.yaml if present)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check campaign files (directories recursively) and report every problem
    Validate {
        /// Files or directories (default: campaigns/)
        paths: Vec<PathBuf>,
        /// A contacts CSV whose columns `contact.<column>` must name
        #[arg(long)]
        contacts: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit 1)
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the compiled step graph
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
        #[arg(long)]
        contacts: Option<PathBuf>,
    },
    /// Print the JSON Schema of campaign files
    Schema,
    /// Run a campaign on a virtual clock and show what would happen to whom, and when
    Simulate {
        file: PathBuf,
        /// The contacts CSV
        #[arg(long)]
        contacts: PathBuf,
        /// How contacts answer: a YAML list of rules (see docs/simulate.md)
        #[arg(long)]
        responses: Option<PathBuf>,
        /// Virtual start time, RFC 3339 or a date (default: the campaign's start, else now)
        #[arg(long)]
        start: Option<String>,
        /// Stop at this virtual time even if leads are still in progress
        #[arg(long)]
        until: Option<String>,
        /// Seed of the responses' randomness
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = SimFormat::Timeline)]
        format: SimFormat,
        /// Write every row skipped for a problem to this CSV (its columns, then line, column, value, reason)
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Import contacts, start the campaigns and run them on the real clock until every lead is final
    Run {
        /// Campaign files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A contacts CSV to import into every campaign (only new contacts are added)
        #[arg(long)]
        contacts: Option<PathBuf>,
        /// Do what is due now and exit (cron style)
        #[arg(long)]
        once: bool,
        /// Append the `log` channel's lines to this file instead of stdout
        #[arg(long)]
        outbox: Option<PathBuf>,
        /// Write every contacts row skipped for a problem to this CSV (with several campaigns,
        /// one file each: rejects.<campaign>.csv)
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Run campaign tests (`*.test.yaml`, directories recursively) on a virtual clock
    Test {
        /// Test files or directories (default: campaigns/)
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Campaign status and lead counts per status (every campaign, or the one named)
    Status {
        campaign: Option<String>,
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
    },
    /// What happened in a campaign: funnel per step, outcomes, calls per attempt, variants compared
    Report {
        campaign: String,
        /// `html` is one self-contained page (charts, no network): `--format html > report.html`
        #[arg(long, value_enum, default_value_t = crate::report::ReportFormat::Table)]
        format: crate::report::ReportFormat,
    },
    /// One CSV row per lead: status, outcome, step, variants, last call/message/reply, vars
    Export {
        campaign: String,
        /// Write to FILE instead of stdout
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Leave cells as they are (no `'` before cells a spreadsheet would run as formulas)
        #[arg(long)]
        raw: bool,
    },
    /// Apply replies, call outcomes, deliveries, opt-outs and events: JSON lines from FILE (`-`: stdin)
    Ingest {
        /// A file of JSON lines, or `-` for stdin
        file: PathBuf,
    },
    /// Pause a campaign: its leads stay where they are until `resume`
    Pause { campaign: String },
    /// Resume a paused campaign
    Resume { campaign: String },
    /// Cancel a campaign for good: every lead not yet final becomes `cancelled`
    Cancel { campaign: String },
    /// Put the campaign's `failed` leads back on the send or call step they failed on
    RetryFailed { campaign: String },
    /// Manage one lead
    Lead {
        #[command(subcommand)]
        action: LeadCommand,
    },
}

#[derive(Subcommand, Debug)]
enum LeadCommand {
    /// Start the lead again from the first step, as a new lead (its history is kept)
    Reset { campaign: String, contact: String },
    /// Mark the lead completed by hand (outcome `manual`)
    Complete { campaign: String, contact: String },
    /// Delete the lead and its history
    Remove { campaign: String, contact: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    Text,
    Mermaid,
    Dot,
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // Nothing reads the configuration yet (every channel is `log`), but a path that was given
    // must name a file: a mistyped one silently ignored would later mean the wrong channels.
    if let Some(path) = &cli.config
        && let Err(e) = std::fs::File::open(path)
            .and_then(|f| f.metadata())
            .and_then(|m| if m.is_file() { Ok(()) } else { Err(std::io::Error::other("it is not a regular file")) })
    {
        crate::say!("error: --config {}: {e}", path.display());
        return ExitCode::from(2);
    }
    let db = cli.db.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DB));
    let out = &mut std::io::stdout().lock();
    let result = match cli.command {
        Command::Validate { paths, contacts, format, deny_warnings } => {
            validate(paths, contacts, format, deny_warnings)
        }
        Command::Graph { file, format, contacts } => graph(file, format, contacts),
        Command::Schema => print(&schema::render()).map(|()| ExitCode::SUCCESS),
        Command::Simulate { file, contacts, responses, start, until, seed, format, rejects } => {
            let args = simulate::Args { file, contacts, responses, start, until, seed, format, db: cli.db, rejects };
            Ok(simulate::command(args))
        }
        Command::Run { files, contacts, once, outbox, rejects } => {
            Ok(crate::driver::run::command(crate::driver::run::Args { files, contacts, db, once, outbox, rejects }))
        }
        Command::Test { paths, format } => crate::test_runner::command(paths, format, color()),
        Command::Status { campaign, format } => {
            Ok(ops::finish(ops::status::command(&db, campaign.as_deref(), format, out)))
        }
        Command::Report { campaign, format } => Ok(ops::finish(crate::report::command(&db, &campaign, format, out))),
        Command::Export { campaign, output, raw } => {
            Ok(ops::finish(ops::export::command(&db, &ops::export::Args { campaign, output, raw }, out)))
        }
        Command::Ingest { file } => Ok(ops::ingest::command(&db, &file)),
        Command::Pause { campaign } => Ok(ops::finish(ops::lifecycle::pause(&db, &campaign, out))),
        Command::Resume { campaign } => Ok(ops::finish(ops::lifecycle::resume(&db, &campaign, out))),
        Command::Cancel { campaign } => Ok(ops::finish(ops::lifecycle::cancel(&db, &campaign, out))),
        Command::RetryFailed { campaign } => Ok(ops::finish(ops::lifecycle::retry_failed(&db, &campaign, out))),
        Command::Lead { action } => {
            let (action, campaign, contact) = match action {
                LeadCommand::Reset { campaign, contact } => (LeadAction::Reset, campaign, contact),
                LeadCommand::Complete { campaign, contact } => (LeadAction::Complete, campaign, contact),
                LeadCommand::Remove { campaign, contact } => (LeadAction::Remove, campaign, contact),
            };
            Ok(ops::finish(ops::lead::command(&db, action, &campaign, &contact, out)))
        }
    };
    result.unwrap_or_else(|message| {
        crate::say!("error: {message}");
        ExitCode::from(2)
    })
}

fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn options(contacts: Option<PathBuf>) -> Result<Options, String> {
    let contact_columns =
        contacts.map(|path| validate::contact_columns(&path)).transpose().map_err(|e| e.to_string())?;
    Ok(Options { contact_columns, base_dir: PathBuf::new() })
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn validate(
    paths: Vec<PathBuf>,
    contacts: Option<PathBuf>,
    format: Format,
    deny_warnings: bool,
) -> Result<ExitCode, String> {
    let paths = if paths.is_empty() { vec![PathBuf::from("campaigns")] } else { paths };
    let files = validate::collect(&paths).map_err(|e| e.to_string())?;
    if files.is_empty() {
        return Err(format!("no campaign files (*.yaml, *.yml) under {}", paths[0].display()));
    }
    let checked =
        validate::check_all(&files, &options(contacts.clone())?, contacts.as_deref()).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let (errors, warnings) = validate::print(&checked, format, color(), &mut out).map_err(|e| e.to_string())?;
    let failed = errors > 0 || (deny_warnings && warnings > 0);
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn graph(path: PathBuf, format: GraphFormat, contacts: Option<PathBuf>) -> Result<ExitCode, String> {
    let (file, problem) = validate::read_source(&path).map_err(|e| e.to_string())?;
    let mut options = options(contacts)?;
    options.base_dir = path.parent().map(PathBuf::from).unwrap_or_default();
    let (graph, diagnostics) = match problem {
        Some(d) => (None, crate::diagnostic::Diagnostics { items: vec![d] }),
        None => check::check_file(&file, &options),
    };
    let Some(graph) = graph else {
        let renderer = Renderer::new(std::io::stderr().is_terminal());
        for d in diagnostics.items.iter().filter(|d| d.is_error()) {
            crate::say_raw!("{}", renderer.render(&file, d));
        }
        crate::say!("error: {} has errors; fix them to draw its graph", path.display());
        return Ok(ExitCode::from(1));
    };
    let text = match format {
        GraphFormat::Text => draw::text(&graph),
        GraphFormat::Mermaid => draw::mermaid(&graph),
        GraphFormat::Dot => draw::dot(&graph),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
