//! Test harness: a fresh database per test (SQLite in a temp dir, or a new PostgreSQL database
//! when ACCORD_TEST_POSTGRES_URL is set), the app built the way `main` builds it, and a manual
//! clock so timers fire without sleeping.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord::app::App;
use accord::clock::{ManualClock, Timestamp};
use accord::config::Config;
use accord::engine::{Engine, EngineError, EventRequest, Outcome, StartRequest};
use accord::ids::InstanceId;
use accord::scheduler::Scheduler;
use accord::store::Origin;
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named test function.
#[macro_export]
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The PostgreSQL server for tests: `None` when not configured, which fails under CI=true.
pub fn postgres_base_url() -> Option<String> {
    let url = std::env::var("ACCORD_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty());
    required(url, "ACCORD_TEST_POSTGRES_URL", "the PostgreSQL variant")
}

/// A fresh, empty database.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("accord.db").display()),
            Backend::Postgres => {
                let base = postgres_base_url()?;
                let name = format!("accord_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect to ACCORD_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&base).expect("ACCORD_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                url.to_string()
            }
        };
        Some(Self { url, dir })
    }

    /// A configuration pointing at this database, the repository's workflows and templates.
    pub fn config(&self) -> Config {
        Config {
            data_dir: self.dir.path().join("data"),
            database_url: Some(self.url.clone().into()),
            workflows_dir: repo().join("workflows"),
            templates_dir: repo().join("templates"),
            database_max_connections: 8,
            parties: [("reviewers".to_owned(), "reviewers@contoso.example".to_owned())].into(),
            ..Config::default()
        }
    }
}

/// The application on a manual clock.
pub struct TestApp {
    pub db: TestDb,
    pub app: App,
    pub clock: Arc<ManualClock>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let config = db.config();
        Some(Self::with_config(db, config).await)
    }

    pub async fn with_config(db: TestDb, config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::from_datetime("2026-03-02T09:00:00Z".parse().unwrap())));
        let app = App::build_with_clock(config, clock.clone()).await.expect("the app builds");
        Self { db, app, clock }
    }

    pub fn engine(&self) -> &Engine {
        &self.app.engine
    }

    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.app.engine.clone(), Duration::from_secs(1), accord::lease::Lease::DEFAULT)
    }

    pub async fn start_signup(&self) -> InstanceId {
        self.engine().start(signup_request()).await.expect("the sign-up starts").instance.id
    }

    pub async fn send(&self, id: InstanceId, event: &str, data: Value) -> Result<Outcome, EngineError> {
        self.engine().apply(id, operator(event, data, None)).await
    }

    pub async fn state(&self, id: InstanceId) -> String {
        self.engine().store().instance(id).await.unwrap().unwrap().state.to_string()
    }
}

pub fn signup_input() -> Value {
    json!({
        "company": { "name": "Contoso Italia" },
        "contact": { "name": "Anna Rossi", "email": "anna.rossi@contoso.it", "locale": "it-CH" }
    })
}

pub fn signup_request() -> StartRequest {
    StartRequest {
        workflow: "example_signup".into(),
        input: signup_input(),
        idempotency_key: None,
        actor: "test".into(),
    }
}

pub fn operator(event: &str, data: Value, key: Option<&str>) -> EventRequest {
    EventRequest {
        event: event.into(),
        data,
        idempotency_key: key.map(str::to_owned),
        origin: Origin::Operator,
        actor: "test".into(),
    }
}

/// Copies the repository's workflows and templates into `dir`, for tests that edit them.
pub fn copy_definitions(dir: &Path) -> (PathBuf, PathBuf) {
    let workflows = dir.join("workflows");
    let templates = dir.join("templates");
    copy_tree(&repo().join("workflows"), &workflows);
    copy_tree(&repo().join("templates"), &templates);
    (workflows, templates)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `found`, or, when it is missing, `None` after saying that `test` is skipped; under CI=true a
/// missing `what` fails instead, since CI must run every test.
pub fn required<T>(found: Option<T>, what: &str, test: &str) -> Option<T> {
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {what} is missing: {test} must run");
        eprintln!("{what} is missing: skipping {test} (scripts/test installs and starts what it needs)");
    }
    found
}

/// A tool `scripts/test` installed: at `$env` when set, else at `under` in the tools cache
/// (`accord::bench::tools_dir`).
fn installed(env: &str, under: &str) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(path) => Some(PathBuf::from(path)),
        None => Some(accord::bench::tools_dir()?.join(under)),
    }
}

/// The MailDev that `scripts/test` installs (`ACCORD_TEST_MAILDEV_BIN`, or the tools cache).
pub fn maildev_bin() -> Option<PathBuf> {
    installed("ACCORD_TEST_MAILDEV_BIN", "node_modules/.bin/maildev").filter(|path| path.is_file())
}

/// Where `scripts/test` installed aiosmtpd for `tests/support/tls_relay.py`
/// (`ACCORD_TEST_AIOSMTPD_PATH`, or the tools cache): a directory for `PYTHONPATH`.
pub fn aiosmtpd_path() -> Option<PathBuf> {
    installed("ACCORD_TEST_AIOSMTPD_PATH", "python").filter(|path| path.join("aiosmtpd").is_dir())
}

/// MailDev listening on loopback: SMTP on `smtp`, its web API on `web`.
pub fn maildev_command(bin: &Path, smtp: u16, web: u16) -> std::process::Command {
    let mut command = std::process::Command::new(bin);
    command.args(["--ip", "127.0.0.1", "-s", &smtp.to_string(), "--web-ip", "127.0.0.1", "-w", &web.to_string()]);
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(25));
    }
}
