//! Who may do what. The permission matrix is generated from the one authorisation table
//! (`accord::access::TABLE`): every route and console action, asked by an admin, a reviewer and
//! a pipeline key, a partner key of the owning partner (its global admin and its sales agent),
//! a partner key of another partner, and nobody, must be answered as the table says. Then one
//! test per way a partner key used to reach another partner's data.

use std::collections::BTreeSet;

use accord::access::{Action, Reach, Rule, TABLE};
use accord::clock::Clock;
use accord::directory::{
    Actor, CustomerRelationshipKind, DirectoryChange, NewCustomer, NewCustomerRelationship, NewPartner, NewUser,
    PartnerKind, PartnerStatus, Role,
};
use accord::engine::StartRequest;
use accord::store::{Scope, SessionRecord};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{repo, spawn_app, Backend, TestApp};

crate::on_each_store!(
    every_route_answers_each_principal_as_the_table_says,
    a_partner_key_cannot_touch_another_partners_directory,
    a_partner_key_acts_as_its_user_with_the_roles_the_directory_gives_now,
    a_partner_key_sees_only_its_own_instances_and_drafts_and_never_a_link,
    keys_are_listed_revoked_and_expired_through_the_api,
    a_reviewer_cannot_edit_release_or_retry_emails_in_the_console,
    a_reviewer_can_neither_send_signals_nor_change_roles_in_the_console,
);

const A_ADMIN: &str = "admin@contoso.example";
const A_SALES: &str = "sales@contoso.example";
const B_ADMIN: &str = "admin@litware.example";
const CUSTOMER_ADMIN: &str = "giulia@northwind.example";

/// Two resellers (A, which owns everything below, and B), A's authorised provider, a customer
/// of A's, and A's customer invitation with its draft.
struct World {
    a: uuid::Uuid,
    b: uuid::Uuid,
    provider: uuid::Uuid,
    customer: uuid::Uuid,
    instance: String,
    draft: String,
}

async fn partner(t: &TestApp, kind: PartnerKind, name: &str, users: &[(&str, &[Role])]) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id,
        kind,
        legal_name: name.into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: format!("{}.example", name.to_lowercase().replace(' ', "")),
        status: PartnerStatus::Active,
        served_countries: vec!["IT".into()],
        users: users
            .iter()
            .map(|(email, roles)| NewUser { email: (*email).into(), name: "User".into(), roles: roles.to_vec() })
            .collect(),
    };
    t.engine().store().create_partner(&partner, &Actor::system("test"), t.clock.now()).await.unwrap();
    id
}

async fn world(t: &TestApp) -> World {
    let admin: &[Role] = &[Role::GlobalAdmin, Role::AdminAgent];
    let a =
        partner(t, PartnerKind::IndirectReseller, "Contoso", &[(A_ADMIN, admin), (A_SALES, &[Role::SalesAgent])]).await;
    let b = partner(t, PartnerKind::IndirectReseller, "Litware", &[(B_ADMIN, admin)]).await;
    let provider = partner(t, PartnerKind::IndirectProvider, "Fabrikam", &[("admin@fabrikam.example", admin)]).await;
    let store = t.engine().store();
    let now = t.clock.now();
    let test = Actor::system("test");
    store.change_directory(&DirectoryChange::RelateProvider { reseller: a, provider }, &test, now).await.unwrap();
    let customer = uuid::Uuid::new_v4();
    let add = DirectoryChange::AddCustomer {
        customer: NewCustomer {
            id: customer,
            name: "Northwind Traders".into(),
            domain: "northwind.example".into(),
            country: "IT".into(),
            cloud: accord::directory::Cloud::Public,
            admin_name: "Giulia Bianchi".into(),
            admin_email: CUSTOMER_ADMIN.into(),
            locale: None,
        },
        relationships: vec![NewCustomerRelationship {
            partner: a,
            kind: CustomerRelationshipKind::ResellerDelegatedAdmin,
            dap: true,
        }],
    };
    store.change_directory(&add, &test, now).await.unwrap();
    let input = json!({
        "reseller": { "id": a.to_string() },
        "sender": { "email": A_ADMIN },
        "customer": { "name": "Tailspin Toys", "domain": "tailspin.example", "country": "IT",
                      "contact": "Rita Rossi", "email": "rita@tailspin.example" },
        "dap": false,
    });
    let request =
        StartRequest { workflow: "customer_invitation".into(), input, idempotency_key: None, actor: "test".into() };
    let instance = t.engine().start(request).await.expect("the invitation starts").instance.id;
    let emails = store.emails(instance).await.unwrap();
    let draft = emails.first().expect("the invitation's draft").id.to_string();
    World { a, b, provider, customer, instance: instance.to_string(), draft }
}

