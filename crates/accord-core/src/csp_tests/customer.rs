//! `reseller_may_invite_customer` and `reseller_and_provider_may_invite_customer`.

use super::*;

/// A customer invitation from `sender` for `reseller`; `extra` is merged in at the top level
/// (`provider`, `dap`, `customer.cloud`).
pub(super) fn customer_invite(reseller: impl Into<Value>, sender: &str, extra: Value) -> Value {
    let mut input = json!({
        "reseller": { "id": reseller.into(), "name": "as typed" },
        "sender": { "email": sender },
        "customer": { "name": "Northwind Traders", "domain": "northwind.example", "country": "IT",
                      "email": "giulia@northwind.example" },
    });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            match (input.get_mut(&key), value) {
                (Some(Value::Object(into)), Value::Object(from)) => into.extend(from),
                (_, value) => {
                    input[key.as_str()] = value;
                }
            }
        }
    }
    input
}

/// The refusals both customer invitation checks share (`check_customer_request`), run through
/// each of them; for the dual one the provider is one the reseller authorised, so none comes
/// from it.
#[test]
fn customer_invitation_cases() {
    let contoso = "Contoso Cloud S.r.l.";
    let us_gov = "Microsoft Cloud for US Government";
    let shared = |check: &'static str, provider: Value| {
        let with = |extra: Value| {
            let mut extra = extra;
            extra["provider"] = provider.clone();
            extra
        };
        // For the dual check the sending reseller is the one authorising PROVIDER.
        let (reseller, sender, name) = if provider.is_null() {
            (RESELLER, "gina@contoso.it", contoso)
        } else {
            (RELATED_RESELLER, "ada@adatum.it", "Adatum Servizi S.r.l.")
        };
        let strip = |mut input: Value| {
            if provider.is_null() {
                input.as_object_mut().unwrap().remove("provider");
            }
            input
        };
        let invite =
            |reseller: Value, sender: &str, extra: Value| strip(customer_invite(reseller, sender, with(extra)));
        vec![
            case("a global admin, public cloud by default", check, invite(id(reseller), sender, json!({})), vec![]),
            case(
                "the sender's email in another case",
                check,
                invite(id(reseller), &sender.to_uppercase(), json!({})),
                vec![],
            ),
            case(
                "public cloud named",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "public" } })),
                vec![],
            ),
            case(
                "US Government cloud with delegated admin privileges",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "us_government" }, "dap": true })),
                vec![],
            ),
            case(
                "Germany cloud with delegated admin privileges",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "germany" }, "dap": true })),
                vec![],
            ),
            case(
                "reseller id not a UUID",
                check,
                invite(json!("contoso"), sender, json!({})),
                vec![refusal("reseller.id", "invalid_partner_id", &[&"`reseller.id`", &"accord partners"])],
            ),
            case(
                "unknown reseller",
                check,
                invite(id(NOBODY), sender, json!({})),
                vec![refusal("reseller.id", "unknown_partner", &[&NOBODY])],
            ),
            case(
                "the reseller is a provider",
                check,
                invite(id(DE_PROVIDER), sender, json!({})),
                vec![refusal(
                    "reseller.id",
                    "not_a_reseller",
                    &[&"Fabrikam Distribution GmbH is not an indirect reseller"],
                )],
            ),
            case(
                "the reseller has not accepted the agreement yet",
                check,
                invite(id(PENDING_RESELLER), sender, json!({})),
                vec![refusal(
                    "reseller.id",
                    "partner_not_active",
                    &[&"the reseller Tailspin Toys S.r.l. is not active yet"],
                )],
            ),
            case(
                "the sender is not a user of the reseller",
                check,
                invite(id(reseller), "mallory@example.com", json!({})),
                vec![refusal(
                    "sender.email",
                    "unknown_user",
                    &[&format!("mallory@example.com is not a user of {name}"), &"accord partners"],
                )],
            ),
            case(
                "the sender is a user of another reseller",
                check,
                invite(id(reseller), if provider.is_null() { "ada@adatum.it" } else { "gina@contoso.it" }, json!({})),
                vec![refusal("sender.email", "unknown_user", &[&name])],
            ),
            case(
                "the sender is missing",
                check,
                {
                    let mut input = invite(id(reseller), sender, json!({}));
                    input.as_object_mut().unwrap().remove("sender");
                    input
                },
                vec![refusal("sender.email", "unknown_user", &[&name])],
            ),
            case(
                "an invalid cloud",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "azure" } })),
                vec![refusal(
                    "customer.cloud",
                    "invalid_cloud",
                    &[&"must be one of public, us_government, germany, not `azure`"],
                )],
            ),
            case(
                "US Government cloud without delegated admin privileges",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "us_government" } })),
                vec![refusal("dap", "dap_required", &[&us_gov, &"\"dap\": true"])],
            ),
            case(
                "US Government cloud with dap false",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "us_government" }, "dap": false })),
                vec![refusal("dap", "dap_required", &[&us_gov])],
            ),
            case(
                "Germany cloud without delegated admin privileges",
                check,
                invite(id(reseller), sender, json!({ "customer": { "cloud": "germany" } })),
                vec![refusal("dap", "dap_required", &[&"Microsoft Cloud Germany"])],
            ),
            case(
                "a tenant that is a customer already, customer.email left out: its recorded contact",
                check,
                invite(id(reseller), sender, json!({ "customer": { "domain": wwi_domain(), "email": null } })),
                vec![],
            ),
            case(
                "a tenant that is a customer already, its recorded contact in capitals",
                check,
                invite(
                    id(reseller),
                    sender,
                    json!({ "customer": { "domain": wwi_domain(), "email": "Admin@Example.com" } }),
                ),
                vec![],
            ),
            case(
                "a tenant that is a customer already, another address",
                check,
                invite(
                    id(reseller),
                    sender,
                    json!({ "customer": { "domain": wwi_domain(), "email": "attacker@evil.example" } }),
                ),
                vec![refusal(
                    "customer.email",
                    "customer_contact_mismatch",
                    &[
                        &format!("{} is already a customer (Wide World Importers)", wwi_domain()),
                        &"recorded admin contact, admin@example.com, not to attacker@evil.example",
                        &"leave out `customer.email`",
                        &format!("accord customers set-contact {CUSTOMER}"),
                        &format!("POST /api/v1/customers/{CUSTOMER}/contact"),
                    ],
                )],
            ),
            case(
                "a new tenant without customer.email",
                check,
                invite(id(reseller), sender, json!({ "customer": { "email": null } })),
                vec![refusal(
                    "customer.email",
                    "required",
                    &[&"`customer.email` is required", &"northwind.example is not a customer yet"],
                )],
            ),
            case(
                "an inactive reseller, an invalid cloud: both reported",
                check,
                invite(id(PENDING_RESELLER), sender, json!({ "customer": { "cloud": "azure" } })),
                vec![
                    refusal("reseller.id", "partner_not_active", &[&"Tailspin Toys S.r.l."]),
                    refusal("customer.cloud", "invalid_cloud", &[&"`azure`"]),
                ],
            ),
            case(
                "an unknown sender and no delegated admin privileges where required: both reported",
                check,
                invite(id(reseller), "mallory@example.com", json!({ "customer": { "cloud": "germany" } })),
                vec![
                    refusal("sender.email", "unknown_user", &[&"mallory@example.com"]),
                    refusal("dap", "dap_required", &[&"Microsoft Cloud Germany"]),
                ],
            ),
            case(
                "a customer in San Marino, inside the Italian reseller's region",
                check,
                invite(id(reseller), sender, json!({ "customer": { "country": "SM" } })),
                vec![],
            ),
            case(
                "a customer in France, inside the Italian reseller's region",
                check,
                invite(id(reseller), sender, json!({ "customer": { "country": "FR" } })),
                vec![],
            ),
            // Seed 001: an Italian reseller must not invite a UK customer.
            case(
                "a customer in the United Kingdom, outside the Italian reseller's region",
                check,
                invite(id(reseller), sender, json!({ "customer": { "country": "GB" } })),
                vec![refusal(
                    "customer.country",
                    "region_not_authorized",
                    &[&name, &"Italy (IT)", &"region Europe (EU/EFTA)", &"United Kingdom", &"(GB)"],
                )],
            ),
            case(
                "a customer in the United States and no delegated admin privileges where required: both reported",
                check,
                invite(id(reseller), sender, json!({ "customer": { "country": "US", "cloud": "us_government" } })),
                vec![
                    refusal("customer.country", "region_not_authorized", &[&"(US)"]),
                    refusal("dap", "dap_required", &[&us_gov]),
                ],
            ),
        ]
    };
    let mut cases = shared("reseller_may_invite_customer", Value::Null);
    cases.extend(shared("reseller_and_provider_may_invite_customer", json!({ "id": PROVIDER.to_string() })));
    run_cases(cases);
}

