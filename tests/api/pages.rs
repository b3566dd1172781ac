//! Link pages that know their request (issue 16): on GET a page first reads where its request
//! stands, and a request that no longer waits for the link's action says so and why, in the
//! recipient's language, with no form. The form keeps what was ticked and typed when it comes
//! back; refusals are sentences in the reader's language with names; the answer page shows the
//! question, the provider's page names the provider, and agreements link to their full text.

use std::time::Duration;

use accord::clock::Clock;
use accord::directory::{DirectoryChange, PartnerKind, PartnerStatus};
use accord::ids::InstanceId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::customer::{invitation, partner, start};
use crate::helpers::{links_in, Backend, TestApp};

crate::on_each_store!(
    a_closed_request_says_why_without_a_form_in_english_and_italian,
    an_open_done_expired_or_moved_on_link_says_so,
    a_refusal_and_a_lapse_are_sentences_with_names,
    the_form_keeps_what_was_ticked_and_typed,
    pages_show_the_question_the_provider_and_the_agreements_text,
    an_unknown_link_speaks_the_readers_language,
);

/// A link no instance owns has no recipient to take a language from: the browser's is used.
async fn an_unknown_link_speaks_the_readers_language(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let unknown = format!("{}/l/{}", t.base, "A".repeat(43));
    for (accept, heading) in [
        ("it-IT,it;q=0.9,en;q=0.8", "<h1>Link non riconosciuto</h1>"),
        ("en-GB,en;q=0.9", "<h1>Link not recognised</h1>"),
    ] {
        let response = t.client.get(&unknown).header("accept-language", accept).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let page = response.text().await.unwrap();
        assert!(page.contains(heading), "{accept}: {page}");
    }
}

/// The most recent link of `action` on instance `id`, from its emails' bodies.
pub(crate) async fn link(t: &TestApp, id: InstanceId, action: &str) -> String {
    let store = t.engine().store();
    let mut found = None;
    for email in store.emails(id).await.unwrap() {
        for url in links_in(&email.text_body, &t.base) {
            let token = url.rsplit('/').next().unwrap();
            let record = store.link(&accord::mail::links::hash_token(token)).await.unwrap().unwrap();
            if record.action == action {
                found = Some(url);
            }
        }
    }
    found.unwrap_or_else(|| panic!("no {action} link on instance {id}"))
}

/// A customer invitation from Contoso Italia to Northwind, in `locale`; its id.
pub(crate) async fn invite(t: &TestApp, reseller: uuid::Uuid, domain: &str, locale: &str) -> InstanceId {
    let mut input = invitation(reseller, domain, "public", true);
    input["customer"]["locale"] = json!(locale);
    t.engine().start(start("customer_invitation", input)).await.unwrap().instance.id
}

#[track_caller]
fn shows(page: &str, words: &[&str]) {
    for words in words {
        assert!(page.contains(words), "the page shows {words:?}:\n{page}");
    }
}

#[track_caller]
fn no_form(page: &str) {
    assert!(!page.contains("<form"), "no form on this page:\n{page}");
}

