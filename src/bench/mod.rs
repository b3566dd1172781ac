//! `accord bench`: instance starts/s and events/s with N concurrent clients in one process, on
//! SQLite and (when given) PostgreSQL, printed beside `pgbench -N` on the same PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod events;
mod links;
mod mail;
mod references;
mod scale;

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::cli::output;
use accord::clock::SystemClock;
use accord::config::Config;
use accord::engine::{Engine, EventRequest, MailSettings, Registry, StartRequest};
use accord::ids::InstanceId;
use accord::mail::Renderer;
use accord::store::{self, Origin};
use accord::workflow::{parse_definition, Catalog, CheckEnv, InputRules};
use events::measure;
use links::link_latency;
use mail::{blaster_rate, dispatch_rate};
use references::{graphile, pgbench};
use scale::at_scale;

/// A workflow shaped like the shipped ones: every event changes state, cancels and arms a timer,
/// and every other event queues an email.
const BENCH_WORKFLOW: &str = r#"
name = "bench"
initial = "a"

[[input]]
field = "contact.email"
type = "email"

[parties.contact]
email = "contact.email"

[events]
flip = "signal"
flop = "signal"
expire = "timer"

[states.a]
timers = [{ name = "expiry", after = "30d", event = "expire" }]
on.flip = { to = "b" }
on.expire = { to = "done" }

[states.b]
emails = [{ template = "ping", to = "contact" }]
timers = [{ name = "expiry", after = "30d", event = "expire" }]
on.flop = { to = "a" }
on.expire = { to = "done" }

[states.done]
final = true
"#;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long each measurement runs
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Also measure this PostgreSQL database (use a scratch database: bench rows stay in it)
    /// and run `pgbench -N` against it for reference
    #[arg(long, env = "ACCORD_BENCH_POSTGRES_URL", value_name = "URL")]
    postgres: Option<String>,
    /// Threads for pgbench (-j)
    #[arg(long, default_value_t = 2)]
    pgbench_jobs: usize,
    /// Also measure the dispatcher: deliver this many emails to --smtp, beside a plain Python
    /// smtplib blaster with the same concurrency against the same server
    #[arg(long, value_name = "N")]
    emails: Option<usize>,
    /// The SMTP server (a sink such as MailDev) for --emails, as smtp://HOST:PORT
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// Also measure PostgreSQL with this many nodes (engines with pools of their own): sharing the
    /// clients, serving the link clicks in turn (with --links) and sharing the outbox (with
    /// --emails)
    #[arg(long, default_value_t = 2, value_name = "N")]
    nodes: usize,
    /// With --postgres: also run the npm package graphile-worker on the same database with no-op
    /// jobs at the same concurrency, over the transport (TLS or plain TCP) Accord's connections use
    /// (installs it with npm into the tools cache on first use)
    #[arg(long)]
    graphile: bool,
    /// With --postgres: also measure, with the database as it is and again after adding this
    /// many instances each with an armed timer (1000000 for the issue's figures), instance lookup
    /// and review-queue latency, timer lag, and this process's RSS
    #[arg(long, value_name = "N")]
    rows: Option<u64>,
    /// Also measure link clicks over HTTP: GET the page and POST the action at this many
    /// requests per second each, and report p50/p99 latency
    #[arg(long, value_name = "PER_SECOND")]
    links: Option<u32>,
    /// Measure PostgreSQL only: skip the SQLite figures (needs --postgres)
    #[arg(long)]
    no_sqlite: bool,
}

#[derive(Debug, Serialize)]
struct Figure {
    backend: &'static str,
    metric: &'static str,
    value: f64,
    reference: Option<String>,
    reference_value: Option<f64>,
    ratio: Option<f64>,
}

