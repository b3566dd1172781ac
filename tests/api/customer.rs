//! Customers: single and dual invitations (draft, link page, acceptance, cancellation), the
//! customer agreement, and the relationship commands on both sides.

use accord::clock::Clock;
use accord::directory::{DirectoryChange, NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use accord::engine::{EngineError, StartRequest};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{links_in, spawn_app, Backend, TestApp};

pub(crate) const ADMIN: &str = "admin@contoso.example";
const SALES: &str = "sales@contoso.example";

/// An active partner with a global admin and a sales agent.
pub(crate) async fn partner(t: &TestApp, kind: PartnerKind, name: &str) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id,
        kind,
        legal_name: name.into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: "contoso.example".into(),
        status: PartnerStatus::Active,
        served_countries: vec!["IT".into()],
        users: vec![
            NewUser { email: ADMIN.into(), name: "Admin".into(), roles: vec![Role::GlobalAdmin, Role::AdminAgent] },
            NewUser { email: SALES.into(), name: "Sales".into(), roles: vec![Role::SalesAgent] },
        ],
    };
    t.engine()
        .store()
        .create_partner(&partner, &accord::directory::Actor::system("test"), t.clock.now())
        .await
        .unwrap();
    id
}

/// A customer invitation to Giulia at `domain`, sent by the reseller's global admin.
pub(crate) fn invitation(reseller: uuid::Uuid, domain: &str, cloud: &str, dap: bool) -> Value {
    json!({
        "reseller": { "id": reseller.to_string() },
        "sender": { "email": ADMIN },
        "customer": { "name": "Northwind Traders", "domain": domain, "country": "IT", "cloud": cloud,
                      "contact": "Giulia Bianchi", "email": format!("giulia@{}", domain.to_lowercase()), "locale": "it" },
        "dap": dap,
    })
}

pub(crate) fn start(workflow: &str, input: Value) -> StartRequest {
    StartRequest { workflow: workflow.into(), input, idempotency_key: None, actor: "test".into() }
}

fn refused_codes(result: Result<accord::engine::Outcome, EngineError>) -> Vec<(String, &'static str)> {
    match result {
        Err(EngineError::InvalidInput(fields)) => fields.into_iter().map(|f| (f.field, f.code)).collect(),
        other => panic!("the invitation was not refused: {other:?}"),
    }
}

crate::on_each_store!(
    only_a_global_admin_or_admin_agent_may_invite_and_dap_is_required_in_sovereign_clouds,
    the_customer_accepts_a_released_draft_with_delegated_admin,
    the_customer_accepts_without_delegated_admin_or_cancels,
    a_dual_invitation_needs_an_authorised_provider_and_creates_both_relationships_or_neither,
    customers_and_partners_end_relationships_by_the_rules,
    a_customer_without_the_agreement_accepts_it_by_link,
    an_invitation_to_a_known_customer_goes_to_its_recorded_contact_only,
);

