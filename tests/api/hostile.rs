//! Everything a person types is hostile until checked: one test per way input used to get
//! through (issue 15's findings), on both stores.

use accord::store::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};

crate::on_each_store!(
    a_nul_or_control_character_is_refused_with_its_field_never_a_500,
    look_alike_web_mail_and_ip_literal_addresses_are_refused,
    over_long_input_is_refused_before_it_reaches_a_subject,
    a_draft_edit_may_not_add_a_foreign_url_or_wrap_the_link,
);

fn enrollment(edit: impl FnOnce(&mut Value)) -> Value {
    let mut input = json!({
        "company": { "legal_name": "Contoso Italia S.r.l.",
                     "address": { "line1": "Via Roma 1", "city": "Milano", "postal_code": "20121", "country": "IT" } },
        "tenant": { "domain": "contoso.onmicrosoft.com", "country": "IT" },
        "mpn": { "id": "1234567", "country": "IT" },
        "primary_contact": { "name": "Anna Rossi", "email": "anna.rossi@contoso.it", "phone": "+39 02 1234567" },
        "support": { "email": "support@contoso.it", "phone": "+39 02 7654321" },
        "global_admin": { "name": "Marco Bianchi", "email": "admin@contoso.it" }
    });
    edit(&mut input);
    json!({ "workflow": "enrollment", "input": input })
}

