//! `/metrics` in the Prometheus (OpenMetrics) text format: counters kept by this process
//! (transitions, delivery attempts) and gauges read from the database at scrape time (outbox
//! depth and age, timer lag), so every node reports the shared queue truthfully.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::clock::Timestamp;
use crate::store::{Store, StoreError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabel {
    workflow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

pub struct Metrics {
    registry: Registry,
    transitions: Family<WorkflowLabel, Counter>,
    attempts: Family<OutcomeLabel, Counter>,
    outbox: Family<StatusLabel, Gauge>,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
    timer_lag: Gauge<f64, AtomicU64>,
    armed_timers: Gauge,
    takeovers: Family<KindLabel, Counter>,
    lapsed_claims: Gauge,
    oldest_claim_age: Gauge<f64, AtomicU64>,
    stuck_instances: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("accord");
        let metrics = Self {
            transitions: Family::default(),
            attempts: Family::default(),
            outbox: Family::default(),
            outbox_oldest_age: Gauge::default(),
            timer_lag: Gauge::default(),
            armed_timers: Gauge::default(),
            takeovers: Family::default(),
            lapsed_claims: Gauge::default(),
            oldest_claim_age: Gauge::default(),
            stuck_instances: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "transitions",
            "Transitions applied by this process, by workflow",
            metrics.transitions.clone(),
        );
        registry.register(
            "email_attempts",
            "Delivery attempts made by this process, by outcome",
            metrics.attempts.clone(),
        );
        registry.register("outbox_emails", "Emails in the outbox, by status", metrics.outbox.clone());
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest email waiting to be sent (0 when none)",
            metrics.outbox_oldest_age.clone(),
        );
        registry.register(
            "timer_lag_seconds",
            "How late the most overdue armed timer is (0 when none is due)",
            metrics.timer_lag.clone(),
        );
        registry.register("armed_timers", "Timers armed and not yet fired", metrics.armed_timers.clone());
        registry.register(
            "lease_takeovers",
            "Claims this process took over after another claim's lease lapsed, by kind (email, timer)",
            metrics.takeovers.clone(),
        );
        registry.register(
            "lapsed_claims",
            "Claims (emails being sent, timers firing) whose lease has lapsed and that no node has taken over yet",
            metrics.lapsed_claims.clone(),
        );
        registry.register(
            "oldest_claim_age_seconds",
            "Age of the oldest claim still held (0 when none)",
            metrics.oldest_claim_age.clone(),
        );
        registry.register(
            "stuck_instances",
            "Active instances that cannot move by themselves: an email failed for good, or a timer overdue by over a minute",
            metrics.stuck_instances.clone(),
        );
        Self { registry, ..metrics }
    }
}

impl Metrics {
    pub fn transition(&self, workflow: &str) {
        self.transitions.get_or_create(&WorkflowLabel { workflow: workflow.to_owned() }).inc();
    }

    /// A claim taken over from a node whose lease lapsed.
    pub fn lease_takeover(&self, kind: &str) {
        self.takeovers.get_or_create(&KindLabel { kind: kind.to_owned() }).inc();
    }

    pub fn attempt(&self, outcome: &str) {
        self.attempts.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc();
    }

    /// Reads the gauges from `store` and encodes everything.
    pub async fn render(&self, store: &dyn Store, now: Timestamp) -> Result<String, StoreError> {
        let stats = store.stats(now).await?;
        for status in crate::store::EmailStatus::ALL {
            let count = stats.outbox.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
            self.outbox.get_or_create(&StatusLabel { status: status.to_string() }).set(count);
        }
        self.outbox_oldest_age.set(stats.oldest_pending.map_or(0.0, |at| now.since(at).as_secs_f64()));
        self.timer_lag.set(stats.oldest_due_timer.map_or(0.0, |at| now.since(at).as_secs_f64()));
        self.armed_timers.set(stats.armed_timers);
        self.lapsed_claims.set(stats.lapsed_claims);
        self.oldest_claim_age.set(stats.oldest_claim.map_or(0.0, |at| now.since(at).as_secs_f64()));
        self.stuck_instances.set(stats.stuck_instances);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|_| StoreError::Corrupt("metrics encoding failed".into()))?;
        Ok(text)
    }
}
