//! Instance starts/s and events/s: `--clients` callers on `--nodes` engines sharing one store.

use super::*;

/// Starts/s and events/s of `clients` concurrent clients spread over `nodes` engines, each
/// with a connection pool of its own (as `accord serve` processes on one database have).
pub(super) async fn measure(url: &str, nodes: usize, clients: usize, duration: Duration) -> anyhow::Result<(f64, f64)> {
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
