//! Durable timers and periodic jobs on a manual clock: no sleeping.

use std::time::Duration;

use accord::store::{Origin, TimerStatus};
use serde_json::json;

use crate::helpers::{spawn_app, Backend};

const DAY: Duration = Duration::from_secs(86_400);

crate::on_each_store!(
    a_due_timer_fires_once_and_its_transition_runs,
    leaving_a_state_cancels_its_timers,
    expiry_ends_the_instance,
    a_periodic_job_reaches_each_instance_once_per_tick,
);

async fn a_due_timer_fires_once_and_its_transition_runs(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    let scheduler = t.scheduler();
    assert_eq!(scheduler.fire_due().await.unwrap(), 0, "nothing is due yet");

    t.clock.advance(2 * DAY + Duration::from_secs(1));
    assert_eq!(scheduler.fire_due().await.unwrap(), 1);
    assert_eq!(scheduler.fire_due().await.unwrap(), 0, "a fired timer never fires again");

    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.instance.state.as_str(), "awaiting_verification", "the reminder stays in the state");
    let reminder = view.timers.iter().find(|t| t.name == "reminder").unwrap();
    assert_eq!(reminder.status, TimerStatus::Fired);
    let expiry = view.timers.iter().find(|t| t.name == "expiry").unwrap();
    assert_eq!(expiry.status, TimerStatus::Armed, "an internal transition keeps the state's other timers");
    let remind = view.history.iter().find(|h| h.event.as_str() == "remind").unwrap();
    assert_eq!(remind.origin, Origin::Timer);
    assert!(view.emails.iter().any(|e| e.template == "verify_reminder"), "{:?}", view.emails);
}

async fn leaving_a_state_cancels_its_timers(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.send(id, "verify", json!(null)).await.unwrap();
    t.clock.advance(8 * DAY);
    // Only the review deadline (armed on entering in_review) is left to fire.
    assert_eq!(t.scheduler().fire_due().await.unwrap(), 1);
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.instance.state.as_str(), "in_review");
    let mut statuses: Vec<(&str, TimerStatus)> = view.timers.iter().map(|t| (t.name.as_str(), t.status)).collect();
    statuses.sort_by_key(|(name, _)| *name);
    assert_eq!(
        statuses,
        [
            ("expiry", TimerStatus::Cancelled),
            ("reminder", TimerStatus::Cancelled),
            ("review_deadline", TimerStatus::Fired)
        ]
    );
    assert!(view.history.iter().all(|h| h.event.as_str() != "remind" && h.event.as_str() != "expire"));
    let escalation = view.emails.iter().find(|e| e.template == "review_overdue").expect("the reviewers are told");
    assert_eq!((escalation.party.as_str(), escalation.recipient.as_str()), ("reviewers", "reviewers@contoso.example"));
}

async fn expiry_ends_the_instance(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    t.clock.advance(30 * DAY);
    // Both the reminder and the expiry are overdue: both fire, in due order, exactly once.
    assert_eq!(t.scheduler().fire_due().await.unwrap(), 2);
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.instance.state.as_str(), "expired");
    let events: Vec<&str> = view.history.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(events, ["start", "remind", "expire"]);
}

async fn a_periodic_job_reaches_each_instance_once_per_tick(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let reviewing = t.start_signup().await;
    t.send(reviewing, "verify", json!(null)).await.unwrap();
    let waiting = t.start_signup().await;
    let scheduler = t.scheduler();
    // The clock starts on a Monday at 09:00; the first pass only notes the job.
    assert_eq!(scheduler.run_schedules().await.unwrap(), 0);
    t.clock.advance(Duration::from_secs(23 * 3600 + 1)); // Tuesday 08:00:01
    assert_eq!(scheduler.run_schedules().await.unwrap(), 1);
    assert_eq!(scheduler.run_schedules().await.unwrap(), 0, "one tick, one delivery");
    let digests = |id| {
        let engine = t.engine().clone();
        async move { engine.store().history(id).await.unwrap().iter().filter(|h| h.event.as_str() == "digest").count() }
    };
    assert_eq!(digests(reviewing).await, 1);
    assert_eq!(digests(waiting).await, 0, "only instances in the job's states");
}