/// Who among a reseller's users may send a customer invitation (single check: the dual one
/// shares the code, covered above).
#[test]
fn customer_invitation_sender_roles() {
    const CHECK: &str = "reseller_may_invite_customer";
    let invite = |sender| customer_invite(id(RESELLER), sender, json!({}));
    run_cases(vec![
        case("a global admin", CHECK, invite("gina@contoso.it"), vec![]),
        case("an admin agent", CHECK, invite("aldo@contoso.it"), vec![]),
        case(
            "a sales agent and user admin",
            CHECK,
            invite("sara@contoso.it"),
            vec![refusal(
                "sender.email",
                "role_not_allowed",
                &[
                    &"only a global admin or an admin agent of Contoso Cloud S.r.l. may invite customers",
                    &"sara@contoso.it is: sales_agent, user_admin",
                ],
            )],
        ),
        case(
            "a user with no role",
            CHECK,
            invite("nora@contoso.it"),
            vec![refusal("sender.email", "role_not_allowed", &[&"nora@contoso.it is: no role"])],
        ),
        case(
            "no role, an invalid cloud: both reported",
            CHECK,
            customer_invite(id(RESELLER), "nora@contoso.it", json!({ "customer": { "cloud": "moon" } })),
            vec![
                refusal("sender.email", "role_not_allowed", &[&"no role"]),
                refusal("customer.cloud", "invalid_cloud", &[&"`moon`"]),
            ],
        ),
    ]);
}

