//! What an acceptance re-checks, in its own transaction, of what the start checked: the
//! partners still active, the person answering still a global admin, the provider relationship
//! still authorised (dual), not authorised meanwhile (provider invitation), the customer's
//! recorded contact still the person invited. When one no longer holds, nothing of the
//! acceptance is written, the recipient's page says why (in their language), and the instance
//! ends (`lapsed`) with the reason in its history. The store's side of it, check by check, is
//! `conformance/preconditions.rs`.

use accord::clock::Clock;
use accord::directory::{DirectoryChange, PartnerKind, PartnerStatus};
use accord::ids::InstanceId;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::customer::{invitation as customer_invitation, known_customer, start};
use crate::helpers::{links_in, Backend, TestApp};
use crate::provider::{invitation, mails_to, partner, ANNA, BRUNO};

crate::on_each_store!(
    an_authorisation_after_the_reseller_is_deactivated_records_nothing_and_says_why,
    an_admin_who_lost_the_role_cannot_authorise,
    a_dual_acceptance_after_the_provider_relationship_is_removed_records_nothing,
    an_acceptance_after_the_customer_contact_changed_records_nothing,
    an_acceptance_after_the_tenant_became_a_customer_with_another_contact_records_nothing,
    an_acceptance_after_the_reseller_is_deactivated_records_nothing,
    an_invitation_started_before_consent_went_to_the_owner_still_runs_but_only_an_admin_authorises,
);

/// `provider_invitation` as it was before issue 15: mailed to the caller's `reseller.email`, the
/// partners' names taken from the input.
const BEFORE: &str = include_str!("fixtures/provider_invitation_before_issue_15.toml");

/// Runs `sql` on the test's database, as another process changing the directory would (for the
/// changes no command makes yet).
async fn execute(m: &TestApp, backend: Backend, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&m.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&m.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut db).await.unwrap();
        }
    }
}

async fn deactivate(m: &TestApp, partner: uuid::Uuid) {
    let change = DirectoryChange::SetPartnerStatus { id: partner, status: PartnerStatus::PendingAgreement };
    m.engine()
        .store()
        .change_directory(&change, &accord::directory::Actor::system("test"), m.clock.now())
        .await
        .unwrap();
}

/// The instance lapsed on `event` for `reason`, its timers cancelled.
async fn lapsed(m: &TestApp, id: InstanceId, event: &str, reason: &str) {
    assert_eq!(m.state(id).await, "lapsed");
    let view = m.engine().view(id).await.unwrap();
    let last = view.history.last().unwrap();
    assert_eq!((last.event.as_str(), last.to_state.as_str()), (event, "lapsed"));
    assert_eq!(last.data.0["unmet"]["reason"], reason, "the reason is in the history: {:?}", last.data);
    assert_eq!(view.instance.status, accord::store::InstanceStatus::Finished);
    assert!(view.timers.iter().all(|t| t.status != accord::store::TimerStatus::Armed), "no timer left armed");
}

