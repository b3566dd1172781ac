//! Instances and their history: the engine's contract over `InstanceStore` (a step written whole
//! or not at all, at the version read, once per idempotency key), on SQLite and PostgreSQL alike.

use accord::engine::{EngineError, EventRequest, Refusal, StartRequest};
use accord::ids::InstanceId;
use accord::store::{Commit, CommitError, EmailStatus, InstanceStatus, ListFilter, Origin, TimerStatus};
use serde_json::json;

use crate::helpers::{operator, signup_request, spawn_app, Backend};

crate::on_each_store!(
    start_enters_the_initial_state_with_its_timers_and_email,
    refused_input_names_every_field_and_writes_nothing,
    unknown_workflow_instance_and_event_are_distinct_errors,
    event_not_allowed_names_the_current_state,
    guard_refusal_gives_the_reason_and_changes_nothing,
    finished_instances_refuse_every_event,
    replayed_idempotency_key_returns_the_first_outcome,
    reused_key_with_other_data_is_refused,
    start_with_the_same_key_returns_the_first_instance,
    concurrent_events_apply_exactly_once,
    stale_commit_is_refused_by_the_store,
    a_refused_commit_writes_nothing,
    callers_may_only_send_their_kind_of_event,
    listing_filters_by_workflow_and_state,
    listing_searches_the_context_filters_by_status_and_pages_in_a_stable_order,
);

async fn start_enters_the_initial_state_with_its_timers_and_email(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let now = accord::clock::Clock::now(t.clock.as_ref()).millis();
    let outcome = t.engine().start(signup_request()).await.unwrap();
    assert_eq!(outcome.instance.state.as_str(), "awaiting_verification");
    assert_eq!(outcome.instance.status, InstanceStatus::Active);
    assert!(!outcome.replayed);

    let view = t.engine().view(outcome.instance.id).await.unwrap();
    assert_eq!(view.history.len(), 1);
    assert_eq!(view.history[0].to_state.as_str(), "awaiting_verification");
    let timers: Vec<(&str, i64, TimerStatus)> =
        view.timers.iter().map(|t| (t.name.as_str(), t.due_at.millis() - now, t.status)).collect();
    let day = 86_400_000;
    assert_eq!(timers, [("reminder", 2 * day, TimerStatus::Armed), ("expiry", 7 * day, TimerStatus::Armed)]);
    assert_eq!(view.emails.len(), 1);
    assert_eq!(view.emails[0].template, "verify_email");
    assert_eq!(view.emails[0].recipient, "anna.rossi@contoso.it");
    assert_eq!(view.emails[0].links.0, ["verify", "not_me"]);
    assert_eq!(view.emails[0].status, EmailStatus::Queued);
    // The input was normalised on the way in.
    assert_eq!(view.instance.context.0["contact"]["locale"], "it-CH");
}

