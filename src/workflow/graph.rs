//! Graphviz DOT for a workflow: states as nodes, transitions as edges labelled with their event.

use std::fmt::Write;

use super::Definition;

/// The state diagram of `definition`; states in `path` (an instance's history) are highlighted.
pub fn to_dot(definition: &Definition, path: &[String]) -> String {
    let mut dot = String::new();
    let _ = writeln!(dot, "digraph \"{}\" {{", definition.name);
    let _ = writeln!(dot, "  rankdir=LR;");
    let _ = writeln!(dot, "  node [shape=box, style=rounded, fontname=\"Helvetica\"];");
    let _ = writeln!(dot, "  edge [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(dot, "  \"__start\" [shape=point, label=\"\"];");
    let _ = writeln!(dot, "  \"__start\" -> \"{}\";", definition.initial);
    for state in definition.states.values() {
        let mut attrs = vec![];
        if state.is_final {
            attrs.push("peripheries=2".to_owned());
        }
        if path.iter().any(|s| s == state.name.as_str()) {
            attrs.push("style=\"rounded,filled\"".to_owned());
            attrs.push("fillcolor=\"#cfe8ff\"".to_owned());
        }
        if path.last().is_some_and(|s| s == state.name.as_str()) {
            attrs.push("penwidth=2".to_owned());
        }
        let _ = writeln!(dot, "  \"{}\" [{}];", state.name, attrs.join(", "));
    }
    for state in definition.states.values() {
        for transition in state.transitions.values() {
            let to = transition.to.as_ref().unwrap_or(&state.name);
            let kind = definition.event_kind(&transition.event).map_or("", |k| k.as_str());
            let style = if transition.to.is_none() { ", style=dashed" } else { "" };
            let _ =
                writeln!(dot, "  \"{}\" -> \"{}\" [label=\"{} ({kind})\"{style}];", state.name, to, transition.event);
        }
    }
    dot.push_str("}\n");
    dot
}
