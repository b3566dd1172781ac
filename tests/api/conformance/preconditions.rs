//! A step's directory preconditions, on SQLite and PostgreSQL alike: each is checked in the
//! step's own transaction, before its directory changes; one that no longer holds fails the
//! whole step with `CommitError::Unmet` (its reason and subject), and nothing of it is written:
//! not the instance row, not the history, not the directory.

use accord::clock::Clock;
use accord::directory::{DirectoryChange, NewCustomer, PartnerKind, PartnerStatus, Role};
use accord::engine::transition::{Precondition, UnmetReason};
use accord::ids::{EventId, InstanceId};
use accord::store::{Commit, CommitError, DirectoryStep, InstanceStatus, Origin, Step};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::provider::{invitation, partner, ANNA, CARLA, CONTOSO, FABRIKAM};

crate::on_each_store!(a_step_is_written_only_if_what_it_requires_still_holds);

/// A step moving the started invitation `id` (at version 1) to `authorized`, requiring
/// `requires` before relating `reseller` and `provider`.
async fn authorize(
    t: &TestApp,
    id: InstanceId,
    key: &str,
    requires: Vec<Precondition>,
    relate: (uuid::Uuid, uuid::Uuid),
) -> Commit {
    let view = t.engine().view(id).await.unwrap();
    let mut history = view.history[0].clone();
    history.id = EventId::generate();
    history.seq = 2;
    history.event = "authorize".parse().unwrap();
    history.origin = Origin::Operator;
    history.from_state = Some(view.instance.state.clone());
    history.to_state = "authorized".parse().unwrap();
    history.idempotency_key = key.into();
    let mut directory: Vec<DirectoryStep> = requires.into_iter().map(DirectoryStep::Require).collect();
    directory.push(DirectoryStep::Change(DirectoryChange::RelateProvider { reseller: relate.0, provider: relate.1 }));
    Commit {
        instance: id,
        expected_version: 1,
        state: "authorized".parse().unwrap(),
        status: InstanceStatus::Finished,
        context: view.instance.context.clone(),
        at: t.clock.now(),
        step: Step {
            history,
            cancel_armed_timers: true,
            fired_timer: None,
            arm: vec![],
            emails: vec![],
            links: vec![],
            supersede: vec![],
            used_link: None,
            directory,
            cancel_unsent: false,
        },
    }
}

async fn a_step_is_written_only_if_what_it_requires_still_holds(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let reseller = partner(&t, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&t, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let pending = partner(&t, PartnerKind::IndirectReseller, PartnerStatus::PendingAgreement, "IT", &[]).await;
    let other = partner(&t, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let id = t.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    store
        .change_directory(
            &DirectoryChange::RelateProvider { reseller, provider: other },
            &accord::directory::Actor::system("test"),
            t.clock.now(),
        )
        .await
        .unwrap();
    let customer = NewCustomer {
        id: uuid::Uuid::new_v4(),
        name: "Northwind Traders".into(),
        domain: "northwind.example".into(),
        country: "IT".into(),
        cloud: accord::directory::Cloud::Public,
        admin_name: "Giulia Bianchi".into(),
        admin_email: "giulia@northwind.example".into(),
        locale: None,
    };
    let add = DirectoryChange::AddCustomer { customer, relationships: vec![] };
    store.change_directory(&add, &accord::directory::Actor::system("test"), t.clock.now()).await.unwrap();
    let audit = |subject: String| {
        let store = store.clone();
        async move { store.audit_log(&subject).await.unwrap().len() }
    };
    let audited = audit(format!("partner:{reseller}")).await;

    let active = |partner, kind, name: &str| Precondition::PartnerActive { partner, kind, name: name.into() };
    let role = |email: &str| Precondition::HoldsRole {
        partner: reseller,
        partner_name: CONTOSO.into(),
        email: email.into(),
        roles: vec![Role::GlobalAdmin],
    };
    let contact =
        |email: &str| Precondition::CustomerContact { domain: "northwind.example".into(), email: email.into() };
    let unmet = vec![
        (active(pending, PartnerKind::IndirectReseller, "Tailspin"), UnmetReason::PartnerNotActive, "Tailspin"),
        (active(provider, PartnerKind::IndirectReseller, FABRIKAM), UnmetReason::PartnerNotActive, FABRIKAM),
        (active(uuid::Uuid::new_v4(), PartnerKind::IndirectProvider, "Gone"), UnmetReason::PartnerNotActive, "Gone"),
        (
            Precondition::ProviderAuthorized { reseller, provider, provider_name: FABRIKAM.into() },
            UnmetReason::ProviderNotAuthorized,
            FABRIKAM,
        ),
        (
            Precondition::NotRelated { reseller, provider: other, provider_name: "Other".into() },
            UnmetReason::AlreadyRelated,
            "Other",
        ),
        (role(CARLA), UnmetReason::RoleRemoved, CONTOSO),
        (role("stranger@contoso.example"), UnmetReason::RoleRemoved, CONTOSO),
        (contact("attacker@evil.example"), UnmetReason::CustomerContactChanged, "northwind.example"),
    ];
    for (n, (precondition, reason, subject)) in unmet.into_iter().enumerate() {
        let at = format!("{precondition:?}");
        // What holds first, then what does not: the first unmet one is reported.
        let requires = vec![active(reseller, PartnerKind::IndirectReseller, CONTOSO), precondition];
        let commit = authorize(&t, id, &format!("unmet-{n}"), requires, (reseller, provider)).await;
        match store.commit(&commit).await {
            Err(CommitError::Unmet(unmet)) => {
                assert_eq!((unmet.reason, unmet.subject.as_str()), (reason, subject), "{at}");
                assert!(!unmet.message.is_empty(), "{at}");
            }
            other => panic!("{at}: wanted Unmet, got {other:?}"),
        }
        let view = t.engine().view(id).await.unwrap();
        assert_eq!((view.instance.version, view.history.len()), (1, 1), "{at}: nothing written");
        assert_eq!(view.instance.state.as_str(), "invited", "{at}");
        assert!(view.timers.iter().any(|t| t.status == accord::store::TimerStatus::Armed), "{at}: timers kept");
        assert_eq!(store.relationships(provider).await.unwrap().len(), 0, "{at}: no relationship");
        assert_eq!(audit(format!("partner:{reseller}")).await, audited, "{at}: no audit row");
    }

    // Everything holding (an admin in another case, the recorded contact in another case, a
    // tenant no customer has yet): written whole.
    let requires = vec![
        active(reseller, PartnerKind::IndirectReseller, CONTOSO),
        active(provider, PartnerKind::IndirectProvider, FABRIKAM),
        role(&ANNA.to_uppercase()),
        Precondition::NotRelated { reseller, provider, provider_name: FABRIKAM.into() },
        Precondition::ProviderAuthorized { reseller, provider: other, provider_name: "Other".into() },
        contact("Giulia@Northwind.Example"),
        Precondition::CustomerContact { domain: "new.example".into(), email: "anyone@new.example".into() },
    ];
    let commit = authorize(&t, id, "holds", requires, (reseller, provider)).await;
    store.commit(&commit).await.unwrap();
    assert_eq!(t.state(id).await, "authorized");
    let related = store.relationships(provider).await.unwrap();
    assert_eq!(related.iter().map(|r| r.reseller_id).collect::<Vec<_>>(), [reseller]);
    assert_eq!(audit(format!("partner:{reseller}")).await, audited + 1);
}
