//! The pure heart of the engine: (definition, instance, event, now) -> (new state, effects).
//! No I/O happens here, so every rule is testable on its own.

use serde_json::Value;

use super::{Call, Decision, Effect, InstanceStatus, Origin, Refusal, Registry};
use crate::time::Timestamp;
use crate::workflow::{Definition, EmailSpec, EventKind, EventName, State, StateName};

/// The event as the engine evaluates it.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    pub event: &'a str,
    pub data: &'a Value,
    pub origin: Origin,
    /// Who is acting, when a person is known: a link's recipient. Effects use it to require
    /// that they still have the standing the link was sent for.
    pub by: Option<&'a str>,
}

/// Whether `origin` may deliver an event of `kind`. Operators may deliver anything, so a person
/// can unstick an instance by hand (and the history says who did).
pub fn origin_allows(origin: Origin, kind: EventKind) -> bool {
    match origin {
        Origin::Operator => true,
        Origin::Link => kind == EventKind::Link,
        Origin::Reviewer => kind == EventKind::Decision,
        Origin::Pipeline => kind == EventKind::Signal,
        Origin::Timer => kind == EventKind::Timer,
        Origin::Schedule => kind == EventKind::Schedule,
        Origin::Start => false,
    }
}

/// The effects of entering the initial state of `definition` with `context`.
pub fn start(
    definition: &Definition,
    context: Value,
    configured: &Addresses,
    now: Timestamp,
) -> Result<Decision, Refusal> {
    let initial = definition
        .state(&definition.initial)
        .ok_or_else(|| Refusal::Definition(format!("initial state `{}` is missing", definition.initial)))?;
    let mut effects = Vec::new();
    enter(definition, initial, &context, configured, now, &mut effects)?;
    Ok(Decision { from: None, to: initial.name.clone(), status: status_of(initial), context, effects })
}

/// Where an instance stands when an event arrives.
#[derive(Clone, Copy, Debug)]
pub struct Current<'a> {
    pub instance_id: uuid::Uuid,
    pub state: &'a StateName,
    pub status: InstanceStatus,
    pub context: &'a Value,
}

/// Applies `incoming` to an instance that stands at `current`.
pub fn decide(
    definition: &Definition,
    registry: &Registry,
    current: Current<'_>,
    incoming: &Incoming<'_>,
    configured: &Addresses,
    now: Timestamp,
) -> Result<Decision, Refusal> {
    let Current { instance_id, state, status, context } = current;
    let event = EventName::parse(incoming.event).map_err(|_| unknown_event(definition, incoming.event))?;
    let Some(kind) = definition.event_kind(&event) else {
        return Err(unknown_event(definition, incoming.event));
    };
    if status == InstanceStatus::Finished {
        return Err(Refusal::InstanceFinished { state: state.to_string(), event: event.to_string() });
    }
    if !origin_allows(incoming.origin, kind) {
        return Err(Refusal::OriginNotAllowed { event: event.to_string(), kind, origin: incoming.origin });
    }
    let current = definition.state(state).ok_or_else(|| {
        Refusal::Definition(format!("the instance is in state `{state}`, which its definition lacks"))
    })?;
    let Some(transition) = current.transitions.get(&event) else {
        return Err(Refusal::EventNotAllowed {
            event: event.to_string(),
            state: state.to_string(),
            allowed: current.transitions.keys().map(ToString::to_string).collect(),
        });
    };

    let call = Call {
        instance_id,
        workflow: definition.name.as_str(),
        state: state.as_str(),
        event: event.as_str(),
        context,
        data: incoming.data,
        by: incoming.by,
    };
    for name in &transition.guards {
        let guard = registry
            .find_guard(name.as_str())
            .ok_or_else(|| Refusal::Definition(format!("guard `{name}` is not registered")))?;
        guard(&call).map_err(|reason| Refusal::GuardRefused { guard: name.to_string(), reason })?;
    }
    // A branch the context selects takes the event elsewhere, with its own effects.
    let branch = transition.branch_for(context);
    let (effect_names, to) = match branch {
        Some(branch) => (&branch.effects, Some(&branch.to)),
        None => (&transition.effects, transition.to.as_ref()),
    };
    let mut effects = Vec::new();
    for name in effect_names {
        let effect = registry
            .find_effect(name.as_str())
            .ok_or_else(|| Refusal::Definition(format!("effect `{name}` is not registered")))?;
        effects.extend(effect(&call).map_err(|reason| Refusal::GuardRefused { guard: name.to_string(), reason })?);
    }
    let mut context = context.clone();
    for effect in &effects {
        if let Effect::MergeContext(patch) = effect {
            merge_context(&mut context, patch);
        }
    }
    for spec in &transition.emails {
        emails(definition, spec, &context, configured, &mut effects)?;
    }

    let target = match to {
        None => current,
        Some(to) => {
            let target = definition
                .state(to)
                .ok_or_else(|| Refusal::Definition(format!("transition to unknown state `{to}`")))?;
            effects.push(Effect::CancelTimers);
            enter(definition, target, &context, configured, now, &mut effects)?;
            target
        }
    };
    Ok(Decision { from: Some(state.clone()), to: target.name.clone(), status: status_of(target), context, effects })
}

