//! Wakes idle workers when work is queued, instead of leaving it to their next poll. Within a
//! process the engine rings after each commit that queues an email or arms a timer; across
//! nodes, on PostgreSQL, the store sends `NOTIFY accord_wake` after such commits (see
//! [`Outgoing`]) and every node's listener rings locally. Polling stays as the fallback: a lost
//! notification only delays.

use std::sync::atomic::{AtomicBool, Ordering};

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

/// What a commit queued that other nodes may be idle for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    pub outbox: bool,
    pub timers: bool,
}

/// What this node's commits queued since it last told the other nodes. A sender sends it as one
/// `NOTIFY` at a time: while one is on its way, later commits add to the next. A `NOTIFY` inside
/// each transition's own transaction would cost far more: PostgreSQL serialises the commits of
/// notifying transactions, flush to disk included, behind one lock.
#[derive(Debug, Default)]
pub struct Outgoing {
    outbox: AtomicBool,
    timers: AtomicBool,
    ready: Notify,
}

impl Outgoing {
    /// Adds what a commit queued; nothing to tell, nothing happens.
    pub fn add(&self, queued: Queued) {
        if queued == Queued::default() {
            return;
        }
        if queued.outbox {
            self.outbox.store(true, Ordering::Release);
        }
        if queued.timers {
            self.timers.store(true, Ordering::Release);
        }
        self.ready.notify_one();
    }

    /// Waits until something was added, then takes everything added so far, as a payload for
    /// [`Wake::ring`] on the other nodes (`outbox`, `timers`, or both, space-separated).
    pub async fn next(&self) -> String {
        loop {
            let mut words = Vec::new();
            if self.outbox.swap(false, Ordering::AcqRel) {
                words.push("outbox");
            }
            if self.timers.swap(false, Ordering::AcqRel) {
                words.push("timers");
            }
            if !words.is_empty() {
                return words.join(" ");
            }
            self.ready.notified().await;
        }
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

    #[tokio::test]
    async fn what_is_added_while_a_notification_is_on_its_way_goes_in_the_next_one() {
        use futures::FutureExt;

        let outgoing = Outgoing::default();
        let (outbox, timers) = (Queued { outbox: true, timers: false }, Queued { outbox: false, timers: true });
        outgoing.add(outbox);
        outgoing.add(outbox);
        outgoing.add(timers);
        assert_eq!(outgoing.next().now_or_never().as_deref(), Some("outbox timers"), "one notification for all three");
        assert_eq!(outgoing.next().now_or_never(), None, "nothing left");
        outgoing.add(Queued::default());
        assert_eq!(outgoing.next().now_or_never(), None, "a commit that queued nothing tells nobody");
        outgoing.add(timers);
        assert_eq!(outgoing.next().now_or_never().as_deref(), Some("timers"));
    }
}
