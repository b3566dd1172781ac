//! Cloud Solution Provider regions: a partner's legal country decides where it may do business
//! (seed 001). The regions are data (`data/csp_regions.toml` in this crate, compiled in), read
//! and checked once; the rules ask [`Regions::region_of`] and [`Regions::serves`].
//!
//! A country absent from every region is a region of its own: its partners may work only with
//! customers in the same country. That is the strict reading, so a gap in the file refuses an
//! invitation rather than allowing one it should not.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// The shipped file's text (see its header for the format and the source it names).
pub const SHIPPED_TOML: &str = include_str!("../data/csp_regions.toml");

/// A region: its key in the file, its name per locale, its countries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    pub key: String,
    pub name: BTreeMap<String, String>,
    pub countries: Vec<String>,
}

impl Region {
    /// The region's name in `locale` (`it-CH` -> `it`), else in English.
    pub fn name_in(&self, locale: &str) -> &str {
        let language = locale.split(['-', '_']).next().unwrap_or("en").to_ascii_lowercase();
        self.name.get(&language).or_else(|| self.name.get("en")).map(String::as_str).unwrap_or(&self.key)
    }
}

/// Where a partner of one country may do business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Market<'a> {
    /// A region of the file.
    Region(&'a Region),
    /// A country the file does not list: that country alone.
    Country(String),
}

impl Market<'_> {
    /// Whether a customer in `country` is inside this market.
    pub fn contains(&self, country: &str) -> bool {
        match self {
            Market::Region(region) => region.countries.iter().any(|c| c.eq_ignore_ascii_case(country)),
            Market::Country(own) => own.eq_ignore_ascii_case(country),
        }
    }

    /// How messages name it: "Europe (EU/EFTA)", or "IT only" for a country on its own.
    pub fn describe(&self, locale: &str) -> String {
        match self {
            Market::Region(region) => region.name_in(locale).to_owned(),
            Market::Country(country) => format!("{country} only"),
        }
    }

    /// The countries it holds.
    pub fn countries(&self) -> Vec<String> {
        match self {
            Market::Region(region) => region.countries.clone(),
            Market::Country(country) => vec![country.clone()],
        }
    }
}

/// The regions file, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Regions {
    /// The page the data was read from, and when (the file's `source`, `url`, `read`).
    pub source: String,
    pub url: String,
    pub read: chrono::NaiveDate,
    pub regions: Vec<Region>,
}

/// Why the regions file was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegionsError {
    #[error("the CSP regions file is not valid TOML or misses a key: {0}")]
    Syntax(String),
    #[error("the CSP regions file: `read` must be a date (YYYY-MM-DD), not `{0}`")]
    Date(String),
    #[error(
        "the CSP regions file: region `{region}` lists `{country}`, which is not an ISO 3166-1 alpha-2 country code"
    )]
    UnknownCountry { region: String, country: String },
    #[error("the CSP regions file: {country} is in two regions, `{first}` and `{second}`; a country belongs to one")]
    TwoRegions { country: String, first: String, second: String },
    #[error("the CSP regions file: region `{0}` lists no country")]
    Empty(String),
    #[error("the CSP regions file: region `{0}` has no English name (`name = {{ en = \"…\" }}`)")]
    NoName(String),
    #[error("the CSP regions file must name its source, its `url` and the date it was `read`")]
    NoSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    source: String,
    url: String,
    read: String,
    regions: BTreeMap<String, RawRegion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    name: BTreeMap<String, String>,
    countries: Vec<String>,
}

impl Regions {
    /// Reads and checks a regions file: every code a country, each country in one region, each
    /// region named and non-empty, the source and the date it was read given.
    pub fn parse(text: &str) -> Result<Self, RegionsError> {
        let raw: RawFile = toml::from_str(text).map_err(|err| RegionsError::Syntax(err.to_string()))?;
        if raw.source.trim().is_empty() || raw.url.trim().is_empty() {
            return Err(RegionsError::NoSource);
        }
        let read = chrono::NaiveDate::parse_from_str(raw.read.trim(), "%Y-%m-%d")
            .map_err(|_| RegionsError::Date(raw.read.clone()))?;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut regions = Vec::new();
        for (key, region) in raw.regions {
            if region.countries.is_empty() {
                return Err(RegionsError::Empty(key));
            }
            if !region.name.contains_key("en") {
                return Err(RegionsError::NoName(key));
            }
            let mut countries = Vec::new();
            for code in region.countries {
                let upper = code.trim().to_ascii_uppercase();
                if upper.len() != 2 || isocountry::CountryCode::for_alpha2(&upper).is_err() {
                    return Err(RegionsError::UnknownCountry { region: key, country: code });
                }
                if let Some(first) = seen.insert(upper.clone(), key.clone()) {
                    return Err(RegionsError::TwoRegions { country: upper, first, second: key });
                }
                countries.push(upper);
            }
            regions.push(Region { key, name: region.name, countries });
        }
        Ok(Self { source: raw.source, url: raw.url, read, regions })
    }

