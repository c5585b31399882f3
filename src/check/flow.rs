//! Checks over the whole step list: ids, `else` routes, reachability, instant cycles and
//! variables that nothing sets. They work on the syntax, so they run even when some step
//! failed to compile.

use std::collections::{BTreeSet, HashMap};

use super::Checker;
use super::build::step_id;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::graph::Graph;
use crate::source::Span;
use crate::syntax::{Action, Campaign, Route, Step};

/// Returns the step graph's edges (step index to step index) that it analysed.
pub(super) fn analyse(checker: &mut Checker<'_>, campaign: &Campaign, graph: Option<&Graph>) -> Vec<Vec<usize>> {
    let index = ids(checker, campaign);
    for (i, step) in campaign.steps.iter().enumerate() {
        else_routes(checker, step);
        implicit_id(checker, i, step, graph);
    }
    variants(checker, campaign);
    let edges: Vec<Vec<usize>> =
        campaign.steps.iter().enumerate().map(|(i, s)| successors(i, s, campaign, &index)).collect();
    unreachable(checker, campaign, &edges, &index);
    instant_cycles(checker, campaign, &edges);
    unset_variables(checker, campaign);
    edges
}

fn ids(checker: &mut Checker<'_>, campaign: &Campaign) -> HashMap<String, usize> {
    let mut seen: HashMap<String, (usize, Span)> = HashMap::new();
    for (i, step) in campaign.steps.iter().enumerate() {
        let id = step_id(i, step);
        let span = step.id.as_ref().map_or(Span::at(step.span.start), |id| id.span);
        if let Some(written) = &step.id {
            valid_id(checker, &written.value, span);
        }
        if let Some((_, first)) = seen.get(&id) {
            checker.push(
                Diagnostic::error("herald::duplicate_step", format!("two steps have the id `{id}`"))
                    .label(span, "second use")
                    .label(*first, "first use")
                    .help("step ids must be unique: leads are stored by step id"),
            );
        } else {
            seen.insert(id, (i, span));
        }
    }
    if let Some(id) = &campaign.id {
        valid_id(checker, &id.value, id.span);
    }
    seen.into_iter().map(|(id, (i, _))| (id, i)).collect()
}

fn valid_id(checker: &mut Checker<'_>, id: &str, span: Span) {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !(first_ok && rest_ok) {
        let suggestion: String = id
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        checker.push(
            Diagnostic::error("herald::invalid_id", format!("`{id}` is not a valid id"))
                .label(span, "invalid id")
                .help(format!("ids use lower-case letters, digits, `_` and `-`, e.g. `{suggestion}`")),
        );
    } else if id == "end" {
        checker.push(
            Diagnostic::error("herald::invalid_id", "`end` is a built-in step")
                .label(span, "reserved")
                .help("`goto: end` already ends the lead; give this step another id"),
        );
    }
}

fn else_routes(checker: &mut Checker<'_>, step: &Step) {
    if let Some(Action::Branch(routes)) = step.action.as_ref().map(|a| &a.value)
        && !routes.iter().any(|r| r.condition.is_none())
    {
        let span = step.action.as_ref().map_or(step.span, |a| a.span);
        checker.push(
            Diagnostic::error("herald::branch_without_else", "this branch has no `else`")
                .label(span, "no else")
                .help("end the branch with `- else: <step>` so every lead has somewhere to go"),
        );
    }
    if let Some(routes) = &step.routes
        && !routes.value.is_empty()
        && !routes.value.iter().any(|r| r.condition.is_none())
    {
        checker.push(
            Diagnostic::warning("herald::routes_without_else", "these routes have no `else`")
                .label(Span::at(routes.span.start), "no else")
                .help("leads that match no route fall through to the next step; add `- else: <step>` to say so"),
        );
    }
}

/// Steps that hold leads are stored by id; a generated `step-N` changes when steps move.
fn implicit_id(checker: &mut Checker<'_>, i: usize, step: &Step, graph: Option<&Graph>) {
    let (Some(action), None) = (&step.action, &step.id) else { return };
    let parks = match &action.value {
        Action::Wait(_) | Action::Await(_) | Action::Call(_) => true,
        Action::Send(_) => match graph.and_then(|g| g.nodes.get(i)) {
            Some(node) => node.retry.as_ref().is_some_and(|r| r.attempts > 0 && !r.on.is_empty()),
            None => step.retry.is_some(),
        },
        _ => false,
    };
    if parks {
        checker.push(
            Diagnostic::warning(
                "herald::implicit_id",
                format!("this `{}` step holds leads but has no `id`", action.value.keyword()),
            )
            .label(action.span, "no id")
            .help("add `id: <name>`: leads waiting here are stored by step id, and `step-N` changes when steps move"),
        );
    }
}

