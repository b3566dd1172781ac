//! Table-driven tests of [`decide`] and [`start`] over the shipped workflows (the CSP effects
//! they call are tested in `csp_effect_tests.rs`). No database: the definitions are read from the
//! repository's `workflows/` once per test process (their templates are the application's to
//! check: `accord check`). This module holds the shared helpers and the generated coverage of
//! every state and transition; `cases.rs` the hand-written cases; `parties.rs` parties of many
//! recipients, lapsing and branches.

use serde_json::{json, Value};

use super::{decide, lapse, origin_allows, start, Current, Decision, Effect, Incoming};
use crate::directory::DirectoryChange;
use crate::fixtures::*;
use crate::machine::{Addresses, InstanceStatus, Origin, Precondition, Refusal};
use crate::time::Timestamp;
use crate::workflow::{Definition, EmailSpec, EventKind, EventName, State, StateName, Transition};

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const SHIPPED: [&str; 6] = [
    "customer_agreement",
    "customer_invitation",
    "dual_customer_invitation",
    "enrollment",
    "example_signup",
    "provider_invitation",
];

/// The origin that normally delivers each kind of event (written out, not asked of `origin_allows`).
fn usual_origin(kind: EventKind) -> Origin {
    match kind {
        EventKind::Link => Origin::Link,
        EventKind::Decision => Origin::Reviewer,
        EventKind::Signal => Origin::Pipeline,
        EventKind::Timer => Origin::Timer,
        EventKind::Schedule => Origin::Schedule,
    }
}

fn state_name(name: &str) -> StateName {
    StateName::parse(name).unwrap_or_else(|err| panic!("`{name}`: {err}"))
}

fn run(
    definition: &Definition,
    state: &str,
    status: InstanceStatus,
    context: &Value,
    event: &str,
    data: &Value,
    origin: Origin,
) -> Result<Decision, Refusal> {
    let state = state_name(state);
    let current = Current { instance_id: INSTANCE, state: &state, status, context };
    decide(definition, &registry(), current, &Incoming { event, data, origin, by: None }, &addresses(), NOW)
}

/// `event` sent to an active instance standing in `state` with the workflow's sample context.
fn send(definition: &Definition, state: &str, event: &str, data: &Value, origin: Origin) -> Result<Decision, Refusal> {
    run(definition, state, InstanceStatus::Active, &definition.sample, event, data, origin)
}

fn text_at<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    crate::workflow::field(value, path)?.as_str()
}

/// Where the definition says an email to `spec.to` goes, given the instance's context: one
/// address, or every element of the party's `each` list.
fn recipients_of(definition: &Definition, spec: &EmailSpec, context: &Value) -> Vec<String> {
    let party = definition.parties.get(&spec.to).unwrap_or_else(|| panic!("no party `{}`", spec.to));
    match (&party.each, &party.email, &party.config) {
        (Some(each), Some(key), None) => crate::workflow::field(context, each)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: the sample has no list `{each}` for party `{}`", definition.name, spec.to))
            .iter()
            .map(|element| text_at(element, key).expect("each recipient has an address").to_owned())
            .collect(),
        (None, Some(path), None) => vec![text_at(context, path)
            .unwrap_or_else(|| panic!("{}: the sample has no `{path}` for party `{}`", definition.name, spec.to))
            .to_owned()],
        (None, None, Some(key)) => {
            vec![addresses().get(key).unwrap_or_else(|| panic!("no address for `{key}`")).clone()]
        }
        other => panic!("party `{}` is neither an input nor a configured address: {other:?}", spec.to),
    }
}

/// Every (email, recipient) pair of `specs`, in order.
fn mailed(definition: &Definition, specs: &[EmailSpec], context: &Value) -> Vec<(EmailSpec, String)> {
    specs
        .iter()
        .flat_map(|spec| recipients_of(definition, spec, context).into_iter().map(move |to| (spec.clone(), to)))
        .collect()
}

/// The effects of one decision, sorted by kind.
#[derive(Debug, Default)]
struct Sorted {
    emails: Vec<(EmailSpec, String)>,
    timers: Vec<(String, i64)>,
    cancels: usize,
    merges: Vec<Value>,
    directory: Vec<DirectoryChange>,
    requires: Vec<Precondition>,
}

fn sort(effects: &[Effect]) -> Sorted {
    let mut sorted = Sorted::default();
    for effect in effects {
        match effect {
            Effect::Email { spec, recipient, .. } => sorted.emails.push((spec.clone(), recipient.clone())),
            Effect::ArmTimer { spec, due_at } => sorted.timers.push((spec.name.clone(), due_at.millis())),
            Effect::CancelTimers => sorted.cancels += 1,
            Effect::MergeContext(patch) => sorted.merges.push(patch.clone()),
            Effect::Directory(change) => sorted.directory.push(change.clone()),
            Effect::Require(precondition) => sorted.requires.push(precondition.clone()),
        }
    }
    sorted
}