    /// The region a partner whose legal country is `country` does business in.
    pub fn market_of(&self, country: &str) -> Market<'_> {
        self.region_of(country).map(Market::Region).unwrap_or_else(|| Market::Country(country.to_ascii_uppercase()))
    }

    /// The file's region holding `country`, if one does.
    pub fn region_of(&self, country: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.countries.iter().any(|c| c.eq_ignore_ascii_case(country)))
    }

    /// Whether a partner whose legal country is `partner_country` may do business with a
    /// customer in `customer_country`.
    pub fn authorizes(&self, partner_country: &str, customer_country: &str) -> bool {
        self.market_of(partner_country).contains(customer_country)
    }
}

/// Where the countries a provider serves come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServedFrom {
    /// The directory records them for the provider (`--serves`).
    Directory,
    /// The directory records none: the countries of the provider's region.
    Region,
}

/// The countries whose resellers a provider may serve, and where that comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Served {
    pub countries: Vec<String>,
    pub from: ServedFrom,
}

impl Served {
    pub fn includes(&self, country: &str) -> bool {
        self.countries.iter().any(|c| c.eq_ignore_ascii_case(country.trim()))
    }
}

impl Regions {
    /// The countries an indirect provider serves: those the directory records for it, else
    /// those of the region of its legal country.
    pub fn served_by(&self, provider: &crate::directory::PartnerRecord) -> Served {
        if provider.served_countries.is_empty() {
            Served { countries: self.market_of(&provider.country).countries(), from: ServedFrom::Region }
        } else {
            Served { countries: provider.served_countries.clone(), from: ServedFrom::Directory }
        }
    }
}

static SHIPPED: LazyLock<Result<Regions, RegionsError>> = LazyLock::new(|| Regions::parse(SHIPPED_TOML));

/// The shipped regions, read once. `accord serve` and `accord check` call this first and stop on
/// an error; a unit test keeps the shipped file valid.
pub fn shipped() -> Result<&'static Regions, &'static RegionsError> {
    SHIPPED.as_ref()
}

/// Refuses a customer invitation from a reseller whose legal country's region does not hold the
/// customer's country (`region_not_authorized`, on `customer.country`), naming the reseller,
/// its region and the customer's country. `None`: the invitation may go ahead.
pub fn refuse_outside_region(
    regions: &Regions,
    reseller: &str,
    reseller_country: &str,
    customer_country: &str,
) -> Option<crate::workflow::FieldError> {
    let market = regions.market_of(reseller_country);
    if customer_country.trim().is_empty() || market.contains(customer_country.trim()) {
        return None;
    }
    let customer_country = customer_country.trim().to_ascii_uppercase();
    Some(crate::workflow::FieldError::new(
        "customer.country",
        "region_not_authorized",
        format!(
            "{reseller}, whose legal country is {} ({reseller_country}), does CSP business in the region {} and may not \
             invite a customer in {} ({customer_country}): a partner's legal country decides the regions where it may \
             work (countries of its region: {}). A customer in {customer_country} needs a reseller of its own region",
            country_name(reseller_country),
            market.describe("en"),
            country_name(&customer_country),
            market.countries().join(", "),
        ),
    ))
}

