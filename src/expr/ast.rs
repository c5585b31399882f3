//! The syntax tree of a condition. Spans are byte ranges into the condition's own text; the
//! checker maps them into the YAML file.

use std::ops::Range;
use std::sync::Arc;

use regex::Regex;

use super::value::Value;

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Literal(Value),
    /// A regex literal, compiled at check time (the right side of `matches`).
    Regex(Arc<Regex>),
    List(Vec<Expr>),
    Path(Path),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// `root.field.more`: `contact.first_name`, `vars.score`, `now`, `company.name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub root: String,
    pub fields: Vec<String>,
}

impl Path {
    /// The fields after the root, joined with dots (`name` of `contact.name`).
    pub fn field_path(&self) -> String {
        self.fields.join(".")
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root)?;
        for field in &self.fields {
            write!(f, ".{field}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Contains,
    Matches,
    StartsWith,
    EndsWith,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Contains => "contains",
            BinOp::Matches => "matches",
            BinOp::StartsWith => "starts_with",
            BinOp::EndsWith => "ends_with",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

/// The built-in functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Lower,
    Upper,
    Trim,
    Len,
    Exists,
    DaysSince,
    HoursSince,
    Hour,
    Weekday,
    Date,
    Number,
}

impl Func {
    pub const NAMES: &[&str] =
        &["lower", "upper", "trim", "len", "exists", "days_since", "hours_since", "hour", "weekday", "date", "number"];

    pub fn parse(name: &str) -> Option<Func> {
        Some(match name {
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "trim" => Func::Trim,
            "len" => Func::Len,
            "exists" => Func::Exists,
            "days_since" => Func::DaysSince,
            "hours_since" => Func::HoursSince,
            "hour" => Func::Hour,
            "weekday" => Func::Weekday,
            "date" => Func::Date,
            "number" => Func::Number,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Func::NAMES[self as usize]
    }
}

impl Expr {
    /// Every path in the expression, in reading order, with its span.
    pub fn paths<'a>(&'a self, out: &mut Vec<(&'a Path, Range<usize>)>) {
        match &self.kind {
            ExprKind::Path(path) => out.push((path, self.span.clone())),
            ExprKind::Literal(_) | ExprKind::Regex(_) => {}
            ExprKind::List(items) | ExprKind::Call(_, items) => items.iter().for_each(|e| e.paths(out)),
            ExprKind::Not(inner) | ExprKind::Neg(inner) => inner.paths(out),
            ExprKind::Binary(_, left, right) => {
                left.paths(out);
                right.paths(out);
            }
        }
    }
}
