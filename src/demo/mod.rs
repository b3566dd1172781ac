//! `accord demo`: runs every shipped workflow end to end on a database of its own and the
//! configured mail transport, reading the mail back (from the `.eml` files of the embedded
//! default, or from an SMTP sink's API with `--sink`) and clicking the links it finds, as a
//! recipient would. It never writes into the database `accord serve` uses: by default it starts
//! from a fresh SQLite database in `<data_dir>/demo/` at each run.

mod flows;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::watch;

use crate::app::App;
use crate::config::Config;
use crate::sink::Sink;
use crate::store::{default_sqlite_url, redact_url, Scope};

use flows::{Mailbox, Report, Runner};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The database the demo writes to (sqlite://… or postgres://…). Default: a fresh SQLite
    /// database in <data_dir>/demo/, replaced at each run. Never the one `accord serve` uses
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Keep the demo's server running after the run (until Ctrl-C), so that the links in its
    /// emails can be opened, and print an admin key for its console
    #[arg(long)]
    serve: bool,
    /// Read the mail back from this SMTP sink instead of the .eml files: mailhog=URL,
    /// mailpit=URL or maildev=URL (the sink's HTTP API); needed when ACCORD_SMTP_URL is set
    #[arg(long, value_name = "KIND=URL")]
    sink: Option<String>,
    /// How long to wait for each email
    #[arg(long, default_value = "30s")]
    timeout: String,
}

/// The workflows the demo runs, in order (the relationship commands are directory commands).
const WORKFLOWS: [&str; 7] = [
    "example_signup",
    "enrollment",
    "provider_invitation",
    "customer_invitation",
    "dual_customer_invitation",
    "customer_agreement",
    "relationship_commands",
];

/// Points `config` at the demo's own database and mail directory: `--database`, else a fresh
/// SQLite database in `<data_dir>/demo/`. Refuses the database `accord serve` uses.
fn use_own_database(config: &mut Config, database: Option<&str>) -> anyhow::Result<String> {
    let serve_database = config.database_url();
    let demo_dir = config.data_dir.join("demo");
    let url = match database {
        Some(url) => url.trim().to_owned(),
        None => default_sqlite_url(&demo_dir),
    };
    anyhow::ensure!(
        !same_database(&url, &serve_database),
        "{} is the database `accord serve` uses; the demo adds partners, customers and instances to \
         the database it runs on, so it never runs there. Leave out --database (a fresh SQLite \
         database in {}) or name another one",
        redact_url(&url),
        demo_dir.display()
    );
    if database.is_none() {
        // The default database belongs to the demo: each run starts from nothing.
        reset(&demo_dir)?;
    }
    // The demo's .eml files go beside its database, never among those of `accord serve`.
    reset_mail(&demo_dir.join("mail"))?;
    config.database_url = Some(SecretString::from(url.clone()));
    config.data_dir = demo_dir;
    Ok(url)
}

/// Whether two database URLs name the same database (SQLite paths compared as files).
fn same_database(a: &str, b: &str) -> bool {
    fn sqlite_path(url: &str) -> Option<PathBuf> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = Path::new(path.split('?').next().unwrap_or(path));
        Some(std::path::absolute(path).unwrap_or_else(|_| path.to_owned()))
    }
    match (sqlite_path(a), sqlite_path(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

/// Removes the demo's own SQLite files from `dir`, and nothing else.
fn reset(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in ["accord.db", "accord.db-wal", "accord.db-shm", "accord.db-journal"] {
        let path = dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("removing the previous demo's {}", path.display())),
        }
    }
    Ok(())
}

/// Removes the previous run's `.eml` files from the demo's mail directory.
fn reset_mail(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "eml") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

