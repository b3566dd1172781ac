//! The directory in memory: a few records, and reads that can be made to fail.

use super::*;

pub(super) const READS: [&str; 6] =
    ["partner", "relationships", "partner_users", "customer", "customer_by_domain", "customer_partners"];

/// A few directory records in memory. `failing` names the reads that fail, as a store whose
/// database is down would.
#[derive(Clone, Default)]
pub(super) struct Directory {
    partners: Vec<PartnerRecord>,
    relationships: Vec<RelationshipRecord>,
    users: Vec<PartnerUserRecord>,
    customers: Vec<CustomerRecord>,
    customer_partners: Vec<(Uuid, CustomerPartner)>,
    failing: Vec<&'static str>,
}

pub(super) const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

impl Directory {
    pub(super) fn add_partner(
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

    pub(super) fn provider(self, id: Uuid, legal_name: &str, serves: &[&str]) -> Self {
        let mut this = self.add_partner(id, PartnerKind::IndirectProvider, legal_name, "IT", PartnerStatus::Active);
        this.partners.last_mut().unwrap().served_countries = serves.iter().map(|c| c.to_string()).collect();
        this
    }

    /// Gives the partner `id` the MPN ID `mpn`.
    pub(super) fn mpn(mut self, id: Uuid, mpn: &str) -> Self {
        if let Some(partner) = self.partners.iter_mut().find(|p| p.id == id) {
            partner.mpn_id = mpn.into();
        }
        self
    }

    pub(super) fn reseller(self, id: Uuid, legal_name: &str, country: &str) -> Self {
        self.add_partner(id, PartnerKind::IndirectReseller, legal_name, country, PartnerStatus::Active)
    }

    /// The reseller authorised the provider.
    pub(super) fn related(mut self, reseller: Uuid, provider: Uuid) -> Self {
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

    pub(super) fn user(mut self, partner: Uuid, email: &str, roles: &[Role]) -> Self {
        self.users.push(PartnerUserRecord {
            partner_id: partner,
            email: email.into(),
            name: email.split('@').next().unwrap_or_default().into(),
            roles: roles.to_vec(),
            created_at: T0,
        });
        self
    }

    pub(super) fn add_customer(mut self, id: Uuid, name: &str, agreement_accepted_at: Option<Timestamp>) -> Self {
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
    pub(super) fn customer_partner(mut self, customer: Uuid, partner: Uuid, removed_at: Option<Timestamp>) -> Self {
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

    pub(super) fn failing(mut self, reads: &[&'static str]) -> Self {
        self.failing.extend_from_slice(reads);
        self
    }

    pub(super) fn read(&self, what: &str) -> Result<(), ReadError> {
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

    async fn partners_by_mpn(&self, mpn_id: &str) -> Result<Vec<PartnerRecord>, ReadError> {
        self.read("partners_by_mpn")?;
        Ok(self.partners.iter().filter(|p| p.mpn_id == mpn_id).cloned().collect())
    }

    async fn customer(&self, id: Uuid) -> Result<Option<CustomerRecord>, ReadError> {
        self.read("customer")?;
        Ok(self.customers.iter().find(|c| c.id == id).cloned())
    }

    async fn customer_by_domain(&self, domain: &str) -> Result<Option<CustomerRecord>, ReadError> {
        self.read("customer_by_domain")?;
        Ok(self.customers.iter().find(|c| c.domain == domain).cloned())
    }

    async fn customer_partners(&self, customer: Uuid) -> Result<Vec<CustomerPartner>, ReadError> {
        self.read("customer_partners")?;
        Ok(self.customer_partners.iter().filter(|(c, _)| *c == customer).map(|(_, p)| p.clone()).collect())
    }
}