/// A country's English name for messages ("United Kingdom"), else its code.
pub fn country_name(code: &str) -> String {
    isocountry::CountryCode::for_alpha2(&code.to_ascii_uppercase())
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_valid_and_names_its_source() {
        let regions = shipped().expect("the shipped regions file parses");
        assert!(regions.source.contains("regional"), "{}", regions.source);
        assert!(regions.url.starts_with("https://"), "{}", regions.url);
        assert_eq!(regions.read.to_string(), "2026-12-03");
        // Seed 001: an Italian reseller may serve Italy and San Marino, never the United Kingdom.
        assert!(regions.authorizes("IT", "SM"));
        assert!(regions.authorizes("it", "fr"));
        assert!(!regions.authorizes("IT", "GB"));
        assert!(!regions.authorizes("GB", "IT"));
        assert!(!regions.authorizes("US", "CA"), "single-country regions");
        assert_eq!(regions.market_of("IT").describe("it-CH"), "Europa (UE/EFTA)");
        assert_eq!(regions.market_of("GB").describe("en"), "United Kingdom");
    }

    #[test]
    fn a_country_no_region_lists_is_a_region_of_its_own() {
        let regions = shipped().expect("valid");
        assert_eq!(regions.market_of("ZA"), Market::Country("ZA".into()));
        assert!(regions.authorizes("ZA", "ZA"));
        assert!(!regions.authorizes("ZA", "NA"));
        assert_eq!(regions.market_of("za").describe("en"), "ZA only");
    }

    fn file(regions: &str) -> String {
        format!("source = \"s\"\nurl = \"https://example.com\"\nread = \"2026-12-03\"\n{regions}")
    }

    #[test]
    fn a_bad_file_is_refused_with_what_is_wrong() {
        let cases = [
            (file("[regions.a]\nname = { en = \"A\" }\ncountries = [\"IT\", \"XX\"]"), "`XX`"),
            (
                file("[regions.a]\nname = { en = \"A\" }\ncountries = [\"IT\"]\n[regions.b]\nname = { en = \"B\" }\ncountries = [\"it\"]"),
                "IT is in two regions, `a` and `b`",
            ),
            (file("[regions.a]\nname = { en = \"A\" }\ncountries = []"), "`a` lists no country"),
            (file("[regions.a]\nname = { it = \"A\" }\ncountries = [\"IT\"]"), "no English name"),
            (file("[regions.a]\nname = { en = \"A\" }\ncountries = [\"IT\"]\ncolour = 1"), "colour"),
            ("url = \"u\"\nread = \"2026-12-03\"\n[regions]".to_owned(), "source"),
            (file("[regions]").replace("2026-12-03", "yesterday"), "`yesterday`"),
            (file("[regions]").replace("source = \"s\"", "source = \" \""), "name its source"),
        ];
        for (text, mention) in cases {
            let err = Regions::parse(&text).expect_err(&text).to_string();
            assert!(err.contains(mention), "{err:?} does not mention {mention:?}");
        }
    }

    fn provider(country: &str, serves: &[&str]) -> crate::directory::PartnerRecord {
        crate::directory::PartnerRecord {
            id: uuid::Uuid::nil(),
            kind: crate::directory::PartnerKind::IndirectProvider,
            legal_name: "Northwind".into(),
            country: country.into(),
            mpn_id: "1".into(),
            tenant_domain: "northwind.example".into(),
            status: crate::directory::PartnerStatus::Active,
            served_countries: serves.iter().map(|c| (*c).to_owned()).collect(),
            enrollment_id: None,
            created_at: crate::time::Timestamp::from_millis(0),
            updated_at: crate::time::Timestamp::from_millis(0),
        }
    }

    #[test]
    fn a_provider_serves_what_the_directory_records_else_its_region() {
        let regions = shipped().expect("valid");
        let recorded = regions.served_by(&provider("IT", &["IT", "SM"]));
        assert_eq!(
            (recorded.from, recorded.includes("sm"), recorded.includes("FR")),
            (ServedFrom::Directory, true, false)
        );
        let derived = regions.served_by(&provider("IT", &[]));
        assert_eq!((derived.from, derived.includes("FR"), derived.includes("GB")), (ServedFrom::Region, true, false));
        let alone = regions.served_by(&provider("ZA", &[]));
        assert_eq!(alone.countries, vec!["ZA".to_owned()]);
    }

    #[test]
    fn country_names_for_messages() {
        assert_eq!(country_name("GB"), "United Kingdom of Great Britain and Northern Ireland");
        assert_eq!(country_name("zz"), "zz");
    }
}
