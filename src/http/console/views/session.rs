//! Signing in and out: a reviewer's API key becomes a session.

use super::*;

pub async fn login_page(State(engine): State<Engine>) -> Response {
    page(&engine, StatusCode::OK, "login", json!({}))
}

pub async fn login(State(engine): State<Engine>, jar: CookieJar, Form(form): Form<Fields>) -> Response {
    let key = form.get("key").map(|k| k.trim()).unwrap_or_default();
    let refuse = |message: &str| page(&engine, StatusCode::UNAUTHORIZED, "login", json!({ "error": message }));
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
