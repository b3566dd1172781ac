//! Security headers, and the stylesheets that let the pages' policy forbid inline style.
//!
//! Every HTML page gets a Content-Security-Policy that allows no script at all, styles only from
//! this server (the pages' CSS is served from `/assets/`, read from the templates directory),
//! forms posting only here, and no framing. Every response says `nosniff` and `no-referrer`
//! (link URLs carry tokens: a page must not leak its own address to another site), and the link
//! pages, the console and the API are never stored by a cache.

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tracing::warn;

/// No script, no plugin, nothing from elsewhere; the email preview in the console's draft
/// editor is a sandboxed `srcdoc` frame and inherits this policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) async fn secure(request: Request, next: Next) -> Response {
    let private = is_private(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if is_html(headers) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Pages and answers that hold tokens or personal data.
fn is_private(path: &str) -> bool {
    ["/l/", "/console", "/api/", "/enroll"].iter().any(|prefix| path.starts_with(prefix))
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// The stylesheets the pages link to, as `(path served, file under the templates directory)`.
const STYLESHEETS: &[(&str, &str)] =
    &[("/assets/pages.css", "pages/style.css"), ("/assets/console.css", "pages/console/style.css")];

/// Serves the pages' stylesheets, read once from `templates_dir` (a missing one is warned about
/// and answers 404).
pub(super) fn stylesheets(templates_dir: &Path) -> Router {
    let mut router = Router::new();
    for (path, file) in STYLESHEETS {
        let file = templates_dir.join(file);
        match std::fs::read_to_string(&file) {
            Ok(css) => {
                let serve = move || {
                    let css = css.clone();
                    async move {
                        (
                            [
                                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                                (header::CACHE_CONTROL, "public, max-age=300"),
                            ],
                            css,
                        )
                            .into_response()
                    }
                };
                router = router.route(path, get(serve));
            }
            Err(err) => warn!(file = %file.display(), error = %err, "a stylesheet is missing: pages show unstyled"),
        }
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_script_and_no_inline_style_or_framing() {
        let policy = CONTENT_SECURITY_POLICY;
        assert!(policy.contains("default-src 'none'"), "script-src falls back to none");
        assert!(!policy.contains("script-src") && !policy.contains("unsafe-"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
