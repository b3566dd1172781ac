//! Indirect provider invitations: who may invite whom, authorising on the link page, and the
//! relationship it records.

use accord::clock::Clock;
use accord::directory::{NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use accord::engine::{EngineError, StartRequest};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Backend, TestApp};

async fn partner(t: &TestApp, kind: PartnerKind, status: PartnerStatus, country: &str, serves: &[&str]) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id,
        kind,
        legal_name: format!("{kind} {country}"),
        country: country.into(),
        mpn_id: "7654321".into(),
        tenant_domain: "partner.example".into(),
        status,
        served_countries: serves.iter().map(|s| (*s).to_owned()).collect(),
        users: vec![NewUser {
            email: "admin@partner.example".into(),
            name: "Admin".into(),
            roles: vec![Role::GlobalAdmin],
        }],
    };
    t.engine()
        .store()
        .create_partner(&partner, &accord::directory::Actor::system("test"), t.clock.now())
        .await
        .unwrap();
    id
}

fn invitation(provider: uuid::Uuid, reseller: uuid::Uuid) -> StartRequest {
    let input = json!({
        "provider": { "id": provider.to_string(), "name": "Fabrikam Distribution" },
        "reseller": { "id": reseller.to_string(), "name": "Contoso Italia S.r.l.", "email": "admin@contoso.it", "locale": "it" }
    });
    StartRequest { workflow: "provider_invitation".into(), input, idempotency_key: None, actor: "provider".into() }
}

fn refused_codes(result: Result<accord::engine::Outcome, EngineError>) -> Vec<(String, &'static str)> {
    match result {
        Err(EngineError::InvalidInput(fields)) => fields.into_iter().map(|f| (f.field, f.code)).collect(),
        other => panic!("the invitation was not refused: {other:?}"),
    }
}

crate::on_each_store!(
    only_an_active_provider_serving_the_resellers_country_may_invite,
    the_reseller_authorizes_the_provider_on_the_link_page,
    an_admin_adds_providers_through_the_api,
    the_reseller_may_decline_or_let_the_invitation_expire,
);

async fn an_admin_adds_providers_through_the_api(backend: Backend) {
    let Some(m) = spawn_app(backend).await else { return };
    let store = m.engine().store().clone();
    let admin = accord::keys::create_operator(store.as_ref(), accord::store::Scope::Admin, "ops", m.clock.now())
        .await
        .unwrap()
        .0;
    let pipeline = accord::keys::create_operator(store.as_ref(), accord::store::Scope::Pipeline, "crm", m.clock.now())
        .await
        .unwrap()
        .0;
    let body = json!({ "legal_name": "Fabrikam Distribution", "country": "it", "mpn_id": "7654321", "tenant_domain": "fabrikam.example",
                       "serves": ["IT", "sm"], "admin": { "name": "Luca Verdi", "email": "luca@fabrikam.example" } });
    let url = format!("{}/api/v1/partners/providers", m.base);
    let response = m.client.post(&url).bearer_auth(&pipeline).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "only admins add providers");
    let response = m.client.post(&url).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!((created["country"].as_str(), created["served_countries"].clone()), (Some("IT"), json!(["IT", "SM"])));
    let mut bad = body.clone();
    bad["serves"] = json!(["Italy"]);
    let response = m.client.post(&url).bearer_auth(&admin).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["field"].as_str()),
        (Some("invalid_country"), Some("serves"))
    );
}

