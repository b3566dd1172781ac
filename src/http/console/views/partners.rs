//! The partner directory: partners, their users (whose roles an admin changes here, seed 000:
//! tick the roles, Update), relationships, and customers with who accepted the agreement.

use super::*;
use crate::access::Action;
use crate::directory::{CustomerRelationshipKind, Role};

pub async fn partners(State(engine): State<Engine>, reviewer: Reviewer) -> Response {
    let partners = match engine.store().partners(None).await {
        Ok(partners) => partners,
        Err(err) => return failure(&engine, err),
    };
    page(&engine, StatusCode::OK, "partners", base(&reviewer, json!({ "items": partners })))
}

/// A partner with its Indirect providers, Indirect resellers and Customers.
pub async fn partner(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    reader: Reader,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else { return not_found(&engine, "such partner") };
    partner_page(&engine, &reviewer, &reader, id, StatusCode::OK, None).await
}

/// A refused role change, shown beside its user's form with the boxes as they were ticked.
struct RolesRefused {
    email: String,
    roles: Vec<String>,
    by: String,
    message: String,
}

/// A customer relationship's type in words, saying so when the admin roles it came with were
/// removed (a delegated administrator without them).
fn relationship_label(kind: CustomerRelationshipKind, dap: bool) -> String {
    let label = commands::kind_label(kind);
    if kind.grants_dap() && !dap {
        format!("{label} (admin roles removed)")
    } else {
        label.to_owned()
    }
}

async fn partner_page(
    engine: &Engine,
    reviewer: &Reviewer,
    reader: &Reader,
    id: uuid::Uuid,
    status: StatusCode,
    refused: Option<RolesRefused>,
) -> Response {
    let store = engine.store().as_ref();
    let partner = match store.partner(id).await {
        Ok(Some(partner)) => partner,
        Ok(None) => return not_found(engine, "such partner"),
        Err(err) => return failure(engine, err),
    };
    let related = |want| commands::related_partners(store, id, want);
    let (providers, resellers) = match partner.kind {
        PartnerKind::IndirectReseller => (related(PartnerKind::IndirectProvider).await, Ok(Vec::new())),
        PartnerKind::IndirectProvider => (Ok(Vec::new()), related(PartnerKind::IndirectReseller).await),
    };
    let (providers, resellers, customers, users) =
        match (providers, resellers, commands::customers_of(store, id, None).await, store.partner_users(id).await) {
            (Ok(p), Ok(r), Ok(c), Ok(u)) => (p, r, c, u),
            (Err(err), ..) | (_, Err(err), ..) | (_, _, Err(err), _) => return failure(engine, err),
            (.., Err(err)) => return failure(engine, err),
        };
    let customers: Vec<Value> = customers
        .iter()
        .map(|c| {
            json!({ "name": c.customer.name, "domain": c.customer.domain,
                    "relationship": relationship_label(c.relationship, c.dap),
                    "dap": c.dap, "since": reader.time(c.related_at),
                    "accepted_at": reader.maybe(c.customer.agreement_accepted_at),
                    "accepted_by": c.customer.agreement_accepted_by })
        })
        .collect();
    // Who may act for the partner when an admin changes roles: its users who manage users.
    let managers: Vec<&str> = users
        .iter()
        .filter(|u| u.roles.iter().any(|r| commands::USER_MANAGERS.contains(r)))
        .map(|u| u.email.as_str())
        .collect();
    let users: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(n, u)| {
            let mine = refused.as_ref().filter(|r| r.email.eq_ignore_ascii_case(&u.email));
            let ticked = |role: &Role| match mine {
                Some(r) => r.roles.iter().any(|t| t == role.as_str()),
                None => u.roles.contains(role),
            };
            json!({
                "n": n,
                "email": u.email,
                "name": u.name,
                "roles": u.roles.iter().map(|r| r.as_str().replace('_', " ")).collect::<Vec<_>>(),
                "choices": Role::ALL.iter().map(|r| json!({
                    "role": r.as_str(), "label": r.as_str().replace('_', " "), "ticked": ticked(r),
                })).collect::<Vec<_>>(),
                "by": mine.map(|r| r.by.clone()),
                "error": mine.map(|r| r.message.clone()),
            })
        })
        .collect();
    let context = json!({
        "partner": partner, "users": users, "providers": providers, "resellers": resellers, "customers": customers,
        "managers": managers, "may_set_roles": reviewer.may(Action::ConsoleSetRoles),
    });
    page(engine, status, "partner", base(reviewer, context))
}

/// `POST /console/partners/{id}/users/{email}/roles`: the ticked roles (`role_<name>=on`),
/// on behalf of one of the partner's user managers (`by`), through the directory command the
/// API's set-roles uses.
pub async fn set_roles(
    State(engine): State<Engine>,
    reviewer: Reviewer,
    reader: Reader,
    Path((id, email)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Response {
    if !reviewer.csrf_ok(form.get("csrf")) {
        return csrf_refused();
    }
    if let Some(refused) = reviewer.refusal(&engine, Action::ConsoleSetRoles) {
        return refused;
    }
    let Ok(id) = uuid::Uuid::parse_str(&id) else { return not_found(&engine, "such partner") };
    let roles: Vec<String> = Role::ALL
        .iter()
        .filter(|r| form.get(&format!("role_{}", r.as_str())).is_some_and(|v| !v.is_empty()))
        .map(|r| r.as_str().to_owned())
        .collect();
    let by = form.get("by").map(|b| b.trim().to_owned()).unwrap_or_default();
    let refuse = |message: String| RolesRefused { email: email.clone(), roles: roles.clone(), by: by.clone(), message };
    if by.is_empty() {
        let message = "Choose on whose behalf: a global admin or user admin of the partner.".to_owned();
        return partner_page(&engine, &reviewer, &reader, id, StatusCode::UNPROCESSABLE_ENTITY, Some(refuse(message)))
            .await;
    }
    if roles.is_empty() {
        let message = "Tick at least one role; to take every role away, remove the user instead.".to_owned();
        return partner_page(&engine, &reviewer, &reader, id, StatusCode::UNPROCESSABLE_ENTITY, Some(refuse(message)))
            .await;
    }
    let set = commands::SetRoles { partner: id, email: email.clone(), by: by.clone(), roles: roles.clone() };
    let principal = crate::access::Principal::Operator { key: reviewer.key.clone() }.name();
    match commands::set_user_roles(engine.store().as_ref(), &set, &principal, engine.now()).await {
        Ok(_) => Redirect::to(&format!("/console/partners/{id}#users")).into_response(),
        Err(commands::CommandError::Store(err)) => failure(&engine, err),
        Err(err @ commands::CommandError::NotFound { field: "partner", .. }) => {
            not_found(&engine, &format!("such partner ({err})"))
        }
        Err(err) => {
            let status = match err {
                commands::CommandError::Refused { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            partner_page(&engine, &reviewer, &reader, id, status, Some(refuse(format!("Not changed: {err}.")))).await
        }
    }
}
