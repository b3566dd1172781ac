//! Definition snapshots (`DefinitionStore`): stored once per content hash, read back exactly.

use accord::clock::Clock;
use accord::store::DefinitionRecord;

use crate::helpers::{spawn_app, Backend};

crate::on_each_store!(a_snapshot_is_kept_once_per_hash_and_read_back_exactly);

async fn a_snapshot_is_kept_once_per_hash_and_read_back_exactly(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let record = |source: &str| DefinitionRecord {
        hash: accord::workflow::content_hash(source),
        workflow: "example_signup".parse().unwrap(),
        source: source.to_owned(),
        created_at: t.clock.now(),
    };
    let first = record("name = \"example_signup\" # one");
    store.save_definition(&first).await.unwrap();
    store.save_definition(&DefinitionRecord { source: "changed".into(), ..first.clone() }).await.unwrap();
    let read = store.definition(&first.hash).await.unwrap().expect("the snapshot is kept");
    assert_eq!((read.source, read.workflow.as_str()), (first.source.clone(), "example_signup"), "the first one stays");
    assert!(store.definition(&record("another").hash).await.unwrap().is_none());
}
