//! A partner's users: who manages them, changing their roles, removing them. A partner keeps
//! at least one global admin; a removed user's partner keys stop working at their next request.

use super::commands::{not_found, partner, refused_change, require_role, CommandError};
use super::{Actor, DirectoryChange, PartnerRecord, Role};
use crate::clock::Timestamp;
use crate::store::Store;

/// The roles that manage a partner's users (seed 000: setting up the account and adding users
/// needs admin agent permissions; user admins manage users; global admins may do anything).
pub const USER_MANAGERS: &[Role] = &[Role::GlobalAdmin, Role::AdminAgent, Role::UserAdmin];

/// The roles that act for a partner towards its customers: invite them, end a relationship.
pub const CUSTOMER_MANAGERS: &[Role] = &[Role::GlobalAdmin, Role::AdminAgent];

/// A user's roles to change.
pub struct SetRoles {
    pub partner: uuid::Uuid,
    pub email: String,
    /// Who changes them: a user of the partner who manages users.
    pub by: String,
    pub roles: Vec<String>,
}

fn parse_roles(roles: &[String]) -> Result<Vec<Role>, CommandError> {
    if roles.is_empty() {
        let names: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
        return Err(CommandError::Invalid {
            code: "required",
            field: "roles",
            message: format!("give at least one role: {}", names.join(", ")),
        });
    }
    roles
        .iter()
        .map(|r| r.trim().parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| CommandError::Invalid { code: "invalid_role", field: "roles", message })
}

/// The user `email` of `partner`, or why not.
async fn user(
    store: &dyn Store,
    partner: &PartnerRecord,
    email: &str,
) -> Result<super::PartnerUserRecord, CommandError> {
    let users = store.partner_users(partner.id).await?;
    users.into_iter().find(|u| u.email.eq_ignore_ascii_case(email.trim())).ok_or_else(|| {
        not_found(
            "unknown_user",
            "email",
            format!("{} is not a user of {}; `accord partners` lists its users", email.trim(), partner.legal_name),
        )
    })
}

/// Changes a user's roles; a partner keeps at least one global admin.
pub async fn set_user_roles(
    store: &dyn Store,
    set: &SetRoles,
    principal: &str,
    at: Timestamp,
) -> Result<Vec<super::PartnerUserRecord>, CommandError> {
    let partner = partner(store, set.partner, "partner").await?;
    require_role(store, &partner, &set.by, USER_MANAGERS, "change users' roles").await?;
    let user = user(store, &partner, &set.email).await?;
    let roles = parse_roles(&set.roles)?;
    let change = DirectoryChange::SetUserRoles { partner: partner.id, email: user.email, roles };
    store
        .change_directory(&change, &Actor::new(set.by.trim(), principal), at)
        .await
        .map_err(refused_change("last_global_admin", "roles"))?;
    Ok(store.partner_users(partner.id).await?)
}

/// Removes a user from a partner's account; their keys stop working at their next request.
pub async fn remove_user(
    store: &dyn Store,
    partner_id: uuid::Uuid,
    email: &str,
    by: &str,
    principal: &str,
    at: Timestamp,
) -> Result<Vec<super::PartnerUserRecord>, CommandError> {
    let partner = partner(store, partner_id, "partner").await?;
    require_role(store, &partner, by, USER_MANAGERS, "remove users").await?;
    let user = user(store, &partner, email).await?;
    let change = DirectoryChange::RemoveUser { partner: partner.id, email: user.email };
    store
        .change_directory(&change, &Actor::new(by.trim(), principal), at)
        .await
        .map_err(refused_change("last_global_admin", "email"))?;
    Ok(store.partner_users(partner.id).await?)
}
