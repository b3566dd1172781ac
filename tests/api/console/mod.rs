//! The console over plain HTTP: its session and form protections here; its lists (instances,
//! the review queue, emails by status, times) in `lists.rs`; its actions (signals, roles, the
//! partner pages) in `actions.rs`; and in Chromium, the instance list and the state diagram, in
//! `browser.rs` (the other browser tests are in `tests/api/browser.rs`).

use accord::clock::Clock;
use accord::store::Scope;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend, TestApp};

mod actions;
mod browser;
mod lists;

/// A signed-in console session: its cookie and the CSRF token its forms carry.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// Signs in with a new key of `scope` labelled `label`, as a browser does.
    pub async fn start(m: &TestApp, scope: Scope, label: &str) -> Session {
        let key =
            accord::keys::create_operator(m.engine().store().as_ref(), scope, label, m.clock.now()).await.unwrap().0;
        let response = m.console_sign_in(&key).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut session = Session { cookie, csrf: String::new() };
        let (_, html) = session.get(m, "/console").await;
        session.csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        session
    }

    /// `GET path` with the session, in the reader's `Accept-Language` of English.
    pub async fn get(&self, m: &TestApp, path: &str) -> (StatusCode, String) {
        self.get_in(m, path, "en-GB,en;q=0.9").await
    }

    pub async fn get_in(&self, m: &TestApp, path: &str, language: &str) -> (StatusCode, String) {
        let response = m
            .client
            .get(format!("{}{path}", m.base))
            .header(COOKIE, &self.cookie)
            .header(reqwest::header::ACCEPT_LANGUAGE, language)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// `POST path` with `form` and the session's CSRF token; the status, the redirect if any, the page.
    pub async fn post(&self, m: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        let mut form = form.to_vec();
        form.push(("csrf", &self.csrf));
        let response =
            m.client.post(format!("{}{path}", m.base)).header(COOKIE, &self.cookie).form(&form).send().await.unwrap();
        let location = response.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location, response.text().await.unwrap())
    }
}

crate::on_each_store!(
    sessions_are_http_only_and_every_form_needs_its_csrf_token,
    a_decision_submitted_twice_applies_once_and_is_recorded_with_the_reviewer,
);

async fn a_decision_submitted_twice_applies_once_and_is_recorded_with_the_reviewer(backend: Backend) {
    let Some(m) = spawn_app(backend).await else { return };
    let input = crate::enrollment::enrollment_input();
    let request =
        accord::engine::StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "t".into() };
    let id = m.engine().start(request).await.unwrap().instance.id;
    m.send(id, "verify", serde_json::Value::Null).await.unwrap();
    let key = accord::keys::create_operator(m.engine().store().as_ref(), Scope::Reviewer, "giulia", m.clock.now())
        .await
        .unwrap()
        .0;
    let response = m.console_sign_in(&key).await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = m.client.get(format!("{}/console/instances/{id}", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        html.split(&format!("name=\"{name}\" value=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned()
    };
    let (csrf, attempt) = (field("csrf"), field("attempt"));
    let decide = format!("{}/console/instances/{id}/decisions", m.base);
    let form =
        [("csrf", csrf.as_str()), ("event", "request_info"), ("attempt", attempt.as_str()), ("message", "VAT number?")];
    for _ in 0..2 {
        let response = m.client.post(&decide).header(COOKIE, &cookie).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let history = m.engine().store().history(id).await.unwrap();
    let asked: Vec<_> = history.iter().filter(|h| h.event.as_str() == "request_info").collect();
    assert_eq!(asked.len(), 1, "the second submit replayed the first");
    assert_eq!(asked[0].actor, "reviewer:giulia");
    assert_eq!(asked[0].origin, accord::store::Origin::Reviewer);
}

async fn sessions_are_http_only_and_every_form_needs_its_csrf_token(backend: Backend) {
    let Some(m) = spawn_app(backend).await else { return };
    let store = m.engine().store().clone();
    let key = |scope| {
        let store = store.clone();
        let now = m.clock.now();
        async move { accord::keys::create_operator(store.as_ref(), scope, "giulia", now).await.unwrap().0 }
    };

    let response = m.client.get(format!("{}/console", m.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/login");

    let pipeline = key(Scope::Pipeline).await;
    let response = m.console_sign_in(&pipeline).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("needs a reviewer key"));

    let reviewer = key(Scope::Reviewer).await;
    let response = m.console_sign_in(&reviewer).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let queue = m.client.get(format!("{}/console", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let html = queue.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    let logout = format!("{}/console/logout", m.base);
    let forged = m.client.post(&logout).header(COOKIE, &cookie).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "a form without the session's token is refused");
    let missing = m.client.post(&logout).header(COOKIE, &cookie).send().await.unwrap();
    assert_ne!(missing.status(), StatusCode::SEE_OTHER);
    let still = m.client.get(format!("{}/console", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK, "the refused sign-out changed nothing");

    let out = m.client.post(&logout).header(COOKIE, &cookie).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = m.client.get(format!("{}/console", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session ended on the server, not only in the browser");
}
