//! Request bodies: at most `max_body_bytes`, and all of it within `body_timeout` of the head.
//!
//! A body whose `Content-Length` is over the limit is refused before a byte of it is read; a
//! chunked one is cut off by axum's `DefaultBodyLimit` as it grows past it, and the API's JSON
//! extractor turns that into the same 413 `body_too_large` (see `error.rs`).

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::is_api;
use crate::http::ApiError;

#[derive(Clone, Copy, Debug)]
pub(super) struct Bodies {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Refuses a declared body over the limit; gives the others a deadline.
pub(super) async fn bound(State(bodies): State<Bodies>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > bodies.max_bytes as u64) {
        return too_large(is_api(request.uri().path()), bodies.max_bytes);
    }
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let request = request.map(|body| Body::new(Deadline::new(body, bodies.timeout)));
    next.run(request).await
}

/// 413, as JSON for the API and as a short page elsewhere.
pub(super) fn too_large(api: bool, max_bytes: usize) -> Response {
    if api {
        body_too_large(Some(max_bytes)).into_response()
    } else {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too large</title></head>\
             <body><h1>What you sent is too large</h1><p>This server accepts at most {max_bytes} bytes.</p></body></html>"
        );
        (StatusCode::PAYLOAD_TOO_LARGE, Html(page)).into_response()
    }
}

/// The API's 413; `max_bytes` when known (the JSON extractor's rejection does not say).
pub(in crate::http) fn body_too_large(max_bytes: Option<usize>) -> ApiError {
    let limit = match max_bytes {
        Some(max) => format!("the {max} bytes"),
        None => "what".to_owned(),
    };
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than {limit} this server accepts (limits.max_body_bytes)"),
    )
}

/// The API's 408 for a body that came too slowly.
pub(in crate::http) fn body_timed_out(timed_out: &BodyTimedOut) -> ApiError {
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", format!("{timed_out} (limits.body_timeout)"))
}

/// The client took longer than `limits.body_timeout` to send a request's body.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
pub struct BodyTimedOut(pub Duration);

/// A body that fails with [`BodyTimedOut`] once its deadline passes.
struct Deadline {
    body: Body,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(body: Body, timeout: Duration) -> Self {
        Self { body, timeout, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(self.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
