//! Wakes idle workers when work is queued, instead of leaving it to their next poll. Within a
//! process the engine rings after each commit that queues an email or arms a timer; across
//! nodes, on PostgreSQL, the store sends `NOTIFY accord_wake` after such commits (see
//! [`Outgoing`]) and every node's listener rings locally. Polling stays as the fallback: a lost
//! notification only delays.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The channel commits notify on PostgreSQL; the payload names what was queued.
pub const CHANNEL: &str = "accord_wake";

/// Timers armed due within this many milliseconds wake other nodes; later ones are left to their
/// polls, which look at least every `scheduler_poll` (1 s by default).
pub const SOON_MILLIS: i64 = 1_000;

/// The least time between two notifications a node sends: commits in between go in the next one.
/// Under load this turns one `NOTIFY` per commit into at most a hundred a second (each is a round
/// trip and a transaction of its own); an idle node's first commit still notifies at once, and
/// another node hears of later ones at most this much later.
pub const NOTIFY_PACE: Duration = Duration::from_millis(10);

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

/// Hands what `outgoing` gathers to `send`, one payload at a time, at most one per `pace`, for
/// ever: a payload waits for the send before it, then for the pace, and takes everything added
/// meanwhile. The store's notifier runs it with `NOTIFY` as `send`.
pub async fn relay<F, Fut>(outgoing: &Outgoing, pace: Duration, mut send: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let payload = outgoing.next().await;
        send(payload).await;
        tokio::time::sleep(pace).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::time::Instant;

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

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_commits_is_told_in_paced_notifications_and_the_last_is_not_lost() {
        let outgoing = Arc::new(Outgoing::default());
        let sent: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let relay = tokio::spawn({
            let (outgoing, sent) = (outgoing.clone(), sent.clone());
            async move {
                relay(&outgoing, NOTIFY_PACE, |payload| {
                    sent.lock().unwrap().push((Instant::now(), payload));
                    std::future::ready(())
                })
                .await
            }
        });
        let started = Instant::now();
        outgoing.add(Queued { outbox: true, timers: false });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(sent.lock().unwrap().first().map(|(at, _)| *at), Some(started), "an idle node tells at once");

        // A hundred commits, one a millisecond; the last one arms a timer.
        for n in 1..=100 {
            outgoing.add(Queued { outbox: true, timers: n == 100 });
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let last_commit = Instant::now();
        tokio::time::sleep(NOTIFY_PACE * 2).await;
        relay.abort();

        let sent = sent.lock().unwrap();
        assert!(sent.len() <= 12, "101 commits over 101 ms, at most one notification per 10 ms: {}", sent.len());
        assert!(sent.windows(2).all(|w| w[1].0 - w[0].0 >= NOTIFY_PACE), "never two within the pace");
        let (at, payload) = sent.last().unwrap();
        assert!(*at >= last_commit - Duration::from_millis(1) && payload == "outbox timers", "the last commit is told");
    }
}
