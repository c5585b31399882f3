//! Condition text -> `Expr`. The only file that touches pest.

use pest::Parser as _;
use pest::iterators::Pair;

use super::Problem;
use super::ast::{BinOp, Expr, ExprKind, Func, Path};
use super::value::{Value, parse_duration};
use crate::source::Quoted;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/condition.pest"]
struct Grammar;

pub fn parse(source: &str) -> Result<Expr, Problem> {
    let mut pairs = Grammar::parse(Rule::condition, source).map_err(|e| syntax_problem(source, &e))?;
    let condition = pairs.next().and_then(|p| p.into_inner().next());
    let expr =
        condition.ok_or_else(|| Problem::syntax(0..source.len(), "empty condition", "write a condition here"))?;
    build(expr)
}

fn build(pair: Pair<'_, Rule>) -> Result<Expr, Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let kind = match pair.as_rule() {
        Rule::expr | Rule::conjunct | Rule::sum | Rule::product | Rule::comparison => return binary_chain(pair),
        Rule::negation | Rule::unary => {
            let mut inner = pair.into_inner();
            let first = inner.next().ok_or_else(|| internal(&span))?;
            match first.as_rule() {
                Rule::not_op => ExprKind::Not(Box::new(build(inner.next().ok_or_else(|| internal(&span))?)?)),
                Rule::neg_op => ExprKind::Neg(Box::new(build(inner.next().ok_or_else(|| internal(&span))?)?)),
                _ => return build(first),
            }
        }
        Rule::group => return build(pair.into_inner().next().ok_or_else(|| internal(&span))?),
        Rule::list => ExprKind::List(pair.into_inner().map(build).collect::<Result<_, _>>()?),
        Rule::string => ExprKind::Literal(Value::String(unescape(pair.into_inner().next().map_or("", |p| p.as_str())))),
        Rule::duration => match parse_duration(pair.as_str()) {
            Some(d) => ExprKind::Literal(Value::Duration(d)),
            None => return Err(Problem::syntax(span, "this duration is too long", "durations go up to 100 years")),
        },
        Rule::number => match pair.as_str().parse::<f64>() {
            Ok(n) if n.is_finite() => ExprKind::Literal(Value::Number(n)),
            _ => return Err(Problem::syntax(span, "this number is too large", "write a smaller number")),
        },
        Rule::boolean => ExprKind::Literal(Value::Bool(pair.as_str() == "true")),
        Rule::null => ExprKind::Literal(Value::Null),
        Rule::path => {
            let mut parts = pair.as_str().split('.').map(str::to_string);
            let root = parts.next().unwrap_or_default();
            ExprKind::Path(Path { root, fields: parts.collect() })
        }
        Rule::call => return call(pair),
        _ => return Err(internal(&span)),
    };
    Ok(Expr { kind, span })
}

/// `a op b op c`, left-associative.
fn binary_chain(pair: Pair<'_, Rule>) -> Result<Expr, Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let mut inner = pair.into_inner();
    let mut left = build(inner.next().ok_or_else(|| internal(&span))?)?;
    while let Some(op) = inner.next() {
        let op = operator(&op).ok_or_else(|| internal(&span))?;
        let right = build(inner.next().ok_or_else(|| internal(&span))?)?;
        let span = left.span.start..right.span.end;
        left = Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span };
    }
    Ok(left)
}

fn operator(pair: &Pair<'_, Rule>) -> Option<BinOp> {
    Some(match pair.as_rule() {
        Rule::or_op => BinOp::Or,
        Rule::and_op => BinOp::And,
        Rule::eq => BinOp::Eq,
        Rule::ne => BinOp::Ne,
        Rule::lt => BinOp::Lt,
        Rule::le => BinOp::Le,
        Rule::gt => BinOp::Gt,
        Rule::ge => BinOp::Ge,
        Rule::in_op => BinOp::In,
        Rule::not_in => BinOp::NotIn,
        Rule::contains => BinOp::Contains,
        Rule::matches => BinOp::Matches,
        Rule::starts_with => BinOp::StartsWith,
        Rule::ends_with => BinOp::EndsWith,
        Rule::add_op | Rule::mul_op => match pair.as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            _ => BinOp::Rem,
        },
        _ => return None,
    })
}