async fn a_closed_request_says_why_without_a_form_in_english_and_italian(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    for (locale, closed, withdrawn, expired, again) in [
        (
            "en",
            "<h1>This request is closed</h1>",
            ["The sender withdrew this request", "withdrawn", "please ask the sender to start it again"],
            ["The time to answer this request ran out", "<strong>expired</strong>"],
            "Nothing was changed",
        ),
        (
            "it",
            "<h1>Questa richiesta è chiusa</h1>",
            ["Il mittente ha ritirato questa richiesta", "ritirata", "chiedi al mittente di avviarla di nuovo"],
            ["Il tempo per rispondere a questa richiesta è scaduto", "<strong>scaduta</strong>"],
            "Non è stato modificato nulla",
        ),
    ] {
        // Withdrawn by the reseller: both the accept and the cancel link say so, GET and POST.
        let id = invite(&t, reseller, &format!("withdrawn-{locale}.example"), locale).await;
        let accept = link(&t, id, "accept").await;
        let (status, page) = t.get(&accept).await;
        assert_eq!(status, StatusCode::OK, "open before the withdrawal: {page}");
        assert!(page.contains("<form method=\"post\">"), "{page}");
        t.send(id, "withdraw", Value::Null).await.unwrap();
        for url in [&accept, &link(&t, id, "cancel").await] {
            let (status, page) = t.get(url).await;
            assert_eq!(status, StatusCode::CONFLICT, "{page}");
            shows(&page, &[closed, again]);
            shows(&page, &withdrawn);
            no_form(&page);
            assert!(page.contains(&format!("<html lang=\"{locale}\">")), "{page}");
        }
        let (status, page) = t.post(&accept, &[("confirm_0", "on")]).await;
        assert_eq!(status, StatusCode::CONFLICT, "posting changes nothing: {page}");
        shows(&page, &withdrawn);
        assert_eq!(t.state(id).await, "withdrawn");

        // Expired by its timer (the link itself would still have a day to run).
        let id = invite(&t, reseller, &format!("expired-{locale}.example"), locale).await;
        let accept = link(&t, id, "accept").await;
        let request = accord::engine::EventRequest {
            event: "expire".into(),
            data: Value::Null,
            idempotency_key: None,
            origin: accord::store::Origin::Timer,
            actor: "timer:expiry".into(),
        };
        t.engine().apply(id, request).await.unwrap();
        let (status, page) = t.get(&accept).await;
        assert_eq!(status, StatusCode::CONFLICT, "{page}");
        shows(&page, &[closed]);
        shows(&page, &expired);
        no_form(&page);
    }
}

