//! Indirect provider invitations: who may invite whom, who is asked (every global admin of the
//! reseller, as the directory records them, never an address the caller gives), authorising on
//! the link page, and the relationship it records.

use accord::clock::Clock;
use accord::directory::{NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use accord::engine::{EngineError, StartRequest};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{links_in, spawn_app, Backend, Mail, TestApp};

/// The reseller's global admins, and a user who is not one.
pub(crate) const ANNA: &str = "anna@contoso.example";
pub(crate) const BRUNO: &str = "bruno@contoso.example";
pub(crate) const CARLA: &str = "carla@contoso.example";
pub(crate) const CONTOSO: &str = "Contoso Italia S.r.l.";
pub(crate) const FABRIKAM: &str = "Fabrikam Distribution";

/// A partner as the directory records it: a reseller named [`CONTOSO`] with two global admins
/// (Anna, Bruno) and a sales agent (Carla), or a provider named [`FABRIKAM`].
pub(crate) async fn partner(
    t: &TestApp,
    kind: PartnerKind,
    status: PartnerStatus,
    country: &str,
    serves: &[&str],
) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let user = |email: &str, name: &str, roles: &[Role]| NewUser {
        email: email.into(),
        name: name.into(),
        roles: roles.to_vec(),
    };
    let (legal_name, users) = match kind {
        PartnerKind::IndirectReseller => (
            CONTOSO,
            vec![
                user(ANNA, "Anna Rossi", &[Role::GlobalAdmin]),
                user(BRUNO, "Bruno Neri", &[Role::GlobalAdmin, Role::AdminAgent]),
                user(CARLA, "Carla Verdi", &[Role::SalesAgent]),
            ],
        ),
        PartnerKind::IndirectProvider => {
            (FABRIKAM, vec![user("luca@fabrikam.example", "Luca Bianchi", &[Role::GlobalAdmin])])
        }
    };
    let partner = NewPartner {
        id,
        kind,
        legal_name: legal_name.into(),
        country: country.into(),
        mpn_id: "7654321".into(),
        tenant_domain: "partner.example".into(),
        status,
        served_countries: serves.iter().map(|s| (*s).to_owned()).collect(),
        users,
    };
    t.engine()
        .store()
        .create_partner(&partner, &accord::directory::Actor::system("test"), t.clock.now())
        .await
        .unwrap();
    id
}

/// An invitation as a provider sends it: no address, no names (the directory has them).
pub(crate) fn invitation(provider: uuid::Uuid, reseller: uuid::Uuid) -> StartRequest {
    let input = json!({
        "provider": { "id": provider.to_string() },
        "reseller": { "id": reseller.to_string(), "locale": "it" }
    });
    StartRequest { workflow: "provider_invitation".into(), input, idempotency_key: None, actor: "provider".into() }
}

fn with(mut request: StartRequest, path: &[&str], value: Value) -> StartRequest {
    let (last, parents) = path.split_last().unwrap();
    let target = parents.iter().fold(&mut request.input, |value, key| &mut value[*key]);
    target[*last] = value;
    request
}

fn refused(result: Result<accord::engine::Outcome, EngineError>) -> Vec<accord::workflow::FieldError> {
    match result {
        Err(EngineError::InvalidInput(fields)) => fields,
        other => panic!("the invitation was not refused: {other:?}"),
    }
}

fn refused_codes(result: Result<accord::engine::Outcome, EngineError>) -> Vec<(String, &'static str)> {
    refused(result).into_iter().map(|f| (f.field, f.code)).collect()
}

/// The next `n` mails, by recipient.
pub(crate) async fn mails_to(m: &mut TestApp, n: usize) -> Vec<(String, Mail)> {
    let mut mails = Vec::new();
    for _ in 0..n {
        let mail = m.next_mail().await;
        assert_eq!(mail.to.len(), 1, "one recipient per email: {:?}", mail.to);
        mails.push((mail.to[0].to_lowercase(), mail));
    }
    mails.sort_by(|a, b| a.0.cmp(&b.0));
    mails
}

