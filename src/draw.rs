//! `herald graph`: the compiled graph as text, Mermaid or Graphviz dot.

use std::fmt::Write;

use crate::expr::format_duration;
use crate::graph::{Graph, Node, NodeKind, Route, Target, WaitSpec};

/// One edge of the drawing: from a node to a target, with a label.
struct Edge {
    to: Target,
    label: String,
}

fn edges(node: &Node) -> Vec<Edge> {
    let route_edges = |routes: &[Route]| -> Vec<Edge> {
        routes
            .iter()
            .map(|r| Edge {
                to: r.goto.unwrap_or(node.next),
                label: r.condition.as_ref().map_or_else(|| "else".to_string(), |c| c.text().to_string()),
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut falls_through = true;
    match &node.kind {
        NodeKind::Branch(routes) => {
            out.extend(route_edges(routes));
            falls_through = !routes.iter().any(|r| r.condition.is_none());
        }
        NodeKind::Split(arms) => {
            let total: f64 = arms.iter().map(|a| a.weight).sum();
            out.extend(
                arms.iter().map(|a| Edge {
                    to: a.goto,
                    label: format!("{} {}%", a.variant, (a.weight * 100.0 / total).round()),
                }),
            );
            falls_through = false;
        }
        NodeKind::Exit(_) => falls_through = false,
        _ => {}
    }
    if !node.routes.is_empty() {
        out.extend(route_edges(&node.routes));
        falls_through &= !node.routes.iter().any(|r| r.condition.is_none());
    }
    if node.when.is_some() {
        out.push(Edge { to: node.next, label: "skipped".to_string() });
    } else if falls_through {
        out.push(Edge { to: node.next, label: String::new() });
    }
    out
}

/// A one-line summary of what a node does.
fn describe(graph: &Graph, node: &Node) -> String {
    let mut text = match &node.kind {
        NodeKind::Send(send) => format!("send via {}", send.channel),
        NodeKind::Call(call) => format!("call via {}", call.channel),
        NodeKind::Wait(WaitSpec::For(d)) => format!("wait {}", format_duration(*d)),
        NodeKind::Wait(WaitSpec::UntilTime(t)) => format!("wait until {}", t.format("%H:%M")),
        NodeKind::Wait(WaitSpec::UntilExpr(c)) => format!("wait until {}", c.text()),
        NodeKind::Await(a) => match &a.event {
            Some(event) => format!("await event {event} (timeout {})", format_duration(a.timeout)),
            None => format!("await reply (timeout {})", format_duration(a.timeout)),
        },
        NodeKind::Branch(_) => "branch".to_string(),
        NodeKind::Split(_) => "split".to_string(),
        NodeKind::Set(pairs) => {
            let names: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {}", v.text())).collect();
            format!("set {}", names.join(", "))
        }
        NodeKind::Exit(label) => format!("exit {label}"),
    };
    if let Some(retry) = node.retry.as_ref().filter(|r| r.attempts > 0 && !r.on.is_empty()) {
        let intervals: Vec<String> = retry.intervals.iter().map(|d| format_duration(*d)).collect();
        let _ = write!(text, ", retry {}x after {} on {}", retry.attempts, intervals.join("/"), retry.on.join("|"));
    }
    if let Some(when) = &node.when {
        let _ = write!(text, ", when {}", when.text());
    }
    let _ = graph;
    text
}

pub fn text(graph: &Graph) -> String {
    let mut out = format!("campaign {} ({})\n", graph.id, graph.name);
    if let Some(goal) = &graph.goal {
        let _ = writeln!(out, "goal: {}", goal.text());
    }
    if let Some(exit) = &graph.exit_when {
        let _ = writeln!(out, "exit_when: {}", exit.text());
    }
    for route in &graph.replies {
        let condition = route.condition.as_ref().map_or("else".to_string(), |c| c.text().to_string());
        let target = route.goto.map_or("(stay)", |t| graph.target_name(t));
        let _ = writeln!(out, "reply: {condition} -> {target}");
    }
    for node in &graph.nodes {
        let _ = writeln!(out, "{}: {}", node.id, describe(graph, node));
        for edge in edges(node) {
            let label = if edge.label.is_empty() { "next".to_string() } else { edge.label };
            let _ = writeln!(out, "  {label} -> {}", graph.target_name(edge.to));
        }
    }
    out
}

fn mermaid_id(graph: &Graph, target: Target) -> String {
    match target {
        Target::End => "end_".to_string(),
        Target::Step(id) => format!("s_{}", graph.node(id).id.0.replace('-', "_")),
    }
}

fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;").replace('\n', " ")
}

pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(out, "  start_((start)) --> {}", mermaid_id(graph, graph.first()));
    for (i, node) in graph.nodes.iter().enumerate() {
        let id = mermaid_id(graph, Target::Step(crate::graph::StateId(i as u32)));
        let label = mermaid_text(&format!("{}<br/>{}", node.id, describe(graph, node))).replace("#lt;br/#gt;", "<br/>");
        let (open, close) = match node.kind {
            NodeKind::Send(_) => ("(\"", "\")"),
            NodeKind::Call(_) => ("([\"", "\"])"),
            NodeKind::Wait(_) | NodeKind::Await(_) => ("{{\"", "\"}}"),
            NodeKind::Branch(_) | NodeKind::Split(_) => ("{\"", "\"}"),
            NodeKind::Set(_) => ("[[\"", "\"]]"),
            NodeKind::Exit(_) => ("(((\"", "\")))"),
        };
        let _ = writeln!(out, "  {id}{open}{label}{close}");
        for edge in edges(node) {
            let to = mermaid_id(graph, edge.to);
            if edge.label.is_empty() {
                let _ = writeln!(out, "  {id} --> {to}");
            } else {
                let _ = writeln!(out, "  {id} -->|\"{}\"| {to}", mermaid_text(&edge.label));
            }
        }
    }
    out.push_str("  end_((end))\n");
    out
}

fn dot_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ")
}

pub fn dot(graph: &Graph) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n", dot_text(&graph.id));
    out.push_str("  \"start\" [shape=circle, label=\"start\"];\n  \"end\" [shape=doublecircle, label=\"end\"];\n");
    let _ = writeln!(out, "  \"start\" -> \"{}\";", dot_text(graph.target_name(graph.first())));
    for node in &graph.nodes {
        let shape = match node.kind {
            NodeKind::Send(_) | NodeKind::Call(_) => "box",
            NodeKind::Wait(_) | NodeKind::Await(_) => "hexagon",
            NodeKind::Branch(_) | NodeKind::Split(_) => "diamond",
            NodeKind::Set(_) => "note",
            NodeKind::Exit(_) => "octagon",
        };
        let label = format!("{}\\n{}", dot_text(&node.id.0), dot_text(&describe(graph, node)));
        let _ = writeln!(out, "  \"{}\" [shape={shape}, label=\"{label}\"];", dot_text(&node.id.0));
        for edge in edges(node) {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                dot_text(&node.id.0),
                dot_text(graph.target_name(edge.to)),
                dot_text(&edge.label)
            );
        }
    }
    out.push_str("}\n");
    out
}