/// A request for `action` that passes every check after the authorisation's without changing
/// anything that another principal's request needs (bodies that fail validation, ids of nothing).
fn example(action: Action, w: &World) -> (Method, String, Option<Value>) {
    let (a, c, i, e) = (w.a, w.customer, &w.instance, &w.draft);
    let nothing = uuid::Uuid::new_v4();
    let get = |path: String| (Method::GET, path, None);
    let post = |path: String, body: Value| (Method::POST, path, Some(body));
    match action {
        Action::Health => get("/healthz".into()),
        Action::Metrics => get("/metrics".into()),
        Action::StartInstance => post(
            "/api/v1/instances".into(),
            json!({ "workflow": "customer_invitation", "input": { "reseller": { "id": a.to_string() } } }),
        ),
        Action::ListInstances => get("/api/v1/instances".into()),
        Action::ShowInstance => get(format!("/api/v1/instances/{i}")),
        Action::SendEvent => post(format!("/api/v1/instances/{i}/events"), json!({ "event": "no_such_event" })),
        Action::ListPartners => get("/api/v1/partners".into()),
        Action::AddProvider => post(
            "/api/v1/partners/providers".into(),
            json!({ "legal_name": "", "country": "IT", "mpn_id": "1", "tenant_domain": "x.example", "serves": ["IT"],
                    "admin": { "name": "X", "email": "x@x.example" } }),
        ),
        Action::AddUser => post(
            format!("/api/v1/partners/{a}/users"),
            json!({ "name": "", "email": "new@contoso.example", "roles": ["sales_agent"] }),
        ),
        Action::SetUserRoles => post(format!("/api/v1/partners/{a}/users/{A_SALES}/roles"), json!({ "roles": [] })),
        Action::RemoveUser => post(format!("/api/v1/partners/{a}/users/nobody@contoso.example/remove"), json!({})),
        Action::ProvidersOf => get(format!("/api/v1/partners/{a}/providers")),
        Action::ResellersOf => get(format!("/api/v1/partners/{a}/resellers")),
        Action::CustomersOf => get(format!("/api/v1/partners/{a}/customers")),
        Action::SharedCustomers => get(format!("/api/v1/partners/{a}/providers/{}/customers", w.provider)),
        Action::RemoveProviderAdminAccess => {
            post(format!("/api/v1/partners/{a}/providers/{nothing}/remove-admin-access"), json!({}))
        }
        Action::RemoveCustomer => {
            post(format!("/api/v1/partners/{a}/customers/{c}/remove"), json!({ "reason": "test", "attest": false }))
        }
        Action::ListCustomers => get("/api/v1/customers".into()),
        Action::AddCustomer => post(
            "/api/v1/customers".into(),
            json!({ "name": "", "domain": "x.example", "country": "IT", "admin": { "name": "X", "email": "x@x.example" },
                    "relationships": [] }),
        ),
        Action::ShowCustomer => get(format!("/api/v1/customers/{c}")),
        Action::SetCustomerContact => {
            post(format!("/api/v1/customers/{c}/contact"), json!({ "name": "", "email": "new@northwind.example" }))
        }
        Action::RequestAgreement => {
            post(format!("/api/v1/customers/{c}/agreement-requests"), json!({ "partner": a.to_string() }))
        }
        Action::RemoveAdminRoles => {
            post(format!("/api/v1/customers/{c}/partners/{nothing}/remove-admin-roles"), json!({}))
        }
        Action::DeleteRelationship => post(format!("/api/v1/customers/{c}/partners/{nothing}/delete"), json!({})),
        Action::Audit => get(format!("/api/v1/audit?subject=partner:{a}")),
        Action::ListEmails => get("/api/v1/emails?status=draft".into()),
        Action::ShowEmail => get(format!("/api/v1/emails/{e}")),
        Action::EditEmail => (Method::PATCH, format!("/api/v1/emails/{e}"), Some(json!({ "subject": " " }))),
        Action::ReleaseEmail => post(format!("/api/v1/emails/{e}/release"), json!({})),
        Action::RetryEmail => post(format!("/api/v1/emails/{e}/retry"), json!({})),
        Action::CreateKey => post("/api/v1/keys".into(), json!({ "scope": "everything" })),
        Action::ListKeys => get("/api/v1/keys".into()),
        Action::RevokeKey => post(format!("/api/v1/keys/{nothing}/revoke"), json!({})),
        Action::LinkPage => get("/l/not-a-token".into()),
        Action::LinkAct => post("/l/not-a-token".into(), json!({})),
        Action::LinkResend => post("/l/not-a-token/resend".into(), json!({})),
        Action::ConsoleSignIn => get("/console/login".into()),
        Action::ConsoleSignOut => post("/console/logout".into(), json!({})),
        Action::ConsoleQueue => get("/console".into()),
        Action::ConsoleInstances => get("/console/instances?q=northwind".into()),
        Action::ConsoleInstance => get(format!("/console/instances/{i}")),
        // No reason: refused on the page, nothing sent.
        Action::ConsoleSignal => post(format!("/console/instances/{i}/signals/withdraw"), json!({ "reason": "" })),
        Action::ConsoleDecide => post(format!("/console/instances/{i}/decisions"), json!({ "event": "no_such_event" })),
        Action::ConsoleEmails => get("/console/emails?status=draft".into()),
        Action::ConsoleEmail => get(format!("/console/emails/{e}")),
        Action::ConsoleEditEmail => post(format!("/console/emails/{e}"), json!({ "subject": "", "text": "" })),
        Action::ConsoleReleaseEmail => post(format!("/console/emails/{e}/release"), json!({})),
        Action::ConsoleRetryEmail => post(format!("/console/emails/{e}/retry"), json!({})),
        Action::ConsolePartners => get("/console/partners".into()),
        // No one named to act for the partner: refused on the page, nothing changed.
        Action::ConsoleSetRoles => post(format!("/console/partners/{a}/users/{A_SALES}/roles"), json!({})),
        Action::Enroll => get("/enroll".into()),
        Action::FindProviders => get("/api/v1/providers?country=IT".into()),
        Action::ProvidersPage => get("/providers?country=IT".into()),
    }
}