crate::on_each_store!(
    only_an_active_provider_serving_the_resellers_country_may_invite,
    the_invitation_goes_to_every_global_admin_and_never_to_an_address_the_caller_gives,
    the_partners_are_named_as_the_directory_names_them,
    one_admin_authorizes_and_the_others_links_say_it_is_done,
    an_invitation_authorised_meanwhile_lapses_saying_why,
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

/// Finding 1 of issue 15: partner B invited reseller A "at" attacker@evil.example and one click
/// made B A's provider with admin access. The invitation now goes to A's global admins only.
async fn the_invitation_goes_to_every_global_admin_and_never_to_an_address_the_caller_gives(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let engine = m.engine().clone();

    // A foreign address is refused, saying who the invitation goes to; nothing is mailed.
    let foreign = with(invitation(provider, reseller), &["reseller", "email"], json!("attacker@evil.example"));
    let fields = refused(engine.start(foreign).await);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!((fields[0].field.as_str(), fields[0].code), ("reseller.email", "not_the_owner"));
    for words in ["attacker@evil.example is not a global admin of Contoso Italia S.r.l.", ANNA, BRUNO] {
        assert!(fields[0].message.contains(words), "the message names {words}: {}", fields[0].message);
    }
    assert!(!fields[0].message.contains(CARLA), "a sales agent is not asked: {}", fields[0].message);
    // A user of the reseller who is not a global admin is refused the same way.
    let sales = with(invitation(provider, reseller), &["reseller", "email"], json!(CARLA));
    assert_eq!(refused_codes(engine.start(sales).await), [("reseller.email".to_owned(), "not_the_owner")]);
    // Through the API: 422, the field and its stable code.
    let api = m.api(accord::store::Scope::Pipeline).await;
    let foreign = with(invitation(provider, reseller), &["reseller", "email"], json!("attacker@evil.example"));
    let body = json!({ "workflow": "provider_invitation", "input": foreign.input });
    let (status, body) = api.call(Method::POST, "/api/v1/instances", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        (body["error"]["field"].as_str(), body["error"]["fields"][0]["code"].as_str()),
        (Some("input.reseller.email"), Some("not_the_owner"))
    );
    assert_eq!(m.dispatch().await, 0, "nothing was mailed for the refused invitations");

    // Naming one of the admins (in any case), or nobody: every global admin gets their own email.
    let named = with(invitation(provider, reseller), &["reseller", "email"], json!("Bruno@Contoso.Example"));
    let id = engine.start(named).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2, "one email per global admin");
    let mails = mails_to(&mut m, 2).await;
    let recipients: Vec<&str> = mails.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(recipients, [ANNA, BRUNO], "the global admins, not the sales agent, not the caller's address");
    assert!(mails[0].1.text.starts_with("Buongiorno Anna Rossi,"), "{}", mails[0].1.text);
    assert!(mails[1].1.text.starts_with("Buongiorno Bruno Neri,"), "{}", mails[1].1.text);
    let (anna, bruno) = (links_in(&mails[0].1.text, &m.base), links_in(&mails[1].1.text, &m.base));
    assert_eq!((anna.len(), bruno.len()), (2, 2), "authorize and decline, each");
    assert!(anna.iter().all(|link| !bruno.contains(link)), "each admin has links of their own");
    let emails = engine.store().emails(id).await.unwrap();
    assert!(emails.iter().all(|e| e.recipient != "attacker@evil.example"));
    m.no_more_mail();
}

/// A caller cannot put a partner's name in the email: the names are the directory's.
async fn the_partners_are_named_as_the_directory_names_them(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let engine = m.engine().clone();
    let posing = with(invitation(provider, reseller), &["provider", "name"], json!("Microsoft Corporation"));
    let posing = with(posing, &["reseller", "admins"], json!([{ "email": "attacker@evil.example" }]));
    let fields = refused(engine.start(posing).await);
    let codes: Vec<(&str, &str)> = fields.iter().map(|f| (f.field.as_str(), f.code)).collect();
    assert_eq!(codes, [("provider.name", "from_directory"), ("reseller.admins", "from_directory")]);
    assert!(fields[0].message.contains("filled in from the directory"), "{}", fields[0].message);

    engine.start(invitation(provider, reseller)).await.unwrap();
    assert_eq!(m.dispatch().await, 2);
    let mail = m.next_mail().await;
    assert_eq!(mail.subject, "Fabrikam Distribution invita Contoso Italia S.r.l. a collaborare");
}