fn call(pair: Pair<'_, Rule>) -> Result<Expr, Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let mut inner = pair.into_inner();
    let name = inner.next().ok_or_else(|| internal(&span))?;
    let args: Vec<Expr> = inner.map(build).collect::<Result<_, _>>()?;
    let Some(func) = Func::parse(name.as_str()) else {
        let name_span = name.as_span().start()..name.as_span().end();
        let help = crate::diagnostic::did_you_mean(name.as_str(), Func::NAMES.iter().copied())
            .unwrap_or_else(|| format!("functions are: {}", Func::NAMES.join(", ")));
        return Err(Problem {
            code: "herald::unknown_function",
            message: format!("unknown function `{}`", name.as_str()),
            label: "unknown function".to_string(),
            help: Some(help),
            span: name_span,
        });
    };
    Ok(Expr { kind: ExprKind::Call(func, args), span })
}

/// `\"`, `\'`, `\\`, `\n` and `\t` are escapes; any other backslash stays, so regexes read
/// naturally (`"^\d+$"`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('"') | Some('\'') | Some('\\') => out.push(chars.next().unwrap_or(c)),
            Some('n') => {
                chars.next();
                out.push('\n');
            }
            Some('t') => {
                chars.next();
                out.push('\t');
            }
            _ => out.push(c),
        }
    }
    out
}

fn internal(span: &std::ops::Range<usize>) -> Problem {
    Problem::syntax(span.clone(), "herald could not read this condition (internal error)", "please report this")
}

/// Turn pest's error into a message for campaign authors.
fn syntax_problem(source: &str, error: &pest::error::Error<Rule>) -> Problem {
    let at = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
    .min(source.len());
    let rest = &source[at..];
    let token_end = at + rest.chars().next().map_or(0, char::len_utf8);
    let here = at..token_end;
    if let Some(hint) = common_mistake(source, at) {
        return Problem::syntax(hint.0, hint.1, hint.2);
    }
    let expected = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => describe(positives),
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    if rest.trim().is_empty() {
        if let Some(open) = unclosed_paren(source) {
            return Problem::syntax(open..open + 1, "this `(` is never closed", "add the closing `)`");
        }
        return Problem::syntax(
            here,
            format!("the condition ends too early: expected {expected}"),
            "finish the condition, e.g. `reply.text == \"yes\"`",
        );
    }
    let found: String = rest.chars().take_while(|c| !c.is_whitespace()).take(20).collect();
    Problem::syntax(here, format!("unexpected `{found}`: expected {expected}"), "see docs/conditions.md for the syntax")
}

/// Mistakes people bring from other languages, with the fix.
fn common_mistake(source: &str, at: usize) -> Option<(std::ops::Range<usize>, String, String)> {
    if let Some(start) = Quoted::scan(source).unclosed {
        return Some((start..start + 1, "this string is never closed".into(), "add the closing quote".into()));
    }
    let rest = &source[at..];
    let fixes = [("&&", "and"), ("||", "or"), ("===", "=="), ("=", "=="), ("!", "not")];
    let (written, instead) = fixes
        .iter()
        .find(|(w, _)| rest.starts_with(w) && !(w.len() == 1 && (rest.starts_with("==") || rest.starts_with("!="))))?;
    let message = format!("`{written}` is not an operator here");
    Some((at..at + written.len(), message, format!("write `{instead}`")))
}

/// Where the last `(` that never closes opens, outside strings.
fn unclosed_paren(source: &str) -> Option<usize> {
    let quoted = Quoted::scan(source);
    let mut open: Vec<usize> = Vec::new();
    for (i, c) in source.char_indices().filter(|(i, _)| !quoted.contains(*i)) {
        match c {
            '(' => open.push(i),
            ')' => _ = open.pop(),
            _ => {}
        }
    }
    open.pop()
}

fn describe(rules: &[Rule]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for rule in rules {
        let word = match rule {
            Rule::eq | Rule::ne | Rule::lt | Rule::le | Rule::gt | Rule::ge | Rule::in_op | Rule::not_in => {
                "a comparison"
            }
            Rule::contains | Rule::matches | Rule::starts_with | Rule::ends_with => "a comparison",
            Rule::add_op | Rule::mul_op => "an operator",
            Rule::or_op | Rule::and_op => "`and`/`or`",
            Rule::EOI => "the end of the condition",
            Rule::expr | Rule::comparison | Rule::sum | Rule::product | Rule::unary | Rule::negation => "a value",
            Rule::string | Rule::number | Rule::duration | Rule::boolean | Rule::null | Rule::list => "a value",
            Rule::path | Rule::call | Rule::group | Rule::conjunct | Rule::not_op | Rule::neg_op => "a value",
            _ => "something else",
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
