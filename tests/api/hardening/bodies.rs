//! Request bodies: over `max_body_bytes` refused with 413 `body_too_large` in the API's error
//! shape, whether the length is declared or streamed; a body that does not arrive within
//! `body_timeout` cut off with 408 `body_timeout`.

use std::time::Duration;

use accord::store::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{address, read_answer};
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(
    a_body_over_the_limit_is_refused_with_413_body_too_large,
    a_body_sent_too_slowly_is_cut_off_with_408_body_timeout,
);

async fn a_body_over_the_limit_is_refused_with_413_body_too_large(backend: Backend) {
    let Some(m) = TestApp::options(backend).config(|config| config.limits.max_body_bytes = 4096).spawn().await else {
        return;
    };
    let key = m.key(Scope::Pipeline).await;
    let url = format!("{}/api/v1/instances", m.base);
    let big = json!({ "workflow": "example_signup", "input": { "company": { "name": "x".repeat(8000) } } });

    let declared = m.client.post(&url).bearer_auth(&key).json(&big).send().await.unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = declared.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("4096 bytes"), "{body}");

    // Streamed (chunked, no Content-Length): cut off as it passes the limit.
    let mut stream = tokio::net::TcpStream::connect(address(&m.base)).await.unwrap();
    let head = format!(
        "POST /api/v1/instances HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in serde_json::to_vec(&big).unwrap().chunks(1000) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // the server stopped reading: its answer is waiting
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"body_too_large\""), "{answer}");

    // Under the limit, the same request reaches the handler.
    let small = json!({ "workflow": "example_signup", "input": crate::helpers::signup_input() });
    let accepted = m.client.post(&url).bearer_auth(&key).json(&small).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);

    // A link page's form: a page, not JSON.
    let form = m.client.post(format!("{}/l/some-token", m.base)).form(&[("answer", "x".repeat(8000))]).send().await;
    let form = form.unwrap();
    assert_eq!(form.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(form.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
}

async fn a_body_sent_too_slowly_is_cut_off_with_408_body_timeout(backend: Backend) {
    let Some(m) = TestApp::options(backend).config(|config| config.limits.body_timeout = "500ms".into()).spawn().await
    else {
        return;
    };
    let key = m.key(Scope::Pipeline).await;
    let mut stream = tokio::net::TcpStream::connect(address(&m.base)).await.unwrap();
    let head = format!(
        "POST /api/v1/instances HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"workflow\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "cut off at the body timeout");
    let filter = accord::store::ListFilter { limit: 10, ..Default::default() };
    assert!(m.engine().store().list_instances(&filter).await.unwrap().is_empty(), "nothing started");
}
