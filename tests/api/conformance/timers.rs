//! Timers (`TimerStore`) and the step write: a state left while a scheduler claims one of its
//! timers still cancels it. Claims, leases and takeovers across nodes are in `leases.rs`.

use std::time::{Duration, Instant};

use accord::store::TimerStatus;
use serde_json::json;
use sqlx::{Connection, Row};

use crate::helpers::{spawn_app, Backend};

/// On PostgreSQL a step waits for a timer row that a claim holds, then rechecks its conditions
/// against the claimed row: a timer that went from armed to firing meanwhile must be cancelled
/// all the same (it was not, when the statuses came from a subquery that PostgreSQL joined).
/// SQLite has one writer at a time, so there is nothing to wait for there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_state_left_while_its_timer_is_being_claimed_cancels_it() {
    let Some(t) = spawn_app(Backend::Postgres).await else { return };
    let id = t.start_signup().await;
    let mut claim = sqlx::PgConnection::connect(&t.db.url).await.unwrap();
    let mut tx = claim.begin().await.unwrap();
    let claimed = sqlx::query(
        "UPDATE timers SET status = 'firing', attempts = attempts + 1 WHERE instance_id = $1 AND name = 'reminder'",
    )
    .bind(id.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(claimed.rows_affected(), 1);

    let engine = t.engine().clone();
    let leave =
        tokio::spawn(async move { engine.apply(id, crate::helpers::operator("verify", json!(null), None)).await });
    let mut watch = sqlx::PgConnection::connect(&t.db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap()
        .get(0);
        if waiting > 0 {
            break;
        }
        assert!(!leave.is_finished(), "the step did not wait for the claimed timer: {:?}", leave.await);
        assert!(Instant::now() < deadline, "the step never waited for the claimed timer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.commit().await.unwrap();

    let moved = leave.await.unwrap().expect("the state is left");
    assert_eq!(moved.instance.state.as_str(), "in_review");
    let view = t.engine().view(id).await.unwrap();
    let reminder = view.timers.iter().find(|timer| timer.name == "reminder").unwrap();
    assert_eq!(reminder.status, TimerStatus::Cancelled, "the claimed timer of the left state is cancelled");
    assert!(view
        .timers
        .iter()
        .filter(|timer| timer.state.as_str() == "awaiting_verification")
        .all(|timer| { timer.status == TimerStatus::Cancelled }));
}
