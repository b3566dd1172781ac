//! The CSP start checks over a directory held in memory: every refusal each check can give, the
//! accepted case, problems reported together, and read errors passed on.

use std::sync::Arc;

use futures::executor::block_on;
use serde_json::{json, Value};
use uuid::Uuid;

use super::registry;
use crate::directory::{
    Cloud, CustomerPartner, CustomerRecord, CustomerRelationshipKind, DirectoryReader, PartnerKind, PartnerRecord,
    PartnerStatus, PartnerUserRecord, ReadError, RelationshipRecord, Role,
};
use crate::time::Timestamp;
use crate::workflow::FieldError;

// ---------------------------------------------------------------------------------------------
// The directory in memory
// ---------------------------------------------------------------------------------------------

const READS: [&str; 5] = ["partner", "relationships", "partner_users", "customer", "customer_partners"];

/// A few directory records in memory. `failing` names the reads that fail, as a store whose
/// database is down would.
#[derive(Clone, Default)]
struct Directory {
    partners: Vec<PartnerRecord>,
    relationships: Vec<RelationshipRecord>,
    users: Vec<PartnerUserRecord>,
    customers: Vec<CustomerRecord>,
    customer_partners: Vec<(Uuid, CustomerPartner)>,
    failing: Vec<&'static str>,
}

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

impl Directory {
    fn add_partner(
        mut self,
        id: Uuid,
        kind: PartnerKind,
        legal_name: &str,
        country: &str,
        status: PartnerStatus,
    ) -> Self {
        self.partners.push(PartnerRecord {
            id,
            kind,
            legal_name: legal_name.into(),
            country: country.into(),
            mpn_id: "1234567".into(),
            tenant_domain: format!("{}.onmicrosoft.com", id.simple()),
            status,
            served_countries: Vec::new(),
            enrollment_id: None,
            created_at: T0,
            updated_at: T0,
        });
        self
    }

    fn provider(self, id: Uuid, legal_name: &str, serves: &[&str]) -> Self {
        let mut this = self.add_partner(id, PartnerKind::IndirectProvider, legal_name, "IT", PartnerStatus::Active);
        this.partners.last_mut().unwrap().served_countries = serves.iter().map(|c| c.to_string()).collect();
        this
    }

    fn reseller(self, id: Uuid, legal_name: &str, country: &str) -> Self {
        self.add_partner(id, PartnerKind::IndirectReseller, legal_name, country, PartnerStatus::Active)
    }

    /// The reseller authorised the provider.
    fn related(mut self, reseller: Uuid, provider: Uuid) -> Self {
        self.relationships.push(RelationshipRecord {
            id: Uuid::new_v4(),
            kind: "reseller_provider".into(),
            reseller_id: reseller,
            provider_id: Some(provider),
            admin_access: true,
            created_at: T0,
        });
        self
    }

    fn user(mut self, partner: Uuid, email: &str, roles: &[Role]) -> Self {
        self.users.push(PartnerUserRecord {
            partner_id: partner,
            email: email.into(),
            name: email.split('@').next().unwrap_or_default().into(),
            roles: roles.to_vec(),
            created_at: T0,
        });
        self
    }

    fn add_customer(mut self, id: Uuid, name: &str, agreement_accepted_at: Option<Timestamp>) -> Self {
        self.customers.push(CustomerRecord {
            id,
            name: name.into(),
            domain: format!("{}.onmicrosoft.com", id.simple()),
            country: "IT".into(),
            cloud: Cloud::Public,
            admin_name: "Admin".into(),
            admin_email: "admin@example.com".into(),
            locale: None,
            agreement_accepted_at,
            agreement_accepted_by: agreement_accepted_at.map(|_| "admin@example.com".into()),
            created_at: T0,
            updated_at: T0,
        });
        self
    }

    /// The customer works with the partner; `removed_at` set: the partner ended it, but its admin
    /// privileges remain, so it still shows.
    fn customer_partner(mut self, customer: Uuid, partner: Uuid, removed_at: Option<Timestamp>) -> Self {
        let legal_name =
            self.partners.iter().find(|p| p.id == partner).map(|p| p.legal_name.clone()).unwrap_or_default();
        self.customer_partners.push((
            customer,
            CustomerPartner {
                partner_id: partner,
                legal_name,
                relationship: CustomerRelationshipKind::ResellerDelegatedAdmin,
                dap: true,
                related_at: T0,
                removed_at,
            },
        ));
        self
    }

