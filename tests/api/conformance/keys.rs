//! API keys and console sessions (`KeyStore`): found by their hash only, sessions until they
//! expire or are ended.

use std::time::Duration;

use accord::clock::Clock;
use accord::keys::{KeyHolder, NewKey, Refused};
use accord::store::{Scope, SessionRecord};

use crate::helpers::{spawn_app, Backend};

crate::on_each_store!(
    a_key_is_found_by_its_secret_only,
    a_session_lasts_until_it_expires_or_is_ended,
    keys_are_listed_revoked_and_expire_and_their_use_is_recorded,
);

async fn a_key_is_found_by_its_secret_only(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let (secret, record) =
        accord::keys::create_operator(store.as_ref(), Scope::Reviewer, "anna", t.clock.now()).await.unwrap();
    assert_ne!(record.hash, secret, "the secret itself is not stored");
    let now = t.clock.now();
    let found = accord::keys::authenticate(store.as_ref(), &secret, now).await.unwrap().expect("the key is found");
    assert_eq!((found.id, found.scope, found.label.as_str()), (record.id, Scope::Reviewer, "anna"));
    let wrong = accord::keys::authenticate(store.as_ref(), &format!("{secret}x"), now).await.unwrap();
    assert_eq!(wrong.unwrap_err(), Refused::Unknown);
    assert!(store.api_key_by_hash(&secret).await.unwrap().is_none(), "the secret is not the lookup key");
}

async fn a_session_lasts_until_it_expires_or_is_ended(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let now = t.clock.now();
    let (_, key) = accord::keys::create_operator(store.as_ref(), Scope::Reviewer, "anna", now).await.unwrap();
    let session = |hash: &str, expires_at| SessionRecord {
        hash: hash.to_owned(),
        key_id: key.id,
        csrf: format!("csrf-{hash}"),
        created_at: now,
        expires_at,
    };
    let hour = Duration::from_secs(3600);
    store.create_session(&session("kept", now.plus(hour))).await.unwrap();
    store.create_session(&session("ended", now.plus(hour))).await.unwrap();
    store.create_session(&session("short", now.plus(Duration::from_secs(60)))).await.unwrap();

    let (found, of) = store.session("kept", now).await.unwrap().expect("a live session");
    assert_eq!((found.csrf.as_str(), of.id), ("csrf-kept", key.id));
    store.delete_session("ended", now).await.unwrap();
    assert!(store.session("ended", now).await.unwrap().is_none(), "signing out ends it");
    let later = now.plus(Duration::from_secs(120));
    assert!(store.session("short", later).await.unwrap().is_none(), "an expired session is refused");
    assert!(store.session("kept", later).await.unwrap().is_some());
    assert!(store.session("kept", now.plus(hour)).await.unwrap().is_none(), "it expires at expires_at");
}

async fn keys_are_listed_revoked_and_expire_and_their_use_is_recorded(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let now = t.clock.now();
    let day = Duration::from_secs(86_400);
    let (lasting, kept) = accord::keys::create_operator(store.as_ref(), Scope::Pipeline, "crm", now).await.unwrap();
    let brief = NewKey { holder: KeyHolder::Operator(Scope::Reviewer), label: "brief".into(), expires_in: Some(day) };
    let second = now.plus(Duration::from_millis(1));
    let (short, _) = accord::keys::create(store.as_ref(), &brief, second).await.unwrap();

    let listed = store.api_keys().await.unwrap();
    assert_eq!(listed.iter().map(|k| k.label.as_str()).collect::<Vec<_>>(), ["crm", "brief"]);
    assert_eq!(listed[1].expires_at, Some(second.plus(day)));
    assert_eq!(listed[0].last_used_at, None, "not used yet");

    let later = now.plus(Duration::from_secs(5));
    assert!(accord::keys::authenticate(store.as_ref(), &lasting, later).await.unwrap().is_ok());
    let used = store.api_keys().await.unwrap();
    assert_eq!(used[0].last_used_at, Some(later), "its use is recorded");

    let after_a_day = second.plus(day);
    let expired = accord::keys::authenticate(store.as_ref(), &short, after_a_day).await.unwrap();
    assert_eq!(expired.unwrap_err(), Refused::Expired);

    let session = SessionRecord {
        hash: "console".into(),
        key_id: kept.id,
        csrf: "csrf".into(),
        created_at: now,
        expires_at: now.plus(day),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.revoke_api_key(kept.id, later).await.unwrap(), Some(true));
    assert_eq!(store.revoke_api_key(kept.id, later).await.unwrap(), Some(false), "revoked already");
    assert_eq!(store.revoke_api_key(uuid::Uuid::new_v4(), later).await.unwrap(), None);
    let revoked = accord::keys::authenticate(store.as_ref(), &lasting, later).await.unwrap();
    assert_eq!(revoked.unwrap_err(), Refused::Revoked);
    assert!(store.session("console", later).await.unwrap().is_none(), "its console sessions end with it");
}