/// Who asks, in the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Reviewer,
    Pipeline,
    /// The owning partner's global admin (also an admin agent).
    OwnerAdmin,
    /// The owning partner's sales agent.
    OwnerSales,
    /// Another partner's global admin.
    Other,
    Nobody,
}

const EVERYONE: [Who; 7] =
    [Who::Admin, Who::Reviewer, Who::Pipeline, Who::OwnerAdmin, Who::OwnerSales, Who::Other, Who::Nobody];

/// What the table says `who` gets for `rule`.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Unauthorized,
    Forbidden,
    /// Answered as if the owner's resource did not exist.
    Hidden,
    /// A list without the owner's rows.
    Filtered,
}

fn expected(rule: &Rule, who: Who) -> Expect {
    if rule.public {
        return Expect::Allowed;
    }
    let partner_roles = |roles: &[Role]| {
        if rule.partner_roles.is_empty() {
            Expect::Forbidden
        } else if roles.iter().any(|r| rule.partner_roles.contains(r)) {
            Expect::Allowed
        } else {
            Expect::Forbidden
        }
    };
    match who {
        Who::Nobody => Expect::Unauthorized,
        Who::Admin => Expect::Allowed,
        Who::Reviewer if rule.operators.contains(&Scope::Reviewer) => Expect::Allowed,
        Who::Pipeline if rule.operators.contains(&Scope::Pipeline) => Expect::Allowed,
        Who::Reviewer | Who::Pipeline => Expect::Forbidden,
        Who::OwnerAdmin => partner_roles(&[Role::GlobalAdmin, Role::AdminAgent]),
        Who::OwnerSales => partner_roles(&[Role::SalesAgent]),
        Who::Other => match (partner_roles(&[Role::GlobalAdmin, Role::AdminAgent]), rule.reach) {
            (Expect::Allowed, Reach::Listed) => Expect::Filtered,
            (Expect::Allowed, _) => Expect::Hidden,
            (other, _) => other,
        },
    }
}

