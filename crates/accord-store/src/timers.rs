//! Durable timers: armed by steps, claimed under a lease by schedulers, settled once.

use async_trait::async_trait;

use super::{StoreError, TimerClaim, TimerRecord};
use accord_core::ids::InstanceId;
use accord_core::time::Timestamp;

#[async_trait]
pub trait TimerStore: Send + Sync {
    async fn timers(&self, id: InstanceId) -> Result<Vec<TimerRecord>, StoreError>;

    /// Claims up to `limit` timers due at `now` (armed, or firing under a lapsed lease) until
    /// `lease_until`, in one statement, oldest first. Each claim bumps `attempts`, the fencing
    /// number its completion must show. Only the earliest pending timer of an instance can be
    /// claimed, so one instance's timers fire in due order however many schedulers claim. On
    /// PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED`.
    async fn claim_due_timers(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<TimerRecord>, StoreError>;

    /// Extends a timer's claim to `until`; false when the claim no longer holds.
    async fn renew_timer_lease(&self, claim: TimerClaim, until: Timestamp) -> Result<bool, StoreError>;

    /// When the next armed timer is due.
    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Settles a claimed timer without a transition (its event no longer applies), if the claim
    /// still holds.
    async fn skip_timer(&self, claim: TimerClaim, at: Timestamp, note: &str) -> Result<bool, StoreError>;
}

/// Implements [`TimerStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_timer_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::TimerStore for $store {
            async fn timers(
                &self,
                id: accord_core::ids::InstanceId,
            ) -> Result<Vec<$crate::TimerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE instance_id = $1 ORDER BY created_at, due_at, name"
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn claim_due_timers(
                &self,
                now: accord_core::time::Timestamp,
                lease_until: accord_core::time::Timestamp,
                limit: i64,
            ) -> Result<Vec<$crate::TimerRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "UPDATE timers SET status = $1, attempts = attempts + 1, lease_until = $2, claimed_at = $3, \
                     took_over = (status = $1) \
                     WHERE id IN (SELECT t.id FROM timers t \
                       WHERE ((t.status = $4 AND t.due_at <= $3) OR (t.status = $1 AND t.lease_until <= $3)) \
                       AND NOT EXISTS (SELECT 1 FROM timers e WHERE e.instance_id = t.instance_id \
                         AND e.status IN ($4, $1) AND (e.due_at < t.due_at OR (e.due_at = t.due_at AND e.id < t.id))) \
                       ORDER BY t.due_at LIMIT $5 {SKIP_LOCKED}) \
                     RETURNING {TIMER_COLUMNS}"
                ))
                .bind($crate::TimerStatus::Firing)
                .bind(lease_until)
                .bind(now)
                .bind($crate::TimerStatus::Armed)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn renew_timer_lease(
                &self,
                claim: $crate::TimerClaim,
                until: accord_core::time::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let renewed = sqlx::query::<$db>("UPDATE timers SET lease_until = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
                    .bind(until)
                    .bind(claim.id)
                    .bind($crate::TimerStatus::Firing)
                    .bind(claim.attempt)
                    .execute(&self.pool)
                    .await?;
                Ok(renewed.rows_affected() == 1)
            }

            async fn next_due(&self) -> Result<Option<accord_core::time::Timestamp>, $crate::StoreError> {
                let row: Option<(accord_core::time::Timestamp,)> =
                    sqlx::query_as::<$db, _>("SELECT due_at FROM timers WHERE status = $1 ORDER BY due_at LIMIT 1")
                        .bind($crate::TimerStatus::Armed)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(due,)| due))
            }

            async fn skip_timer(
                &self,
                claim: $crate::TimerClaim,
                at: accord_core::time::Timestamp,
                note: &str,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE timers SET status = $1, settled_at = $2, note = $3, lease_until = NULL \
                     WHERE id = $4 AND status = $5 AND attempts = $6",
                )
                .bind($crate::TimerStatus::Skipped)
                .bind(at)
                .bind(note)
                .bind(claim.id)
                .bind($crate::TimerStatus::Firing)
                .bind(claim.attempt)
                .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_timer_store;
