//! The condition language (docs/conditions.md): `reply.text matches "(?i)^yes"`, `vars.score >= 9`,
//! `contact.appointment_date - 1d`.
//!
//! `compile` parses (pest, `parser.rs`), checks types and names against what the campaign
//! declares (`types.rs`), and compiles regex literals, returning every problem with a byte
//! range inside the condition's text; the caller maps ranges into the YAML file. `Condition`
//! then evaluates without I/O and without panicking (`eval.rs`).

mod ast;
mod eval;
mod parser;
mod types;
mod value;

use std::fmt;
use std::ops::Range;

pub use crate::vocab::Type;
pub use ast::{BinOp, Expr, ExprKind, Func, Path};
pub use eval::Scope;
pub use types::TypeEnv;
pub use value::{Value, format_duration, local_midnight, parse_datetime, parse_duration};

/// One problem in a condition, located by a byte range of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub span: Range<usize>,
}

impl Problem {
    fn syntax(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Problem {
        Problem {
            code: "herald::condition_syntax",
            message: message.into(),
            label: "here".to_string(),
            help: Some(help.into()),
            span,
        }
    }
}

/// A checked, compiled condition (or value expression), with the text it came from.
#[derive(Clone)]
pub struct Condition {
    source: String,
    expr: Expr,
    /// The source on one line (`text`), made once: history records it at every evaluation.
    line: String,
    /// Each path the condition reads, once, with its name (`reads`).
    reads: Vec<(Path, String)>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

/// Parse and check `source`: the condition and its type, or every problem found.
pub fn compile(source: &str, env: &TypeEnv) -> Result<(Condition, Type), Vec<Problem>> {
    let mut expr = parser::parse(source).map_err(|p| vec![p])?;
    let mut typer = types::Typer::new(env);
    let ty = typer.infer(&mut expr);
    if !typer.problems.is_empty() {
        return Err(typer.problems);
    }
    let line = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut paths = Vec::new();
    expr.paths(&mut paths);
    let mut reads: Vec<(Path, String)> = Vec::new();
    for (path, _) in paths {
        let name = path.to_string();
        if !reads.iter().any(|(_, n)| *n == name) {
            reads.push((path.clone(), name));
        }
    }
    Ok((Condition { source: source.to_string(), expr, line, reads }, ty))
}

impl Condition {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The source on one line, for drawings and history (block scalars span lines).
    pub fn text(&self) -> &str {
        &self.line
    }

    /// Every path the condition reads, each once in reading order, with its name
    /// (`contact.name`): what history records beside a result.
    pub fn reads(&self) -> &[(Path, String)] {
        &self.reads
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn eval(&self, scope: &dyn Scope) -> Value {
        eval::eval(&self.expr, scope)
    }

    /// Whether the condition is `true` (anything else, `null` included, is not).
    pub fn holds(&self, scope: &dyn Scope) -> bool {
        self.eval(scope).is_true()
    }

    /// Every path as (root, fields joined by dots, byte range of the path in the source).
    pub fn path_spans(&self) -> Vec<(&str, String, Range<usize>)> {
        let mut out = Vec::new();
        self.expr.paths(&mut out);
        out.into_iter().map(|(p, range)| (p.root.as_str(), p.field_path(), range)).collect()
    }
}

#[cfg(test)]
mod tests;