async fn an_authorisation_after_the_reseller_is_deactivated_records_nothing_and_says_why(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let mut english = invitation(provider, reseller);
    english.input["reseller"].as_object_mut().unwrap().remove("locale");
    let id = m.engine().start(english).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let mails = mails_to(&mut m, 2).await;
    let authorize = m.link_titled(&mails[0].1, "Authorize indirect provider").await;
    let other = m.link_titled(&mails[1].1, "Authorize indirect provider").await;

    deactivate(&m, reseller).await;
    let (status, page) = m.post(&authorize, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    for words in [
        "This can no longer be done",
        "Contoso Italia S.r.l. is no longer an active partner.",
        "Nothing was changed, and the request is closed (no longer valid)",
    ] {
        assert!(page.contains(words), "the page says {words:?}: {page}");
    }
    lapsed(&m, id, "authorize", "partner_not_active").await;
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty(), "nothing recorded");
    let audit = m.engine().store().audit_log(&format!("partner:{reseller}")).await.unwrap();
    assert!(audit.iter().all(|a| a.action != "provider_authorized"), "{audit:?}");
    // The same link again: the same page. The other admin's: the request is over.
    let (status, again) = m.post(&authorize, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(again.contains("is no longer an active partner"), "{again}");
    let (_, page) = m.get(&other).await;
    assert!(page.contains("Already done") && page.contains("no longer valid"), "{page}");
    assert_eq!(m.dispatch().await, 0, "`lapsed` mails nobody");
}

async fn an_admin_who_lost_the_role_cannot_authorise(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let id = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let mails = mails_to(&mut m, 2).await;
    assert_eq!(mails[1].0, BRUNO);
    let bruno = m.link_titled(&mails[1].1, "Autorizza il provider indiretto").await;
    let anna = links_in(&mails[0].1.text, &m.base);
    assert_eq!(mails[0].0, ANNA);

    execute(&m, backend, &format!("UPDATE partner_users SET roles = '[\"sales_agent\"]' WHERE email = '{BRUNO}'"))
        .await;
    let (status, page) = m.post(&bruno, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Non sei più amministratore globale di Contoso Italia S.r.l."), "{page}");
    assert!(page.contains("Non è stato modificato nulla"), "{page}");
    lapsed(&m, id, "authorize", "role_removed").await;
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty());
    let (_, page) = m.get(&anna[0]).await;
    assert!(page.contains("Operazione già eseguita") && page.contains("non più valida"), "{page}");
}

async fn a_dual_acceptance_after_the_provider_relationship_is_removed_records_nothing(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = crate::customer::partner(&m, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let store = m.engine().store().clone();
    store
        .change_directory(
            &DirectoryChange::RelateProvider { reseller, provider },
            &accord::directory::Actor::system("test"),
            m.clock.now(),
        )
        .await
        .unwrap();
    let mut input = customer_invitation(reseller, "northwind.example", "public", true);
    input["provider"] = json!({ "id": provider.to_string() });
    let id = m.engine().start(start("dual_customer_invitation", input)).await.unwrap().instance.id;
    let api = m.api(accord::store::Scope::Pipeline).await;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;

    execute(&m, backend, "UPDATE relationships SET removed_at = 1").await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("Fabrikam Distribution non è più il provider indiretto autorizzato del rivenditore"),
        "{page}"
    );
    lapsed(&m, id, "accept", "provider_not_authorized").await;
    assert!(store.customers().await.unwrap().is_empty(), "no customer written");
    assert!(store.partner_customers(reseller, None).await.unwrap().is_empty(), "nor a relationship");
}

async fn an_acceptance_after_the_customer_contact_changed_records_nothing(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let earlier = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Adatum Servizi S.r.l.").await;
    let customer = known_customer(&m, earlier).await;
    let mut input = customer_invitation(reseller, "northwind.example", "public", true);
    input["customer"].as_object_mut().unwrap().remove("email");
    input["customer"]["locale"] = json!("en");
    let id = m.engine().start(start("customer_invitation", input)).await.unwrap().instance.id;
    let api = m.api(accord::store::Scope::Pipeline).await;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert_eq!(mail.to, ["giulia@northwind.example"]);
    let accept = m.link_titled(&mail, "Accept agreement &amp; authorize partner").await;

    // An operator records another admin contact meanwhile (`accord customers set-contact`).
    execute(
        &m,
        backend,
        "UPDATE customers SET admin_email = 'marco@northwind.example' WHERE domain = 'northwind.example'",
    )
    .await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains(
            "Another administrator is now recorded as the contact of northwind.example: only that person can accept."
        ),
        "{page}"
    );
    lapsed(&m, id, "accept", "customer_contact_changed").await;
    let view = api.get(&format!("/api/v1/customers/{customer}")).await;
    let partners = view["partners"].as_array().unwrap();
    assert_eq!(partners.len(), 1, "the reseller was not added: {view}");
    assert!(view["agreement_accepted_at"].is_null(), "the agreement was not signed: {view}");
}

async fn an_acceptance_after_the_tenant_became_a_customer_with_another_contact_records_nothing(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let earlier = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Adatum Servizi S.r.l.").await;
    // Invited as a new tenant, to the address the caller gave...
    let mut input = customer_invitation(reseller, "northwind.example", "public", true);
    input["customer"]["email"] = json!("mallory@northwind.example");
    let id = m.engine().start(start("customer_invitation", input)).await.unwrap().instance.id;
    let api = m.api(accord::store::Scope::Pipeline).await;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;
    // ...which meanwhile became a customer whose recorded contact is someone else.
    let customer = known_customer(&m, earlier).await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("Per northwind.example risulta ora registrato come contatto un altro amministratore"),
        "{page}"
    );
    lapsed(&m, id, "accept", "customer_contact_changed").await;
    let view = api.get(&format!("/api/v1/customers/{customer}")).await;
    assert_eq!(view["partners"].as_array().unwrap().len(), 1, "{view}");
    assert!(view["agreement_accepted_at"].is_null(), "{view}");
}

