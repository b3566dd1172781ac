//! The `accord` command line.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::bench::BenchArgs;
use accord::app::{self, App, DefinitionProblems};
use accord::config::Config;
use accord::delivery::drafts::{self, DraftEdit, DraftError};
use accord::engine::{EngineError, EventRequest, InstanceView, StartRequest};
use accord::ids::{InstanceId, OutboxId};
use accord::store::{EmailRecord, EmailStatus};
use accord::store::{ListFilter, Origin};
use accord::telemetry;
use accord::workflow::to_dot;

mod directory;
mod keys;
pub(crate) mod output;

/// Accord runs onboarding workflows that happen by email: state machines written as TOML in
/// workflows/, stored in SQLite (default) or PostgreSQL, moved on by links, decisions, signals
/// and timers.
///
/// Configuration comes from built-in defaults, then accord.toml (or --config), then ACCORD_*
/// environment variables: ACCORD_DATABASE_URL, ACCORD_SMTP_URL, ACCORD_PUBLIC_URL, ACCORD_LISTEN,
/// ACCORD_DATA_DIR, ACCORD_WORKFLOWS_DIR, ACCORD_TEMPLATES_DIR.
#[derive(Debug, Parser)]
#[command(name = "accord", version, max_term_width = 100)]
pub struct Cli {
    /// Configuration file [default: accord.toml when present]
    #[arg(long, global = true, env = "ACCORD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print machine-readable JSON on stdout (errors too, as {"error": {"code", "message"}})
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API and run the scheduler (timers, periodic jobs) until Ctrl-C or SIGTERM
    Serve,
    /// Validate every workflow file; report each problem as file:line:column with a hint
    ///
    /// Exits non-zero when any problem is found. Needs no database.
    Check {
        /// Directory of workflow files [default: workflows_dir from the configuration]
        #[arg(long, value_name = "DIR")]
        workflows: Option<PathBuf>,
    },
    /// Apply pending database migrations (also done on every start)
    Migrate,
    /// Start an instance of a workflow
    ///
    /// Example: accord start example_signup --input contact.json
    Start {
        /// The workflow's name (its file name in workflows/ without .toml)
        workflow: String,
        /// JSON input: a file path, or - for standard input
        #[arg(long, value_name = "FILE|-")]
        input: String,
        /// Starting again with the same key returns the first instance instead of a new one
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Show an instance: state, history, timers and queued emails
    Show {
        /// The instance's id
        id: String,
    },
    /// List instances, newest first
    List {
        /// Only instances of this workflow
        #[arg(long)]
        workflow: Option<String>,
        /// Only instances in this state
        #[arg(long)]
        state: Option<String>,
        /// Only active (in progress) or finished instances
        #[arg(long, value_parser = ["active", "finished"])]
        status: Option<String>,
        /// Only instances whose data contains this text (a name, an email address, a tenant
        /// domain), ignoring case
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// At most this many, newest first
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many (the next page: --offset 50)
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Send an event to an instance, as an operator (any event kind is allowed)
    ///
    /// Example: accord event 67e55044-10b1-426f-9247-bb680e5fe0c8 reject --data '{"reason": "incomplete"}'
    Event {
        /// The instance's id
        id: String,
        /// The event's name, as in the workflow's [events]
        event: String,
        /// Event data: JSON text, @FILE, or - for standard input
        #[arg(long, value_name = "JSON|@FILE|-")]
        data: Option<String>,
        /// Sending the same key again returns the first outcome instead of applying twice
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Print a workflow's state diagram as Graphviz DOT (pipe it to `dot -Tsvg`)
    Graph {
        /// The workflow's name
        workflow: String,
        /// Highlight the path this instance took
        #[arg(long, value_name = "ID")]
        instance: Option<String>,
    },
    /// Drafts and delivery: list, show, edit and release drafts; retry failed emails
    Emails {
        #[command(subcommand)]
        action: EmailsCommand,
    },
    /// Partners: list them with their users and roles, add providers, see a partner's indirect
    /// providers, indirect resellers and customers, remove relationships
    Partners {
        /// Only this kind: indirect_reseller or indirect_provider
        #[arg(long)]
        kind: Option<String>,
        #[command(subcommand)]
        action: Option<directory::PartnersCommand>,
    },
    /// Customers: list, show (with their partners), add, remove a partner's admin roles, delete a
    /// relationship, ask for the customer agreement
    Customers {
        #[command(subcommand)]
        action: Option<directory::CustomersCommand>,
    },
    /// Find the active indirect providers serving resellers in a country
    ///
    /// A provider serves the countries the directory records for it (`--serves`), else those of
    /// its CSP region. Example: accord providers --country IT
    Providers {
        /// The reseller's country, as an ISO 3166-1 alpha-2 code such as IT
        #[arg(long)]
        country: String,
    },
    /// Show the audit log of a partner or customer (partner:<id> or customer:<id>)
    Audit {
        /// `partner:<id>` or `customer:<id>`
        subject: String,
    },
    /// Print who may do what: every route and console action, the operator scopes and partner
    /// roles it admits, and the CLI command doing the same (the table the server enforces)
    Access,
    /// Manage API keys
    Keys {
        #[command(subcommand)]
        action: keys::KeysCommand,
    },
    /// Run every shipped workflow end to end: start it, read the mail, click the links
    ///
    /// With the embedded defaults the mail is read from the .eml files; with ACCORD_SMTP_URL set,
    /// read it back from a sink: accord demo --sink maildev=http://127.0.0.1:1080
    Demo(accord::demo::DemoArgs),
    /// Measure instance starts/s and events/s (and pgbench -N beside them on PostgreSQL)
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
enum EmailsCommand {
    /// List emails in a status (draft, queued, sending, sent, failed, cancelled), oldest first
    List {
        #[arg(long, default_value = "draft")]
        status: String,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Show an email; a draft's subject, text and HTML are shown in full
    Show { id: String },
    /// Edit a draft. An edit that drops or alters a personalised link is refused
    ///
    /// Example: accord emails edit ID --subject "Welcome aboard" --text new.txt
    Edit {
        id: String,
        /// The new subject
        #[arg(long)]
        subject: Option<String>,
        /// The new plain-text part: a file, or - for standard input
        #[arg(long, value_name = "FILE|-")]
        text: Option<String>,
        /// The new HTML part: a file, or - for standard input
        #[arg(long, value_name = "FILE|-")]
        html: Option<String>,
    },
    /// Release a draft: queue it for sending
    Release { id: String },
    /// Queue a failed email again (after fixing what the server refused)
    Retry { id: String },
}

/// Runs the command line; the exit code is 0 on success and 1 on any error.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            report_error(&err, json);
            ExitCode::FAILURE
        }
    }
}

fn report_error(err: &anyhow::Error, json: bool) {
    let code = err
        .downcast_ref::<EngineError>()
        .map(EngineError::code)
        .or_else(|| err.downcast_ref::<DraftError>().map(DraftError::code))
        .or_else(|| err.downcast_ref::<accord::directory::commands::CommandError>().map(|e| e.code()))
        .or_else(|| err.downcast_ref::<accord::keys::CreateError>().map(accord::keys::CreateError::code))
        .unwrap_or("error");
    if json {
        let mut body = json!({ "error": { "code": code, "message": format!("{err:#}") } });
        if let Some(EngineError::InvalidInput(fields)) = err.downcast_ref::<EngineError>() {
            body["error"]["fields"] = json!(fields);
        }
        if let Some(DefinitionProblems(problems)) = err.downcast_ref::<DefinitionProblems>() {
            body["error"]["problems"] = json!(problems);
        }
        output::line(&body.to_string());
        return;
    }
    output::note(&format!("error: {err:#}"));
    if let Some(EngineError::InvalidInput(fields)) = err.downcast_ref::<EngineError>() {
        for field in fields {
            let name = if field.field.is_empty() { "input" } else { &field.field };
            output::note(&format!("  {name}: {}", field.message));
        }
    }
    if let Some(DefinitionProblems(problems)) = err.downcast_ref::<DefinitionProblems>() {
        for problem in problems {
            output::note(&problem.to_string());
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let level = if matches!(cli.command, Command::Serve) { "info" } else { "warn" };
    telemetry::init(config.log_format, level);
    let json = cli.json;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Check { workflows } => check(config, workflows, json),
        Command::Migrate => {
            app::open_store(&config).await?;
            print(json, &json!({ "migrated": config.database_url_redacted() }), || {
                format!("database at {} is up to date", config.database_url_redacted())
            });
            Ok(())
        }
        Command::Start { workflow, input, idempotency_key } => {
            let input = read_json(&input).context("reading --input")?;
            let app = App::build(config).await?;
            let outcome =
                app.engine.start(StartRequest { workflow, input, idempotency_key, actor: "cli".into() }).await?;
            print(json, &outcome, || {
                let again = if outcome.replayed { " (already started with this key)" } else { "" };
                format!("{}\t{}\t{}{again}", outcome.instance.id, outcome.instance.workflow, outcome.instance.state)
            });
            Ok(())
        }
        Command::Show { id } => {
            let app = App::build(config).await?;
            let view = app.engine.view(parse_id(&id)?).await?;
            print(json, &view, || render_view(&view));
            Ok(())
        }
        Command::List { workflow, state, status, search, limit, offset } => {
            anyhow::ensure!((1..=10_000).contains(&limit), "--limit must be between 1 and 10000");
            anyhow::ensure!(offset >= 0, "--offset must be 0 or more");
            let status =
                status.map(|s| s.parse::<accord::store::InstanceStatus>()).transpose().map_err(anyhow::Error::msg)?;
            let app = App::build(config).await?;
            let filter = ListFilter { workflow, state, status, search, limit, offset, ..Default::default() };
            let items = app.engine.store().list_instances(&filter).await?;
            print(json, &items, || {
                items
                    .iter()
                    .map(|i| format!("{}\t{}\t{}\t{}\t{}", i.id, i.workflow, i.state, i.status, i.updated_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        Command::Event { id, event, data, idempotency_key } => {
            let data = match data {
                Some(data) => read_json(&data).context("reading --data")?,
                None => Value::Null,
            };
            let app = App::build(config).await?;
            let request = EventRequest { event, data, idempotency_key, origin: Origin::Operator, actor: "cli".into() };
            let outcome = app.engine.apply(parse_id(&id)?, request).await?;
            print(json, &outcome, || {
                let again = if outcome.replayed { " (replayed: this key was applied before)" } else { "" };
                let from = outcome.event.from_state.as_ref().map_or_else(String::new, ToString::to_string);
                format!("{}: {} -> {}{again}", outcome.event.event, from, outcome.event.to_state)
            });
            Ok(())
        }
        Command::Graph { workflow, instance } => {
            let (definition, path) = match instance {
                None => {
                    let report = app::load_workflows(&config, &accord::csp::registry())?;
                    let definition = report.definitions.into_iter().find(|d| d.name.as_str() == workflow);
                    let definition = definition.ok_or_else(|| {
                        anyhow::anyhow!(
                            "unknown workflow `{workflow}`; `accord check` lists problems, workflows/ holds the files"
                        )
                    })?;
                    (std::sync::Arc::new(definition), Vec::new())
                }
                Some(id) => {
                    let app = App::build(config).await?;
                    let view = app.engine.view(parse_id(&id)?).await?;
                    let definition = app.engine.definition_of(&view.instance).await?;
                    let path = view.history.iter().map(|h| h.to_state.to_string()).collect();
                    (definition, path)
                }
            };
            let dot = to_dot(&definition, &path);
            print(json, &json!({ "workflow": definition.name, "dot": dot }), || dot.trim_end().to_owned());
            Ok(())
        }
        Command::Keys { action } => keys::run(config, action, json).await,
        Command::Access => {
            let rows: Vec<Value> = accord::access::TABLE
                .iter()
                .map(|r| {
                    json!({ "method": r.method, "path": r.path, "what": r.what, "public": r.public,
                            "operator_scopes": r.operators, "partner_roles": r.partner_roles, "cli": r.cli })
                })
                .collect();
            print(json, &rows, accord::access::markdown);
            let _ = config;
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(config, args, json).await,
        Command::Demo(args) => accord::demo::run(config, args, json).await,
        Command::Emails { action } => emails(config, action, json).await,
        Command::Partners { kind, action } => directory::partners(config, kind, action, json).await,
        Command::Customers { action } => directory::customers(config, action, json).await,
        Command::Audit { subject } => directory::audit(config, subject, json).await,
        Command::Providers { country } => directory::find_providers(config, country, json).await,
    }
}

async fn emails(config: Config, action: EmailsCommand, json: bool) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let engine = &app.engine;
    let parse = |id: &str| id.parse::<OutboxId>().map_err(anyhow::Error::msg);
    let show = |email: &EmailRecord| {
        let mut text = format!(
            "email {}\ninstance {}\nto       {} <{}>\nstatus   {} ({} attempt(s))\nsubject  {}\n",
            email.id, email.instance_id, email.party, email.recipient, email.status, email.attempts, email.subject
        );
        if let Some(reply) = &email.last_reply {
            text.push_str(&format!("reply    {reply}\n"));
        }
        if email.status == EmailStatus::Draft {
            text.push_str(&format!("\n{}\n", email.text_body.trim_end()));
            if let Some(html) = &email.html_body {
                text.push_str(&format!("\n--- html ---\n{}\n", html.trim_end()));
            }
        }
        text.trim_end().to_owned()
    };
    let view = |email: &EmailRecord| {
        let mut value = serde_json::to_value(email).unwrap_or_default();
        if email.status == EmailStatus::Draft {
            value["text"] = json!(email.text_body);
            value["html"] = json!(email.html_body);
        }
        value
    };
    match action {
        EmailsCommand::List { status, limit } => {
            let status: EmailStatus = status.parse().map_err(anyhow::Error::msg)?;
            let emails = engine.store().emails_by_status(status, limit.clamp(1, 10_000), None).await?;
            print(json, &emails, || {
                emails
                    .iter()
                    .map(|e| format!("{}\t{}\t{}\t{}", e.id, e.recipient, e.status, e.subject))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        EmailsCommand::Show { id } => {
            let id = parse(&id)?;
            let email = engine.store().email(id).await?.ok_or(DraftError::Unknown(id))?;
            print(json, &view(&email), || show(&email));
        }
        EmailsCommand::Edit { id, subject, text, html } => {
            let read = |source: Option<String>| -> anyhow::Result<Option<String>> {
                source.map(|s| read_text(&s)).transpose()
            };
            let edit = DraftEdit {
                subject,
                text: read(text).context("reading --text")?,
                html: read(html).context("reading --html")?,
            };
            let email = drafts::edit(engine, parse(&id)?, edit).await?;
            print(json, &view(&email), || show(&email));
        }
        EmailsCommand::Release { id } => {
            let email = drafts::release(engine, parse(&id)?).await?;
            print(json, &view(&email), || format!("email {} queued for {}", email.id, email.recipient));
        }
        EmailsCommand::Retry { id } => {
            let email = drafts::retry(engine, parse(&id)?).await?;
            print(json, &json!({ "id": email.id, "status": email.status }), || {
                format!("email {} queued again", email.id)
            });
        }
    }
    Ok(())
}

fn read_text(source: &str) -> anyhow::Result<String> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Migrate and load first, listen after: a process that accepts connections is ready.
    let listen = config.listen.clone();
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; set ACCORD_LISTEN to a free host:port"))?;
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    app.serve(listener, shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn check(mut config: Config, workflows: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    if let Some(dir) = workflows {
        config.workflows_dir = dir;
    }
    let report = app::load_workflows(&config, &accord::csp::registry())?;
    if json {
        let names: Vec<String> = report.definitions.iter().map(|d| d.name.to_string()).collect();
        output::line(&json!({ "files": report.files, "workflows": names, "problems": report.problems }).to_string());
    } else {
        for problem in &report.problems {
            output::line(&problem.to_string());
        }
        output::line(&format!(
            "{} file(s) in {}: {} workflow(s) valid, {} problem(s)",
            report.files,
            config.workflows_dir.display(),
            report.definitions.len(),
            report.problems.len()
        ));
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        // The problems are printed; the error only sets the exit code.
        Err(anyhow::anyhow!("{} problem(s) found", report.problems.len()))
    }
}

pub(crate) fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        output::line(&serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        let text = text();
        if !text.is_empty() {
            output::line(&text);
        }
    }
}

fn parse_id(text: &str) -> anyhow::Result<InstanceId> {
    text.parse::<InstanceId>().map_err(anyhow::Error::msg)
}

/// Reads JSON from text, `@FILE`, a file path, or `-` (standard input).
fn read_json(source: &str) -> anyhow::Result<Value> {
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        text
    } else if let Some(path) = source.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    } else if source.trim_start().starts_with(['{', '[']) {
        source.to_owned()
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    };
    serde_json::from_str(&text).map_err(|err| anyhow::anyhow!("not valid JSON: {err}"))
}

fn render_view(view: &InstanceView) -> String {
    let i = &view.instance;
    let mut out = format!(
        "instance {}\nworkflow {} (definition {})\nstate    {} ({}, version {})\n\nhistory:\n",
        i.id,
        i.workflow,
        &i.definition_hash[..12.min(i.definition_hash.len())],
        i.state,
        i.status,
        i.version
    );
    for h in &view.history {
        let from = h.from_state.as_ref().map_or_else(|| "·".to_owned(), ToString::to_string);
        out.push_str(&format!(
            "  {:>3}  {}  {:<16} {} -> {}  ({} {})\n",
            h.seq, h.at, h.event, from, h.to_state, h.origin, h.actor
        ));
    }
    if !view.timers.is_empty() {
        out.push_str("\ntimers:\n");
        for t in &view.timers {
            out.push_str(&format!("  {:<16} {:<12} due {}  {}\n", t.name, t.state, t.due_at, t.status));
        }
    }
    if !view.emails.is_empty() {
        out.push_str("\nemails:\n");
        for e in &view.emails {
            out.push_str(&format!("  {:<20} to {} <{}>  {}\n", e.template, e.party, e.recipient, e.status));
        }
    }
    out.trim_end().to_owned()
}
