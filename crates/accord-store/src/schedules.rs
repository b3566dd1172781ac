//! Periodic jobs: the last tick of each, moved forward by one node at a time.

use async_trait::async_trait;

use super::StoreError;
use accord_core::time::Timestamp;

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    async fn schedule_tick(&self, name: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Moves a schedule's last tick from `previous` to `tick`; false when another node already did.
    async fn advance_schedule(
        &self,
        name: &str,
        previous: Option<Timestamp>,
        tick: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// Implements [`ScheduleStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_schedule_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::ScheduleStore for $store {
            async fn schedule_tick(
                &self,
                name: &str,
            ) -> Result<Option<accord_core::time::Timestamp>, $crate::StoreError> {
                let row: Option<(accord_core::time::Timestamp,)> =
                    sqlx::query_as::<$db, _>("SELECT last_tick FROM schedule_ticks WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(tick,)| tick))
            }

            async fn advance_schedule(
                &self,
                name: &str,
                previous: Option<accord_core::time::Timestamp>,
                tick: accord_core::time::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let done = match previous {
                    None => sqlx::query::<$db>(
                        "INSERT INTO schedule_ticks (name, last_tick) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .bind(tick)
                    .execute(&self.pool)
                    .await?,
                    Some(previous) => {
                        sqlx::query::<$db>(
                            "UPDATE schedule_ticks SET last_tick = $1 WHERE name = $2 AND last_tick = $3",
                        )
                        .bind(tick)
                        .bind(name)
                        .bind(previous)
                        .execute(&self.pool)
                        .await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_schedule_store;
