//! `provider_may_invite`.

use super::*;

pub(super) fn provider_invite(provider: impl Into<Value>, reseller: impl Into<Value>) -> Value {
    json!({ "provider": { "id": provider.into(), "name": "as typed" }, "reseller": { "id": reseller.into() } })
}

fn with_email(mut input: Value, email: &str) -> Value {
    input["reseller"]["email"] = json!(email);
    input
}

#[test]
fn provider_may_invite_cases() {
    const CHECK: &str = "provider_may_invite";
    let northwind = "Northwind Distribution S.p.A.";
    let contoso = "Contoso Cloud S.r.l.";
    let cases = vec![
        case(
            "an active provider serving the reseller's country",
            CHECK,
            provider_invite(id(PROVIDER), id(RESELLER)),
            vec![],
        ),
        case(
            "ids with surrounding blanks and in upper case still parse",
            CHECK,
            provider_invite(format!(" {} ", PROVIDER.to_string().to_uppercase()), format!("{RESELLER}\n")),
            vec![],
        ),
        case(
            "a provider already related to another reseller may invite this one",
            CHECK,
            provider_invite(id(PROVIDER), id(FRENCH_RESELLER)),
            vec![],
        ),
        case(
            "provider id not a UUID",
            CHECK,
            provider_invite("northwind", id(RESELLER)),
            vec![refusal("provider.id", "invalid_partner_id", &[&"`provider.id`", &"accord partners"])],
        ),
        case(
            "reseller id not a UUID",
            CHECK,
            provider_invite(id(PROVIDER), "12345"),
            vec![refusal("reseller.id", "invalid_partner_id", &[&"`reseller.id`", &"accord partners"])],
        ),
        case(
            "both ids missing",
            CHECK,
            json!({}),
            vec![
                refusal("provider.id", "invalid_partner_id", &[&"`provider.id`"]),
                refusal("reseller.id", "invalid_partner_id", &[&"`reseller.id`"]),
            ],
        ),
        case(
            "an id that is not a string",
            CHECK,
            provider_invite(42, id(RESELLER)),
            vec![refusal("provider.id", "invalid_partner_id", &[&"`provider.id`"])],
        ),
        case(
            "unknown provider",
            CHECK,
            provider_invite(id(NOBODY), id(RESELLER)),
            vec![refusal("provider.id", "unknown_partner", &[&NOBODY])],
        ),
        case(
            "unknown reseller",
            CHECK,
            provider_invite(id(PROVIDER), id(NOBODY)),
            vec![refusal("reseller.id", "unknown_partner", &[&NOBODY])],
        ),
        case(
            "the provider is a reseller",
            CHECK,
            provider_invite(id(RELATED_RESELLER), id(RESELLER)),
            vec![refusal("provider.id", "not_a_provider", &[&"Adatum Servizi S.r.l. is not an indirect provider"])],
        ),
        case(
            "the reseller is a provider",
            CHECK,
            provider_invite(id(PROVIDER), id(DE_PROVIDER)),
            vec![refusal(
                "reseller.id",
                "not_a_reseller",
                &[&"Fabrikam Distribution GmbH is not an indirect reseller"],
            )],
        ),
        case(
            "ids swapped",
            CHECK,
            provider_invite(id(RESELLER), id(PROVIDER)),
            vec![
                refusal("provider.id", "not_a_provider", &[&contoso]),
                refusal("reseller.id", "not_a_reseller", &[&northwind]),
            ],
        ),
        case(
            "the provider is not active",
            CHECK,
            provider_invite(id(PENDING_PROVIDER), id(RESELLER)),
            vec![refusal("provider.id", "partner_not_active", &[&"the provider Litware Ltd is not active"])],
        ),
        case(
            "the reseller has not accepted the agreement yet",
            CHECK,
            provider_invite(id(PROVIDER), id(PENDING_RESELLER)),
            vec![refusal(
                "reseller.id",
                "partner_not_active",
                &[&"the reseller Tailspin Toys S.r.l. is not active yet", &"agreement accepted"],
            )],
        ),
        case(
            "neither is active",
            CHECK,
            provider_invite(id(PENDING_PROVIDER), id(PENDING_RESELLER)),
            vec![
                refusal("provider.id", "partner_not_active", &[&"Litware Ltd"]),
                refusal("reseller.id", "partner_not_active", &[&"Tailspin Toys S.r.l."]),
            ],
        ),
        case(
            "the provider does not serve the reseller's country",
            CHECK,
            provider_invite(id(DE_PROVIDER), id(RESELLER)),
            vec![refusal(
                "reseller.id",
                "country_not_served",
                &[
                    &"Fabrikam Distribution GmbH does not serve IT, the legal country of Contoso Cloud S.r.l.",
                    &"DE, AT",
                ],
            )],
        ),
        case(
            "already related",
            CHECK,
            provider_invite(id(PROVIDER), id(RELATED_RESELLER)),
            vec![refusal(
                "reseller.id",
                "already_related",
                &[&"Northwind Distribution S.p.A. is already an indirect provider of Adatum Servizi S.r.l."],
            )],
        ),
        Case {
            name: "related, and the country no longer served: both reported",
            check: CHECK,
            setup: |d| d.related(RESELLER, DE_PROVIDER),
            input: provider_invite(id(DE_PROVIDER), id(RESELLER)),
            expected: vec![
                refusal("reseller.id", "country_not_served", &[&"Fabrikam Distribution GmbH", &contoso]),
                refusal("reseller.id", "already_related", &[&"Fabrikam Distribution GmbH", &contoso]),
            ],
        },
        case(
            "reseller.email naming one of its global admins, in another case",
            CHECK,
            with_email(provider_invite(id(PROVIDER), id(RESELLER)), "Piero@Contoso.it"),
            vec![],
        ),
        case(
            "reseller.email naming someone else",
            CHECK,
            with_email(provider_invite(id(PROVIDER), id(RESELLER)), "attacker@evil.example"),
            vec![refusal(
                "reseller.email",
                "not_the_owner",
                &[
                    &"attacker@evil.example is not a global admin of Contoso Cloud S.r.l.",
                    &"the invitation goes to its global admins as the directory records them \
                      (gina@contoso.it, piero@contoso.it)",
                    &"leave out `reseller.email`",
                ],
            )],
        ),
        case(
            "reseller.email naming a user of the reseller who is no global admin",
            CHECK,
            with_email(provider_invite(id(PROVIDER), id(RESELLER)), "aldo@contoso.it"),
            vec![refusal("reseller.email", "not_the_owner", &[&"aldo@contoso.it is not a global admin"])],
        ),
        case(
            "a reseller without a global admin",
            CHECK,
            provider_invite(id(PROVIDER), id(LONELY_RESELLER)),
            vec![refusal(
                "reseller.id",
                "no_global_admin",
                &[&"Lonely Cloud S.r.l. has no global admin in the directory", &"accord partners"],
            )],
        ),
        case(
            "an inactive reseller: its admins are not looked at",
            CHECK,
            with_email(provider_invite(id(PROVIDER), id(PENDING_RESELLER)), "attacker@evil.example"),
            vec![refusal("reseller.id", "partner_not_active", &[&"Tailspin Toys S.r.l."])],
        ),
        case(
            "an unknown provider and an inactive reseller: both reported",
            CHECK,
            provider_invite(id(NOBODY), id(PENDING_RESELLER)),
            vec![
                refusal("provider.id", "unknown_partner", &[&NOBODY]),
                refusal("reseller.id", "partner_not_active", &[&"Tailspin Toys S.r.l."]),
            ],
        ),
    ];
    run_cases(cases);
}
