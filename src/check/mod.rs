//! `check`: a loaded campaign -> every diagnostic at once, and the compiled graph when there
//! are no errors.

mod build;
mod compliance;
mod exprs;
mod flow;
mod pacing;
mod values;
mod whatsapp;

pub use build::content_hash;
pub use compliance::{ChannelFacts, Medium};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::config::Policy;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::expr::{Type, TypeEnv};
use crate::graph::{FieldType, Graph};
use crate::source::SourceFile;
use crate::syntax::yaml::{Kind, Node};
use crate::syntax::{self, Campaign};
use crate::template::Templates;

/// What a check knows beyond the file itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Header of a contacts CSV (`--contacts`): `contact.<column>` must name one of these.
    pub contact_columns: Option<Vec<String>>,
    /// Folder of the campaign file, for `template:` and `suppress:` paths.
    pub base_dir: PathBuf,
}

/// Load and check one file: the graph when it has no errors, and every diagnostic.
pub fn check_file(file: &SourceFile, options: &Options) -> (Option<Graph>, Diagnostics) {
    let report = check_file_report(file, options, None, None);
    (report.graph, report.diagnostics)
}

/// What `validate` learns of one file.
pub struct Report {
    pub graph: Option<Graph>,
    pub diagnostics: Diagnostics,
    /// The compliance checks the file switches off (`checks:`), with their reasons.
    pub checks_off: Vec<syntax::CheckOff>,
    /// The steps marked `frequency: exempt` (ids, where the mark is), when the file compiles.
    pub frequency_exempt: Vec<(String, crate::source::Span)>,
}

/// `check_file`, with the channels and the policy of herald.yaml when known (`validate
/// --config`), and the compliance checks the file switches off.
pub fn check_file_report(
    file: &SourceFile,
    options: &Options,
    channels: Option<&[ChannelFacts]>,
    policy: Option<&Policy>,
) -> Report {
    crate::diagnostic::reset_suggestion_budget();
    let mut diagnostics = Diagnostics::default();
    let mut checks_off = Vec::new();
    let mut frequency_exempt = Vec::new();
    let graph = syntax::load(file, &mut diagnostics).and_then(|mut campaign| {
        let graph = check_with(file, &campaign, options, (channels, policy), &mut diagnostics);
        checks_off = std::mem::take(&mut campaign.checks_off);
        let graph = graph.filter(|_| !diagnostics.has_errors())?;
        // A step's node has the step's index.
        for (node, step) in graph.nodes.iter().zip(&campaign.steps) {
            if let (true, Some(mark)) = (node.frequency_exempt, &step.frequency) {
                frequency_exempt.push((node.id.0.clone(), mark.span));
            }
        }
        Some(graph)
    });
    diagnostics.sort();
    Report { graph, diagnostics, checks_off, frequency_exempt }
}

/// Check a loaded campaign, compiling it as we go.
pub fn check(
    file: &SourceFile,
    campaign: &Campaign,
    options: &Options,
    diagnostics: &mut Diagnostics,
) -> Option<Graph> {
    check_with(file, campaign, options, (None, None), diagnostics)
}

fn check_with(
    file: &SourceFile,
    campaign: &Campaign,
    options: &Options,
    (channels, policy): (Option<&[ChannelFacts]>, Option<&Policy>),
    diagnostics: &mut Diagnostics,
) -> Option<Graph> {
    let mut checker = Checker::new(file, campaign, options, diagnostics);
    checker.channels = channels;
    checker.policy = policy;
    let mut graph = checker.build(campaign);
    let had_errors = checker.diagnostics.has_errors();
    let edges = flow::analyse(&mut checker, campaign, graph.as_ref());
    if let Some(graph) = graph.as_mut() {
        graph.mark_reentrant(&edges);
        // Rules about what a campaign sends only mean something once it compiles.
        if !checker.diagnostics.has_errors() {
            checker.compliance(campaign, graph, &edges);
        }
    }
    graph.filter(|_| !had_errors)
}

