//! Claimed work, held under a lease. Dispatchers and schedulers on any number of nodes claim
//! due rows (emails, timers) for a while; [`drain`] keeps a few claims running at once and tops
//! them up, [`hold`] renews a claim while its work runs and gives the work up once the claim is
//! lost. A node that stops renewing (killed, cut off) loses its claims when the lease lapses,
//! and another node takes them over; the attempt number on every claim keeps the old node's
//! late completion from counting.

use std::future::Future;
use std::time::Duration;

use tracing::warn;

use crate::store::StoreError;

/// How long claims last before another node may take them over.
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    pub length: Duration,
}

impl Lease {
    pub const DEFAULT: Lease = Lease { length: Duration::from_secs(30) };

    /// How often a claim is renewed while its work runs: three times a lease, so one slow
    /// renewal does not lose it.
    pub fn heartbeat(&self) -> Duration {
        self.length / 3
    }
}

/// Runs `work` while renewing its claim every `every` with `renew`. `None` when `renew` found
/// the claim taken over: the work was dropped unfinished, since another node now does it. A
/// renewal that fails (the database unreachable) is logged and tried again at the next beat;
/// if the lease lapses meanwhile, the fencing number still keeps a late completion out.
pub async fn hold<W, R, RF>(work: W, every: Duration, mut renew: R) -> Option<W::Output>
where
    W: Future,
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, StoreError>>,
{
    tokio::pin!(work);
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            _ = beat.tick() => match renew().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(err) => warn!(error = %err, "renewing a claim failed; trying again at the next beat"),
            },
        }
    }
}

/// Claims and runs work until none is due: up to `parallel` items run at once, each its own
/// task, and when half are done `claim(n)` tops them up. Claiming only what is about to run
/// keeps every claim young. The round ends with a claim that finds nothing while nothing runs.
/// Returns how many items reported `true` (sent, fired).
///
/// A failing claim stops the claiming; the items under way finish and record themselves.
pub async fn drain<T, C, CF, W, WF>(parallel: usize, mut claim: C, work: W) -> Result<usize, StoreError>
where
    C: FnMut(usize) -> CF,
    CF: Future<Output = Result<Vec<T>, StoreError>>,
    W: Fn(T) -> WF,
    WF: Future<Output = Result<bool, StoreError>> + Send + 'static,
{
    let parallel = parallel.max(1);
    let mut running = tokio::task::JoinSet::new();
    let mut drained = false;
    // Whether an item finished since the last claim: finished work can make more due (an
    // instance's next timer), so the round only ends with a claim made after all of it.
    let mut finished_since_claim = false;
    let mut done = 0;
    loop {
        if !drained && running.len() <= parallel / 2 {
            let want = parallel - running.len();
            let claimed = match claim(want).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    running.detach_all();
                    return Err(err);
                }
            };
            drained = claimed.len() < want;
            finished_since_claim = false;
            for item in claimed {
                running.spawn(work(item));
            }
        }
        match running.join_next().await {
            None if !finished_since_claim => return Ok(done),
            None => drained = false,
            Some(joined) => {
                finished_since_claim = true;
                let finished = joined.map_err(|err| StoreError::Corrupt(format!("a claimed task failed: {err}")))??;
                done += usize::from(finished);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    const BEAT: Duration = Duration::from_millis(40);

    #[tokio::test]
    async fn work_is_given_up_when_its_claim_is_lost() {
        let renewals = Arc::new(AtomicUsize::new(0));
        let counted = renewals.clone();
        let outcome = hold(tokio::time::sleep(BEAT * 100), BEAT, move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(n < 2) }
        })
        .await;
        assert_eq!(outcome, None, "the third renewal found the claim lost");
        assert_eq!(renewals.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn work_that_keeps_its_claim_finishes() {
        let renewals = Arc::new(AtomicUsize::new(0));
        let counted = renewals.clone();
        let work = async {
            tokio::time::sleep(BEAT * 5 / 2).await;
            7
        };
        let outcome = hold(work, BEAT, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(true) }
        })
        .await;
        assert_eq!(outcome, Some(7));
        assert!(renewals.load(Ordering::SeqCst) >= 1, "renewed while it ran");
    }

    #[tokio::test]
    async fn drain_runs_every_claimed_item_once() {
        let queue = Arc::new(std::sync::Mutex::new((0..23).collect::<Vec<u32>>()));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let source = queue.clone();
        let sink = seen.clone();
        let done = drain(
            4,
            move |n| {
                let mut queue = source.lock().unwrap();
                let take = n.min(queue.len());
                let batch: Vec<u32> = queue.drain(..take).collect();
                async move { Ok(batch) }
            },
            move |item| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(item);
                    Ok(item % 2 == 0)
                }
            },
        )
        .await
        .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
        assert_eq!(done, 12, "the even items reported true");
    }
}
