//! Fault drills with real processes on loopback: `accord serve` nodes sharing a private
//! PostgreSQL cluster (private, so restarting it disturbs no other test) and a private MailDev
//! that keeps every message as an `.eml` file, so what reached the sink outlives the sink.
//! Recipients are played by the test: it reads the invitations from the sink and clicks their
//! links on random nodes. Every check reads the database and the sink after the fact.
//!
//! They need PostgreSQL's server binaries and MailDev, which `scripts/test` installs; without
//! them they skip, except under CI=true, where they fail.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::helpers::{free_port, maildev_bin, maildev_command, required, wait_for_port};

/// The drill: an invitation with a link, a reminder, and an expiry for those who never click.
const DRILL: &str = r#"
name = "drill"
initial = "invited"

[[input]]
field = "contact.email"
type = "email"

[parties.contact]
email = "contact.email"

[events]
accept = "link"
remind = "timer"
expire = "timer"

[links.accept]
event = "accept"
party = "contact"
expires = "1d"
title = { en = "Accept the invitation" }
button = { en = "Accept" }

[states.invited]
emails = [{ template = "invite", to = "contact", links = ["accept"] }]
timers = [
    { name = "reminder", after = "REMINDER", event = "remind" },
    { name = "expiry", after = "EXPIRY", event = "expire" },
]
on.accept = { to = "accepted" }
on.expire = { to = "expired" }

[states.invited.on.remind]
emails = [{ template = "reminder", to = "contact" }]

[states.accepted]
final = true
emails = [{ template = "welcome", to = "contact" }]

[states.expired]
final = true

[sample]
contact = { email = "c0@drill.example" }
"#;

/// The last line of every drill email: a file without it is a message the sink never finished.
const COMPLETE: &str = "End of message.";

/// Every request rate off (`[limits]` as one environment variable).
const OFF: &str = "{api_per_minute=0,sign_in_per_minute=0,link_token_per_minute=0,link_address_per_minute=0}";

/// How long a request may take before the drill counts it as hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

