//! The short path of an enrollment (seed 000: "If you are already enrolled in CSP, you may need
//! to provide only customer support contact information to create a reseller account").
//!
//! The directory knows a company is enrolled in CSP when one of its partners carries the
//! company's MPN ID (an indirect provider added with `accord partners add-provider --mpn-id`, a
//! partner imported with it). Such a company gives its MPN ID, a primary contact who is one of
//! that partner's users, and its customer support details, and leaves the company, work account
//! and global admin out: `enrollment_path` fills them in from the directory and sets
//! `csp.enrolled`, on which the workflow's `verify` transition branches past the review. Any
//! other enrollment (an unknown MPN ID, or a known one with the details given) is the full path,
//! and needs every one of those fields.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{put, refused, text, text_field};
use crate::directory::{DirectoryReader, PartnerKind, PartnerStatus, ReadError, Role};
use crate::machine::StartChecked;
use crate::workflow::{Provided, ProvidedKind};

/// What `enrollment_path` fills in: whether the short path applies, and the name the directory
/// knows the company by.
pub(super) const ENROLLMENT: &[Provided] =
    &[Provided { path: "csp.enrolled", kind: ProvidedKind::Flag }, text_field("csp.partner_name")];

/// The fields the directory gives on the short path, and the full path requires.
pub const FROM_DIRECTORY: &[&str] = &[
    "company.legal_name",
    "company.address.line1",
    "company.address.city",
    "company.address.postal_code",
    "company.address.country",
    "tenant.domain",
    "tenant.country",
    "mpn.country",
    "global_admin.name",
    "global_admin.email",
];

/// Decides the enrollment's path: the short one for a company the directory knows to be
/// enrolled in CSP that left its details out, else the full one with every detail required.
pub(super) async fn enrollment_path(
    input: Value,
    directory: Arc<dyn DirectoryReader>,
) -> Result<StartChecked, ReadError> {
    let mut checked = StartChecked::default();
    let mpn = text(&input, "mpn.id").unwrap_or_default();
    let known = directory.partners_by_mpn(&mpn).await?;
    if let Some(reseller) = known.iter().find(|p| p.kind == PartnerKind::IndirectReseller) {
        checked.errors.push(refused(
            "mpn.id",
            "already_enrolled",
            format!(
                "MPN ID {mpn} belongs to {}, which is already an indirect reseller ({}): it needs no new enrollment; \
                 `accord partners` shows it",
                reseller.legal_name, reseller.status
            ),
        ));
        return Ok(checked);
    }
    let given: Vec<&str> = FROM_DIRECTORY
        .iter()
        .copied()
        .filter(|path| crate::workflow::field(&input, path).is_some_and(|v| !v.is_null()))
        .collect();
    let enrolled = known.iter().find(|p| p.status == PartnerStatus::Active);
    let Some(partner) = enrolled.filter(|_| given.is_empty()) else {
        let hint = match enrolled {
            Some(partner) => format!(
                "; or, since MPN ID {mpn} is already enrolled in CSP as {}, leave out every company, work account \
                 and global admin field to take them from the directory",
                partner.legal_name
            ),
            None => String::new(),
        };
        for path in FROM_DIRECTORY.iter().filter(|path| !given.contains(path)) {
            checked.errors.push(refused(path, "required", format!("`{path}` is required{hint}")));
        }
        put(&mut checked.context, "csp.enrolled", json!(false));
        return Ok(checked);
    };
    let users = directory.partner_users(partner.id).await?;
    let contact = text(&input, "primary_contact.email").unwrap_or_default();
    if !users.iter().any(|u| u.email.eq_ignore_ascii_case(&contact)) {
        checked.errors.push(refused(
            "primary_contact.email",
            "not_a_partner_user",
            format!(
                "MPN ID {mpn} is enrolled in CSP as {}: to enroll it without the review, the primary contact must be \
                 one of its users in the directory, so that the email check reaches the company; ask its global \
                 admin to add you (`accord partners add-user`), or give the full enrollment details",
                partner.legal_name
            ),
        ));
    }
    match users.iter().find(|u| u.roles.contains(&Role::GlobalAdmin)) {
        Some(admin) => put(&mut checked.context, "global_admin", json!({ "name": admin.name, "email": admin.email })),
        None => checked.errors.push(refused(
            "mpn.id",
            "no_global_admin",
            format!(
                "{} has no global admin in the directory to accept the Microsoft Partner Agreement; `accord partners` \
                 lists its users and their roles",
                partner.legal_name
            ),
        )),
    }
    put(&mut checked.context, "company.legal_name", json!(partner.legal_name));
    put(&mut checked.context, "company.address.country", json!(partner.country));
    put(&mut checked.context, "tenant", json!({ "domain": partner.tenant_domain, "country": partner.country }));
    put(&mut checked.context, "mpn.country", json!(partner.country));
    put(&mut checked.context, "csp", json!({ "enrolled": true, "partner_name": partner.legal_name }));
    Ok(checked)
}