async fn an_acceptance_after_the_reseller_is_deactivated_records_nothing(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = crate::customer::partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let input = customer_invitation(reseller, "northwind.example", "public", false);
    let id = m.engine().start(start("customer_invitation", input)).await.unwrap().instance.id;
    let api = m.api(accord::store::Scope::Pipeline).await;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;
    deactivate(&m, reseller).await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Contoso Italia S.r.l. non è più un partner attivo."), "{page}");
    lapsed(&m, id, "accept", "partner_not_active").await;
    assert!(m.engine().store().customers().await.unwrap().is_empty(), "no customer written");
}

/// Instances in flight keep the definition they started on, even one today's rules refuse (its
/// input declares the names a start check now fills in); their acceptance still re-checks who
/// clicks, so an invitation an attacker had sent to themselves cannot be authorised.
async fn an_invitation_started_before_consent_went_to_the_owner_still_runs_but_only_an_admin_authorises(
    backend: Backend,
) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let store = m.engine().store().clone();
    let hash = accord::workflow::content_hash(BEFORE);
    let old = accord::store::DefinitionRecord {
        hash: hash.clone(),
        workflow: "provider_invitation".parse().unwrap(),
        source: BEFORE.to_owned(),
        created_at: m.clock.now(),
    };
    store.save_definition(&old).await.unwrap();
    // Two invitations pinned to the old definition, as it would have started them: one to an
    // admin's address, one to the address an attacker gave.
    let mut ids = Vec::new();
    for email in [ANNA, "attacker@evil.example"] {
        let id = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
        let context = json!({
            "provider": { "id": provider.to_string(), "name": "Fabrikam Distribution" },
            "reseller": { "id": reseller.to_string(), "name": "Contoso Italia S.r.l.", "email": email, "locale": "it" },
        });
        let instance = "UPDATE instances SET definition_hash = $1, context = $2 WHERE id = $3";
        let links = "UPDATE links SET recipient = $1 WHERE instance_id = $2";
        match backend {
            Backend::Sqlite => {
                let mut db = sqlx::SqliteConnection::connect(&m.db.url).await.unwrap();
                sqlx::query(instance)
                    .bind(&hash)
                    .bind(sqlx::types::Json(&context))
                    .bind(id)
                    .execute(&mut db)
                    .await
                    .unwrap();
                sqlx::query(links).bind(email).bind(id).execute(&mut db).await.unwrap();
            }
            Backend::Postgres => {
                let mut db = sqlx::PgConnection::connect(&m.db.url).await.unwrap();
                sqlx::query(instance)
                    .bind(&hash)
                    .bind(sqlx::types::Json(&context))
                    .bind(id)
                    .execute(&mut db)
                    .await
                    .unwrap();
                sqlx::query(links).bind(email).bind(id).execute(&mut db).await.unwrap();
            }
        }
        ids.push(id);
    }
    assert_eq!(m.dispatch().await, 4);
    let mails = mails_to(&mut m, 4).await;
    let mut authorize = std::collections::HashMap::new();
    for (_, mail) in &mails {
        let link = m.link_titled(mail, "Autorizza il provider indiretto").await;
        let token = link.rsplit('/').next().unwrap();
        let record = store.link(&accord::mail::links::hash_token(token)).await.unwrap().unwrap();
        authorize.insert(record.instance_id, link);
    }

    // Clicked by the attacker's address: refused (the old definition has no `otherwise`), nothing
    // recorded, the invitation still waiting for a real admin.
    let (status, page) = m.post(&authorize[&ids[1]], &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Solo un amministratore globale di Contoso Italia S.r.l. può autorizzare"), "{page}");
    assert!(!page.contains("global_admin"), "said in Italian, not in the server's words: {page}");
    assert_eq!(m.state(ids[1]).await, "invited");
    assert!(store.relationships(reseller).await.unwrap().is_empty(), "nothing recorded");

    // Clicked by an admin: authorised, on the definition it started on.
    let (status, page) = m.post(&authorize[&ids[0]], &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(m.state(ids[0]).await, "authorized");
    assert_eq!(store.instance(ids[0]).await.unwrap().unwrap().definition_hash, hash);
    assert_eq!(store.relationships(reseller).await.unwrap().len(), 1);
    assert_eq!(m.dispatch().await, 1, "the old definition tells its one address");
}