/// What `event` does instead when what its transition's effects require no longer holds (the
/// store found a [`Precondition`](super::Precondition) unmet): the instance goes to the
/// transition's `otherwise` state, with none of the transition's effects or emails, and enters it
/// as any state is entered. `None` when the transition has no `otherwise`: the event is then
/// refused and the instance stays where it is.
pub fn lapse(
    definition: &Definition,
    current: Current<'_>,
    event: &EventName,
    configured: &Addresses,
    now: Timestamp,
) -> Result<Option<Decision>, Refusal> {
    let state = definition.state(current.state).ok_or_else(|| {
        Refusal::Definition(format!("the instance is in state `{}`, which its definition lacks", current.state))
    })?;
    let Some(otherwise) = state.transitions.get(event).and_then(|t| t.otherwise.as_ref()) else { return Ok(None) };
    let target = definition
        .state(otherwise)
        .ok_or_else(|| Refusal::Definition(format!("`otherwise` names unknown state `{otherwise}`")))?;
    let mut effects = vec![Effect::CancelTimers];
    enter(definition, target, current.context, configured, now, &mut effects)?;
    Ok(Some(Decision {
        from: Some(current.state.clone()),
        to: target.name.clone(),
        status: status_of(target),
        context: current.context.clone(),
        effects,
    }))
}

fn status_of(state: &State) -> InstanceStatus {
    if state.is_final {
        InstanceStatus::Finished
    } else {
        InstanceStatus::Active
    }
}

fn enter(
    definition: &Definition,
    state: &State,
    context: &Value,
    configured: &Addresses,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Refusal> {
    for spec in &state.emails {
        emails(definition, spec, context, configured, effects)?;
    }
    for spec in &state.timers {
        effects.push(Effect::ArmTimer { spec: spec.clone(), due_at: now.plus(spec.after) });
    }
    Ok(())
}

/// The email effects of `spec`: one per recipient of its party.
fn emails(
    definition: &Definition,
    spec: &EmailSpec,
    context: &Value,
    configured: &Addresses,
    effects: &mut Vec<Effect>,
) -> Result<(), Refusal> {
    for Recipient { email, name } in recipients(definition, &spec.to, context, configured)? {
        effects.push(Effect::Email { spec: spec.clone(), recipient: email, name });
    }
    Ok(())
}

/// One person a party's email goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
}

/// Who `party` is, given an instance's context: its one address (an input field, a field a
/// start check filled in, a configured address), or with `each` every element of a list in the
/// context. A party that resolves to nobody is a definition problem: an email must never be
/// silently dropped.
pub fn recipients(
    definition: &Definition,
    party_name: &str,
    context: &Value,
    configured: &Addresses,
) -> Result<Vec<Recipient>, Refusal> {
    let party = definition
        .parties
        .get(party_name)
        .ok_or_else(|| Refusal::Definition(format!("unknown party `{party_name}`")))?;
    let text = |value: &Value, path: &Option<String>| {
        path.as_ref().and_then(|p| crate::workflow::field(value, p)).and_then(Value::as_str).map(str::to_owned)
    };
    if let Some(each) = &party.each {
        let list = crate::workflow::field(context, each).and_then(Value::as_array).ok_or_else(|| {
            Refusal::Definition(format!("party `{party_name}` has no list of recipients at `{each}` in the context"))
        })?;
        let mut recipients = Vec::with_capacity(list.len());
        for element in list {
            let email = text(element, &party.email).ok_or_else(|| {
                Refusal::Definition(format!("a recipient of party `{party_name}` at `{each}` has no email address"))
            })?;
            recipients.push(Recipient { email, name: text(element, &party.name) });
        }
        if recipients.is_empty() {
            return Err(Refusal::Definition(format!("party `{party_name}` has nobody at `{each}` to mail")));
        }
        return Ok(recipients);
    }
    let email = match (&party.email, &party.config) {
        (Some(path), _) => crate::workflow::field(context, path).and_then(Value::as_str).ok_or_else(|| {
            Refusal::Definition(format!(
                "party `{party_name}` has no email address at `{path}` in the instance's input"
            ))
        })?,
        (None, Some(key)) => configured.get(key).map(String::as_str).ok_or_else(|| {
            Refusal::Definition(format!("party `{party_name}`: no address configured under [parties] {key}"))
        })?,
        (None, None) => return Err(Refusal::Definition(format!("party `{party_name}` has no address"))),
    };
    Ok(vec![Recipient { email: email.to_owned(), name: text(context, &party.name) }])
}

/// Addresses of configured parties (`[parties]` in accord.toml), by key.
pub type Addresses = std::collections::BTreeMap<String, String>;

/// Deep-merges `patch` into `target`: objects merge key by key, anything else replaces.
pub fn merge_context(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge_context(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn unknown_event(definition: &Definition, event: &str) -> Refusal {
    Refusal::UnknownEvent {
        event: event.to_owned(),
        workflow: definition.name.to_string(),
        known: definition.events.keys().map(ToString::to_string).collect(),
    }
}

#[cfg(test)]
#[path = "decide_tests/mod.rs"]
mod tests;
