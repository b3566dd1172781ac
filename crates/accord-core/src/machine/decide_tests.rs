//! Table-driven tests of [`decide`] and [`start`] over the shipped workflows (the CSP effects
//! they call are tested in `csp_effect_tests.rs`). No database: the definitions are read from the
//! repository's `workflows/` once per test process (their templates are the application's to
//! check: `accord check`).

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

// ---------------------------------------------------------------------------------------------
// 2. Hand-written cases, with the expected outcome read off the TOML files.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Want {
    /// Goes to `to`; `cancels` says whether the armed timers are cancelled; the timers armed
    /// (name, delay in ms) and the emails queued (template, recipient), in order.
    Moves {
        to: &'static str,
        finished: bool,
        cancels: bool,
        timers: &'static [(&'static str, i64)],
        emails: &'static [(&'static str, &'static str)],
    },
    /// Refused by the named guard (or effect), with a reason that mentions the text.
    GuardRefused(&'static str, &'static str),
    UnknownEvent,
    EventNotAllowed(&'static [&'static str]),
    OriginNotAllowed(EventKind),
    InstanceFinished,
    /// A definition problem whose message mentions the text.
    Definition(&'static str),
}

/// An event sent to an instance.
struct Given {
    workflow: &'static str,
    state: &'static str,
    status: InstanceStatus,
    event: &'static str,
    origin: Origin,
    data: Value,
    /// Changes the sample context before the event.
    edit: Edit,
}

struct Case {
    given: Given,
    want: Want,
}

/// `event` from `origin` to an active instance in `state`, with data `{}` and the sample context.
fn on(workflow: &'static str, state: &'static str, event: &'static str, origin: Origin) -> Given {
    Given { workflow, state, status: InstanceStatus::Active, event, origin, data: json!({}), edit: Edit::Keep }
}

impl Given {
    fn data(self, data: Value) -> Self {
        Self { data, ..self }
    }

    fn finished(self) -> Self {
        Self { status: InstanceStatus::Finished, ..self }
    }

    fn context(self, edit: Edit) -> Self {
        Self { edit, ..self }
    }

    fn wants(self, want: Want) -> Case {
        Case { given: self, want }
    }
}

const fn moves(
    to: &'static str,
    cancels: bool,
    timers: &'static [(&'static str, i64)],
    emails: &'static [(&'static str, &'static str)],
) -> Want {
    Want::Moves { to, finished: false, cancels, timers, emails }
}

const fn finishes(to: &'static str, emails: &'static [(&'static str, &'static str)]) -> Want {
    Want::Moves { to, finished: true, cancels: true, timers: &[], emails }
}

