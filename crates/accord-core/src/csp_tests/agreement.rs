//! `customer_needs_agreement`.

use super::*;

pub(super) fn agreement(customer: impl Into<Value>, partner: impl Into<Value>) -> Value {
    json!({
        "customer": { "id": customer.into(), "name": "as typed", "email": "admin@wwi.example" },
        "partner": { "id": partner.into(), "name": "as typed" },
    })
}

#[test]
fn customer_needs_agreement_cases() {
    const CHECK: &str = "customer_needs_agreement";
    let wwi = "Wide World Importers";
    let cases = vec![
        case("related, agreement not accepted", CHECK, agreement(id(CUSTOMER), id(RESELLER)), vec![]),
        case(
            "the partner id with surrounding blanks",
            CHECK,
            agreement(id(CUSTOMER), format!("  {RESELLER} ")),
            vec![],
        ),
        case(
            "customer id not a UUID",
            CHECK,
            agreement("wwi", id(RESELLER)),
            vec![refusal("customer.id", "invalid_customer_id", &[&"`customer.id`", &"accord customers"])],
        ),
        case(
            "customer id missing: the partner is not looked at",
            CHECK,
            json!({ "partner": { "id": "whatever" } }),
            vec![refusal("customer.id", "invalid_customer_id", &[&"`customer.id`"])],
        ),
        case(
            "unknown customer: the partner is not looked at",
            CHECK,
            agreement(id(NOBODY), id(NOBODY)),
            vec![refusal("customer.id", "unknown_customer", &[&format!("no customer with id {NOBODY}")])],
        ),
        case(
            "agreement already accepted",
            CHECK,
            agreement(id(SIGNED_CUSTOMER), id(RESELLER)),
            vec![refusal(
                "customer.id",
                "agreement_already_accepted",
                &[&"Coho Winery accepted the customer agreement already", &SIGNED_AT_TEXT],
            )],
        ),
        case(
            "a partner the customer does not work with",
            CHECK,
            agreement(id(CUSTOMER), id(PROVIDER)),
            vec![refusal(
                "partner.id",
                "not_related",
                &[&format!("{PROVIDER} has no relationship with {wwi}"), &"invite the customer instead"],
            )],
        ),
        case(
            "a removed relationship (admin privileges remaining) does not count",
            CHECK,
            agreement(id(CUSTOMER), id(DE_PROVIDER)),
            vec![refusal("partner.id", "not_related", &[&DE_PROVIDER, &wwi])],
        ),
        case(
            "an unknown partner",
            CHECK,
            agreement(id(CUSTOMER), id(NOBODY)),
            vec![refusal("partner.id", "not_related", &[&NOBODY, &wwi])],
        ),
        case(
            "partner id missing",
            CHECK,
            json!({ "customer": { "id": CUSTOMER.to_string() } }),
            vec![refusal("partner.id", "invalid_partner_id", &[&"`partner.id`", &"accord partners"])],
        ),
        case(
            "partner id not a UUID",
            CHECK,
            agreement(id(CUSTOMER), "contoso"),
            vec![refusal("partner.id", "invalid_partner_id", &[&"`partner.id`"])],
        ),
        case(
            "the partner id in capitals names the same partner",
            CHECK,
            agreement(id(CUSTOMER), RESELLER.to_string().to_uppercase()),
            vec![],
        ),
        case(
            "agreement accepted and not related: both reported",
            CHECK,
            agreement(id(SIGNED_CUSTOMER), id(PROVIDER)),
            vec![
                refusal("customer.id", "agreement_already_accepted", &[&"Coho Winery"]),
                refusal("partner.id", "not_related", &[&"Coho Winery"]),
            ],
        ),
    ];
    run_cases(cases);
}