/// Adds Northwind Traders (northwind.example), whose recorded admin contact is Giulia, as a
/// customer of `partner`, through the admin API; returns its id.
pub(crate) async fn known_customer(m: &TestApp, partner: uuid::Uuid) -> String {
    let admin = m.api(accord::store::Scope::Admin).await;
    let body = json!({
        "name": "Northwind Traders", "domain": "northwind.example", "country": "IT",
        "admin": { "name": "Giulia Bianchi", "email": "giulia@northwind.example" }, "locale": "it",
        "relationships": [{ "partner": partner, "kind": "reseller" }],
    });
    let (status, customer) = admin.call(Method::POST, "/api/v1/customers", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    customer["id"].as_str().unwrap().to_owned()
}

/// Finding 2 of issue 15: an invitation over a tenant that is already a customer was accepted by
/// whoever got the email the caller chose. It now goes to the customer's recorded admin only.
async fn an_invitation_to_a_known_customer_goes_to_its_recorded_contact_only(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = partner(&m, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let earlier = partner(&m, PartnerKind::IndirectReseller, "Adatum Servizi S.r.l.").await;
    let customer = known_customer(&m, earlier).await;
    let store = m.engine().store().clone();
    store
        .change_directory(
            &DirectoryChange::RelateProvider { reseller, provider },
            &accord::directory::Actor::system("test"),
            m.clock.now(),
        )
        .await
        .unwrap();
    let api = m.api(accord::store::Scope::Pipeline).await;

    // Another address than the recorded contact's is refused, saying which is used and how the
    // contact is changed; in a dual invitation too.
    let mut attacker = invitation(reseller, "northwind.example", "public", true);
    attacker["customer"]["email"] = json!("attacker@evil.example");
    let mut dual = attacker.clone();
    dual["provider"] = json!({ "id": provider.to_string() });
    for (workflow, input) in [("customer_invitation", attacker.clone()), ("dual_customer_invitation", dual)] {
        let body = json!({ "workflow": workflow, "input": input });
        let (status, body) = api.call(Method::POST, "/api/v1/instances", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{workflow}: {body}");
        let field = &body["error"]["fields"][0];
        assert_eq!(
            (field["field"].as_str(), field["code"].as_str()),
            (Some("customer.email"), Some("customer_contact_mismatch")),
            "{workflow}: {body}"
        );
        let message = field["message"].as_str().unwrap();
        for words in [
            "northwind.example is already a customer (Northwind Traders)",
            "giulia@northwind.example",
            "not to attacker@evil.example",
            "leave out `customer.email`",
            &format!("accord customers set-contact {customer}"),
            &format!("/api/v1/customers/{customer}/contact"),
        ] {
            assert!(message.contains(words), "{workflow}: the message says {words:?}: {message}");
        }
    }
    assert!(api.get("/api/v1/emails?status=draft").await["items"].as_array().unwrap().is_empty(), "nothing drafted");

    // Left out (or the recorded contact itself): the invitation goes to the recorded contact.
    let mut recorded = attacker.clone();
    recorded["customer"].as_object_mut().unwrap().remove("email");
    recorded["customer"].as_object_mut().unwrap().remove("contact");
    let id = m.engine().start(start("customer_invitation", recorded)).await.unwrap().instance.id;
    let mut same = attacker;
    same["customer"]["email"] = json!("Giulia@Northwind.example");
    assert!(m.engine().start(start("customer_invitation", same)).await.is_ok(), "the recorded contact, in capitals");
    let emails = store.emails(id).await.unwrap();
    assert_eq!(emails.iter().map(|e| e.recipient.as_str()).collect::<Vec<_>>(), ["giulia@northwind.example"]);
    assert_eq!(api.release_drafts().await, 2);
    assert_eq!(m.dispatch().await, 2);
    let mail = m.next_mail().await;
    assert!(mail.text.starts_with("Buongiorno Giulia Bianchi,"), "greeted as recorded: {}", mail.text);
    assert_eq!(mail.subject, "Contoso Italia S.r.l. chiede di diventare il tuo Cloud Solution Provider Microsoft");
    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let view = api.get(&format!("/api/v1/customers/{customer}")).await;
    let partners: Vec<(&str, &str)> = view["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["legal_name"].as_str().unwrap(), p["relationship"].as_str().unwrap()))
        .collect();
    assert_eq!(
        partners,
        [("Adatum Servizi S.r.l.", "reseller"), ("Contoso Italia S.r.l.", "reseller_delegated_admin")]
    );
    assert_eq!(view["agreement_accepted_by"], "giulia@northwind.example", "{view}");
}

async fn only_a_global_admin_or_admin_agent_may_invite_and_dap_is_required_in_sovereign_clouds(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let reseller = partner(&t, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let engine = t.engine();

    let mut by_sales = invitation(reseller, "northwind.example", "public", true);
    by_sales["sender"]["email"] = json!(SALES);
    assert_eq!(
        refused_codes(engine.start(start("customer_invitation", by_sales)).await),
        [("sender.email".to_owned(), "role_not_allowed")]
    );
    let mut stranger = invitation(reseller, "northwind.example", "public", true);
    stranger["sender"]["email"] = json!("someone@else.example");
    assert_eq!(
        refused_codes(engine.start(start("customer_invitation", stranger)).await),
        [("sender.email".to_owned(), "unknown_user")]
    );
    for cloud in ["us_government", "germany"] {
        assert_eq!(
            refused_codes(
                engine.start(start("customer_invitation", invitation(reseller, "n.example", cloud, false))).await
            ),
            [("dap".to_owned(), "dap_required")],
            "{cloud}"
        );
        let with_dap = invitation(reseller, "n.example", cloud, true);
        assert!(engine.start(start("customer_invitation", with_dap)).await.is_ok(), "{cloud} with DAP");
    }
    let mut left_out = invitation(reseller, "n.example", "germany", false);
    left_out.as_object_mut().unwrap().remove("dap");
    assert_eq!(
        refused_codes(engine.start(start("customer_invitation", left_out)).await),
        [("dap".to_owned(), "dap_required")],
        "leaving dap out is leaving it false"
    );
    assert!(engine
        .start(start("customer_invitation", invitation(reseller, "n.example", "public", false)))
        .await
        .is_ok());
    assert_eq!(
        refused_codes(
            engine.start(start("customer_invitation", invitation(reseller, "n.example", "mars", true))).await
        ),
        [("customer.cloud".to_owned(), "invalid_cloud")]
    );
    let mut bad = invitation(reseller, "not a domain", "public", true);
    bad["dap"] = json!("yes");
    bad["customer"]["email"] = json!("giulia@northwind.example");
    let codes = refused_codes(engine.start(start("customer_invitation", bad)).await);
    assert_eq!(codes, [("customer.domain".to_owned(), "invalid_domain"), ("dap".to_owned(), "not_a_boolean")]);
    let provider = partner(&t, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    assert_eq!(
        refused_codes(
            engine.start(start("customer_invitation", invitation(provider, "n.example", "public", true))).await
        ),
        [("reseller.id".to_owned(), "not_a_reseller")]
    );
}

async fn the_customer_accepts_a_released_draft_with_delegated_admin(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let api = m.api(accord::store::Scope::Pipeline).await;
    let id = m
        .engine()
        .start(start("customer_invitation", invitation(reseller, "Northwind.Example", "us_government", true)))
        .await
        .unwrap()
        .instance
        .id;
    assert_eq!(m.dispatch().await, 0, "the invitation is a draft until the partner releases it");

    // The partner edits the draft: dropping the personalised link is refused, rewording is not.
    let drafts = api.get("/api/v1/emails?status=draft").await;
    let email = drafts["items"][0]["id"].as_str().unwrap().to_owned();
    let draft = api.get(&format!("/api/v1/emails/{email}")).await;
    let text = draft["text"].as_str().unwrap().to_owned();
    let links = links_in(&text, &m.base);
    assert_eq!(links.len(), 2, "accept and cancel: {text}");
    let path = format!("/api/v1/emails/{email}");
    let without_accept = text.replace(&links[0], "(link removed)");
    let (status, body) = api.call(Method::PATCH, &path, Some(json!({ "text": without_accept }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("link_changed")));
    let reworded = format!("Ciao Giulia, come d'accordo al telefono:\n\n{text}");
    let (status, body) = api.call(Method::PATCH, &path, Some(json!({ "text": reworded }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert!(mail.text.starts_with("Ciao Giulia, come d'accordo"), "the edit was sent: {}", mail.text);
    assert_eq!(mail.subject, "Contoso Italia S.r.l. chiede di diventare il tuo Cloud Solution Provider Microsoft");

    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;
    let (_, page) = m.get(&accept).await;
    for words in [
        "rivenditore e amministratore delegato",
        "northwind.example",
        "Contratto del cliente Microsoft",
        "Ho letto e accetto il Contratto del cliente Microsoft",
        "Accetta e autorizza",
        "Annulla l&#x27;invito",
    ] {
        assert!(page.contains(words), "the page shows {words:?}: {page}");
    }
    let (status, _) = m.post(&accept, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the agreement box must be ticked");
    assert!(api.get(&format!("/api/v1/partners/{reseller}/customers")).await["items"].as_array().unwrap().is_empty());
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("accettata"), "the outcome is named in the customer's language: {page}");
    assert_eq!(m.state(id).await, "accepted");

    let customers = api.get(&format!("/api/v1/partners/{reseller}/customers")).await;
    let listed = &customers["items"][0];
    assert_eq!(
        (listed["name"].as_str(), listed["domain"].as_str(), listed["relationship"].as_str(), listed["dap"].as_bool()),
        (Some("Northwind Traders"), Some("northwind.example"), Some("reseller_delegated_admin"), Some(true))
    );
    assert_eq!(listed["cloud"], "us_government");
    assert!(listed["agreement_accepted_at"].is_string(), "accepting signs the customer agreement: {listed}");
    assert_eq!(listed["agreement_accepted_by"], "giulia@northwind.example");
}

async fn the_customer_accepts_without_delegated_admin_or_cancels(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let api = m.api(accord::store::Scope::Pipeline).await;
    let engine = m.engine().clone();
    let mut english = invitation(reseller, "northwind.example", "public", false);
    english["customer"]["locale"] = json!("en");
    let plain = engine.start(start("customer_invitation", english)).await.unwrap().instance.id;
    let declined = engine
        .start(start("customer_invitation", invitation(reseller, "adatum.example", "public", true)))
        .await
        .unwrap();
    let cancelled = engine
        .start(start("customer_invitation", invitation(reseller, "tailspin.example", "public", true)))
        .await
        .unwrap();
    assert_eq!(api.release_drafts().await, 3);
    assert_eq!(m.dispatch().await, 3);
    let mut mails = Vec::new();
    for _ in 0..3 {
        mails.push(m.next_mail().await);
    }
    let by_domain = |domain: &str| {
        let to = format!("giulia@{domain}");
        mails.iter().find(|mail| mail.to.contains(&to)).unwrap_or_else(|| panic!("no mail to {to}"))
    };

    let mail = by_domain("northwind.example");
    let accept = m.link_titled(mail, "Accept agreement &amp; authorize partner").await;
    let (_, page) = m.get(&accept).await;
    assert!(page.contains("No administration privileges are requested"), "{page}");
    let (status, _) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(plain).await, "accepted");

    // "Cancel invitation" on the acceptance page: no box needed, nothing created.
    let mail = by_domain("adatum.example");
    let accept = m.link_titled(mail, "Accetta il contratto e autorizza il partner").await;
    let (status, page) = m.post(&accept, &[("choice", "cancel")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("invito è stato annullato: non è stata creata alcuna relazione"), "the cancel page: {page}");
    assert_eq!(m.state(declined.instance.id).await, "cancelled");
    m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(m.state(declined.instance.id).await, "cancelled", "the used link cannot accept afterwards");
    // The email's own cancel link.
    let mail = by_domain("tailspin.example");
    let cancel = m.link_titled(mail, "Annulla l&#x27;invito").await;
    let (status, _) = m.post(&cancel, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state(cancelled.instance.id).await, "cancelled");

    let customers = api.get(&format!("/api/v1/partners/{reseller}/customers")).await;
    let items = customers["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the accepted invitation made a customer: {customers}");
    assert_eq!(
        (items[0]["domain"].as_str(), items[0]["relationship"].as_str(), items[0]["dap"].as_bool()),
        (Some("northwind.example"), Some("reseller"), Some(false))
    );
    assert_eq!(api.get("/api/v1/customers").await["items"].as_array().unwrap().len(), 1);
}

/// Makes every insert of a relationship for `partner` fail, as a crash or constraint would.
async fn break_relationships_for(m: &TestApp, backend: Backend, partner: uuid::Uuid) {
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&m.db.url).await.unwrap();
            let hex: String = partner.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
            sqlx::query(&format!(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON customer_relationships \
                 WHEN NEW.partner_id = X'{hex}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .execute(&mut db)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&m.db.url).await.unwrap();
            sqlx::query(&format!(
                "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.partner_id = '{partner}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$"
            ))
            .execute(&mut db)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON customer_relationships \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure()",
            )
            .execute(&mut db)
            .await
            .unwrap();
        }
    }
}

async fn mend_relationships(m: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&m.db.url).await.unwrap();
            sqlx::query("DROP TRIGGER injected_failure").execute(&mut db).await.unwrap();
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&m.db.url).await.unwrap();
            sqlx::query("DROP TRIGGER injected_failure ON customer_relationships").execute(&mut db).await.unwrap();
        }
    }
}

async fn a_dual_invitation_needs_an_authorised_provider_and_creates_both_relationships_or_neither(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = partner(&m, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let api = m.api(accord::store::Scope::Pipeline).await;
    let dual = || {
        let mut input = invitation(reseller, "northwind.example", "public", true);
        input["provider"] = json!({ "id": provider.to_string() });
        start("dual_customer_invitation", input)
    };
    let codes = refused_codes(m.engine().start(dual()).await);
    assert_eq!(codes, [("provider.id".to_owned(), "no_provider_relationship")]);

    let store = m.engine().store().clone();
    store
        .change_directory(
            &DirectoryChange::RelateProvider { reseller, provider },
            &accord::directory::Actor::system("test"),
            m.clock.now(),
        )
        .await
        .unwrap();
    let id = m.engine().start(dual()).await.unwrap().instance.id;
    assert_eq!(api.release_drafts().await, 1);
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert!(mail.subject.contains("Contoso Italia S.r.l. e Fabrikam Distribution"), "{}", mail.subject);
    let accept = m.link_titled(&mail, "Accetta il contratto e autorizza il partner").await;
    let (_, page) = m.get(&accept).await;
    assert!(page.contains("Fabrikam Distribution") && page.contains("Accettando li autorizzi entrambi"), "{page}");

    // The provider's relationship cannot be written: the reseller's must not be either.
    break_relationships_for(&m, backend, provider).await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
    assert!(store.customers().await.unwrap().is_empty(), "no customer was written");
    assert!(store.partner_customers(reseller, None).await.unwrap().is_empty(), "nor the reseller's relationship");
    assert_eq!(m.state(id).await, "invited", "the invitation can still be accepted");

    mend_relationships(&m, backend).await;
    let (status, page) = m.post(&accept, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(m.state(id).await, "accepted");
    let of_reseller = api.get(&format!("/api/v1/partners/{reseller}/customers")).await;
    let of_provider = api.get(&format!("/api/v1/partners/{provider}/customers")).await;
    assert_eq!(
        (of_reseller["items"][0]["relationship"].as_str(), of_reseller["items"][0]["dap"].as_bool()),
        (Some("reseller_delegated_admin"), Some(true))
    );
    assert_eq!(
        (of_provider["items"][0]["relationship"].as_str(), of_provider["items"][0]["dap"].as_bool()),
        (Some("reseller"), Some(false))
    );
    let shared = api.get(&format!("/api/v1/partners/{reseller}/providers/{provider}/customers")).await;
    assert_eq!(shared["items"][0]["domain"], "northwind.example");
    let providers = api.get(&format!("/api/v1/partners/{reseller}/providers")).await;
    assert_eq!(providers["items"][0]["id"], provider.to_string());
    let resellers = api.get(&format!("/api/v1/partners/{provider}/resellers")).await;
    assert_eq!(resellers["items"][0]["id"], reseller.to_string());
    let (status, body) = api.call(Method::GET, &format!("/api/v1/partners/{reseller}/resellers"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_partner_kind"))
    );
}

async fn customers_and_partners_end_relationships_by_the_rules(backend: Backend) {
    let Some(m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let advisor = partner(&m, PartnerKind::IndirectReseller, "Adatum Advisors").await;
    let admin = m.api(accord::store::Scope::Admin).await;
    let api = m.api(accord::store::Scope::Pipeline).await;
    let body = json!({
        "name": "Northwind Traders", "domain": "northwind.example", "country": "it",
        "admin": { "name": "Giulia Bianchi", "email": "giulia@northwind.example" }, "locale": "it",
        "relationships": [
            { "partner": reseller, "kind": "reseller_delegated_admin" },
            { "partner": advisor, "kind": "advisor" },
        ],
    });
    let (status, _) = api.call(Method::POST, "/api/v1/customers", Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins add customers");
    let (status, customer) = admin.call(Method::POST, "/api/v1/customers", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    let customer = customer["id"].as_str().unwrap().to_owned();
    let (status, again) = admin.call(Method::POST, "/api/v1/customers", Some(body)).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("customer_exists")));

    // The customer may delete the advisor, but must ask the reseller.
    let (status, refused) =
        api.call(Method::POST, &format!("/api/v1/customers/{customer}/partners/{reseller}/delete"), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("ask_partner")));
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("Ask Contoso Italia S.r.l. to end the relationship"),
        "{refused}"
    );
    let path = format!("/api/v1/customers/{customer}/partners/{advisor}/delete");
    let (status, view) = api.call(Method::POST, &path, Some(json!({ "by": "giulia@northwind.example" }))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let partners: Vec<&str> =
        view["partners"].as_array().unwrap().iter().map(|p| p["legal_name"].as_str().unwrap()).collect();
    assert_eq!(partners, ["Contoso Italia S.r.l."]);

    // The reseller's admin agent adds a colleague as admin agent; a sales agent may not.
    let users = format!("/api/v1/partners/{reseller}/users");
    let colleague =
        json!({ "by": SALES, "name": "Marta Gialli", "email": "Marta@Contoso.example", "roles": ["admin_agent"] });
    let (status, body) = api.call(Method::POST, &users, Some(colleague.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("role_not_allowed")));
    let mut colleague = colleague;
    colleague["by"] = json!(ADMIN);
    let (status, body) = api.call(Method::POST, &users, Some(colleague.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.call(Method::POST, &users, Some(colleague)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("user_exists")));
    const MARTA: &str = "marta@contoso.example";

    // The reseller removes the relationship: attestation and a reason required, by an admin.
    let remove = format!("/api/v1/partners/{reseller}/customers/{customer}/remove");
    let (status, body) =
        api.call(Method::POST, &remove, Some(json!({ "by": ADMIN, "reason": "contract ended" }))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("attestation_required"))
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("good faith"), "{body}");
    let (status, body) =
        api.call(Method::POST, &remove, Some(json!({ "by": SALES, "reason": "contract ended", "attest": true }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("role_not_allowed")));
    let (status, body) =
        api.call(Method::POST, &remove, Some(json!({ "by": ADMIN, "reason": "  ", "attest": true }))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason_required")));
    let (status, body) =
        api.call(Method::POST, &remove, Some(json!({ "by": MARTA, "reason": "contract ended", "attest": true }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(api.get(&format!("/api/v1/partners/{reseller}/customers")).await["items"].as_array().unwrap().is_empty());
    let view = api.get(&format!("/api/v1/customers/{customer}")).await;
    let left = &view["partners"][0];
    assert_eq!(
        (left["legal_name"].as_str(), left["dap"].as_bool(), left["removed_at"].is_string()),
        (Some("Contoso Italia S.r.l."), Some(true), true),
        "delegated admin privileges stay as they were: {view}"
    );
    assert_eq!(m.dispatch().await, 0, "no notice is mailed");
    let (status, _) =
        api.call(Method::POST, &remove, Some(json!({ "by": ADMIN, "reason": "again", "attest": true }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reviewer = m.api(accord::store::Scope::Reviewer).await;
    let audit = reviewer.get(&format!("/api/v1/audit?subject=customer:{customer}")).await;
    let removal = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "customer_relationship_removed")
        .unwrap_or_else(|| panic!("an audit row: {audit}"));
    assert_eq!(removal["reason"], "contract ended");
    assert!(removal["actor"].as_str().unwrap().starts_with(MARTA), "{removal}");

    // The customer removes the admin roles that remained.
    let roles = format!("/api/v1/customers/{customer}/partners/{reseller}/remove-admin-roles");
    let (status, view) = api.call(Method::POST, &roles, None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(view["partners"].as_array().unwrap().is_empty(), "{view}");
    let (status, _) = api.call(Method::POST, &roles, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_customer_without_the_agreement_accepts_it_by_link(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let stranger = partner(&m, PartnerKind::IndirectReseller, "Tailspin").await;
    let admin = m.api(accord::store::Scope::Admin).await;
    let body = json!({
        "name": "Northwind Traders", "domain": "northwind.example", "country": "IT",
        "admin": { "name": "Giulia Bianchi", "email": "giulia@northwind.example" },
        "relationships": [{ "partner": reseller, "kind": "reseller", "dap": true }],
    });
    let (_, customer) = admin.call(Method::POST, "/api/v1/customers", Some(body)).await;
    assert!(customer["agreement_accepted_at"].is_null());
    let customer = customer["id"].as_str().unwrap().to_owned();
    let request = format!("/api/v1/customers/{customer}/agreement-requests");
    let (status, body) = admin.call(Method::POST, &request, Some(json!({ "partner": stranger }))).await;
    assert_eq!(
        (status, body["error"]["fields"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_related")),
        "{body}"
    );
    let (status, instance) = admin.call(Method::POST, &request, Some(json!({ "partner": reseller }))).await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert!(mail.subject.contains("accept the Microsoft Customer Agreement"), "{}", mail.subject);
    // An Italian customer reads the link's end in Italy's time, whatever the server's zone.
    assert!(mail.text.contains(" CET") || mail.text.contains(" CEST"), "{}", mail.text);
    let accept = m.link_titled(&mail, "Accept the Microsoft Customer Agreement").await;
    let (_, page) = m.get(&accept).await;
    assert!(page.contains("Before Contoso Italia S.r.l. can buy or manage subscriptions"), "{page}");
    assert_eq!(m.post(&accept, &[]).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(m.post(&accept, &[("confirm_0", "on")]).await.0, StatusCode::OK);
    let view = admin.get(&format!("/api/v1/customers/{customer}")).await;
    assert_eq!(view["agreement_accepted_by"], "giulia@northwind.example");
    let (status, body) = admin.call(Method::POST, &request, Some(json!({ "partner": reseller }))).await;
    assert_eq!(
        (status, body["error"]["fields"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("agreement_already_accepted"))
    );
}
