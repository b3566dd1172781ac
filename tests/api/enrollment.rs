//! The indirect reseller enrollment, end to end through SMTP and clicked links.

use std::time::Duration;

use accord::clock::Clock;
use accord::engine::{EngineError, EventRequest, StartRequest};
use accord::store::Origin;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};

pub fn enrollment_input() -> Value {
    json!({
        "company": { "legal_name": "Contoso Italia S.r.l.",
                     "address": { "line1": "Via Roma 1", "city": "Milano", "postal_code": "20121", "country": "IT" } },
        "tenant": { "domain": "contosoitalia.onmicrosoft.com", "country": "IT" },
        "mpn": { "id": "1234567", "country": "IT" },
        "primary_contact": { "name": "Anna Rossi", "email": "anna.rossi@contoso.it", "phone": "+39 02 1234 5678", "locale": "it-CH" },
        "support": { "email": "support@contoso.it", "phone": "+39 02 1234 0000" },
        "global_admin": { "name": "Marco Bianchi", "email": "admin@contosoitalia.onmicrosoft.com" }
    })
}

fn start(input: Value) -> StartRequest {
    StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "test".into() }
}

fn reviewer(event: &str, data: Value) -> EventRequest {
    EventRequest {
        event: event.into(),
        data,
        idempotency_key: None,
        origin: Origin::Reviewer,
        actor: "reviewer:giulia".into(),
    }
}

crate::on_each_store!(
    every_refused_field_is_reported_at_once,
    an_approved_enrollment_is_active_once_the_global_admin_accepts_the_agreement,
    a_rejection_carries_its_reason_and_an_overdue_review_reaches_the_reviewers,
    this_wasnt_me_closes_the_enrollment,
    verification_is_reminded_and_then_expires,
    the_reviewer_asks_for_information_and_the_contact_answers_on_the_page,
);

async fn every_refused_field_is_reported_at_once(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    for webmail in [
        "anna@gmail.com",
        "Anna@GMAIL.COM",
        "anna@hotmail.it",
        "anna@mail.yahoo.co.uk",
        "anna@icloud.com",
        "anna@aol.com",
        "anna@outlook.com",
    ] {
        let mut input = enrollment_input();
        input["primary_contact"]["email"] = json!(webmail);
        match t.engine().start(start(input)).await {
            Err(EngineError::InvalidInput(fields)) => {
                assert_eq!(fields.len(), 1, "{webmail}: {fields:?}");
                assert_eq!(
                    (fields[0].field.as_str(), fields[0].code),
                    ("primary_contact.email", "webmail_address"),
                    "{webmail}"
                );
            }
            other => panic!("{webmail} was accepted: {other:?}"),
        }
    }
    let mut input = enrollment_input();
    input["mpn"]["country"] = json!("FR");
    input["support"] = json!({ "email": "support@contoso.it" });
    input["company"]["legal_name"] = json!("");
    let Err(EngineError::InvalidInput(fields)) = t.engine().start(start(input)).await else { panic!("accepted") };
    let found: Vec<(&str, &str)> = fields.iter().map(|f| (f.field.as_str(), f.code)).collect();
    assert_eq!(found, [("company.legal_name", "required"), ("support.phone", "required"), ("mpn.country", "mismatch")]);
    assert!(fields[2].message.contains("same country"), "{}", fields[2].message);
}

async fn an_approved_enrollment_is_active_once_the_global_admin_accepts_the_agreement(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.engine().start(start(enrollment_input())).await.unwrap().instance.id;
    let mail = m.deliver(1).await.pop().unwrap();
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    assert_eq!(mail.subject, "Conferma il tuo indirizzo email per Contoso Italia S.r.l.", "the contact's language");
    let verify = m.link_titled(&mail, "Conferma il tuo indirizzo email").await;
    let (status, _) = m.post(&verify, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "both boxes are required");
    let (status, _) = m.post(&verify, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(id).await, "in_review");
    let review = m.deliver(1).await.pop().unwrap();
    let by = "entro sabato 7 marzo 2026, ore 10:00 CET";
    assert!(review.text.contains(by), "the review's deadline, in Italian and Rome's time: {}", review.text);

    m.engine().apply(id, reviewer("approve", Value::Null)).await.unwrap();
    let mails = m.deliver(2).await;
    let approved = mails.iter().find(|mail| mail.to == ["anna.rossi@contoso.it"]).unwrap();
    assert_eq!(approved.subject, "Contoso Italia S.r.l.: la registrazione è stata approvata");
    let agreement = mails
        .iter()
        .find(|mail| mail.to == ["admin@contosoitalia.onmicrosoft.com"])
        .expect("the global admin is asked");
    let accept = m.link_titled(agreement, "Accetta il Contratto per i partner Microsoft").await;
    assert_eq!(m.state(id).await, "awaiting_agreement", "not active before the agreement");
    assert!(agreement.text.contains("gruppo degli agenti amministratori"), "{}", agreement.text);
    let partners = m.engine().store().partners(None).await.unwrap();
    assert_eq!(partners.len(), 1);
    assert_eq!((partners[0].legal_name.as_str(), partners[0].country.as_str()), ("Contoso Italia S.r.l.", "IT"));
    assert_eq!(partners[0].status, accord::directory::PartnerStatus::PendingAgreement);
    let users = m.engine().store().partner_users(partners[0].id).await.unwrap();
    assert_eq!(users[0].email, "admin@contosoitalia.onmicrosoft.com");
    assert_eq!(
        users[0].roles,
        [accord::directory::Role::GlobalAdmin, accord::directory::Role::AdminAgent],
        "the global admin joins the admin agents"
    );
    let (status, _) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(id).await, "active");
    let active = m.deliver(1).await.pop().unwrap();
    assert_eq!(active.subject, "Contoso Italia S.r.l.: l'account è attivo");

    let key =
        accord::keys::create_operator(m.engine().store().as_ref(), accord::store::Scope::Reviewer, "r", m.clock.now())
            .await
            .unwrap()
            .0;
    let listed: Value = m
        .client
        .get(format!("{}/api/v1/partners?kind=indirect_reseller", m.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["status"], "active");
    assert_eq!(listed["items"][0]["mpn_id"], "1234567");
    assert_eq!(listed["items"][0]["users"][0]["roles"], json!(["global_admin", "admin_agent"]));
}

