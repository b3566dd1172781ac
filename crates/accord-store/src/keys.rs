//! API keys and the console's sessions, by the SHA-256 of their secret.

use async_trait::async_trait;

use super::{ApiKeyRecord, SessionRecord, StoreError};
use accord_core::time::Timestamp;

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// The key with this hash, revoked and expired ones included (the caller says why they fail).
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every key, oldest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes a key: `None` when there is no such key, `Some(false)` when it was revoked
    /// already. Its console sessions end with it.
    async fn revoke_api_key(&self, id: uuid::Uuid, at: Timestamp) -> Result<Option<bool>, StoreError>;

    /// Records that the key was used at `at`; writes at most once a minute per key, so that
    /// reads do not become writes.
    async fn touch_api_key(&self, id: uuid::Uuid, at: Timestamp) -> Result<(), StoreError>;

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
                sqlx::query::<$db>(
                    "INSERT INTO api_keys (id, hash, scope, label, created_at, partner_id, user_email, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(k.id)
                .bind(&k.hash)
                .bind(k.scope)
                .bind(&k.label)
                .bind(k.created_at)
                .bind(k.partner_id)
                .bind(&k.user_email)
                .bind(k.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn api_keys(&self) -> Result<Vec<$crate::ApiKeyRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {} FROM api_keys ORDER BY created_at, id", $crate::keys::KEY_COLUMNS))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn revoke_api_key(
                &self,
                id: uuid::Uuid,
                at: accord_core::time::Timestamp,
            ) -> Result<Option<bool>, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let found: Option<(Option<accord_core::time::Timestamp>,)> =
                    sqlx::query_as::<$db, _>("SELECT revoked_at FROM api_keys WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((revoked_at,)) = found else { return Ok(None) };
                if revoked_at.is_some() {
                    return Ok(Some(false));
                }
                sqlx::query::<$db>("UPDATE api_keys SET revoked_at = $1 WHERE id = $2").bind(at).bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM console_sessions WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some(true))
            }

            async fn touch_api_key(&self, id: uuid::Uuid, at: accord_core::time::Timestamp) -> Result<(), $crate::StoreError> {
                let stale = accord_core::time::Timestamp::from_millis(at.millis() - 60_000);
                sqlx::query::<$db>(
                    "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(at)
                .bind(id)
                .bind(stale)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::ApiKeyRecord>, $crate::StoreError> {
                Ok(sqlx::query_as::<$db, _>(&format!("SELECT {} FROM api_keys WHERE hash = $1", $crate::keys::KEY_COLUMNS))
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
                let key = sqlx::query_as::<$db, $crate::ApiKeyRecord>(&format!(
                    "SELECT {} FROM api_keys WHERE id = $1 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $2)",
                    $crate::keys::KEY_COLUMNS
                ))
                .bind(session.key_id)
                .bind(now)
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

/// The columns of an [`ApiKeyRecord`], in its order.
pub(crate) const KEY_COLUMNS: &str =
    "id, hash, scope, label, created_at, partner_id, user_email, expires_at, revoked_at, last_used_at";