fn postgres_bindir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("ACCORD_TEST_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

fn succeed(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of the drill's own, on a free port.
struct PrivatePostgres {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    root: bool,
}

impl PrivatePostgres {
    fn start(bindir: PathBuf) -> Self {
        let dir = tempfile::Builder::new().prefix("accord-drill-pg-").tempdir().unwrap();
        let root = is_root();
        if root {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            let uid = |flag: &str| {
                let out = Command::new("id").args([flag, "postgres"]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().expect("a postgres user")
            };
            std::os::unix::fs::chown(dir.path(), Some(uid("-u")), Some(uid("-g"))).unwrap();
        }
        let pg = Self { bindir, dir, port: free_port(), root };
        let data = pg.data();
        succeed(
            pg.tool("initdb").args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"]).arg(&data),
            "initdb",
        );
        pg.ctl("start");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bindir.join(name);
        let mut command = if self.root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    /// `pg_ctl start`, `restart` (a fast shutdown: sessions are cut) or `stop`.
    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        succeed(
            self.tool("pg_ctl")
                .args([action, "-w", "-t", "60", "-m", "fast", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &options]),
            &format!("pg_ctl {action}"),
        );
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.tool("pg_ctl").args(["stop", "-m", "immediate", "-D"]).arg(self.data()).output();
    }
}

/// One message as the sink stored it.
#[derive(Clone, Debug)]
struct Received {
    message_id: String,
    to: String,
    subject: String,
    text: String,
}

/// MailDev, keeping every message it accepts as a file, across its own restarts.
struct Sink {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    parsed: Mutex<HashMap<PathBuf, Received>>,
}

impl Sink {
    fn start(bin: PathBuf) -> Self {
        let mut sink =
            Self { bin, dir: tempfile::tempdir().unwrap(), port: free_port(), child: None, parsed: Mutex::default() };
        sink.resume();
        sink
    }

    fn resume(&mut self) {
        let web = free_port();
        let log = std::fs::File::create(self.dir.path().join(format!("maildev-{}.log", self.port))).unwrap();
        let mail = self.dir.path().join("mail");
        let child = maildev_command(&self.bin, self.port, web)
            .arg("--mail-directory")
            .arg(&mail)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start MailDev");
        self.child = Some(child);
        wait_for_port(self.port, "MailDev");
    }

    /// Kills the sink outright (at the end of a test).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Shuts the sink down as its operator would (SIGTERM): it refuses new connections, finishes
    /// writing what it accepted and exits; connections are refused until [`Sink::resume`]. A
    /// SIGKILL could lose an accepted message: MailDev answers 250 when the message has arrived,
    /// before its file is written, so the sender rightly counts it as delivered.
    fn shut_down(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        succeed(Command::new("kill").args(["-TERM", &child.id().to_string()]), "kill -TERM MailDev");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "MailDev did not exit within 60 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every message stored whole so far (files still being written are left for the next call).
    fn messages(&self) -> Vec<Received> {
        let mut parsed = self.parsed.lock().unwrap();
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else { return Vec::new() };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "eml") || parsed.contains_key(&path) {
                continue;
            }
            let raw = std::fs::read(&path).unwrap();
            let Some(message) = mail_parser::MessageParser::default().parse(&raw) else { continue };
            let text = message.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
            if !text.contains(COMPLETE) {
                // Still being written: the drill's last line is not there yet.
                continue;
            }
            let received = Received {
                message_id: message.message_id().unwrap_or_default().to_owned(),
                to: message.to().and_then(|to| to.first()).and_then(|a| a.address()).unwrap_or_default().to_owned(),
                subject: message.subject().unwrap_or_default().to_owned(),
                text,
            };
            parsed.insert(path, received);
        }
        parsed.values().cloned().collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `accord serve` processes on one database.
struct Nodes {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl Nodes {
    fn new(count: usize, database_url: &str, smtp_port: u16, reminder: &str, expiry: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (workflows, templates) = crate::helpers::copy_definitions(dir.path());
        for entry in std::fs::read_dir(&workflows).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        std::fs::write(workflows.join("drill.toml"), DRILL.replace("REMINDER", reminder).replace("EXPIRY", expiry))
            .unwrap();
        let email = templates.join("email/drill");
        std::fs::create_dir_all(&email).unwrap();
        for (name, subject, text) in [
            ("invite", "Drill invitation", "Accept here: {{ links.accept }}\n"),
            ("reminder", "Drill reminder", "You have not accepted yet.\n"),
            ("welcome", "Drill welcome", "Welcome aboard.\n"),
        ] {
            let text = format!("{text}{COMPLETE}\n");
            std::fs::write(email.join(format!("{name}.subject.tera")), subject).unwrap();
            std::fs::write(email.join(format!("{name}.txt.tera")), text).unwrap();
        }
        let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let env = vec![
            ("ACCORD_DATABASE_URL".to_owned(), database_url.to_owned()),
            ("ACCORD_DATABASE_MAX_CONNECTIONS".to_owned(), "10".to_owned()),
            ("ACCORD_SMTP_URL".to_owned(), format!("smtp://127.0.0.1:{smtp_port}")),
            ("ACCORD_WORKFLOWS_DIR".to_owned(), workflows.display().to_string()),
            ("ACCORD_TEMPLATES_DIR".to_owned(), templates.display().to_string()),
            ("ACCORD_PUBLIC_URL".to_owned(), format!("http://127.0.0.1:{}", ports[0])),
            ("ACCORD_SCHEDULER_POLL".to_owned(), "250ms".to_owned()),
            ("ACCORD_LEASE".to_owned(), "5s".to_owned()),
            ("ACCORD_SMTP_RETRY_BASE".to_owned(), "1s".to_owned()),
            // Thousands of starts and clicks from one key and one address: the drills load the
            // nodes, so request rates are off, as in the test harness.
            ("ACCORD_LIMITS".to_owned(), OFF.to_owned()),
        ];
        let mut nodes = Self { dir, env, ports, children: (0..count).map(|_| None).collect() };
        for node in 0..count {
            nodes.start(node);
        }
        nodes
    }

    fn command(&self, node: usize) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
        command
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ACCORD_LISTEN", format!("127.0.0.1:{}", self.ports[node]))
            .env("ACCORD_DATA_DIR", self.dir.path().join(format!("node{node}")))
            .env_remove("ACCORD_CONFIG")
            .env_remove("RUST_LOG");
        command
    }

    fn start(&mut self, node: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{node}.log")))
            .unwrap();
        let child =
            self.command(node).arg("serve").stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("accord serve");
        self.children[node] = Some(child);
        wait_for_port(self.ports[node], "accord serve");
    }

    /// SIGKILL: no graceful shutdown, claims left as they were.
    fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.children[node].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn api_key(&self) -> String {
        let output =
            self.command(0).args(["--json", "keys", "create", "--scope", "pipeline", "--label", "drill"]).output();
        let output = output.unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let created: Value = serde_json::from_slice(&output.stdout).unwrap();
        created["key"].as_str().unwrap().to_owned()
    }

    fn url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[node])
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in 0..self.children.len() {
            self.kill(node);
        }
        if std::thread::panicking() {
            // Keep the logs for the failure report.
            self.dir.disable_cleanup(true);
            eprintln!("node logs kept in {}", self.dir.path().display());
        }
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Traffic {
    /// Requests that failed (refused, reset, 5xx) and were tried again on another node.
    retried: usize,
    /// Requests that took longer than [`REQUEST_TIMEOUT`].
    hung: usize,
}

/// A client that tries each request on random nodes until one answers, as a pipeline would.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    nodes: Arc<Vec<String>>,
    key: String,
    traffic: Arc<Mutex<Traffic>>,
}

impl Client {
    fn random(&self) -> &str {
        &self.nodes[rand::thread_rng().gen_range(0..self.nodes.len())]
    }

    async fn retry<F, Fut>(&self, what: &str, mut send: F) -> reqwest::Response
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let started = Instant::now();
            match send(self.random().to_owned()).await {
                Ok(response) if !response.status().is_server_error() => return response,
                Ok(_) | Err(_) => {
                    let mut traffic = self.traffic.lock().unwrap();
                    traffic.retried += 1;
                    if started.elapsed() >= REQUEST_TIMEOUT {
                        traffic.hung += 1;
                    }
                }
            }
            assert!(Instant::now() < deadline, "{what}: no node answered for three minutes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts drill instance `n`; its idempotency key makes a retry on another node safe.
    async fn start(&self, n: usize) {
        let body = json!({
            "workflow": "drill",
            "input": { "contact": { "email": format!("c{n}@drill.example") } },
            "idempotency_key": format!("drill-{n}"),
        });
        let response = self
            .retry("start", |node| {
                self.http.post(format!("{node}/api/v1/instances")).bearer_auth(&self.key).json(&body).send()
            })
            .await;
        assert!(response.status().is_success(), "start {n}: {}", response.text().await.unwrap());
    }

    /// Clicks a link's action on a random node, as a recipient's browser posts the page's form.
    async fn click(&self, path: &str) {
        let response =
            self.retry("click", |node| self.http.post(format!("{node}{path}")).form(&[("submit", "1")]).send()).await;
        let status = response.status();
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "clicking {path} gave {status}: {page}");
    }
}

/// A fault to inject once half the instances have been started.
type Fault<'a> = Box<dyn FnOnce() + Send + 'a>;

/// What a drill found; every figure comes from the database and the sink after the run.
struct Report {
    emails: usize,
    /// Emails the sink received twice (same Message-ID): the crash fell between the server's
    /// acceptance and the commit.
    duplicates: usize,
    retried_requests: usize,
    took_over_emails: i64,
    took_over_timers: i64,
    /// Delivery attempts the sink did not accept (refused, cut off) and that were retried.
    deferred_attempts: i64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} emails, {} received twice (same Message-ID), {} requests retried on another node, \
             {} emails and {} timers taken over from a lapsed claim, {} delivery attempts deferred",
            self.emails,
            self.duplicates,
            self.retried_requests,
            self.took_over_emails,
            self.took_over_timers,
            self.deferred_attempts
        )
    }
}

