//! The parser's own tests: a good definition, and the diagnostics of broken ones.

use std::time::Duration;

use super::*;
use crate::workflow::{content_hash, StateName};

const ENV: CheckEnv<'static> =
    CheckEnv { guards: &["has_reason"], start_checks: &[], effects: &["record_data"], template_exists: None };

const GOOD: &str = r#"
name = "tiny"
initial = "open"

[[input]]
field = "contact.email"
type = "email"

[parties.contact]
email = "contact.email"

[events]
confirm = "link"
expire = "timer"

[links.confirm]
event = "confirm"
party = "contact"
expires = "3d"

[states.open]
emails = [{ template = "hello", to = "contact", links = ["confirm"] }]
timers = [{ name = "expiry", after = "36h", event = "expire" }]
on.confirm = { to = "done" }
on.expire = { to = "done" }

[states.done]
final = true
"#;

#[test]
fn a_good_definition_parses() {
    let def = parse_definition("tiny.toml", GOOD, &ENV).unwrap();
    assert_eq!(def.initial.as_str(), "open");
    let open = &def.states[&StateName::parse("open").unwrap()];
    assert_eq!(open.timers[0].after, Duration::from_secs(36 * 3600));
    assert_eq!(def.hash, content_hash(GOOD));
}

fn problems(source: &str) -> Vec<String> {
    parse_definition("tiny.toml", source, &ENV).unwrap_err().iter().map(ToString::to_string).collect()
}

#[test]
fn each_problem_names_its_line() {
    let source = GOOD.replace("on.confirm = { to = \"done\" }", "on.confirm = { to = \"dnoe\" }");
    let found = problems(&source);
    assert!(found.iter().any(|p| p.starts_with("tiny.toml:24:") && p.contains("unknown state `dnoe`")), "{found:?}");
}

#[test]
fn bad_duration_and_unknown_guard_are_reported_together() {
    let source = GOOD
        .replace("after = \"36h\"", "after = \"36 parsecs\"")
        .replace("on.confirm = { to = \"done\" }", "on.confirm = { to = \"done\", guards = [\"is_lucky\"] }");
    let found = problems(&source);
    assert!(found.iter().any(|p| p.contains("bad duration `36 parsecs`")), "{found:?}");
    assert!(
        found.iter().any(|p| p.contains("unknown guard `is_lucky`") && p.contains("hint: known guards: has_reason")),
        "{found:?}"
    );
}

#[test]
fn dead_ends_unreachable_states_and_final_exits_are_reported() {
    let source = format!("{GOOD}\n[states.limbo]\n\n[states.orphan]\nfinal = true\n");
    let source =
        source.replace("[states.done]\nfinal = true", "[states.done]\nfinal = true\non.confirm = { to = \"open\" }");
    let found = problems(&source);
    assert!(found.iter().any(|p| p.contains("state `limbo` is not final and has no way out")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("state `orphan` cannot be reached")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("final state `done` has a transition out")), "{found:?}");
}

#[test]
fn a_page_offers_only_alternatives_it_can_show() {
    let with = |alternative: &str| {
        GOOD.replace("expires = \"3d\"\n", &format!("expires = \"3d\"\nalternatives = [\"{alternative}\"]\n"))
            .replace(
                "[states.open]",
                "[links.cancel]\nevent = \"expire\"\nparty = \"contact\"\nexpires = \"3d\"\nconfirm = [\"Sure?\"]\n\n[states.open]",
            )
    };
    let found = problems(&with("nowhere"));
    assert!(found.iter().any(|p| p.contains("unknown alternative `nowhere`")), "{found:?}");
    let found = problems(&with("cancel"));
    assert!(found.iter().any(|p| p.contains("alternative `cancel` has checkboxes")), "{found:?}");
}

#[test]
fn malformed_toml_points_at_the_line() {
    let found = problems("name = \"tiny\"\ninitial = \n");
    assert!(found[0].starts_with("tiny.toml:2:"), "{found:?}");
}

#[test]
fn duplicate_keys_are_refused() {
    let found = problems(&GOOD.replace("[states.done]", "[states.open]"));
    assert!(found[0].contains("duplicate") || found[0].contains("defined"), "{found:?}");
}
