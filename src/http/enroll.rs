//! `/enroll`: the public enrollment page (seed 000, "Provide your organization's legal business
//! profile, primary contact information, and customer support information. Select Enroll now").
//!
//! A plain form, rendered on the server, that works without JavaScript. Posting it starts an
//! `enrollment` instance through [`Engine::start`], exactly as `POST /api/v1/instances` does, so
//! the checks are the workflow's own (declared inputs, the MPN/tenant country rule, the start
//! checks): a refusal comes back as the form again, each problem next to its field in the
//! reader's language and every typed value kept. The form carries a CSRF token repeated in a
//! cookie (double submit, compared in constant time, as the console's sign-in does); posts are
//! rate-limited per client address (`[limits] enroll_per_minute`). The token also makes the
//! idempotency key, so a form posted twice (a double click, a reload) starts one enrollment.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::error;

use super::pages;
use crate::engine::{Engine, EngineError, StartRequest};
use crate::workflow::FieldError;

/// The workflow the page starts.
pub const WORKFLOW: &str = "enrollment";

/// The CSRF cookie; the form repeats its value in `csrf`.
const COOKIE: &str = "accord_enroll";

/// The form's fields, named by the input paths they fill (the API's fixed points). The primary
/// contact's locale is the page's language, not a field.
pub const FIELDS: &[&str] = &[
    "company.legal_name",
    "company.address.line1",
    "company.address.city",
    "company.address.postal_code",
    "company.address.country",
    "tenant.domain",
    "tenant.country",
    "mpn.id",
    "mpn.country",
    "primary_contact.name",
    "primary_contact.email",
    "primary_contact.phone",
    "support.email",
    "support.phone",
    "global_admin.name",
    "global_admin.email",
];

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// `GET /enroll`: the empty form, with a fresh CSRF token in a cookie and in the form.
pub async fn show(
    State(engine): State<Engine>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let lang = pages::language(query.lang.as_deref(), &headers);
    let token = random_token();
    let values: BTreeMap<&str, String> = FIELDS.iter().map(|f| (*f, String::new())).collect();
    let page = form_page(&engine, lang, &token, &values, &[], StatusCode::OK);
    (jar.add(csrf_cookie(&engine, token)), page).into_response()
}

