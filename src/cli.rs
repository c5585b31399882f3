//! Command line: clap commands, dispatch, exit codes and output formats.
//!
//! Exit codes: 0 success; 1 the content is wrong (check errors, an unknown campaign or
//! contact, a lifecycle change the campaign's state forbids); 2 usage or environment errors
//! (bad flags, unreadable files, a missing or locked database).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::Options;
use crate::diagnostic::Renderer;
use crate::driver::load::{self, Invalid, LoadError};
use crate::driver::{DriverError, SimFormat, simulate};
use crate::ops::OpsError;
use crate::ops::lead::LeadAction;
use crate::ops::status::StatusFormat;
use crate::terminal::{Stream, color};
use crate::test_runner::TestError;
use crate::validate::{self, Format, ValidateError};
use crate::{draw, ops, schema};

/// The database of `run` and the commands after it, unless `--db` says otherwise.
const DEFAULT_DB: &str = "herald.redb";

#[derive(Parser, Debug)]
#[command(name = "herald", version, about = "Campaigns as code: check, compile and run outbound campaigns")]
struct Cli {
    /// Database file (default: herald.redb). Used by run, ingest, status, report, explain, export, pause,
    /// resume, cancel, retry-failed and lead; simulate keeps its state there only when given
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Channel configuration (default: herald.yaml here, if there is one; else every channel is
    /// `log`). run sends through it; validate, simulate and test check it; channels check
    /// reaches its channels
    #[arg(long, global = true, value_name = "PATH")]
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
        /// How to print the problems: `github` writes pull-request annotations
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit 1)
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the compiled step graph
    Graph {
        /// The campaign file
        file: PathBuf,
        /// `mermaid` renders in GitHub Markdown; `dot` is for Graphviz
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
        /// A contacts CSV whose columns `contact.<column>` must name
        #[arg(long)]
        contacts: Option<PathBuf>,
    },
    /// Print the JSON Schema of campaign files
    Schema,
    /// Run a campaign on a virtual clock and show what would happen to whom, and when
    Simulate {
        /// The campaign file
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
        /// What to print: each event in time order, JSON lines, totals, or the `report` of the run
        #[arg(long, value_enum, default_value_t = SimFormat::Timeline)]
        format: SimFormat,
        /// Write every row skipped for a problem to this CSV (its columns, then line, column, value, reason)
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Every message and call of a campaign rendered in full for one contact (the first row by
    /// default): step, channel, to, from, subject, text or prompt, each variant
    Preview {
        /// The campaign file
        file: PathBuf,
        /// The contacts CSV
        #[arg(long)]
        contacts: PathBuf,
        /// The contact's key (default: the CSV's first row)
        #[arg(long)]
        contact: Option<String>,
        /// A variable as if the run had set it, NAME=VALUE (repeatable; JSON values: 3, true)
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::driver::preview::parse_var)]
        vars: Vec<(String, serde_json::Value)>,
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
        /// Serve HTTP on this address (`127.0.0.1:8080`) for replies, delivery reports, call
        /// results and events while the campaigns run, until stopped (docs/server.md)
        #[arg(long, value_name = "ADDR", conflicts_with = "once")]
        listen: Option<String>,
    },
    /// Run campaign tests (`*.test.yaml`, directories recursively) on a virtual clock
    Test {
        /// Test files or directories (default: campaigns/)
        paths: Vec<PathBuf>,
        /// How to print the results: `github` writes pull-request annotations
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Campaign status, lead counts per status, the next due time and the leads due within the
    /// hour (every campaign, or the one named)
    Status {
        /// The campaign's id (default: every campaign in the database)
        campaign: Option<String>,
        /// `json` gives every lead status, zeros included
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
    },
    /// What happened in a campaign: funnel per step, outcomes, calls per attempt, variants compared
    Report {
        /// The campaign's id
        campaign: String,
        /// `html` is one self-contained page (charts, no network): `--format html > report.html`
        #[arg(long, value_enum, default_value_t = crate::report::ReportFormat::Table)]
        format: crate::report::ReportFormat,
    },
    /// One CSV row per lead: status, outcome, step, variants, last call/message/reply, vars
    Export {
        /// The campaign's id
        campaign: String,
        /// Write to FILE instead of stdout
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Leave cells as they are (no `'` before cells a spreadsheet would run as formulas)
        #[arg(long)]
        raw: bool,
    },
    /// One lead's whole path: steps entered, conditions with the values they read, deferrals,
    /// retries, actions with their keys, and where it stands now
    Explain {
        /// The campaign's id (`herald status` lists them)
        campaign: String,
        /// The contact's key (a phone as written in an address book, an email in any case)
        contact: String,
        /// `text` for people (one line per record, UTC and local time), `json` for tools
        #[arg(long, value_enum, default_value_t = ops::explain::ExplainFormat::Text)]
        format: ops::explain::ExplainFormat,
    },
    /// Apply replies, call outcomes, deliveries, opt-outs and events: JSON lines from FILE (`-`: stdin)
    Ingest {
        /// A file of JSON lines, or `-` for stdin
        file: PathBuf,
    },
    /// Pause a campaign: its leads stay where they are until `resume`
    Pause {
        /// The campaign's id
        campaign: String,
    },
    /// Resume a paused campaign
    Resume {
        /// The campaign's id
        campaign: String,
    },
    /// Cancel a campaign for good: every lead not yet final becomes `cancelled`
    Cancel {
        /// The campaign's id
        campaign: String,
    },
    /// Put the campaign's `failed` leads back on the send or call step they failed on
    RetryFailed {
        /// The campaign's id
        campaign: String,
    },
    /// Manage one lead
    Lead {
        #[command(subcommand)]
        action: LeadCommand,
    },
    /// The channels of herald.yaml (`--config`)
    Channels {
        #[command(subcommand)]
        action: ChannelsCommand,
    },
    /// Write a starter project: a campaign, its tests, contacts, responses and herald.yaml
    Init {
        /// The folder to write into, created if missing (default: the current folder)
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh or fish) on stdout
    ///
    /// bash: `herald completions bash > ~/.local/share/bash-completion/completions/herald`;
    /// zsh: `herald completions zsh > ~/.zfunc/_herald` (with `fpath+=~/.zfunc` before
    /// `compinit` in ~/.zshrc); fish: `herald completions fish > ~/.config/fish/completions/herald.fish`
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(Subcommand, Debug)]
enum ChannelsCommand {
    /// Resolve every secret and reach every channel's endpoint without sending anything
    Check,
}

#[derive(Subcommand, Debug)]
enum LeadCommand {
    /// Start the lead again from the first step, as a new lead (its history is kept)
    Reset(LeadArgs),
    /// Mark the lead completed by hand (outcome `manual`)
    Complete(LeadArgs),
    /// Delete the lead and its history
    Remove(LeadArgs),
}

#[derive(clap::Args, Debug)]
struct LeadArgs {
    /// The campaign's id
    campaign: String,
    /// The contact's key: a phone number (in any usual form) or an email (in any case)
    contact: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    Text,
    Mermaid,
    Dot,
}

/// Every error a command stops with, from the layer that found it. `run` prints it, the only
/// place an error is printed, and exits with its `exit_code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--config` names something that is not a file: a typo must not run on other channels.
    #[error("--config {}: {}", .0.display(), .1)]
    Config(PathBuf, &'static str),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error("{} has errors; fix them to draw its graph", .0.path.display())]
    Graph(Box<Invalid>),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Ops(#[from] OpsError),
    #[error(transparent)]
    Test(#[from] TestError),
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
    /// Writing `schema`, `graph` or `completions` to stdout failed.
    #[error("{0}")]
    Output(std::io::Error),
}

impl Error {
    /// 1 when the content is wrong, 2 for usage or the environment (docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(..) | Error::Output(_) => 2,
            Error::Graph(_) => 1,
            Error::Validate(e) => e.exit_code(),
            Error::Driver(e) => e.exit_code(),
            Error::Ops(e) => e.exit_code(),
            Error::Test(e) => e.exit_code(),
            Error::Init(e) => e.exit_code(),
        }
    }

    /// The campaign whose check errors come before the one-line error.
    fn invalid(&self) -> Option<&Invalid> {
        match self {
            Error::Graph(invalid) | Error::Driver(DriverError::Load(LoadError::Invalid(invalid))) => Some(invalid),
            _ => None,
        }
    }

    /// On stderr: the campaign's errors as `validate` draws them, if any, then `error: …`.
    fn print(&self) {
        if let Some(invalid) = self.invalid() {
            let renderer = Renderer::new(color(Stream::Stderr));
            for d in &invalid.errors.items {
                crate::say_raw!("{}", renderer.render(&invalid.file, d));
            }
        }
        crate::say!("error: {self}");
    }
}

pub fn run() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(error) => {
            error.print();
            ExitCode::from(error.exit_code())
        }
    }
}

