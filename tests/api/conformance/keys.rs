//! API keys and console sessions (`KeyStore`): found by their hash only, sessions until they
//! expire or are ended.

use std::time::Duration;

use accord::clock::Clock;
use accord::store::{Scope, SessionRecord};

use crate::helpers::{spawn_app, Backend};

crate::on_each_store!(a_key_is_found_by_its_secret_only, a_session_lasts_until_it_expires_or_is_ended);

async fn a_key_is_found_by_its_secret_only(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let (secret, record) = accord::keys::create(store.as_ref(), Scope::Reviewer, "anna", t.clock.now()).await.unwrap();
    assert_ne!(record.hash, secret, "the secret itself is not stored");
    let found = accord::keys::authenticate(store.as_ref(), &secret).await.unwrap().expect("the key is found");
    assert_eq!((found.id, found.scope, found.label.as_str()), (record.id, Scope::Reviewer, "anna"));
    assert!(accord::keys::authenticate(store.as_ref(), &format!("{secret}x")).await.unwrap().is_none());
    assert!(store.api_key_by_hash(&secret).await.unwrap().is_none(), "the secret is not the lookup key");
}

async fn a_session_lasts_until_it_expires_or_is_ended(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let now = t.clock.now();
    let (_, key) = accord::keys::create(store.as_ref(), Scope::Reviewer, "anna", now).await.unwrap();
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
