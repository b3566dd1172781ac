//! Definition snapshots: the exact source each instance started on, by content hash.

use async_trait::async_trait;

use super::{DefinitionRecord, StoreError};

#[async_trait]
pub trait DefinitionStore: Send + Sync {
    /// Stores a definition snapshot; storing the same hash again is a no-op.
    async fn save_definition(&self, definition: &DefinitionRecord) -> Result<(), StoreError>;

    async fn definition(&self, hash: &str) -> Result<Option<DefinitionRecord>, StoreError>;
}

/// Implements [`DefinitionStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_definition_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::DefinitionStore for $store {
            async fn save_definition(&self, d: &$crate::DefinitionRecord) -> Result<(), $crate::StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO definitions (hash, workflow, source, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&d.hash)
                .bind(&d.workflow)
                .bind(&d.source)
                .bind(d.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn definition(&self, hash: &str) -> Result<Option<$crate::DefinitionRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(
                    "SELECT hash, workflow, source, created_at FROM definitions WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_definition_store;