pub async fn run(config: Config, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    let duration = humantime::parse_duration(&args.duration).context("bad --duration")?;
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    if args.postgres.is_none() {
        let given: Vec<&str> =
            [(args.graphile, "--graphile"), (args.rows.is_some(), "--rows"), (args.no_sqlite, "--no-sqlite")]
                .into_iter()
                .filter_map(|(given, flag)| given.then_some(flag))
                .collect();
        let verb = if given.len() == 1 { "measures" } else { "measure" };
        anyhow::ensure!(
            given.is_empty(),
            "{} {verb} PostgreSQL: add --postgres postgres://USER@HOST/SCRATCH_DB",
            given.join(" and ")
        );
    }
    let mut figures = Vec::new();

    let dir = tempfile::tempdir().context("creating a temporary directory for the SQLite bench")?;
    let sqlite_url = store::default_sqlite_url(dir.path());
    if !args.no_sqlite {
        let (starts, events) = measure(&sqlite_url, 1, args.clients, duration).await?;
        figures.push(figure("sqlite", "starts/s", starts, None));
        figures.push(figure("sqlite", "events/s", events, None));
        if let Some(rate) = args.links {
            let links = dir.path().join("links.db");
            let links = store::default_sqlite_url(&links);
            figures.extend(link_latency(&config, &links, "sqlite", 1, rate, duration).await?);
        }
    }

    if let Some(url) = &args.postgres {
        let (starts, events) = measure(url, 1, args.clients, duration).await?;
        let reference = pgbench(url, args.clients, args.pgbench_jobs, duration).await;
        let reference = match reference {
            Ok(tps) => Some((
                format!("pgbench -N -c {} -j {} -T {}", args.clients, args.pgbench_jobs, duration.as_secs()),
                tps,
            )),
            Err(err) => {
                output::note(&format!("pgbench reference skipped: {err:#}"));
                None
            }
        };
        figures.push(figure("postgres", "starts/s", starts, reference.clone()));
        figures.push(figure("postgres", "events/s", events, reference.clone()));
        if args.nodes > 1 {
            let (starts, events) = measure(url, args.nodes, args.clients, duration).await?;
            figures.push(figure("postgres×n", "starts/s", starts, reference.clone()));
            figures.push(figure("postgres×n", "events/s", events, reference));
        }
        if args.graphile {
            match graphile(url, args.clients).await {
                Ok((jobs, tls)) => {
                    let transport = if tls { "TLS" } else { "plain TCP" };
                    let name = format!("graphile-worker no-op jobs, concurrency {}, {transport}", args.clients);
                    figures.push(figure("postgres", "events/s", events, Some((name, jobs))));
                }
                Err(err) => output::note(&format!("graphile-worker reference skipped: {err:#}")),
            }
        }
        if let Some(rate) = args.links {
            figures.extend(link_latency(&config, url, "postgres", 1, rate, duration).await?);
            if args.nodes > 1 {
                figures.extend(link_latency(&config, url, "postgres×n", args.nodes, rate, duration).await?);
            }
        }
        if let Some(rows) = args.rows {
            figures.extend(at_scale(url, rows).await?);
        }
    }

    if let Some(count) = args.emails {
        let smtp = args.smtp.as_deref().context("--emails needs --smtp smtp://HOST:PORT (an SMTP sink)")?;
        let reference = match blaster_rate(smtp, count, args.clients).await {
            Ok(rate) => Some((format!("python smtplib, {} threads", args.clients), rate)),
            Err(err) => {
                output::note(&format!("blaster reference skipped: {err:#}"));
                None
            }
        };
        if !args.no_sqlite {
            let mail_db = dir.path().join("mail.db");
            let sent = dispatch_rate(&store::default_sqlite_url(&mail_db), 1, smtp, count, args.clients).await?;
            figures.push(figure("sqlite", "emails/s", sent, reference.clone()));
        }
        if let Some(url) = &args.postgres {
            let sent = dispatch_rate(url, 1, smtp, count, args.clients).await?;
            figures.push(figure("postgres", "emails/s", sent, reference.clone()));
            if args.nodes > 1 {
                let sent = dispatch_rate(url, args.nodes, smtp, count, args.clients).await?;
                figures.push(figure("postgres×n", "emails/s", sent, reference));
            }
        }
    }

    if json {
        let report = json!({
            "clients": args.clients,
            "duration_s": duration.as_secs_f64(),
            "rate_limits": "off",
            "figures": figures,
        });
        output::line(&serde_json::to_string_pretty(&report)?);
    } else {
        output::line(&format!(
            "{} clients, {} per measurement, request rate limits off",
            args.clients,
            humantime::format_duration(duration)
        ));
        output::line(&format!(
            "{:<10} {:<10} {:>10}   {:<32} {:>10} {:>7}",
            "backend", "metric", "value", "reference", "ref value", "ratio"
        ));
        for f in &figures {
            output::line(&format!(
                "{:<10} {:<10} {:>10.1}   {:<32} {:>10} {:>7}",
                f.backend,
                f.metric,
                f.value,
                f.reference.clone().unwrap_or_default(),
                f.reference_value.map_or(String::new(), |v| format!("{v:.1}")),
                f.ratio.map_or(String::new(), |r| format!("{r:.2}"))
            ));
        }
    }
    Ok(())
}

