//! The evaluator: a pure function of the expression and a scope. It never panics and never
//! fails: a missing value is `null`, and an operation that makes no sense on the values it
//! meets gives `null` (or `false` for a comparison).

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::ast::{BinOp, Expr, ExprKind, Func, Path};
use super::value::{Value, local_midnight};

/// What a condition reads at run time.
pub trait Scope {
    /// The value at a path (`contact.name`, `vars.x`, `reply.text`, a `data:` key…), `null`
    /// when missing. `now` and `today` are not asked for.
    fn get(&self, path: &Path) -> Value;
    fn now(&self) -> DateTime<Utc>;
    /// The contact's time zone: `today`, `hour`, `weekday` and dates without an offset use it.
    fn timezone(&self) -> Tz;
}

pub fn eval(expr: &Expr, scope: &dyn Scope) -> Value {
    match &expr.kind {
        ExprKind::Literal(value) => value.clone(),
        ExprKind::Regex(regex) => Value::String(regex.as_str().to_string()),
        ExprKind::List(items) => Value::List(items.iter().map(|e| eval(e, scope)).collect()),
        ExprKind::Path(path) => match path.root.as_str() {
            "now" => Value::DateTime(scope.now()),
            "today" => today(scope).map_or(Value::Null, Value::DateTime),
            _ => scope.get(path),
        },
        ExprKind::Not(inner) => Value::Bool(!eval(inner, scope).is_true()),
        ExprKind::Neg(inner) => match eval(inner, scope) {
            Value::Number(n) => Value::Number(-n),
            Value::Duration(d) => Value::Duration(-d),
            _ => Value::Null,
        },
        ExprKind::Binary(BinOp::And, left, right) => {
            Value::Bool(eval(left, scope).is_true() && eval(right, scope).is_true())
        }
        ExprKind::Binary(BinOp::Or, left, right) => {
            Value::Bool(eval(left, scope).is_true() || eval(right, scope).is_true())
        }
        ExprKind::Binary(BinOp::Matches, left, right) => Value::Bool(matches(&eval(left, scope), right, scope)),
        ExprKind::Binary(op, left, right) => binary(*op, eval(left, scope), eval(right, scope), scope.timezone()),
        ExprKind::Call(func, args) => call(*func, args, scope),
    }
}

fn today(scope: &dyn Scope) -> Option<DateTime<Utc>> {
    let tz = scope.timezone();
    local_midnight(scope.now().with_timezone(&tz).date_naive(), tz)
}

fn matches(text: &Value, pattern: &Expr, scope: &dyn Scope) -> bool {
    let Value::String(text) = text else { return false };
    match &pattern.kind {
        ExprKind::Regex(regex) => regex.is_match(text),
        _ => match eval(pattern, scope) {
            Value::String(p) => {
                regex::RegexBuilder::new(&p).size_limit(1 << 20).build().is_ok_and(|r| r.is_match(text))
            }
            _ => false,
        },
    }
}

fn binary(op: BinOp, left: Value, right: Value, tz: Tz) -> Value {
    match op {
        BinOp::Eq => Value::Bool(equal(&left, &right, tz)),
        BinOp::Ne => Value::Bool(!equal(&left, &right, tz)),
        BinOp::Lt => Value::Bool(order(&left, &right, tz) == Some(Ordering::Less)),
        BinOp::Le => Value::Bool(matches!(order(&left, &right, tz), Some(Ordering::Less | Ordering::Equal))),
        BinOp::Gt => Value::Bool(order(&left, &right, tz) == Some(Ordering::Greater)),
        BinOp::Ge => Value::Bool(matches!(order(&left, &right, tz), Some(Ordering::Greater | Ordering::Equal))),
        BinOp::In => Value::Bool(contains(&right, &left, tz) == Some(true)),
        BinOp::NotIn => Value::Bool(contains(&right, &left, tz) == Some(false)),
        BinOp::Contains => Value::Bool(contains(&left, &right, tz) == Some(true)),
        BinOp::StartsWith | BinOp::EndsWith => match (&left, &right) {
            (Value::String(a), Value::String(b)) => {
                Value::Bool(if op == BinOp::StartsWith { a.starts_with(b.as_str()) } else { a.ends_with(b.as_str()) })
            }
            _ => Value::Bool(false),
        },
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => arithmetic(op, left, right, tz),
        // Handled with short-circuit or a compiled regex in `eval`.
        BinOp::And | BinOp::Or | BinOp::Matches => Value::Null,
    }
}

/// Equality; a datetime equals text that reads as the same instant.
fn equal(a: &Value, b: &Value, tz: Tz) -> bool {
    match (a, b) {
        (Value::DateTime(t), Value::String(_)) => b.as_datetime(tz) == Some(*t),
        (Value::String(_), Value::DateTime(t)) => a.as_datetime(tz) == Some(*t),
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q, tz)),
        _ => a == b,
    }
}

