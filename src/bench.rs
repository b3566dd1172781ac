//! `accord bench`: instance starts/s and events/s with N concurrent clients in one process, on
//! SQLite and (when given) PostgreSQL, printed beside `pgbench -N` on the same PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::engine::{Engine, EventRequest, MailSettings, Registry, StartRequest};
use crate::ids::InstanceId;
use crate::mail::Renderer;
use crate::store::{self, Origin};
use crate::workflow::{parse_definition, Catalog, CheckEnv, InputRules};

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
                eprintln!("pgbench reference skipped: {err:#}");
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
                Err(err) => eprintln!("graphile-worker reference skipped: {err:#}"),
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
                eprintln!("blaster reference skipped: {err:#}");
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
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "clients": args.clients, "duration_s": duration.as_secs_f64(), "figures": figures })
            )?
        );
    } else {
        println!("{} clients, {} per measurement", args.clients, humantime::format_duration(duration));
        println!(
            "{:<10} {:<10} {:>10}   {:<32} {:>10} {:>7}",
            "backend", "metric", "value", "reference", "ref value", "ratio"
        );
        for f in &figures {
            println!(
                "{:<10} {:<10} {:>10.1}   {:<32} {:>10} {:>7}",
                f.backend,
                f.metric,
                f.value,
                f.reference.clone().unwrap_or_default(),
                f.reference_value.map_or(String::new(), |v| format!("{v:.1}")),
                f.ratio.map_or(String::new(), |r| format!("{r:.2}"))
            );
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
            eprintln!("no CHECKPOINT before each measurement ({err}): grant pg_checkpoint for steadier figures");
        }
    }
    Ok(())
}

