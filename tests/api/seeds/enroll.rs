//! `/enroll`, the public enrollment page: both languages, per-field errors with the typed values
//! kept, CSRF, and a good form starting `enrollment` exactly as the API does, with the
//! verification email sent.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::enrollment::enrollment_input;
use crate::helpers::{links_in, Backend, TestApp};

crate::on_each_store!(
    the_enrollment_page_speaks_english_and_italian_and_refuses_a_form_without_its_token,
    a_bad_form_comes_back_with_each_problem_next_to_its_field_and_the_values_kept,
    a_good_form_starts_the_enrollment_as_the_api_does_and_sends_the_verification_email,
    posting_the_form_is_rate_limited_per_address,
);

/// The form page: its HTML, and the CSRF token with its cookie.
pub(crate) async fn open_form(t: &TestApp, language: &str) -> (String, String, String) {
    let response = t.client.get(format!("{}/enroll", t.base)).header("accept-language", language).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = response.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).expect("a CSRF field").split('"').next().unwrap().to_owned();
    (html, cookie, csrf)
}

/// The form's fields filled from an API input (dotted names, as the form posts them).
pub(crate) fn form_of(input: &Value) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    fn walk(value: &Value, path: String, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(value, path, out);
                }
            }
            Value::String(text) => out.push((path, text.clone())),
            _ => {}
        }
    }
    walk(input, String::new(), &mut fields);
    fields.retain(|(name, _)| name != "primary_contact.locale");
    fields
}