async fn an_open_done_expired_or_moved_on_link_says_so(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    for (locale, open, done, state, moved_on, expired) in [
        (
            "en",
            "<h1>Confirm your email address</h1>",
            ["<h1>Done</h1>", "your email address is confirmed", "The request is now: in review."],
            "in review",
            ["<h1>This link no longer applies</h1>", "The request has moved on", "<strong>in review</strong>"],
            ["<h1>This link has expired</h1>", "Send me a new link"],
        ),
        (
            "it-CH",
            "<h1>Conferma il tuo indirizzo email</h1>",
            ["<h1>Fatto</h1>", "il tuo indirizzo email è confermato", "Stato della richiesta: in revisione."],
            "in revisione",
            ["<h1>Questo link non è più valido</h1>", "La richiesta è andata avanti", "<strong>in revisione</strong>"],
            ["<h1>Questo link è scaduto</h1>", "Inviami un nuovo link"],
        ),
    ] {
        let mut input = crate::enrollment::enrollment_input();
        input["primary_contact"]["locale"] = json!(locale);
        input["company"]["legal_name"] = json!(format!("Contoso {locale}"));
        let request = accord::engine::StartRequest {
            workflow: "enrollment".into(),
            input,
            idempotency_key: None,
            actor: "test".into(),
        };
        let id = t.engine().start(request).await.unwrap().instance.id;
        let verify = link(&t, id, "verify").await;
        let not_me = link(&t, id, "not_me").await;
        let (status, page) = t.get(&verify).await;
        assert_eq!(status, StatusCode::OK);
        shows(&page, &[open, "<form method=\"post\">"]);
        // The open form dates its own end, in the recipient's language, as the email does.
        let until = if locale == "en" { "This link works until <strong>" } else { "Il link è valido fino a <strong>" };
        let ends = accord::mail::dates::format(
            t.engine().now().plus(Duration::from_secs(7 * 24 * 3600)),
            locale,
            accord::mail::dates::zone_of_country("IT").unwrap(),
        );
        let day = ends.split(',').next().unwrap();
        shows(&page, &[until, day]);
        let (status, page) = t.post(&verify, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        shows(&page, &done);
        assert!(!page.contains("Ora la richiesta"), "no second 'Ora': {page}");
        let (status, page) = t.get(&verify).await;
        assert_eq!(status, StatusCode::OK);
        shows(&page, &[state]);
        no_form(&page);
        // "This wasn't me" after confirming: the request moved where it does not apply.
        let (status, page) = t.get(&not_me).await;
        assert_eq!(status, StatusCode::CONFLICT, "{page}");
        shows(&page, &moved_on);
        no_form(&page);

        // A link past its time, on a request still waiting for it: "send me a new link".
        let mut input = crate::enrollment::enrollment_input();
        input["company"]["legal_name"] = json!(format!("Contoso Late {locale}"));
        input["primary_contact"]["locale"] = json!(locale);
        let request = accord::engine::StartRequest {
            workflow: "enrollment".into(),
            input,
            idempotency_key: None,
            actor: "t".into(),
        };
        let id = t.engine().start(request).await.unwrap().instance.id;
        let verify = link(&t, id, "verify").await;
        t.clock.advance(Duration::from_secs(8 * 24 * 3600));
        let (status, page) = t.get(&verify).await;
        assert_eq!(status, StatusCode::GONE, "{page}");
        shows(&page, &expired);
        assert!(page.contains("resend\""), "the only form asks for a new link: {page}");
        assert_eq!(t.state(id).await, "awaiting_verification", "the request still waits: its timers did not run");
    }
}

async fn a_refusal_and_a_lapse_are_sentences_with_names(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let admin = t.api(accord::store::Scope::Admin).await;
    for (locale, domain, refused) in [
        (
            "en",
            "northwind.example",
            ["<h1>This cannot be done</h1>", "Northwind Traders has already accepted the Microsoft Customer Agreement"],
        ),
        (
            "it",
            "northwind.it",
            [
                "<h1>Non è possibile procedere</h1>",
                "Northwind Traders ha già accettato il Contratto del cliente Microsoft",
            ],
        ),
    ] {
        let body = json!({
            "name": "Northwind Traders", "domain": domain, "country": "IT", "locale": locale,
            "admin": { "name": "Giulia Bianchi", "email": format!("giulia@{domain}") },
            "relationships": [{ "partner": reseller, "kind": "reseller" }],
        });
        let (status, customer) = admin.call(Method::POST, "/api/v1/customers", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{customer}");
        let request = format!("/api/v1/customers/{}/agreement-requests", customer["id"].as_str().unwrap());
        // Two requests before either is accepted: the second acceptance meets a signed agreement.
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (status, instance) = admin.call(Method::POST, &request, Some(json!({ "partner": reseller }))).await;
            assert_eq!(status, StatusCode::CREATED, "{instance}");
            ids.push(instance["id"].as_str().unwrap().parse::<InstanceId>().unwrap());
        }
        let first = link(&t, ids[0], "accept").await;
        let second = link(&t, ids[1], "accept").await;
        assert_eq!(t.post(&first, &[("confirm_0", "on")]).await.0, StatusCode::OK);
        let (status, page) = t.post(&second, &[("confirm_0", "on")]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{page}");
        shows(&page, &refused);
        for raw in ["accepted already", "the customer agreement", "Operazione non consentita"] {
            assert!(!page.contains(raw), "no server English or old wording ({raw}): {page}");
        }
        assert!(!page.contains(customer["id"].as_str().unwrap()), "no id: {page}");
    }

    // The reseller stops being active before the customer accepts: the invitation lapses.
    let id = invite(&t, reseller, "lapsing.example", "it").await;
    let accept = link(&t, id, "accept").await;
    let change = DirectoryChange::SetPartnerStatus { id: reseller, status: PartnerStatus::PendingAgreement };
    t.engine()
        .store()
        .change_directory(&change, &accord::directory::Actor::system("test"), t.clock.now())
        .await
        .unwrap();
    let (status, page) = t.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    shows(&page, &["<h1>Non è più possibile procedere</h1>", "Contoso Italia S.r.l. non è più un partner attivo"]);
    let (status, page) = t.get(&accept).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    shows(&page, &["non è più un partner attivo", "non più valida"]);
    no_form(&page);
}

async fn the_form_keeps_what_was_ticked_and_typed(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    let id = t.engine().start(crate::helpers::signup_request()).await.unwrap().instance.id;
    let mut input = crate::enrollment::enrollment_input();
    input["primary_contact"]["locale"] = json!("en");
    let request =
        accord::engine::StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "t".into() };
    let enrollment = t.engine().start(request).await.unwrap().instance.id;
    let verify = link(&t, enrollment, "verify").await;
    // The second box ticked, the first not: the form comes back with the second still ticked.
    let (status, page) = t.post(&verify, &[("confirm_1", "on")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    shows(&page, &["<li>I signed up for a Partner Center account</li>"]);
    let ticked = |page: &str, n: usize| {
        let at = page.find(&format!("id=\"confirm_{n}\"")).unwrap();
        page[at..].split('>').next().unwrap().contains(" checked")
    };
    assert!(!ticked(&page, 0) && ticked(&page, 1), "{page}");
    let (status, page) = t.post(&verify, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // Typed text stays too: an answer with a control character comes back as typed.
    t.send(id, "verify", Value::Null).await.unwrap();
    t.send(id, "request_info", json!({ "message": "Please send the VAT number." })).await.unwrap();
    let answer = link(&t, id, "answer").await;
    let (status, page) = t.post(&answer, &[("answer", "IT 0123\u{7}4567890")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains(">IT 0123\u{7}4567890</textarea>"), "{page}");
    assert!(page.contains("<li>La tua risposta (senza caratteri di controllo)</li>"), "said in Italian: {page}");
}

async fn pages_show_the_question_the_provider_and_the_agreements_text(backend: Backend) {
    let agreement = "https://contoso.example/mca-it.pdf";
    let Some(t) =
        TestApp::options(backend).config(move |config| config.agreements.customer = agreement.into()).spawn().await
    else {
        return;
    };
    // The answer page shows the reviewer's question, in the contact's language.
    let request = accord::engine::StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "t".into(),
    };
    let id = t.engine().start(request).await.unwrap().instance.id;
    t.send(id, "verify", Value::Null).await.unwrap();
    t.send(id, "request_info", json!({ "message": "Inviate il numero di partita IVA, per favore." })).await.unwrap();
    let (status, page) = t.get(&link(&t, id, "answer").await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    shows(
        &page,
        &[
            "<h1>Rispondi al revisore</h1>",
            "I revisori della registrazione di <strong>Contoso Italia S.r.l.</strong> hanno chiesto:",
            "<blockquote class=\"question\">Inviate il numero di partita IVA, per favore.</blockquote>",
        ],
    );
    // Approved: the global admin's page summarises the partner agreement and links to it.
    t.send(id, "answer", json!({ "answer": "IT01234567890" })).await.unwrap();
    t.send(id, "approve", Value::Null).await.unwrap();
    let (_, page) = t.get(&link(&t, id, "accept_agreement").await).await;
    shows(&page, &["Contratto per i partner Microsoft", "https://learn.microsoft.com/partner-center/"]);

    // The provider's invitation names the provider and the reseller, and offers "Decline".
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = crate::customer::partner(&t, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let input = json!({ "provider": { "id": provider.to_string() }, "reseller": { "id": reseller.to_string(), "locale": "it" } });
    let invited = t.engine().start(start("provider_invitation", input)).await.unwrap().instance.id;
    let (_, page) = t.get(&link(&t, invited, "authorize").await).await;
    shows(
        &page,
        &[
            "<strong>Fabrikam Distribution</strong> invita <strong>Contoso Italia S.r.l.</strong> ad autorizzarlo",
            "Microsoft Entra ID e Microsoft 365",
            "value=\"decline\"",
        ],
    );

    // The customer's page: the agreement's full text at the configured address, in Italian and
    // English, and Microsoft Entra ID rather than Azure Active Directory.
    for (locale, words) in [
        ("it", ["Leggi il testo completo del Contratto del cliente Microsoft", "chiede di diventare partner di"]),
        ("en", ["Read the full Microsoft Customer Agreement", "asks Northwind Traders for a relationship"]),
    ] {
        let id = invite(&t, reseller, &format!("agreement-{locale}.example"), locale).await;
        let (_, page) = t.get(&link(&t, id, "accept").await).await;
        shows(&page, &words);
        shows(&page, &[&format!("href=\"{agreement}\""), "Microsoft Entra ID", "Microsoft 365"]);
        assert!(!page.contains("Azure Active Directory") && !page.contains("Office 365"), "{page}");
    }
}
