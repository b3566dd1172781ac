//! Real processes: `accord serve` stopped with SIGKILL and started again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{free_port, Backend, TestDb};

const QUICK: &str = r#"
name = "quick"
initial = "waiting"

[[input]]
field = "contact.email"
type = "email"

[events]
ping = "timer"

[states.waiting]
timers = [{ name = "ping", after = "1s", event = "ping" }]
on.ping = { to = "done" }

[states.done]
final = true
"#;

struct Env {
    db: TestDb,
    dir: tempfile::TempDir,
    listen: String,
}

impl Env {
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_accord"));
        command
            .current_dir(self.dir.path())
            .env("ACCORD_DATABASE_URL", &self.db.url)
            .env("ACCORD_WORKFLOWS_DIR", self.dir.path().join("workflows"))
            .env("ACCORD_TEMPLATES_DIR", self.dir.path().join("templates"))
            .env("ACCORD_LISTEN", &self.listen)
            .env("ACCORD_SCHEDULER_POLL", "100ms")
            .env_remove("ACCORD_CONFIG");
        command
    }

    fn run(&self, args: &[&str], stdin: &str) -> Value {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "accord {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn serve(&self) -> Child {
        let child = self.command().arg("serve").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.listen).is_err() {
            assert!(Instant::now() < deadline, "accord serve did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn show(&self, id: &str) -> Value {
        self.run(&["--json", "show", id], "")
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL: no graceful shutdown
    child.wait().unwrap();
}

fn write_workflow(dir: &Path) {
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("workflows/quick.toml"), QUICK).unwrap();
}

crate::on_each_store!(a_timer_due_while_the_server_is_down_fires_once_after_restart);

async fn a_timer_due_while_the_server_is_down_fires_once_after_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else { return };
    let env = Env { db, dir: tempfile::tempdir().unwrap(), listen: format!("127.0.0.1:{}", free_port()) };
    write_workflow(env.dir.path());
    tokio::task::spawn_blocking(move || {
        let server = env.serve();
        let started =
            env.run(&["--json", "start", "quick", "--input", "-"], r#"{"contact": {"email": "ops@contoso.com"}}"#);
        let id = started["instance"]["id"].as_str().unwrap().to_owned();
        kill(server);

        let view = env.show(&id);
        assert_eq!(view["state"], "waiting", "the server was killed before the timer was due");
        assert_eq!(view["timers"][0]["status"], "armed");
        std::thread::sleep(Duration::from_millis(1200)); // the timer comes due while nothing runs

        let server = env.serve();
        let deadline = Instant::now() + Duration::from_secs(20);
        while env.show(&id)["state"] != "done" {
            assert!(Instant::now() < deadline, "the timer did not fire after the restart");
            std::thread::sleep(Duration::from_millis(50));
        }
        kill(server);
        // A second restart must not fire it again.
        let server = env.serve();
        std::thread::sleep(Duration::from_millis(500));
        kill(server);

        let view = env.show(&id);
        let pings = view["history"].as_array().unwrap().iter().filter(|h| h["event"] == "ping").count();
        assert_eq!(pings, 1);
        assert_eq!(view["timers"][0]["status"], "fired");
    })
    .await
    .unwrap();
}
