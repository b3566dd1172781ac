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

pub async fn run(_config: Config, args: BenchArgs, json: bool) -> anyhow::Result<()> {
    let duration = humantime::parse_duration(&args.duration).context("bad --duration")?;
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    let mut figures = Vec::new();

    let dir = tempfile::tempdir().context("creating a temporary directory for the SQLite bench")?;
    let sqlite_url = store::default_sqlite_url(dir.path());
    let (starts, events) = measure(&sqlite_url, args.clients, duration).await?;
    figures.push(figure("sqlite", "starts/s", starts, None));
    figures.push(figure("sqlite", "events/s", events, None));

    if let Some(url) = &args.postgres {
        let (starts, events) = measure(url, args.clients, duration).await?;
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
        figures.push(figure("postgres", "events/s", events, reference));
    }

    if let Some(count) = args.emails {
        let smtp = args.smtp.as_deref().context("--emails needs --smtp smtp://HOST:PORT (an SMTP sink)")?;
        let sent = dispatch_rate(smtp, count, args.clients).await?;
        let reference = match blaster_rate(smtp, count, args.clients).await {
            Ok(rate) => Some((format!("python smtplib, {} threads", args.clients), rate)),
            Err(err) => {
                eprintln!("blaster reference skipped: {err:#}");
                None
            }
        };
        figures.push(figure("sqlite", "emails/s", sent, reference));
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

/// An engine running one embedded workflow whose one email template is `template`.
async fn bench_engine(
    store: Arc<dyn crate::store::Store>,
    source: &str,
    name: &str,
    template: &str,
) -> anyhow::Result<Engine> {
    let env = CheckEnv { guards: &[], start_checks: &[], effects: &[], template_exists: None };
    let definition = parse_definition(&format!("{name}.toml"), source, &env)
        .map_err(|p| anyhow::anyhow!("bench workflow: {p:?}"))?;
    let mut renderer = Renderer::empty();
    renderer.add_raw(&format!("email/{name}/{template}.subject.tera"), "Hello {{ contact.email }}")?;
    renderer.add_raw(
        &format!("email/{name}/{template}.txt.tera"),
        "Hello {{ contact.email }}, this is a message of about the same size as the blaster's. State: {{ state }}.",
    )?;
    let mail = MailSettings {
        renderer: Arc::new(renderer),
        public_url: "http://127.0.0.1:8080".into(),
        parties: Default::default(),
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

async fn measure(url: &str, clients: usize, duration: Duration) -> anyhow::Result<(f64, f64)> {
    let store = store::connect(url, clients as u32 + 2).await?;
    store.migrate().await?;
    let engine = bench_engine(store, BENCH_WORKFLOW, "bench", "ping").await?;

    // Starts: each client starts instances until the deadline, keeping their ids for the events.
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (engine, count) = (engine.clone(), count.clone());
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
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for ids in per_client {
        let (engine, count) = (engine.clone(), count.clone());
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

/// Queues `count` emails (one per started instance) and times the dispatcher delivering them all.
async fn dispatch_rate(smtp: &str, count: usize, parallel: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store = store::connect(&store::default_sqlite_url(dir.path()), parallel as u32 + 2).await?;
    store.migrate().await?;
    let engine = bench_engine(store, BENCH_MAIL_WORKFLOW, "bench_mail", "hello").await?;
    let mut tasks = Vec::new();
    for client in 0..parallel {
        let engine = engine.clone();
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
    let transport = crate::mail::Transport::new(Some(smtp), dir.path().join("mail"))?;
    let dispatcher = crate::mail::Dispatcher::new(
        &engine,
        Arc::new(transport),
        "Accord bench <bench@example.com>".parse()?,
        crate::mail::Backoff::default(),
        Duration::from_millis(100),
        crate::lease::Lease::DEFAULT,
    );
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < count {
        let sent = dispatcher.dispatch_due().await?;
        anyhow::ensure!(
            sent > 0 || started.elapsed() < Duration::from_secs(60),
            "the dispatcher stalled at {delivered} of {count}"
        );
        delivered += sent;
    }
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