/// Runs `count` drill instances through `nodes`: instance `n` is clicked when `clicks(n)`;
/// `fault` runs once half have started. Waits until every instance is final and every email
/// reached the sink, then checks the whole record.
async fn drill(
    nodes: Arc<Mutex<Nodes>>,
    sink: Arc<Mutex<Sink>>,
    database_url: &str,
    count: usize,
    clicks: fn(usize) -> bool,
    fault: Fault<'static>,
) -> Report {
    let (urls, key) = {
        let nodes = nodes.lock().unwrap();
        ((0..nodes.ports.len()).map(|n| nodes.url(n)).collect::<Vec<_>>(), nodes.api_key())
    };
    let client = Client {
        http: reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap(),
        nodes: Arc::new(urls),
        key,
        traffic: Arc::default(),
    };

    // Recipients: read invitations from the sink and click the ones chosen.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clicker = tokio::spawn({
        let (client, sink, done) = (client.clone(), sink.clone(), done.clone());
        async move {
            let mut clicked = HashSet::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let sink = sink.clone();
                let messages = tokio::task::spawn_blocking(move || sink.lock().unwrap().messages()).await.unwrap();
                let mut pending = Vec::new();
                for message in messages.iter().filter(|m| m.subject == "Drill invitation") {
                    let n = recipient_number(&message.to);
                    if clicks(n) && clicked.insert(n) {
                        pending.push(link_path(&message.text).unwrap_or_else(|| panic!("no link in {}", message.text)));
                    }
                }
                let rounds = pending.into_iter().map(|path| {
                    let client = client.clone();
                    async move { client.click(&path).await }
                });
                futures::stream::iter(rounds).buffer_unordered(8).collect::<Vec<()>>().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            clicked
        }
    });

    // Pipelines: start every instance through random nodes, 16 at a time.
    let mut fault = Some(fault);
    let mut started = futures::stream::iter(0..count)
        .map(|n| {
            let client = client.clone();
            async move { client.start(n).await }
        })
        .buffer_unordered(16);
    let mut finished = 0;
    while let Some(()) = started.next().await {
        finished += 1;
        if finished == count / 2 {
            let fault = fault.take().unwrap();
            tokio::task::spawn_blocking(fault).await.unwrap();
        }
    }

    // Wait for the work to settle: every instance final, every email sent and in the sink, or
    // cancelled because its instance ended before it left (a reminder queued just before the
    // expiry: issue 16's rule that an ended instance's unsent email is not sent).
    let mut db = PgConnection::connect(database_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (active,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM instances WHERE status = 'active'").fetch_one(&mut db).await.unwrap();
        let (unsent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status NOT IN ('sent', 'cancelled')")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT message_id FROM outbox WHERE status = 'sent'").fetch_all(&mut db).await.unwrap();
        let sink_now = sink.clone();
        let received: HashSet<String> = tokio::task::spawn_blocking(move || sink_now.lock().unwrap().messages())
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.message_id)
            .collect();
        let missing = ids.iter().filter(|(id,)| !received.contains(id.trim_matches(['<', '>']))).count();
        if active == 0 && unsent == 0 && missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the drill did not settle: {active} instances active, {unsent} emails unsent, {missing} not in the sink"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let clicked = clicker.await.unwrap();

    // Every instance is where its recipient's choice leads.
    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT start_key, state FROM instances").fetch_all(&mut db).await.unwrap();
    assert_eq!(states.len(), count, "one instance per start, however often a start was retried");
    for (key, state) in &states {
        let n: usize = key.trim_start_matches("drill-").parse().unwrap();
        let expected = if clicks(n) { "accepted" } else { "expired" };
        assert_eq!(state, expected, "instance {key}");
        assert_eq!(clicks(n), clicked.contains(&n), "instance {key} was clicked as chosen");
    }

    // No transition twice: each event at most once per instance, and the version counts them.
    let (repeated,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT instance_id, event FROM history GROUP BY instance_id, event HAVING COUNT(*) > 1) r",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(repeated, 0, "an event applied twice to one instance");
    let (miscounted,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM instances i WHERE i.version <> (SELECT COUNT(*) FROM history h WHERE h.instance_id = i.id)",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(miscounted, 0);

    // Every timer fired once or was cancelled when its state was left; none is left behind.
    let timers: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT t.name, t.status, (SELECT COUNT(*) FROM history h WHERE h.idempotency_key = 'timer:' || t.id::text) \
         FROM timers t",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(timers.len(), 2 * count);
    for (name, status, fired) in &timers {
        match status.as_str() {
            "fired" => assert_eq!(*fired, 1, "timer {name} fired {fired} times"),
            "cancelled" => assert_eq!(*fired, 0),
            other => panic!("timer {name} left {other}"),
        }
    }
    let expiries = timers.iter().filter(|(name, status, _)| name == "expiry" && status == "fired").count();
    assert_eq!(expiries, (0..count).filter(|n| !clicks(*n)).count(), "each unclicked instance expired once");

    // An email was cancelled only when its instance ended before it left, and only if an earlier
    // step queued it: never an instance's final notice.
    let (wrongly_cancelled,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox o JOIN instances i ON i.id = o.instance_id \
         WHERE o.status = 'cancelled' AND (i.status <> 'finished' OR o.history_seq >= i.version)",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(wrongly_cancelled, 0, "an email cancelled while its instance went on, or its final notice");

    // Every email sent reached the sink, more than once only with the same Message-ID; no
    // cancelled one did.
    let outbox: Vec<(String, String)> =
        sqlx::query_as("SELECT message_id, status FROM outbox").fetch_all(&mut db).await.unwrap();
    // A cancelled email may have reached the sink only in a crash window: an attempt handed it to
    // the server, then its node died (or lost the database) before recording the outcome, and
    // the instance ended before another node took it over. Such an attempt has no recorded
    // outcome; every other cancelled email must be absent from the sink.
    let cancelled: Vec<(String, bool)> = sqlx::query_as(
        "SELECT o.message_id, o.attempts > (SELECT COUNT(*) FROM email_attempts a WHERE a.outbox_id = o.id) \
         FROM outbox o WHERE o.status = 'cancelled'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let cancelled: BTreeMap<String, bool> =
        cancelled.into_iter().map(|(id, unrecorded)| (id.trim_matches(['<', '>']).to_owned(), unrecorded)).collect();
    let mut copies: BTreeMap<String, usize> = outbox
        .iter()
        .filter(|(_, status)| status == "sent")
        .map(|(id, _)| (id.trim_matches(['<', '>']).to_owned(), 0))
        .collect();
    let received = sink.lock().unwrap().messages();
    for message in &received {
        if let Some(unrecorded) = cancelled.get(&message.message_id) {
            assert!(unrecorded, "a cancelled email was sent by an attempt that recorded its outcome: {message:?}");
            continue;
        }
        let copies = copies.get_mut(&message.message_id).unwrap_or_else(|| panic!("a stray message {message:?}"));
        *copies += 1;
    }
    assert!(copies.values().all(|n| (1..=2).contains(n)), "an email missing or sent more than twice");
    let (took_over_emails,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE took_over").fetch_one(&mut db).await.unwrap();
    let (took_over_timers,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM timers WHERE took_over").fetch_one(&mut db).await.unwrap();
    let (deferred_attempts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM email_attempts WHERE outcome = 'deferred'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let traffic = client.traffic.lock().unwrap();
    assert_eq!(traffic.hung, 0, "a request hung for {REQUEST_TIMEOUT:?}");
    Report {
        emails: outbox.len(),
        duplicates: copies.values().filter(|n| **n == 2).count(),
        retried_requests: traffic.retried,
        took_over_emails,
        took_over_timers,
        deferred_attempts,
    }
}

/// The path of the link in an invitation's text.
fn link_path(text: &str) -> Option<String> {
    let start = text.find("/l/")?;
    let token: String =
        text[start + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (!token.is_empty()).then(|| format!("/l/{token}"))
}

/// `c17@drill.example` → 17.
fn recipient_number(address: &str) -> usize {
    address.trim_start_matches('c').split('@').next().and_then(|n| n.parse().ok()).expect("a drill recipient")
}

struct Drill {
    pg: Arc<Mutex<PrivatePostgres>>,
    sink: Arc<Mutex<Sink>>,
    nodes: Arc<Mutex<Nodes>>,
    url: String,
}

async fn setup(nodes: usize, reminder: &str, expiry: &str) -> Option<Drill> {
    let bindir = required(postgres_bindir(), "PostgreSQL's server binaries (initdb, pg_ctl)", "the fault drill")?;
    let maildev = required(maildev_bin(), "MailDev (ACCORD_TEST_MAILDEV_BIN)", "the fault drill")?;
    let (reminder, expiry) = (reminder.to_owned(), expiry.to_owned());
    let drill = tokio::task::spawn_blocking(move || {
        let pg = PrivatePostgres::start(bindir);
        let sink = Sink::start(maildev);
        (pg, sink)
    })
    .await
    .unwrap();
    let (pg, sink) = drill;
    let mut admin = PgConnection::connect(&pg.url("postgres")).await.unwrap();
    sqlx::query("CREATE DATABASE accord").execute(&mut admin).await.unwrap();
    let url = pg.url("accord");
    let (node_url, port) = (url.clone(), sink.port);
    let nodes =
        tokio::task::spawn_blocking(move || Nodes::new(nodes, &node_url, port, &reminder, &expiry)).await.unwrap();
    Some(Drill {
        pg: Arc::new(Mutex::new(pg)),
        sink: Arc::new(Mutex::new(sink)),
        nodes: Arc::new(Mutex::new(nodes)),
        url,
    })
}

fn drill_size(default: usize) -> usize {
    std::env::var("ACCORD_DRILL_INSTANCES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// Three nodes; one is killed with SIGKILL halfway through the starts and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_run_loses_nothing_and_applies_nothing_twice() {
    let Some(d) = setup(3, "4s", "60s").await else { return };
    let nodes = d.nodes.clone();
    let fault: Fault<'static> = Box::new(move || {
        let mut nodes = nodes.lock().unwrap();
        nodes.kill(1);
        std::thread::sleep(Duration::from_secs(2));
        nodes.start(1);
    });
    let report = drill(d.nodes.clone(), d.sink.clone(), &d.url, drill_size(2000), |n| n % 2 == 0, fault).await;
    eprintln!("SIGKILL drill: {report}");
    drop(d.pg);
}

/// The sink is down for 60 seconds; every email arrives once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_smtp_outage_of_a_minute_loses_no_email() {
    let Some(d) = setup(2, "4s", "1h").await else { return };
    let sink = d.sink.clone();
    let fault: Fault<'static> = Box::new(move || {
        sink.lock().unwrap().shut_down();
        let sink = sink.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            sink.lock().unwrap().resume();
        });
    });
    let report = drill(d.nodes.clone(), d.sink.clone(), &d.url, drill_size(2000) / 5, |_| true, fault).await;
    eprintln!("SMTP outage drill: {report}");
    assert!(report.deferred_attempts > 0, "the outage refused deliveries, and they were retried");
}

/// PostgreSQL restarts mid-run; the nodes reconnect and finish, and no request hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_run_is_survived() {
    let Some(d) = setup(2, "4s", "1h").await else { return };
    let pg = d.pg.clone();
    let fault: Fault<'static> = Box::new(move || pg.lock().unwrap().ctl("restart"));
    let report = drill(d.nodes.clone(), d.sink.clone(), &d.url, drill_size(2000) / 5, |_| true, fault).await;
    eprintln!("PostgreSQL restart drill: {report}");
}
