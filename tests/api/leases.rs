//! Several nodes on one database: timers claimed under leases with fencing numbers, the
//! database's clock, and notifications that wake idle nodes.

use std::sync::Arc;
use std::time::Duration;

use accord::clock::{Clock, ManualClock, SystemClock, Timestamp};
use accord::engine::EngineError;
use accord::store::DatabaseClock;
use accord::store::{Origin, TimerStatus};

use crate::helpers::{spawn_app, Backend};

const DAY: Duration = Duration::from_secs(86_400);
const LEASE: Duration = Duration::from_secs(30);

crate::on_each_store!(
    schedulers_on_three_nodes_fire_each_timer_once_and_in_each_instances_order,
    a_lapsed_timer_claim_is_taken_over_and_the_old_claim_cannot_settle_it,
    a_node_whose_clock_is_off_keeps_the_databases_time,
    metrics_show_lapsed_claims_takeovers_and_stuck_instances,
);

async fn metrics_show_lapsed_claims_takeovers_and_stuck_instances(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    t.start_signup().await;
    let store = t.engine().store().clone();
    let metrics = || async { t.engine().metrics().render(store.as_ref(), t.clock.now()).await.unwrap() };
    let shows = |text: &str, line: &str| assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");

    // A dispatcher claims the email and its node dies: the claim lapses.
    let now = t.clock.now();
    assert_eq!(store.claim_due_emails(now, now.plus(LEASE), 10).await.unwrap().len(), 1);
    shows(&metrics().await, "accord_lapsed_claims 0");
    t.clock.advance(LEASE + Duration::from_secs(1));
    let text = metrics().await;
    shows(&text, "accord_lapsed_claims 1");
    shows(&text, "accord_oldest_claim_age_seconds 31.0");
    shows(&text, "accord_stuck_instances 0");

    // The reminder is two minutes overdue: the instance cannot move by itself.
    t.clock.advance(2 * DAY + Duration::from_secs(120) - LEASE - Duration::from_secs(1));
    shows(&metrics().await, "accord_stuck_instances 1");

    // A scheduler claims it and dies; another takes the claim over once it lapses.
    let now = t.clock.now();
    assert_eq!(store.claim_due_timers(now, now.plus(LEASE), 10).await.unwrap().len(), 1);
    t.clock.advance(LEASE + Duration::from_secs(1));
    assert_eq!(t.scheduler().fire_due().await.unwrap(), 1);
    let text = metrics().await;
    shows(&text, "accord_lease_takeovers_total{kind=\"timer\"} 1");
    shows(&text, "accord_stuck_instances 0");
}

async fn schedulers_on_three_nodes_fire_each_timer_once_and_in_each_instances_order(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(t.start_signup().await);
    }
    // The reminder (2 days) and the expiry (7 days) of every instance are both due.
    t.clock.advance(7 * DAY + Duration::from_secs(1));
    let nodes = (0..3).map(|_| {
        let scheduler = t.scheduler();
        tokio::spawn(async move { scheduler.fire_due().await.unwrap() })
    });
    let fired: usize = futures::future::join_all(nodes).await.into_iter().map(Result::unwrap).sum();
    assert_eq!(fired, 60, "two timers for each of 30 instances, each fired by exactly one node");
    for id in ids {
        let view = t.engine().view(id).await.unwrap();
        let timer_events: Vec<&str> =
            view.history.iter().filter(|h| h.origin == Origin::Timer).map(|h| h.event.as_str()).collect();
        assert_eq!(timer_events, ["remind", "expire"], "the reminder fires before the expiry, each once");
        assert_eq!(view.instance.state.as_str(), "expired");
        assert!(view.timers.iter().all(|timer| timer.status == TimerStatus::Fired && timer.attempts == 1));
    }
}

