//! Emails/s: Accord's dispatchers against a blaster that sends the same messages with Python's
//! smtplib, both to the same SMTP server.

use super::*;

/// One email on start, nothing else.
pub(super) const BENCH_MAIL_WORKFLOW: &str = r#"
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

/// Queues `count` emails (one per started instance) in the database at `url` and times
/// `nodes` dispatchers, each with an engine, a pool and an SMTP pool of its own (as `accord
/// serve` processes have), delivering them all between them. On PostgreSQL, emails the bench's
/// workflows queued in earlier measurements and never sent are marked failed first, so that
/// only this measurement's are counted.
pub(super) async fn dispatch_rate(
    url: &str,
    nodes: usize,
    smtp: &str,
    count: usize,
    parallel: usize,
) -> anyhow::Result<f64> {
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
        let transport = accord::delivery::Transport::new(Some(smtp), dir.path().join(format!("mail{n}")))?;
        let dispatcher = accord::delivery::Dispatcher::new(
            engine,
            Arc::new(transport),
            "Accord bench <bench@example.com>".parse()?,
            accord::delivery::Backoff::default(),
            Duration::from_millis(100),
            accord::lease::Lease::DEFAULT,
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

pub(super) const BLASTER: &str = r#"
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
pub(super) async fn blaster_rate(smtp: &str, count: usize, threads: usize) -> anyhow::Result<f64> {
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
