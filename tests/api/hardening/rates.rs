//! Request rates: API calls per key (per address without one), console sign-ins per address,
//! link actions per token and per address; 429 with `Retry-After`, JSON `rate_limited` on the
//! API and a page elsewhere; 0 turns a limit off (as the rest of the suite runs).

use accord::store::Scope;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

crate::on_each_store!(
    api_calls_are_limited_per_key_and_per_address_without_one,
    console_sign_ins_are_limited_per_address,
    link_actions_are_limited_per_token_and_per_address,
);

/// The seconds a 429 says to wait.
fn retry_after(response: &Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    response.headers()[RETRY_AFTER].to_str().unwrap().parse().expect("Retry-After in whole seconds")
}

async fn api_calls_are_limited_per_key_and_per_address_without_one(backend: Backend) {
    let Some(m) = TestApp::options(backend).config(|config| config.limits.api_per_minute = 3).spawn().await else {
        return;
    };
    let (first, second) = (m.key(Scope::Pipeline).await, m.key(Scope::Pipeline).await);
    let list = format!("{}/api/v1/instances", m.base);
    for _ in 0..3 {
        assert_eq!(m.call(Method::GET, "/api/v1/instances", &first, None).await.0, StatusCode::OK);
    }
    let refused = m.client.get(&list).bearer_auth(&first).send().await.unwrap();
    let wait = retry_after(&refused);
    assert!((1..=20).contains(&wait), "3 a minute: one more every 20 s, not {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("this key"), "{body}");

    assert_eq!(m.call(Method::GET, "/api/v1/instances", &second, None).await.0, StatusCode::OK, "each key has its own");

    for _ in 0..3 {
        let anonymous = m.client.get(&list).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = m.client.get(&list).send().await.unwrap();
    retry_after(&refused);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("this address"), "{body}");
}

async fn console_sign_ins_are_limited_per_address(backend: Backend) {
    let Some(m) = TestApp::options(backend).config(|config| config.limits.sign_in_per_minute = 2).spawn().await else {
        return;
    };
    for _ in 0..2 {
        assert_eq!(m.console_sign_in("acc_guessed").await.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = m.console_sign_in("acc_guessed").await;
    assert!(retry_after(&refused) >= 1);
    assert!(refused.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(refused.text().await.unwrap().contains("Too many attempts"));
    let key = m.key(Scope::Reviewer).await;
    assert_eq!(m.console_sign_in(&key).await.status(), StatusCode::TOO_MANY_REQUESTS, "a right key waits too");
    let (status, _) = m.get(&format!("{}/console/login", m.base)).await;
    assert_eq!(status, StatusCode::OK, "showing the form is not limited");
}

async fn link_actions_are_limited_per_token_and_per_address(backend: Backend) {
    let Some(m) = TestApp::options(backend)
        .config(|config| {
            config.limits.link_token_per_minute = 2;
            config.limits.link_address_per_minute = 5;
        })
        .spawn()
        .await
    else {
        return;
    };
    let post = |path: String| {
        let client = m.client.clone();
        async move { client.post(path).form(&[("confirm", "on")]).send().await.unwrap() }
    };
    let token = format!("{}/l/first-token", m.base);
    assert_ne!(post(token.clone()).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post(format!("{token}/resend")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = post(token.clone()).await;
    assert!(retry_after(&refused) >= 1, "a resend counts against the same token");
    assert!(refused.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let (status, _) = m.get(&token).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "showing a link's page is not limited");

    // Two actions so far from this address (the refused one did not count): three more on
    // other tokens, and the sixth in a minute is refused.
    for n in 0..3 {
        let other = post(format!("{}/l/token-{n}", m.base)).await;
        assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS, "another token has its own budget");
    }
    retry_after(&post(format!("{}/l/token-9", m.base)).await);
}