/// An engine running one embedded workflow whose one email template is `template`.
async fn bench_engine(
    store: Arc<dyn crate::store::Store>,
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
    store: Arc<dyn crate::store::Store>,
    source: &str,
    name: &str,
    renderer: Renderer,
    public_url: &str,
) -> anyhow::Result<Engine> {
    let env = CheckEnv { guards: &[], start_checks: &[], effects: &[], template_exists: None };
    let definition = parse_definition(&format!("{name}.toml"), source, &env)
        .map_err(|p| anyhow::anyhow!("bench workflow: {p:?}"))?;
    let mail =
        MailSettings { renderer: Arc::new(renderer), public_url: public_url.to_owned(), parties: Default::default() };
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

/// One email on start, nothing else.
const BENCH_MAIL_WORKFLOW: &str = r#"
name = "bench_mail"
initial = "sent"

[[input]]
field = "contact.email"
type = "email"

[parties.contact]
email = "contact.email"

[events]
done = "signal"

[states.sent]
emails = [{ template = "hello", to = "contact" }]
on.done = { to = "done" }

[states.done]
final = true
"#;

/// Starts/s and events/s of `clients` concurrent clients spread over `nodes` engines, each
/// with a connection pool of its own (as `accord serve` processes on one database have).
async fn measure(url: &str, nodes: usize, clients: usize, duration: Duration) -> anyhow::Result<(f64, f64)> {
    let mut engines = Vec::new();
    for _ in 0..nodes.max(1) {
        let store = store::connect(url, (clients / nodes.max(1)) as u32 + 2).await?;
        store.migrate().await?;
        engines.push(bench_engine(store, BENCH_WORKFLOW, "bench", "ping").await?);
    }
    let postgres = engines[0].store().backend() == store::Backend::Postgres;

    // Starts: each client starts instances until the deadline, keeping their ids for the events.
    if postgres {
        settle(url).await?;
    }
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (engine, count) = (engines[client % engines.len()].clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while Instant::now() < deadline {
                let input = json!({ "contact": { "email": format!("client{client}-{}@example.com", ids.len()) } });
                let request =
                    StartRequest { workflow: "bench".into(), input, idempotency_key: None, actor: "bench".into() };
                ids.push(engine.start(request).await?.instance.id);
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut per_client: Vec<Vec<InstanceId>> = Vec::new();
    for task in tasks {
        per_client.push(task.await??);
    }
    let starts = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    // Events: each client walks its own instances, flipping each between states a and b.
    if postgres {
        settle(url).await?;
    }
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (client, ids) in per_client.into_iter().enumerate() {
        let (engine, count) = (engines[client % engines.len()].clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut in_b = vec![false; ids.len()];
            let mut i = 0;
            while Instant::now() < deadline && !ids.is_empty() {
                let event = if in_b[i] { "flop" } else { "flip" };
                let request = EventRequest {
                    event: event.into(),
                    data: serde_json::Value::Null,
                    idempotency_key: None,
                    origin: Origin::Pipeline,
                    actor: "bench".into(),
                };
                engine.apply(ids[i], request).await?;
                in_b[i] = !in_b[i];
                count.fetch_add(1, Ordering::Relaxed);
                i = (i + 1) % ids.len();
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let events = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    Ok((starts, events))
}

/// Queues `count` emails (one per started instance) in the database at `url` and times
/// `nodes` dispatchers, each with an engine, a pool and an SMTP pool of its own (as `accord
/// serve` processes have), delivering them all between them. On PostgreSQL, emails the bench's
/// workflows queued in earlier measurements and never sent are marked failed first, so that
/// only this measurement's are counted.
async fn dispatch_rate(url: &str, nodes: usize, smtp: &str, count: usize, parallel: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut engines = Vec::new();
    for _ in 0..nodes.max(1) {
        let store = store::connect(url, parallel as u32 + 2).await?;
        store.migrate().await?;
        engines.push(bench_engine(store, BENCH_MAIL_WORKFLOW, "bench_mail", "hello").await?);
    }
    if engines[0].store().backend() == store::Backend::Postgres {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(url).await?;
        sqlx::query(
            "UPDATE outbox SET status = 'failed', last_reply = 'set aside by accord bench' \
             WHERE status IN ('queued', 'sending') \
               AND instance_id IN (SELECT id FROM instances WHERE workflow LIKE 'bench%')",
        )
        .execute(&mut db)
        .await?;
        drop(db);
        settle(url).await?;
    }
    let mut tasks = Vec::new();
    for client in 0..parallel {
        let engine = engines[client % engines.len()].clone();
        let share = count / parallel + usize::from(client < count % parallel);
        tasks.push(tokio::spawn(async move {
            for n in 0..share {
                let input = json!({ "contact": { "email": format!("client{client}-{n}@example.com") } });
                engine
                    .start(StartRequest {
                        workflow: "bench_mail".into(),
                        input,
                        idempotency_key: None,
                        actor: "bench".into(),
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let delivered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut running = Vec::new();
    for (n, engine) in engines.iter().enumerate() {
        let transport = crate::mail::Transport::new(Some(smtp), dir.path().join(format!("mail{n}")))?;
        let dispatcher = crate::mail::Dispatcher::new(
            engine,
            Arc::new(transport),
            "Accord bench <bench@example.com>".parse()?,
            crate::mail::Backoff::default(),
            Duration::from_millis(100),
            crate::lease::Lease::DEFAULT,
        );
        let delivered = delivered.clone();
        running.push(tokio::spawn(async move {
            // Stalled means no node delivered anything for a minute, not a minute since the start:
            // with several nodes one finds nothing due while the others send the rest.
            let (mut seen, mut progress_at) = (0, Instant::now());
            while delivered.load(Ordering::Relaxed) < count as u64 {
                let sent = dispatcher.dispatch_due().await?;
                let total = delivered.fetch_add(sent as u64, Ordering::Relaxed) + sent as u64;
                if total > seen {
                    (seen, progress_at) = (total, Instant::now());
                }
                anyhow::ensure!(
                    progress_at.elapsed() < Duration::from_secs(60),
                    "the dispatchers stalled at {total} of {count}: is the SMTP server at --smtp accepting mail?"
                );
                if sent == 0 {
                    // The others hold the rest of the claims for now.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            anyhow::Ok(())
        }));
    }
    for node in running {
        node.await??;
    }
    let total = delivered.load(Ordering::Relaxed);
    anyhow::ensure!(
        total == count as u64,
        "delivered {total} emails, expected {count}: was the database a scratch one?"
    );
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

const BLASTER: &str = r#"
import smtplib, sys, time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
host, port, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def work(share, t):
    with smtplib.SMTP(host, port) as smtp:
        for n in range(share):
            m = EmailMessage()
            m["From"] = "Blaster <bench@example.com>"
            m["To"] = f"blast{t}-{n}@example.com"
            m["Subject"] = "Hello from the blaster"
            m.set_content("Hello, this is a message of about the same size as the dispatcher's.\n" * 3)
            smtp.send_message(m)
start = time.monotonic()
with ThreadPoolExecutor(threads) as pool:
    list(pool.map(lambda t: work(count // threads + (1 if t < count % threads else 0), t), range(threads)))
print(count / (time.monotonic() - start))
"#;

/// A plain SMTP client's rate against the same server: Python's smtplib, one connection per
/// thread, the same concurrency.
async fn blaster_rate(smtp: &str, count: usize, threads: usize) -> anyhow::Result<f64> {
    let url = url::Url::parse(smtp)?;
    let host = url.host_str().context("--smtp needs a host")?.to_owned();
    let port = url.port().unwrap_or(25);
    let output = tokio::process::Command::new("python3")
        .args(["-c", BLASTER, &host, &port.to_string(), &count.to_string(), &threads.to_string()])
        .output()
        .await
        .context("running python3")?;
    anyhow::ensure!(output.status.success(), "the blaster failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().context("the blaster printed no rate")
}

/// Runs `pgbench -N` against `url` (initialising its tables first) and returns its tps.
async fn pgbench(url: &str, clients: usize, jobs: usize, duration: Duration) -> anyhow::Result<f64> {
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", url])
        .output()
        .await
        .context("running pgbench -i (is pgbench installed? Debian: postgresql-client)")?;
    anyhow::ensure!(init.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    settle(url).await?;
    let run = tokio::process::Command::new("pgbench")
        .args([
            "-N",
            "-c",
            &clients.to_string(),
            "-j",
            &jobs.to_string(),
            "-T",
            &duration.as_secs().max(1).to_string(),
            url,
        ])
        .output()
        .await
        .context("running pgbench -N")?;
    anyhow::ensure!(run.status.success(), "pgbench -N failed: {}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| anyhow::anyhow!("no tps line in pgbench's output:\n{stdout}"))
}

/// An invitation with a link, like the shipped workflows' emails.
const BENCH_LINK_WORKFLOW: &str = r#"
name = "bench_link"
initial = "invited"

[[input]]
field = "contact.email"
type = "email"

[parties.contact]
email = "contact.email"

[events]
accept = "link"

[links.accept]
event = "accept"
party = "contact"
expires = "7d"
title = { en = "Accept the invitation" }
button = { en = "Accept" }

[states.invited]
emails = [{ template = "invite", to = "contact", links = ["accept"] }]
on.accept = { to = "accepted" }

[states.accepted]
final = true
"#;

/// Link-click latency over HTTP on loopback, at a fixed rate (an open loop: requests go out on
/// schedule whether or not earlier ones have answered). `nodes` servers, each with an engine and
/// a pool of its own (as `accord serve` processes on one database have), take the requests in
/// turn, as behind a round-robin load balancer: an invitation is started on one node, its page
/// is fetched from the next and its form posted to the one after. Three phases of `duration`
/// each: `GET /healthz` (the HTTP floor, the reference), the link pages, and their actions.
async fn link_latency(
    config: &Config,
    url: &str,
    backend: &'static str,
    nodes: usize,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(rate > 0, "--links must be at least 1 request per second");
    let nodes = nodes.max(1);
    let mut engines = Vec::with_capacity(nodes);
    let mut bases = Vec::with_capacity(nodes);
    let mut servers = tokio::task::JoinSet::new();
    for _ in 0..nodes {
        let store = store::connect(url, 16).await?;
        store.migrate().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut renderer = Renderer::load(&config.templates_dir)
            .with_context(|| format!("loading the page templates from {}", config.templates_dir.display()))?;
        renderer.add_raw("email/bench_link/invite.subject.tera", "Invitation")?;
        renderer.add_raw("email/bench_link/invite.txt.tera", "Accept here: {{ links.accept }}")?;
        let engine = engine_with(store, BENCH_LINK_WORKFLOW, "bench_link", renderer, &base).await?;
        let router = crate::http::router(engine.clone());
        servers.spawn(async move { axum::serve(listener, router).await });
        engines.push(engine);
        bases.push(base);
    }

    // One link per action request, each from its own invitation.
    let count = (f64::from(rate) * duration.as_secs_f64()).ceil() as usize + 1;
    let mut paths = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(64) {
        let starts = chunk.iter().map(|&n| {
            let engine = engines[n % nodes].clone();
            async move {
                let input = json!({ "contact": { "email": format!("link{n}@example.com") } });
                let request =
                    StartRequest { workflow: "bench_link".into(), input, idempotency_key: None, actor: "bench".into() };
                let id = engine.start(request).await?.instance.id;
                let emails = engine.store().emails(id).await?;
                let text = &emails.first().context("the invitation is missing")?.text_body;
                let at = text.find("/l/").context("no link in the invitation")?;
                anyhow::Ok(text[at..].split_whitespace().next().unwrap_or_default().to_owned())
            }
        });
        for path in futures::future::try_join_all(starts).await? {
            paths.push(path);
        }
    }

    let http = reqwest::Client::new();
    // Request `n` of a phase goes to node `n + shift`.
    let phase = |method: reqwest::Method, targets: Vec<String>, shift: usize| {
        let (http, bases) = (http.clone(), bases.clone());
        async move {
            let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
            let started = tokio::time::Instant::now();
            let mut requests = tokio::task::JoinSet::new();
            for (n, path) in targets.into_iter().enumerate() {
                tokio::time::sleep_until(started + interval * n as u32).await;
                let base = &bases[(n + shift) % bases.len()];
                let mut request = http.request(method.clone(), format!("{base}{path}"));
                if method == reqwest::Method::POST {
                    // The page's form, as a browser posts it.
                    request = request.form(&[("submit", "1")]);
                }
                requests.spawn(async move {
                    let sent = Instant::now();
                    let response = request.send().await?;
                    let status = response.status();
                    response.bytes().await?;
                    anyhow::ensure!(status.is_success(), "{status}");
                    anyhow::Ok(sent.elapsed())
                });
            }
            let mut latencies = Vec::new();
            while let Some(done) = requests.join_next().await {
                latencies.push(done??);
            }
            latencies.sort_unstable();
            anyhow::Ok(latencies)
        }
    };
    let floor = phase(reqwest::Method::GET, vec!["/healthz".to_owned(); count], 0).await?;
    let pages = phase(reqwest::Method::GET, paths.clone(), 1).await?;
    let actions = phase(reqwest::Method::POST, paths, 2).await?;
    servers.abort_all();

    let reference = |q: f64, name: &str| Some((format!("GET /healthz {name} ms, {rate}/s"), percentile_ms(&floor, q)));
    Ok(vec![
        figure(backend, "page p50 ms", percentile_ms(&pages, 0.5), reference(0.5, "p50")),
        figure(backend, "page p99 ms", percentile_ms(&pages, 0.99), reference(0.99, "p99")),
        figure(backend, "click p50 ms", percentile_ms(&actions, 0.5), reference(0.5, "p50")),
        figure(backend, "click p99 ms", percentile_ms(&actions, 0.99), reference(0.99, "p99")),
    ])
}

/// Whether this process's connections to `url` speak TLS: sqlx, like libpq (and so `pgbench`),
/// prefers TLS when the server offers it and the URL does not say otherwise.
async fn speaks_tls(url: &str) -> anyhow::Result<bool> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await?;
    let tls = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_optional(&mut db);
    Ok(tls.await?.unwrap_or(false))
}

/// `url` for node-postgres, speaking the transport Accord's own connections speak. node-postgres
/// speaks plain TCP unless told otherwise, where sqlx and libpq take TLS when the server offers
/// it: left alone, graphile-worker would be measured without the cost of encryption that Accord
/// and `pgbench` pay. `no-verify` is TLS without checking the certificate, as `sslmode=prefer` is.
fn graphile_url(url: &str, tls: bool) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url).context("the --postgres URL")?;
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(key, _)| key != "sslmode").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.query_pairs_mut().clear().extend_pairs(kept).append_pair("sslmode", if tls { "no-verify" } else { "disable" });
    Ok(url.into())
}

/// Where the bench and `scripts/test` install the tools they run (graphile-worker, MailDev,
/// aiosmtpd): `ACCORD_TOOLS_DIR`, else `accord-tools` in `XDG_CACHE_HOME`, else in `~/.cache`.
pub fn tools_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("ACCORD_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|dir| std::path::PathBuf::from(dir).join("accord-tools")))
        .or_else(|| std::env::var_os("HOME").map(|dir| std::path::PathBuf::from(dir).join(".cache/accord-tools")))
}

/// The npm package graphile-worker running no-op jobs on the same database, over the transport
/// Accord's connections use: jobs/s, and whether that was TLS. Installed from
/// `bench/graphile`'s lock file into the tools cache on first use.
async fn graphile(url: &str, concurrency: usize) -> anyhow::Result<(f64, bool)> {
    let source = std::path::Path::new("bench/graphile");
    anyhow::ensure!(
        source.join("noop.js").is_file(),
        "bench/graphile/noop.js is missing: run from the repository root"
    );
    let cache = tools_dir().context("set ACCORD_TOOLS_DIR: where to install graphile-worker")?.join("graphile");
    if !cache.join("node_modules/graphile-worker").is_dir() {
        std::fs::create_dir_all(&cache)?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), cache.join(file))?;
        }
        let installed = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&cache)
            .status()
            .await
            .context("running npm (install Node.js and npm)")?;
        anyhow::ensure!(installed.success(), "npm ci failed in {}", cache.display());
    }
    let tls = speaks_tls(url).await?;
    let node_url = graphile_url(url, tls)?;
    settle(url).await?;
    let output = tokio::process::Command::new("node")
        .arg(source.join("noop.js"))
        .args(["--url", &node_url, "--jobs", "20000", "--concurrency", &concurrency.to_string()])
        .env("NODE_PATH", cache.join("node_modules"))
        .output()
        .await
        .context("running node")?;
    anyhow::ensure!(output.status.success(), "graphile-worker failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading graphile's result")?;
    Ok((result["jobs_per_s"].as_f64().context("graphile's result has no jobs_per_s")?, tls))
}

/// A timer two seconds after the start, nothing else.
const BENCH_TIMER_WORKFLOW: &str = r#"
name = "bench_timer"
initial = "waiting"

[[input]]
field = "contact.email"
type = "email"

[events]
ping = "timer"

[states.waiting]
timers = [{ name = "ping", after = "2s", event = "ping" }]
on.ping = { to = "done" }

[states.done]
final = true
"#;

/// What the database's size changes, measured at its current size.
struct Scale {
    lookup: Vec<Duration>,
    queue: Vec<Duration>,
    /// Timer lag: when each timer fired minus when it was due.
    lag: Vec<Duration>,
    rss_kib: u64,
}

/// Lookup and review-queue latency, timer lag and RSS with the database as it is, then after
/// adding `rows` instances with an armed timer each (far in the future, as a real backlog of
/// pending reviews and invitations is), each figure beside the same measured before.
async fn at_scale(url: &str, rows: u64) -> anyhow::Result<Vec<Figure>> {
    let store = store::connect(url, 10).await?;
    store.migrate().await?;
    let engine = bench_engine(store.clone(), BENCH_WORKFLOW, "bench", "ping").await?;
    let timers = bench_engine(store, BENCH_TIMER_WORKFLOW, "bench_timer", "unused").await?;
    // Fresh statistics first, as autovacuum keeps them on a live database: the tables were
    // just written by the other measurements, and a plan made without statistics is not the
    // figure a user would see.
    {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut db).await?;
    }
    let before = scale(&engine, &timers).await?;
    fill(url, rows).await?;
    let after = scale(&engine, &timers).await?;
    let label = |what: &str| format!("{what} before adding {rows} rows");
    Ok(vec![
        figure(
            "postgres+",
            "lookup p50 ms",
            percentile_ms(&after.lookup, 0.5),
            Some((label("p50"), percentile_ms(&before.lookup, 0.5))),
        ),
        figure(
            "postgres+",
            "lookup p99 ms",
            percentile_ms(&after.lookup, 0.99),
            Some((label("p99"), percentile_ms(&before.lookup, 0.99))),
        ),
        figure(
            "postgres+",
            "queue p50 ms",
            percentile_ms(&after.queue, 0.5),
            Some((label("p50"), percentile_ms(&before.queue, 0.5))),
        ),
        figure(
            "postgres+",
            "queue p99 ms",
            percentile_ms(&after.queue, 0.99),
            Some((label("p99"), percentile_ms(&before.queue, 0.99))),
        ),
        figure(
            "postgres+",
            "timer lag p50 ms",
            percentile_ms(&after.lag, 0.5),
            Some((label("p50"), percentile_ms(&before.lag, 0.5))),
        ),
        figure(
            "postgres+",
            "timer lag p99 ms",
            percentile_ms(&after.lag, 0.99),
            Some((label("p99"), percentile_ms(&before.lag, 0.99))),
        ),
        figure(
            "postgres+",
            "RSS MiB",
            after.rss_kib as f64 / 1024.0,
            Some((label("RSS"), before.rss_kib as f64 / 1024.0)),
        ),
    ])
}

async fn scale(engine: &Engine, timers: &Engine) -> anyhow::Result<Scale> {
    // Instance lookup: the API's GET /api/v1/instances/{id} (instance, history, timers, emails).
    let sample = engine
        .store()
        .list_instances(&crate::store::ListFilter { workflow: Some("bench".into()), limit: 500, ..Default::default() })
        .await?;
    anyhow::ensure!(!sample.is_empty(), "no bench instances to look up");
    let mut lookup = Vec::new();
    for n in 0..1000 {
        let id = sample[(n * 7919) % sample.len()].id;
        let started = Instant::now();
        engine.view(id).await?;
        lookup.push(started.elapsed());
    }
    lookup.sort_unstable();
    // The review queue: the newest 50 in one state of one workflow.
    let filter =
        crate::store::ListFilter { workflow: Some("bench".into()), state: Some("a".into()), limit: 50, offset: 0 };
    let mut queue = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        engine.store().list_instances(&filter).await?;
        queue.push(started.elapsed());
    }
    queue.sort_unstable();
    let lag = timer_lag(timers, 2000).await?;
    Ok(Scale { lookup, queue, lag, rss_kib: rss_kib() })
}

/// Timers coming due per second in the timer-lag measurement.
const TIMER_RATE: f64 = 200.0;

/// Starts `count` instances whose timer is due two seconds later, lets a scheduler (polling
/// every second, woken by commits) fire them, and returns each timer's lag, sorted.
async fn timer_lag(engine: &Engine, count: usize) -> anyhow::Result<Vec<Duration>> {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let scheduler =
        crate::scheduler::Scheduler::new(engine.clone(), Duration::from_secs(1), crate::lease::Lease::DEFAULT);
    let running = tokio::spawn(scheduler.run(shutdown));
    // Timers come due at a steady TIMER_RATE, as starts arrive (a rate the engine sustains, so
    // the figure is the scheduler's lag, not a backlog).
    let interval = Duration::from_secs_f64(1.0 / TIMER_RATE);
    let began = tokio::time::Instant::now();
    let mut starts = tokio::task::JoinSet::new();
    for n in 0..count {
        tokio::time::sleep_until(began + interval * n as u32).await;
        let engine = engine.clone();
        starts.spawn(async move {
            let input = json!({ "contact": { "email": format!("timer{n}@example.com") } });
            let request =
                StartRequest { workflow: "bench_timer".into(), input, idempotency_key: None, actor: "bench".into() };
            anyhow::Ok(engine.start(request).await?.instance.id)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(started) = starts.join_next().await {
        ids.push(started??);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lag = Vec::with_capacity(count);
    for id in ids {
        loop {
            let timer = engine.store().timers(id).await?.into_iter().next().context("the timer is missing")?;
            if let Some(fired) = timer.settled_at {
                lag.push(fired.since(timer.due_at));
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "timers did not fire within two minutes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let _ = stop.send(true);
    running.await?;
    lag.sort_unstable();
    Ok(lag)
}

/// Adds `rows` active bench instances, each with a timer armed 30 days out, in two statements.
async fn fill(url: &str, rows: u64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await?;
    let (hash,): (String,) =
        sqlx::query_as("SELECT hash FROM definitions WHERE workflow = 'bench' LIMIT 1").fetch_one(&mut db).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO instances (id, workflow, definition_hash, state, status, version, context, created_at, updated_at) \
         SELECT gen_random_uuid(), 'bench', $1, 'a', 'active', 1, '{}'::jsonb, $2 - g, $2 - g \
         FROM generate_series(1, $3) g",
    )
    .bind(&hash)
    .bind(now - 1_000_000_000)
    .bind(rows as i64)
    .execute(&mut db)
    .await?;
    sqlx::query(
        "INSERT INTO timers (id, instance_id, name, event, state, due_at, status, created_at) \
         SELECT gen_random_uuid(), id, 'expiry', 'expire', 'a', $1, 'armed', created_at \
         FROM instances WHERE workflow = 'bench' AND created_at < $2",
    )
    .bind(now + 30 * 86_400_000)
    .bind(now - 1_000_000_000)
    .execute(&mut db)
    .await?;
    sqlx::query("ANALYZE").execute(&mut db).await?;
    eprintln!("added {rows} instances and timers in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// This process's resident set size, from /proc (0 where there is none).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The `q` quantile of sorted latencies (nearest rank), in milliseconds.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::graphile_url;

    #[test]
    fn graphile_speaks_the_transport_accord_speaks() {
        let tls = graphile_url("postgres://bench@127.0.0.1:5432/scratch", true).unwrap();
        assert_eq!(tls, "postgres://bench@127.0.0.1:5432/scratch?sslmode=no-verify");
        let plain =
            graphile_url("postgres://bench@127.0.0.1/scratch?sslmode=prefer&application_name=b", false).unwrap();
        assert_eq!(plain, "postgres://bench@127.0.0.1/scratch?application_name=b&sslmode=disable");
    }
}