fn cases() -> Vec<Case> {
    use Origin::{Link, Operator, Pipeline, Reviewer, Schedule, Timer};
    use Want::{EventNotAllowed, GuardRefused, InstanceFinished, OriginNotAllowed, UnknownEvent};
    let reject = |data: Value| on("enrollment", "in_review", "reject", Reviewer).data(data);
    vec![
        // Guards.
        reject(json!({})).wants(GuardRefused("has_reason", "reason")),
        reject(json!({ "reason": "  " })).wants(GuardRefused("has_reason", "reason")),
        reject(json!({ "reason": 42 })).wants(GuardRefused("has_reason", "reason")),
        reject(Value::Null).wants(GuardRefused("has_reason", "reason")),
        reject(json!({ "reason": "Unverifiable" })).wants(finishes("rejected", &[("status_rejected", ANNA)])),
        on("example_signup", "in_review", "request_info", Reviewer)
            .data(json!({ "reason": "the wrong key" }))
            .wants(GuardRefused("has_message", "message")),
        on("enrollment", "in_review", "request_info", Reviewer).data(json!({ "message": "VAT number?" })).wants(moves(
            "awaiting_information",
            true,
            &[("information_expiry", 30 * DAY)],
            &[("information_request", ANNA)],
        )),
        // A CSP effect that refuses is reported as a refusal under the effect's name.
        on("customer_agreement", "requested", "accept", Link)
            .context(Edit::Set("customer.id", json!("not-an-id")))
            .wants(GuardRefused("accept_customer_agreement", "customer.id")),
        // Unknown events, and events the state does not take.
        on("example_signup", "in_review", "launch_rockets", Operator).wants(UnknownEvent),
        on("example_signup", "in_review", "Approve!", Operator).wants(UnknownEvent),
        on("enrollment", "active", "launch_rockets", Operator).finished().wants(UnknownEvent),
        on("enrollment", "awaiting_verification", "approve", Reviewer).wants(EventNotAllowed(&[
            "not_me",
            "remind_verification",
            "verification_expired",
            "verify",
            "withdraw",
        ])),
        on("enrollment", "awaiting_agreement", "answer", Link).wants(EventNotAllowed(&[
            "accept_agreement",
            "remind_agreement",
            "withdraw",
        ])),
        on("example_signup", "awaiting_information", "digest", Schedule)
            .wants(EventNotAllowed(&["answer", "withdraw"])),
        // Origins.
        on("enrollment", "in_review", "approve", Pipeline).wants(OriginNotAllowed(EventKind::Decision)),
        on("enrollment", "in_review", "reject", Pipeline).wants(OriginNotAllowed(EventKind::Decision)),
        on("customer_invitation", "invited", "withdraw", Link).wants(OriginNotAllowed(EventKind::Signal)),
        on("enrollment", "awaiting_verification", "verify", Reviewer).wants(OriginNotAllowed(EventKind::Link)),
        on("customer_agreement", "requested", "expire", Pipeline).wants(OriginNotAllowed(EventKind::Timer)),
        on("example_signup", "in_review", "digest", Timer).wants(OriginNotAllowed(EventKind::Schedule)),
        on("provider_invitation", "invited", "cancel", Origin::Start).wants(OriginNotAllowed(EventKind::Signal)),
        // Finished instances.
        on("enrollment", "active", "withdraw", Pipeline).finished().wants(InstanceFinished),
        on("customer_invitation", "accepted", "accept", Operator).finished().wants(InstanceFinished),
        on("provider_invitation", "declined", "remind", Timer).finished().wants(InstanceFinished),
        // Operators may send any kind.
        on("enrollment", "in_review", "approve", Operator).wants(moves(
            "awaiting_agreement",
            true,
            &[("agreement_reminder", 7 * DAY)],
            &[("status_approved", ANNA), ("agreement_request", MARCO)],
        )),
        on("enrollment", "awaiting_verification", "verify", Operator).wants(moves(
            "in_review",
            true,
            &[("review_deadline", 5 * DAY)],
            &[("status_in_review", ANNA)],
        )),
        on("provider_invitation", "invited", "expire", Operator).wants(finishes("expired", &[])),
        on("customer_invitation", "invited", "withdraw", Operator).wants(finishes("withdrawn", &[])),
        on("example_signup", "in_review", "digest", Operator).wants(moves("in_review", false, &[], &[])),
        // Timers: a reminder stays (the state's other timers keep running), an expiry leaves.
        on("enrollment", "awaiting_verification", "remind_verification", Timer).wants(moves(
            "awaiting_verification",
            false,
            &[],
            &[("verify_reminder", ANNA)],
        )),
        on("enrollment", "awaiting_verification", "verification_expired", Timer)
            .wants(finishes("expired", &[("status_expired", ANNA)])),
        on("enrollment", "awaiting_agreement", "remind_agreement", Timer).wants(moves(
            "awaiting_agreement",
            false,
            &[],
            &[("agreement_reminder", MARCO)],
        )),
        on("enrollment", "in_review", "review_overdue", Timer).wants(moves(
            "in_review",
            false,
            &[],
            &[("review_overdue", REVIEWERS)],
        )),
        on("customer_agreement", "requested", "remind", Timer).wants(moves(
            "requested",
            false,
            &[],
            &[("reminder", GIULIA)],
        )),
        on("customer_agreement", "requested", "expire", Timer).wants(finishes("expired", &[])),
        // A party of many recipients: one email each.
        on("provider_invitation", "invited", "remind", Timer).wants(moves(
            "invited",
            false,
            &[],
            &[("reminder", CONTOSO_ADMIN), ("reminder", CONTOSO_IT)],
        )),
        on("example_signup", "in_review", "review_overdue", Timer).wants(moves(
            "in_review",
            false,
            &[],
            &[("review_overdue", REVIEWERS)],
        )),
        on("example_signup", "in_review", "digest", Schedule).wants(moves("in_review", false, &[], &[])),
        // Re-entering a state re-arms its timers.
        on("enrollment", "awaiting_information", "answer", Link)
            .data(json!({ "answer": "IT12345678901" }))
            .wants(moves("in_review", true, &[("review_deadline", 5 * DAY)], &[("status_in_review", ANNA)])),
        on("provider_invitation", "invited", "authorize", Link)
            .wants(finishes("authorized", &[("authorized", CONTOSO_ADMIN), ("authorized", CONTOSO_IT)])),
        on("provider_invitation", "invited", "remind", Timer)
            .context(Edit::Set("reseller.admins", json!([])))
            .wants(Want::Definition("nobody at `reseller.admins`")),
        on("provider_invitation", "invited", "remind", Timer)
            .context(Edit::Set("reseller.admins", json!([{ "name": "Nobody" }])))
            .wants(Want::Definition("has no email address")),
        // Definition problems found at run time.
        on("enrollment", "limbo", "withdraw", Pipeline).wants(Want::Definition("which its definition lacks")),
        reject(json!({ "reason": "Unverifiable" }))
            .context(Edit::Remove("primary_contact.email"))
            .wants(Want::Definition("primary_contact.email")),
    ]
}

