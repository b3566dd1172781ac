//! `accord demo`: every shipped workflow end to end, on a database of its own.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{accord, text};
use crate::helpers::{repo, Backend, TestDb};

/// The resellers named `legal_name` in the database at `url`, as `accord partners` lists them.
fn resellers_named(dir: &Path, url: &str, legal_name: &str) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir)
        .env("ACCORD_DATA_DIR", dir.join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_DATABASE_URL", url)
        .args(["--json", "partners", "--kind", "indirect_reseller"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let partners: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    partners.as_array().unwrap().iter().filter(|p| p["legal_name"] == legal_name).count()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[test]
fn the_demo_runs_every_shipped_workflow_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["--json", "demo"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0);
    let enrollment = report["workflows"].as_array().unwrap().iter().find(|w| w["workflow"] == "enrollment").unwrap();
    assert_eq!(
        enrollment["states"],
        serde_json::json!([
            "awaiting_verification",
            "in_review",
            "awaiting_information",
            "in_review",
            "awaiting_agreement",
            "active"
        ])
    );
    assert_eq!(enrollment["links_clicked"], 3);
    assert_eq!(enrollment["emails"].as_array().unwrap().len(), 7);
    let provider =
        report["workflows"].as_array().unwrap().iter().find(|w| w["workflow"] == "provider_invitation").unwrap();
    assert_eq!(provider["states"], serde_json::json!(["invited", "authorized"]));
    for customer_flow in ["customer_invitation", "dual_customer_invitation"] {
        let run = report["workflows"].as_array().unwrap().iter().find(|w| w["workflow"] == customer_flow).unwrap();
        assert_eq!(run["states"], serde_json::json!(["invited", "accepted"]), "{customer_flow}");
    }
    let commands =
        report["workflows"].as_array().unwrap().iter().find(|w| w["workflow"] == "relationship_commands").unwrap();
    assert_eq!(commands["steps"].as_array().unwrap().len(), 4, "{commands}");
    let eml = std::fs::read_dir(dir.path().join("data/demo/mail")).unwrap().count();
    assert_eq!(eml, 15, "every email the demo read was written as an .eml file");
}

#[test]
fn the_demo_never_writes_into_the_database_serve_uses_and_starts_afresh_each_run() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = accord(dir.path(), &["demo"]);
        assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
        let report = text(&out.stdout);
        assert!(report.contains("7/7 workflows ok; 15 emails in "), "{report}");
        assert!(report.contains("data/demo/mail; database sqlite://"), "{report}");
        assert!(report.contains("Next steps:") && report.contains("accord serve"), "{report}");
    }
    let demo = sqlite_url(&dir.path().join("data/demo/accord.db"));
    assert_eq!(resellers_named(dir.path(), &demo, "Contoso Italia S.r.l."), 1, "the second run replaced the first");
    let serve = sqlite_url(&dir.path().join("data/accord.db"));
    assert_eq!(resellers_named(dir.path(), &serve, "Contoso Italia S.r.l."), 0, "serve's database has no demo partner");
    let eml = std::fs::read_dir(dir.path().join("data/demo/mail")).unwrap().count();
    assert_eq!(eml, 15, "the second run's emails only");
    assert!(!dir.path().join("data/mail").exists(), "no demo email among serve's");
}

#[test]
fn the_demo_refuses_the_database_serve_uses() {
    let dir = tempfile::tempdir().unwrap();
    let serve = sqlite_url(&dir.path().join("data/accord.db"));
    let out = accord(dir.path(), &["demo", "--database", &serve]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is the database `accord serve` uses"), "{err}");
    assert!(err.contains("Leave out --database"), "{err}");
    assert!(!dir.path().join("data/accord.db").exists(), "nothing was written");
}

#[test]
fn the_demo_runs_on_the_postgresql_database_it_is_given() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDb::new(Backend::Postgres)) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["--json", "demo", "--database", &db.url]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["ok"], 7, "{report}");
    assert_eq!(report["summary"]["emails"], 15, "{report}");
    assert!(!report["summary"]["database"].as_str().unwrap().starts_with("sqlite:"), "{report}");
    assert_eq!(resellers_named(dir.path(), &db.url, "Contoso Italia S.r.l."), 1);
    assert!(!dir.path().join("data/accord.db").exists(), "serve's SQLite database untouched");
}

#[test]
fn demo_serve_keeps_the_links_in_its_emails_working() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir.path())
        .env("ACCORD_DATA_DIR", dir.path().join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_PARTIES", "{reviewers=\"reviewers@contoso.example\"}")
        .env_remove("ACCORD_DATABASE_URL")
        .env_remove("ACCORD_SMTP_URL")
        .args(["demo", "--serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stderr.take().unwrap()).lines();
    let (mut base, mut key) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("The demo's server stays up, so the links in its emails work: ") {
            base = Some(rest.trim().to_owned());
        }
        if let Some((_, rest)) = line.split_once("sign in with the admin key ") {
            key = Some(rest.trim_end_matches(')').to_owned());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let base = base.expect("the demo says where it serves");
    let key = key.expect("the demo prints a key for its console");
    // Any link in the demo's mail opens a page (the request is done, so it says so).
    let mail = dir.path().join("data/demo/mail");
    let link = std::fs::read_dir(&mail)
        .unwrap()
        .filter_map(|entry| {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let body = message.body_text(0).unwrap().into_owned();
            let start = body.find(&format!("{base}/l/"))?;
            Some(body[start..].chars().take_while(|c| !c.is_whitespace() && !"\"<>)".contains(*c)).collect::<String>())
        })
        .next()
        .expect("a personalised link to the demo's server in its mail");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (page, instances) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let page = client.get(&link).send().await.unwrap().status();
        let instances = client.get(format!("{base}/api/v1/instances")).bearer_auth(&key).send().await.unwrap().status();
        (page, instances)
    });
    assert_eq!(page, 200, "{link}");
    assert_eq!(instances, 200, "the printed key works on the demo's server");
    // Ctrl-C stops it cleanly.
    Command::new("kill").args(["-INT", &demo.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}