async fn refused_input_names_every_field_and_writes_nothing(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let input = json!({ "contact": { "name": "Anna", "email": "Anna@GMail.com", "locale": "italian", "fax": "1" } });
    let request = StartRequest { input, ..signup_request() };
    let Err(EngineError::InvalidInput(fields)) = t.engine().start(request).await else { panic!("input accepted") };
    let found: Vec<(&str, &str)> = fields.iter().map(|f| (f.field.as_str(), f.code)).collect();
    assert_eq!(
        found,
        [
            ("company.name", "required"),
            ("contact.email", "webmail_address"),
            ("contact.locale", "invalid_locale"),
            ("contact.fax", "unknown_field"),
        ]
    );
    let listed = t.engine().store().list_instances(&ListFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert!(listed.is_empty(), "a refused start wrote an instance");
}

async fn unknown_workflow_instance_and_event_are_distinct_errors(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let request = StartRequest { workflow: "no_such_flow".into(), ..signup_request() };
    match t.engine().start(request).await {
        Err(err @ EngineError::UnknownWorkflow { .. }) => {
            assert_eq!(err.code(), "unknown_workflow");
            assert!(err.to_string().contains("example_signup"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let missing = InstanceId::generate();
    assert!(
        matches!(t.send(missing, "verify", json!(null)).await, Err(EngineError::UnknownInstance(id)) if id == missing)
    );
    let id = t.start_signup().await;
    match t.send(id, "teleport", json!(null)).await {
        Err(err @ EngineError::Refused(Refusal::UnknownEvent { .. })) => {
            assert!(err.to_string().contains("approve"), "{err}")
        }
        other => panic!("{other:?}"),
    }
}

async fn event_not_allowed_names_the_current_state(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    match t.send(id, "approve", json!(null)).await {
        Err(EngineError::Refused(Refusal::EventNotAllowed { state, event, allowed })) => {
            assert_eq!((state.as_str(), event.as_str()), ("awaiting_verification", "approve"));
            assert!(allowed.contains(&"verify".to_owned()), "{allowed:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.state(id).await, "awaiting_verification");
}

async fn guard_refusal_gives_the_reason_and_changes_nothing(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "verify", json!(null)).await.unwrap();
    let before = t.engine().view(id).await.unwrap();
    match t.send(id, "reject", json!({ "reason": "  " })).await {
        Err(EngineError::Refused(Refusal::GuardRefused { guard, reason })) => {
            assert_eq!(guard, "has_reason");
            assert!(reason.contains("reason"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let after = t.engine().view(id).await.unwrap();
    assert_eq!(after.instance.version, before.instance.version);
    assert_eq!(after.history.len(), before.history.len());
    assert_eq!(after.emails.len(), before.emails.len());

    let outcome = t.send(id, "reject", json!({ "reason": "the company could not be verified" })).await.unwrap();
    assert_eq!(outcome.instance.state.as_str(), "rejected");
    // record_data kept the reason for later emails.
    assert_eq!(outcome.instance.context.0["reject"]["reason"], "the company could not be verified");
}

async fn finished_instances_refuse_every_event(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "not_me", json!(null)).await.unwrap();
    match t.send(id, "verify", json!(null)).await {
        Err(err @ EngineError::Refused(Refusal::InstanceFinished { .. })) => {
            assert!(err.to_string().contains("withdrawn"), "{err}")
        }
        other => panic!("{other:?}"),
    }
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.instance.status, InstanceStatus::Finished);
    assert!(view.timers.iter().all(|t| t.status == TimerStatus::Cancelled), "{:?}", view.timers);
}

async fn replayed_idempotency_key_returns_the_first_outcome(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    let first = t.engine().apply(id, operator("verify", json!(null), Some("click-1"))).await.unwrap();
    assert!(!first.replayed);
    // The instance has moved on (verify is no longer allowed), yet the replay is the first outcome.
    let again = t.engine().apply(id, operator("verify", json!(null), Some("click-1"))).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.event.id, first.event.id);
    assert_eq!(again.event.to_state.as_str(), "in_review");
    let history = t.engine().store().history(id).await.unwrap();
    assert_eq!(history.iter().filter(|h| h.event.as_str() == "verify").count(), 1);
}

async fn reused_key_with_other_data_is_refused(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "verify", json!(null)).await.unwrap();
    t.engine().apply(id, operator("reject", json!({"reason": "a"}), Some("k"))).await.unwrap();
    let err = t.engine().apply(id, operator("reject", json!({"reason": "b"}), Some("k"))).await.unwrap_err();
    assert_eq!(err.code(), "idempotency_key_reused");
}

async fn start_with_the_same_key_returns_the_first_instance(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let request = StartRequest { idempotency_key: Some("signup-42".into()), ..signup_request() };
    let first = t.engine().start(request.clone()).await.unwrap();
    let again = t.engine().start(request.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.instance.id, first.instance.id);
    let mut other = request;
    other.input["company"]["name"] = json!("Fabrikam");
    assert_eq!(t.engine().start(other).await.unwrap_err().code(), "idempotency_key_reused");
    let listed = t.engine().store().list_instances(&ListFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);
}

async fn concurrent_events_apply_exactly_once(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "verify", json!(null)).await.unwrap();
    // Eight reviewers decide at once, each with their own key: one decision wins.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let engine = t.engine().clone();
        let event = if n % 2 == 0 { "approve" } else { "withdraw" };
        tasks.push(tokio::spawn(async move {
            engine.apply(id, operator(event, json!(null), Some(&format!("r{n}")))).await
        }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) if !outcome.replayed => applied += 1,
            Ok(outcome) => panic!("unexpected replay {outcome:?}"),
            Err(EngineError::Refused(Refusal::InstanceFinished { .. })) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(applied, 1);
    let history = t.engine().store().history(id).await.unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history.iter().map(|h| h.seq).collect::<Vec<_>>(), [1, 2, 3]);

    // The same click delivered eight times at once: applied once, replayed seven times.
    let id = t.start_signup().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = t.engine().clone();
        tasks.push(tokio::spawn(
            async move { engine.apply(id, operator("verify", json!(null), Some("same-click"))).await },
        ));
    }
    let mut replays = 0;
    for task in tasks {
        replays += usize::from(task.await.unwrap().unwrap().replayed);
    }
    assert_eq!(replays, 7);
    assert_eq!(t.engine().store().history(id).await.unwrap().len(), 2);
}

async fn stale_commit_is_refused_by_the_store(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    let first = t.send(id, "verify", json!(null)).await.unwrap();
    // Replaying the commit that moved version 1 to 2 must not apply on version 2.
    let history = t.engine().store().history(id).await.unwrap();
    let mut step_history = history[1].clone();
    step_history.id = accord::ids::EventId::generate();
    step_history.idempotency_key = "another".into();
    let stale = Commit {
        instance: id,
        expected_version: 1,
        state: first.instance.state.clone(),
        status: InstanceStatus::Active,
        context: first.instance.context.clone(),
        at: first.instance.updated_at,
        step: accord::store::Step {
            history: step_history,
            cancel_armed_timers: false,
            fired_timer: None,
            arm: vec![],
            emails: vec![],
            links: vec![],
            supersede: vec![],
            used_link: None,
            directory: vec![],
            cancel_unsent: false,
        },
    };
    assert!(matches!(t.engine().store().commit(&stale).await, Err(CommitError::Conflict)));
    assert_eq!(t.engine().store().history(id).await.unwrap().len(), 2, "nothing half-written");
}

/// A commit at the right version that the store refuses part-way (a used idempotency key, a link
/// no longer active, a timer claim that no longer holds) leaves no row of it behind.
async fn a_refused_commit_writes_nothing(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    let moved = t.send(id, "verify", json!(null)).await.unwrap();
    let store = t.engine().store().clone();
    let before = t.engine().view(id).await.unwrap();
    let commit = |key: &str| {
        let mut history = before.history[1].clone();
        history.id = accord::ids::EventId::generate();
        history.seq = 3;
        history.idempotency_key = key.into();
        let mut timer = before.timers[0].clone();
        timer.id = accord::ids::TimerId::generate();
        (timer.status, timer.settled_at, timer.attempts) = (TimerStatus::Armed, None, 0);
        let mut email = before.emails[0].clone();
        email.id = accord::ids::OutboxId::generate();
        Commit {
            instance: id,
            expected_version: 2,
            state: moved.instance.state.clone(),
            status: InstanceStatus::Active,
            context: moved.instance.context.clone(),
            at: moved.instance.updated_at,
            step: accord::store::Step {
                history,
                cancel_armed_timers: true,
                fired_timer: None,
                arm: vec![timer],
                emails: vec![email],
                links: vec![],
                supersede: vec![],
                used_link: None,
                directory: vec![],
                cancel_unsent: false,
            },
        }
    };
    let unchanged = || async {
        let view = t.engine().view(id).await.unwrap();
        assert_eq!(view.instance.version, 2);
        assert_eq!(view.history.len(), before.history.len());
        assert_eq!(view.emails.len(), before.emails.len());
        let statuses = |timers: &[accord::store::TimerRecord]| timers.iter().map(|t| t.status).collect::<Vec<_>>();
        assert_eq!(statuses(&view.timers), statuses(&before.timers), "no timer armed or cancelled");
    };

    let reused = commit(&before.history[1].idempotency_key);
    assert!(matches!(store.commit(&reused).await, Err(CommitError::DuplicateKey)));
    unchanged().await;

    let mut by_link = commit("by-link");
    by_link.step.used_link = Some("no-such-link".into());
    assert!(matches!(store.commit(&by_link).await, Err(CommitError::LinkSettled)));
    unchanged().await;

    let mut by_timer = commit("by-timer");
    by_timer.step.fired_timer = Some(accord::store::TimerClaim { id: before.timers[0].id, attempt: 7 });
    assert!(matches!(store.commit(&by_timer).await, Err(CommitError::TimerSettled)));
    unchanged().await;

    // The same commit without the stale parts applies, whole.
    store.commit(&commit("fine")).await.unwrap();
    let view = t.engine().view(id).await.unwrap();
    assert_eq!((view.instance.version, view.history.len()), (3, before.history.len() + 1));
    assert_eq!(view.emails.len(), before.emails.len() + 1);
    let armed_before: Vec<_> = before.timers.iter().filter(|timer| timer.status == TimerStatus::Armed).collect();
    assert!(!armed_before.is_empty(), "the state left has a timer to cancel");
    for timer in armed_before {
        let now = view.timers.iter().find(|t| t.id == timer.id).unwrap();
        assert_eq!(now.status, TimerStatus::Cancelled, "{}", timer.name);
    }
    let armed_now: Vec<_> = view.timers.iter().filter(|timer| timer.status == TimerStatus::Armed).collect();
    assert_eq!(armed_now.len(), 1, "only the timer the commit armed");
    assert!(!before.timers.iter().any(|timer| timer.id == armed_now[0].id));
}

async fn callers_may_only_send_their_kind_of_event(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "verify", json!(null)).await.unwrap();
    let as_pipeline = EventRequest { origin: Origin::Pipeline, ..operator("approve", json!(null), None) };
    let err = t.engine().apply(id, as_pipeline).await.unwrap_err();
    assert_eq!(err.code(), "forbidden_event", "{err}");
    let as_reviewer = EventRequest { origin: Origin::Reviewer, ..operator("approve", json!(null), None) };
    assert_eq!(t.engine().apply(id, as_reviewer).await.unwrap().instance.state.as_str(), "approved");
}

async fn listing_filters_by_workflow_and_state(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let a = t.start_signup().await;
    let b = t.start_signup().await;
    t.send(b, "verify", json!(null)).await.unwrap();
    let store = t.engine().store();
    let in_review = store
        .list_instances(&ListFilter {
            workflow: Some("example_signup".into()),
            state: Some("in_review".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(in_review.iter().map(|i| i.id).collect::<Vec<_>>(), [b]);
    let all = store.list_instances(&ListFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|i| i.id == a));
    let none = store
        .list_instances(&ListFilter { workflow: Some("other".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn listing_searches_the_context_filters_by_status_and_pages_in_a_stable_order(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let start = |company: &str, email: &str| {
        let mut request = signup_request();
        request.input["company"]["name"] = json!(company);
        request.input["contact"]["email"] = json!(email);
        request
    };
    let mut ids = Vec::new();
    for (company, email) in [
        ("Contoso Italia", "anna@contoso.it"),
        ("Fabrikam 100%_Cloud", "luca@fabrikam.example"),
        ("Northwind Traders", "giulia@northwind.example"),
        ("Adatum", "marco@adatum.example"),
    ] {
        ids.push(t.engine().start(start(company, email)).await.unwrap().instance.id);
        t.clock.advance(std::time::Duration::from_secs(1));
    }
    t.send(ids[3], "withdraw", json!(null)).await.unwrap();
    let store = t.engine().store();
    let list = |filter: ListFilter| async move {
        store
            .list_instances(&ListFilter { limit: 10, ..filter })
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    let search = |text: &str| ListFilter { search: Some(text.into()), ..Default::default() };
    assert_eq!(list(search("NORTHWIND")).await, [ids[2]], "a name, whatever its case");
    assert_eq!(list(search("luca@fabrikam")).await, [ids[1]], "an email address");
    assert_eq!(list(search("contoso.it")).await, [ids[0]], "a domain");
    assert_eq!(list(search("100%_")).await, [ids[1]], "% and _ are literal");
    assert!(list(search("0%C")).await.is_empty(), "% matches only itself");
    assert_eq!(list(search("  ")).await.len(), 4, "a blank search lists everything");
    let finished = ListFilter { status: Some(InstanceStatus::Finished), ..Default::default() };
    assert_eq!(list(finished).await, [ids[3]]);
    let active =
        ListFilter { status: Some(InstanceStatus::Active), search: Some("example".into()), ..Default::default() };
    assert_eq!(list(active).await, [ids[2], ids[1]], "newest first, filters combined");
    // Pages of two: newest first, no instance twice, none left out.
    let mut paged = Vec::new();
    for offset in [0, 2, 4] {
        let page = store.list_instances(&ListFilter { limit: 2, offset, ..Default::default() }).await.unwrap();
        paged.extend(page.iter().map(|i| i.id));
    }
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    assert_eq!(paged, newest_first);
}
