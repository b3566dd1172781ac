//! API keys and the console's sessions, by the SHA-256 of their secret.

use async_trait::async_trait;

use super::{ApiKeyRecord, SessionRecord, StoreError};
use accord_core::time::Timestamp;

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Keeps a console session (its token's hash) for `key`, until `expires_at`.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this token hash and its key, if it has not expired at `now`.
    async fn session(&self, hash: &str, now: Timestamp) -> Result<Option<(SessionRecord, ApiKeyRecord)>, StoreError>;

    /// Ends a session (sign-out); also drops every expired one.
    async fn delete_session(&self, hash: &str, now: Timestamp) -> Result<(), StoreError>;
}

/// Implements [`KeyStore`] for `$store`, whose `pool` is a `sqlx::Pool<$db>`; expanded in the
/// backend's module after [`super::shared::shared!`], whose helpers and constants it uses.
macro_rules! impl_key_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::KeyStore for $store {
            async fn create_api_key(&self, k: &$crate::ApiKeyRecord) -> Result<(), $crate::StoreError> {
                sqlx::query::<$db>("INSERT INTO api_keys (id, hash, scope, label, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(k.id)
                    .bind(&k.hash)
                    .bind(k.scope)
                    .bind(&k.label)
                    .bind(k.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::ApiKeyRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>("SELECT id, hash, scope, label, created_at FROM api_keys WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn create_session(&self, session: &$crate::SessionRecord) -> Result<(), $crate::StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO console_sessions (hash, key_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&session.hash)
                .bind(session.key_id)
                .bind(&session.csrf)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                hash: &str,
                now: accord_core::time::Timestamp,
            ) -> Result<Option<($crate::SessionRecord, $crate::ApiKeyRecord)>, $crate::StoreError> {
                let Some(session) = sqlx::query_as::<$db, $crate::SessionRecord>(
                    "SELECT hash, key_id, csrf, created_at, expires_at FROM console_sessions WHERE hash = $1 AND expires_at > $2",
                )
                .bind(hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let key = sqlx::query_as::<$db, $crate::ApiKeyRecord>(
                    "SELECT id, hash, scope, label, created_at FROM api_keys WHERE id = $1",
                )
                .bind(session.key_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(key.map(|key| (session, key)))
            }

            async fn delete_session(&self, hash: &str, now: accord_core::time::Timestamp) -> Result<(), $crate::StoreError> {
                sqlx::query::<$db>("DELETE FROM console_sessions WHERE hash = $1 OR expires_at <= $2")
                    .bind(hash)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_key_store;
