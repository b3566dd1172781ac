//! What the start checks fill in from the directory: the partners' names (whatever the caller
//! typed), who an invitation goes to, and nothing when the check has nothing to add.

use super::*;

fn context_of(check: &str, input: Value) -> Value {
    let checked = run(check, world(), input).unwrap_or_else(|err| panic!("{check}: {err}"));
    assert_eq!(checked.errors, [], "{check}: accepted");
    checked.context
}

#[test]
fn a_provider_invitation_goes_to_every_global_admin_of_the_reseller_and_names_both_as_recorded() {
    let context = context_of("provider_may_invite", provider_invite(id(PROVIDER), id(RESELLER)));
    assert_eq!(
        context,
        json!({
            "provider": { "name": "Northwind Distribution S.p.A." },
            "reseller": {
                "name": "Contoso Cloud S.r.l.",
                "country": "IT",
                "admins": [
                    { "email": "gina@contoso.it", "name": "gina" },
                    { "email": "piero@contoso.it", "name": "piero" },
                ],
            },
        }),
        "the admin agent, the sales agent and the user without a role are not asked"
    );
}

#[test]
fn a_customer_invitation_goes_to_the_recorded_contact_of_a_known_tenant_else_to_the_address_given() {
    let new = customer_invite(id(RESELLER), "gina@contoso.it", json!({ "customer": { "contact": "Giulia Bianchi" } }));
    assert_eq!(
        context_of("reseller_may_invite_customer", new),
        json!({
            "reseller": { "name": "Contoso Cloud S.r.l." },
            "sender": { "name": "gina" },
            "customer": { "admin": { "email": "giulia@northwind.example", "name": "Giulia Bianchi" } },
        }),
        "the sending user's name, as the directory has it, is filled in for the Reply-To"
    );
    let nameless = customer_invite(id(RESELLER), "gina@contoso.it", json!({}));
    assert_eq!(
        context_of("reseller_may_invite_customer", nameless)["customer"],
        json!({ "admin": { "email": "giulia@northwind.example" } }),
        "no contact name given: none made up"
    );
    let known = customer_invite(
        id(RELATED_RESELLER),
        "ada@adatum.it",
        json!({ "customer": { "domain": wwi_domain(), "email": null, "contact": "Somebody Else" },
                "provider": { "id": PROVIDER.to_string(), "name": "Microsoft Corporation" } }),
    );
    assert_eq!(
        context_of("reseller_and_provider_may_invite_customer", known),
        json!({
            "reseller": { "name": "Adatum Servizi S.r.l." },
            "sender": { "name": "ada" },
            "provider": { "name": "Northwind Distribution S.p.A." },
            "customer": { "admin": { "email": "admin@example.com", "name": "Admin" } },
        }),
        "the recorded contact, and the partners as the directory names them"
    );
}

#[test]
fn the_agreement_check_fills_in_nothing() {
    let checked = run("customer_needs_agreement", world(), agreement(id(CUSTOMER), id(RESELLER))).unwrap();
    assert_eq!(checked, StartChecked::default());
}

#[test]
fn every_check_declares_what_it_fills_in() {
    let specs = registry().start_check_specs();
    for (check, input) in [
        ("provider_may_invite", provider_invite(id(PROVIDER), id(RESELLER))),
        (
            "reseller_may_invite_customer",
            customer_invite(id(RESELLER), "gina@contoso.it", json!({ "customer": { "contact": "Giulia" } })),
        ),
        (
            "reseller_and_provider_may_invite_customer",
            customer_invite(
                id(RELATED_RESELLER),
                "ada@adatum.it",
                json!({ "provider": { "id": PROVIDER.to_string() }, "customer": { "contact": "Giulia" } }),
            ),
        ),
    ] {
        let context = context_of(check, input);
        let spec = specs.iter().find(|spec| spec.name == check).unwrap();
        for provided in spec.provides {
            assert!(crate::workflow::field(&context, provided.path).is_some(), "{check} fills in {}", provided.path);
        }
        let mut leaves = Vec::new();
        collect_leaves(&context, String::new(), &mut leaves);
        for leaf in leaves {
            assert!(
                spec.provides.iter().any(|p| leaf == p.path || leaf.starts_with(&format!("{}.", p.path))),
                "{check} fills in `{leaf}`, which it does not declare"
            );
        }
    }
}

/// The dotted paths of the values in `value` (a list counts as one value).
fn collect_leaves(value: &Value, prefix: String, leaves: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                collect_leaves(child, path, leaves);
            }
        }
        _ => leaves.push(prefix),
    }
}