async fn only_an_active_provider_serving_the_resellers_country_may_invite(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let pending = partner(&t, PartnerKind::IndirectReseller, PartnerStatus::PendingAgreement, "IT", &[]).await;
    let french = partner(&t, PartnerKind::IndirectProvider, PartnerStatus::Active, "FR", &["FR", "BE"]).await;
    let italian = partner(&t, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT", "SM"]).await;

    let codes = refused_codes(t.engine().start(invitation(french, reseller)).await);
    assert_eq!(codes, [("reseller.id".to_owned(), "country_not_served")]);
    let codes = refused_codes(t.engine().start(invitation(italian, pending)).await);
    assert_eq!(codes, [("reseller.id".to_owned(), "partner_not_active")]);
    let codes = refused_codes(t.engine().start(invitation(reseller, italian)).await);
    assert_eq!(codes, [("provider.id".to_owned(), "not_a_provider"), ("reseller.id".to_owned(), "not_a_reseller")]);
    let codes = refused_codes(t.engine().start(invitation(uuid::Uuid::new_v4(), reseller)).await);
    assert_eq!(codes, [("provider.id".to_owned(), "unknown_partner")]);
    assert!(t.engine().start(invitation(italian, reseller)).await.is_ok());
}

async fn the_reseller_authorizes_the_provider_on_the_link_page(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let id = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    // A second invitation started before either is accepted: the directory refuses the later one.
    let twin = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let first = m.next_mail().await;
    let second = m.next_mail().await;
    assert_eq!(first.subject, "Fabrikam Distribution invita Contoso Italia S.r.l. a collaborare");

    let authorize = m.link_titled(&first, "Autorizza il provider indiretto").await;
    let (_, page) = m.get(&authorize).await;
    assert!(page.contains("accesso come amministratore"), "the page says what authorising means: {page}");
    let (status, _) = m.post(&authorize, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the box must be ticked");
    let (status, page) = m.post(&authorize, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let relationships = m.engine().store().relationships(reseller).await.unwrap();
    assert_eq!(relationships.len(), 1);
    assert_eq!((relationships[0].provider_id, relationships[0].admin_access), (Some(provider), true));
    assert_eq!(m.engine().store().relationships(provider).await.unwrap().len(), 1, "listed on the provider's side too");

    let other = m.link_titled(&second, "Autorizza il provider indiretto").await;
    let (status, page) = m.post(&other, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("already an indirect provider") || page.contains("already has this indirect provider"),
        "{page}"
    );
    // The mails may arrive in either order: one invitation is authorized, the other unchanged.
    let mut states = [m.state(id).await, m.state(twin).await];
    states.sort();
    assert_eq!(states, ["authorized", "invited"], "nothing changed for the refused twin");
    // Sent by an operator instead of the link, the refusal has its own code, not a guard's.
    let refused = if m.state(id).await == "invited" { id } else { twin };
    let err = m.engine().apply(refused, crate::helpers::operator("authorize", json!(null), None)).await.unwrap_err();
    assert_eq!(err.code(), "directory_refused", "{err}");
    assert!(err.to_string().contains("already has this indirect provider"), "{err}");
    assert_eq!(m.state(refused).await, "invited", "still nothing written");

    let codes = refused_codes(m.engine().start(invitation(provider, reseller)).await);
    assert_eq!(codes, [("reseller.id".to_owned(), "already_related")]);

    // The reseller later removes the provider's admin access; the relationship stays.
    let key = accord::keys::create_operator(
        m.engine().store().as_ref(),
        accord::store::Scope::Pipeline,
        "reseller",
        m.clock.now(),
    )
    .await
    .unwrap()
    .0;
    let url = format!("{}/api/v1/partners/{reseller}/providers/{provider}/remove-admin-access", m.base);
    let response = m.client.post(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let relationships = m.engine().store().relationships(reseller).await.unwrap();
    assert_eq!(relationships.len(), 1, "the partnership stays");
    assert!(!relationships[0].admin_access);
    let again = m.client.post(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let unrelated =
        format!("{}/api/v1/partners/{reseller}/providers/{}/remove-admin-access", m.base, uuid::Uuid::new_v4());
    let missing = m.client.post(&unrelated).bearer_auth(&key).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn the_reseller_may_decline_or_let_the_invitation_expire(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let declined = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    let decline = m.link_titled(&mail, "Rifiuta l&#x27;invito").await;
    let (status, page) = m.post(&decline, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("rifiutata") && page.contains("Non è stato autorizzato nulla"), "the declined page: {page}");
    assert_eq!(m.state(declined).await, "declined");
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty());

    // Declined, it may be asked again; this time nobody answers.
    let ignored = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 1);
    let first = m.next_mail().await;
    m.clock.advance(std::time::Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    assert_eq!(m.dispatch().await, 1, "a reminder");
    let reminder = m.next_mail().await;
    assert_eq!(reminder.subject, first.subject);
    m.clock.advance(std::time::Duration::from_secs(23 * 86_400));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    assert_eq!(m.state(ignored).await, "expired");
    let authorize = m.link_titled(&reminder, "Autorizza il provider indiretto").await;
    let (status, _) = m.post(&authorize, &[("confirm_0", "on")]).await;
    assert_ne!(status, StatusCode::OK, "an expired invitation cannot be authorised");
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty());
}