    fn failing(mut self, reads: &[&'static str]) -> Self {
        self.failing.extend_from_slice(reads);
        self
    }

    fn read(&self, what: &str) -> Result<(), ReadError> {
        if self.failing.contains(&what) {
            return Err(ReadError::new(std::io::Error::other(format!("database is down ({what})"))));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl DirectoryReader for Directory {
    async fn partner(&self, id: Uuid) -> Result<Option<PartnerRecord>, ReadError> {
        self.read("partner")?;
        Ok(self.partners.iter().find(|p| p.id == id).cloned())
    }

    /// Either side, as the store does.
    async fn relationships(&self, partner: Uuid) -> Result<Vec<RelationshipRecord>, ReadError> {
        self.read("relationships")?;
        Ok(self
            .relationships
            .iter()
            .filter(|r| r.reseller_id == partner || r.provider_id == Some(partner))
            .cloned()
            .collect())
    }

    async fn partner_users(&self, partner: Uuid) -> Result<Vec<PartnerUserRecord>, ReadError> {
        self.read("partner_users")?;
        Ok(self.users.iter().filter(|u| u.partner_id == partner).cloned().collect())
    }

    async fn customer(&self, id: Uuid) -> Result<Option<CustomerRecord>, ReadError> {
        self.read("customer")?;
        Ok(self.customers.iter().find(|c| c.id == id).cloned())
    }

    async fn customer_partners(&self, customer: Uuid) -> Result<Vec<CustomerPartner>, ReadError> {
        self.read("customer_partners")?;
        Ok(self.customer_partners.iter().filter(|(c, _)| *c == customer).map(|(_, p)| p.clone()).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

const PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0001);
const DE_PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0002);
const PENDING_PROVIDER: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0003);
const RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0001);
const RELATED_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0002);
const PENDING_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0003);
const FRENCH_RESELLER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0004);
const CUSTOMER: Uuid = Uuid::from_u128(0x0c00_0000_0000_4000_8000_0000_0000_0001);
const SIGNED_CUSTOMER: Uuid = Uuid::from_u128(0x0c00_0000_0000_4000_8000_0000_0000_0002);
const NOBODY: Uuid = Uuid::from_u128(0x0d00_0000_0000_4000_8000_0000_0000_0009);

/// When Coho Winery accepted the customer agreement, and how messages show it.
const SIGNED_AT: Timestamp = Timestamp::from_millis(1_710_000_000_000);
const SIGNED_AT_TEXT: &str = "2024-03-09T16:00:00.000Z";

/// Providers serving Italy/France and Germany/Austria, a pending one; an Italian reseller with a
/// user in each role, an Italian reseller already authorising `PROVIDER`, a pending reseller, a
/// French one; a customer working with `RESELLER` (and formerly `DE_PROVIDER`), and one that has
/// signed the customer agreement.
fn world() -> Directory {
    Directory::default()
        .provider(PROVIDER, "Northwind Distribution S.p.A.", &["IT", "FR"])
        .provider(DE_PROVIDER, "Fabrikam Distribution GmbH", &["DE", "AT"])
        .add_partner(
            PENDING_PROVIDER,
            PartnerKind::IndirectProvider,
            "Litware Ltd",
            "GB",
            PartnerStatus::PendingAgreement,
        )
        .reseller(RESELLER, "Contoso Cloud S.r.l.", "IT")
        .user(RESELLER, "gina@contoso.it", &[Role::GlobalAdmin])
        .user(RESELLER, "aldo@contoso.it", &[Role::AdminAgent])
        .user(RESELLER, "sara@contoso.it", &[Role::SalesAgent, Role::UserAdmin])
        .user(RESELLER, "nora@contoso.it", &[])
        .reseller(RELATED_RESELLER, "Adatum Servizi S.r.l.", "IT")
        .user(RELATED_RESELLER, "ada@adatum.it", &[Role::GlobalAdmin, Role::AdminAgent])
        .related(RELATED_RESELLER, PROVIDER)
        .add_partner(
            PENDING_RESELLER,
            PartnerKind::IndirectReseller,
            "Tailspin Toys S.r.l.",
            "IT",
            PartnerStatus::PendingAgreement,
        )
        .reseller(FRENCH_RESELLER, "Coho Vineyard SARL", "FR")
        .add_customer(CUSTOMER, "Wide World Importers", None)
        .customer_partner(CUSTOMER, RESELLER, None)
        .customer_partner(CUSTOMER, DE_PROVIDER, Some(T0))
        .add_customer(SIGNED_CUSTOMER, "Coho Winery", Some(SIGNED_AT))
        .customer_partner(SIGNED_CUSTOMER, RESELLER, None)
}

// ---------------------------------------------------------------------------------------------
// Running the checks
// ---------------------------------------------------------------------------------------------

/// Runs the start check registered as `name`, the way the engine finds it.
fn run(name: &str, directory: Directory, input: Value) -> Result<Vec<FieldError>, ReadError> {
    let check = registry().find_start_check(name).unwrap_or_else(|| panic!("no start check `{name}`"));
    block_on(check(input, Arc::new(directory)))
}

/// One expected refusal: the field, the code, and what its message must mention.
type Expected = (&'static str, &'static str, Vec<String>);

fn refusal(field: &'static str, code: &'static str, mentions: &[&dyn ToString]) -> Expected {
    (field, code, mentions.iter().map(|m| m.to_string()).collect())
}

struct Case {
    name: &'static str,
    check: &'static str,
    /// Changes to [`world`] this case needs.
    setup: fn(Directory) -> Directory,
    input: Value,
    /// Every refusal, in the order the check reports them; empty: the start may go ahead.
    expected: Vec<Expected>,
}

