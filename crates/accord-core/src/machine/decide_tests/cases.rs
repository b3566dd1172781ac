//! Hand-written cases of [`decide`] and [`start`], with the expected outcome read off the TOML
//! files.

use super::*;

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
