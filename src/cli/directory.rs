//! `accord partners`, `accord customers` and `accord audit`: the directory from the command
//! line, through the same commands as the API.

use clap::Subcommand;
use serde_json::{json, Value};

use super::print;
use accord::app::{self, App};
use accord::clock::Timestamp;
use accord::config::Config;
use accord::directory::commands::{self, AddCustomer, AddUser, RemoveCustomer};
use accord::directory::{Actor, PartnerKind, PartnerUserRecord};
use accord::engine::StartRequest;

#[derive(Debug, Subcommand)]
pub enum PartnersCommand {
    /// Add an indirect provider (providers deal with Microsoft directly; resellers enroll)
    ///
    /// Example: accord partners add-provider --legal-name "Fabrikam Distribution" --country IT
    ///   --mpn-id 7654321 --tenant-domain fabrikam.example --serves IT,SM,VA
    ///   --admin-name "Luca Verdi" --admin-email luca@fabrikam.example
    AddProvider {
        #[arg(long)]
        legal_name: String,
        /// Legal country (ISO 3166-1 alpha-2)
        #[arg(long)]
        country: String,
        #[arg(long)]
        mpn_id: String,
        #[arg(long)]
        tenant_domain: String,
        /// Countries whose resellers it may serve, comma-separated ISO codes
        #[arg(long, value_delimiter = ',')]
        serves: Vec<String>,
        /// Its global admin (also an admin agent)
        #[arg(long)]
        admin_name: String,
        #[arg(long)]
        admin_email: String,
    },
    /// Add a user with roles to a partner's account (by one of its admin agents or user admins)
    ///
    /// Example: accord partners add-user PARTNER --by admin@contoso.it --name "Sara Neri"
    ///   --email sara@contoso.it --roles sales_agent
    AddUser {
        partner: uuid::Uuid,
        /// The partner's admin agent or user admin adding the user
        #[arg(long)]
        by: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Comma-separated: global_admin, user_admin, admin_agent, sales_agent
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Change a user's roles (by one of the partner's global admins, admin agents or user
    /// admins); a partner keeps at least one global admin
    ///
    /// Example: accord partners set-roles PARTNER sara@contoso.it --by admin@contoso.it
    ///   --roles admin_agent,sales_agent
    SetRoles {
        partner: uuid::Uuid,
        /// The user whose roles change
        email: String,
        /// The partner's user making the change
        #[arg(long)]
        by: String,
        /// Comma-separated: global_admin, user_admin, admin_agent, sales_agent
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
    /// Remove a user from a partner's account; their partner keys stop working at once
    ///
    /// Example: accord partners remove-user PARTNER sara@contoso.it --by admin@contoso.it
    RemoveUser {
        partner: uuid::Uuid,
        email: String,
        /// The partner's user removing them (global admin, admin agent or user admin)
        #[arg(long)]
        by: String,
    },
    /// A reseller's Indirect providers (with whether each keeps admin access)
    Providers { reseller: uuid::Uuid },
    /// A provider's Indirect resellers
    Resellers { provider: uuid::Uuid },
    /// A partner's Customers, with the relationship type and delegated admin privileges (DAP)
    ///
    /// With --provider: the customers a reseller shares with that indirect provider.
    Customers {
        partner: uuid::Uuid,
        #[arg(long)]
        provider: Option<uuid::Uuid>,
    },
    /// A reseller removes its indirect provider's admin access to its work account; the
    /// relationship stays
    RemoveAdminAccess { reseller: uuid::Uuid, provider: uuid::Uuid },
    /// A partner ends its relationship with a customer. Delegated admin privileges stay as they
    /// are and no notice is sent: give the customer any notice your agreement requires
    ///
    /// Example: accord partners remove-customer PARTNER CUSTOMER --by admin@contoso.it
    ///   --reason "contract ended" --attest
    RemoveCustomer {
        partner: uuid::Uuid,
        customer: uuid::Uuid,
        /// The partner's user removing it: a global admin or admin agent
        #[arg(long)]
        by: String,
        /// Why; kept in the audit log
        #[arg(long)]
        reason: String,
        /// Attest that the decision was made in good faith, for a legitimate business purpose and
        /// as the agreement with the customer allows
        #[arg(long)]
        attest: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Show a customer, its partners, their relationship types and admin roles
    Show { customer: uuid::Uuid },
    /// Add a customer the partners already work with (its agreement is not signed yet)
    ///
    /// Example: accord customers add --name "Northwind Traders" --domain northwind.onmicrosoft.com
    ///   --country IT --admin-name "Giulia Bianchi" --admin-email giulia@northwind.example
    ///   --relationship PARTNER_ID=advisor
    Add {
        #[arg(long)]
        name: String,
        /// The tenant domain (one customer per tenant)
        #[arg(long)]
        domain: String,
        #[arg(long)]
        country: String,
        /// public, us_government or germany
        #[arg(long, default_value = "public")]
        cloud: String,
        #[arg(long)]
        admin_name: String,
        #[arg(long)]
        admin_email: String,
        /// The customer admin's language, such as it
        #[arg(long)]
        locale: Option<String>,
        /// PARTNER_ID=TYPE[:dap|:no-dap], repeatable. Types: reseller, delegated_admin,
        /// reseller_delegated_admin, advisor, partner, mpsa, pc_oem, line_of_business
        #[arg(long = "relationship", value_name = "PARTNER=TYPE")]
        relationships: Vec<String>,
    },
    /// The customer removes a partner's admin roles (delegated admin privileges); the
    /// relationship stays
    RemoveAdminRoles {
        customer: uuid::Uuid,
        partner: uuid::Uuid,
        /// Who at the customer does it (kept in the audit log)
        #[arg(long)]
        by: Option<String>,
    },
    /// The customer ends a delegated admin or advisor relationship (others: ask the partner)
    DeleteRelationship {
        customer: uuid::Uuid,
        partner: uuid::Uuid,
        #[arg(long)]
        by: Option<String>,
    },
    /// Change the customer's recorded admin contact, on the customer's word: invitations over
    /// its tenant are sent to that person from then on
    ///
    /// Example: accord customers set-contact CUSTOMER --name "Marco Gialli"
    ///   --email marco@northwind.example --by giulia@northwind.example
    SetContact {
        customer: uuid::Uuid,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Who at the customer asked for the change (kept in the audit log)
        #[arg(long)]
        by: Option<String>,
    },
    /// Email the customer's admin a link to accept the customer agreement
    RequestAgreement {
        customer: uuid::Uuid,
        /// The partner the customer works with
        #[arg(long)]
        partner: uuid::Uuid,
    },
}

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

/// The CLI acts for the operator at the database; `by` names the person, if any.
fn actor(by: &Option<String>) -> Actor {
    Actor::new(by.as_deref().unwrap_or_default().trim(), "cli")
}

pub async fn partners(
    config: Config,
    kind: Option<String>,
    action: Option<PartnersCommand>,
    json: bool,
) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let store = store.as_ref();
    match action {
        None => {
            let kind = kind.map(|k| k.parse::<PartnerKind>()).transpose().map_err(anyhow::Error::msg)?;
            let mut items = Vec::new();
            for partner in store.partners(kind).await? {
                let users = store.partner_users(partner.id).await?;
                items.push((partner, users));
            }
            let value: Vec<Value> = items
                .iter()
                .map(|(partner, users)| {
                    let mut item = json!(partner);
                    item["users"] = json!(users);
                    item
                })
                .collect();
            print(json, &value, || {
                items
                    .iter()
                    .map(|(p, users)| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            p.id,
                            p.kind,
                            p.status,
                            p.country,
                            p.legal_name,
                            users_line(users)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Some(PartnersCommand::AddProvider {
            legal_name,
            country,
            mpn_id,
            tenant_domain,
            serves,
            admin_name,
            admin_email,
        }) => {
            use accord::directory::{NewPartner, NewUser, PartnerStatus, Role};
            let country_code = |c: &str| {
                accord::workflow::input::parse_country(c)
                    .ok_or_else(|| anyhow::anyhow!("`{c}` is not an ISO 3166-1 alpha-2 country code such as IT"))
            };
            let country = country_code(&country)?;
            let serves = serves.iter().map(|c| country_code(c)).collect::<anyhow::Result<Vec<_>>>()?;
            anyhow::ensure!(!serves.is_empty(), "--serves needs at least one country, such as --serves IT,SM");
            anyhow::ensure!(
                !mpn_id.is_empty() && mpn_id.chars().all(|c| c.is_ascii_digit()),
                "--mpn-id must be digits"
            );
            let email = commands::parse_address(&admin_email, "admin-email")?;
            let legal_name = commands::plain_text(&legal_name, "legal-name", accord::workflow::TextLimit::NAME)?;
            let admin_name = commands::plain_text(&admin_name, "admin-name", accord::workflow::TextLimit::NAME)?;
            let partner = NewPartner {
                id: uuid::Uuid::new_v4(),
                kind: PartnerKind::IndirectProvider,
                legal_name,
                country,
                mpn_id,
                tenant_domain,
                status: PartnerStatus::Active,
                served_countries: serves,
                users: vec![NewUser { email, name: admin_name, roles: vec![Role::GlobalAdmin, Role::AdminAgent] }],
            };
            store.create_partner(&partner, &Actor::system("cli"), now()).await?;
            print(json, &json!({ "id": partner.id, "kind": partner.kind, "legal_name": partner.legal_name }), || {
                partner.id.to_string()
            });
        }
        Some(PartnersCommand::AddUser { partner, by, name, email, roles }) => {
            let add = AddUser { partner, by, name, email, roles };
            let users = commands::add_user(store, &add, "cli", now()).await?;
            print(json, &users, || users_line(&users));
        }
        Some(PartnersCommand::SetRoles { partner, email, by, roles }) => {
            let set = commands::SetRoles { partner, email, by, roles };
            let users = commands::set_user_roles(store, &set, "cli", now()).await?;
            print(json, &users, || users_line(&users));
        }
        Some(PartnersCommand::RemoveUser { partner, email, by }) => {
            let users = commands::remove_user(store, partner, &email, &by, "cli", now()).await?;
            print(json, &users, || users_line(&users));
        }
        Some(PartnersCommand::Providers { reseller }) => {
            let items = commands::related_partners(store, reseller, PartnerKind::IndirectProvider).await?;
            print(json, &items, || {
                lines(items.iter().map(|r| {
                    let access = if r.admin_access { "admin access" } else { "no admin access" };
                    format!("{}\t{}\t{}\t{access}", r.partner.id, r.partner.legal_name, r.partner.country)
                }))
            });
        }
        Some(PartnersCommand::Resellers { provider }) => {
            let items = commands::related_partners(store, provider, PartnerKind::IndirectReseller).await?;
            print(json, &items, || {
                lines(
                    items.iter().map(|r| format!("{}\t{}\t{}", r.partner.id, r.partner.legal_name, r.partner.country)),
                )
            });
        }
        Some(PartnersCommand::Customers { partner, provider }) => {
            let items = commands::customers_of(store, partner, provider).await?;
            print(json, &items, || {
                lines(items.iter().map(|c| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.customer.id,
                        c.customer.name,
                        c.customer.domain,
                        commands::kind_label(c.relationship),
                        if c.dap { "DAP" } else { "no DAP" }
                    )
                }))
            });
        }
        Some(PartnersCommand::RemoveAdminAccess { reseller, provider }) => {
            commands::remove_admin_access(store, reseller, provider, &Actor::system("cli"), now()).await?;
            print(json, &json!({ "reseller": reseller, "provider": provider, "admin_access": false }), || {
                "admin access removed; the provider relationship stays".into()
            });
        }
        Some(PartnersCommand::RemoveCustomer { partner, customer, by, reason, attest }) => {
            let command = RemoveCustomer { partner, customer, by, reason, attest };
            commands::remove_customer_relationship(store, &command, "cli", now()).await?;
            print(
                json,
                &json!({ "partner": partner, "customer": customer, "removed": true, "notice_sent": false }),
                || {
                    "relationship removed; delegated admin privileges are unchanged and no notice was sent to the customer"
                    .into()
                },
            );
        }
    }
    Ok(())
}

pub async fn customers(config: Config, action: Option<CustomersCommand>, json: bool) -> anyhow::Result<()> {
    // The engine too: requesting the agreement starts a workflow.
    let app = App::build(config).await?;
    let store = app.engine.store().as_ref();
    match action {
        None => {
            let items = store.customers().await?;
            print(json, &items, || {
                lines(items.iter().map(|c| {
                    let agreement =
                        if c.agreement_accepted_at.is_some() { "agreement accepted" } else { "no agreement" };
                    format!("{}\t{}\t{}\t{}\t{agreement}", c.id, c.name, c.domain, c.cloud)
                }))
            });
        }
        Some(CustomersCommand::Show { customer }) => show_customer(store, customer, json).await?,
        Some(CustomersCommand::Add {
            name,
            domain,
            country,
            cloud,
            admin_name,
            admin_email,
            locale,
            relationships,
        }) => {
            let relationships = relationships.iter().map(|r| parse_relationship(r)).collect::<anyhow::Result<_>>()?;
            let add = AddCustomer { name, domain, country, cloud, admin_name, admin_email, locale, relationships };
            let created = commands::add_customer(store, &add, &Actor::system("cli"), now()).await?;
            print(json, &created, || created.id.to_string());
        }
        Some(CustomersCommand::RemoveAdminRoles { customer, partner, by }) => {
            commands::remove_admin_roles(store, customer, partner, &actor(&by), now()).await?;
            show_customer(store, customer, json).await?;
        }
        Some(CustomersCommand::DeleteRelationship { customer, partner, by }) => {
            commands::delete_customer_relationship(store, customer, partner, &actor(&by), now()).await?;
            show_customer(store, customer, json).await?;
        }
        Some(CustomersCommand::SetContact { customer, name, email, by }) => {
            commands::set_customer_contact(store, customer, &name, &email, &actor(&by), now()).await?;
            show_customer(store, customer, json).await?;
        }
        Some(CustomersCommand::RequestAgreement { customer, partner }) => {
            let input = commands::agreement_request(store, customer, partner).await?;
            let request = StartRequest {
                workflow: "customer_agreement".into(),
                input,
                idempotency_key: None,
                actor: "cli".into(),
            };
            let outcome = app.engine.start(request).await?;
            print(json, &outcome.instance, || format!("{}\t{}", outcome.instance.id, outcome.instance.state));
        }
    }
    Ok(())
}

/// `accord providers --country IT`: the provider finder.
pub async fn find_providers(config: Config, country: String, json: bool) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let items = accord::directory::finder::providers_serving(store.as_ref(), &country).await?;
    print(json, &items, || {
        if items.is_empty() {
            return format!("no active indirect provider serves {}\n", country.trim().to_ascii_uppercase());
        }
        lines(items.iter().map(|p| {
            let from = match p.serves_from {
                accord::directory::finder::ServedFrom::Directory => "",
                accord::directory::finder::ServedFrom::Region => " (its CSP region)",
            };
            format!("{}\t{}\t{}\tMPN {}\tserves {}{from}", p.id, p.legal_name, p.country, p.mpn_id, p.serves.join(","))
        }))
    });
    Ok(())
}

pub async fn audit(config: Config, subject: String, json: bool) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let items = store.audit_log(&subject).await?;
    print(json, &items, || {
        lines(items.iter().map(|a| {
            let reason = a.reason.as_deref().map(|r| format!("\treason: {r}")).unwrap_or_default();
            let actor = if a.actor.is_empty() { "-" } else { &a.actor };
            format!("{}\t{actor}\t{}\t{}{reason}\t{}", a.at, a.principal, a.action, a.data)
        }))
    });
    Ok(())
}

async fn show_customer(store: &dyn accord::store::Store, customer: uuid::Uuid, json: bool) -> anyhow::Result<()> {
    let view = commands::customer_view(store, customer).await?;
    print(json, &view, || {
        let c = &view.customer;
        let agreement = if c.agreement_accepted_at.is_some() { "accepted" } else { "not accepted" };
        let mut text = format!(
            "customer  {}\nname      {}\ndomain    {} ({} cloud)\nadmin     {} <{}>\nagreement {agreement}\n",
            c.id, c.name, c.domain, c.cloud, c.admin_name, c.admin_email,
        );
        for p in &view.partners {
            let roles = if p.dap { "admin roles" } else { "no admin roles" };
            let removed = if p.removed_at.is_some() { " (relationship removed)" } else { "" };
            text.push_str(&format!(
                "partner   {}\t{}\t{}\t{roles}{removed}\n",
                p.partner_id,
                p.legal_name,
                commands::kind_label(p.relationship)
            ));
        }
        text.trim_end().to_owned()
    });
    Ok(())
}

/// `PARTNER_ID=TYPE[:dap|:no-dap]`.
fn parse_relationship(text: &str) -> anyhow::Result<(uuid::Uuid, String, Option<bool>)> {
    let (partner, rest) = text
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--relationship `{text}`: write PARTNER_ID=TYPE, such as ID=advisor"))?;
    let partner = uuid::Uuid::parse_str(partner.trim())
        .map_err(|_| anyhow::anyhow!("--relationship `{text}`: `{partner}` is not a partner id"))?;
    let (kind, dap) = match rest.split_once(':') {
        None => (rest, None),
        Some((kind, "dap")) => (kind, Some(true)),
        Some((kind, "no-dap")) => (kind, Some(false)),
        Some((_, other)) => anyhow::bail!("--relationship `{text}`: `{other}` must be dap or no-dap"),
    };
    Ok((partner, kind.trim().to_owned(), dap))
}

fn users_line(users: &[PartnerUserRecord]) -> String {
    users
        .iter()
        .map(|u| format!("{} ({})", u.email, u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn lines(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("\n")
}