/// Ordering between values of one kind; `None` (so the comparison is false) otherwise.
fn order(a: &Value, b: &Value, tz: Tz) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::DateTime(_), Value::String(_))
        | (Value::String(_), Value::DateTime(_))
        | (Value::DateTime(_), Value::DateTime(_)) => Some(a.as_datetime(tz)?.cmp(&b.as_datetime(tz)?)),
        _ => None,
    }
}

/// Whether `haystack` (a list or text) holds `needle`; `None` when it can't hold anything.
fn contains(haystack: &Value, needle: &Value, tz: Tz) -> Option<bool> {
    match (haystack, needle) {
        (_, Value::Null) => None,
        (Value::List(items), _) => Some(items.iter().any(|item| equal(item, needle, tz))),
        (Value::String(text), Value::String(part)) => Some(text.contains(part.as_str())),
        _ => None,
    }
}

fn arithmetic(op: BinOp, left: Value, right: Value, tz: Tz) -> Value {
    use Value::{DateTime as Dt, Duration as Dur, Number as Num};
    let (left, right) = coerce_dates(left, right, tz);
    let result = match (op, left, right) {
        (BinOp::Add, Num(a), Num(b)) => Num(a + b),
        (BinOp::Sub, Num(a), Num(b)) => Num(a - b),
        (BinOp::Mul, Num(a), Num(b)) => Num(a * b),
        (BinOp::Div, Num(a), Num(b)) if b != 0.0 => Num(a / b),
        (BinOp::Rem, Num(a), Num(b)) if b != 0.0 => Num(a % b),
        (BinOp::Add, Dt(t), Dur(d)) | (BinOp::Add, Dur(d), Dt(t)) => t.checked_add_signed(d).map_or(Value::Null, Dt),
        (BinOp::Sub, Dt(t), Dur(d)) => t.checked_sub_signed(d).map_or(Value::Null, Dt),
        (BinOp::Sub, Dt(a), Dt(b)) => Dur(a - b),
        (BinOp::Add, Dur(a), Dur(b)) => a.checked_add(&b).map_or(Value::Null, Dur),
        (BinOp::Sub, Dur(a), Dur(b)) => a.checked_sub(&b).map_or(Value::Null, Dur),
        (BinOp::Mul, Dur(d), Num(n)) | (BinOp::Mul, Num(n), Dur(d)) => scale(d, n),
        (BinOp::Div, Dur(d), Num(n)) if n != 0.0 => scale(d, 1.0 / n),
        _ => Value::Null,
    };
    match result {
        Num(n) if !n.is_finite() => Value::Null,
        other => other,
    }
}

/// Text beside a duration is read as a datetime (an untyped CSV date column).
fn coerce_dates(left: Value, right: Value, tz: Tz) -> (Value, Value) {
    match (&left, &right) {
        (Value::String(_), Value::Duration(_)) => (left.as_datetime(tz).map_or(Value::Null, Value::DateTime), right),
        _ => (left, right),
    }
}

fn scale(duration: TimeDelta, factor: f64) -> Value {
    let millis = duration.num_milliseconds() as f64 * factor;
    if !millis.is_finite() || millis.abs() > 1e15 {
        return Value::Null;
    }
    TimeDelta::try_milliseconds(millis.round() as i64).map_or(Value::Null, Value::Duration)
}

fn call(func: Func, args: &[Expr], scope: &dyn Scope) -> Value {
    let Some(arg) = args.first() else { return Value::Null };
    if func == Func::Exists {
        return Value::Bool(match eval(arg, scope) {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        });
    }
    let tz = scope.timezone();
    let value = eval(arg, scope);
    let since = |unit: i64| match value.as_datetime(tz) {
        Some(t) => Value::Number((scope.now() - t).num_seconds().div_euclid(unit) as f64),
        None => Value::Null,
    };
    match (func, &value) {
        (Func::Lower, Value::String(s)) => Value::String(s.to_lowercase()),
        (Func::Upper, Value::String(s)) => Value::String(s.to_uppercase()),
        (Func::Trim, Value::String(s)) => Value::String(s.trim().to_string()),
        (Func::Len, Value::String(s)) => Value::Number(s.chars().count() as f64),
        (Func::Len, Value::List(items)) => Value::Number(items.len() as f64),
        (Func::DaysSince, _) => since(86_400),
        (Func::HoursSince, _) => since(3_600),
        (Func::Hour, _) => {
            value.as_datetime(tz).map_or(Value::Null, |t| Value::Number(f64::from(t.with_timezone(&tz).hour())))
        }
        (Func::Weekday, _) => value.as_datetime(tz).map_or(Value::Null, |t| {
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            Value::String(names[t.with_timezone(&tz).weekday().num_days_from_monday() as usize].to_string())
        }),
        (Func::Date, _) => value.as_datetime(tz).map_or(Value::Null, Value::DateTime),
        (Func::Number, Value::Number(n)) => Value::Number(*n),
        (Func::Number, Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Value::Number(n),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}
