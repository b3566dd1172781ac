//! From a [`RawWorkflow`] to a [`Definition`]: one [`Builder`] method per section of the file,
//! run in the order of the sections so that diagnostics come out in the same order.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use toml::Spanned;

use super::raw::RawWorkflow;
use super::{CheckEnv, Checker};
use crate::workflow::input::{self, SameValue};
use crate::workflow::{
    content_hash, Definition, EventKind, EventName, FieldType, InputField, ProvidedKind, RuleName, WorkflowName,
};

/// Builds a definition, reporting every problem to `check`; `None` when a part the definition
/// cannot do without (its name, its initial state) is broken.
pub(super) fn build(check: &mut Checker<'_>, raw: RawWorkflow, source: &str, env: &CheckEnv<'_>) -> Option<Definition> {
    let mut builder = Builder::new(check, &raw, env);
    let name = builder.name();
    builder.input_fields();
    builder.provided_fields_are_not_input();
    let checks = builder.checks();
    let parties = builder.parties();
    let mail = builder.mail();
    builder.events();
    let links = builder.links();
    let initial = builder.initial();
    let states = builder.states();
    builder.reachability(initial.as_ref());
    let schedules = builder.schedules();
    let sample = builder.sample();
    builder.start_checks();
    let (input, events) = builder.into_parts();

    Some(Definition {
        start_checks: raw.start_checks.iter().filter_map(|n| RuleName::parse(n.get_ref()).ok()).collect(),
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
        mail,
        hash: content_hash(source),
        source: source.to_owned(),
    })
}

/// The checker and the raw file, with what later sections need from earlier ones.
pub(super) struct Builder<'b, 'a> {
    pub(super) check: &'b mut Checker<'a>,
    pub(super) raw: &'b RawWorkflow,
    pub(super) env: &'b CheckEnv<'b>,
    /// The input fields declared well, in file order.
    pub(super) input: Vec<InputField>,
    /// The events declared with a known kind.
    pub(super) events: BTreeMap<EventName, EventKind>,
    /// Every key under `[states]`, valid or not.
    pub(super) state_names: BTreeSet<&'b str>,
    /// The context fields the definition's (registered) start checks fill in: their kind and the
    /// check that fills each.
    pub(super) provided: BTreeMap<&'static str, (ProvidedKind, &'static str)>,
}

impl<'b, 'a> Builder<'b, 'a> {
    fn new(check: &'b mut Checker<'a>, raw: &'b RawWorkflow, env: &'b CheckEnv<'b>) -> Self {
        let state_names = raw.states.keys().map(|k| k.get_ref().as_str()).collect();
        let provided = env
            .start_checks
            .iter()
            .filter(|spec| raw.start_checks.iter().any(|named| named.get_ref() == spec.name))
            .flat_map(|spec| spec.provides.iter().map(|field| (field.path, (field.kind, spec.name))))
            .collect();
        Builder { check, raw, env, input: Vec::new(), events: BTreeMap::new(), state_names, provided }
    }

    fn into_parts(self) -> (Vec<InputField>, BTreeMap<EventName, EventKind>) {
        (self.input, self.events)
    }

    /// Checks the workflow's name, and that the file is named after it.
    fn name(&mut self) -> Option<WorkflowName> {
        let raw = self.raw;
        let name = self.check.name(&raw.name, WorkflowName::parse);
        if let Some(name) = &name {
            let stem = std::path::Path::new(self.check.file).file_stem().and_then(|s| s.to_str());
            if stem.is_some_and(|stem| stem != name.as_str()) {
                self.check.report(
                    raw.name.span(),
                    format!("workflow `{name}` is in a file named `{}`", self.check.file),
                    format!("name the file `{name}.toml`, or set name = \"{}\"", stem.unwrap_or_default()),
                );
            }
        }
        name
    }

