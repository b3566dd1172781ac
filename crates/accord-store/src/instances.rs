//! Instances and their history: a step (the instance row, its history row and every effect) is written in one transaction.

use async_trait::async_trait;

use super::{Commit, CommitError, HistoryRecord, InstanceRecord, ListFilter, Step, StoreError};
use accord_core::ids::InstanceId;

#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Writes a new instance with its first history row and entry effects, in one transaction.
    /// A `start_key` used before yields [`CommitError::DuplicateKey`].
    async fn create_instance(&self, instance: &InstanceRecord, step: &Step) -> Result<(), CommitError>;

    /// Applies a transition: instance row (only if still at `expected_version`), history row and
    /// effects, in one transaction.
    async fn commit(&self, commit: &Commit) -> Result<(), CommitError>;

    async fn instance(&self, id: InstanceId) -> Result<Option<InstanceRecord>, StoreError>;

    async fn instance_by_start_key(&self, key: &str) -> Result<Option<InstanceRecord>, StoreError>;

    async fn list_instances(&self, filter: &ListFilter) -> Result<Vec<InstanceRecord>, StoreError>;

    /// Ids of active instances of `workflow` in any of `states`.
    async fn active_in_states(&self, workflow: &str, states: &[String]) -> Result<Vec<InstanceId>, StoreError>;

    async fn history(&self, id: InstanceId) -> Result<Vec<HistoryRecord>, StoreError>;

    async fn history_by_key(&self, id: InstanceId, key: &str) -> Result<Option<HistoryRecord>, StoreError>;
}

/// Implements [`InstanceStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_instance_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::InstanceStore for $store {
            async fn create_instance(
                &self,
                i: &$crate::InstanceRecord,
                step: &$crate::Step,
            ) -> Result<(), $crate::CommitError> {
                if let Some(written) = self.write_in_one_call($crate::InstanceWrite::Create(i), step).await {
                    return written;
                }
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query::<$db>(
                    "INSERT INTO instances (id, workflow, definition_hash, state, status, version, context, start_key, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(i.id)
                .bind(&i.workflow)
                .bind(&i.definition_hash)
                .bind(&i.state)
                .bind(i.status)
                .bind(i.version)
                .bind(&i.context)
                .bind(&i.start_key)
                .bind(i.created_at)
                .bind(i.updated_at)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(err) if unique_violation(&err) => return Err($crate::CommitError::DuplicateKey),
                    other => other.map_err($crate::StoreError::from)?,
                };
                write_step(&mut tx, step).await?;
                tx.commit().await.map_err($crate::StoreError::from)?;
                self.committed(step);
                Ok(())
            }

            async fn commit(&self, c: &$crate::Commit) -> Result<(), $crate::CommitError> {
                if let Some(written) = self.write_in_one_call($crate::InstanceWrite::Move(c), &c.step).await {
                    return written;
                }
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query::<$db>(
                    "UPDATE instances SET state = $1, status = $2, version = version + 1, context = $3, updated_at = $4 \
                     WHERE id = $5 AND version = $6",
                )
                .bind(&c.state)
                .bind(c.status)
                .bind(&c.context)
                .bind(c.at)
                .bind(c.instance)
                .bind(c.expected_version)
                .execute(&mut *tx)
                .await
                .map_err($crate::StoreError::from)?;
                if updated.rows_affected() != 1 {
                    return Err($crate::CommitError::Conflict);
                }
                write_step(&mut tx, &c.step).await?;
                tx.commit().await.map_err($crate::StoreError::from)?;
                self.committed(&c.step);
                Ok(())
            }

            async fn instance(
                &self,
                id: accord_core::ids::InstanceId,
            ) -> Result<Option<$crate::InstanceRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn instance_by_start_key(
                &self,
                key: &str,
            ) -> Result<Option<$crate::InstanceRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE start_key = $1"))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_instances(
                &self,
                f: &$crate::ListFilter,
            ) -> Result<Vec<$crate::InstanceRecord>, $crate::StoreError> {
                let owned = match &f.owner {
                    Some(owner) => format!("AND {}", $crate::shared::owner_clause::<$store>(owner, "", 5)),
                    None => "AND $5 IS NULL".to_owned(),
                };
                // The search reads the context as text: every value the input and the steps
                // wrote (keys too, which a reader rarely searches for).
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances WHERE ($1 IS NULL OR workflow = $1) \
                     AND ($2 IS NULL OR state = $2) {owned} AND ($6 IS NULL OR status = $6) \
                     AND ($7 IS NULL OR lower(CAST(context AS TEXT)) LIKE $7 ESCAPE '\\') \
                     ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
                ))
                .bind(&f.workflow)
                .bind(&f.state)
                .bind(f.limit)
                .bind(f.offset)
                .bind(f.owner.as_ref().map(|o| o.partner.to_string()))
                .bind(f.status)
                .bind(f.search_pattern())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn active_in_states(
                &self,
                workflow: &str,
                states: &[String],
            ) -> Result<Vec<accord_core::ids::InstanceId>, $crate::StoreError> {
                let mut ids = Vec::new();
                for state in states {
                    let rows: Vec<(accord_core::ids::InstanceId,)> =
                        sqlx::query_as::<$db, _>("SELECT id FROM instances WHERE workflow = $1 AND state = $2 AND status = $3")
                            .bind(workflow)
                            .bind(state)
                            .bind($crate::InstanceStatus::Active)
                            .fetch_all(&self.pool)
                            .await?;
                    ids.extend(rows.into_iter().map(|(id,)| id));
                }
                Ok(ids)
            }

            async fn history(
                &self,
                id: accord_core::ids::InstanceId,
            ) -> Result<Vec<$crate::HistoryRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {HISTORY_COLUMNS} FROM history WHERE instance_id = $1 ORDER BY seq"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn history_by_key(
                &self,
                id: accord_core::ids::InstanceId,
                key: &str,
            ) -> Result<Option<$crate::HistoryRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!(
                    "SELECT {HISTORY_COLUMNS} FROM history WHERE instance_id = $1 AND idempotency_key = $2"
                ))
                .bind(id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_instance_store;
