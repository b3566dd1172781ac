//! What the public pages (`/enroll`, `/providers`) share: the reader's language, from a
//! `?lang=` switch or `Accept-Language`, and rendering a localized page.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use tracing::error;

use crate::engine::Engine;

/// The languages the public pages are written in; the first is the default.
pub const LANGUAGES: &[&str] = &["en", "it"];

/// The page's language: `lang` when it is one of [`LANGUAGES`], else the first of them the
/// browser's `Accept-Language` asks for (by its weights), else English.
pub fn language(lang: Option<&str>, headers: &HeaderMap) -> &'static str {
    if let Some(chosen) = lang.and_then(supported) {
        return chosen;
    }
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut ranges: Vec<(f32, usize, &str)> = accepted
        .split(',')
        .enumerate()
        .filter_map(|(at, range)| {
            let mut parts = range.split(';');
            let tag = parts.next()?.trim();
            let weight =
                parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (weight > 0.0).then_some((weight, at, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().find_map(|(_, _, tag)| supported(tag)).unwrap_or(LANGUAGES[0])
}

/// The supported language a tag (`it-CH`, `IT`) falls back to.
fn supported(tag: &str) -> Option<&'static str> {
    let language = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    LANGUAGES.iter().copied().find(|l| *l == language)
}

/// Renders `templates/pages/<page>[.<lang>].html.tera` with `context`, or a plain 500 (the
/// cause logged) when the template fails.
pub fn render(engine: &Engine, page: &str, lang: &str, status: StatusCode, context: &Value) -> Response {
    match engine.renderer().render_localized_page(page, Some(lang), context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            error!(error = %err, page, "rendering a public page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("Something went wrong on our side.".to_owned())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_switch_wins_then_the_browsers_preference_then_english() {
        assert_eq!(language(Some("it"), &accept("en")), "it");
        assert_eq!(language(Some("de"), &accept("it-CH, en;q=0.5")), "it");
        assert_eq!(language(None, &accept("de-DE, it;q=0.8, en;q=0.9")), "en");
        assert_eq!(language(None, &accept("de-DE, it;q=0.9, en;q=0.8")), "it");
        assert_eq!(language(None, &accept("it;q=0, fr")), "en");
        assert_eq!(language(None, &HeaderMap::new()), "en");
    }
}