/// What only the dual invitation checks: the provider, and that the reseller authorised it.
#[test]
fn dual_customer_invitation_provider_cases() {
    const CHECK: &str = "reseller_and_provider_may_invite_customer";
    let contoso = "Contoso Cloud S.r.l.";
    let adatum = "Adatum Servizi S.r.l.";
    let dual = |reseller: Uuid, sender: &str, provider: Value| {
        customer_invite(id(reseller), sender, json!({ "provider": { "id": provider, "name": "as typed" } }))
    };
    let cases = vec![
        case(
            "the reseller authorised the provider",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", id(PROVIDER)),
            vec![],
        ),
        case(
            "the provider is missing",
            CHECK,
            customer_invite(id(RELATED_RESELLER), "ada@adatum.it", json!({})),
            vec![refusal("provider.id", "invalid_partner_id", &[&"`provider.id`", &"accord partners"])],
        ),
        case(
            "provider id not a UUID",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", json!("northwind")),
            vec![refusal("provider.id", "invalid_partner_id", &[&"`provider.id`"])],
        ),
        case(
            "unknown provider",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", id(NOBODY)),
            vec![refusal("provider.id", "unknown_partner", &[&NOBODY])],
        ),
        case(
            "the provider is a reseller",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", id(RESELLER)),
            vec![refusal("provider.id", "not_a_provider", &[&"Contoso Cloud S.r.l. is not an indirect provider"])],
        ),
        case(
            "the provider is not active",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", id(PENDING_PROVIDER)),
            vec![refusal("provider.id", "partner_not_active", &[&"the provider Litware Ltd is not active"])],
        ),
        case(
            "a reseller with no authorised provider",
            CHECK,
            dual(RESELLER, "gina@contoso.it", id(PROVIDER)),
            vec![refusal(
                "provider.id",
                "no_provider_relationship",
                &[
                    &"Contoso Cloud S.r.l. has not authorised Northwind Distribution S.p.A. as its indirect provider",
                    &"Contoso Cloud S.r.l. has no authorised indirect provider yet",
                    &"provider_invitation",
                ],
            )],
        ),
        case(
            "a reseller that authorised another provider",
            CHECK,
            dual(RELATED_RESELLER, "ada@adatum.it", id(DE_PROVIDER)),
            vec![refusal(
                "provider.id",
                "no_provider_relationship",
                &[
                    &format!("{adatum} has not authorised Fabrikam Distribution GmbH"),
                    &format!("its authorised providers are: {PROVIDER}"),
                ],
            )],
        ),
        case(
            "an inactive reseller: the relationship is not looked at",
            CHECK,
            dual(PENDING_RESELLER, "gina@contoso.it", id(PROVIDER)),
            vec![refusal("reseller.id", "partner_not_active", &[&"Tailspin Toys S.r.l."])],
        ),
        case(
            "a role not allowed and no relationship: both reported",
            CHECK,
            dual(RESELLER, "sara@contoso.it", id(PROVIDER)),
            vec![
                refusal("sender.email", "role_not_allowed", &[&contoso]),
                refusal("provider.id", "no_provider_relationship", &[&contoso]),
            ],
        ),
        case(
            "every part wrong: all reported, the reseller's first",
            CHECK,
            customer_invite(
                json!("contoso"),
                "gina@contoso.it",
                json!({ "provider": { "id": NOBODY.to_string() }, "customer": { "cloud": "us_government" } }),
            ),
            vec![
                refusal("reseller.id", "invalid_partner_id", &[&"`reseller.id`"]),
                refusal("dap", "dap_required", &[&"Microsoft Cloud for US Government"]),
                refusal("provider.id", "unknown_partner", &[&NOBODY]),
            ],
        ),
    ];
    run_cases(cases);
}
