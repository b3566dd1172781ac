//! Slow and idle clients: the header and idle timeouts, and the connection cap that keeps the
//! server answering under a crowd of half-sent requests, in process (a configured cap) and in a
//! real `accord serve` under `ulimit -n` (the cap taken from the file limit).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::{address, closed_within, half_sent, read_answer};
use crate::helpers::{free_port, repo, Backend, TestApp};

/// `/healthz` from a client of its own, timed.
async fn health_within(base: &str, within: Duration) -> bool {
    let client = reqwest::Client::builder().timeout(within).build().unwrap();
    matches!(client.get(format!("{base}/healthz")).send().await, Ok(response) if response.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_half_sent_requests_than_the_cap_do_not_lock_out_a_health_check() {
    let Some(m) = TestApp::options(Backend::Sqlite)
        .config(|config| {
            config.limits.max_connections = 50;
            config.limits.header_timeout = "2s".into();
        })
        .spawn()
        .await
    else {
        return;
    };
    let mut slow = Vec::new();
    for _ in 0..80 {
        slow.push(half_sent(address(&m.base)).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let asked = Instant::now();
    assert!(health_within(&m.base, Duration::from_secs(1)).await, "/healthz answers within a second");
    assert!(asked.elapsed() < Duration::from_secs(1));

    // Those beyond the cap made room for others; the rest hit the header timeout.
    let started = Instant::now();
    for (n, stream) in slow.iter_mut().enumerate() {
        assert!(closed_within(stream, Duration::from_secs(5)).await, "half-sent connection {n} is closed");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "closed by the 2 s header timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_closed_at_the_header_timeout_and_a_silent_one_at_the_idle_timeout() {
    let Some(m) = TestApp::options(Backend::Sqlite)
        .config(|config| {
            config.limits.header_timeout = "1500ms".into();
            config.limits.idle_timeout = "300ms".into();
        })
        .spawn()
        .await
    else {
        return;
    };
    let mut talking = half_sent(address(&m.base)).await;
    let mut silent = tokio::net::TcpStream::connect(address(&m.base)).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(1)).await, "silent past the idle timeout: closed");
    assert!(
        !closed_within(&mut talking, Duration::from_millis(500)).await,
        "a head on its way gets the header timeout"
    );
    assert!(closed_within(&mut talking, Duration::from_secs(2)).await, "closed after the header timeout");

    // Between two requests a connection is idle too.
    let mut kept = tokio::net::TcpStream::connect(address(&m.base)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let sent = Instant::now();
    let answer = read_answer(&mut kept, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
    assert!(sent.elapsed() < Duration::from_millis(1200), "closed once idle, before the header timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accord_serve_under_a_low_file_limit_answers_health_checks_through_300_half_sent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    // Long timeouts: here the cap from the file limit must do the work alone.
    let mut server = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec '{}' serve", env!("CARGO_BIN_EXE_accord")))
        .current_dir(dir.path())
        .env("ACCORD_DATA_DIR", dir.path().join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_PARTIES", "{reviewers=\"reviewers@contoso.example\"}")
        .env("ACCORD_LISTEN", &listen)
        .env("ACCORD_LIMITS__HEADER_TIMEOUT", "60s")
        .env("ACCORD_LIMITS__IDLE_TIMEOUT", "60s")
        .env_remove("ACCORD_DATABASE_URL")
        .env_remove("ACCORD_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !health_within(&base, Duration::from_secs(1)).await {
        assert!(Instant::now() < deadline, "accord serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut slow = Vec::new();
    for _ in 0..300 {
        slow.push(half_sent(&listen).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = health_within(&base, Duration::from_secs(1)).await;
    let _ = server.kill();
    let output = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(answered, "/healthz answers within a second with 300 half-sent requests open:\n{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    drop(slow);
}
