//! Link-click latency over HTTP: a page, then its form, on one server or on `--nodes` servers
//! taking the requests in turn.

use super::*;
use accord::http::harden;

/// An invitation with a link, like the shipped workflows' emails.
pub(super) const BENCH_LINK_WORKFLOW: &str = r#"
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
pub(super) async fn link_latency(
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
        // The served stack, with the request rates off: the bench measures the application.
        let limits = config.limits.clone().without_rate_limits();
        let router = harden::protect(accord::http::router(engine.clone()), &limits, &config.templates_dir)?;
        let serving = harden::Serving::from_config(config)?;
        servers.spawn(harden::serve(listener, router, serving, std::future::pending()));
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