/// The refused fields' `(field, code)`.
fn refused(answer: &Value) -> Vec<(String, String)> {
    answer["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    (
                        f["field"].as_str().unwrap_or_default().to_owned(),
                        f["code"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn a_nul_or_control_character_is_refused_with_its_field_never_a_500(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let api = t.api(Scope::Admin).await;
    let nul = enrollment(|i| i["company"]["legal_name"] = json!("Contoso\u{0} Italia"));
    let (status, answer) = api.call(Method::POST, "/api/v1/instances", Some(nul)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "control_character");
    assert_eq!(answer["error"]["field"], "input.company.legal_name");

    // A line break in a one-line field (a name, an address: header material).
    let newline = enrollment(|i| i["primary_contact"]["name"] = json!("Anna\nBcc: x@evil.example"));
    let (status, answer) = api.call(Method::POST, "/api/v1/instances", Some(newline)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(refused(&answer).contains(&("primary_contact.name".into(), "control_character".into())), "{answer}");

    // Event data and directory commands too.
    let (status, started) = api.call(Method::POST, "/api/v1/instances", Some(enrollment(|_| {}))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap();
    let event = json!({ "event": "withdraw", "data": { "note": "bye\u{0}" } });
    let (status, answer) = api.call(Method::POST, &format!("/api/v1/instances/{id}/events"), Some(event)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("control_character"))
    );
    let provider = json!({ "legal_name": "Fabrikam\u{7}", "country": "IT", "mpn_id": "1", "tenant_domain": "f.example",
                           "serves": ["IT"], "admin": { "name": "Luca", "email": "luca@fabrikam.example" } });
    let (status, answer) = api.call(Method::POST, "/api/v1/partners/providers", Some(provider)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("control_character"))
    );
    let instance = t.engine().store().instance(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(instance.state.as_str(), "awaiting_verification", "nothing was applied");
}

async fn look_alike_web_mail_and_ip_literal_addresses_are_refused(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let api = t.api(Scope::Pipeline).await;
    for address in
        ["anna@ｇｍａｉｌ.com", "anna@gmail。com", "anna@gm\u{AD}ail.com", "anna@𝐲𝐚𝐡𝐨𝐨.com", "anna@GMAIL.com."]
    {
        let input = enrollment(|i| i["primary_contact"]["email"] = json!(address));
        let (status, answer) = api.call(Method::POST, "/api/v1/instances", Some(input)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{address}: {answer}");
        assert!(
            refused(&answer).contains(&("primary_contact.email".into(), "webmail_address".into())),
            "{address}: {answer}"
        );
    }
    let input = enrollment(|i| i["primary_contact"]["email"] = json!("anna@[127.0.0.1]"));
    let (_, answer) = api.call(Method::POST, "/api/v1/instances", Some(input)).await;
    assert!(refused(&answer).contains(&("primary_contact.email".into(), "ip_literal_domain".into())), "{answer}");

    // A business address in another script is kept normalised: shown with its Unicode domain.
    let input = enrollment(|i| i["primary_contact"]["email"] = json!("Anna@BÜCHER.example"));
    let (status, answer) = api.call(Method::POST, "/api/v1/instances", Some(input)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let view = api.get(&format!("/api/v1/instances/{}", answer["id"].as_str().unwrap())).await;
    assert_eq!(view["context"]["primary_contact"]["email"], "Anna@bücher.example");
}

async fn over_long_input_is_refused_before_it_reaches_a_subject(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let api = t.api(Scope::Pipeline).await;
    let long = "C".repeat(1_000_000);
    let input = enrollment(|i| i["company"]["legal_name"] = json!(long));
    let (status, answer) = api.call(Method::POST, "/api/v1/instances", Some(input)).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &answer.to_string()[..200.min(answer.to_string().len())]
    );
    assert!(refused(&answer).contains(&("company.legal_name".into(), "too_long".into())));
    assert!(answer["error"]["message"].as_str().unwrap().len() < 1_000, "the answer does not echo the megabyte");
}

async fn a_draft_edit_may_not_add_a_foreign_url_or_wrap_the_link(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let api = t.api(Scope::Admin).await;
    let reseller = uuid::Uuid::new_v4();
    let partner = accord::directory::NewPartner {
        id: reseller,
        kind: accord::directory::PartnerKind::IndirectReseller,
        legal_name: "Contoso".into(),
        country: "IT".into(),
        mpn_id: "1".into(),
        tenant_domain: "contoso.example".into(),
        status: accord::directory::PartnerStatus::Active,
        served_countries: vec![],
        users: vec![accord::directory::NewUser {
            email: "admin@contoso.example".into(),
            name: "Admin".into(),
            roles: vec![accord::directory::Role::GlobalAdmin],
        }],
    };
    let now = accord::clock::Clock::now(t.clock.as_ref());
    t.engine().store().create_partner(&partner, &accord::directory::Actor::system("test"), now).await.unwrap();
    let input = json!({
        "reseller": { "id": reseller.to_string() },
        "sender": { "email": "admin@contoso.example" },
        "customer": { "name": "Tailspin", "domain": "tailspin.example", "country": "IT", "contact": "Rita",
                      "email": "rita@tailspin.example" },
    });
    let (status, started) = api
        .call(Method::POST, "/api/v1/instances", Some(json!({ "workflow": "customer_invitation", "input": input })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let drafts = api.get("/api/v1/emails?status=draft").await;
    let id = drafts["items"][0]["id"].as_str().unwrap().to_owned();
    let draft = api.get(&format!("/api/v1/emails/{id}")).await;
    let text = draft["text"].as_str().unwrap().to_owned();
    let link = crate::helpers::links_in(&text, &t.base)[0].clone();
    let path = format!("/api/v1/emails/{id}");
    let all_links: String =
        crate::helpers::links_in(&text, &t.base).iter().map(|l| format!("<a href=\"{l}\">x</a>")).collect();

    let cases = [
        // An added HTML part holding only a phishing URL.
        (json!({ "html": "<p><a href=\"https://evil.example/login\">Accept</a></p>" }), "link_changed"),
        (json!({ "html": format!("{all_links} or <a href=\"https://evil.example/\">here</a>") }), "url_not_allowed"),
        (json!({ "html": format!("{all_links} <a href=\"javascript:alert(1)\">x</a>") }), "url_not_allowed"),
        // The real link wrapped in another URL.
        (json!({ "text": text.replace(&link, &format!("https://evil.example/?u={link}")) }), "link_changed"),
        (json!({ "text": format!("{text}\nMore at https://evil.example/offer") }), "url_not_allowed"),
        (json!({ "subject": "Hello\r\nBcc: all@evil.example" }), "control_character"),
    ];
    for (edit, code) in cases {
        let (status, answer) = api.call(Method::PATCH, &path, Some(edit.clone())).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{edit}: {answer}"
        );
    }
    let unchanged = t.engine().store().email(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(unchanged.text_body, text, "nothing refused was stored");
    assert_eq!(unchanged.html_body, draft["html"].as_str().map(str::to_owned));

    // Links to the public URL's host stay allowed; so does an HTML part that keeps every link.
    let html = format!("<p><a href=\"{link}\">Accept</a> · <a href=\"{}/help\">help</a></p>", t.base);
    let (status, answer) = api.call(Method::PATCH, &path, Some(json!({ "html": format!("{html}{all_links}") }))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