fn try_main() -> Result<ExitCode, Error> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return Ok(if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS });
        }
    };
    let db = cli.db.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DB));
    // herald.yaml in the current folder is the configuration unless `--config` names another.
    if let Some(path) = &cli.config {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(Error::Config(path.clone(), "not a file")),
            Err(_) => return Err(Error::Config(path.clone(), "no such file")),
        }
    }
    let config = cli.config.clone().or_else(|| Some(PathBuf::from("herald.yaml")).filter(|p| p.is_file()));
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Validate { paths, contacts, format, deny_warnings } => {
            validate(paths, contacts, config, format, deny_warnings)
        }
        Command::Graph { file, format, contacts } => graph(file, format, contacts),
        Command::Schema => print(&schema::render()).map(|()| ExitCode::SUCCESS),
        Command::Simulate { file, contacts, responses, start, until, seed, format, rejects } => {
            // A forecast report reads the simulation's store, kept until it is printed.
            let forecast = match (format, &cli.db) {
                (SimFormat::Report, None) => Some(tempfile::tempdir().map_err(DriverError::TempDb)?),
                _ => None,
            };
            let db = forecast.as_ref().map(|dir| dir.path().join("forecast.redb")).or(cli.db);
            // Simulate sends nothing: herald.yaml is checked against the campaign, and its
            // policy's quiet hours and frequency caps hold as in a run.
            let mut policy = crate::config::Policy::default();
            if let (Some(config), Ok(graph)) = (&config, load::campaign(&file, None)) {
                policy = load::config(config, std::slice::from_ref(&graph)).map_err(DriverError::Load)?.policy;
            }
            let args = simulate::Args {
                file,
                contacts,
                responses,
                start,
                until,
                seed,
                format,
                db: db.clone(),
                rejects,
                policy,
            };
            let campaign = simulate::command(args)?;
            match (format, db) {
                (SimFormat::Report, Some(db)) => {
                    done(crate::report::command(&db, &campaign, crate::report::ReportFormat::Table, out))
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Preview { file, contacts, contact, vars } => {
            crate::driver::preview::command(&crate::driver::preview::Args { file, contacts, contact, vars }, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { files, contacts, once, outbox, rejects, listen } => {
            // `--once` does what is due and exits: a `server.listen` in herald.yaml does not keep it.
            let serve = |serving: crate::driver::run::Serving<'_>| {
                if once { Ok(false) } else { crate::server::start(serving, listen.as_deref()) }
            };
            crate::driver::run::command(
                crate::driver::run::Args { files, contacts, db, once, outbox, rejects, config },
                Some(&serve),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { paths, format } => {
            // Tests send nothing: herald.yaml is checked on its own (`validate` checks it
            // against the campaigns), and its policy's quiet hours and frequency caps hold as
            // in a run.
            let mut policy = crate::config::Policy::default();
            if let Some(config) = &config {
                policy = load::config(config, &[]).map_err(DriverError::Load)?.policy;
            }
            let failed = crate::test_runner::command(paths, format, color(Stream::Stdout), policy)?;
            Ok(verdict(failed))
        }
        Command::Ingest { file } => Ok(verdict(crate::driver::ingest::command(&db, &file)? > 0)),
        Command::Status { campaign, format } => done(ops::status::command(&db, campaign.as_deref(), format, out)),
        Command::Report { campaign, format } => done(crate::report::command(&db, &campaign, format, out)),
        Command::Export { campaign, output, raw } => {
            done(ops::export::command(&db, &ops::export::Args { campaign, output, raw }, out))
        }
        Command::Explain { campaign, contact, format } => {
            done(ops::explain::command(&db, &campaign, &contact, format, out))
        }
        Command::Pause { campaign } => done(ops::lifecycle::pause(&db, &campaign, out)),
        Command::Resume { campaign } => done(ops::lifecycle::resume(&db, &campaign, out)),
        Command::Cancel { campaign } => done(ops::lifecycle::cancel(&db, &campaign, out)),
        Command::RetryFailed { campaign } => done(ops::lifecycle::retry_failed(&db, &campaign, out)),
        Command::Lead { action } => {
            let (action, LeadArgs { campaign, contact }) = match action {
                LeadCommand::Reset(args) => (LeadAction::Reset, args),
                LeadCommand::Complete(args) => (LeadAction::Complete, args),
                LeadCommand::Remove(args) => (LeadAction::Remove, args),
            };
            done(ops::lead::command(&db, action, &campaign, &contact, out))
        }
        Command::Channels { action: ChannelsCommand::Check } => channels_check(config.as_deref()),
        Command::Init { dir } => {
            crate::init::command(&dir.unwrap_or_else(|| PathBuf::from(".")), out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => completions(shell),
    }
}

/// `channels check`: the file's problems as `validate` shows them, else one line per channel.
fn channels_check(config: Option<&std::path::Path>) -> Result<ExitCode, Error> {
    let mut out = std::io::stdout().lock();
    let Some(path) = config else {
        print("no herald.yaml here and no --config: every channel is `log` (stdout); nothing to reach\n")?;
        return Ok(ExitCode::SUCCESS);
    };
    let (checked, config) = validate::check_config(path, &[])?;
    let Some(config) = config.filter(|_| !checked.diagnostics.has_errors()) else {
        validate::print(&[checked], Format::Human, color(Stream::Stdout), &mut out).map_err(ValidateError::Output)?;
        return Ok(verdict(true));
    };
    let verdicts = crate::channel::check::check(&config).map_err(|e| Error::Driver(DriverError::Runtime(e)))?;
    let mut failed = false;
    for v in verdicts {
        let line = match &v.result {
            Ok(what) => format!("ok    {} ({}): {what}", v.name, v.kind),
            Err(what) => format!("FAIL  {} ({}): {what}", v.name, v.kind),
        };
        failed |= v.result.is_err();
        print(&format!("{}\n", crate::terminal::clean(&line)))?;
    }
    Ok(verdict(failed))
}

/// `completions SHELL`: the script on stdout. Made in memory first: clap_complete panics on a
/// write error, and a closed stdout is not one.
fn completions(shell: CompletionShell) -> Result<ExitCode, Error> {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "herald", &mut script);
    print(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}

/// The end of a command on a database. A closed stdout (`herald export x | head`) is not an
/// error.
fn done(result: Result<(), OpsError>) -> Result<ExitCode, Error> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) if error.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error.into()),
    }
}

/// Exit 1 when the content failed (errors found, a case failed, an event rejected): what failed
/// is already reported, on stdout or stderr.
fn verdict(failed: bool) -> ExitCode {
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `text` on stdout; a closed stdout is not an error.
fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    }
}

fn validate(
    paths: Vec<PathBuf>,
    contacts: Option<PathBuf>,
    config: Option<PathBuf>,
    format: Format,
    deny_warnings: bool,
) -> Result<ExitCode, Error> {
    let paths = if paths.is_empty() { vec![PathBuf::from("campaigns")] } else { paths };
    let files = validate::collect(&paths)?;
    if files.is_empty() {
        return Err(ValidateError::NoCampaignFiles(paths[0].clone()).into());
    }
    let contact_columns = contacts.as_deref().map(validate::contact_columns).transpose()?;
    let options = Options { contact_columns, base_dir: PathBuf::new() };
    let checked = validate::check_all(&files, &options, contacts.as_deref(), config.as_deref())?;
    let mut out = std::io::stdout().lock();
    let (errors, warnings) = match validate::print(&checked, format, color(Stream::Stdout), &mut out) {
        Ok(counts) => counts,
        // The reader went away (`| head`): nothing more to say, and the verdict stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => validate::counts(&checked),
        Err(e) => return Err(ValidateError::Output(e).into()),
    };
    Ok(verdict(errors > 0 || (deny_warnings && warnings > 0)))
}

fn graph(path: PathBuf, format: GraphFormat, contacts: Option<PathBuf>) -> Result<ExitCode, Error> {
    let columns = match contacts.as_deref().map(validate::contact_columns).transpose() {
        Ok(columns) => columns,
        // An unreadable campaign is reported before a bad CSV, as it always was.
        Err(error) => {
            validate::read_source(&path)?;
            return Err(error.into());
        }
    };
    let graph = load::campaign(&path, columns).map_err(|error| match error {
        LoadError::Read(e) => Error::Validate(e),
        LoadError::Invalid(invalid) => Error::Graph(invalid),
    })?;
    let text = match format {
        GraphFormat::Text => draw::text(&graph),
        GraphFormat::Mermaid => draw::mermaid(&graph),
        GraphFormat::Dot => draw::dot(&graph),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag and argument of every command, in `--help`, says what it is.
    #[test]
    fn every_argument_has_a_description() {
        fn visit(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                visit(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        visit(&Cli::command(), "herald", &mut missing);
        assert!(missing.is_empty(), "arguments without a description:\n{}", missing.join("\n"));
    }
}
