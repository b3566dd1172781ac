//! The CSP effects, called through the registry as `decide` calls them, on each shipped
//! workflow's sample context and on edits of it: the directory change each returns, or why it
//! refuses.

use serde_json::json;

use crate::directory::{
    Cloud, CustomerRelationshipKind, DirectoryChange, NewCustomer, NewCustomerRelationship, NewPartner, NewUser,
    PartnerKind, PartnerStatus, Role,
};
use crate::fixtures::*;
use crate::machine::{Call, Effect};

struct EffectCase {
    effect: &'static str,
    /// The workflow whose `[sample]` is the context, and how this case's context differs.
    sample_of: &'static str,
    edit: Edit,
    /// The one directory change returned, or text the refusal mentions.
    want: Result<DirectoryChange, &'static str>,
}

fn northwind() -> NewCustomer {
    NewCustomer {
        id: INSTANCE,
        name: "Northwind Traders".into(),
        domain: "northwind.onmicrosoft.com".into(),
        country: "IT".into(),
        cloud: Cloud::Public,
        admin_name: "Giulia Bianchi".into(),
        admin_email: GIULIA.into(),
        locale: Some("it".into()),
    }
}

fn accepted(customer: NewCustomer, relationships: &[(uuid::Uuid, CustomerRelationshipKind, bool)]) -> DirectoryChange {
    DirectoryChange::AcceptInvitation {
        customer,
        relationships: relationships
            .iter()
            .map(|&(partner, kind, dap)| NewCustomerRelationship { partner, kind, dap })
            .collect(),
        accepted_by: GIULIA.into(),
    }
}

fn effect_cases() -> Vec<EffectCase> {
    use CustomerRelationshipKind::{Reseller, ResellerDelegatedAdmin};
    use Edit::{Keep, Remove, Replace, Set};
    let row = |effect, sample_of, edit, want| EffectCase { effect, sample_of, edit, want };
    let reseller = |edit, want| row("create_reseller", "enrollment", edit, want);
    let activate = |edit, want| row("activate_partner", "enrollment", edit, want);
    let relate = |edit, want| row("relate_provider", "provider_invitation", edit, want);
    let invitation = |edit, want| row("accept_customer_invitation", "customer_invitation", edit, want);
    let dual = |edit, want| row("accept_customer_invitation", "dual_customer_invitation", edit, want);
    let agreement = |edit, want| row("accept_customer_agreement", "customer_agreement", edit, want);
    // What the customer invitation's sample accepts: a reseller relationship with delegated
    // administration, or without it.
    let with_dap = |customer| Ok(accepted(customer, &[(RESELLER, ResellerDelegatedAdmin, true)]));
    let without_dap = |customer| Ok(accepted(customer, &[(RESELLER, Reseller, false)]));
    let contoso = DirectoryChange::CreatePartner(NewPartner {
        id: INSTANCE,
        kind: PartnerKind::IndirectReseller,
        legal_name: "Contoso Italia S.r.l.".into(),
        country: "IT".into(),
        mpn_id: "1234567".into(),
        tenant_domain: "contosoitalia.onmicrosoft.com".into(),
        status: PartnerStatus::PendingAgreement,
        served_countries: Vec::new(),
        users: vec![NewUser {
            email: MARCO.into(),
            name: "Marco Bianchi".into(),
            roles: vec![Role::GlobalAdmin, Role::AdminAgent],
        }],
    });
    let active = DirectoryChange::SetPartnerStatus { id: INSTANCE, status: PartnerStatus::Active };
    let mut rows = vec![
        reseller(Keep, Ok(contoso)),
        reseller(Set("mpn.id", json!(1234567)), Err("mpn.id")),
        activate(Keep, Ok(active.clone())),
        activate(Replace(json!({})), Ok(active)),
        relate(Keep, Ok(DirectoryChange::RelateProvider { reseller: RESELLER, provider: PROVIDER })),
        relate(Set("reseller.id", json!("Contoso")), Err("`reseller.id` is not a partner id")),
        relate(Set("provider.id", json!("")), Err("`provider.id` is not a partner id")),
        relate(Remove("provider.id"), Err("no `provider.id`")),
        invitation(Keep, with_dap(northwind())),
        invitation(Set("dap", json!(false)), without_dap(northwind())),
        invitation(Remove("dap"), without_dap(northwind())),
        invitation(Remove("customer.cloud"), with_dap(northwind())),
        invitation(
            Set("customer.cloud", json!("germany")),
            with_dap(NewCustomer { cloud: Cloud::Germany, ..northwind() }),
        ),
        invitation(Remove("customer.contact"), with_dap(NewCustomer { admin_name: GIULIA.into(), ..northwind() })),
        invitation(Remove("customer.locale"), with_dap(NewCustomer { locale: None, ..northwind() })),
        invitation(Set("customer.cloud", json!("mars")), Err("`mars` is not a valid Cloud")),
        invitation(Set("reseller.id", json!("contoso")), Err("`reseller.id` is not an id")),
        dual(Keep, Ok(accepted(northwind(), &[(RESELLER, ResellerDelegatedAdmin, true), (PROVIDER, Reseller, false)]))),
        dual(
            Set("dap", json!(false)),
            Ok(accepted(northwind(), &[(RESELLER, Reseller, false), (PROVIDER, Reseller, false)])),
        ),
        dual(Set("provider.id", json!("fabrikam")), Err("`provider.id` is not an id")),
        agreement(
            Keep,
            Ok(DirectoryChange::AcceptCustomerAgreement { customer: CUSTOMER, accepted_by: GIULIA.into() }),
        ),
        agreement(Set("customer.id", json!("42")), Err("`customer.id` is not an id")),
        agreement(Remove("customer.email"), Err("no `customer.email`")),
    ];
    // Every field create_reseller reads is required; so is every customer field
    // accept_customer_invitation reads, but the optional contact, locale and cloud.
    for path in ["company.legal_name", "company.address.country", "mpn.id", "tenant.domain"] {
        rows.push(reseller(Remove(path), Err(path)));
    }
    for path in ["global_admin.email", "global_admin.name"] {
        rows.push(reseller(Remove(path), Err(path)));
    }
    for path in ["reseller.id", "customer.name", "customer.domain", "customer.country", "customer.email"] {
        rows.push(invitation(Remove(path), Err(path)));
    }
    rows
}

#[test]
fn csp_effects_return_the_directory_changes_their_context_describes() {
    let registry = registry();
    let rows = effect_cases();
    assert!(rows.len() >= 30, "the table lost rows");
    for row in &rows {
        let at = format!("{} on the {} sample, {:?}", row.effect, row.sample_of, row.edit);
        let effect = registry.find_effect(row.effect).unwrap_or_else(|| panic!("{at}: not registered"));
        let mut context = definition(row.sample_of).sample.clone();
        row.edit.apply(&mut context);
        let data = json!({});
        let call = Call {
            instance_id: INSTANCE,
            workflow: row.sample_of,
            state: "any",
            event: "any",
            context: &context,
            data: &data,
        };
        match (&row.want, effect(&call)) {
            (Ok(change), Ok(effects)) => {
                assert_eq!(effects, [Effect::Directory(change.clone())], "{at}");
            }
            (Err(mentions), Err(reason)) => {
                assert!(reason.contains(mentions), "{at}: `{reason}` mentions `{mentions}`")
            }
            (want, got) => panic!("{at}: wanted {want:?}, got {got:?}"),
        }
    }
}
