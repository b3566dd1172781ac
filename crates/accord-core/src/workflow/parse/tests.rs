//! The parser's own tests: a good definition, and the diagnostics of broken ones.

use std::time::Duration;

use super::*;
use crate::workflow::{content_hash, Provided, ProvidedKind, StateName};

/// A start check that fills in a team's name, its admins and its owner's address.
const TEAM: &[Provided] = &[
    Provided { path: "team.name", kind: ProvidedKind::Text },
    Provided { path: "team.admins", kind: ProvidedKind::Recipients },
    Provided { path: "owner.email", kind: ProvidedKind::Email },
];

const ENV: CheckEnv<'static> = CheckEnv {
    guards: &["has_reason"],
    start_checks: &[StartCheckSpec { name: "team_exists", provides: TEAM }],
    effects: &["record_data"],
    template_exists: None,
};

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

/// GOOD, mailing a team's admins (filled in by `team_exists`) instead of the contact.
const TEAM_WIDE: &str = r#"
name = "tiny"
initial = "open"
start_checks = ["team_exists"]

[[input]]
field = "team.id"
type = "string"

[parties.team]
each = "team.admins"
email = "email"
name = "name"

[events]
confirm = "link"
expire = "timer"

[links.confirm]
event = "confirm"
party = "team"
expires = "3d"

[states.open]
emails = [{ template = "hello", to = "team", links = ["confirm"] }]
timers = [{ name = "expiry", after = "36h", event = "expire" }]
on.confirm = { to = "done", effects = ["record_data"], otherwise = "void" }
on.expire = { to = "done" }

[states.done]
final = true

[states.void]
final = true

[sample]
team = { id = "t1", name = "The Team", admins = [{ email = "ada@team.example", name = "Ada" }] }
"#;

#[test]
fn a_party_of_many_recipients_and_an_otherwise_state_parse() {
    let def = parse_definition("tiny.toml", TEAM_WIDE, &ENV).unwrap_or_else(|p| panic!("{p:#?}"));
    let team = &def.parties["team"];
    assert_eq!(
        (team.each.as_deref(), team.email.as_deref(), team.name.as_deref()),
        (Some("team.admins"), Some("email"), Some("name"))
    );
    let open = &def.states[&StateName::parse("open").unwrap()];
    let confirm = &open.transitions[&crate::workflow::EventName::parse("confirm").unwrap()];
    assert_eq!(
        confirm.otherwise.as_ref().map(StateName::as_str),
        Some("void"),
        "`void` is reached by `otherwise` alone"
    );
}

fn team_problems(from: &str, to: &str) -> Vec<String> {
    assert!(TEAM_WIDE.contains(from), "TEAM_WIDE has no `{from}`");
    problems(&TEAM_WIDE.replacen(from, to, 1))
}

#[track_caller]
fn reported(found: &[String], line: usize, mentions: &[&str]) {
    let at = format!("tiny.toml:{line}:");
    assert!(
        found.iter().any(|p| p.starts_with(&at) && mentions.iter().all(|m| p.contains(m))),
        "{at} {mentions:?}: {found:#?}"
    );
}

#[test]
fn what_a_start_check_fills_in_cannot_be_input() {
    let found = team_problems("field = \"team.id\"", "field = \"team.name\"");
    reported(
        &found,
        7,
        &["input field `team.name` is filled in from the directory", "`team_exists`", "remove it from [[input]]"],
    );
    let found = team_problems("field = \"team.id\"", "field = \"team\"");
    reported(&found, 7, &["input field `team` is filled in from the directory"]);
    let found = team_problems("field = \"team.id\"", "field = \"owner.email.domain\"");
    reported(&found, 7, &["input field `owner.email.domain` is filled in from the directory", "sets `owner.email`"]);
}

#[test]
fn each_names_a_list_of_recipients_a_start_check_fills_in() {
    let found = team_problems("each = \"team.admins\"", "each = \"team.id\"");
    reported(&found, 11, &["`team.id` is not a list of recipients a start check fills in", "fill in team.admins"]);
    let found = team_problems("each = \"team.admins\"", "each = \"team.name\"");
    reported(&found, 11, &["`team.name` is not a list of recipients"]);
    let found = team_problems("start_checks = [\"team_exists\"]", "start_checks = []");
    reported(
        &found,
        11,
        &["`team.admins` is not a list of recipients", "none of this workflow's start checks fills one in"],
    );
    let found = team_problems("email = \"email\"", "email = \"team.admins.email\"");
    reported(&found, 12, &["with `each`, `email` names the key of each recipient", "write email = \"email\""]);
    let found = team_problems("name = \"name\"", "name = \"team.name\"");
    reported(&found, 13, &["with `each`, `name` names the key of each recipient"]);
    let found = team_problems("email = \"email\"\n", "config = \"reviewers\"\n");
    reported(&found, 11, &["party `team` has a configured address and `each`"]);
}

