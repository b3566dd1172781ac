//! What keeps one client from taking the server from the others, and pages from being turned
//! against their readers (issue 15): connection timeouts and the connection cap, body limits,
//! request rates, security headers, the sign-in form's CSRF token, and a CLI that survives a
//! closed pipe. Tests that touch the store run on both; the connection tests run on SQLite only,
//! as they never reach it.

mod bodies;
mod cli;
mod connections;
mod pages;
mod rates;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's `host:port` in `base` (`http://host:port`).
fn address(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// A connection that has sent part of a request's head and then nothing more (slowloris).
async fn half_sent(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a").await.expect("write");
    stream
}

/// Whether the server closed `stream` within `within` (answers it sent first are skipped).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_elapsed) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Everything the server sends on `stream` until it closes it (or `within` passes).
async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}
