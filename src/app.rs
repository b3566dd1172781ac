//! One function builds the application, for `main`, the tests and the benchmarks alike.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::{Dispatcher, Transport};
use crate::engine::{Engine, MailSettings, Registry};
use crate::http::harden::Serving;
use crate::mail::check::check_templates;
use crate::mail::Renderer;
use crate::scheduler::Scheduler;
use crate::store::{self, DatabaseClock, Store};
use crate::workflow::{Catalog, CheckEnv, Diagnostic, InputRules, LoadReport};

/// A loaded, migrated application, ready to serve.
pub struct App {
    pub config: Config,
    pub engine: Engine,
    /// The clock `build` set up: the node's, corrected to the database's.
    database_clock: Option<Arc<DatabaseClock>>,
}

/// Workflow files failed `accord check`.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the workflow definitions; run `accord check` for the list", .0.len())]
pub struct DefinitionProblems(pub Vec<Diagnostic>);

impl App {
    /// Connects to the database, applies migrations, loads and checks the workflows and
    /// records their snapshots.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let clock = Arc::new(DatabaseClock::new(Arc::new(SystemClock)));
        let mut app = Self::build_with_clock(config, clock.clone()).await?;
        sync_clock(&clock, app.engine.store().as_ref()).await.context("reading the database's clock")?;
        app.database_clock = Some(clock);
        Ok(app)
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let registry = Arc::new(crate::csp::registry());
        let report = load_workflows(&config, &registry)?;
        if !report.problems.is_empty() {
            return Err(DefinitionProblems(report.problems).into());
        }
        let renderer = Arc::new(Renderer::load(&config.templates_dir)?);
        let store = open_store(&config).await?;
        let rules = InputRules { webmail_domains: config.webmail_domains.clone() };
        let mail = MailSettings {
            renderer,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            parties: config.parties.clone(),
            draft_url_hosts: draft_url_hosts(&config),
            from: config.mail_from()?,
            reply_to: config.mail_reply_to()?,
            time_zone: config.time_zone()?,
        };
        let engine = Engine::new(store, Arc::new(Catalog::new(report.definitions)), registry, clock, rules, mail);
        engine.publish_definitions().await.context("recording the workflow definitions")?;
        Ok(Self { config, engine, database_clock: None })
    }

    pub fn scheduler(&self) -> anyhow::Result<Scheduler> {
        Ok(Scheduler::new(self.engine.clone(), self.config.scheduler_poll()?, self.config.lease()?))
    }

    /// The outbox dispatcher for the configured transport (SMTP, or `.eml` files in
    /// `<data_dir>/mail` when no SMTP URL is set).
    pub fn dispatcher(&self) -> anyhow::Result<Dispatcher> {
        let transport = Transport::new(self.config.smtp_url().as_deref(), self.config.data_dir.join("mail"))?;
        Ok(Dispatcher::new(
            &self.engine,
            Arc::new(transport),
            self.config.mail_from()?,
            self.config.backoff()?,
            self.config.scheduler_poll()?,
            self.config.lease()?,
        ))
    }

    /// The HTTP application as it is served: the routes, with the configured limits and the
    /// security headers ([`crate::http::harden::protect`]).
    pub fn router(&self) -> anyhow::Result<axum::Router> {
        let mut state = crate::http::AppState::new(self.engine.clone());
        state.agreements = Arc::new(self.config.agreements.clone());
        let routes = crate::http::router_with(state);
        crate::http::harden::protect(routes, &self.config.limits, &self.config.templates_dir)
    }

    /// Serves HTTP on `listener` and runs the scheduler until `shutdown` turns true.
    pub async fn serve(self, listener: TcpListener, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let router = self.router()?;
        let serving = Serving::from_config(&self.config)?;
        let scheduler = tokio::spawn(self.scheduler()?.run(shutdown.clone()));
        let dispatcher = tokio::spawn(self.dispatcher()?.run(shutdown.clone()));
        let store = self.engine.store().clone();
        let wake = self.engine.wake().clone();
        let listener_task = tokio::spawn(async move { store.listen(wake).await });
        let clock_task = self.database_clock.clone().map(|clock| {
            let store = self.engine.store().clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(CLOCK_SYNC).await;
                    if let Err(err) = sync_clock(&clock, store.as_ref()).await {
                        tracing::warn!(error = %err, "reading the database's clock failed; keeping the last offset");
                    }
                }
            })
        });
        info!(
            address = %listener.local_addr()?,
            database = %self.config.database_url_redacted(),
            max_connections = serving.max_connections,
            "accord is serving"
        );
        let mut stop = shutdown.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        crate::http::harden::serve(listener, router, serving, stopped).await.context("the HTTP server failed")?;
        scheduler.await.context("the scheduler panicked")?;
        dispatcher.await.context("the dispatcher panicked")?;
        listener_task.abort();
        if let Some(task) = clock_task {
            task.abort();
        }
        Ok(())
    }
}