#[test]
fn the_sample_shows_what_parties_need_from_the_start_checks() {
    let found = team_problems("admins = [{ email = \"ada@team.example\", name = \"Ada\" }]", "admins = []");
    reported(&found, 11, &["the [sample] has no recipients at `team.admins`", "team.admins = [{ email"]);
    let found =
        team_problems("admins = [{ email = \"ada@team.example\", name = \"Ada\" }]", "admins = [{ name = \"Ada\" }]");
    reported(&found, 11, &["no recipients at `team.admins`"]);
    // One address a start check fills in: fit for `email`, and shown in the sample.
    let single = "[parties.team]\nemail = \"owner.email\"\nname = \"team.name\"\n";
    let source =
        TEAM_WIDE.replace("[parties.team]\neach = \"team.admins\"\nemail = \"email\"\nname = \"name\"\n", single);
    let found = problems(&source);
    reported(
        &found,
        11,
        &["party `team`: the [sample] has no `owner.email`, which start check `team_exists` fills in"],
    );
    let with_owner = source.replace("team = { id", "owner = { email = \"olga@team.example\" }\nteam = { id");
    parse_definition("tiny.toml", &with_owner, &ENV).unwrap_or_else(|p| panic!("{p:#?}"));
    let found = problems(&source.replace("email = \"owner.email\"", "email = \"team.name\""));
    reported(&found, 11, &["start check `team_exists` fills `team.name` with text, not an address"]);
    let found = problems(&source.replace("email = \"owner.email\"", "email = \"team.admins\""));
    reported(&found, 11, &["fills `team.admins` with a list of recipients", "write each = \"team.admins\""]);
}

#[test]
fn otherwise_names_a_final_state_of_a_transition_with_effects() {
    let found = team_problems("otherwise = \"void\"", "otherwise = \"nowhere\"");
    reported(&found, 27, &["unknown state `nowhere`", "final = true"]);
    let found = team_problems("otherwise = \"void\"", "otherwise = \"open\"");
    reported(&found, 27, &["`otherwise` of `confirm` names state `open`, which is not final"]);
    let found = team_problems("effects = [\"record_data\"], ", "");
    reported(&found, 27, &["`otherwise` of `confirm` can never apply: the transition has no effects"]);
}

#[test]
fn a_stored_snapshot_is_not_held_to_rules_that_came_after_it() {
    // Stored before `team_exists` filled in `team.name`, when the caller gave it, with a sample
    // that did not show the admins yet.
    let old = TEAM_WIDE
        .replacen("field = \"team.id\"", "field = \"team.name\"", 1)
        .replace("admins = [{ email = \"ada@team.example\", name = \"Ada\" }]", "admins = []");
    let found = problems(&old);
    assert_eq!(found.len(), 2, "refused as a file: {found:#?}");
    let def = super::parse_snapshot("tiny.toml", &old, &ENV).unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(def.input[0].path, "team.name");
    // What it needs to run is still checked.
    let broken = old.replace("otherwise = \"void\"", "otherwise = \"nowhere\"");
    assert!(super::parse_snapshot("tiny.toml", &broken, &ENV).is_err());
}