fn due_after(duration: std::time::Duration) -> i64 {
    NOW.millis() + i64::try_from(duration.as_millis()).expect("a timer's delay fits in i64 milliseconds")
}

/// Event data that passes the transition's guards and fills the fields of the link that sends it.
fn event_data(definition: &Definition, event: &EventName, transition: &Transition) -> Value {
    let mut data = serde_json::Map::new();
    for guard in &transition.guards {
        let key = match guard.as_str() {
            "has_reason" => "reason",
            "has_message" => "message",
            other => panic!("{}: no test data for guard `{other}`; teach event_data about it", definition.name),
        };
        data.insert(key.to_owned(), json!(format!("the {key} of {event}")));
    }
    for link in definition.links.values().filter(|link| &link.event == event) {
        for field in &link.fields {
            data.insert(field.name.clone(), json!(format!("{} typed on the page", field.name)));
        }
    }
    Value::Object(data)
}

// ---------------------------------------------------------------------------------------------
// 1. Generated coverage: every state and transition of every shipped workflow.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_six_shipped_workflows_load_with_their_templates() {
    let names: Vec<&str> = definitions().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, SHIPPED, "workflows/ holds these definitions (add a new one to SHIPPED and the tables)");
    for definition in definitions() {
        assert!(definition.sample.is_object(), "{}: the [sample] input is an object", definition.name);
    }
}

/// Checks a decision against what the definition declares for `transition` out of `from`.
fn check_transition(
    definition: &Definition,
    from: &State,
    transition: &Transition,
    data: &Value,
    decision: &Decision,
    at: &str,
) {
    let target_name = transition.to.as_ref().unwrap_or(&from.name);
    let target = definition.state(target_name).unwrap_or_else(|| panic!("{at}: no state `{target_name}`"));
    let leaves = transition.to.is_some();
    assert_eq!(decision.from.as_ref(), Some(&from.name), "{at}: `from` is the state the event arrived in");
    assert_eq!(&decision.to, target_name, "{at}: goes to the declared target");
    let finished = if target.is_final { InstanceStatus::Finished } else { InstanceStatus::Active };
    assert_eq!(decision.status, finished, "{at}: finished exactly when `{target_name}` is final");

    let mut context = definition.sample.clone();
    let records = transition.effects.iter().filter(|name| *name == "record_data").count();
    if records > 0 {
        let event = transition.event.as_str();
        assert_eq!(decision.context.get(event), Some(data), "{at}: record_data keeps the data under `{event}`");
        context[event] = data.clone();
    }
    assert_eq!(decision.context, context, "{at}: the context is the sample, plus recorded data");

    let sorted = sort(&decision.effects);
    assert_eq!(sorted.cancels, usize::from(leaves), "{at}: CancelTimers exactly when the transition leaves the state");
    let armed: Vec<(String, i64)> = if leaves {
        target.timers.iter().map(|timer| (timer.name.clone(), due_after(timer.after))).collect()
    } else {
        Vec::new()
    };
    assert_eq!(sorted.timers, armed, "{at}: arms the timers of the state entered, due `after` from now");
    let entry_emails: &[EmailSpec] = if leaves { &target.emails } else { &[] };
    let specs: Vec<EmailSpec> = transition.emails.iter().chain(entry_emails).cloned().collect();
    let emails = mailed(definition, &specs, &context);
    assert_eq!(sorted.emails, emails, "{at}: the transition's emails, then the entered state's");
    let expected_merges: Vec<Value> = (0..records).map(|_| json!({ transition.event.as_str(): data })).collect();
    assert_eq!(sorted.merges, expected_merges, "{at}: one MergeContext per record_data");
    let domain_effects = transition.effects.len() - records;
    assert_eq!(sorted.directory.len(), domain_effects, "{at}: one directory change per CSP effect");
}

#[test]
fn every_transition_of_every_shipped_workflow_does_what_its_definition_declares() {
    for definition in definitions() {
        let mut checked = 0;
        for state in definition.states.values() {
            for (event, transition) in &state.transitions {
                let kind = definition.event_kind(event).expect("a declared transition's event has a kind");
                let origin = usual_origin(kind);
                let at = format!("{}: {} --{event} ({origin})-->", definition.name, state.name);
                let data = event_data(definition, event, transition);
                let decision = send(definition, state.name.as_str(), event.as_str(), &data, origin)
                    .unwrap_or_else(|err| panic!("{at}: refused with the sample data: {err}"));
                check_transition(definition, state, transition, &data, &decision, &at);

                let by_operator = send(definition, state.name.as_str(), event.as_str(), &data, Origin::Operator)
                    .unwrap_or_else(|err| panic!("{at}: refused from an operator: {err}"));
                assert_eq!(by_operator.to, decision.to, "{at}: an operator's event goes to the same state");
                assert_eq!(by_operator.effects, decision.effects, "{at}: an operator's event has the same effects");
                checked += 1;
            }
        }
        assert!(checked > 0, "{}: no transition was checked", definition.name);
    }
}