pub async fn run(mut config: Config, args: DemoArgs, json: bool) -> anyhow::Result<()> {
    let timeout = humantime::parse_duration(&args.timeout).context("bad --timeout")?;
    let serve_url = config.public_url.clone();
    let database = use_own_database(&mut config, args.database.as_deref())?;
    let mail_dir = config.data_dir.join("mail");
    let mailbox = match (&args.sink, config.smtp_url.is_some()) {
        (Some(spec), _) => Mailbox::Sink(Sink::parse(spec)?),
        (None, false) => Mailbox::Files(mail_dir.clone()),
        (None, true) => anyhow::bail!(
            "ACCORD_SMTP_URL is set, so the mail leaves this machine: pass --sink mailhog=URL, mailpit=URL or maildev=URL to read it back"
        ),
    };
    let mail_location = match &args.sink {
        Some(spec) => spec.clone(),
        None => mail_dir.display().to_string(),
    };
    // The demo serves the link pages itself, on a free loopback port.
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port for the link pages")?;
    let base = format!("http://{}", listener.local_addr()?);
    config.public_url = base.clone();
    config.scheduler_poll = "200ms".into();
    let app = App::build(config).await?;
    let engine = app.engine.clone();
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.serve(listener, shutdown));

    let progress = if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        // One step per workflow; the message says what the current one waits for.
        let bar = ProgressBar::new(WORKFLOWS.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    };
    let mut runner = Runner {
        engine: engine.clone(),
        mailbox,
        base: base.clone(),
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        timeout,
        seen: Vec::new(),
        progress,
        reseller: None,
        reseller_admin: String::new(),
        provider: None,
        customer: None,
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut reports = Vec::new();
    for workflow in WORKFLOWS {
        runner.progress.set_message(workflow);
        let mut report = Report { workflow: workflow.into(), ..Report::default() };
        let result = match workflow {
            "example_signup" => runner.example_signup(&mut report, &tag).await,
            "enrollment" => runner.enrollment(&mut report, &tag).await,
            "provider_invitation" => runner.provider_invitation(&mut report, &tag).await,
            "customer_invitation" => runner.customer_invitation(&mut report, &tag).await,
            "dual_customer_invitation" => runner.dual_customer_invitation(&mut report, &tag).await,
            "customer_agreement" => runner.customer_agreement(&mut report, &tag).await,
            _ => runner.relationship_commands(&mut report).await,
        };
        if let Err(err) = result {
            report.error = Some(format!("{err:#}"));
        }
        reports.push(report);
        runner.progress.inc(1);
    }
    runner.progress.finish_and_clear();

    let summary = Summary {
        ok: reports.iter().filter(|r| r.error.is_none()).count(),
        emails: reports.iter().map(|r| r.emails.len()).sum(),
        mail: mail_location,
        database: redact_url(&database),
    };
    // With --serve, the console needs a key: the demo's database is its own, so one is made there.
    let console_key = if args.serve && summary.ok == reports.len() {
        let now = engine.clock().now();
        Some(crate::keys::create_operator(engine.store().as_ref(), Scope::Admin, "accord demo --serve", now).await?.0)
    } else {
        None
    };
    print(&reports, &summary, json, &serve_url)?;
    let failed = reports.len() - summary.ok;
    if let (Some(key), 0) = (console_key, failed) {
        let mut err = std::io::stderr().lock();
        writeln!(err, "\nThe demo's server stays up, so the links in its emails work: {base}")?;
        writeln!(err, "Its console: {base}/console (sign in with the admin key {key})")?;
        writeln!(err, "Press Ctrl-C to stop.")?;
        drop(err);
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    let _ = stop.send(true);
    server.await.context("the demo server panicked")??;
    anyhow::ensure!(failed == 0, "{failed} workflow(s) did not run as expected");
    Ok(())
}

/// What the whole run did.
struct Summary {
    ok: usize,
    emails: usize,
    /// Where the emails are: the `.eml` directory, or the sink.
    mail: String,
    /// The demo's database, without its password.
    database: String,
}

/// Writes each workflow's report, the summary and the next steps. Written with `?`: a reader that
/// went away (`accord demo | head`) ends the command quietly.
fn print(reports: &[Report], summary: &Summary, json: bool, serve_url: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let failed = reports.len() - summary.ok;
    if json {
        let document = json!({
            "workflows": reports,
            "failed": failed,
            "summary": { "ok": summary.ok, "workflows": reports.len(), "emails": summary.emails,
                         "mail": summary.mail, "database": summary.database },
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
        return Ok(out.flush()?);
    }
    for r in reports {
        let outcome = if r.error.is_some() { "FAILED" } else { "ok" };
        writeln!(out, "{} {outcome}", r.workflow)?;
        if !r.states.is_empty() {
            writeln!(out, "  states: {}", r.states.join(" -> "))?;
        }
        for step in &r.steps {
            writeln!(out, "  {step}")?;
        }
        writeln!(out, "  emails received: {}", r.emails.len())?;
        for email in &r.emails {
            writeln!(out, "    {email}")?;
        }
        writeln!(out, "  links clicked: {}", r.links_clicked)?;
        if r.refusals_checked > 0 {
            writeln!(out, "  refusals checked: {}", r.refusals_checked)?;
        }
        if let Some(error) = &r.error {
            writeln!(out, "  error: {error}")?;
        }
    }
    writeln!(
        out,
        "\n{}/{} workflows ok; {} emails in {}; database {}",
        summary.ok,
        reports.len(),
        summary.emails,
        summary.mail,
        summary.database
    )?;
    if failed == 0 {
        writeln!(out, "\nNext steps:")?;
        writeln!(out, "  accord demo --serve                 run it again and keep its links working")?;
        writeln!(out, "  accord serve                        the API, the console and the link pages at {serve_url}")?;
        writeln!(out, "  accord keys create --scope admin    a key for the API and for {serve_url}/console")?;
    }
    Ok(out.flush()?)
}
