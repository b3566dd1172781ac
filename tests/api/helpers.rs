//! The one test harness: [`spawn_app`] gives every integration test a fresh database (SQLite in a
//! temp dir, or a new PostgreSQL database when ACCORD_TEST_POSTGRES_URL is set), the app built
//! the way `main` builds it on a manual clock (timers fire without sleeping), serving HTTP on a
//! port of its own, API keys, and on request an SMTP server capturing the mail; [`free_port`] is
//! the one way to pick a port for anything else.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accord::app::App;
use accord::clock::{ManualClock, Timestamp};
use accord::config::{Config, Limits};
use accord::engine::{Engine, EngineError, EventRequest, Outcome, StartRequest};
use accord::http::harden::{serve, Serving};
use accord::ids::InstanceId;
use accord::scheduler::Scheduler;
use accord::store::Origin;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::watch;

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
            // The tests exercise the application, not the limiter: request rates are off here
            // (tests/api/hardening.rs turns them on where it tests them).
            limits: Limits::default().without_rate_limits(),
            ..Config::default()
        }
    }
}

/// Everything a test drives: the application built the way `main` builds it, on a manual clock,
/// serving HTTP on a port of its own, with an API key per scope on request and, with
/// [`Spawn::smtp`], an SMTP server in process (mailcrab) capturing what it sends.
pub struct TestApp {
    pub db: TestDb,
    pub app: App,
    pub clock: Arc<ManualClock>,
    /// `http://127.0.0.1:<port>`: the API, the link pages and the console.
    pub base: String,
    /// A client that does not follow redirects, so tests see them.
    pub client: reqwest::Client,
    /// The port `ACCORD_SMTP_URL` points at; nothing listens there without [`Spawn::smtp`].
    pub smtp_port: u16,
    mailbox: Option<mailcrab::TestMailServerHandle>,
    _stop: watch::Sender<bool>,
}

/// How to spawn a [`TestApp`]: `spawn_app(backend)` for the defaults, else
/// `TestApp::options(backend)` and the builder methods.
pub struct Spawn {
    backend: Backend,
    db: Option<TestDb>,
    smtp: bool,
    adjust: Vec<Adjust>,
}

/// A change to the configuration a [`TestApp`] is built with.
type Adjust = Box<dyn FnOnce(&mut Config) + Send>;

impl Spawn {
    /// Starts an SMTP server for the app's mail ([`TestApp::next_mail`]).
    pub fn smtp(mut self) -> Self {
        self.smtp = true;
        self
    }

    /// Runs on `db` instead of a fresh database (a restart on the same data).
    pub fn db(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// Changes the configuration the app is built with.
    pub fn config(mut self, adjust: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    /// Loads workflows and templates from these directories instead of the repository's (a test
    /// that edits a copy: [`copy_definitions`]).
    pub fn definitions(self, workflows: &Path, templates: &Path) -> Self {
        let (workflows, templates) = (workflows.to_owned(), templates.to_owned());
        self.config(move |config| {
            config.workflows_dir = workflows;
            config.templates_dir = templates;
        })
    }

    /// `None` when the backend is not available here (skipped; a failure under CI=true).
    pub async fn spawn(self) -> Option<TestApp> {
        let db = match self.db {
            Some(db) => db,
            None => TestDb::new(self.backend).await?,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("a bound address"));
        let smtp_port = free_port();
        let mailbox = if self.smtp { Some(start_mailcrab(smtp_port).await) } else { None };
        let mut config = db.config();
        config.public_url = base.clone();
        config.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}").into());
        for adjust in self.adjust {
            adjust(&mut config);
        }
        let clock = Arc::new(ManualClock::new(Timestamp::from_datetime("2026-03-02T09:00:00Z".parse().unwrap())));
        let app = App::build_with_clock(config, clock.clone()).await.expect("the app builds");
        let router = app.router().expect("the router builds");
        let serving = Serving::from_config(&app.config).expect("the server's limits");
        let (stop, mut shutdown) = watch::channel(false);
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        tokio::spawn(async move { serve(listener, router, serving, stopped).await.expect("the test server runs") });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Some(TestApp { db, app, clock, base, client, smtp_port, mailbox, _stop: stop })
    }
}

/// The application on a fresh database of `backend`, serving HTTP, on the defaults.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    TestApp::options(backend).spawn().await
}

