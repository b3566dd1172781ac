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

/// The state diagram as inline SVG (laid out by layout-rs, no Graphviz needed): states on
/// `path` filled, the current state (the last) outlined in bold, transitions taken drawn in blue.
pub fn to_svg(definition: &Definition, path: &[String]) -> Result<String, String> {
    let taken: std::collections::HashSet<(&str, &str)> =
        path.windows(2).map(|pair| (pair[0].as_str(), pair[1].as_str())).collect();
    let mut dot = String::new();
    let _ = writeln!(dot, "digraph workflow {{");
    for state in definition.states.values() {
        let name = state.name.as_str();
        let fill = if path.iter().any(|s| s == name) { "#cfe8ff" } else { "white" };
        let (color, width) = if path.last().is_some_and(|s| s == name) { ("#0b4f8a", 3) } else { ("black", 1) };
        let label = if state.is_final { format!("{name} (final)") } else { name.to_owned() };
        let _ = writeln!(
            dot,
            "  {name} [shape=box, label=\"{label}\", fillcolor=\"{fill}\", color=\"{color}\", width={width}];"
        );
    }
    for state in definition.states.values() {
        for transition in state.transitions.values() {
            let targets = transition.to.iter().map(|to| (to, String::new()));
            let otherwise = transition.otherwise.iter().map(|to| (to, " (otherwise)".to_owned()));
            let branches = transition.branches.iter().map(|b| (&b.to, format!(" (when {})", b.when)));
            for (to, note) in targets.chain(branches).chain(otherwise) {
                let (from, to) = (state.name.as_str(), to.as_str());
                let color = if taken.contains(&(from, to)) { "#0b4f8a" } else { "#888888" };
                let _ = writeln!(dot, "  {from} -> {to} [label=\"{}{note}\", color=\"{color}\"];", transition.event);
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
    // inline style; its stylesheet carries layout-rs's font class).
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
        let svg = to_svg(&definition, &["invited".into(), "authorized".into()]).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<style"), "no inline style: the page's policy would refuse it");
        for state in ["invited", "authorized", "declined", "expired"] {
            assert!(svg.contains(state), "{state} is drawn");
        }
        assert!(svg.contains("#0b4f8a") || svg.contains("#0B4F8A"), "the current state and the path are highlighted");
        let plain = to_svg(&definition, &[]).unwrap();
        assert!(
            !plain.contains("#cfe8ff") && !plain.to_lowercase().contains("#cfe8ff"),
            "nothing highlighted without a path"
        );
    }
}
