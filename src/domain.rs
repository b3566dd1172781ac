//! Cloud Solution Provider rules that need code: guards and effects the shipped workflows
//! reference by name.

use serde_json::Value;

use crate::directory::{DirectoryChange, NewUser, PartnerKind, PartnerStatus, Role};
use crate::engine::registry::{Call, Registry};
use crate::engine::Effect;

pub fn register(registry: &mut Registry) {
    registry.effect("create_reseller", create_reseller);
    registry.effect("activate_partner", activate_partner);
}

fn text(context: &Value, path: &str) -> Result<String, String> {
    path.split('.')
        .try_fold(context, |value, key| value.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the enrollment has no `{path}`"))
}

/// On approval: the partner record, pending the agreement, with the global admin in the
/// admin-agent group (needed to finish setting up the account and add users).
fn create_reseller(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    let context = call.context;
    Ok(vec![Effect::Directory(DirectoryChange::CreatePartner {
        id: call.instance_id,
        kind: PartnerKind::IndirectReseller,
        legal_name: text(context, "company.legal_name")?,
        country: text(context, "company.address.country")?,
        mpn_id: text(context, "mpn.id")?,
        tenant_domain: text(context, "tenant.domain")?,
        users: vec![NewUser {
            email: text(context, "global_admin.email")?,
            name: text(context, "global_admin.name")?,
            roles: vec![Role::GlobalAdmin, Role::AdminAgent],
        }],
    })])
}

/// Once the global admin accepts the Microsoft Partner Agreement.
fn activate_partner(call: &Call<'_>) -> Result<Vec<Effect>, String> {
    Ok(vec![Effect::Directory(DirectoryChange::SetPartnerStatus {
        id: call.instance_id,
        status: PartnerStatus::Active,
    })])
}