async fn one_admin_authorizes_and_the_others_links_say_it_is_done(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let id = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let mails = mails_to(&mut m, 2).await;
    let (anna, bruno) = (&mails[0].1, &mails[1].1);
    assert_eq!(anna.subject, "Fabrikam Distribution invita Contoso Italia S.r.l. a collaborare");
    let authorize = m.link_titled(anna, "Autorizza il provider indiretto").await;
    let anna_decline = m.link_titled(anna, "Rifiuta l&#x27;invito").await;
    let bruno_authorize = m.link_titled(bruno, "Autorizza il provider indiretto").await;
    let bruno_decline = m.link_titled(bruno, "Rifiuta l&#x27;invito").await;

    let (_, page) = m.get(&authorize).await;
    assert!(page.contains("accesso come amministratore"), "the page says what authorising means: {page}");
    let (status, _) = m.post(&authorize, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the box must be ticked");
    let (status, page) = m.post(&authorize, &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(m.state(id).await, "authorized");
    let relationships = m.engine().store().relationships(reseller).await.unwrap();
    assert_eq!(relationships.len(), 1);
    assert_eq!((relationships[0].provider_id, relationships[0].admin_access), (Some(provider), true));
    assert_eq!(m.engine().store().relationships(provider).await.unwrap().len(), 1, "listed on the provider's side too");
    let history = m.engine().store().history(id).await.unwrap();
    assert_eq!(history.last().unwrap().actor, format!("link:{ANNA}"), "the history says who authorised");

    // Bruno's links, and Anna's own decline link, now say it is done: opening or posting them
    // changes nothing.
    for link in [&bruno_authorize, &bruno_decline, &anna_decline] {
        let (status, page) = m.get(link).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Operazione già eseguita") && page.contains("autorizzata"), "{page}");
        assert!(!page.contains("<form method=\"post\">"), "no form to act on: {page}");
        let (status, page) = m.post(link, &[("confirm_0", "on")]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Operazione già eseguita"), "{page}");
    }
    assert_eq!(m.state(id).await, "authorized");
    assert_eq!(m.engine().store().history(id).await.unwrap().len(), history.len(), "nothing more recorded");
    assert_eq!(m.engine().store().relationships(reseller).await.unwrap().len(), 1);

    // Both admins are told.
    assert_eq!(m.dispatch().await, 2);
    let told = mails_to(&mut m, 2).await;
    assert_eq!([told[0].0.as_str(), told[1].0.as_str()], [ANNA, BRUNO]);
    assert_eq!(told[0].1.subject, "Fabrikam Distribution è ora il tuo provider indiretto");

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

/// Two invitations of the same pair, started before either was answered: the second to be
/// authorised finds the relationship there and lapses, saying why, with nothing recorded.
async fn an_invitation_authorised_meanwhile_lapses_saying_why(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let first = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    let twin = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    let third = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 6);
    let mails = mails_to(&mut m, 6).await;
    let mut by_instance = std::collections::HashMap::new();
    for (_, mail) in &mails {
        let link = m.link_titled(mail, "Autorizza il provider indiretto").await;
        let token = link.rsplit('/').next().unwrap();
        let record = m.engine().store().link(&accord::mail::links::hash_token(token)).await.unwrap().unwrap();
        by_instance.entry(record.instance_id).or_insert_with(Vec::new).push(link);
    }
    let (status, _) = m.post(&by_instance[&first][0], &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, page) = m.post(&by_instance[&twin][1], &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Non è più possibile procedere"), "{page}");
    assert!(page.contains("Fabrikam Distribution è già un provider indiretto della tua società"), "{page}");
    assert!(page.contains("Non è stato modificato nulla") && page.contains("non più valida"), "{page}");
    assert_eq!(m.state(twin).await, "lapsed");
    let last = m.engine().store().history(twin).await.unwrap().pop().unwrap();
    assert_eq!((last.event.as_str(), last.to_state.as_str()), ("authorize", "lapsed"));
    assert_eq!(last.data.0["unmet"]["reason"], "already_related", "{:?}", last.data);
    assert_eq!(m.engine().store().relationships(reseller).await.unwrap().len(), 1, "nothing more recorded");
    let (status, again) = m.post(&by_instance[&twin][1], &[("confirm_0", "on")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "clicking again says the same: {again}");
    assert!(again.contains("è già un provider indiretto"), "{again}");
    let (_, other) = m.get(&by_instance[&twin][0]).await;
    assert!(other.contains("Operazione già eseguita") && other.contains("non più valida"), "{other}");

    // Sent by an operator instead of a link, the event lapses the same way.
    let outcome = m.engine().apply(third, crate::helpers::operator("authorize", json!(null), None)).await.unwrap();
    assert_eq!(outcome.instance.state.as_str(), "lapsed");
    assert_eq!(outcome.event.data.0["unmet"]["reason"], "already_related");
    let timers = m.engine().store().timers(third).await.unwrap();
    assert!(timers.iter().all(|t| t.status != accord::store::TimerStatus::Armed), "no reminder or expiry left");

    let codes = refused_codes(m.engine().start(invitation(provider, reseller)).await);
    assert_eq!(codes, [("reseller.id".to_owned(), "already_related")]);
}

async fn the_reseller_may_decline_or_let_the_invitation_expire(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, PartnerStatus::Active, "IT", &[]).await;
    let provider = partner(&m, PartnerKind::IndirectProvider, PartnerStatus::Active, "IT", &["IT"]).await;
    let declined = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let mails = mails_to(&mut m, 2).await;
    let decline = m.link_titled(&mails[1].1, "Rifiuta l&#x27;invito").await;
    let authorize = m.link_titled(&mails[0].1, "Autorizza il provider indiretto").await;
    let (status, page) = m.post(&decline, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("rifiutata") && page.contains("Non è stato autorizzato nulla"), "the declined page: {page}");
    assert_eq!(m.state(declined).await, "declined");
    let (_, page) = m.get(&authorize).await;
    assert!(page.contains("Operazione già eseguita") && page.contains("rifiutata"), "Bruno declined for all: {page}");
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty());

    // Declined, it may be asked again; this time nobody answers.
    let ignored = m.engine().start(invitation(provider, reseller)).await.unwrap().instance.id;
    assert_eq!(m.dispatch().await, 2);
    let first = mails_to(&mut m, 2).await;
    m.clock.advance(std::time::Duration::from_secs(7 * 86_400 + 1));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    assert_eq!(m.dispatch().await, 2, "a reminder to each admin");
    let reminders = mails_to(&mut m, 2).await;
    assert_eq!(reminders[0].1.subject, format!("Promemoria: {}", first[0].1.subject), "a reminder says so");
    // The reminder replaced each admin's first links; asking for a new one replaces only one's own.
    let anna_old = links_in(&first[0].1.text, &m.base).into_iter().next().unwrap();
    let (status, page) = m.get(&anna_old).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    let (status, _) = m.post(&format!("{anna_old}/resend"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.dispatch().await, 1, "a new link for Anna alone");
    let resent = m.next_mail().await;
    assert_eq!(resent.to, [ANNA]);
    let bruno_reminder = m.link_titled(&reminders[1].1, "Autorizza il provider indiretto").await;
    let (status, _) = m.get(&bruno_reminder).await;
    assert_eq!(status, StatusCode::OK, "Bruno's link still works");

    m.clock.advance(std::time::Duration::from_secs(23 * 86_400));
    assert_eq!(m.scheduler().fire_due().await.unwrap(), 1);
    assert_eq!(m.state(ignored).await, "expired");
    let (status, _) = m.post(&bruno_reminder, &[("confirm_0", "on")]).await;
    assert_ne!(status, StatusCode::OK, "an expired invitation cannot be authorised");
    assert!(m.engine().store().relationships(reseller).await.unwrap().is_empty());
}
