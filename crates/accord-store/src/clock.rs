//! The database server's clock, which every node of a deployment arms and fires timers by.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use accord_core::time::{Clock, Timestamp};

use super::{Store, StoreError};

/// The database's clock, as seen from this node: the node's own clock corrected by the offset
/// last measured against the database server. Every node arms, claims and fires timers by it,
/// so nodes whose clocks disagree still agree on when a timer is due.
#[derive(Debug)]
pub struct DatabaseClock {
    local: Arc<dyn Clock>,
    offset_millis: AtomicI64,
}

impl DatabaseClock {
    pub fn new(local: Arc<dyn Clock>) -> Self {
        Self { local, offset_millis: AtomicI64::new(0) }
    }

    /// Measures the offset to the database's clock, taking the middle of the round trip as the
    /// moment the database read its clock. Returns the offset (database minus node).
    pub async fn sync(&self, store: &dyn Store) -> Result<i64, StoreError> {
        let before = self.local.now().millis();
        let database = store.database_now().await?.millis();
        let after = self.local.now().millis();
        let offset = database - (before + (after - before) / 2);
        self.offset_millis.store(offset, Ordering::SeqCst);
        Ok(offset)
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.local.now().millis() + self.offset_millis.load(Ordering::SeqCst))
    }
}