fn check_case(case: &Case) {
    let given = &case.given;
    let definition = definition(given.workflow);
    let at = format!("{}: {} --{} ({})-->", given.workflow, given.state, given.event, given.origin);
    let mut context = definition.sample.clone();
    given.edit.apply(&mut context);
    let result = run(definition, given.state, given.status, &context, given.event, &given.data, given.origin);
    match (&case.want, result) {
        (&Want::Moves { to, finished, cancels, timers, emails }, Ok(decision)) => {
            assert_eq!(decision.to.as_str(), to, "{at}: target");
            let status = if finished { InstanceStatus::Finished } else { InstanceStatus::Active };
            assert_eq!(decision.status, status, "{at}: status");
            let sorted = sort(&decision.effects);
            assert_eq!(sorted.cancels, usize::from(cancels), "{at}: CancelTimers");
            let want_timers: Vec<(String, i64)> =
                timers.iter().map(|(name, delay)| ((*name).to_owned(), NOW.millis() + delay)).collect();
            assert_eq!(sorted.timers, want_timers, "{at}: armed timers");
            let got_emails: Vec<(&str, &str)> =
                sorted.emails.iter().map(|(spec, to)| (spec.template.as_str(), to.as_str())).collect();
            assert_eq!(got_emails, emails, "{at}: emails");
        }
        (&Want::GuardRefused(name, mentions), Err(Refusal::GuardRefused { guard, reason })) => {
            assert_eq!(guard, name, "{at}: names the guard");
            assert!(reason.contains(mentions), "{at}: the reason `{reason}` mentions `{mentions}`");
        }
        (Want::UnknownEvent, Err(Refusal::UnknownEvent { event, workflow, known })) => {
            assert_eq!((event.as_str(), workflow.as_str()), (given.event, given.workflow), "{at}");
            let declared: Vec<String> = definition.events.keys().map(ToString::to_string).collect();
            assert_eq!(known, declared, "{at}: lists the workflow's events");
        }
        (Want::EventNotAllowed(allowed), Err(Refusal::EventNotAllowed { event, state, allowed: got })) => {
            assert_eq!((event.as_str(), state.as_str()), (given.event, given.state), "{at}");
            assert_eq!(got, *allowed, "{at}: lists the events the state allows");
        }
        (&Want::OriginNotAllowed(kind), Err(Refusal::OriginNotAllowed { event, kind: got, origin })) => {
            assert_eq!((event.as_str(), got, origin), (given.event, kind, given.origin), "{at}");
        }
        (Want::InstanceFinished, Err(Refusal::InstanceFinished { state, event })) => {
            assert_eq!((state.as_str(), event.as_str()), (given.state, given.event), "{at}");
        }
        (Want::Definition(mentions), Err(Refusal::Definition(message))) => {
            assert!(message.contains(mentions), "{at}: `{message}` mentions `{mentions}`");
        }
        (want, got) => panic!("{at}: wanted {want:?}, got {got:?}"),
    }
}

#[test]
fn hand_written_decide_cases() {
    let cases = cases();
    assert!(cases.len() >= 40, "the table lost rows");
    for case in &cases {
        check_case(case);
    }
}

#[test]
fn an_email_to_a_configured_party_needs_its_address() {
    let definition = definition("example_signup");
    let state = state_name("in_review");
    let current =
        Current { instance_id: INSTANCE, state: &state, status: InstanceStatus::Active, context: &definition.sample };
    let incoming = Incoming { event: "review_overdue", data: &json!({}), origin: Origin::Timer, by: None };
    match decide(definition, &registry(), current, &incoming, &Addresses::new(), NOW) {
        Err(Refusal::Definition(message)) => {
            assert!(message.contains("[parties] reviewers"), "names the missing key: {message}");
        }
        other => panic!("wanted a Definition error, got {other:?}"),
    }
}

