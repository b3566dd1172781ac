//! The console's actions: a workflow's signals (confirmed, with a reason the history keeps), a
//! partner user's roles, and what the partner pages say of agreements and relationships.

use accord::clock::Clock;
use accord::directory::{
    Actor, CustomerRelationshipKind, DirectoryChange, NewCustomer, NewCustomerRelationship, NewPartner, NewUser,
    PartnerKind, PartnerStatus, Role,
};
use accord::engine::StartRequest;
use accord::store::{Origin, Scope};
use reqwest::StatusCode;
use serde_json::Value;

use super::Session;
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(
    a_signal_is_confirmed_with_a_reason_that_the_history_keeps,
    an_admin_changes_a_partner_users_roles_on_the_partner_page,
    the_partner_page_says_who_accepted_and_the_type_left_after_admin_roles_go,
);

async fn a_signal_is_confirmed_with_a_reason_that_the_history_keeps(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let admin = Session::start(&m, Scope::Admin, "marco").await;
    let request = StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    };
    let id = m.engine().start(request).await.unwrap().instance.id;
    let page = format!("/console/instances/{id}");
    let (_, html) = admin.get(&m, &page).await;
    assert!(
        html.contains(&format!("action=\"/console/instances/{id}/signals/withdraw\"")),
        "a Withdraw button: {html}"
    );

    let confirm = format!("/console/instances/{id}/signals/withdraw");
    let (status, html) = admin.get(&m, &confirm).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Withdraw: Contoso Italia S.r.l.?") && html.contains("it will be <strong>withdrawn</strong>"),
        "{html}"
    );
    let attempt = html.split("name=\"attempt\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    // Without a reason: refused on the page, nothing sent.
    let (status, _, html) = admin.post(&m, &confirm, &[("reason", "  "), ("attempt", &attempt)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Write the reason"), "{html}");
    assert_eq!(m.state(id).await, "awaiting_verification");
    // Without the session's CSRF token: refused.
    let forged = m
        .client
        .post(format!("{}{confirm}", m.base))
        .header(reqwest::header::COOKIE, &admin.cookie)
        .form(&[("reason", "x"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let reason = "The company asked us to stop: duplicate of another enrollment.";
    for _ in 0..2 {
        let (status, location, _) = admin.post(&m, &confirm, &[("reason", reason), ("attempt", &attempt)]).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(page.as_str())), "applied once, twice");
    }
    assert_eq!(m.state(id).await, "withdrawn");
    let history = m.engine().store().history(id).await.unwrap();
    let withdrawn: Vec<_> = history.iter().filter(|h| h.event.as_str() == "withdraw").collect();
    assert_eq!(withdrawn.len(), 1, "a double submit applies once");
    assert_eq!(withdrawn[0].data.0["reason"], reason);
    assert_eq!((withdrawn[0].actor.as_str(), withdrawn[0].origin), ("admin:marco", Origin::Operator));
    let (_, html) = admin.get(&m, &page).await;
    assert!(html.contains(&format!("reason: {reason}")), "the reason on the timeline: {html}");
    assert!(!html.contains("/signals/"), "no signal applies to a finished instance");

    let (status, html) = admin.get(&m, &confirm).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("“withdraw” is not something this instance takes now: it is withdrawn (finished)"), "{html}");
    let (status, html) = admin.get(&m, &format!("/console/instances/{id}/signals/approve")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a decision is not a signal: {html}");
}

async fn reseller(m: &TestApp) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let users = [
        ("admin@contoso.example", "Anna Admin", vec![Role::GlobalAdmin]),
        ("sales@contoso.example", "Sara Sales", vec![Role::SalesAgent]),
    ];
    let partner = NewPartner {
        id,
        kind: PartnerKind::IndirectReseller,
        legal_name: "Contoso Italia S.r.l.".into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: "contoso.example".into(),
        status: PartnerStatus::Active,
        served_countries: Vec::new(),
        users: users
            .into_iter()
            .map(|(email, name, roles)| NewUser { email: email.into(), name: name.into(), roles })
            .collect(),
    };
    m.engine().store().create_partner(&partner, &Actor::system("test"), m.clock.now()).await.unwrap();
    id
}

async fn an_admin_changes_a_partner_users_roles_on_the_partner_page(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let admin = Session::start(&m, Scope::Admin, "marco").await;
    let partner = reseller(&m).await;
    let page = format!("/console/partners/{partner}");
    let (_, html) = admin.get(&m, &page).await;
    let form = format!("action=\"/console/partners/{partner}/users/sales%40contoso%2Eexample/roles\"");
    assert!(html.contains(&form), "a roles form per user: {html}");
    assert!(html.contains("name=\"role_admin_agent\">"), "unticked: {html}");
    let roles = format!("/console/partners/{partner}/users/sales%40contoso.example/roles");

    // Only on behalf of a user who manages the partner's users.
    let (status, _, html) =
        admin.post(&m, &roles, &[("role_global_admin", "on"), ("by", "sales@contoso.example")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("Not changed: only a global admin") && html.contains("may change users"), "{html}");

    // Seed 000: tick Admin agent, Update.
    let tick = [("role_sales_agent", "on"), ("role_admin_agent", "on"), ("by", "admin@contoso.example")];
    let (status, location, _) = admin.post(&m, &roles, &tick).await;
    assert_eq!((status, location), (StatusCode::SEE_OTHER, Some(format!("{page}#users"))));
    let users = m.engine().store().partner_users(partner).await.unwrap();
    let sales = users.iter().find(|u| u.email == "sales@contoso.example").unwrap();
    assert_eq!(sales.roles, [Role::AdminAgent, Role::SalesAgent]);
    let audit = m.engine().store().audit_log(&format!("partner:{partner}")).await.unwrap();
    assert!(
        audit.iter().any(|a| a.actor.contains("admin@contoso.example") && a.principal.contains("(marco)")),
        "audited as the partner's user, through the admin's key: {audit:?}"
    );

    // Refusals are said beside the user's form, with the boxes as they were ticked.
    let (status, _, html) = admin.post(&m, &roles, &[("role_global_admin", "on")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Choose on whose behalf"), "{html}");
    let (status, _, html) = admin.post(&m, &roles, &[("by", "admin@contoso.example")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Tick at least one role"), "{html}");
    let admin_roles = format!("/console/partners/{partner}/users/admin%40contoso.example/roles");
    let last = [("role_sales_agent", "on"), ("by", "admin@contoso.example")];
    let (status, _, html) = admin.post(&m, &admin_roles, &last).await;
    assert_eq!(status, StatusCode::CONFLICT, "a partner keeps a global admin: {html}");
    assert!(html.contains("Not changed:"), "{html}");
    let kept = html.split("Roles of admin@contoso.example").nth(1).unwrap().split("</fieldset>").next().unwrap();
    assert!(
        kept.contains("name=\"role_sales_agent\" checked") && !kept.contains("name=\"role_global_admin\" checked"),
        "{kept}"
    );
    let users = m.engine().store().partner_users(partner).await.unwrap();
    assert_eq!(users.iter().find(|u| u.email == "admin@contoso.example").unwrap().roles, [Role::GlobalAdmin]);
}

async fn the_partner_page_says_who_accepted_and_the_type_left_after_admin_roles_go(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let reviewer = Session::start(&m, Scope::Reviewer, "giulia").await;
    let partner = reseller(&m).await;
    let store = m.engine().store();
    let customer = uuid::Uuid::new_v4();
    let add = DirectoryChange::AddCustomer {
        customer: NewCustomer {
            id: customer,
            name: "Northwind Traders".into(),
            domain: "northwind.example".into(),
            country: "IT".into(),
            cloud: accord::directory::Cloud::Public,
            admin_name: "Giulia Bianchi".into(),
            admin_email: "giulia@northwind.example".into(),
            locale: None,
        },
        relationships: vec![NewCustomerRelationship {
            partner,
            kind: CustomerRelationshipKind::ResellerDelegatedAdmin,
            dap: true,
        }],
    };
    let test = Actor::system("test");
    store.change_directory(&add, &test, m.clock.now()).await.unwrap();
    let page = format!("/console/partners/{partner}");
    let (_, html) = reviewer.get(&m, &page).await;
    assert!(html.contains("<td>reseller and delegated administrator</td><td>yes</td><td>not accepted</td>"), "{html}");

    let accept = DirectoryChange::AcceptCustomerAgreement { customer, accepted_by: "giulia@northwind.example".into() };
    store.change_directory(&accept, &test, m.clock.now()).await.unwrap();
    accord::directory::commands::remove_admin_roles(store.as_ref(), customer, partner, &test, m.clock.now())
        .await
        .unwrap();
    let (_, html) = reviewer.get(&m, &page).await;
    let row = html.split("<td>Northwind Traders</td>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("<td>reseller</td><td>no</td>"), "the type left after the admin roles went: {row}");
    assert!(
        row.contains("accepted by giulia@northwind.example on <time datetime=\"2026-03-02T09:00:00.000Z\">"),
        "{row}"
    );
    assert!(!html.contains("delegated administrator"), "{html}");
    // The API and the CLI read the same type.
    let api = m.api(Scope::Reviewer).await;
    let (_, listed) = api.call(reqwest::Method::GET, &format!("/api/v1/partners/{partner}/customers"), None).await;
    assert_eq!(listed["items"][0]["relationship"], "reseller", "{listed}");
    assert_eq!(listed["items"][0]["dap"], Value::Bool(false));
}