/// The codes with which the API hides another partner's resources.
const HIDING: &[&str] = &["not_found", "unknown_instance", "unknown_customer", "unknown_email", "unknown_subject"];

/// A console session for `key`'s record, made as signing in makes it; the cookie and the CSRF.
async fn session(t: &TestApp, key: &str) -> (String, String) {
    let hash = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
    let record = t.engine().store().api_key_by_hash(&hash(key)).await.unwrap().unwrap();
    let token = uuid::Uuid::new_v4().to_string();
    let now = t.clock.now();
    let session = SessionRecord {
        hash: hash(&token),
        key_id: record.id,
        csrf: format!("csrf-{token}"),
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(3600)),
    };
    t.engine().store().create_session(&session).await.unwrap();
    (format!("accord_session={token}"), session.csrf)
}

async fn every_route_answers_each_principal_as_the_table_says(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let mut keys = Vec::new();
    for who in EVERYONE {
        let key = match who {
            Who::Admin => Some(t.key(Scope::Admin).await),
            Who::Reviewer => Some(t.key(Scope::Reviewer).await),
            Who::Pipeline => Some(t.key(Scope::Pipeline).await),
            Who::OwnerAdmin => Some(t.partner_key(w.a, A_ADMIN).await),
            Who::OwnerSales => Some(t.partner_key(w.a, A_SALES).await),
            Who::Other => Some(t.partner_key(w.b, B_ADMIN).await),
            Who::Nobody => None,
        };
        keys.push((who, key));
    }
    let owned_ids = [w.a.to_string(), w.customer.to_string(), w.instance.clone(), w.draft.clone()];
    let mut wrong = Vec::new();
    for rule in TABLE {
        for (who, key) in &keys {
            let (method, path, body) = example(rule.action, &w);
            let url = format!("{}{path}", t.base);
            let console = path.starts_with("/console") && !path.starts_with("/console/login");
            let mut request = t.client.request(method.clone(), &url);
            let mut body = body;
            if console {
                // The console takes a session, not a key: any key may try to get one.
                if let Some(key) = key {
                    let (cookie, csrf) = session(&t, key).await;
                    request = request.header(reqwest::header::COOKIE, cookie);
                    if let Some(Value::Object(fields)) = &mut body {
                        fields.insert("csrf".into(), json!(csrf));
                    }
                }
                if let Some(Value::Object(fields)) = &body {
                    let form: Vec<(String, String)> =
                        fields.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
                    request = request.form(&form);
                }
            } else {
                if let Some(key) = key {
                    request = request.bearer_auth(key);
                }
                if let Some(body) = &body {
                    request = if path.starts_with("/l/") { request.form(&[("x", "y")]) } else { request.json(body) };
                }
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap_or_default().to_owned());
            let text = response.text().await.unwrap();
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let want = expected(rule, *who);
            let signed_out = location.as_deref() == Some("/console/login");
            let ok = match (&want, console) {
                // Signing out ends at the sign-in page; anything else sent there was refused.
                (Expect::Allowed, true) => {
                    status != StatusCode::FORBIDDEN && (!signed_out || rule.action == Action::ConsoleSignOut)
                }
                (Expect::Allowed, false) => {
                    let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
                    let hidden = status == StatusCode::NOT_FOUND && HIDING.contains(&code.as_str());
                    !refused && !hidden
                }
                // Only reviewer and admin keys get a console session at all.
                (Expect::Unauthorized | Expect::Forbidden, true) if !matches!(who, Who::Reviewer | Who::Admin) => {
                    signed_out
                }
                (Expect::Forbidden, true) => status == StatusCode::FORBIDDEN,
                (Expect::Unauthorized, false) => status == StatusCode::UNAUTHORIZED,
                (Expect::Forbidden, false) => {
                    status == StatusCode::FORBIDDEN && matches!(code.as_str(), "forbidden" | "role_not_allowed")
                }
                (Expect::Hidden, _) => status == StatusCode::NOT_FOUND && HIDING.contains(&code.as_str()),
                (Expect::Filtered, _) => {
                    status == StatusCode::OK && !owned_ids.iter().any(|id| text.contains(id.as_str()))
                }
                (Expect::Unauthorized, true) => signed_out,
            };
            if !ok {
                wrong.push(format!("{who:?} {method} {path}: expected {want:?}, got {status} {code} {location:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "answers that differ from the table:\n{}", wrong.join("\n"));
}

#[test]
fn every_route_of_the_server_is_in_the_table_and_the_readme_prints_the_table() {
    let mut routes = BTreeSet::new();
    for file in ["src/http/mod.rs", "src/http/console/mod.rs"] {
        let source = std::fs::read_to_string(repo().join(file)).unwrap();
        for piece in source.split(".route(\"").skip(1) {
            routes.insert(piece.split('"').next().unwrap().to_owned());
        }
    }
    let tabled: BTreeSet<String> =
        TABLE.iter().flat_map(|r| r.path.split(", ").map(str::to_owned).collect::<Vec<_>>()).collect();
    let tabled: BTreeSet<String> = tabled.into_iter().map(|p| p.split('?').next().unwrap().to_owned()).collect();
    let missing: Vec<&String> = routes.iter().filter(|r| !tabled.contains(*r)).collect();
    assert!(missing.is_empty(), "routes the authorisation table does not name: {missing:?}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&accord::access::markdown()),
        "the README's authorisation table differs from accord::access::markdown(); paste it anew"
    );
}

async fn a_partner_key_cannot_touch_another_partners_directory(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let stranger = t.api_with(&t.partner_key(w.b, B_ADMIN).await);
    let (a, c, p) = (w.a, w.customer, w.provider);
    // Each of these answered 200 or 201 for another partner's key before partner keys existed.
    let attempts = [
        (format!("/api/v1/partners/{a}/customers/{c}/remove"), json!({ "by": A_ADMIN, "reason": "x", "attest": true })),
        (
            format!("/api/v1/partners/{a}/users"),
            json!({ "name": "Mallory", "email": "mallory@evil.example", "roles": ["global_admin"] }),
        ),
        (format!("/api/v1/partners/{a}/providers/{p}/remove-admin-access"), json!({})),
        (format!("/api/v1/partners/{a}/users/{A_SALES}/roles"), json!({ "roles": ["global_admin"] })),
        (format!("/api/v1/partners/{a}/users/{A_SALES}/remove"), json!({})),
    ];
    for (path, body) in attempts {
        let (status, answer) = stranger.call(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{path}");
        assert!(!answer.to_string().contains("Contoso"), "nothing of A's is named: {answer}");
    }
    for path in [
        format!("/api/v1/customers/{c}/partners/{a}/delete"),
        format!("/api/v1/customers/{c}/partners/{a}/remove-admin-roles"),
    ] {
        let (status, answer) = stranger.call(Method::POST, &path, None).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{path}");
    }
    for path in [
        format!("/api/v1/customers/{c}"),
        format!("/api/v1/partners/{a}/customers"),
        format!("/api/v1/audit?subject=partner:{a}"),
    ] {
        let (status, _) = stranger.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let listed = stranger.get("/api/v1/partners").await.to_string();
    assert!(!listed.contains(A_ADMIN) && !listed.contains(&a.to_string()), "another partner's users are not shown");
    assert!(listed.contains(B_ADMIN), "its own are");
    let customers = stranger.get("/api/v1/customers").await.to_string();
    assert!(!customers.contains(CUSTOMER_ADMIN), "nor another partner's customers");

    // A provider's key inviting A with an address of its choosing is refused, and told where
    // the invitation goes without being shown A's people.
    let provider = t.api_with(&t.partner_key(p, "admin@fabrikam.example").await);
    let invite = json!({ "workflow": "provider_invitation",
                         "input": { "reseller": { "id": a.to_string(), "email": "attacker@evil.example" } } });
    let (status, answer) = provider.call(Method::POST, "/api/v1/instances", Some(invite)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let codes: Vec<&str> =
        answer["error"]["fields"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert!(codes.contains(&"not_the_owner"), "{answer}");
    assert!(!answer.to_string().contains(A_ADMIN), "A's admins are not shown to another partner: {answer}");

    // Nor when the invitation is started: it goes to A's admins, whom the provider never sees.
    let b_provider =
        partner(&t, PartnerKind::IndirectProvider, "Northwind Logistics", &[("ops@nwl.example", &[Role::GlobalAdmin])])
            .await;
    let provider = t.api_with(&t.partner_key(b_provider, "ops@nwl.example").await);
    let invite = json!({ "workflow": "provider_invitation", "input": { "reseller": { "id": a.to_string() } } });
    let (status, started) = provider.call(Method::POST, "/api/v1/instances", Some(invite)).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let shown = provider.get(&format!("/api/v1/instances/{}", started["id"].as_str().unwrap())).await;
    assert!(!shown.to_string().contains(A_ADMIN), "{shown}");
    assert_eq!(shown["emails"][0]["recipient"], accord::access::WITHHELD);
    let operator =
        t.api(Scope::Admin).await.get(&format!("/api/v1/instances/{}", started["id"].as_str().unwrap())).await;
    assert_eq!(operator["emails"][0]["recipient"], A_ADMIN, "the operator sees who it went to");

    // Nothing changed: A's customer, users and provider access are as they were.
    let admin = t.api(Scope::Admin).await;
    let a_customers = admin.get(&format!("/api/v1/partners/{a}/customers")).await;
    assert_eq!(a_customers["items"].as_array().unwrap().len(), 1);
    let partners = admin.get("/api/v1/partners").await.to_string();
    assert!(!partners.contains("mallory@evil.example"));
    let providers = admin.get(&format!("/api/v1/partners/{a}/providers")).await;
    assert_eq!(providers["items"][0]["admin_access"], true);
}

async fn a_partner_key_acts_as_its_user_with_the_roles_the_directory_gives_now(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let a = w.a;
    let owner = t.api_with(&t.partner_key(a, A_ADMIN).await);
    let sales_key = t.partner_key(a, A_SALES).await;
    let sales = t.api_with(&sales_key);

    // A `by` naming someone else is refused; left out, the key's user acts, as the audit shows.
    let add = json!({ "name": "Sara Neri", "email": "sara@contoso.example", "roles": ["sales_agent"] });
    let mut forged = add.clone();
    forged["by"] = json!("someone@contoso.example");
    let (status, answer) = owner.call(Method::POST, &format!("/api/v1/partners/{a}/users"), Some(forged)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("actor_mismatch")));
    let (status, _) = owner.call(Method::POST, &format!("/api/v1/partners/{a}/users"), Some(add)).await;
    assert_eq!(status, StatusCode::CREATED);
    let audit = owner.get(&format!("/api/v1/audit?subject=partner:{a}")).await;
    let added = audit["items"].as_array().unwrap().iter().find(|r| r["action"] == "user_added").unwrap();
    assert_eq!(added["actor"], A_ADMIN, "the acting user");
    assert!(added["principal"].as_str().unwrap().starts_with("key:"), "and, apart, the key: {added}");

    // A sales agent may read but not manage users.
    let (status, answer) = sales
        .call(Method::POST, &format!("/api/v1/partners/{a}/users/sara@contoso.example/remove"), Some(json!({})))
        .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("role_not_allowed")));
    // Given the admin agent role, the same key may, at its next request.
    let roles = json!({ "roles": ["sales_agent", "admin_agent"] });
    let (status, _) =
        owner.call(Method::POST, &format!("/api/v1/partners/{a}/users/{A_SALES}/roles"), Some(roles)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = sales
        .call(Method::POST, &format!("/api/v1/partners/{a}/users/sara@contoso.example/remove"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The last global admin stays.
    let demote = json!({ "roles": ["sales_agent"] });
    let (status, answer) =
        owner.call(Method::POST, &format!("/api/v1/partners/{a}/users/{A_ADMIN}/roles"), Some(demote)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("last_global_admin")));

    // Removed, the user's key stops working at once.
    let (status, _) =
        owner.call(Method::POST, &format!("/api/v1/partners/{a}/users/{A_SALES}/remove"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = sales.call(Method::GET, "/api/v1/partners", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("key_user_removed")));

    // A partner key starts only its own partner's invitations, as its own user; never an
    // enrollment.
    let invite = |reseller: uuid::Uuid| {
        json!({ "workflow": "customer_invitation", "input": {
            "reseller": { "id": reseller.to_string() },
            "customer": { "name": "Adatum", "domain": "adatum.example", "country": "IT",
                          "contact": "Ada", "email": "ada@adatum.example" } } })
    };
    let (status, answer) = owner.call(Method::POST, "/api/v1/instances", Some(invite(w.b))).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{answer}");
    let (status, answer) = owner.call(Method::POST, "/api/v1/instances", Some(invite(a))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let shown = owner.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(shown["context"]["sender"]["email"], A_ADMIN, "the key's user sends it");
    let enrollment = json!({ "workflow": "enrollment", "input": {} });
    let (status, answer) = owner.call(Method::POST, "/api/v1/instances", Some(enrollment)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("workflow_not_allowed")));
}

async fn a_partner_key_sees_only_its_own_instances_and_drafts_and_never_a_link(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let owner = t.api_with(&t.partner_key(w.a, A_ADMIN).await);
    let stranger = t.api_with(&t.partner_key(w.b, B_ADMIN).await);

    let theirs = stranger.get("/api/v1/instances").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0, "another partner's instances are not listed");
    let drafts = stranger.get("/api/v1/emails?status=draft").await;
    assert_eq!(drafts["items"].as_array().unwrap().len(), 0, "nor its drafts");
    for path in [format!("/api/v1/instances/{}", w.instance), format!("/api/v1/emails/{}", w.draft)] {
        assert_eq!(stranger.call(Method::GET, &path, None).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) =
        stranger.call(Method::PATCH, &format!("/api/v1/emails/{}", w.draft), Some(json!({ "subject": "Hi" }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mine = owner.get("/api/v1/instances").await;
    assert_eq!(mine["items"][0]["id"], w.instance.as_str());
    // The owner reads and edits its draft, but the customer's link is withheld from it: a link
    // proves that its recipient clicked it.
    let draft = owner.get(&format!("/api/v1/emails/{}", w.draft)).await;
    let text = draft["text"].as_str().unwrap().to_owned();
    assert!(!text.contains(&format!("{}/l/", t.base)), "no live link is shown to the partner: {text}");
    assert!(text.contains("[[link:accept]]"), "{text}");
    let edited = text.replace("Dear", "Hello");
    let (status, answer) = owner
        .call(
            Method::PATCH,
            &format!("/api/v1/emails/{}", w.draft),
            Some(json!({ "text": format!("{edited}\nSee you soon.") })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("[[link:accept]]"));
    let stored = t.engine().store().email(w.draft.parse().unwrap()).await.unwrap().unwrap();
    assert!(stored.text_body.contains(&format!("{}/l/", t.base)), "the stored draft keeps the real link");
    assert!(stored.text_body.contains("See you soon."));
    let dropped = json!({ "text": text.replace("[[link:accept]]", "") });
    let (status, answer) = owner.call(Method::PATCH, &format!("/api/v1/emails/{}", w.draft), Some(dropped)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("link_changed")));
}

async fn keys_are_listed_revoked_and_expired_through_the_api(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let admin = t.api(Scope::Admin).await;
    let body = json!({ "partner": w.a.to_string(), "user": A_SALES, "label": "crm", "expires": "90d" });
    let (status, created) = admin.call(Method::POST, "/api/v1/keys", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!((created["kind"].as_str(), created["user"].as_str()), (Some("partner"), Some(A_SALES)));
    let partner = t.api_with(&key);
    assert_eq!(partner.call(Method::GET, "/api/v1/partners", None).await.0, StatusCode::OK);
    assert_eq!(partner.call(Method::GET, "/api/v1/keys", None).await.0, StatusCode::FORBIDDEN, "keys are for admins");

    let unknown_user = json!({ "partner": w.a.to_string(), "user": "nobody@contoso.example" });
    let (status, answer) = admin.call(Method::POST, "/api/v1/keys", Some(unknown_user)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_user")));
    let both = json!({ "scope": "admin", "partner": w.a.to_string(), "user": A_SALES });
    let (status, _) = admin.call(Method::POST, "/api/v1/keys", Some(both)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a partner key takes no scope");

    let listed = admin.get("/api/v1/keys").await;
    let row = listed["items"].as_array().unwrap().iter().find(|k| k["id"] == created["id"]).unwrap().clone();
    assert_eq!(row["label"], "crm");
    assert!(row["last_used_at"].is_string(), "its use is recorded: {row}");
    assert!(row.get("hash").is_none() && row.get("key").is_none(), "never its secret: {row}");

    t.clock.advance(std::time::Duration::from_secs(91 * 86_400));
    let (status, answer) = partner.call(Method::GET, "/api/v1/partners", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("key_expired")));

    let pipeline_key = t.key(Scope::Pipeline).await;
    let pipeline = t.api_with(&pipeline_key);
    let listed = admin.get("/api/v1/keys").await;
    let id = listed["items"].as_array().unwrap().iter().rev().find(|k| k["scope"] == "pipeline").unwrap()["id"].clone();
    let (status, _) = admin.call(Method::POST, &format!("/api/v1/keys/{}/revoke", id.as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = pipeline.call(Method::GET, "/api/v1/instances", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("key_revoked")));
}

async fn a_reviewer_cannot_edit_release_or_retry_emails_in_the_console(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let reviewer = t.key(Scope::Reviewer).await;
    let (cookie, csrf) = session(&t, &reviewer).await;
    let e = &w.draft;
    for (path, form) in [
        (format!("/console/emails/{e}"), vec![("subject", "Free money"), ("text", "http://evil.example")]),
        (format!("/console/emails/{e}/release"), vec![]),
        (format!("/console/emails/{e}/retry"), vec![]),
    ] {
        let mut form: Vec<(&str, &str)> = form;
        form.push(("csrf", &csrf));
        let response = t
            .client
            .post(format!("{}{path}", t.base))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let stored = t.engine().store().email(e.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.status, accord::store::EmailStatus::Draft, "still a draft, unchanged");
    assert_ne!(stored.subject, "Free money");
    let page = t
        .client
        .get(format!("{}/console/emails/{e}", t.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("/release\""), "no Done button for a reviewer");
}

async fn a_reviewer_can_neither_send_signals_nor_change_roles_in_the_console(backend: Backend) {
    let Some(t) = spawn_app(backend).await else { return };
    let w = world(&t).await;
    let reviewer = t.key(Scope::Reviewer).await;
    let (cookie, csrf) = session(&t, &reviewer).await;
    let (a, i) = (w.a, &w.instance);
    let get = |path: String| {
        let request = t.client.get(format!("{}{path}", t.base)).header(reqwest::header::COOKIE, &cookie);
        async move { request.send().await.unwrap() }
    };
    for (path, form) in [
        (format!("/console/instances/{i}/signals/withdraw"), vec![("reason", "no longer wanted")]),
        (format!("/console/partners/{a}/users/{A_SALES}/roles"), vec![("role_global_admin", "on"), ("by", A_ADMIN)]),
    ] {
        let mut form: Vec<(&str, &str)> = form;
        form.push(("csrf", &csrf));
        let response =
            t.client.post(format!("{}{path}", t.base)).header(reqwest::header::COOKIE, &cookie).form(&form).send();
        let response = response.await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("needs one of: admin"), "the page says who may: {path}");
    }
    let confirm = get(format!("/console/instances/{i}/signals/withdraw")).await;
    assert_eq!(confirm.status(), StatusCode::FORBIDDEN, "not even the confirmation page");
    assert_eq!(t.state(i.parse().unwrap()).await, "invited", "nothing was sent");
    let users = t.engine().store().partner_users(a).await.unwrap();
    let sales = users.iter().find(|u| u.email == A_SALES).unwrap();
    assert_eq!(sales.roles, [Role::SalesAgent], "unchanged");
    let instance = get(format!("/console/instances/{i}")).await.text().await.unwrap();
    assert!(!instance.contains("/signals/"), "no signal button for a reviewer");
    assert!(instance.contains("An admin can send this instance: withdraw"), "{instance}");
    let partner = get(format!("/console/partners/{a}")).await.text().await.unwrap();
    assert!(!partner.contains("/roles\""), "no role form for a reviewer");
}