#[test]
fn every_event_is_refused_from_every_origin_its_kind_does_not_allow() {
    for definition in definitions() {
        for state in definition.states.values() {
            for (event, transition) in &state.transitions {
                let kind = definition.event_kind(event).expect("a declared transition's event has a kind");
                let data = event_data(definition, event, transition);
                for &origin in Origin::ALL {
                    let at = format!("{}: {} --{event} ({origin})-->", definition.name, state.name);
                    let allowed = origin == Origin::Operator || origin == usual_origin(kind);
                    assert_eq!(origin_allows(origin, kind), allowed, "{at}: origin_allows");
                    match send(definition, state.name.as_str(), event.as_str(), &data, origin) {
                        Ok(_) if allowed => {}
                        Err(Refusal::OriginNotAllowed { event: e, kind: k, origin: o }) if !allowed => {
                            assert_eq!((e.as_str(), k, o), (event.as_str(), kind, origin), "{at}: names the refusal");
                        }
                        other => panic!("{at}: allowed={allowed}, got {other:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn every_state_refuses_the_events_it_does_not_declare_and_final_states_refuse_all() {
    for definition in definitions() {
        for state in definition.states.values() {
            let allowed: Vec<String> = state.transitions.keys().map(ToString::to_string).collect();
            for (event, kind) in &definition.events {
                if state.transitions.contains_key(event) {
                    continue;
                }
                let at = format!("{}: {} --{event}-->", definition.name, state.name);
                match send(definition, state.name.as_str(), event.as_str(), &json!({}), usual_origin(*kind)) {
                    Err(Refusal::EventNotAllowed { event: e, state: s, allowed: a }) => {
                        assert_eq!((e.as_str(), s.as_str()), (event.as_str(), state.name.as_str()), "{at}");
                        assert_eq!(a, allowed, "{at}: lists the events the state allows");
                    }
                    other => panic!("{at}: wanted EventNotAllowed, got {other:?}"),
                }
            }
            if !state.is_final {
                continue;
            }
            assert!(state.transitions.is_empty(), "{}: final state {} has transitions", definition.name, state.name);
            for (event, kind) in &definition.events {
                let at = format!("{}: finished in {} --{event}-->", definition.name, state.name);
                for origin in [usual_origin(*kind), Origin::Operator] {
                    let status = InstanceStatus::Finished;
                    let result = run(
                        definition,
                        state.name.as_str(),
                        status,
                        &definition.sample,
                        event.as_str(),
                        &json!({}),
                        origin,
                    );
                    match result {
                        Err(Refusal::InstanceFinished { state: s, event: e }) => {
                            assert_eq!((s.as_str(), e.as_str()), (state.name.as_str(), event.as_str()), "{at}");
                        }
                        other => panic!("{at} from {origin}: wanted InstanceFinished, got {other:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn start_enters_the_initial_state_of_every_shipped_workflow() {
    for definition in definitions() {
        let at = format!("{}: start", definition.name);
        let decision = start(definition, definition.sample.clone(), &addresses(), NOW)
            .unwrap_or_else(|err| panic!("{at}: refused the sample: {err}"));
        let initial = definition.state(&definition.initial).expect("the initial state exists");
        assert_eq!(decision.from, None, "{at}");
        assert_eq!(decision.to, definition.initial, "{at}");
        assert_eq!(decision.status, InstanceStatus::Active, "{at}: the initial state is not final");
        assert_eq!(decision.context, definition.sample, "{at}: the context is the input");
        let sorted = sort(&decision.effects);
        assert_eq!(sorted.cancels, 0, "{at}: nothing to cancel yet");
        assert!(sorted.merges.is_empty() && sorted.directory.is_empty(), "{at}: no CSP effect at start");
        let timers: Vec<(String, i64)> = initial.timers.iter().map(|t| (t.name.clone(), due_after(t.after))).collect();
        assert_eq!(sorted.timers, timers, "{at}: arms the initial state's timers");
        let emails = mailed(definition, &initial.emails, &definition.sample);
        assert_eq!(sorted.emails, emails, "{at}: sends the initial state's emails");
    }
}

mod cases;
mod parties;
