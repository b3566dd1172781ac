//! API keys: shown once at creation, stored only as a SHA-256 hash.
//!
//! Operator keys carry a scope (`admin`, `reviewer`, `pipeline`); partner keys act as one user
//! of one partner (see [`crate::access`]). Any key may expire and be revoked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::store::{ApiKeyRecord, KeyState, Scope, Store, StoreError};
use accord_core::directory::PartnerUserRecord;

/// Who a new key acts for.
#[derive(Clone, Debug)]
pub enum KeyHolder {
    /// The operator's people and systems.
    Operator(Scope),
    /// One user of one partner.
    Partner { partner: uuid::Uuid, user: String },
}

/// A key to create.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub holder: KeyHolder,
    pub label: String,
    /// How long the key lives; `None`: until revoked.
    pub expires_in: Option<std::time::Duration>,
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{message}")]
    Refused { code: &'static str, field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CreateError {
    pub fn code(&self) -> &'static str {
        match self {
            CreateError::Refused { code, .. } => code,
            CreateError::Store(_) => "storage",
        }
    }
}

/// The longest a label may be.
const LABEL_MAX: usize = 100;

/// Creates a key; returns the key itself (to show once) and its record. A partner key's user
/// must be a user of that partner now (the key then follows the user's roles).
pub async fn create(store: &dyn Store, new: &NewKey, now: Timestamp) -> Result<(String, ApiKeyRecord), CreateError> {
    let refused = |code, field, message: String| CreateError::Refused { code, field, message };
    if new.label.chars().count() > LABEL_MAX || new.label.chars().any(char::is_control) {
        return Err(refused(
            "invalid_label",
            "label",
            format!("a label is at most {LABEL_MAX} characters, without control characters"),
        ));
    }
    let (scope, partner_id, user_email) = match &new.holder {
        KeyHolder::Operator(Scope::Partner) => {
            return Err(refused(
                "invalid_scope",
                "scope",
                "a partner key is made with --partner <PARTNER_ID> --user <EMAIL>, not with a scope".into(),
            ))
        }
        KeyHolder::Operator(scope) => (*scope, None, None),
        KeyHolder::Partner { partner, user } => {
            let Some(record) = store.partner(*partner).await? else {
                return Err(refused(
                    "unknown_partner",
                    "partner",
                    format!("no partner with id {partner}; `accord partners` lists them"),
                ));
            };
            let users = store.partner_users(*partner).await?;
            let Some(found) = user_of(&users, user) else {
                return Err(refused(
                    "unknown_user",
                    "user",
                    format!(
                        "{} is not a user of {}; add the user first (`accord partners add-user`)",
                        user.trim(),
                        record.legal_name
                    ),
                ));
            };
            (Scope::Partner, Some(*partner), Some(found.email.clone()))
        }
    };
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("acc_{}", URL_SAFE_NO_PAD.encode(bytes));
    let record = ApiKeyRecord {
        id: uuid::Uuid::new_v4(),
        hash: hash(&key),
        scope,
        label: new.label.trim().to_owned(),
        created_at: now,
        partner_id,
        user_email,
        expires_at: new.expires_in.map(|d| now.plus(d)),
        revoked_at: None,
        last_used_at: None,
    };
    store.create_api_key(&record).await?;
    Ok((key, record))
}

/// Creates an operator key with `scope` that lives until revoked.
pub async fn create_operator(
    store: &dyn Store,
    scope: Scope,
    label: &str,
    now: Timestamp,
) -> Result<(String, ApiKeyRecord), CreateError> {
    let new = NewKey { holder: KeyHolder::Operator(scope), label: label.to_owned(), expires_in: None };
    create(store, &new, now).await
}

/// The user `email` names among `users`, compared as addresses compare (the domain's case
/// does not matter; stored addresses are normalised).
pub fn user_of<'a>(users: &'a [PartnerUserRecord], email: &str) -> Option<&'a PartnerUserRecord> {
    users.iter().find(|u| u.email.eq_ignore_ascii_case(email.trim()))
}

/// Why a presented key is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Revoked,
    Expired,
}

/// The record of `key` if it is a usable key; records its use.
pub async fn authenticate(
    store: &dyn Store,
    key: &str,
    now: Timestamp,
) -> Result<Result<ApiKeyRecord, Refused>, StoreError> {
    let Some(record) = store.api_key_by_hash(&hash(key.trim())).await? else { return Ok(Err(Refused::Unknown)) };
    match record.state(now) {
        KeyState::Revoked => return Ok(Err(Refused::Revoked)),
        KeyState::Expired => return Ok(Err(Refused::Expired)),
        KeyState::Usable => {}
    }
    store.touch_api_key(record.id, now).await?;
    Ok(Ok(record))
}

/// Keys carry 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// How a key is named in histories and audit rows: its id, and its label when it has one.
pub fn principal_name(key: &ApiKeyRecord) -> String {
    if key.label.is_empty() {
        format!("key:{}", key.id)
    } else {
        format!("key:{} ({})", key.id, key.label)
    }
}
