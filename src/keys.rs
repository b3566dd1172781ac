//! API keys: shown once at creation, stored only as a SHA-256 hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::store::{ApiKeyRecord, Scope, Store, StoreError};

/// Creates a key with `scope`; returns the key itself (to show once) and its record.
pub async fn create(
    store: &dyn Store,
    scope: Scope,
    label: &str,
    now: Timestamp,
) -> Result<(String, ApiKeyRecord), StoreError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("acc_{}", URL_SAFE_NO_PAD.encode(bytes));
    let record =
        ApiKeyRecord { id: uuid::Uuid::new_v4(), hash: hash(&key), scope, label: label.to_owned(), created_at: now };
    store.create_api_key(&record).await?;
    Ok((key, record))
}

/// The record of `key`, if it is one.
pub async fn authenticate(store: &dyn Store, key: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    store.api_key_by_hash(&hash(key.trim())).await
}

/// Keys carry 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
