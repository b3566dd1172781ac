//! Parties of many recipients, lapsing when what the effects require no longer holds, and
//! branches taken on a context field.

use super::*;

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
    let recipients = super::super::recipients(definition, "reseller", &definition.sample, &addresses()).unwrap();
    assert_eq!(recipients.len(), 2);
    assert!(matches!(
        super::super::recipients(definition, "nobody", &definition.sample, &addresses()),
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