impl TestApp {
    pub fn options(backend: Backend) -> Spawn {
        Spawn { backend, db: None, smtp: false, adjust: Vec::new() }
    }

    pub fn engine(&self) -> &Engine {
        &self.app.engine
    }

    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.app.engine.clone(), Duration::from_secs(1), accord::lease::Lease::DEFAULT)
    }

    /// Stops serving and hands back the database, for a restart on the same data.
    pub fn stop(self) -> TestDb {
        self.db
    }

    /// A new API key with `scope`, as `accord keys create` makes it.
    pub async fn key(&self, scope: accord::store::Scope) -> String {
        self.new_key(accord::keys::KeyHolder::Operator(scope)).await
    }

    /// A new partner key acting as `user` of `partner`, as `accord keys create --partner` makes it.
    pub async fn partner_key(&self, partner: uuid::Uuid, user: &str) -> String {
        self.new_key(accord::keys::KeyHolder::Partner { partner, user: user.to_owned() }).await
    }

    async fn new_key(&self, holder: accord::keys::KeyHolder) -> String {
        let now = accord::clock::Clock::now(self.clock.as_ref());
        let new = accord::keys::NewKey { holder, label: "test".into(), expires_in: None };
        accord::keys::create(self.engine().store().as_ref(), &new, now).await.unwrap().0
    }

    /// The JSON API with `key`.
    pub fn api_with(&self, key: &str) -> ApiClient {
        ApiClient { client: self.client.clone(), base: self.base.clone(), key: key.to_owned() }
    }

    /// Sends what is due now; the number of emails handled.
    pub async fn dispatch(&self) -> usize {
        self.app.dispatcher().unwrap().dispatch_due().await.unwrap()
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

    /// Starts the SMTP server now, on [`TestApp::smtp_port`]: a server that was down comes back.
    pub async fn start_smtp(&mut self) {
        self.mailbox = Some(start_mailcrab(self.smtp_port).await);
    }

    /// Dispatches what is due, expecting `expected` emails, and returns them as received.
    pub async fn deliver(&mut self, expected: usize) -> Vec<Mail> {
        assert_eq!(self.dispatch().await, expected);
        let mut mails = Vec::new();
        for _ in 0..expected {
            mails.push(self.next_mail().await);
        }
        mails
    }

    /// The next message the SMTP server received, decoded.
    pub async fn next_mail(&mut self) -> Mail {
        let mailbox = self.mailbox.as_mut().expect("an SMTP server: spawn with .smtp()");
        let message =
            tokio::time::timeout(Duration::from_secs(10), mailbox.rx.recv()).await.expect("a mail arrives").unwrap();
        let raw = message.raw_bytes().expect("raw message");
        let decoded = accord::sink::SinkMessage::from_raw("", Vec::new(), &raw).expect("a MIME message");
        Mail {
            to: decoded.to,
            subject: decoded.subject,
            message_id: decoded.message_id,
            text: decoded.text,
            html: decoded.html,
            raw: String::from_utf8_lossy(&raw).into_owned(),
        }
    }

    pub fn no_more_mail(&mut self) {
        let mailbox = self.mailbox.as_mut().expect("an SMTP server: spawn with .smtp()");
        assert!(mailbox.rx.try_recv().is_err(), "an unexpected extra mail arrived");
    }

    /// The personalised link in `mail` whose page has `title`.
    pub async fn link_titled(&self, mail: &Mail, title: &str) -> String {
        for link in links_in(&mail.text, &self.base) {
            let page = self.client.get(&link).send().await.unwrap().text().await.unwrap();
            if page.contains(&format!("<h1>{title}</h1>")) {
                return link;
            }
        }
        panic!("no link titled {title:?} in:\n{}", mail.text)
    }

    pub async fn get(&self, url: &str) -> (StatusCode, String) {
        let response = self.client.get(url).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self.client.post(url).form(form).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Signs in to the console with `key` as a browser does: the sign-in form first (its CSRF
    /// token and cookie), then the form posted with them. The answer to the post.
    pub async fn console_sign_in(&self, key: &str) -> reqwest::Response {
        let form = self.client.get(format!("{}/console/login", self.base)).send().await.unwrap();
        let cookie =
            form.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
        let html = form.text().await.unwrap();
        let csrf = html.split("name=\"csrf\" value=\"").nth(1).expect("a CSRF field").split('"').next().unwrap();
        self.client
            .post(format!("{}/console/login", self.base))
            .header(reqwest::header::COOKIE, cookie)
            .form(&[("key", key), ("csrf", csrf)])
            .send()
            .await
            .unwrap()
    }

    /// Calls the JSON API at `path` with `key`; the body as JSON, or as a string when it is not.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let api = ApiClient { client: self.client.clone(), base: self.base.clone(), key: key.to_owned() };
        api.call(method, path, body).await
    }

    /// The JSON API with a new key of `scope`.
    pub async fn api(&self, scope: accord::store::Scope) -> ApiClient {
        ApiClient { client: self.client.clone(), base: self.base.clone(), key: self.key(scope).await }
    }
}

/// The JSON API with one key. It owns what it needs, so a test can take mail from its
/// [`TestApp`] meanwhile.
pub struct ApiClient {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl ApiClient {
    /// The body as JSON, or as a string when it is not.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A GET that must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Releases every draft; returns how many.
    pub async fn release_drafts(&self) -> usize {
        let drafts = self.get("/api/v1/emails?status=draft").await;
        let items = drafts["items"].as_array().unwrap().clone();
        for draft in &items {
            let path = format!("/api/v1/emails/{}/release", draft["id"].as_str().unwrap());
            assert_eq!(self.call(reqwest::Method::POST, &path, None).await.0, StatusCode::OK);
        }
        items.len()
    }
}

/// A received message, decoded.
#[derive(Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// The message as the server received it: headers, and the parts as encoded.
    pub raw: String,
}

async fn start_mailcrab(port: u16) -> mailcrab::TestMailServerHandle {
    let handle = mailcrab::development_mail_server([127, 0, 0, 1], port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "mailcrab did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle
}

/// Every `<base>/l/<token>` in `text`: the token is base64url, so whatever follows it (a space, a
/// quote, the `)` of `label (URL)` in a text part) is not part of the link.
pub fn links_in(text: &str, base: &str) -> Vec<String> {
    let prefix = format!("{base}/l/");
    text.match_indices(&prefix)
        .map(|(at, _)| {
            let token: String = text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect();
            format!("{prefix}{token}")
        })
        .collect()
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

/// A tool `scripts/test` installed: at `$env` when set, else at `under` in the tools cache.
fn installed(env: &str, under: &str) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(path) => Some(PathBuf::from(path)),
        None => Some(tools_dir()?.join(under)),
    }
}

/// Where `scripts/test` (and `accord bench`) install the tools they run: `ACCORD_TOOLS_DIR`, else
/// `accord-tools` in `XDG_CACHE_HOME`, else in `~/.cache`.
fn tools_dir() -> Option<PathBuf> {
    let cache = |dir: std::ffi::OsString, under: &str| PathBuf::from(dir).join(under);
    std::env::var_os("ACCORD_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|dir| cache(dir, "accord-tools")))
        .or_else(|| std::env::var_os("HOME").map(|dir| cache(dir, ".cache/accord-tools")))
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
