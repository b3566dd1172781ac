//! The partner directory: partners, their users, relationships and customers.

use super::*;

pub async fn partners(State(engine): State<Engine>, reviewer: Reviewer) -> Response {
    let partners = match engine.store().partners(None).await {
        Ok(partners) => partners,
        Err(err) => return failure(&engine, err),
    };
    page(&engine, StatusCode::OK, "partners", base(&reviewer, json!({ "items": partners })))
}

/// A partner with its Indirect providers, Indirect resellers and Customers.
pub async fn partner(State(engine): State<Engine>, reviewer: Reviewer, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else { return not_found(&engine, "such partner") };
    let store = engine.store().as_ref();
    let partner = match store.partner(id).await {
        Ok(Some(partner)) => partner,
        Ok(None) => return not_found(&engine, "such partner"),
        Err(err) => return failure(&engine, err),
    };
    let related = |want| commands::related_partners(store, id, want);
    let (providers, resellers) = match partner.kind {
        PartnerKind::IndirectReseller => (related(PartnerKind::IndirectProvider).await, Ok(Vec::new())),
        PartnerKind::IndirectProvider => (Ok(Vec::new()), related(PartnerKind::IndirectReseller).await),
    };
    let (providers, resellers, customers, users) =
        match (providers, resellers, commands::customers_of(store, id, None).await, store.partner_users(id).await) {
            (Ok(p), Ok(r), Ok(c), Ok(u)) => (p, r, c, u),
            (Err(err), ..) | (_, Err(err), ..) | (_, _, Err(err), _) => return failure(&engine, err),
            (.., Err(err)) => return failure(&engine, err),
        };
    let customers: Vec<Value> = customers
        .iter()
        .map(|c| {
            json!({ "name": c.customer.name, "domain": c.customer.domain, "relationship": commands::kind_label(c.relationship),
                    "dap": c.dap, "since": c.related_at.to_string(), "agreement": c.customer.agreement_accepted_at.is_some() })
        })
        .collect();
    let context = json!({
        "partner": partner, "users": users, "providers": providers, "resellers": resellers, "customers": customers,
    });
    page(&engine, StatusCode::OK, "partner", base(&reviewer, context))
}