pub(crate) struct Checker<'a> {
    pub file: &'a SourceFile,
    pub diagnostics: &'a mut Diagnostics,
    pub env: TypeEnv,
    pub options: &'a Options,
    pub templates: Templates,
    /// The contact columns templates may name, when known.
    pub columns: Option<Vec<String>>,
    pub data_keys: Vec<String>,
    /// Event names the conditions read (`events.<name>`), gathered as they compile.
    pub events: BTreeSet<String>,
    /// Every step id, sorted, then `end`: made once, for the help of each unknown target.
    pub step_names: Option<Vec<String>>,
    /// herald.yaml's channels, when `validate --config` gave it.
    pub channels: Option<&'a [ChannelFacts]>,
    /// herald.yaml's policy, when `validate --config` gave it.
    pub policy: Option<&'a Policy>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a SourceFile, campaign: &Campaign, options: &'a Options, diagnostics: &'a mut Diagnostics) -> Self {
        let data_keys = data_types(campaign.data.as_ref());
        let columns = known_columns(campaign, options);
        let fields = field_types(campaign);
        let env = TypeEnv {
            data: data_keys.clone(),
            contact_fields: columns.as_ref().map(|cols| {
                cols.iter().map(|c| (c.clone(), fields.get(c).copied().unwrap_or(Type::Unknown))).collect()
            }),
            split_steps: split_steps(campaign),
        };
        Checker {
            file,
            diagnostics,
            env,
            options,
            templates: Templates::new(),
            columns,
            data_keys: data_keys.into_keys().collect(),
            events: BTreeSet::new(),
            step_names: None,
            channels: None,
            policy: None,
        }
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

fn data_types(data: Option<&Node>) -> BTreeMap<String, Type> {
    let Some(Node { kind: Kind::Map(entries), .. }) = data else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|(key, value)| {
            let Kind::Str(name) = &key.kind else { return None };
            let ty = match value.kind {
                Kind::Null => Type::Null,
                Kind::Bool(_) => Type::Bool,
                Kind::Int(_) | Kind::Float(_) => Type::Number,
                Kind::Str(_) => Type::String,
                Kind::Seq(_) => Type::List,
                Kind::Map(_) => Type::Unknown,
            };
            Some((name.clone(), ty))
        })
        .collect()
}

/// Known contact columns: the CSV header when given, else what `contacts:` declares.
fn known_columns(campaign: &Campaign, options: &Options) -> Option<Vec<String>> {
    if let Some(columns) = &options.contact_columns {
        return Some(columns.clone());
    }
    let contacts = campaign.contacts.as_ref()?;
    if contacts.fields.is_empty() {
        return None;
    }
    let mut columns: Vec<String> = contacts.fields.iter().map(|(name, _)| name.value.clone()).collect();
    columns.extend(contacts.require.iter().map(|r| r.value.clone()));
    columns.extend(contacts.key.iter().map(|k| k.value.clone()));
    columns.push("timezone".to_string());
    columns.sort();
    columns.dedup();
    Some(columns)
}

fn field_types(campaign: &Campaign) -> BTreeMap<String, Type> {
    let Some(contacts) = &campaign.contacts else {
        return BTreeMap::new();
    };
    contacts
        .fields
        .iter()
        .filter_map(|(name, ty)| {
            let ty = match FieldType::parse(&ty.value)? {
                FieldType::Number => Type::Number,
                FieldType::Bool => Type::Bool,
                FieldType::Date | FieldType::DateTime => Type::DateTime,
                _ => Type::String,
            };
            Some((name.value.clone(), ty))
        })
        .collect()
}

fn split_steps(campaign: &Campaign) -> Vec<String> {
    campaign
        .steps
        .iter()
        .filter(|s| matches!(s.action.as_ref().map(|a| &a.value), Some(syntax::Action::Split(_))))
        .filter_map(|s| s.id.as_ref().map(|id| id.value.clone()))
        .collect()
}