pub(crate) async fn post_form(
    t: &TestApp,
    cookie: Option<&str>,
    fields: &[(String, String)],
    query: &str,
) -> (StatusCode, String) {
    let mut request = t.client.post(format!("{}/enroll{query}", t.base)).form(fields);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn instances(t: &TestApp) -> Vec<Value> {
    let api = t.api(accord::store::Scope::Admin).await;
    api.get("/api/v1/instances?workflow=enrollment").await["items"].as_array().unwrap().clone()
}

async fn the_enrollment_page_speaks_english_and_italian_and_refuses_a_form_without_its_token(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let (english, _, _) = open_form(&t, "en-GB,en;q=0.9").await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Enroll as an indirect reseller"));
    assert!(english.contains(">Enroll now</button>") && english.contains("href=\"/enroll?lang=it\""));
    assert!(!english.contains("<script"), "no script needed");
    let (italian, cookie, csrf) = open_form(&t, "it-CH, en;q=0.5").await;
    assert!(italian.contains("<html lang=\"it\">") && italian.contains("Registrati come rivenditore indiretto"));
    assert!(italian.contains(">Registrati ora</button>") && italian.contains("Ragione sociale"));
    let switched =
        t.client.get(format!("{}/enroll?lang=en", t.base)).header("accept-language", "it").send().await.unwrap();
    let headers = switched.headers().clone();
    assert!(switched.text().await.unwrap().contains("Enroll as an indirect reseller"), "the switch wins");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));

    // Without the token, with a wrong one, or without the cookie: refused, nothing started.
    let mut fields = form_of(&enrollment_input());
    let (status, html) = post_form(&t, Some(&cookie), &fields, "?lang=it").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token in the form");
    assert!(html.contains("Il modulo è scaduto"), "{html}");
    fields.push(("csrf".into(), "forged".into()));
    let (status, html) = post_form(&t, Some(&cookie), &fields, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong token");
    assert!(html.contains("This form has expired"), "{html}");
    fields.pop();
    fields.push(("csrf".into(), csrf));
    let (status, _) = post_form(&t, None, &fields, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the token without its cookie");
    assert!(instances(&t).await.is_empty());
}

async fn a_bad_form_comes_back_with_each_problem_next_to_its_field_and_the_values_kept(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let mut input = enrollment_input();
    input["primary_contact"]["email"] = json!("anna.rossi@gmail.com");
    input["mpn"]["country"] = json!("FR");
    input["company"]["address"]["city"] = json!("");
    input["company"]["legal_name"] = json!("Contoso <Italia> & \"Figli\"");
    input["support"]["phone"] = json!("call us");
    for (language, expected) in [
        (
            "en",
            [
                ("primary_contact.email", "addresses from web-based email services such as"),
                ("mpn.country", "The MPN profile must be in the same country as the work account"),
                ("company.address.city", "Required."),
                ("support.phone", "Enter a telephone number of 6 to 15 digits"),
            ],
        ),
        (
            "it",
            [
                ("primary_contact.email", "non accettiamo indirizzi di servizi di posta web"),
                ("mpn.country", "Il profilo MPN deve trovarsi nello stesso paese"),
                ("company.address.city", "Campo obbligatorio."),
                ("support.phone", "Inserisci un numero di telefono da 6 a 15 cifre"),
            ],
        ),
    ] {
        let (_, cookie, csrf) = open_form(&t, language).await;
        let mut fields = form_of(&input);
        fields.push(("csrf".into(), csrf.clone()));
        let (status, html) = post_form(&t, Some(&cookie), &fields, &format!("?lang={language}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{language}: {html}");
        assert!(html.contains(&format!("<html lang=\"{language}\">")), "{html}");
        for (field, text) in expected {
            let note = html
                .split(&format!("id=\"{field}-error\">"))
                .nth(1)
                .unwrap_or_else(|| panic!("{language}: no note next to {field}: {html}"));
            let note = note.split("</span>").next().unwrap();
            assert!(note.contains(text), "{language}: {field} says {note:?}, not {text:?}");
            assert!(html.contains(&format!("id=\"{field}\" name=\"{field}\"")), "{field}");
        }
        assert!(!html.contains("id=\"tenant.domain-error\""), "only the wrong fields have notes");
        // What was typed comes back, escaped; the form keeps its token.
        assert!(html.contains("value=\"anna.rossi@gmail.com\""), "{html}");
        assert!(html.contains("value=\"Contoso &lt;Italia&gt; &amp; &quot;Figli&quot;\""), "{html}");
        assert!(html.contains("value=\"Via Roma 1\"") && html.contains("value=\"call us\""));
        assert!(html.contains(&format!("name=\"csrf\" value=\"{csrf}\"")));

        // Corrected but for the city: still refused, for the city alone.
        let mut corrected = enrollment_input();
        corrected["company"]["address"]["city"] = json!("");
        let mut fields = form_of(&corrected);
        fields.push(("csrf".into(), csrf.clone()));
        let (status, html) = post_form(&t, Some(&cookie), &fields, &format!("?lang={language}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{language}: {html}");
        let note = html.split("id=\"company.address.city-error\">").nth(1).expect("a note by the city");
        let required = if language == "it" { "Campo obbligatorio." } else { "Required." };
        assert!(note.starts_with(required), "{language}: {note}");
    }
    assert!(instances(&t).await.is_empty(), "a refused form starts nothing");
}

async fn a_good_form_starts_the_enrollment_as_the_api_does_and_sends_the_verification_email(backend: Backend) {
    let Some(mut t) = TestApp::options(backend).smtp().spawn().await else { return };
    let (_, cookie, csrf) = open_form(&t, "it-IT").await;
    let mut fields = form_of(&enrollment_input());
    fields.push(("csrf".into(), csrf));
    let (status, html) = post_form(&t, Some(&cookie), &fields, "?lang=it").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Controlla la posta") && html.contains("anna.rossi@contoso.it"), "{html}");
    assert!(html.contains("esamineremo la registrazione"), "the full path is reviewed: {html}");
    // Posted again (a double click, a reload): the same enrollment, not a second one.
    let (status, _) = post_form(&t, Some(&cookie), &fields, "?lang=it").await;
    assert_eq!(status, StatusCode::OK);
    let started = instances(&t).await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["state"], "awaiting_verification");

    // The instance holds what the API would have been given, with the page's language.
    let api = t.api(accord::store::Scope::Admin).await;
    let from_page = api.get(&format!("/api/v1/instances/{}", started[0]["id"].as_str().unwrap())).await;
    let mut input = enrollment_input();
    input["primary_contact"]["locale"] = json!("it");
    let body = json!({ "workflow": "enrollment", "input": input });
    let (status, from_api) = api.call(Method::POST, "/api/v1/instances", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{from_api}");
    let from_api = api.get(&format!("/api/v1/instances/{}", from_api["id"].as_str().unwrap())).await;
    assert_eq!(from_page["context"], from_api["context"], "the page starts enrollment as the API does");

    // The verification email reaches the primary contact, in Italian, with its links.
    assert_eq!(t.dispatch().await, 2);
    let mail = t.next_mail().await;
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    assert!(!links_in(&mail.text, &t.base).is_empty(), "{}", mail.text);
}

async fn posting_the_form_is_rate_limited_per_address(backend: Backend) {
    let Some(t) = TestApp::options(backend).config(|config| config.limits.enroll_per_minute = 2).spawn().await else {
        return;
    };
    let (_, cookie, csrf) = open_form(&t, "en").await;
    let mut input = enrollment_input();
    input["primary_contact"]["email"] = json!("anna@gmail.com");
    let mut fields = form_of(&input);
    fields.push(("csrf".into(), csrf));
    for _ in 0..2 {
        let (status, _) = post_form(&t, Some(&cookie), &fields, "").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response = t
        .client
        .post(format!("{}/enroll", t.base))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Showing the form is not limited.
    let (status, _) = (t.client.get(format!("{}/enroll", t.base)).send().await.unwrap().status(), ());
    assert_eq!(status, StatusCode::OK);
}
