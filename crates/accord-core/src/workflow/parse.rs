//! From TOML text to a [`Definition`], or to every problem found, each with its file and line.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::input::SameValue;
use super::LinkField;

use super::{
    content_hash, Definition, EmailSpec, EventKind, EventName, FieldType, InputField, LinkAction, Localized, Party,
    ScheduleSpec, State, StateName, TimerSpec, Transition, WorkflowName,
};

/// One problem in a definition file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Answers whether `templates/email/<workflow>/<template>` exists.
pub type TemplateExists = dyn Fn(&str, &str) -> bool;

/// What a definition is checked against besides itself.
pub struct CheckEnv<'a> {
    pub guards: &'a [&'a str],
    pub start_checks: &'a [&'a str],
    pub effects: &'a [&'a str],
    /// Whether `templates/email/<workflow>/<template>` exists; `None` skips the check (a stored
    /// snapshot is loaded without looking at today's templates).
    pub template_exists: Option<&'a TemplateExists>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    #[serde(default)]
    title: String,
    initial: Spanned<String>,
    #[serde(default)]
    input: Vec<RawField>,
    #[serde(default)]
    parties: BTreeMap<Spanned<String>, RawParty>,
    #[serde(default)]
    events: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    links: BTreeMap<Spanned<String>, RawLink>,
    #[serde(default)]
    states: BTreeMap<Spanned<String>, RawState>,
    #[serde(default)]
    schedules: Vec<RawSchedule>,
    /// Sample input for rendering the templates in `accord check`.
    sample: Option<toml::Table>,
    /// Rules across input fields.
    #[serde(default)]
    checks: Vec<RawCheck>,
    /// Checks against the directory at start, by name.
    #[serde(default)]
    start_checks: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    same_value: Vec<Spanned<String>>,
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    field: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParty {
    email: Option<Spanned<String>>,
    config: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    locale: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    event: Spanned<String>,
    party: Spanned<String>,
    expires: Spanned<String>,
    title: Option<Localized<String>>,
    description: Option<Localized<String>>,
    button: Option<Localized<String>>,
    confirm: Option<Localized<Vec<String>>>,
    #[serde(default)]
    resend: bool,
    #[serde(default = "yes")]
    supersede: bool,
    #[serde(default)]
    fields: Vec<LinkField>,
    #[serde(default)]
    alternatives: Vec<Spanned<String>>,
    done: Option<Localized<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    #[serde(default, rename = "final")]
    is_final: bool,
    description: Option<String>,
    label: Option<Localized<String>>,
    #[serde(default)]
    emails: Vec<RawEmail>,
    #[serde(default)]
    timers: Vec<RawTimer>,
    #[serde(default)]
    on: BTreeMap<Spanned<String>, RawTransition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    template: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    links: Vec<Spanned<String>>,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimer {
    name: Spanned<String>,
    after: Spanned<String>,
    event: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    to: Option<Spanned<String>>,
    #[serde(default)]
    guards: Vec<Spanned<String>>,
    #[serde(default)]
    effects: Vec<Spanned<String>>,
    #[serde(default)]
    emails: Vec<RawEmail>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: Spanned<String>,
    cron: Spanned<String>,
    event: Spanned<String>,
    states: Vec<Spanned<String>>,
}

/// Collects diagnostics while a definition is built.
struct Checker<'a> {
    file: &'a str,
    source: &'a str,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        let (line, column) = line_and_column(self.source, span.start);
        self.problems.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn name<T>(&mut self, raw: &Spanned<String>, parse: fn(&str) -> Result<T, super::BadName>) -> Option<T> {
        match parse(raw.get_ref()) {
            Ok(name) => Some(name),
            Err(err) => {
                self.report(raw.span(), err.to_string(), "rename it, for example `in_review`");
                None
            }
        }
    }

    fn duration(&mut self, raw: &Spanned<String>) -> Option<Duration> {
        match humantime::parse_duration(raw.get_ref()) {
            Ok(duration) if !duration.is_zero() => Some(duration),
            Ok(_) => {
                self.report(
                    raw.span(),
                    format!("duration `{}` is zero", raw.get_ref()),
                    "give a positive duration such as \"3d\" or \"36h\"",
                );
                None
            }
            Err(err) => {
                self.report(
                    raw.span(),
                    format!("bad duration `{}`: {err}", raw.get_ref()),
                    "write a number and a unit, such as \"30m\", \"36h\", \"3d\" or \"1w\"",
                );
                None
            }
        }
    }
}

fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

/// Parses and checks one definition. `file` names the source in diagnostics.
pub fn parse_definition(file: &str, source: &str, env: &CheckEnv<'_>) -> Result<Definition, Vec<Diagnostic>> {
    let mut check = Checker { file, source, problems: Vec::new() };
    let raw: RawWorkflow = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            check.report(span, err.message().trim().to_owned(), "fix the TOML syntax or the key named here");
            return Err(check.problems);
        }
    };
    let definition = build(&mut check, raw, source, env);
    match definition {
        Some(definition) if check.problems.is_empty() => Ok(definition),
        _ => {
            check.problems.sort_by_key(|p| (p.line, p.column));
            Err(check.problems)
        }
    }
}

fn build(check: &mut Checker<'_>, raw: RawWorkflow, source: &str, env: &CheckEnv<'_>) -> Option<Definition> {
    let name = check.name(&raw.name, WorkflowName::parse);
    if let Some(name) = &name {
        let stem = std::path::Path::new(check.file).file_stem().and_then(|s| s.to_str());
        if stem.is_some_and(|stem| stem != name.as_str()) {
            check.report(
                raw.name.span(),
                format!("workflow `{name}` is in a file named `{}`", check.file),
                format!("name the file `{name}.toml`, or set name = \"{}\"", stem.unwrap_or_default()),
            );
        }
    }

    // Input fields.
    let mut input = Vec::new();
    let mut seen_fields = BTreeSet::new();
    for field in &raw.input {
        let path = field.field.get_ref();
        let valid_path = !path.is_empty() && path.split('.').all(|seg| WorkflowName::parse(seg).is_ok());
        if !valid_path {
            check.report(
                field.field.span(),
                format!("`{path}` is not a valid field path"),
                "use dotted snake_case keys such as `company.legal_name`",
            );
            continue;
        }
        if !seen_fields.insert(path.clone()) {
            check.report(
                field.field.span(),
                format!("input field `{path}` is declared twice"),
                "remove one of the two declarations",
            );
        }
        match FieldType::from_str(field.ty.get_ref()) {
            Ok(ty) => input.push(InputField { path: path.clone(), ty, required: field.required }),
            Err(()) => check.report(
                field.ty.span(),
                format!("unknown field type `{}`", field.ty.get_ref()),
                format!("use one of: {}", FieldType::names()),
            ),
        }
    }
    for field in &input {
        let nested_under = input.iter().find(|other| field.path.starts_with(&format!("{}.", other.path)));
        if let Some(other) = nested_under {
            let span = raw.input.iter().find(|f| f.field.get_ref() == &field.path).map_or(0..0, |f| f.field.span());
            check.report(
                span,
                format!("`{}` is nested under the field `{}`, which holds a value", field.path, other.path),
                "a field cannot be both a value and an object",
            );
        }
    }
    let field_type = |path: &str| input.iter().find(|f| f.path == path).map(|f| f.ty);
    let mut checks = Vec::new();
    for rule in &raw.checks {
        let mut known = rule.same_value.len() >= 2;
        if !known {
            let span = rule.same_value.first().map_or(0..0, |p| p.span());
            check.report(
                span,
                "a same_value check needs at least two fields",
                "list the fields that must hold the same value",
            );
        }
        for path in &rule.same_value {
            if field_type(path.get_ref()).is_none() {
                check.report(
                    path.span(),
                    format!("check: no input field `{}`", path.get_ref()),
                    "declare it under [[input]], or fix the path",
                );
                known = false;
            }
        }
        if known {
            checks.push(SameValue {
                fields: rule.same_value.iter().map(|p| p.get_ref().clone()).collect(),
                message: rule.message.clone(),
            });
        }
    }

    // Parties.
    let mut parties = BTreeMap::new();
    for (party_name, party) in &raw.parties {
        match (&party.email, &party.config) {
            (Some(email), None) => match field_type(email.get_ref()) {
                Some(ty) if ty.is_email() => {}
                Some(_) => check.report(
                    email.span(),
                    format!("party `{}`: field `{}` is not an email field", party_name.get_ref(), email.get_ref()),
                    "declare it with type = \"email\" or \"business_email\"",
                ),
                None => check.report(
                    email.span(),
                    format!("party `{}`: no input field `{}`", party_name.get_ref(), email.get_ref()),
                    "declare it under [[input]], or fix the path",
                ),
            },
            (None, Some(_)) => {}
            _ => check.report(
                party_name.span(),
                format!("party `{}` needs exactly one of `email` (an input field) or `config` (a configured address)", party_name.get_ref()),
                "write email = \"contact.email\", or config = \"reviewers\" with [parties] reviewers = \"…\" in accord.toml",
            ),
        }
        for optional in [&party.name, &party.locale].into_iter().flatten() {
            if field_type(optional.get_ref()).is_none() {
                check.report(
                    optional.span(),
                    format!("party `{}`: no input field `{}`", party_name.get_ref(), optional.get_ref()),
                    "declare it under [[input]], or fix the path",
                );
            }
        }
        parties.insert(
            party_name.get_ref().clone(),
            Party {
                email: party.email.as_ref().map(|e| e.get_ref().clone()),
                config: party.config.as_ref().map(|c| c.get_ref().clone()),
                name: party.name.as_ref().map(|n| n.get_ref().clone()),
                locale: party.locale.as_ref().map(|l| l.get_ref().clone()),
            },
        );
    }

    // Events.
    let mut events = BTreeMap::new();
    for (event, kind) in &raw.events {
        let Some(event_name) = check.name(event, EventName::parse) else { continue };
        match EventKind::ALL.iter().find(|(name, _)| *name == kind.get_ref()) {
            Some((_, kind)) => {
                events.insert(event_name, *kind);
            }
            None => check.report(
                kind.span(),
                format!("event `{event_name}` has unknown kind `{}`", kind.get_ref()),
                "use one of: link, decision, signal, timer, schedule",
            ),
        }
    }
    let event_of_kind =
        |check: &mut Checker<'_>, raw: &Spanned<String>, want: Option<EventKind>| -> Option<EventName> {
            let name = check.name(raw, EventName::parse)?;
            match (events.get(&name), want) {
                (None, _) => {
                    check.report(
                        raw.span(),
                        format!("unknown event `{name}`"),
                        format!("declare it under [events], for example {name} = \"signal\""),
                    );
                    None
                }
                (Some(kind), Some(want)) if *kind != want => {
                    check.report(
                        raw.span(),
                        format!(
                            "event `{name}` is declared as `{}`, but is used here as a {} event",
                            kind.as_str(),
                            want.as_str()
                        ),
                        format!("declare it as {name} = \"{}\"", want.as_str()),
                    );
                    None
                }
                _ => Some(name),
            }
        };

    // Link actions.
    let mut links = BTreeMap::new();
    for (link_name, link) in &raw.links {
        let event = event_of_kind(check, &link.event, Some(EventKind::Link));
        if !raw.parties.keys().any(|p| p.get_ref() == link.party.get_ref()) {
            check.report(
                link.party.span(),
                format!("link `{}`: unknown party `{}`", link_name.get_ref(), link.party.get_ref()),
                "declare it under [parties]",
            );
        }
        let expires = check.duration(&link.expires);
        for other in &link.alternatives {
            match raw.links.iter().find(|(name, _)| name.get_ref() == other.get_ref()) {
                None => check.report(
                    other.span(),
                    format!("link `{}`: unknown alternative `{}`", link_name.get_ref(), other.get_ref()),
                    "name another link action of this workflow, such as `cancel`",
                ),
                Some((_, alt)) if alt.party.get_ref() != link.party.get_ref() => check.report(
                    other.span(),
                    format!(
                        "link `{}`: alternative `{}` is for party `{}`, not `{}`",
                        link_name.get_ref(),
                        other.get_ref(),
                        alt.party.get_ref(),
                        link.party.get_ref()
                    ),
                    "a page may only offer actions meant for the same recipient",
                ),
                Some((_, alt)) if alt.confirm.is_some() || !alt.fields.is_empty() => check.report(
                    other.span(),
                    format!(
                        "link `{}`: alternative `{}` has checkboxes or text fields, which the page cannot show beside its own",
                        link_name.get_ref(),
                        other.get_ref()
                    ),
                    "offer as an alternative only an action that needs nothing but its button, such as cancel",
                ),
                Some(_) => {}
            }
        }
        for field in &link.fields {
            if WorkflowName::parse(&field.name).is_err() || field.name.starts_with("confirm_") {
                check.report(
                    link.event.span(),
                    format!("link `{}`: `{}` is not a valid field name", link_name.get_ref(), field.name),
                    "use snake_case, such as `answer` (names starting with confirm_ are taken by the checkboxes)",
                );
            }
        }
        if let (Some(event), Some(expires)) = (event, expires) {
            links.insert(
                link_name.get_ref().clone(),
                LinkAction {
                    title: link.title.clone().unwrap_or_else(|| Localized::One(event.as_str().replace('_', " "))),
                    button: link.button.clone().unwrap_or_else(|| Localized::One("Confirm".into())),
                    description: link.description.clone().unwrap_or_else(|| Localized::One(String::new())),
                    confirm: link.confirm.clone().unwrap_or_else(|| Localized::One(Vec::new())),
                    resend: link.resend,
                    supersede: link.supersede,
                    fields: link.fields.clone(),
                    alternatives: link.alternatives.iter().map(|a| a.get_ref().clone()).collect(),
                    done: link.done.clone(),
                    event,
                    party: link.party.get_ref().clone(),
                    expires,
                },
            );
        }
    }

    let emails = |check: &mut Checker<'_>, raw_emails: &[RawEmail]| -> Vec<EmailSpec> {
        let mut out = Vec::new();
        for email in raw_emails {
            let template = email.template.get_ref();
            if WorkflowName::parse(template).is_err() {
                check.report(
                    email.template.span(),
                    format!("`{template}` is not a valid template name"),
                    "use snake_case, such as `verify_email`",
                );
            } else if let Some(exists) = env.template_exists {
                let workflow = raw.name.get_ref().as_str();
                if !exists(workflow, template) {
                    check.report(
                        email.template.span(),
                        format!("unknown template `{template}`"),
                        format!("create templates/email/{workflow}/{template}.subject.tera and {template}.txt.tera"),
                    );
                }
            }
            if !raw.parties.keys().any(|p| p.get_ref() == email.to.get_ref()) {
                check.report(
                    email.to.span(),
                    format!("email `{template}`: unknown party `{}`", email.to.get_ref()),
                    "declare it under [parties]",
                );
            }
            for link in &email.links {
                match raw.links.iter().find(|(name, _)| name.get_ref() == link.get_ref()) {
                    None => check.report(
                        link.span(),
                        format!("unknown link `{}`", link.get_ref()),
                        "declare it under [links]",
                    ),
                    Some((_, action)) if action.party.get_ref() != email.to.get_ref() => check.report(
                        link.span(),
                        format!(
                            "link `{}` belongs to party `{}`, but this email goes to `{}`",
                            link.get_ref(),
                            action.party.get_ref(),
                            email.to.get_ref()
                        ),
                        "a personalised link must be sent to its own party",
                    ),
                    Some(_) => {}
                }
            }
            out.push(EmailSpec {
                template: template.clone(),
                to: email.to.get_ref().clone(),
                links: email.links.iter().map(|l| l.get_ref().clone()).collect(),
                draft: email.draft,
            });
        }
        out
    };

    // States and transitions.
    let state_names: BTreeSet<&str> = raw.states.keys().map(|k| k.get_ref().as_str()).collect();
    let initial = check.name(&raw.initial, StateName::parse);
    if initial.is_some() && !state_names.contains(raw.initial.get_ref().as_str()) {
        check.report(
            raw.initial.span(),
            format!("unknown initial state `{}`", raw.initial.get_ref()),
            "declare it as [states.<name>]",
        );
    }
    if raw.states.is_empty() {
        check.report(
            0..0,
            "the workflow has no states",
            "declare at least an initial and a final state under [states]",
        );
    }
    let mut states = BTreeMap::new();
    for (state_key, state) in &raw.states {
        let Some(state_name) = check.name(state_key, StateName::parse) else { continue };
        if state.is_final && !state.on.is_empty() {
            let first = state.on.keys().next().map_or(state_key.span(), |k| k.span());
            check.report(
                first,
                format!("final state `{state_name}` has a transition out"),
                "remove the transition, or drop `final = true`",
            );
        }
        if state.is_final && !state.timers.is_empty() {
            check.report(
                state_key.span(),
                format!("final state `{state_name}` arms timers"),
                "a finished instance never fires timers: remove them",
            );
        }
        let leaves = state.on.values().any(|t| t.to.as_ref().is_some_and(|to| to.get_ref() != state_key.get_ref()));
        if !state.is_final && !leaves {
            check.report(
                state_key.span(),
                format!("state `{state_name}` is not final and has no way out"),
                "add a transition to another state (for example on a timer), or mark it final = true",
            );
        }
        let entry_emails = emails(check, &state.emails);
        let mut timers = Vec::new();
        let mut timer_names = BTreeSet::new();
        for timer in &state.timers {
            if !timer_names.insert(timer.name.get_ref().clone()) {
                check.report(
                    timer.name.span(),
                    format!("timer `{}` is declared twice in state `{state_name}`", timer.name.get_ref()),
                    "give each timer its own name",
                );
            }
            let after = check.duration(&timer.after);
            let event = event_of_kind(check, &timer.event, Some(EventKind::Timer));
            if let Some(event) = &event {
                if !state.on.keys().any(|k| k.get_ref() == event.as_str()) {
                    check.report(
                        timer.event.span(),
                        format!(
                            "timer `{}` sends `{event}`, but state `{state_name}` has no transition on it",
                            timer.name.get_ref()
                        ),
                        format!("add [states.{state_name}.on.{event}]"),
                    );
                }
            }
            if let (Some(after), Some(event)) = (after, event) {
                timers.push(TimerSpec { name: timer.name.get_ref().clone(), after, event });
            }
        }
        let mut transitions = BTreeMap::new();
        for (event_key, transition) in &state.on {
            let Some(event) = event_of_kind(check, event_key, None) else { continue };
            let to = match &transition.to {
                None => None,
                Some(to) if state_names.contains(to.get_ref().as_str()) => check.name(to, StateName::parse),
                Some(to) => {
                    check.report(
                        to.span(),
                        format!("unknown state `{}`", to.get_ref()),
                        format!("declare [states.{}], or fix the name", to.get_ref()),
                    );
                    None
                }
            };
            for guard in &transition.guards {
                if !env.guards.contains(&guard.get_ref().as_str()) {
                    check.report(
                        guard.span(),
                        format!("unknown guard `{}`", guard.get_ref()),
                        format!("known guards: {}", env.guards.join(", ")),
                    );
                }
            }
            for effect in &transition.effects {
                if !env.effects.contains(&effect.get_ref().as_str()) {
                    check.report(
                        effect.span(),
                        format!("unknown effect `{}`", effect.get_ref()),
                        format!("known effects: {}", env.effects.join(", ")),
                    );
                }
            }
            let transition_emails = emails(check, &transition.emails);
            transitions.insert(
                event.clone(),
                Transition {
                    event,
                    to,
                    guards: transition.guards.iter().map(|g| g.get_ref().clone()).collect(),
                    effects: transition.effects.iter().map(|e| e.get_ref().clone()).collect(),
                    emails: transition_emails,
                },
            );
        }
        states.insert(
            state_name.clone(),
            State {
                name: state_name,
                is_final: state.is_final,
                description: state.description.clone(),
                label: state.label.clone(),
                emails: entry_emails,
                timers,
                transitions,
            },
        );
    }

    // Reachability from the initial state.
    if let Some(initial) = &initial {
        let mut reached = BTreeSet::from([initial.as_str()]);
        let mut queue = VecDeque::from([initial.as_str()]);
        while let Some(current) = queue.pop_front() {
            let Some((_, state)) = raw.states.iter().find(|(k, _)| k.get_ref() == current) else { continue };
            for to in state.on.values().filter_map(|t| t.to.as_ref()) {
                if reached.insert(to.get_ref().as_str()) {
                    queue.push_back(to.get_ref().as_str());
                }
            }
        }
        if state_names.contains(initial.as_str()) {
            for key in raw.states.keys().filter(|k| !reached.contains(k.get_ref().as_str())) {
                check.report(
                    key.span(),
                    format!("state `{}` cannot be reached from `{initial}`", key.get_ref()),
                    "add a transition into it, or remove it",
                );
            }
        }
    }

    // Periodic jobs.
    let mut schedules = Vec::new();
    let mut schedule_names = BTreeSet::new();
    for schedule in &raw.schedules {
        if !schedule_names.insert(schedule.name.get_ref().clone()) {
            check.report(
                schedule.name.span(),
                format!("schedule `{}` is declared twice", schedule.name.get_ref()),
                "give each schedule its own name",
            );
        }
        let cron = match cron::Schedule::from_str(schedule.cron.get_ref()) {
            Ok(cron) => Some(cron),
            Err(err) => {
                check.report(
                    schedule.cron.span(),
                    format!("bad cron expression `{}`: {err}", schedule.cron.get_ref()),
                    "use seconds, minutes, hours, day of month, month, day of week, such as \"0 0 9 * * Mon-Fri\"",
                );
                None
            }
        };
        let event = event_of_kind(check, &schedule.event, Some(EventKind::Schedule));
        let mut target_states = Vec::new();
        for state in &schedule.states {
            if !state_names.contains(state.get_ref().as_str()) {
                check.report(
                    state.span(),
                    format!("unknown state `{}`", state.get_ref()),
                    "name a state declared under [states]",
                );
            } else if let Some(name) = check.name(state, StateName::parse) {
                target_states.push(name);
            }
        }
        if let (Some(cron), Some(event)) = (cron, event) {
            schedules.push(ScheduleSpec { name: schedule.name.get_ref().clone(), cron, event, states: target_states });
        }
    }

    let sample = match &raw.sample {
        Some(table) => serde_json::to_value(table).unwrap_or_default(),
        None => super::input::skeleton(&input),
    };

    for name in &raw.start_checks {
        if !env.start_checks.contains(&name.get_ref().as_str()) {
            check.report(
                name.span(),
                format!("unknown start check `{}`", name.get_ref()),
                format!("known start checks: {}", env.start_checks.join(", ")),
            );
        }
    }

    Some(Definition {
        start_checks: raw.start_checks.iter().map(|n| n.get_ref().clone()).collect(),
        checks,
        sample,
        name: name?,
        title: raw.title,
        initial: initial?,
        input,
        parties,
        events,
        links,
        states,
        schedules,
        hash: content_hash(source),
        source: source.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            found.iter().any(|p| p.starts_with("tiny.toml:24:") && p.contains("unknown state `dnoe`")),
            "{found:?}"
        );
    }

    #[test]
    fn bad_duration_and_unknown_guard_are_reported_together() {
        let source = GOOD
            .replace("after = \"36h\"", "after = \"36 parsecs\"")
            .replace("on.confirm = { to = \"done\" }", "on.confirm = { to = \"done\", guards = [\"is_lucky\"] }");
        let found = problems(&source);
        assert!(found.iter().any(|p| p.contains("bad duration `36 parsecs`")), "{found:?}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("unknown guard `is_lucky`") && p.contains("hint: known guards: has_reason")),
            "{found:?}"
        );
    }

    #[test]
    fn dead_ends_unreachable_states_and_final_exits_are_reported() {
        let source = format!("{GOOD}\n[states.limbo]\n\n[states.orphan]\nfinal = true\n");
        let source = source
            .replace("[states.done]\nfinal = true", "[states.done]\nfinal = true\non.confirm = { to = \"open\" }");
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
}
