//! Condition text -> `Expr`. The only file that touches pest.

use std::ops::Range;

use pest::Parser as _;
use pest::iterators::Pair;

use super::Problem;
use super::ast::{BinOp, Expr, ExprKind, Func, Path};
use super::value::{Value, parse_duration};
use crate::source::Quoted;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/condition.pest"]
struct Grammar;

/// How deep a condition may nest: brackets, calls and prefix `not`/`-` count one level each.
/// Checked on the text before pest, whose descent recurses through nine rules per level (some
/// 50 KB of stack a level in a debug build: 40 levels overflow a 2 MB test thread).
pub const MAX_NESTING: usize = 32;

/// How deep the built tree may be: a chain of `+ - * / %` or comparisons adds one level per
/// operator (`and`/`or` chains are folded balanced and add only their logarithm). Type
/// checking, evaluation and dropping recurse over the tree, so it stays shallow.
pub const MAX_DEPTH: usize = 256;

pub fn parse(source: &str) -> Result<Expr, Problem> {
    if let Some(at) = too_nested(source) {
        return Err(too_deep(
            at..at + 1,
            format!("this condition nests more than {MAX_NESTING} levels deep"),
            "split it into simpler conditions (a `set` step can hold a part)",
        ));
    }
    let mut pairs = Grammar::parse(Rule::condition, source).map_err(|e| syntax_problem(source, &e))?;
    let condition = pairs.next().and_then(|p| p.into_inner().next());
    let expr =
        condition.ok_or_else(|| Problem::syntax(0..source.len(), "empty condition", "write a condition here"))?;
    let (expr, _) = build(expr)?;
    Ok(expr)
}

fn too_deep(span: Range<usize>, message: String, help: &str) -> Problem {
    Problem { code: "herald::too_deep", message, label: "too deep".to_string(), help: Some(help.to_string()), span }
}

/// Where the text first nests deeper than `MAX_NESTING`: open brackets plus the prefix
/// operators (`not`, `-`) since the last value. It over-counts by at most one (`a - b`,
/// `x not in y`), never under-counts.
fn too_nested(source: &str) -> Option<usize> {
    let quoted = Quoted::scan(source).spans;
    let mut next_quote = 0;
    let mut outer: Vec<usize> = Vec::new();
    let (mut base, mut prefix) = (0usize, 0usize);
    let mut word_start: Option<usize> = None;
    for (i, c) in source.char_indices() {
        while quoted.get(next_quote).is_some_and(|q| q.end <= i) {
            next_quote += 1;
        }
        if quoted.get(next_quote).is_some_and(|q| q.contains(&i)) {
            prefix = 0;
            word_start = None;
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '.' {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            prefix = if &source[start..i] == "not" { prefix + 1 } else { word_prefix(&source[start..i], prefix) };
        }
        match c {
            '(' | '[' => {
                outer.push(base);
                base += prefix + 1;
                prefix = 0;
            }
            ')' | ']' => {
                base = outer.pop().unwrap_or(0);
                prefix = 0;
            }
            '-' => prefix += 1,
            _ => {}
        }
        if base + prefix > MAX_NESTING {
            return Some(i);
        }
    }
    None
}

/// The prefix count after a word: operators leave it, values end it.
fn word_prefix(word: &str, prefix: usize) -> usize {
    let operators = ["and", "or", "in", "contains", "matches", "starts_with", "ends_with"];
    if operators.contains(&word) { prefix } else { 0 }
}

/// The expression and the depth of its tree.
fn build(pair: Pair<'_, Rule>) -> Result<(Expr, usize), Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let (kind, depth) = match pair.as_rule() {
        Rule::expr | Rule::conjunct => return balanced_chain(pair),
        Rule::sum | Rule::product | Rule::comparison => return binary_chain(pair),
        Rule::negation | Rule::unary => {
            let mut inner = pair.into_inner();
            let first = inner.next().ok_or_else(|| internal(&span))?;
            let wrap: fn(Box<Expr>) -> ExprKind = match first.as_rule() {
                Rule::not_op => ExprKind::Not,
                Rule::neg_op => ExprKind::Neg,
                _ => return build(first),
            };
            let (operand, depth) = build(inner.next().ok_or_else(|| internal(&span))?)?;
            (wrap(Box::new(operand)), depth + 1)
        }
        Rule::group => return build(pair.into_inner().next().ok_or_else(|| internal(&span))?),
        Rule::list => {
            let (items, depth) = build_all(pair.into_inner())?;
            (ExprKind::List(items), depth + 1)
        }
        Rule::call => return call(pair),
        _ => (leaf(pair, &span)?, 1),
    };
    checked_depth(Expr { kind, span }, depth)
}