fn figure(backend: &'static str, metric: &'static str, value: f64, reference: Option<(String, f64)>) -> Figure {
    Figure {
        backend,
        metric,
        value,
        ratio: reference.as_ref().map(|(_, tps)| value / tps),
        reference_value: reference.as_ref().map(|(_, tps)| *tps),
        reference: reference.map(|(name, _)| name),
    }
}

/// Brings a PostgreSQL database to a steady state before a measurement: `VACUUM (ANALYZE)`, as
/// autovacuum would do sooner or later on a live database (doing it now keeps it from starting in
/// the middle of a measurement), then a `CHECKPOINT`, so that no measurement pays for the dirty
/// pages of the one before. Every measured side (Accord, `pgbench`, graphile-worker) starts from
/// here. A role without the right to checkpoint is told so once, and measures without it.
async fn settle(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut db = sqlx::PgConnection::connect(url).await?;
    sqlx::query("VACUUM (ANALYZE)").execute(&mut db).await.context("VACUUM (ANALYZE) before a measurement")?;
    if let Err(err) = sqlx::query("CHECKPOINT").execute(&mut db).await {
        if !WARNED.swap(true, Ordering::Relaxed) {
            output::note(&format!(
                "no CHECKPOINT before each measurement ({err}): grant pg_checkpoint for steadier figures"
            ));
        }
    }
    Ok(())
}

/// An engine running one embedded workflow whose one email template is `template`.
async fn bench_engine(
    store: Arc<dyn accord::store::Store>,
    source: &str,
    name: &str,
    template: &str,
) -> anyhow::Result<Engine> {
    let mut renderer = Renderer::empty();
    renderer.add_raw(&format!("email/{name}/{template}.subject.tera"), "Hello {{ contact.email }}")?;
    renderer.add_raw(
        &format!("email/{name}/{template}.txt.tera"),
        "Hello {{ contact.email }}, this is a message of about the same size as the blaster's. State: {{ state }}.",
    )?;
    engine_with(store, source, name, renderer, "http://127.0.0.1:8080").await
}

/// An engine running one embedded workflow with `renderer`'s templates, links under `public_url`.
async fn engine_with(
    store: Arc<dyn accord::store::Store>,
    source: &str,
    name: &str,
    renderer: Renderer,
    public_url: &str,
) -> anyhow::Result<Engine> {
    let env = CheckEnv { guards: &[], start_checks: &[], effects: &[], template_exists: None };
    let definition = parse_definition(&format!("{name}.toml"), source, &env)
        .map_err(|p| anyhow::anyhow!("bench workflow: {p:?}"))?;
    let mail = MailSettings {
        renderer: Arc::new(renderer),
        public_url: public_url.to_owned(),
        parties: Default::default(),
        draft_url_hosts: Vec::new(),
        time_zone: chrono_tz::Tz::UTC,
    };
    let engine = Engine::new(
        store,
        Arc::new(Catalog::new(vec![definition])),
        Arc::new(Registry::empty()),
        Arc::new(SystemClock),
        InputRules::default(),
        mail,
    );
    engine.publish_definitions().await?;
    Ok(engine)
}

/// The `q` quantile of sorted latencies (nearest rank), in milliseconds.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}