async fn a_rejection_carries_its_reason_and_an_overdue_review_reaches_the_reviewers(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let mut input = enrollment_input();
    input["primary_contact"]["locale"] = json!("en-GB");
    let id = m.engine().start(start(input)).await.unwrap().instance.id;
    m.send(id, "verify", Value::Null).await.unwrap();
    m.deliver(2).await;

    m.clock.advance(Duration::from_secs(5 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    let escalation = m.deliver(1).await.pop().unwrap();
    assert_eq!(escalation.to, ["reviewers@contoso.example"]);
    assert_eq!(escalation.subject, "Review overdue: enrollment of Contoso Italia S.r.l.");

    let err = m.engine().apply(id, reviewer("reject", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "guard_refused", "a rejection needs a reason");
    m.engine().apply(id, reviewer("reject", json!({ "reason": "The MPN ID is not active." }))).await.unwrap();
    let rejected = m.deliver(1).await.pop().unwrap();
    assert_eq!(rejected.subject, "Contoso Italia S.r.l.: your enrollment was not approved");
    assert!(rejected.text.contains("Reason: The MPN ID is not active."), "{}", rejected.text);
}

async fn this_wasnt_me_closes_the_enrollment(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.engine().start(start(enrollment_input())).await.unwrap().instance.id;
    let mail = m.deliver(1).await.pop().unwrap();
    let not_me = m.link_titled(&mail, "Non sono stato io").await;
    let (status, _) = m.post(&not_me, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(id).await, "withdrawn");
    m.clock.advance(Duration::from_secs(30 * 86_400));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 0, "no reminder or expiry after it is closed");
    assert_eq!(m.dispatch().await, 0, "and no more mail");
}

async fn verification_is_reminded_and_then_expires(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.engine().start(start(enrollment_input())).await.unwrap().instance.id;
    let first = m.deliver(1).await.pop().unwrap();
    let old_link = m.link_titled(&first, "Conferma il tuo indirizzo email").await;

    m.clock.advance(Duration::from_secs(2 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    let reminder = m.deliver(1).await.pop().unwrap();
    assert_eq!(reminder.subject, "Promemoria: conferma il tuo indirizzo email per Contoso Italia S.r.l.");
    let (status, _) = m.get(&old_link).await;
    assert_eq!(status, StatusCode::GONE, "the reminder's link replaces the first one");
    assert_eq!(m.state(id).await, "awaiting_verification");
    let new_link = m.link_titled(&reminder, "Conferma il tuo indirizzo email").await;

    m.clock.advance(Duration::from_secs(5 * 86_400));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    assert_eq!(m.state(id).await, "expired");
    let expired = m.deliver(1).await.pop().unwrap();
    assert_eq!(expired.subject, "Contoso Italia S.r.l.: la registrazione è scaduta", "the contact is told");
    let (status, page) = m.post(&new_link, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "an expired verification cannot be confirmed: {page}");
    assert!(page.contains("scaduta"), "the page says the enrollment expired: {page}");
    assert!(page.contains("Il tempo per rispondere a questa richiesta è scaduto"), "and why: {page}");
    let (status, page) = m.get(&new_link).await;
    assert_eq!(status, StatusCode::CONFLICT, "opening it says the same, with no form: {page}");
    assert!(page.contains("Questa richiesta è chiusa") && !page.contains("<form"), "{page}");
    assert_eq!(m.state(id).await, "expired");
}

async fn the_reviewer_asks_for_information_and_the_contact_answers_on_the_page(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let id = m.engine().start(start(enrollment_input())).await.unwrap().instance.id;
    m.send(id, "verify", Value::Null).await.unwrap();
    m.deliver(2).await;
    let err = m.engine().apply(id, reviewer("request_info", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "guard_refused", "a request needs a message");
    let question = "Please send the VAT number of the company.";
    m.engine().apply(id, reviewer("request_info", json!({ "message": question }))).await.unwrap();
    let mail = m.deliver(1).await.pop().unwrap();
    assert_eq!(mail.subject, "Contoso Italia S.r.l.: il revisore ha bisogno di altre informazioni");
    assert!(mail.text.contains(question), "the contact reads the question: {}", mail.text);
    let answer = m.link_titled(&mail, "Rispondi al revisore").await;
    let (status, page) = m.post(&answer, &[("answer", "   ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an empty answer is refused on the page: {page}");
    assert!(page.contains("La tua risposta"), "{page}");
    let (status, page) = m.post(&answer, &[("answer", "IT01234567890")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("in revisione"), "the page says where the enrollment is now: {page}");
    assert_eq!(m.state(id).await, "in_review");
    let back = m.deliver(1).await.pop().unwrap();
    assert_eq!(back.subject, "Contoso Italia S.r.l.: stiamo esaminando la tua registrazione");
    let view = m.engine().view(id).await.unwrap();
    let context = serde_json::to_value(&view).unwrap();
    assert!(context.to_string().contains("IT01234567890"), "the reviewers can read the answer: {context}");
}