fn leaf(pair: Pair<'_, Rule>, span: &Range<usize>) -> Result<ExprKind, Problem> {
    Ok(match pair.as_rule() {
        Rule::string => ExprKind::Literal(Value::String(unescape(pair.into_inner().next().map_or("", |p| p.as_str())))),
        Rule::duration => match parse_duration(pair.as_str()) {
            Some(d) => ExprKind::Literal(Value::Duration(d)),
            None => {
                return Err(Problem::syntax(span.clone(), "this duration is too long", "durations go up to 100 years"));
            }
        },
        Rule::number => match pair.as_str().parse::<f64>() {
            Ok(n) if n.is_finite() => ExprKind::Literal(Value::Number(n)),
            _ => return Err(Problem::syntax(span.clone(), "this number is too large", "write a smaller number")),
        },
        Rule::boolean => ExprKind::Literal(Value::Bool(pair.as_str() == "true")),
        Rule::null => ExprKind::Literal(Value::Null),
        Rule::path => {
            let mut parts = pair.as_str().split('.').map(str::to_string);
            let root = parts.next().unwrap_or_default();
            ExprKind::Path(Path { root, fields: parts.collect() })
        }
        _ => return Err(internal(span)),
    })
}

fn build_all(pairs: pest::iterators::Pairs<'_, Rule>) -> Result<(Vec<Expr>, usize), Problem> {
    let mut depth = 0;
    let items = pairs
        .map(|p| {
            let (expr, d) = build(p)?;
            depth = depth.max(d);
            Ok(expr)
        })
        .collect::<Result<_, Problem>>()?;
    Ok((items, depth))
}

/// `expr` unless its tree is deeper than `MAX_DEPTH`.
fn checked_depth(expr: Expr, depth: usize) -> Result<(Expr, usize), Problem> {
    if depth <= MAX_DEPTH {
        return Ok((expr, depth));
    }
    let message = format!("this condition is more than {MAX_DEPTH} operations deep");
    Err(too_deep(expr.span.clone(), message, "split it into simpler conditions (a `set` step can hold a part)"))
}

/// `a op b op c`, left-associative.
fn binary_chain(pair: Pair<'_, Rule>) -> Result<(Expr, usize), Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let mut inner = pair.into_inner();
    let (mut left, mut depth) = build(inner.next().ok_or_else(|| internal(&span))?)?;
    while let Some(op) = inner.next() {
        let op = operator(&op).ok_or_else(|| internal(&span))?;
        let (right, right_depth) = build(inner.next().ok_or_else(|| internal(&span))?)?;
        let span = left.span.start..right.span.end;
        depth = depth.max(right_depth) + 1;
        // Checked per step, so a long chain stops before it is deep enough to hurt dropping it.
        (left, depth) =
            checked_depth(Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span }, depth)?;
    }
    Ok((left, depth))
}

/// `a and b and c` (or `or`): one operator, associative, so the chain is folded into a
/// balanced tree; it evaluates left to right, short-circuiting, as a left fold would, but a
/// chain of thousands of terms stays a few levels deep.
fn balanced_chain(pair: Pair<'_, Rule>) -> Result<(Expr, usize), Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let mut op = None;
    let mut terms: Vec<(Expr, usize)> = Vec::new();
    for (i, part) in pair.into_inner().enumerate() {
        if i % 2 == 1 {
            op = Some(operator(&part).ok_or_else(|| internal(&span))?);
        } else {
            terms.push(build(part)?);
        }
    }
    let Some(op) = op else { return terms.pop().ok_or_else(|| internal(&span)) };
    // Pair neighbours until one term is left: each round halves the count, adding one level.
    while terms.len() > 1 {
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        let mut pending = terms.into_iter();
        while let Some((left, left_depth)) = pending.next() {
            match pending.next() {
                Some((right, right_depth)) => {
                    let span = left.span.start..right.span.end;
                    let kind = ExprKind::Binary(op, Box::new(left), Box::new(right));
                    next.push(checked_depth(Expr { kind, span }, left_depth.max(right_depth) + 1)?);
                }
                None => next.push((left, left_depth)),
            }
        }
        terms = next;
    }
    terms.pop().ok_or_else(|| internal(&span))
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

fn call(pair: Pair<'_, Rule>) -> Result<(Expr, usize), Problem> {
    let span = pair.as_span().start()..pair.as_span().end();
    let mut inner = pair.into_inner();
    let name = inner.next().ok_or_else(|| internal(&span))?;
    let (args, depth) = build_all(inner)?;
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
    checked_depth(Expr { kind: ExprKind::Call(func, args), span }, depth + 1)
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

fn internal(span: &Range<usize>) -> Problem {
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