fn same(directory: Directory) -> Directory {
    directory
}

fn case(name: &'static str, check: &'static str, input: Value, expected: Vec<Expected>) -> Case {
    Case { name, check, setup: same, input, expected }
}

fn run_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let errors = match run(case.check, (case.setup)(world()), case.input.clone()) {
            Ok(errors) => errors,
            Err(err) => {
                failures.push(format!("{} ({}): read error {err}", case.name, case.check));
                continue;
            }
        };
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        let want: Vec<(&str, &str)> = case.expected.iter().map(|(f, c, _)| (*f, *c)).collect();
        if got != want {
            failures
                .push(format!("{} ({}): refused {got:?}, expected {want:?}\n    {errors:#?}", case.name, case.check));
            continue;
        }
        for (error, (_, _, mentions)) in errors.iter().zip(&case.expected) {
            for mention in mentions {
                if !error.message.contains(mention.as_str()) {
                    failures.push(format!(
                        "{} ({}): the {} message does not mention {mention:?}: {:?}",
                        case.name, case.check, error.code, error.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// provider_may_invite
// ---------------------------------------------------------------------------------------------

fn provider_invite(provider: impl Into<Value>, reseller: impl Into<Value>) -> Value {
    json!({ "provider": { "id": provider.into(), "name": "as typed" }, "reseller": { "id": reseller.into() } })
}

fn id(id: Uuid) -> Value {
    Value::String(id.to_string())
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

// ---------------------------------------------------------------------------------------------
// reseller_may_invite_customer and reseller_and_provider_may_invite_customer
// ---------------------------------------------------------------------------------------------

/// A customer invitation from `sender` for `reseller`; `extra` is merged in at the top level
/// (`provider`, `dap`, `customer.cloud`).
fn customer_invite(reseller: impl Into<Value>, sender: &str, extra: Value) -> Value {
    let mut input = json!({
        "reseller": { "id": reseller.into(), "name": "as typed" },
        "sender": { "email": sender },
        "customer": { "name": "Wide World Importers", "domain": "wwi.example", "country": "IT" },
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

// ---------------------------------------------------------------------------------------------
// customer_needs_agreement
// ---------------------------------------------------------------------------------------------

fn agreement(customer: impl Into<Value>, partner: impl Into<Value>) -> Value {
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

// ---------------------------------------------------------------------------------------------
// The registry and read errors
// ---------------------------------------------------------------------------------------------

const CHECKS: [&str; 4] = [
    "customer_needs_agreement",
    "provider_may_invite",
    "reseller_and_provider_may_invite_customer",
    "reseller_may_invite_customer",
];

#[test]
fn registry_holds_the_four_start_checks() {
    let names = registry().start_check_names();
    for name in CHECKS {
        assert!(names.contains(&name), "`{name}` is not registered: {names:?}");
    }
}

/// An input each check accepts against [`world`], so every read it makes happens.
fn accepted_input(check: &str) -> Value {
    match check {
        "provider_may_invite" => provider_invite(id(PROVIDER), id(RESELLER)),
        "reseller_may_invite_customer" => customer_invite(id(RESELLER), "gina@contoso.it", json!({})),
        "reseller_and_provider_may_invite_customer" => customer_invite(
            id(RELATED_RESELLER),
            "ada@adatum.it",
            json!({ "provider": { "id": PROVIDER.to_string() } }),
        ),
        "customer_needs_agreement" => agreement(id(CUSTOMER), id(RESELLER)),
        other => panic!("no accepted input for `{other}`"),
    }
}

#[test]
fn read_errors_are_passed_on_not_turned_into_refusals() {
    let mut checked = 0;
    for check in CHECKS {
        let input = accepted_input(check);
        assert_eq!(run(check, world(), input.clone()).map_err(|e| e.to_string()), Ok(vec![]), "{check}");
        let uses = match check {
            "provider_may_invite" => &["partner", "relationships"][..],
            "reseller_may_invite_customer" => &["partner", "partner_users"][..],
            "reseller_and_provider_may_invite_customer" => &["partner", "partner_users", "relationships"][..],
            _ => &["customer", "customer_partners"][..],
        };
        // Every read failing, then each read failing alone (a check that does not make that
        // read must still accept).
        let mut failing: Vec<Vec<&'static str>> = vec![READS.to_vec()];
        failing.extend(READS.iter().map(|read| vec![*read]));
        for reads in failing {
            let result = run(check, world().failing(&reads), input.clone());
            if reads.iter().any(|read| uses.contains(read)) {
                match result {
                    Err(err) => assert!(err.to_string().starts_with("database is down"), "{check}: {err}"),
                    Ok(errors) => panic!("{check} with {reads:?} failing: expected a read error, got {errors:?}"),
                }
                checked += 1;
            } else {
                assert_eq!(result.map_err(|e| e.to_string()), Ok(vec![]), "{check} with {reads:?} failing");
            }
        }
    }
    // All failing plus each read it makes, for each check.
    assert_eq!(checked, 3 + 3 + 4 + 3);
}
