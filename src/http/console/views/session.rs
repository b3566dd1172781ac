//! Signing in and out: a reviewer's API key becomes a session. The sign-in form carries a CSRF
//! token like every other form: the one in its cookie, set when the form is shown.

use super::*;
use crate::http::console::{random_token, same_token, sign_in_cookie, SIGN_IN_COOKIE};

pub async fn login_page(State(engine): State<Engine>, jar: CookieJar) -> Response {
    let (jar, token) = match jar.get(SIGN_IN_COOKIE).map(|cookie| cookie.value().to_owned()) {
        Some(token) if !token.is_empty() => (jar, token),
        _ => {
            let token = random_token();
            (jar.add(sign_in_cookie(&engine, token.clone())), token)
        }
    };
    (jar, page(&engine, StatusCode::OK, "login", json!({ "csrf": token }))).into_response()
}

pub async fn login(State(engine): State<Engine>, jar: CookieJar, Form(form): Form<Fields>) -> Response {
    let expected = jar.get(SIGN_IN_COOKIE).map(|cookie| cookie.value().to_owned());
    let Some(token) = expected.filter(|token| same_token(form.get("csrf").map(String::as_str), Some(token))) else {
        // Missing or forged: a fresh form (and cookie) that works, nothing else.
        let token = random_token();
        let message = "This sign-in form has expired or did not come from this site. Enter your key again.";
        let refused = page(&engine, StatusCode::FORBIDDEN, "login", json!({ "csrf": token, "error": message }));
        return (jar.add(sign_in_cookie(&engine, token)), refused).into_response();
    };
    let key = form.get("key").map(|k| k.trim()).unwrap_or_default();
    let refuse =
        |message: &str| page(&engine, StatusCode::UNAUTHORIZED, "login", json!({ "error": message, "csrf": token }));
    if key.is_empty() {
        return refuse("Enter your reviewer key.");
    }
    let record = match crate::keys::authenticate(engine.store().as_ref(), key, engine.now()).await {
        Ok(Ok(record)) => record,
        Ok(Err(crate::keys::Refused::Unknown)) => {
            return refuse("This key is not valid. Ask an administrator for a reviewer key.")
        }
        Ok(Err(crate::keys::Refused::Revoked)) => {
            return refuse("This key was revoked. Ask an administrator for a new reviewer key.")
        }
        Ok(Err(crate::keys::Refused::Expired)) => {
            return refuse("This key has expired. Ask an administrator for a new reviewer key.")
        }
        Err(err) => return failure(&engine, err),
    };
    if !matches!(record.scope, Scope::Reviewer | Scope::Admin) {
        return refuse(&format!(
            "This key has the {} scope; the console needs a reviewer key (accord keys create --scope reviewer).",
            record.scope
        ));
    }
    match start_session(&engine, &record).await {
        // The sign-in cookie stays: it serves the form again after signing out.
        Ok(cookie) => (jar.add(cookie), Redirect::to("/console")).into_response(),
        Err(err) => failure(&engine, err),
    }
}

pub async fn logout(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Err(err) = engine.store().delete_session(&reviewer.session.hash, engine.now()).await {
        return failure(&engine, err);
    }
    (jar.remove(Cookie::build(COOKIE).path("/console")), Redirect::to("/console/login")).into_response()
}
