//! Fires due timers and ticks periodic jobs. Both are driven by rows, so a restart loses
//! nothing: a timer due while the process was down fires when it comes back, once.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::Timestamp;
use crate::engine::{Engine, EngineError, EventRequest, Refusal};
use crate::lease::{self, Lease};
use crate::store::{Origin, TimerRecord};

/// Timers fired at once.
const PARALLEL: usize = 8;

#[derive(Clone)]
pub struct Scheduler {
    engine: Engine,
    poll: Duration,
    lease: Lease,
}

impl Scheduler {
    pub fn new(engine: Engine, poll: Duration, lease: Lease) -> Self {
        Self { engine, poll, lease }
    }

    /// Fires every timer due now. Returns how many fired.
    ///
    /// Timers are claimed a few at a time (see [`crate::lease::drain`]); the store hands out only
    /// the earliest pending timer of each instance, so a reminder fires before the expiry it
    /// precedes while different instances fire in parallel, on this node or any other.
    pub async fn fire_due(&self) -> Result<usize, EngineError> {
        let engine = &self.engine;
        let lease = self.lease;
        let fired = lease::drain(
            PARALLEL,
            |want| async move {
                let now = engine.now();
                let claimed = engine.store().claim_due_timers(now, now.plus(lease.length), want as i64).await?;
                for timer in claimed.iter().filter(|timer| timer.took_over) {
                    warn!(timer = %timer.id, attempt = timer.attempts, "took over a timer whose claim had lapsed");
                    engine.metrics().lease_takeover("timer");
                }
                Ok(claimed)
            },
            |timer| {
                let engine = engine.clone();
                async move { Ok(fire(&engine, lease, timer).await) }
            },
        )
        .await?;
        Ok(fired)
    }

    /// Runs each periodic job whose cron tick has come, at most once per tick, and only the
    /// latest missed tick after downtime. Returns how many events were applied.
    pub async fn run_schedules(&self) -> Result<usize, EngineError> {
        let now = self.engine.now();
        let mut applied = 0;
        for definition in self.engine.catalog().all() {
            for schedule in &definition.schedules {
                let name = format!("{}.{}", definition.name, schedule.name);
                let store = self.engine.store();
                let Some(last) = store.schedule_tick(&name).await? else {
                    // First sight of this job: count ticks from now on.
                    store.advance_schedule(&name, None, now).await?;
                    continue;
                };
                let Some(tick) = latest_tick(&schedule.cron, last, now) else { continue };
                let states: Vec<String> = schedule.states.iter().map(ToString::to_string).collect();
                for id in store.active_in_states(definition.name.as_str(), &states).await? {
                    let request = EventRequest {
                        event: schedule.event.to_string(),
                        data: serde_json::Value::Null,
                        idempotency_key: Some(format!("schedule:{name}:{}", tick.millis())),
                        origin: Origin::Schedule,
                        actor: format!("schedule:{name}"),
                    };
                    match self.engine.apply(id, request).await {
                        Ok(outcome) if !outcome.replayed => applied += 1,
                        Ok(_) => {}
                        // The instance moved on since it was listed.
                        Err(
                            EngineError::Refused(Refusal::EventNotAllowed { .. })
                            | EngineError::Refused(Refusal::InstanceFinished { .. }),
                        ) => {}
                        Err(err) => return Err(err),
                    }
                }
                store.advance_schedule(&name, Some(last), tick).await?;
            }
        }
        Ok(applied)
    }

    /// Loops until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        info!(poll = ?self.poll, "scheduler started");
        loop {
            if let Err(err) = self.fire_due().await {
                warn!(error = %err, "firing timers failed; retrying");
            }
            if let Err(err) = self.run_schedules().await {
                warn!(error = %err, "periodic jobs failed; retrying");
            }
            let wait = match self.engine.store().next_due().await {
                Ok(Some(due)) => due.since(self.engine.now()).min(self.poll),
                _ => self.poll,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                _ = self.engine.wake().timer_armed() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                info!("scheduler stopped");
                return;
            }
        }
    }
}

/// Fires one claimed timer, renewing its claim meanwhile; true when its event applied now.
async fn fire(engine: &Engine, lease: Lease, timer: TimerRecord) -> bool {
    let claim = timer.claim();
    let renew = || async move {
        let until = engine.now().plus(lease.length);
        engine.store().renew_timer_lease(claim, until).await
    };
    match lease::hold(engine.fire_timer(&timer), lease.heartbeat(), renew).await {
        Some(Ok(outcome)) => !outcome.replayed,
        Some(Err(EngineError::TimerSettled)) => false,
        Some(Err(err)) if err.is_transient() => {
            // The claim lapses and this or another node tries again.
            warn!(timer = %timer.id, error = %err, "timer not fired yet; will retry when its claim lapses");
            false
        }
        Some(Err(err)) => {
            warn!(timer = %timer.id, error = %err, "timer skipped: its event no longer applies");
            false
        }
        None => {
            warn!(timer = %timer.id, "another scheduler took this timer over");
            false
        }
    }
}

/// The latest tick of `cron` after `last` and at or before `now`.
fn latest_tick(cron: &cron::Schedule, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
    cron.after(&last.to_datetime()).take(100_000).map(Timestamp::from_datetime).take_while(|tick| *tick <= now).last()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn only_the_latest_missed_tick_runs() {
        let hourly = cron::Schedule::from_str("0 0 * * * *").unwrap();
        let start = Timestamp::from_datetime("2026-01-01T10:00:00Z".parse().unwrap());
        let now = Timestamp::from_datetime("2026-01-01T13:30:00Z".parse().unwrap());
        let tick = latest_tick(&hourly, start, now).unwrap();
        assert_eq!(tick.to_string(), "2026-01-01T13:00:00.000Z");
        assert_eq!(latest_tick(&hourly, tick, now), None);
    }
}