/// The public URL's host and the configured ones, in lower case.
fn draft_url_hosts(config: &Config) -> Vec<String> {
    let mut hosts: Vec<String> = config.draft_url_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    if let Some(host) = url::Url::parse(&config.public_url).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    {
        hosts.push(host);
    }
    hosts
}

/// How often a node measures its clock against the database's again.
const CLOCK_SYNC: std::time::Duration = std::time::Duration::from_secs(60);

/// Measures the node's offset to the database's clock; a large one is worth a warning, as
/// emails and logs carry the node's time.
async fn sync_clock(clock: &DatabaseClock, store: &dyn Store) -> Result<(), crate::store::StoreError> {
    let offset = clock.sync(store).await?;
    if offset.abs() > 1_000 {
        tracing::warn!(
            offset_ms = offset,
            "this node's clock disagrees with the database's; timers follow the database"
        );
    }
    Ok(())
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&config.database_url(), config.database_max_connections).await?;
    store.migrate().await.with_context(|| format!("migrating the database at {}", config.database_url_redacted()))?;
    Ok(store)
}

/// Reads and checks every workflow file against the registry and the templates directory.
pub fn load_workflows(config: &Config, registry: &Registry) -> anyhow::Result<LoadReport> {
    // The CSP rules the workflows run read the regions: a bad file stops `serve` and `check` alike.
    accord_core::regions::shipped().map_err(|err| anyhow::anyhow!(err.clone()))?;
    let guards = registry.guard_names();
    let effects = registry.effect_names();
    let start_checks = registry.start_check_specs();
    let templates = config.templates_dir.clone();
    let exists = move |workflow: &str, template: &str| template_exists(&templates, workflow, template);
    let env =
        CheckEnv { guards: &guards, start_checks: &start_checks, effects: &effects, template_exists: Some(&exists) };
    let mut report = LoadReport::read_dir(&config.workflows_dir, &env)
        .with_context(|| format!("reading workflow definitions from {}", config.workflows_dir.display()))?;
    match Renderer::load(&config.templates_dir) {
        Ok(renderer) => {
            for definition in &report.definitions {
                let file = config.workflows_dir.join(format!("{}.toml", definition.name)).display().to_string();
                for (name, party) in &definition.parties {
                    let Some(key) = &party.config else { continue };
                    let valid =
                        config.parties.get(key).is_some_and(|address| address.parse::<lettre::Address>().is_ok());
                    if !valid {
                        let line = definition
                            .source
                            .lines()
                            .position(|l| l.contains(&format!("[parties.{name}]")))
                            .map_or(1, |i| i + 1);
                        report.problems.push(Diagnostic {
                            file: file.clone(),
                            line,
                            column: 1,
                            message: format!("party `{name}` takes its address from the configuration, but `parties.{key}` is not set to an email address"),
                            hint: format!("add [parties] {key} = \"team@example.com\" to accord.toml, or set ACCORD_PARTIES='{{{key}=\"team@example.com\"}}'"),
                        });
                    }
                }
                report.problems.extend(check_templates(definition, &renderer, &file, &definition.source));
            }
        }
        Err(err) => report.problems.push(Diagnostic {
            file: config.templates_dir.display().to_string(),
            line: 1,
            column: 1,
            message: err.to_string(),
            hint: "fix the template syntax Tera points at".into(),
        }),
    }
    Ok(report)
}

/// A message needs a subject and a body: Markdown (`md`), or a plain-text part (`txt`).
fn template_exists(dir: &Path, workflow: &str, template: &str) -> bool {
    let base = dir.join("email").join(workflow);
    let part = |part: &str| base.join(format!("{template}.{part}.tera")).is_file();
    part("subject") && (part("md") || part("txt"))
}