    /// Checks the `[[input]]` fields: valid dotted paths, declared once, of a known type, and
    /// none nested under another field's value. Keeps the good ones in `self.input`.
    fn input_fields(&mut self) {
        let raw = self.raw;
        let mut seen_fields = BTreeSet::new();
        for field in &raw.input {
            let path = field.field.get_ref();
            let valid_path = !path.is_empty() && path.split('.').all(|seg| WorkflowName::parse(seg).is_ok());
            if !valid_path {
                self.check.report(
                    field.field.span(),
                    format!("`{path}` is not a valid field path"),
                    "use dotted snake_case keys such as `company.legal_name`",
                );
                continue;
            }
            if !seen_fields.insert(path.clone()) {
                self.check.report(
                    field.field.span(),
                    format!("input field `{path}` is declared twice"),
                    "remove one of the two declarations",
                );
            }
            match FieldType::from_str(field.ty.get_ref()) {
                Ok(ty) => self.input.push(InputField { path: path.clone(), ty, required: field.required }),
                Err(()) => self.check.report(
                    field.ty.span(),
                    format!("unknown field type `{}`", field.ty.get_ref()),
                    format!("use one of: {}", FieldType::names()),
                ),
            }
        }
        for field in &self.input {
            let nested_under = self.input.iter().find(|other| field.path.starts_with(&format!("{}.", other.path)));
            if let Some(other) = nested_under {
                let span = raw.input.iter().find(|f| f.field.get_ref() == &field.path).map_or(0..0, |f| f.field.span());
                self.check.report(
                    span,
                    format!("`{}` is nested under the field `{}`, which holds a value", field.path, other.path),
                    "a field cannot be both a value and an object",
                );
            }
        }
    }

    /// The type of the declared input field at `path`.
    pub(super) fn field_type(&self, path: &str) -> Option<FieldType> {
        self.input.iter().find(|f| f.path == path).map(|f| f.ty)
    }

    /// Checks the `[[checks]]` rules across fields: at least two fields, each one declared.
    fn checks(&mut self) -> Vec<SameValue> {
        let mut checks = Vec::new();
        for rule in &self.raw.checks {
            let all_or_none = !rule.all_or_none.is_empty();
            let fields = if all_or_none { &rule.all_or_none } else { &rule.same_value };
            let mut known = fields.len() >= 2 && (rule.same_value.is_empty() || rule.all_or_none.is_empty());
            if !known {
                let span = fields.first().map_or(0..0, |p| p.span());
                self.check.report(
                    span,
                    "a check needs at least two fields, under one of same_value or all_or_none",
                    "list the fields that must hold the same value (same_value), or be given together (all_or_none)",
                );
            }
            for path in fields {
                if self.field_type(path.get_ref()).is_none() {
                    self.check.report(
                        path.span(),
                        format!("check: no input field `{}`", path.get_ref()),
                        "declare it under [[input]], or fix the path",
                    );
                    known = false;
                }
            }
            if known {
                checks.push(SameValue {
                    fields: fields.iter().map(|p| p.get_ref().clone()).collect(),
                    message: rule.message.clone(),
                    all_or_none,
                });
            }
        }
        checks
    }

    /// Checks the `[events]`: valid names of a known kind. Keeps them in `self.events`.
    fn events(&mut self) {
        for (event, kind) in &self.raw.events {
            let Some(event_name) = self.check.name(event, EventName::parse) else { continue };
            match EventKind::ALL.iter().find(|(name, _)| *name == kind.get_ref()) {
                Some((_, kind)) => {
                    self.events.insert(event_name, *kind);
                }
                None => self.check.report(
                    kind.span(),
                    format!("event `{event_name}` has unknown kind `{}`", kind.get_ref()),
                    "use one of: link, decision, signal, timer, schedule",
                ),
            }
        }
    }

    /// Checks a use of an event: declared under `[events]`, and of kind `want` if one is given.
    pub(super) fn event_of_kind(&mut self, raw: &Spanned<String>, want: Option<EventKind>) -> Option<EventName> {
        let name = self.check.name(raw, EventName::parse)?;
        match (self.events.get(&name), want) {
            (None, _) => {
                self.check.report(
                    raw.span(),
                    format!("unknown event `{name}`"),
                    format!("declare it under [events], for example {name} = \"signal\""),
                );
                None
            }
            (Some(kind), Some(want)) if *kind != want => {
                self.check.report(
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
    }

    /// Checks that each of `names` is registered in `known` (guards, effects, start checks).
    pub(super) fn registered(&mut self, names: &[Spanned<String>], known: &[&str], what: &str) {
        for name in names {
            if !known.contains(&name.get_ref().as_str()) {
                self.check.report(
                    name.span(),
                    format!("unknown {what} `{}`", name.get_ref()),
                    format!("known {what}s: {}", known.join(", ")),
                );
            }
        }
    }

    /// The sample input: `[sample]` as given, else every declared field set to "".
    fn sample(&self) -> serde_json::Value {
        match &self.raw.sample {
            Some(table) => serde_json::to_value(table).unwrap_or_default(),
            None => input::skeleton(&self.input),
        }
    }

    /// Checks that every start check named is registered.
    fn start_checks(&mut self) {
        let (raw, env) = (self.raw, self.env);
        let known: Vec<&str> = env.start_checks.iter().map(|spec| spec.name).collect();
        self.registered(&raw.start_checks, &known, "start check");
    }
}
