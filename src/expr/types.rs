//! The static check: roots, fields, functions, operand types and regex literals, every problem
//! reported with the span of the part at fault.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Problem;
use super::ast::{BinOp, Expr, ExprKind, Func, Path};
use super::value::Value;
use crate::diagnostic::did_you_mean;
use crate::vocab::{Field, Root, Type};

/// What a condition may read, beyond the fixed roots.
#[derive(Clone, Debug, Default)]
pub struct TypeEnv {
    /// Keys of `data:` and the type of each value.
    pub data: BTreeMap<String, Type>,
    /// Contact columns when known (from `--contacts` or `contacts.fields`), with their types.
    pub contact_fields: Option<BTreeMap<String, Type>>,
    /// Ids of split steps, for `variant.<id>`.
    pub split_steps: Vec<String>,
}

/// The values a string path can take, where the language fixes them.
fn choices_of(path: &Path) -> Option<&'static [&'static str]> {
    let root = Root::parse(&path.root).filter(|r| r.in_conditions())?;
    match path.fields.as_slice() {
        [field] => Field::find(root, field)?.choices(),
        _ => None,
    }
}

pub struct Typer<'a> {
    env: &'a TypeEnv,
    pub problems: Vec<Problem>,
}

impl<'a> Typer<'a> {
    pub fn new(env: &'a TypeEnv) -> Typer<'a> {
        Typer { env, problems: Vec::new() }
    }

    fn mismatch(&mut self, span: std::ops::Range<usize>, message: String, label: String, help: &str) {
        self.problems.push(Problem {
            code: "herald::type_mismatch",
            message,
            label,
            help: Some(help.to_string()),
            span,
        });
    }

    pub fn infer(&mut self, expr: &mut Expr) -> Type {
        let span = expr.span.clone();
        match &mut expr.kind {
            ExprKind::Literal(value) => literal_type(value),
            ExprKind::Regex(_) => Type::String,
            ExprKind::List(items) => {
                items.iter_mut().for_each(|item| {
                    self.infer(item);
                });
                Type::List
            }
            ExprKind::Path(path) => self.path(path, span),
            ExprKind::Not(inner) => {
                let ty = self.infer(inner);
                self.boolean(ty, inner.span.clone(), "not");
                Type::Bool
            }
            ExprKind::Neg(inner) => {
                let ty = self.infer(inner);
                if ty.known() && !matches!(ty, Type::Number | Type::Duration) {
                    self.mismatch(
                        span,
                        format!("cannot negate a {ty}"),
                        ty.to_string(),
                        "only numbers and durations have a minus sign",
                    );
                }
                if ty.known() { ty } else { Type::Unknown }
            }
            ExprKind::Binary(op, left, right) => {
                let op = *op;
                self.binary(op, left, right, span)
            }
            ExprKind::Call(func, args) => {
                let func = *func;
                self.call(func, args, span)
            }
        }
    }

    fn boolean(&mut self, ty: Type, span: std::ops::Range<usize>, op: &str) {
        if ty.known() && ty != Type::Bool {
            self.mismatch(
                span,
                format!("`{op}` needs true or false, but this is a {ty}"),
                ty.to_string(),
                "compare it with something, e.g. `== \"yes\"` or `> 0`",
            );
        }
    }

    fn path(&mut self, path: &Path, span: std::ops::Range<usize>) -> Type {
        let root_span = span.start..span.start + path.root.len();
        let field_span = (root_span.end + 1).min(span.end)..span.end;
        let field = path.fields.first().map(String::as_str);
        match Root::parse(&path.root).filter(|r| r.in_conditions()) {
            Some(Root::Now | Root::Today) => {
                if !path.fields.is_empty() {
                    self.unknown_field(path, field_span, &[]);
                }
                Type::DateTime
            }
            Some(Root::Contact) => match field {
                None => self.needs_field(path, span, "a column, e.g. `contact.first_name`"),
                Some(name) => self.contact(name, field_span),
            },
            Some(Root::Vars) => match field {
                None => self.needs_field(path, span, "a variable, e.g. `vars.confirmed`"),
                Some(_) => Type::Unknown,
            },
            // Any name: events come from outside the file, whenever the sender likes.
            Some(Root::Events) => {
                match field {
                    None => self.needs_field(path, span, "an event's name, e.g. `events.activated`"),
                    Some(name) if path.fields.len() > 1 => {
                        self.problems.push(Problem {
                        code: "herald::unknown_field",
                        message: format!("`events.{name}` is a datetime, with no fields"),
                        label: "unknown field".into(),
                        help: Some(format!("`events.{name}` is when the event last reached the lead; its `vars` are in `vars.<name>`")),
                        span: field_span,
                    });
                        Type::Unknown
                    }
                    Some(_) => Type::DateTime,
                }
            }
            Some(Root::Variant) => match field {
                None => self.needs_field(path, span, "a split step's id, e.g. `variant.offer`"),
                Some(name) if self.env.split_steps.iter().any(|s| s == name) => Type::String,
                Some(name) => {
                    let help =
                        did_you_mean(name, self.env.split_steps.iter().map(String::as_str)).unwrap_or_else(|| {
                            if self.env.split_steps.is_empty() {
                                "this campaign has no split step with an id".to_string()
                            } else {
                                format!("split steps are: {}", self.env.split_steps.join(", "))
                            }
                        });
                    self.problems.push(Problem {
                        code: "herald::unknown_variant",
                        message: format!("no split step `{name}`"),
                        label: "not a split step".into(),
                        help: Some(help),
                        span: field_span,
                    });
                    Type::Unknown
                }
            },
            Some(root) => match field.and_then(|f| Field::find(root, f)) {
                Some(found) if path.fields.len() == 1 => found.ty(),
                _ => self.unknown_field(path, if field.is_some() { field_span } else { span }, root.fields()),
            },
            None => match self.env.data.get(&path.root) {
                Some(ty) if path.fields.is_empty() => *ty,
                Some(_) => Type::Unknown,
                None => self.unknown_root(path, root_span),
            },
        }
    }

    fn contact(&mut self, name: &str, span: std::ops::Range<usize>) -> Type {
        let Some(columns) = &self.env.contact_fields else {
            return Type::Unknown;
        };
        if let Some(ty) = columns.get(name) {
            return *ty;
        }
        if crate::contact::ALWAYS_READABLE.contains(&name) {
            return Type::String;
        }
        let help = did_you_mean(name, columns.keys().map(String::as_str))
            .unwrap_or_else(|| format!("known columns: {}", columns.keys().cloned().collect::<Vec<_>>().join(", ")));
        self.problems.push(Problem {
            code: "herald::unknown_column",
            message: format!("unknown contact column `{name}`"),
            label: "not a column".into(),
            help: Some(help),
            span,
        });
        Type::Unknown
    }

    fn needs_field(&mut self, path: &Path, span: std::ops::Range<usize>, what: &str) -> Type {
        self.problems.push(Problem {
            code: "herald::unknown_field",
            message: format!("`{}` needs {what}", path.root),
            label: "incomplete path".into(),
            help: Some(format!("write `{}.<name>`", path.root)),
            span,
        });
        Type::Unknown
    }

    fn unknown_field(&mut self, path: &Path, span: std::ops::Range<usize>, fields: &[Field]) -> Type {
        let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
        let written = path.field_path();
        let help = if names.is_empty() {
            format!("`{}` has no fields", path.root)
        } else {
            did_you_mean(&written, names.iter().copied())
                .unwrap_or_else(|| format!("`{}` has: {}", path.root, names.join(", ")))
        };
        let message = if written.is_empty() {
            format!("`{}` needs a field", path.root)
        } else {
            format!("`{}` has no field `{written}`", path.root)
        };
        self.problems.push(Problem {
            code: "herald::unknown_field",
            message,
            label: "unknown field".into(),
            help: Some(help),
            span,
        });
        Type::Unknown
    }

    fn unknown_root(&mut self, path: &Path, span: std::ops::Range<usize>) -> Type {
        let roots: Vec<&str> = Root::names(false).chain(self.env.data.keys().map(String::as_str)).collect();
        let help = did_you_mean(&path.root, roots.iter().copied()).unwrap_or_else(|| {
            format!("text needs quotes (`\"{}\"`); a condition can read: {}", path, roots.join(", "))
        });
        self.problems.push(Problem {
            code: "herald::unknown_root",
            message: format!("unknown name `{}`", path.root),
            label: "unknown name".into(),
            help: Some(help),
            span,
        });
        Type::Unknown
    }

    fn binary(&mut self, op: BinOp, left: &mut Expr, right: &mut Expr, span: std::ops::Range<usize>) -> Type {
        let lt = self.infer(left);
        let rt = if op == BinOp::Matches { self.pattern(right) } else { self.infer(right) };
        match op {
            BinOp::And | BinOp::Or => {
                self.boolean(lt, left.span.clone(), op.symbol());
                self.boolean(rt, right.span.clone(), op.symbol());
                Type::Bool
            }
            BinOp::Eq | BinOp::Ne => {
                if !lt.compatible(rt) {
                    self.incomparable(op, lt, rt, span);
                }
                self.choices(left, right);
                self.choices(right, left);
                Type::Bool
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let orderable = |t: Type| matches!(t, Type::Number | Type::String | Type::DateTime | Type::Duration);
                if (lt.known() && !orderable(lt)) || (rt.known() && !orderable(rt)) || !lt.compatible(rt) {
                    self.incomparable(op, lt, rt, span);
                }
                Type::Bool
            }
            BinOp::In | BinOp::NotIn => {
                if rt.known() && !matches!(rt, Type::List | Type::String) {
                    self.mismatch(
                        right.span.clone(),
                        format!("`{}` needs a list, found a {rt}", op.symbol()),
                        rt.to_string(),
                        "write a list like `[\"a\", \"b\"]`",
                    );
                } else if rt == Type::String && lt.known() && lt != Type::String {
                    self.incomparable(op, lt, rt, span);
                }
                self.choices(left, right);
                Type::Bool
            }
            BinOp::Contains => {
                if lt.known() && !matches!(lt, Type::List | Type::String) {
                    self.mismatch(
                        left.span.clone(),
                        format!("`contains` needs text or a list on its left, found a {lt}"),
                        lt.to_string(),
                        "`contains` looks inside text or a list",
                    );
                } else if lt == Type::String && rt.known() && rt != Type::String {
                    self.incomparable(op, lt, rt, span);
                }
                Type::Bool
            }
            BinOp::Matches | BinOp::StartsWith | BinOp::EndsWith => {
                for (ty, side) in [(lt, &*left), (rt, &*right)] {
                    if ty.known() && ty != Type::String {
                        self.mismatch(
                            side.span.clone(),
                            format!("`{}` works on text, found a {ty}", op.symbol()),
                            ty.to_string(),
                            "both sides must be text",
                        );
                    }
                }
                Type::Bool
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => self.arithmetic(op, lt, rt, span),
        }
    }

    fn arithmetic(&mut self, op: BinOp, lt: Type, rt: Type, span: std::ops::Range<usize>) -> Type {
        use Type::{DateTime, Duration, Number};
        if !lt.known() || !rt.known() {
            return Type::Unknown;
        }
        let result = match (op, lt, rt) {
            (_, Number, Number) => Some(Number),
            (BinOp::Add, DateTime, Duration) | (BinOp::Add, Duration, DateTime) | (BinOp::Sub, DateTime, Duration) => {
                Some(DateTime)
            }
            (BinOp::Add | BinOp::Sub, Duration, Duration) | (BinOp::Sub, DateTime, DateTime) => Some(Duration),
            (BinOp::Mul, Duration, Number) | (BinOp::Mul, Number, Duration) | (BinOp::Div, Duration, Number) => {
                Some(Duration)
            }
            _ => None,
        };
        result.unwrap_or_else(|| {
            self.mismatch(
                span,
                format!("cannot use `{}` on a {lt} and a {rt}", op.symbol()),
                format!("{lt} {} {rt}", op.symbol()),
                "arithmetic works on numbers, and on a datetime plus or minus a duration (`contact.date - 1d`)",
            );
            Type::Unknown
        })
    }

    fn incomparable(&mut self, op: BinOp, lt: Type, rt: Type, span: std::ops::Range<usize>) {
        let help = match (lt, rt) {
            (Type::DateTime, Type::String) | (Type::String, Type::DateTime) => {
                "turn text into a datetime with `date(\"2026-12-01\")`"
            }
            (Type::Number, Type::String) | (Type::String, Type::Number) => {
                "turn text into a number with `number(…)`, or quote the number to compare text"
            }
            // `events.activated == true`: the event's time is what the path holds.
            (Type::DateTime, Type::Bool) | (Type::Bool, Type::DateTime) => {
                "a datetime is never true or false: `!= null` tests that it is set (`events.activated != null`)"
            }
            _ => "compare values of the same kind",
        };
        self.mismatch(
            span,
            format!("cannot compare a {lt} with a {rt} using `{}`", op.symbol()),
            format!("{lt} {} {rt}", op.symbol()),
            help,
        );
    }

    /// The right side of `matches`: a literal pattern is compiled now, so a bad one is caught
    /// before launch and never recompiled at run time.
    fn pattern(&mut self, right: &mut Expr) -> Type {
        let ExprKind::Literal(Value::String(pattern)) = &right.kind else {
            return self.infer(right);
        };
        match regex::Regex::new(pattern) {
            Ok(regex) => right.kind = ExprKind::Regex(Arc::new(regex)),
            Err(error) => {
                let detail = error.to_string();
                let reason = detail.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or(&detail).to_string();
                self.problems.push(Problem {
                    code: "herald::invalid_regex",
                    message: format!("invalid regular expression: {reason}"),
                    label: reason,
                    help: Some(
                        "patterns use Rust regex syntax: `(?i)` ignores case, `\\d` is a digit, `^`/`$` anchor".into(),
                    ),
                    span: right.span.clone(),
                });
            }
        }
        Type::String
    }

    /// `call.status == "anwsered"`: a value the path can never take.
    fn choices(&mut self, path: &Expr, other: &Expr) {
        let ExprKind::Path(path) = &path.kind else { return };
        let Some(choices) = choices_of(path) else { return };
        let literals: Vec<&Expr> = match &other.kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![other],
        };
        for literal in literals {
            let ExprKind::Literal(Value::String(value)) = &literal.kind else { continue };
            if choices.contains(&value.as_str()) {
                continue;
            }
            let help = did_you_mean(value, choices.iter().copied())
                .unwrap_or_else(|| format!("`{path}` is one of: {}", choices.join(", ")));
            self.problems.push(Problem {
                code: "herald::unknown_outcome",
                message: format!("`{path}` is never \"{value}\""),
                label: "not a possible value".into(),
                help: Some(help),
                span: literal.span.clone(),
            });
        }
    }

    fn call(&mut self, func: Func, args: &mut [Expr], span: std::ops::Range<usize>) -> Type {
        let types: Vec<Type> = args.iter_mut().map(|a| self.infer(a)).collect();
        if args.len() != 1 {
            self.problems.push(Problem {
                code: "herald::wrong_arity",
                message: format!("`{}` takes 1 argument, found {}", func.name(), args.len()),
                label: format!("{} arguments", args.len()),
                help: Some(format!("call it as `{}(…)` with one value", func.name())),
                span,
            });
            return result_of(func);
        }
        let (ty, arg) = (types[0], &args[0]);
        let accepts: &[Type] = match func {
            Func::Lower | Func::Upper | Func::Trim => &[Type::String],
            Func::Len => &[Type::String, Type::List],
            Func::Exists => &[],
            Func::DaysSince | Func::HoursSince | Func::Hour | Func::Weekday => &[Type::DateTime, Type::String],
            Func::Date => &[Type::String, Type::DateTime],
            Func::Number => &[Type::String, Type::Number],
        };
        if func == Func::Exists {
            if !matches!(arg.kind, ExprKind::Path(_)) {
                self.mismatch(
                    arg.span.clone(),
                    "`exists` takes a path".into(),
                    "not a path".into(),
                    "write e.g. `exists(contact.email)`",
                );
            }
        } else if ty.known() && !accepts.contains(&ty) {
            let names: Vec<String> = accepts.iter().map(Type::to_string).collect();
            self.mismatch(
                arg.span.clone(),
                format!("`{}` takes a {}, found a {ty}", func.name(), names.join(" or a ")),
                ty.to_string(),
                "see docs/conditions.md for what each function takes",
            );
        }
        result_of(func)
    }
}

fn result_of(func: Func) -> Type {
    match func {
        Func::Lower | Func::Upper | Func::Trim | Func::Weekday => Type::String,
        Func::Len | Func::DaysSince | Func::HoursSince | Func::Hour | Func::Number => Type::Number,
        Func::Exists => Type::Bool,
        Func::Date => Type::DateTime,
    }
}

fn literal_type(value: &Value) -> Type {
    match value {
        Value::Null => Type::Null,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::Duration(_) => Type::Duration,
        Value::DateTime(_) => Type::DateTime,
        Value::List(_) => Type::List,
    }
}