#[test]
fn the_mail_section_and_the_parties_zones_are_checked() {
    let zones = "[[input]]\nfield = \"contact.zone\"\ntype = \"time_zone\"\nrequired = false\n\n\
                 [[input]]\nfield = \"contact.country\"\ntype = \"country\"\n\n[parties.contact]";
    let good = GOOD.replace("[parties.contact]", zones).replace(
        "email = \"contact.email\"\n",
        "email = \"contact.email\"\ntime_zone = \"contact.zone\"\ncountry = \"contact.country\"\n\n\
         [mail]\nfrom_name = \"Contoso Onboarding\"\nfrom_address = \"onboarding@contoso.example\"\n\
         reply_to_email = \"owner.email\"\n",
    );
    let good = good.replace("name = \"tiny\"", "name = \"tiny\"\nstart_checks = [\"team_exists\"]");
    let def = parse_definition("tiny.toml", &good, &ENV).unwrap();
    assert_eq!(def.parties["contact"].time_zone.as_deref(), Some("contact.zone"));
    assert_eq!(def.mail.from_address.as_deref(), Some("onboarding@contoso.example"));
    assert_eq!(def.mail.reply_to_email.as_deref(), Some("owner.email"));

    let bad = good
        .replace("time_zone = \"contact.zone\"", "time_zone = \"contact.country\"")
        .replace("country = \"contact.country\"", "country = \"contact.email\"")
        .replace("onboarding@contoso.example", "onboarding at contoso")
        .replace(
            "reply_to_email = \"owner.email\"",
            "reply_to_email = \"team.name\"\nreply_to = \"x@contoso.example\"",
        );
    let found = problems(&bad);
    for expected in [
        "party `contact`: `contact.country` is not an input field of type time_zone",
        "party `contact`: `contact.email` is not a country field",
        "[mail] from_address `onboarding at contoso` is not an email address",
        "[mail] has both reply_to (a fixed address) and reply_to_email (a field)",
        "[mail] reply_to_email: `team.name` is not an email field",
    ] {
        assert!(found.iter().any(|p| p.contains(expected)), "{expected}: {found:?}");
    }
}

#[test]
fn a_review_state_is_marked_and_checked() {
    let source = GOOD
        .replace("confirm = \"link\"", "confirm = \"link\"\nvet = \"decision\"")
        .replace("[states.open]\n", "[states.open]\nreview = true\non.vet = { to = \"done\" }\n");
    let def = parse_definition("tiny.toml", &source, &ENV).unwrap();
    assert!(def.states[&StateName::parse("open").unwrap()].review);
    assert!(!def.states[&StateName::parse("done").unwrap()].review, "unmarked states are not for review");

    let found = problems(&GOOD.replace("[states.open]\n", "[states.open]\nreview = true\n"));
    assert!(
        found.iter().any(|p| p.contains("state `open` is marked for review, but no decision applies in it")
            && p.contains("hint: add a transition on an event declared as \"decision\"")),
        "{found:?}"
    );
    let found = problems(&GOOD.replace("[states.done]\nfinal = true", "[states.done]\nfinal = true\nreview = true"));
    assert!(found.iter().any(|p| p.contains("final state `done` is marked for review")), "{found:?}");
}

/// A branch: taken on a `boolean` input (or a flag a start check fills in); anything else, an
/// unknown target state or an empty field is reported at its line.
#[test]
fn branches_name_a_flag_and_a_known_state() {
    let with = |branch: &str| {
        GOOD.replace(
            "on.confirm = { to = \"done\" }",
            &format!("on.confirm = {{ to = \"done\", branches = [{branch}] }}\n"),
        )
        .replace("[states.done]", "[states.fast]\nfinal = true\n\n[states.done]")
        .replace(
            "[[input]]\nfield = \"contact.email\"\ntype = \"email\"",
            "[[input]]\nfield = \"contact.email\"\ntype = \"email\"\n\n[[input]]\nfield = \"fast\"\ntype = \"boolean\"\nrequired = false",
        )
    };
    let def =
        parse_definition("tiny.toml", &with("{ when = \"fast\", to = \"fast\", effects = [\"record_data\"] }"), &ENV)
            .expect("a boolean input is a flag");
    let confirm = &def.states[&StateName::parse("open").unwrap()].transitions
        [&crate::workflow::EventName::parse("confirm").unwrap()];
    assert_eq!(confirm.branches[0].to.as_str(), "fast");
    assert_eq!(confirm.targets().map(|s| s.as_str()).collect::<Vec<_>>(), ["done", "fast"]);
    for (branch, mention) in [
        ("{ when = \"contact.email\", to = \"fast\" }", "`when = \"contact.email\"` is not a flag"),
        ("{ when = \"fast\", to = \"nowhere\" }", "unknown state `nowhere`"),
        ("{ when = \"\", to = \"fast\" }", "is not a context field"),
    ] {
        let problems = parse_definition("tiny.toml", &with(branch), &ENV).expect_err(branch);
        assert!(problems.iter().any(|p| p.message.contains(mention)), "{branch}: {problems:#?}");
    }
}
