//! Figures for `/metrics`, read from the database at scrape time so every node reports the shared queues.

use async_trait::async_trait;

use super::{StoreError, StoreStats};
use accord_core::time::Timestamp;

#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Queue and timer figures for `/metrics`.
    async fn stats(&self, now: Timestamp) -> Result<StoreStats, StoreError>;
}

/// Implements [`StatsStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_stats_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::StatsStore for $store {
            async fn stats(
                &self,
                now: accord_core::time::Timestamp,
            ) -> Result<$crate::StoreStats, $crate::StoreError> {
                use $crate::{EmailStatus, TimerStatus};
                let outbox: Vec<(EmailStatus, i64)> =
                    sqlx::query_as::<$db, _>("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetch_all(&self.pool).await?;
                let (oldest_pending,): (Option<accord_core::time::Timestamp>,) =
                    sqlx::query_as::<$db, _>("SELECT MIN(created_at) FROM outbox WHERE status IN ($1, $2)")
                        .bind(EmailStatus::Queued)
                        .bind(EmailStatus::Sending)
                        .fetch_one(&self.pool)
                        .await?;
                let (oldest_due_timer,): (Option<accord_core::time::Timestamp>,) =
                    // Spelled as an OR so each side can use its partial index.
                    sqlx::query_as::<$db, _>(
                        "SELECT MIN(due_at) FROM timers WHERE (status = $1 AND due_at <= $2) OR (status = $3 AND due_at <= $2)",
                    )
                        .bind(TimerStatus::Armed)
                        .bind(now)
                        .bind(TimerStatus::Firing)
                        .fetch_one(&self.pool)
                        .await?;
                let (armed_timers,): (i64,) = sqlx::query_as::<$db, _>("SELECT COUNT(*) FROM timers WHERE status = $1")
                    .bind(TimerStatus::Armed)
                    .fetch_one(&self.pool)
                    .await?;
                let (lapsed_emails, oldest_email_claim): (i64, Option<accord_core::time::Timestamp>) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FILTER (WHERE next_attempt_at <= $2), MIN(claimed_at) FROM outbox WHERE status = $1",
                )
                .bind(EmailStatus::Sending)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let (lapsed_timers, oldest_timer_claim): (i64, Option<accord_core::time::Timestamp>) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FILTER (WHERE lease_until <= $2), MIN(claimed_at) FROM timers WHERE status = $1",
                )
                .bind(TimerStatus::Firing)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let (stuck_instances,): (i64,) = sqlx::query_as::<$db, _>(
                    "SELECT COUNT(*) FROM instances i WHERE i.status = $1 AND i.id IN ( \
                       SELECT instance_id FROM outbox WHERE status = $2 \
                       UNION SELECT instance_id FROM timers WHERE (status = $3 AND due_at <= $5) OR (status = $4 AND due_at <= $5))",
                )
                .bind($crate::InstanceStatus::Active)
                .bind(EmailStatus::Failed)
                .bind(TimerStatus::Armed)
                .bind(TimerStatus::Firing)
                .bind(accord_core::time::Timestamp::from_millis(now.millis() - STUCK_AFTER_MILLIS))
                .fetch_one(&self.pool)
                .await?;
                let oldest_claim = match (oldest_email_claim, oldest_timer_claim) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok($crate::StoreStats {
                    outbox,
                    oldest_pending,
                    oldest_due_timer,
                    armed_timers,
                    lapsed_claims: lapsed_emails + lapsed_timers,
                    oldest_claim,
                    stuck_instances,
                })
            }
        }
    };
}

pub(crate) use impl_stats_store;