/// `POST /enroll`: starts the enrollment, or shows the form again with what to correct.
pub async fn submit(
    State(engine): State<Engine>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let lang = pages::language(form.get("lang").map(String::as_str).or(query.lang.as_deref()), &headers);
    let cookie = jar.get(COOKIE).map(|c| c.value().to_owned());
    if !same_token(form.get("csrf").map(String::as_str), cookie.as_deref()) {
        let context = json!({ "kind": "expired" });
        return pages::render(&engine, "enroll_done", lang, StatusCode::FORBIDDEN, &context);
    }
    let token = cookie.unwrap_or_default();
    let values: BTreeMap<&str, String> =
        FIELDS.iter().map(|f| (*f, form.get(*f).map(|v| v.trim().to_owned()).unwrap_or_default())).collect();
    let request = StartRequest {
        workflow: WORKFLOW.into(),
        input: input_of(&values, lang),
        idempotency_key: Some(format!("enroll:{}", hex::encode(Sha256::digest(token.as_bytes())))),
        actor: "enroll page".into(),
    };
    match engine.start(request).await {
        Ok(outcome) => {
            let started = &outcome.instance.context.0;
            let context = json!({
                "kind": "started",
                "email": started.pointer("/primary_contact/email").cloned().unwrap_or_default(),
                "company": started.pointer("/company/legal_name").cloned().unwrap_or_default(),
                "short_path": started.pointer("/csp/enrolled").and_then(Value::as_bool).unwrap_or(false),
            });
            pages::render(&engine, "enroll_done", lang, StatusCode::OK, &context)
        }
        Err(EngineError::InvalidInput(errors)) => {
            form_page(&engine, lang, &token, &values, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(err) => {
            error!(error = %err, "starting an enrollment from the page failed");
            let status =
                if err.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::UNPROCESSABLE_ENTITY };
            let context = json!({ "kind": "failure" });
            pages::render(&engine, "enroll_done", lang, status, &context)
        }
    }
}

/// The input the API would be sent: each non-empty field at its path, and the page's language
/// as the primary contact's locale. An empty field is left out, so a required one is refused
/// as missing and an optional one is not set.
pub fn input_of(values: &BTreeMap<&str, String>, lang: &str) -> Value {
    let mut input = Value::Object(Map::new());
    for (path, value) in values.iter().filter(|(_, v)| !v.is_empty()) {
        put(&mut input, path, Value::String(value.clone()));
    }
    put(&mut input, "primary_contact.locale", Value::String(lang.to_owned()));
    input
}

fn put(target: &mut Value, path: &str, value: Value) {
    let mut at = target;
    let keys: Vec<&str> = path.split('.').collect();
    for key in &keys[..keys.len() - 1] {
        let Value::Object(map) = at else { return };
        at = map.entry((*key).to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
    if let (Value::Object(map), Some(last)) = (at, keys.last()) {
        map.insert((*last).to_owned(), value);
    }
}

/// The form, with `errors` next to their fields (and any for a field the form does not have,
/// such as one a start check refused, above it).
fn form_page(
    engine: &Engine,
    lang: &str,
    token: &str,
    values: &BTreeMap<&str, String>,
    errors: &[FieldError],
    status: StatusCode,
) -> Response {
    let mut by_field: BTreeMap<&str, String> = FIELDS.iter().map(|f| (*f, String::new())).collect();
    let mut general = Vec::new();
    for error in errors {
        let text = explain(error, lang);
        match by_field.get_mut(error.field.as_str()) {
            Some(slot) if slot.is_empty() => *slot = text,
            Some(_) => {}
            None => general.push(text),
        }
    }
    // Keyed without dots (`company_legal_name`), which Tera reads as plain names.
    let key = |path: &str| path.replace('.', "_");
    let values: BTreeMap<String, &String> = values.iter().map(|(k, v)| (key(k), v)).collect();
    let by_field: BTreeMap<String, String> = by_field.into_iter().map(|(k, v)| (key(k), v)).collect();
    let context = json!({
        "csrf": token,
        "values": values,
        "errors": by_field,
        "general": general,
        "has_errors": !errors.is_empty(),
    });
    pages::render(engine, "enroll", lang, status, &context)
}

/// What a refusal says to a person, in `lang`: a sentence per stable code; the engine's own
/// message (English) where the page has no sentence of its own for the code.
pub fn explain(error: &FieldError, lang: &str) -> String {
    let it = lang == "it";
    let text = match error.code {
        "required" if it => "Campo obbligatorio.",
        "required" => "Required.",
        "webmail_address" if it => {
            "Usa un indirizzo del dominio della tua organizzazione: non accettiamo indirizzi di servizi di posta web \
             come Gmail, Yahoo! Mail, iCloud Mail, AOL Mail o Outlook.com."
        }
        "webmail_address" => {
            "Use an address on your organization's own domain: addresses from web-based email services such as \
             Gmail, Yahoo! Mail, iCloud Mail, AOL Mail or Outlook.com are not accepted."
        }
        "invalid_email" if it => "Inserisci un indirizzo email, ad esempio nome@contoso.it.",
        "invalid_email" => "Enter an email address, such as name@contoso.com.",
        "ip_literal_domain" if it => "Usa un indirizzo con il nome di dominio della tua organizzazione, non un indirizzo IP.",
        "ip_literal_domain" => "Use an address on your organization's domain name, not an IP address.",
        "invalid_country" if it => "Inserisci il codice ISO di due lettere del paese, ad esempio IT.",
        "invalid_country" => "Enter the country's two-letter ISO code, such as IT.",
        "invalid_phone" if it => "Inserisci un numero di telefono da 6 a 15 cifre, ad esempio +39 02 1234 5678.",
        "invalid_phone" => "Enter a telephone number of 6 to 15 digits, such as +39 02 1234 5678.",
        "invalid_digits" if it => "L'ID MPN contiene solo cifre.",
        "invalid_digits" => "The MPN ID has digits only.",
        "mismatch" if it => {
            "Il profilo MPN deve trovarsi nello stesso paese dell'account aziendale (tenant): scegli l'ID MPN di un \
             profilo situato in quel paese."
        }
        "mismatch" => {
            "The MPN profile must be in the same country as the work account (tenant): choose the MPN ID of a \
             profile located there."
        }
        "too_long" if it => "Il testo è troppo lungo: abbrevialo.",
        "too_long" => "This is too long: shorten it.",
        "control_character" if it => "Rimuovi i caratteri di controllo dal testo.",
        "control_character" => "Remove the control characters from the text.",
        "already_enrolled" if it => {
            "Questo ID MPN appartiene già a un rivenditore indiretto registrato: non serve una nuova registrazione."
        }
        "already_enrolled" => "This MPN ID already belongs to an enrolled indirect reseller: it needs no new enrollment.",
        "from_directory" if it => {
            "Questo ID MPN è già registrato nel programma CSP: lascia vuoto questo campo, lo riprendiamo dai nostri dati."
        }
        "from_directory" => {
            "This MPN ID is already enrolled in CSP: leave this field empty; we take it from our records."
        }
        "not_a_partner_user" if it => {
            "Questo ID MPN è già registrato nel programma CSP: il contatto principale deve essere uno dei suoi utenti \
             registrati. Chiedi al suo amministratore globale di aggiungerti, oppure usa l'indirizzo di un utente già \
             registrato."
        }
        "not_a_partner_user" => {
            "This MPN ID is already enrolled in CSP: the primary contact must be one of its registered users. Ask \
             its global admin to add you, or use the address of a registered user."
        }
        "no_global_admin" if it => {
            "Per questo ID MPN non risulta alcun amministratore globale che possa accettare il contratto: contattaci."
        }
        "no_global_admin" => {
            "We have no global admin on record for this MPN ID to accept the agreement: please contact us."
        }
        _ if it => "Controlla questo valore.",
        _ => return error.message.clone(),
    };
    text.to_owned()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn csrf_cookie(engine: &Engine, token: String) -> Cookie<'static> {
    Cookie::build((COOKIE, token))
        .path("/enroll")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(engine.public_url().starts_with("https://"))
        .build()
}

/// Whether the form's token is the cookie's, compared in constant time; empty never matches.
fn same_token(given: Option<&str>, expected: Option<&str>) -> bool {
    match (given, expected) {
        (Some(given), Some(expected)) if !given.is_empty() && !expected.is_empty() => {
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_apis_input() {
        let mut values: BTreeMap<&str, String> = FIELDS.iter().map(|f| (*f, String::new())).collect();
        values.insert("company.legal_name", "Contoso".into());
        values.insert("company.address.country", "IT".into());
        let input = input_of(&values, "it");
        assert_eq!(
            input,
            json!({ "company": { "legal_name": "Contoso", "address": { "country": "IT" } },
                    "primary_contact": { "locale": "it" } })
        );
    }

    #[test]
    fn tokens_match_only_when_equal_and_present() {
        assert!(same_token(Some("abc"), Some("abc")));
        assert!(!same_token(Some("abc"), Some("abd")));
        assert!(!same_token(Some(""), Some("")));
        assert!(!same_token(None, Some("abc")));
        assert!(!same_token(Some("abc"), None));
    }

    #[test]
    fn every_refusal_reads_in_italian() {
        for code in ["required", "webmail_address", "invalid_email", "invalid_country", "mismatch", "whatever"] {
            let error = FieldError { field: "x".into(), code, message: "English".into() };
            assert_ne!(explain(&error, "it"), "English", "{code}");
        }
    }

    #[test]
    fn the_short_paths_refusals_speak_to_the_public_not_to_operators() {
        for code in ["not_a_partner_user", "no_global_admin"] {
            let operator = "ask its global admin to add you (`accord partners add-user`)";
            let error = FieldError { field: "primary_contact.email".into(), code, message: operator.into() };
            for lang in ["en", "it"] {
                let text = explain(&error, lang);
                assert!(!text.contains("accord "), "{code} in {lang}: {text}");
                assert_ne!(text, "Controlla questo valore.", "{code} in {lang}");
            }
        }
    }
}