#[test]
fn decide_hands_the_instance_and_its_context_to_the_effects() {
    let enrollment = definition("enrollment");
    let decision = send(enrollment, "in_review", "approve", &json!({}), Origin::Reviewer).expect("approve applies");
    match sort(&decision.effects).directory.as_slice() {
        [DirectoryChange::CreatePartner(partner)] => {
            assert_eq!(partner.id, INSTANCE, "the partner takes the enrollment's id");
            assert_eq!(partner.legal_name, "Contoso Italia S.r.l.");
        }
        other => panic!("wanted one CreatePartner, got {other:?}"),
    }
    let agreement = definition("customer_agreement");
    let decision = send(agreement, "requested", "accept", &json!({}), Origin::Link).expect("accept applies");
    assert_eq!(
        sort(&decision.effects).directory,
        [DirectoryChange::AcceptCustomerAgreement { customer: CUSTOMER, accepted_by: GIULIA.to_owned() }]
    );
}

#[test]
fn start_queues_the_initial_emails_and_arms_the_initial_timers() {
    type Row =
        (&'static str, &'static str, &'static [(&'static str, &'static str, bool)], &'static [(&'static str, i64)]);
    let rows: [Row; 6] = [
        (
            "enrollment",
            "awaiting_verification",
            &[("verify_email", ANNA, false)],
            &[("verification_reminder", 2 * DAY), ("verification_expiry", 7 * DAY)],
        ),
        (
            "example_signup",
            "awaiting_verification",
            &[("verify_email", ANNA, false)],
            &[("reminder", 2 * DAY), ("expiry", 7 * DAY)],
        ),
        ("customer_invitation", "invited", &[("invitation", GIULIA, true)], &[("expiry", 30 * DAY)]),
        ("dual_customer_invitation", "invited", &[("invitation", GIULIA, true)], &[("expiry", 30 * DAY)]),
        (
            "customer_agreement",
            "requested",
            &[("request", GIULIA, false)],
            &[("reminder", 7 * DAY), ("expiry", 30 * DAY)],
        ),
        (
            "provider_invitation",
            "invited",
            &[("invitation", CONTOSO_ADMIN, false), ("invitation", CONTOSO_IT, false)],
            &[("reminder", 7 * DAY), ("expiry", 30 * DAY)],
        ),
    ];
    for (workflow, initial, emails, timers) in rows {
        let decision = start(definition(workflow), definition(workflow).sample.clone(), &addresses(), NOW)
            .unwrap_or_else(|err| panic!("{workflow}: start refused: {err}"));
        assert_eq!(decision.to.as_str(), initial, "{workflow}: initial state");
        let sorted = sort(&decision.effects);
        let got: Vec<(&str, &str, bool)> =
            sorted.emails.iter().map(|(spec, to)| (spec.template.as_str(), to.as_str(), spec.draft)).collect();
        assert_eq!(got, emails, "{workflow}: emails (template, recipient, draft)");
        let want: Vec<(String, i64)> =
            timers.iter().map(|(name, delay)| ((*name).to_owned(), NOW.millis() + delay)).collect();
        assert_eq!(sorted.timers, want, "{workflow}: timers");
        assert_eq!(sorted.cancels, 0, "{workflow}: nothing to cancel");
    }
}

#[test]
fn start_refuses_an_input_without_the_address_of_a_party_it_mails() {
    let definition = definition("enrollment");
    let mut input = definition.sample.clone();
    remove(&mut input, "primary_contact.email");
    match start(definition, input, &addresses(), NOW) {
        Err(Refusal::Definition(message)) => assert!(message.contains("primary_contact.email"), "{message}"),
        other => panic!("wanted a Definition error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Parties of many recipients, and lapsing when what the effects require no longer holds.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_party_of_many_recipients_gets_one_email_each_greeted_by_name() {
    let definition = definition("provider_invitation");
    let decision = start(definition, definition.sample.clone(), &addresses(), NOW).expect("the sample starts");
    let emails: Vec<(&str, Option<&str>)> = decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Email { recipient, name, .. } => Some((recipient.as_str(), name.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(emails, [(CONTOSO_ADMIN, Some("Marco Bianchi")), (CONTOSO_IT, Some("Paola Neri"))]);
    let recipients = super::recipients(definition, "reseller", &definition.sample, &addresses()).unwrap();
    assert_eq!(recipients.len(), 2);
    assert!(matches!(
        super::recipients(definition, "nobody", &definition.sample, &addresses()),
        Err(Refusal::Definition(_))
    ));
}

#[test]
fn an_accepting_transition_lapses_to_its_otherwise_state_with_none_of_its_effects() {
    for (workflow, event) in [
        ("provider_invitation", "authorize"),
        ("customer_invitation", "accept"),
        ("dual_customer_invitation", "accept"),
    ] {
        let definition = definition(workflow);
        let at = format!("{workflow}: invited --{event}--> (unmet)");
        let state = state_name("invited");
        let current = Current {
            instance_id: INSTANCE,
            state: &state,
            status: InstanceStatus::Active,
            context: &definition.sample,
        };
        let event = EventName::parse(event).unwrap();
        let decision = lapse(definition, current, &event, &addresses(), NOW)
            .unwrap_or_else(|err| panic!("{at}: {err}"))
            .unwrap_or_else(|| panic!("{at}: the transition has an `otherwise`"));
        assert_eq!((decision.to.as_str(), decision.status), ("lapsed", InstanceStatus::Finished), "{at}");
        assert_eq!(decision.context, definition.sample, "{at}: the context is unchanged");
        let sorted = sort(&decision.effects);
        assert_eq!(sorted.cancels, 1, "{at}: the state's timers are cancelled");
        assert!(sorted.directory.is_empty() && sorted.requires.is_empty(), "{at}: nothing of the effects");
        assert!(sorted.emails.is_empty() && sorted.timers.is_empty(), "{at}: `lapsed` sends and arms nothing");
    }
    // A transition without `otherwise`: nothing to lapse to, the event is refused instead.
    let definition = definition("provider_invitation");
    let state = state_name("invited");
    let current =
        Current { instance_id: INSTANCE, state: &state, status: InstanceStatus::Active, context: &definition.sample };
    let decline = EventName::parse("decline").unwrap();
    assert!(lapse(definition, current, &decline, &addresses(), NOW).unwrap().is_none());
    let limbo = state_name("limbo");
    let lost = Current { state: &limbo, ..current };
    assert!(matches!(lapse(definition, lost, &decline, &addresses(), NOW), Err(Refusal::Definition(_))));
}

#[test]
fn the_person_acting_reaches_the_effects() {
    let definition = definition("provider_invitation");
    let state = state_name("invited");
    let current =
        Current { instance_id: INSTANCE, state: &state, status: InstanceStatus::Active, context: &definition.sample };
    let incoming = Incoming { event: "authorize", data: &json!({}), origin: Origin::Link, by: Some(CONTOSO_IT) };
    let decision = decide(definition, &registry(), current, &incoming, &addresses(), NOW).expect("authorize applies");
    let holds = sort(&decision.effects).requires.into_iter().find_map(|p| match p {
        Precondition::HoldsRole { email, .. } => Some(email),
        _ => None,
    });
    assert_eq!(holds.as_deref(), Some(CONTOSO_IT), "the admin who clicked must still be an admin");
}

/// A branch takes the event elsewhere, with its own effects, when its context field holds true
/// (the enrollment's short path); otherwise the transition goes where it always did.
#[test]
fn a_branch_is_taken_only_when_its_field_holds_true() {
    let enrollment = definition("enrollment");
    let verify = |enrolled: Value| {
        let mut context = enrollment.sample.clone();
        context["csp"]["enrolled"] = enrolled;
        run(enrollment, "awaiting_verification", InstanceStatus::Active, &context, "verify", &json!({}), Origin::Link)
            .expect("verify applies")
    };
    let short = verify(json!(true));
    assert_eq!(short.to.as_str(), "awaiting_agreement");
    let created = short.effects.iter().any(|e| {
        matches!(e, Effect::Directory(crate::directory::DirectoryChange::CreatePartner(p))
            if p.id == INSTANCE && p.status == crate::directory::PartnerStatus::PendingAgreement)
    });
    assert!(created, "the reseller account is created on the short path: {:?}", short.effects);
    for not_enrolled in [json!(false), json!("true"), Value::Null] {
        let full = verify(not_enrolled.clone());
        assert_eq!(full.to.as_str(), "in_review", "{not_enrolled}");
        assert!(!full.effects.iter().any(|e| matches!(e, Effect::Directory(_))), "{not_enrolled}");
    }
}
