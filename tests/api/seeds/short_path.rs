//! The short path of seed 000, end to end: a company already enrolled in CSP (its MPN ID on a
//! partner the directory knows) gives only its MPN ID, a primary contact among its users and its
//! customer support details, on the public page; after the email check its reseller account is
//! created without the review, and the agreement makes it active.

use accord::clock::Clock;
use accord::directory::{Actor, NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::enroll::{open_form, post_form};
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(a_company_already_in_csp_enrolls_without_the_review);

const MPN: &str = "7777777";

async fn a_company_already_in_csp_enrolls_without_the_review(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let provider = NewPartner {
        id: uuid::Uuid::new_v4(),
        kind: PartnerKind::IndirectProvider,
        legal_name: "Northwind Distribution S.p.A.".into(),
        country: "IT".into(),
        mpn_id: MPN.into(),
        tenant_domain: "northwind.onmicrosoft.com".into(),
        status: PartnerStatus::Active,
        served_countries: vec!["IT".into()],
        users: vec![
            NewUser {
                email: "gianni@northwind.example".into(),
                name: "Gianni Neri".into(),
                roles: vec![Role::GlobalAdmin],
            },
            NewUser {
                email: "paola@northwind.example".into(),
                name: "Paola Verdi".into(),
                roles: vec![Role::SalesAgent],
            },
        ],
    };
    m.engine().store().create_partner(&provider, &Actor::system("test"), m.clock.now()).await.unwrap();
    let short = [
        ("mpn.id", MPN),
        ("primary_contact.name", "Paola Verdi"),
        ("primary_contact.email", "paola@northwind.example"),
        ("primary_contact.phone", "+39 02 5555 0000"),
        ("support.email", "support@northwind.example"),
        ("support.phone", "+39 02 5555 0001"),
    ];

    // A primary contact who is not one of the company's users is refused, next to the field.
    let (_, cookie, csrf) = open_form(&m, "it").await;
    let mut fields: Vec<(String, String)> = short.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    fields[2].1 = "mallory@fabrikam.example".into();
    fields.push(("csrf".into(), csrf));
    let (status, html) = post_form(&m, Some(&cookie), &fields, "?lang=en").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let note = html
        .split("id=\"primary_contact.email-error\">")
        .nth(1)
        .expect("a note by the email")
        .split("</span>")
        .next()
        .unwrap();
    assert!(note.contains("one of its registered users") && !note.contains("accord "), "{note}");

    // Its own user: the enrollment starts, on the short path.
    fields[2].1 = "paola@northwind.example".into();
    let (status, html) = post_form(&m, Some(&cookie), &fields, "?lang=it").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Northwind Distribution S.p.A.") && html.contains("già registrata nel programma CSP"),
        "{html}"
    );
    let api = m.api(accord::store::Scope::Admin).await;
    let listed = api.get("/api/v1/instances?workflow=enrollment").await;
    let id: accord::ids::InstanceId = listed["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let instance = api.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(instance["context"]["csp"]["enrolled"], true, "{instance}");
    assert_eq!(instance["context"]["global_admin"]["email"], "gianni@northwind.example");

    // The email check, then straight to the agreement: no review.
    let verify_mail = m.deliver(1).await.pop().unwrap();
    assert_eq!(verify_mail.to, ["paola@northwind.example"]);
    // Nothing the enrollee reads speaks of a review that will not happen.
    assert!(verify_mail.text.contains("non serve alcuna revisione"), "{}", verify_mail.text);
    let verify = m.link_titled(&verify_mail, "Conferma il tuo indirizzo email").await;
    let (status, page) = m.post(&verify, &[("confirm_0", "on"), ("confirm_1", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("esamineremo") && page.contains("passaggio successivo"), "{page}");
    assert_eq!(m.state(id).await, "awaiting_agreement", "no review on the short path");
    let partners = m.engine().store().partners(Some(PartnerKind::IndirectReseller)).await.unwrap();
    assert_eq!(partners.len(), 1, "the reseller account is created");
    let reseller = &partners[0];
    assert_eq!((reseller.legal_name.as_str(), reseller.mpn_id.as_str()), ("Northwind Distribution S.p.A.", MPN));
    assert_eq!((reseller.country.as_str(), reseller.tenant_domain.as_str()), ("IT", "northwind.onmicrosoft.com"));
    assert_eq!(reseller.status, PartnerStatus::PendingAgreement);
    let users = m.engine().store().partner_users(reseller.id).await.unwrap();
    assert_eq!(users[0].email, "gianni@northwind.example", "the directory's global admin, not one the caller chose");
    assert_eq!(users[0].roles, [Role::GlobalAdmin, Role::AdminAgent]);

    let mails = m.deliver(2).await;
    let agreement =
        mails.iter().find(|mail| mail.to == ["gianni@northwind.example"]).expect("the global admin is asked");
    for mail in &mails {
        assert!(
            !mail.subject.contains("approvata") && !mail.text.contains("approvata"),
            "{}\n{}",
            mail.subject,
            mail.text
        );
    }
    assert!(agreement.text.contains("a partire dalla registrazione CSP esistente"), "{}", agreement.text);
    let accept = m.link_titled(agreement, "Accetta il Contratto per i partner Microsoft").await;
    let (status, _) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(id).await, "active");
    let partner = m.engine().store().partner(reseller.id).await.unwrap().unwrap();
    assert_eq!(partner.status, PartnerStatus::Active);

    // The MPN ID now belongs to a reseller: enrolling it again is refused.
    let input = json!({
        "mpn": { "id": MPN },
        "primary_contact": { "name": "Paola Verdi", "email": "paola@northwind.example", "phone": "+39 02 5555 0000" },
        "support": { "email": "support@northwind.example", "phone": "+39 02 5555 0001" },
    });
    let (status, body) =
        api.call(Method::POST, "/api/v1/instances", Some(json!({ "workflow": "enrollment", "input": input }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"][0]["code"], "already_enrolled", "{body}");
}
