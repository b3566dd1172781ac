//! Periodic jobs' ticks (`ScheduleStore`): one node moves a tick forward, the others see it moved.

use std::time::Duration;

use accord::clock::Clock;

use crate::helpers::{spawn_app, Backend};

crate::on_each_store!(a_tick_moves_forward_once_from_what_was_read);

async fn a_tick_moves_forward_once_from_what_was_read(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let store = t.engine().store().clone();
    let first = t.clock.now();
    let second = first.plus(Duration::from_secs(60));
    assert_eq!(store.schedule_tick("nightly").await.unwrap(), None);
    assert!(store.advance_schedule("nightly", None, first).await.unwrap());
    assert!(!store.advance_schedule("nightly", None, first).await.unwrap(), "another node got there first");
    assert_eq!(store.schedule_tick("nightly").await.unwrap(), Some(first));
    assert!(!store.advance_schedule("nightly", Some(second), second).await.unwrap(), "not from a tick never read");
    assert!(store.advance_schedule("nightly", Some(first), second).await.unwrap());
    assert!(!store.advance_schedule("nightly", Some(first), second).await.unwrap(), "once");
    assert_eq!(store.schedule_tick("nightly").await.unwrap(), Some(second));
    assert_eq!(store.schedule_tick("weekly").await.unwrap(), None, "each job has its own tick");
}
