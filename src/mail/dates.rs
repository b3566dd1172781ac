//! Dates as a recipient reads them: in their language (chrono's localized formatting) and their
//! time zone (the party's `time_zone`, else its country's main zone from
//! `data/country_time_zones.tsv`, else the configured `time_zone`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::Locale;
use chrono_tz::Tz;

use crate::clock::Timestamp;

/// Each country's main zone: tzdata's `zone.tab`, its first row per country (see the file's
/// header for the version and the date read).
const COUNTRY_ZONES: &str = include_str!("../../data/country_time_zones.tsv");

fn country_zones() -> &'static BTreeMap<&'static str, Tz> {
    static ZONES: OnceLock<BTreeMap<&'static str, Tz>> = OnceLock::new();
    ZONES.get_or_init(|| {
        COUNTRY_ZONES
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (country, zone) = line.split_once('\t')?;
                Some((country, zone.trim().parse::<Tz>().ok()?))
            })
            .collect()
    })
}

/// The main time zone of `country` (ISO 3166-1 alpha-2, any case).
pub fn zone_of_country(country: &str) -> Option<Tz> {
    country_zones().get(country.trim().to_ascii_uppercase().as_str()).copied()
}

/// The zone a recipient reads dates in: their own, else their country's, else `fallback`.
pub fn recipient_zone(time_zone: Option<&str>, country: Option<&str>, fallback: Tz) -> Tz {
    time_zone.and_then(|zone| zone.parse::<Tz>().ok()).or_else(|| country.and_then(zone_of_country)).unwrap_or(fallback)
}

/// `at` as a date and time for a reader of `locale` (`en`, `it`, `it-CH`) in `zone`, such as
/// "Friday 8 January 2027, 17:00 CET" or "venerdì 8 gennaio 2027, ore 17:00 CET".
pub fn format(at: Timestamp, locale: &str, zone: Tz) -> String {
    let local = at.to_datetime().with_timezone(&zone);
    let language = locale.split(['-', '_']).next().unwrap_or("en").to_ascii_lowercase();
    let (chrono_locale, pattern) = match language.as_str() {
        "it" => (Locale::it_IT, "%A %-d %B %Y, ore %H:%M %Z"),
        "de" => (Locale::de_DE, "%A, %-d. %B %Y, %H:%M %Z"),
        "fr" => (Locale::fr_FR, "%A %-d %B %Y, %H:%M %Z"),
        "es" => (Locale::es_ES, "%A, %-d de %B de %Y, %H:%M %Z"),
        "pt" => (Locale::pt_PT, "%A, %-d de %B de %Y, %H:%M %Z"),
        "nl" => (Locale::nl_NL, "%A %-d %B %Y, %H:%M %Z"),
        _ => (Locale::en_GB, "%A %-d %B %Y, %H:%M %Z"),
    };
    local.format_localized(pattern, chrono_locale).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-08T16:00:00Z, a Friday.
    const AT: Timestamp = Timestamp::from_millis(1_799_424_000_000);

    #[test]
    fn italian_readers_get_italian_dates_in_their_zone() {
        let rome = recipient_zone(None, Some("it"), Tz::UTC);
        assert_eq!(rome, chrono_tz::Europe::Rome);
        assert_eq!(format(AT, "it", rome), "venerdì 8 gennaio 2027, ore 17:00 CET");
        assert_eq!(format(AT, "it-CH", rome), "venerdì 8 gennaio 2027, ore 17:00 CET");
    }

    #[test]
    fn english_dates_and_the_fallbacks() {
        assert_eq!(format(AT, "en", Tz::UTC), "Friday 8 January 2027, 16:00 UTC");
        let own = recipient_zone(Some("America/New_York"), Some("IT"), Tz::UTC);
        assert_eq!(format(AT, "en", own), "Friday 8 January 2027, 11:00 EST");
        assert_eq!(recipient_zone(None, Some("XX"), chrono_tz::Europe::London), chrono_tz::Europe::London);
        assert_eq!(recipient_zone(None, None, Tz::UTC), Tz::UTC);
    }

    #[test]
    fn every_country_of_the_data_file_has_a_zone() {
        let listed = COUNTRY_ZONES.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
        assert_eq!(country_zones().len(), listed, "a zone name in the file is unknown to chrono-tz");
        assert!(listed > 240);
    }
}