async fn a_lapsed_timer_claim_is_taken_over_and_the_old_claim_cannot_settle_it(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;
    let store = t.engine().store().clone();
    t.clock.advance(7 * DAY + Duration::from_secs(1));
    let now = t.clock.now();

    // Both timers are due, but only the earlier can be claimed while it is pending.
    let first = store.claim_due_timers(now, now.plus(LEASE), 10).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].name.as_str(), first[0].attempts, first[0].took_over), ("reminder", 1, false));
    assert!(store.claim_due_timers(now, now.plus(LEASE), 10).await.unwrap().is_empty(), "held under its lease");
    assert!(store.renew_timer_lease(first[0].claim(), now.plus(LEASE * 2)).await.unwrap(), "its node renews it");

    // Its node stops renewing: after the lease another node takes it over.
    let later = now.plus(LEASE * 2 + Duration::from_secs(1));
    let second = store.claim_due_timers(later, later.plus(LEASE), 10).await.unwrap();
    assert_eq!(second.len(), 1, "still only the reminder: the expiry waits for it");
    assert_eq!((second[0].id, second[0].attempts, second[0].took_over), (first[0].id, 2, true));

    // The first node comes back and finishes: its completion does not count.
    assert!(matches!(t.engine().fire_timer(&first[0]).await, Err(EngineError::TimerSettled)));
    assert!(!store.renew_timer_lease(first[0].claim(), later.plus(LEASE)).await.unwrap());
    assert!(!t.engine().view(id).await.unwrap().history.iter().any(|h| h.event.as_str() == "remind"));

    let fired = t.engine().fire_timer(&second[0]).await.unwrap();
    assert_eq!(fired.event.event.as_str(), "remind");
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.history.iter().filter(|h| h.event.as_str() == "remind").count(), 1);
    let reminder = view.timers.iter().find(|timer| timer.name == "reminder").unwrap();
    assert_eq!((reminder.status, reminder.attempts), (TimerStatus::Fired, 2));
    let expiry = store.claim_due_timers(later, later.plus(LEASE), 10).await.unwrap();
    assert_eq!(expiry.iter().map(|timer| timer.name.as_str()).collect::<Vec<_>>(), ["expiry"], "now the expiry");
}

async fn a_node_whose_clock_is_off_keeps_the_databases_time(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    // This node's clock runs an hour fast.
    let real = SystemClock.now();
    let node = Arc::new(ManualClock::new(Timestamp::from_millis(real.millis() + 3_600_000)));
    let clock = DatabaseClock::new(node.clone());
    let offset = clock.sync(t.engine().store().as_ref()).await.unwrap();
    assert!((offset + 3_600_000).abs() < 5_000, "measured offset {offset} ms");
    let skew = clock.now().millis() - SystemClock.now().millis();
    assert!(skew.abs() < 5_000, "the corrected clock is {skew} ms off the database's");
    node.advance(Duration::from_secs(10));
    assert!(clock.now().millis() - SystemClock.now().millis() >= 9_000, "it still moves with the node's clock");
}

mod postgres_only {
    use std::time::Duration;

    use accord::wake::Wake;

    use crate::helpers::{spawn_app, Backend};

    /// A start on one node queues an email; another node's listener hears of it at commit rather
    /// than at its next poll. Its timers, due in days, wake nobody.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_on_one_node_wakes_the_others() {
        let Some(t) = spawn_app(Backend::Postgres).await else { return };
        let other = accord::store::connect(&t.db.url, 2).await.unwrap();
        let wake = std::sync::Arc::new(Wake::default());
        let listener = tokio::spawn({
            let wake = wake.clone();
            async move { other.listen(wake).await }
        });
        // The listener rings once when it connects, for anything queued before it listened.
        tokio::time::timeout(Duration::from_secs(10), wake.outbox_queued()).await.expect("the listener connected");
        tokio::time::timeout(Duration::from_secs(10), wake.timer_armed()).await.expect("the listener connected");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), wake.outbox_queued()).await.is_err(),
            "nothing rings while nothing is queued"
        );
        t.start_signup().await;
        tokio::time::timeout(Duration::from_secs(5), wake.outbox_queued())
            .await
            .expect("the email woke the other node");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), wake.timer_armed()).await.is_err(),
            "timers due in days are left to the other nodes' polls"
        );
        listener.abort();
    }
}
