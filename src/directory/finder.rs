//! The provider finder (seed 000, "search the list of providers to find one"): the active
//! indirect providers that serve a country, for resellers looking for one. A provider serves the
//! countries the directory records for it, else those of its legal country's CSP region
//! ([`accord_core::regions`]). Only what a provider would publish is shown: its name, country,
//! MPN ID and the countries it serves; never its people.

use serde::Serialize;

use super::commands::CommandError;
use super::{PartnerKind, PartnerStatus};
use crate::store::Store;

pub use accord_core::regions::ServedFrom;

/// A provider that serves the country asked about.
#[derive(Clone, Debug, Serialize)]
pub struct FoundProvider {
    pub id: uuid::Uuid,
    pub legal_name: String,
    pub country: String,
    pub mpn_id: String,
    /// The countries whose resellers it serves.
    pub serves: Vec<String>,
    /// `directory` (recorded for it) or `region` (its CSP region's countries).
    pub serves_from: ServedFrom,
}

/// The country asked about, as an ISO code; a clear refusal otherwise.
pub fn parse_country(text: Option<&str>) -> Result<String, CommandError> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(CommandError::Invalid {
            code: "country_required",
            field: "country",
            message:
                "give the country the provider must serve, as an ISO 3166-1 alpha-2 code such as IT: `?country=IT`"
                    .into(),
        });
    }
    crate::workflow::input::parse_country(text).ok_or_else(|| CommandError::Invalid {
        code: "invalid_country",
        field: "country",
        message: format!("`{text}` is not an ISO 3166-1 alpha-2 country code such as IT, FR or GB"),
    })
}

/// The active indirect providers serving resellers in `country` (an ISO code, any case), by
/// name.
pub async fn providers_serving(store: &dyn Store, country: &str) -> Result<Vec<FoundProvider>, CommandError> {
    let country = parse_country(Some(country))?;
    let regions = accord_core::regions::shipped().map_err(|err| CommandError::Invalid {
        code: "regions_invalid",
        field: "",
        message: err.to_string(),
    })?;
    let mut found = Vec::new();
    for provider in store.partners(Some(PartnerKind::IndirectProvider)).await? {
        if provider.status != PartnerStatus::Active {
            continue;
        }
        let served = regions.served_by(&provider);
        if served.includes(&country) {
            found.push(FoundProvider {
                id: provider.id,
                legal_name: provider.legal_name,
                country: provider.country,
                mpn_id: provider.mpn_id,
                serves: served.countries,
                serves_from: served.from,
            });
        }
    }
    Ok(found)
}