fn variants(checker: &mut Checker<'_>, campaign: &Campaign) {
    let known: BTreeSet<&str> = campaign
        .steps
        .iter()
        .filter_map(|s| match s.action.as_ref().map(|a| &a.value) {
            Some(Action::Split(arms)) => Some(arms.iter().map(|a| a.variant.value.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    for step in &campaign.steps {
        if let Some(Action::Split(arms)) = step.action.as_ref().map(|a| &a.value) {
            let mut seen = BTreeSet::new();
            for arm in arms {
                if !seen.insert(arm.variant.value.as_str()) {
                    checker.push(
                        Diagnostic::error(
                            "herald::duplicate_variant",
                            format!("variant `{}` appears twice", arm.variant.value),
                        )
                        .label(arm.variant.span, "again")
                        .help("each variant of a split needs its own name"),
                    );
                }
            }
        }
        let Some(Action::Send(send)) = step.action.as_ref().map(|a| &a.value) else { continue };
        for (name, _) in &send.variants {
            if !known.contains(name.value.as_str()) {
                let help = did_you_mean(&name.value, known.iter().copied())
                    .unwrap_or_else(|| "`variants` keys name the variants of a `split` step".to_string());
                checker.push(
                    Diagnostic::error("herald::unknown_variant", format!("no split has a variant `{}`", name.value))
                        .label(name.span, "unknown variant")
                        .help(help),
                );
            }
        }
    }
}

/// Where a lead can go from step `i`: its routes, gotos and fall-through.
fn successors(i: usize, step: &Step, campaign: &Campaign, index: &HashMap<String, usize>) -> Vec<usize> {
    let next = match &step.next {
        Some(next) => index.get(&next.value).copied(),
        None => Some(i + 1).filter(|n| *n < campaign.steps.len()),
    };
    let lookup = |name: &str| index.get(name).copied();
    let route_targets = |routes: &[Route]| -> (Vec<usize>, bool) {
        let targets = routes.iter().filter_map(|r| r.goto.as_ref()).filter_map(|g| lookup(&g.value)).collect();
        let has_else = routes.iter().any(|r| r.condition.is_none());
        let carries_on = routes.iter().any(|r| r.goto.is_none());
        (targets, has_else && !carries_on)
    };
    let mut out = Vec::new();
    let mut falls_through = true;
    match step.action.as_ref().map(|a| &a.value) {
        Some(Action::Branch(routes)) => {
            let (targets, closed) = route_targets(routes);
            out.extend(targets);
            falls_through = !closed;
        }
        Some(Action::Split(arms)) => {
            out.extend(arms.iter().filter_map(|a| lookup(&a.goto.value)));
            falls_through = false;
        }
        Some(Action::Exit(_)) => falls_through = false,
        _ => {}
    }
    if let Some(routes) = &step.routes {
        let (targets, closed) = route_targets(&routes.value);
        out.extend(targets);
        falls_through &= !closed;
    }
    if step.when.is_some() || falls_through {
        out.extend(next);
    }
    out
}

fn unreachable(checker: &mut Checker<'_>, campaign: &Campaign, edges: &[Vec<usize>], index: &HashMap<String, usize>) {
    // A misspelt `goto`/`next` is already an error, and the step it meant would be reported
    // unreachable too, with a help that says nothing names it: say only the error.
    if campaign.steps.is_empty() || names_unknown_step(campaign, index) {
        return;
    }
    let mut reached = vec![false; campaign.steps.len()];
    let mut stack = vec![0];
    stack.extend(campaign.replies.iter().filter_map(|r| r.goto.as_ref()).filter_map(|g| index.get(&g.value).copied()));
    stack.extend(campaign.moved.iter().filter_map(|(_, new)| index.get(&new.value).copied()));
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut reached[i], true) {
            continue;
        }
        stack.extend(edges[i].iter().copied().filter(|n| !reached[*n]));
    }
    for (i, step) in campaign.steps.iter().enumerate() {
        if !reached[i] {
            let span = step.id.as_ref().map_or(Span::at(step.span.start), |id| id.span);
            checker.push(
                Diagnostic::warning(
                    "herald::unreachable_step",
                    format!("no lead can reach step `{}`", step_id(i, step)),
                )
                .label(span, "unreachable")
                .help("the step before it never falls through and no `goto`, `next` or `else` names it"),
            );
        }
    }
}

/// Whether any `goto`, `next`, `else`, split `goto` or `moved:` target names no step.
fn names_unknown_step(campaign: &Campaign, index: &HashMap<String, usize>) -> bool {
    let unknown = |name: &crate::syntax::Text| name.value != "end" && !index.contains_key(&name.value);
    let route_targets = |routes: &[Route]| routes.iter().filter_map(|r| r.goto.as_ref()).any(unknown);
    let in_step = |step: &Step| {
        step.next.as_ref().is_some_and(unknown)
            || step.routes.as_ref().is_some_and(|r| route_targets(&r.value))
            || match step.action.as_ref().map(|a| &a.value) {
                Some(Action::Branch(routes)) => route_targets(routes),
                Some(Action::Split(arms)) => arms.iter().any(|a| unknown(&a.goto)),
                _ => false,
            }
    };
    campaign.steps.iter().any(in_step)
        || route_targets(&campaign.replies)
        || campaign.moved.iter().any(|(_, new)| unknown(new))
}

/// A cycle with no wait, await or call would move a lead round it forever at one instant.
fn instant_cycles(checker: &mut Checker<'_>, campaign: &Campaign, edges: &[Vec<usize>]) {
    let parks = |s: &Step| {
        matches!(s.action.as_ref().map(|a| &a.value), Some(Action::Wait(_) | Action::Await(_) | Action::Call(_)))
    };
    let instant: Vec<bool> = campaign.steps.iter().map(|s| !parks(s)).collect();
    let mut state = vec![0u8; campaign.steps.len()];
    let mut reported = BTreeSet::new();
    for start in 0..campaign.steps.len() {
        if instant[start] && state[start] == 0 {
            let mut path = Vec::new();
            find_cycle(start, edges, &instant, &mut state, &mut path, &mut |cycle| {
                let mut key = cycle.to_vec();
                key.sort();
                if reported.insert(key) {
                    report_cycle(checker, campaign, cycle);
                }
            });
        }
    }
}

/// Depth-first search over instant steps, iterative so a long chain can't overflow the stack.
fn find_cycle(
    start: usize,
    edges: &[Vec<usize>],
    instant: &[bool],
    state: &mut [u8],
    path: &mut Vec<usize>,
    found: &mut dyn FnMut(&[usize]),
) {
    // (node, index of the next edge to look at)
    let mut stack = vec![(start, 0usize)];
    state[start] = 1;
    path.push(start);
    while let Some((node, edge)) = stack.last_mut() {
        let node = *node;
        let Some(&next) = edges[node].get(*edge) else {
            stack.pop();
            path.pop();
            state[node] = 2;
            continue;
        };
        *edge += 1;
        if !instant[next] {
            continue;
        }
        match state[next] {
            0 => {
                state[next] = 1;
                path.push(next);
                stack.push((next, 0));
            }
            1 => {
                let from = path.iter().position(|n| *n == next).unwrap_or(0);
                found(&path[from..]);
            }
            _ => {}
        }
    }
}

fn report_cycle(checker: &mut Checker<'_>, campaign: &Campaign, cycle: &[usize]) {
    let names: Vec<String> = cycle.iter().map(|&i| step_id(i, &campaign.steps[i])).collect();
    let mut diagnostic = Diagnostic::error(
        "herald::instant_cycle",
        format!(
            "steps {} loop without waiting",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" → ")
        ),
    )
    .help("a lead would go round forever at one instant; put a `wait`, `await` or `call` in the loop");
    for &i in cycle.iter().take(3) {
        let step = &campaign.steps[i];
        let span = step.id.as_ref().map_or(Span::at(step.span.start), |id| id.span);
        diagnostic = diagnostic.label(span, "in the loop");
    }
    checker.push(diagnostic);
}

/// `goal` / `until` reading `vars.x` that no `set`, route or declared outside source sets.
fn unset_variables(checker: &mut Checker<'_>, campaign: &Campaign) {
    let mut settable: BTreeSet<String> = campaign.vars.iter().map(|v| v.value.clone()).collect();
    let routes = campaign.replies.iter().chain(campaign.steps.iter().flat_map(|s| {
        let own = s.routes.iter().flat_map(|r| r.value.iter());
        let branch = match s.action.as_ref().map(|a| &a.value) {
            Some(Action::Branch(routes)) => routes.as_slice(),
            _ => &[],
        };
        own.chain(branch.iter())
    }));
    settable.extend(routes.flat_map(|r| r.set.iter().map(|(k, _)| k.value.clone())));
    for step in &campaign.steps {
        if let Some(Action::Set(pairs)) = step.action.as_ref().map(|a| &a.value) {
            settable.extend(pairs.iter().map(|(k, _)| k.value.clone()));
        }
    }
    let mut readers: Vec<&crate::syntax::Text> = campaign.goal.iter().collect();
    readers.extend(campaign.retry.iter().filter_map(|r| r.until.as_ref()));
    for step in &campaign.steps {
        readers.extend(step.retry.iter().filter_map(|r| r.until.as_ref()));
        if let Some(Action::Call(call)) = step.action.as_ref().map(|a| &a.value) {
            readers.extend(call.retry.iter().filter_map(|r| r.until.as_ref()));
        }
    }
    for text in readers {
        let Ok((condition, _)) = crate::expr::compile(&text.value, &checker.env) else { continue };
        for (root, name, range) in condition.path_spans() {
            let name = name.split('.').next().unwrap_or_default().to_string();
            if root == "vars" && !settable.contains(&name) {
                let span = crate::source::ScalarMap::new(&checker.file.text, text.span, &text.value).span(range);
                checker.push(
                    Diagnostic::warning("herald::unset_variable", format!("nothing sets `vars.{name}`"))
                        .label(span, "never set")
                        .help(format!(
                            "set it with a `set` step or a route's `set`, or list it under top-level `vars: [{name}]` if a call outcome or event brings it"
                        )),
                );
            }
        }
    }
}
