//! At scale: the review queue and timer lag with `--rows` instances and timers, and what the
//! process's memory does meanwhile.

use super::*;

/// A timer two seconds after the start, nothing else.
pub(super) const BENCH_TIMER_WORKFLOW: &str = r#"
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
pub(super) struct Scale {
    lookup: Vec<Duration>,
    queue: Vec<Duration>,
    /// Timer lag: when each timer fired minus when it was due.
    lag: Vec<Duration>,
    rss_kib: u64,
}

/// Lookup and review-queue latency, timer lag and RSS with the database as it is, then after
/// adding `rows` instances with an armed timer each (far in the future, as a real backlog of
/// pending reviews and invitations is), each figure beside the same measured before.
pub(super) async fn at_scale(url: &str, rows: u64) -> anyhow::Result<Vec<Figure>> {
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

pub(super) async fn scale(engine: &Engine, timers: &Engine) -> anyhow::Result<Scale> {
    // Instance lookup: the API's GET /api/v1/instances/{id} (instance, history, timers, emails).
    let sample = engine
        .store()
        .list_instances(&accord::store::ListFilter { workflow: Some("bench".into()), limit: 500, ..Default::default() })
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
    let filter = accord::store::ListFilter {
        workflow: Some("bench".into()),
        state: Some("a".into()),
        limit: 50,
        ..Default::default()
    };
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
pub(super) const TIMER_RATE: f64 = 200.0;

/// Starts `count` instances whose timer is due two seconds later, lets a scheduler (polling
/// every second, woken by commits) fire them, and returns each timer's lag, sorted.
pub(super) async fn timer_lag(engine: &Engine, count: usize) -> anyhow::Result<Vec<Duration>> {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let scheduler =
        accord::scheduler::Scheduler::new(engine.clone(), Duration::from_secs(1), accord::lease::Lease::DEFAULT);
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
pub(super) async fn fill(url: &str, rows: u64) -> anyhow::Result<()> {
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
    output::note(&format!("added {rows} instances and timers in {:.1}s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// This process's resident set size, from /proc (0 where there is none).
pub(super) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
