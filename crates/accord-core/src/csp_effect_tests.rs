//! The CSP effects, called through the registry as `decide` calls them, on each shipped
//! workflow's sample context and on edits of it: the directory change each returns, or why it
//! refuses.

use serde_json::json;

use crate::directory::{
    Cloud, CustomerRelationshipKind, DirectoryChange, NewCustomer, NewCustomerRelationship, NewPartner, NewUser,
    PartnerKind, PartnerStatus, Role,
};
use crate::fixtures::*;
use crate::machine::{Call, Effect, Precondition};

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
        accepted_by: customer.admin_email.clone(),
        customer,
        relationships: relationships
            .iter()
            .map(|&(partner, kind, dap)| NewCustomerRelationship { partner, kind, dap })
            .collect(),
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
        // The admin the start check chose (a known tenant's recorded contact), not the input's.
        invitation(
            Set("customer.admin", json!({ "email": "admin@northwind.it", "name": "Recorded Admin" })),
            with_dap(NewCustomer {
                admin_email: "admin@northwind.it".into(),
                admin_name: "Recorded Admin".into(),
                ..northwind()
            }),
        ),
        invitation(
            Set("customer.admin", json!({ "email": "admin@northwind.it" })),
            with_dap(NewCustomer { admin_email: "admin@northwind.it".into(), ..northwind() }),
        ),
        // Instances started before the start check chose: the input's address and contact.
        invitation(Remove("customer.admin"), with_dap(northwind())),
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
    for path in ["reseller.id", "customer.name", "customer.domain", "customer.country"] {
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
            by: None,
        };
        match (&row.want, effect(&call)) {
            (Ok(change), Ok(effects)) => {
                // Preconditions first (their own test below), then the one change.
                let (requires, changes): (Vec<&Effect>, Vec<&Effect>) =
                    effects.iter().partition(|e| matches!(e, Effect::Require(_)));
                assert_eq!(changes, [&Effect::Directory(change.clone())], "{at}");
                assert_eq!(effects[requires.len()..].len(), 1, "{at}: the change comes after what it requires");
            }
            (Err(mentions), Err(reason)) => {
                assert!(reason.contains(mentions), "{at}: `{reason}` mentions `{mentions}`")
            }
            (want, got) => panic!("{at}: wanted {want:?}, got {got:?}"),
        }
    }
}

/// What each effect requires to still hold when its change is written: what the start checked.
#[test]
fn csp_effects_require_what_the_start_checked() {
    use Precondition::{CustomerContact, HoldsRole, NotRelated, PartnerActive, ProviderAuthorized};
    let registry = registry();
    let requires = |effect: &str, sample_of: &str, edit: Edit, by: Option<&str>| {
        let mut context = definition(sample_of).sample.clone();
        edit.apply(&mut context);
        let data = json!({});
        let call = Call {
            instance_id: INSTANCE,
            workflow: sample_of,
            state: "any",
            event: "any",
            context: &context,
            data: &data,
            by,
        };
        let effects = registry.find_effect(effect).expect("registered")(&call).expect("applies");
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Require(p) => Some(p),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let contoso = || "Contoso Italia S.r.l.".to_owned();
    let fabrikam = || "Fabrikam Distribution".to_owned();
    let reseller_active = PartnerActive { partner: RESELLER, kind: PartnerKind::IndirectReseller, name: contoso() };
    let provider_active = PartnerActive { partner: PROVIDER, kind: PartnerKind::IndirectProvider, name: fabrikam() };
    let not_related = NotRelated { reseller: RESELLER, provider: PROVIDER, provider_name: fabrikam() };
    assert_eq!(
        requires("relate_provider", "provider_invitation", Edit::Keep, None),
        [reseller_active.clone(), provider_active.clone(), not_related.clone()],
        "sent by an operator: nobody's role to check"
    );
    assert_eq!(
        requires("relate_provider", "provider_invitation", Edit::Keep, Some(CONTOSO_IT)),
        [
            reseller_active.clone(),
            provider_active.clone(),
            HoldsRole {
                partner: RESELLER,
                partner_name: contoso(),
                email: CONTOSO_IT.into(),
                roles: vec![Role::GlobalAdmin]
            },
            not_related,
        ],
        "by link: the admin who clicked must still be one"
    );
    assert_eq!(
        requires("relate_provider", "provider_invitation", Edit::Remove("provider.name"), None)[1],
        PartnerActive { partner: PROVIDER, kind: PartnerKind::IndirectProvider, name: PROVIDER.to_string() },
        "without the name filled in, the id names it"
    );
    let contact = CustomerContact { domain: "northwind.onmicrosoft.com".into(), email: GIULIA.into() };
    assert_eq!(
        requires("accept_customer_invitation", "customer_invitation", Edit::Keep, Some(GIULIA)),
        [reseller_active.clone(), contact.clone()]
    );
    assert_eq!(
        requires("accept_customer_invitation", "dual_customer_invitation", Edit::Keep, Some(GIULIA)),
        [
            reseller_active,
            provider_active,
            ProviderAuthorized { reseller: RESELLER, provider: PROVIDER, provider_name: fabrikam() },
            contact,
        ]
    );
    assert_eq!(
        requires(
            "accept_customer_invitation",
            "customer_invitation",
            Edit::Set("customer.admin", json!({ "email": "admin@northwind.it" })),
            None
        )[1],
        CustomerContact { domain: "northwind.onmicrosoft.com".into(), email: "admin@northwind.it".into() },
        "the contact the invitation went to"
    );
    assert!(requires("accept_customer_agreement", "customer_agreement", Edit::Keep, None).is_empty());
}
