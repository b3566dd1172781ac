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
            for branch in &transition.branches {
                let (from, event, when) = (&state.name, &transition.event, &branch.when);
                let _ = writeln!(dot, "  \"{from}\" -> \"{}\" [label=\"{event} (when {when})\"];", branch.to);
            }
            // Where the event ends the instance instead when what its effects require no longer holds.
            if let Some(otherwise) = &transition.otherwise {
                let (from, event) = (&state.name, &transition.event);
                let _ = writeln!(dot, "  \"{from}\" -> \"{otherwise}\" [label=\"{event} (otherwise)\", style=dotted];");
            }
        }
    }
    dot.push_str("}\n");
    dot
}

/// The state diagram as inline SVG, laid out by layout-rs (no Graphviz needed).
///
/// Legible by construction: each transition's event is a small node of its own between the two
/// states (`from — event → to`), so the layout keeps labels apart as it keeps states apart (edge
/// labels drawn at mid-edge overlapped). A filled dot marks the start, a double circle each
/// final state. On `path` (an instance's states so far) the states and the transitions taken are
/// drawn in blue (the moves in `moves`, `(from, event, to)`, when given; else any transition
/// between two consecutive states of `path`), and the current state (the last) filled darker
/// with a thick border. Internal
/// transitions (no `to`: reminders and the like) change no state and are left out; `to_dot` has them.
pub fn to_svg(definition: &Definition, path: &[String], moves: &[(String, String, String)]) -> Result<String, String> {
    const BLUE: &str = "#0b4f8a";
    const VISITED: &str = "#cfe8ff";
    const CURRENT: &str = "#8ec5f5";
    let taken: std::collections::HashSet<(&str, &str)> =
        path.windows(2).map(|pair| (pair[0].as_str(), pair[1].as_str())).collect();
    let current = path.last().map(String::as_str);
    let mut dot = String::new();
    let _ = writeln!(dot, "digraph workflow {{");
    let _ = writeln!(dot, "  start [shape=circle, label=\" \", fillcolor=\"#1b1b1b\", color=\"#1b1b1b\", fontsize=4];");
    for state in definition.states.values() {
        let name = state.name.as_str();
        let label = name.replace('_', " ");
        let fill = if current == Some(name) {
            CURRENT
        } else if path.iter().any(|s| s == name) {
            VISITED
        } else {
            "white"
        };
        let (color, width) = if current == Some(name) { (BLUE, 3) } else { ("#1b1b1b", 1) };
        let shape = if state.is_final { "doublecircle, fontsize=12" } else { "box" };
        let _ = writeln!(
            dot,
            "  s_{name} [shape={shape}, label=\"{label}\", fillcolor=\"{fill}\", color=\"{color}\", width={width}];"
        );
    }
    let initial = definition.initial.as_str();
    let first = if path.first().map(String::as_str) == Some(initial) { BLUE } else { "#1b1b1b" };
    let _ = writeln!(dot, "  start -> s_{initial} [color=\"{first}\"];");
    for state in definition.states.values() {
        for transition in state.transitions.values() {
            let targets = transition.to.iter().map(|to| (to, String::new(), "t"));
            let branches = transition.branches.iter().map(|b| (&b.to, format!(" (when {})", b.when), "b"));
            let otherwise = transition.otherwise.iter().map(|to| (to, " (otherwise)".to_owned(), "o"));
            for (to, note, kind) in targets.chain(branches).chain(otherwise) {
                let (from, to, event) = (state.name.as_str(), to.as_str(), transition.event.as_str());
                let was_taken = if moves.is_empty() {
                    taken.contains(&(from, to))
                } else {
                    moves.iter().any(|(f, e, t)| (f.as_str(), e.as_str(), t.as_str()) == (from, event, to))
                };
                let (color, width, fill) = if was_taken { (BLUE, 2, VISITED) } else { ("#6b6b6b", 1, "white") };
                let style = if kind == "o" { ", style=dashed" } else { "" };
                let node = format!("{kind}_{from}__{event}__{to}");
                let label = format!("{}{note}", event.replace('_', " "));
                let _ = writeln!(
                    dot,
                    "  {node} [shape=box, label=\"{label}\", fontsize=11, color=\"{fill}\", fillcolor=\"{fill}\"];"
                );
                let _ = writeln!(dot, "  s_{from} -- {node} [color=\"{color}\", penwidth={width}{style}];");
                let _ = writeln!(dot, "  {node} -> s_{to} [color=\"{color}\", penwidth={width}{style}];");
            }
        }
    }
    dot.push_str("}\n");
    let mut parser = layout::gv::DotParser::new(&dot);
    let graph = parser.process()?;
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut svg = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    // Inline in a page: no XML prolog, and no <style> element (the console's policy allows no
    // inline style; its stylesheet sets the diagram's font, sans-serif).
    let svg = svg.finalize();
    let mut svg = svg.find("<svg").map_or(svg.clone(), |start| svg[start..].to_owned());
    if let Some(start) = svg.find("<style>") {
        if let Some(length) = svg[start..].find("</style>") {
            svg.replace_range(start..start + length + "</style>".len(), "");
        }
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_diagram_highlights_the_path_taken() {
        let source =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/workflows/provider_invitation.toml"))
                .unwrap();
        let registry = crate::csp::registry();
        let (guards, effects, checks) = (registry.guard_names(), registry.effect_names(), registry.start_check_specs());
        let env = crate::workflow::CheckEnv {
            guards: &guards,
            start_checks: &checks,
            effects: &effects,
            template_exists: None,
        };
        let definition = crate::workflow::parse_definition("provider_invitation.toml", &source, &env)
            .expect("the shipped workflow parses");
        let svg = to_svg(&definition, &["invited".into(), "authorized".into()], &[]).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<style"), "no inline style: the page's policy would refuse it");
        for state in ["invited", "authorized", "declined", "expired"] {
            assert!(svg.contains(state), "{state} is drawn");
        }
        assert!(svg.contains("#0b4f8a") || svg.contains("#0B4F8A"), "the current state and the path are highlighted");
        assert!(svg.contains("#8ec5f5"), "the current state is filled darker");
        assert!(svg.matches("<ellipse").count() > 2 * 4, "a start dot and a double circle per final state");
        assert!(!svg.contains("Times"), "no serif font named in the drawing");
        let plain = to_svg(&definition, &[], &[]).unwrap();
        assert!(
            !plain.contains("#cfe8ff") && !plain.to_lowercase().contains("#cfe8ff"),
            "nothing highlighted without a path"
        );
    }
}
