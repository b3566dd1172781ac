//! Wakes idle workers when work is queued, instead of leaving it to their next poll. Within a
//! process the engine rings after each commit that queues an email or arms a timer; across
//! nodes, on PostgreSQL, the commit itself sends `NOTIFY accord_wake` and every node's
//! listener rings locally. Polling stays as the fallback: a lost notification only delays.

use tokio::sync::Notify;

/// The channel commits notify on PostgreSQL; the payload names what was queued.
pub const CHANNEL: &str = "accord_wake";

/// Timers armed due within this many milliseconds wake other nodes; later ones are left to their
/// polls, which look at least every `scheduler_poll` (1 s by default).
pub const SOON_MILLIS: i64 = 1_000;

#[derive(Debug, Default)]
pub struct Wake {
    outbox: Notify,
    timers: Notify,
}

impl Wake {
    /// An email was queued.
    pub fn outbox(&self) {
        self.outbox.notify_one();
    }

    /// A timer was armed.
    pub fn timers(&self) {
        self.timers.notify_one();
    }

    /// Rings for a notification's payload (`outbox`, `timers`, or both, space-separated).
    pub fn ring(&self, payload: &str) {
        for word in payload.split_whitespace() {
            match word {
                "outbox" => self.outbox(),
                "timers" => self.timers(),
                _ => {}
            }
        }
    }

    pub async fn outbox_queued(&self) {
        self.outbox.notified().await;
    }

    pub async fn timer_armed(&self) {
        self.timers.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_ring_before_the_wait_is_not_lost() {
        let wake = Wake::default();
        wake.ring("outbox timers");
        tokio::time::timeout(Duration::from_secs(1), wake.outbox_queued()).await.expect("outbox woke");
        tokio::time::timeout(Duration::from_secs(1), wake.timer_armed()).await.expect("timers woke");
        assert!(tokio::time::timeout(Duration::from_millis(50), wake.outbox_queued()).await.is_err());
    }
}
