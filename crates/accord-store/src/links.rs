//! Personalised links, by the SHA-256 of their token.

use async_trait::async_trait;

use super::{LinkRecord, StoreError};

#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn link(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError>;
}

/// Implements [`LinkStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_link_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::LinkStore for $store {
            async fn link(&self, hash: &str) -> Result<Option<$crate::LinkRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {LINK_COLUMNS} FROM links WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }
    };
}

pub(crate) use impl_link_store;
