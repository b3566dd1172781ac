//! The pages people open: security headers on link pages and the console, no inline style or
//! script for the policy to refuse, and the sign-in form's CSRF token.

use accord::store::Scope;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::helpers::{links_in, Backend, TestApp};

crate::on_each_store!(
    link_pages_and_console_pages_carry_the_security_headers,
    the_sign_in_form_refuses_a_post_without_its_csrf_token,
);

/// Asserts the headers every HTML page must carry; returns the page.
async fn secured(response: Response, what: &str) -> String {
    let headers = response.headers().clone();
    let header =
        |name: &str| headers.get(name).unwrap_or_else(|| panic!("{what}: no {name}")).to_str().unwrap().to_owned();
    assert!(header(CONTENT_TYPE.as_str()).starts_with("text/html"), "{what}");
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{what}: no script from anywhere: {policy}");
    assert!(!policy.contains("script-src") && !policy.contains("'unsafe-inline'"), "{what}: {policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{what}: {policy}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(CACHE_CONTROL.as_str()), "no-store", "{what}");
    let html = response.text().await.unwrap();
    for inline in ["<script", "<style", " style=", "javascript:"] {
        assert!(!html.contains(inline), "{what} holds `{inline}`, which its policy refuses:\n{html}");
    }
    html
}

async fn link_pages_and_console_pages_carry_the_security_headers(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    m.start_signup().await;
    m.dispatch().await;
    let mail = m.next_mail().await;
    let link = links_in(&mail.text, &m.base).into_iter().next().expect("a link in the email");
    let page = secured(m.client.get(&link).send().await.unwrap(), "a link page").await;
    assert!(page.contains("<link rel=\"stylesheet\" href=\"/assets/pages.css\">"), "{page}");
    let refused = m.client.post(&link).form(&[("nothing", "")]).send().await.unwrap();
    secured(refused, "a link page's answer").await;

    let css = m.client.get(format!("{}/assets/pages.css", m.base)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    assert!(css.text().await.unwrap().contains("font"), "the pages' stylesheet");
    let css = m.client.get(format!("{}/assets/console.css", m.base)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);

    secured(m.client.get(format!("{}/console/login", m.base)).send().await.unwrap(), "the sign-in form").await;
    let key = m.key(Scope::Reviewer).await;
    let signed_in = m.console_sign_in(&key).await;
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let queue = m.client.get(format!("{}/console", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    secured(queue, "the review queue").await;
    let input = crate::enrollment::enrollment_input();
    let request =
        accord::engine::StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "t".into() };
    let id = m.engine().start(request).await.unwrap().instance.id;
    let instance =
        m.client.get(format!("{}/console/instances/{id}", m.base)).header(COOKIE, &cookie).send().await.unwrap();
    let html = secured(instance, "an instance with its state diagram").await;
    assert!(html.contains("<svg"), "the diagram is drawn");

    let api = m.client.get(format!("{}/api/v1/instances", m.base)).send().await.unwrap();
    assert_eq!(api.headers()[CACHE_CONTROL], "no-store", "API answers are not cached either");
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

async fn the_sign_in_form_refuses_a_post_without_its_csrf_token(backend: Backend) {
    let Some(m) = crate::helpers::spawn_app(backend).await else { return };
    let key = m.key(Scope::Reviewer).await;
    let login = format!("{}/console/login", m.base);
    let form = m.client.get(&login).send().await.unwrap();
    let set = form.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console/login"] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let html = form.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert_eq!(cookie, format!("accord_sign_in={csrf}"), "the form repeats its cookie");

    let refused = |response: Response| {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let session =
            response.headers().get_all(SET_COOKIE).iter().any(|c| c.to_str().unwrap().contains("accord_session"));
        assert!(!session, "no session for a forged sign-in");
    };
    // Without the token (a form posted from another site), with a wrong one, and with the
    // right one but without its cookie.
    let post = |cookie: Option<&str>, form: Vec<(&'static str, String)>| {
        let mut request = m.client.post(&login).form(&form);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie.to_owned());
        }
        request.send()
    };
    refused(post(Some(&cookie), vec![("key", key.clone())]).await.unwrap());
    refused(post(Some(&cookie), vec![("key", key.clone()), ("csrf", format!("{csrf}x"))]).await.unwrap());
    refused(post(Some(&cookie), vec![("key", key.clone()), ("csrf", String::new())]).await.unwrap());
    refused(post(None, vec![("key", key.clone()), ("csrf", csrf.clone())]).await.unwrap());

    let signed_in = post(Some(&cookie), vec![("key", key.clone()), ("csrf", csrf.clone())]).await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> =
        signed_in.headers().get_all(SET_COOKIE).iter().map(|c| c.to_str().unwrap().to_owned()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("accord_session=")), "{cookies:?}");
}
