//! Times as the reader reads them: in their language (English or Italian, from the browser's
//! `Accept-Language`), in the configured time zone (`time_zone`), with how long ago or how soon
//! beside. Pages put them in `<time datetime="…">` elements (the `time` macro of
//! `templates/pages/console/macros.html.tera`), so the exact instant stays machine-readable.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;
use chrono::Locale;
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::clock::Timestamp;
use crate::engine::Engine;

/// The languages the console's times are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    It,
}

impl Lang {
    /// The first language of an `Accept-Language` header the console speaks, by preference
    /// (`q`), else English.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut offered: Vec<(f32, usize, Lang)> = Vec::new();
        for (position, part) in header.split(',').enumerate() {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let lang = match primary {
                "it" => Lang::It,
                "en" => Lang::En,
                _ => continue,
            };
            if quality > 0.0 {
                offered.push((quality, position, lang));
            }
        }
        offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offered.first().map_or(Lang::En, |(_, _, lang)| *lang)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }

    fn locale(self) -> Locale {
        match self {
            Lang::En => Locale::en_GB,
            Lang::It => Locale::it_IT,
        }
    }
}

/// How the person reading a page reads times.
#[derive(Clone, Copy, Debug)]
pub struct Reader {
    pub lang: Lang,
    pub zone: Tz,
    pub now: Timestamp,
}

impl Reader {
    /// An instant as pages show it: `iso` for `datetime`, `text` in the reader's language and
    /// zone, `ago` relative to now.
    pub fn time(&self, at: Timestamp) -> Value {
        json!({ "iso": at.to_string(), "text": self.text(at), "ago": self.relative(at) })
    }

    /// [`Reader::time`] of an optional instant (`null` for none).
    pub fn maybe(&self, at: Option<Timestamp>) -> Value {
        at.map_or(Value::Null, |at| self.time(at))
    }

    /// "3 Dec 2026, 01:59 CET"; "3 dic 2026, 01:59 CET".
    pub fn text(&self, at: Timestamp) -> String {
        at.to_datetime()
            .with_timezone(&self.zone)
            .format_localized("%-d %b %Y, %H:%M %Z", self.lang.locale())
            .to_string()
    }

    /// "3 hours ago", "in 2 days"; "3 ore fa", "tra 2 giorni".
    pub fn relative(&self, at: Timestamp) -> String {
        let (span, past) = if at <= self.now { (self.now.since(at), true) } else { (at.since(self.now), false) };
        self.span_relative(span.as_secs(), past)
    }

    /// A span of `seconds`, as "3 hours" in the reader's language.
    pub fn span(&self, seconds: u64) -> String {
        let (count, unit) = unit_of(seconds);
        let (one, many) = match (self.lang, unit) {
            (Lang::En, Unit::Minute) => ("minute", "minutes"),
            (Lang::En, Unit::Hour) => ("hour", "hours"),
            (Lang::En, Unit::Day) => ("day", "days"),
            (Lang::En, Unit::Month) => ("month", "months"),
            (Lang::En, Unit::Year) => ("year", "years"),
            (Lang::It, Unit::Minute) => ("minuto", "minuti"),
            (Lang::It, Unit::Hour) => ("ora", "ore"),
            (Lang::It, Unit::Day) => ("giorno", "giorni"),
            (Lang::It, Unit::Month) => ("mese", "mesi"),
            (Lang::It, Unit::Year) => ("anno", "anni"),
        };
        format!("{count} {}", if count == 1 { one } else { many })
    }

    fn span_relative(&self, seconds: u64, past: bool) -> String {
        if seconds < 60 {
            return match self.lang {
                Lang::En => "just now",
                Lang::It => "adesso",
            }
            .to_owned();
        }
        let span = self.span(seconds);
        match (self.lang, past) {
            (Lang::En, true) => format!("{span} ago"),
            (Lang::En, false) => format!("in {span}"),
            (Lang::It, true) => format!("{span} fa"),
            (Lang::It, false) => format!("tra {span}"),
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

/// The largest unit that fits at least once (days up to two months, so that deadlines read
/// in days), rounded down.
fn unit_of(seconds: u64) -> (u64, Unit) {
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    match seconds {
        s if s < HOUR => ((s / 60).max(1), Unit::Minute),
        s if s < DAY => (s / HOUR, Unit::Hour),
        s if s < 60 * DAY => (s / DAY, Unit::Day),
        s if s < 365 * DAY => (s / (30 * DAY), Unit::Month),
        s => (s / (365 * DAY), Unit::Year),
    }
}

impl<S> FromRequestParts<S> for Reader
where
    Engine: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let engine = Engine::from_ref(state);
        let lang = parts
            .headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::En, Lang::from_accept_language);
        Ok(Reader { lang, zone: engine.time_zone(), now: engine.now() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::from_datetime(text.parse().unwrap())
    }

    #[test]
    fn the_first_language_spoken_wins_by_preference() {
        assert_eq!(Lang::from_accept_language("it-IT,it;q=0.9,en;q=0.8"), Lang::It);
        assert_eq!(Lang::from_accept_language("de-DE, en;q=0.5, it;q=0.7"), Lang::It);
        assert_eq!(Lang::from_accept_language("fr, de"), Lang::En, "English when none is spoken");
        assert_eq!(Lang::from_accept_language("it;q=0, en-GB"), Lang::En, "q=0 refuses");
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn times_read_in_the_readers_language_and_zone() {
        let now = at("2026-12-02T03:59:14.491Z");
        let zone: Tz = "Europe/Rome".parse().unwrap();
        let en = Reader { lang: Lang::En, zone, now };
        let it = Reader { lang: Lang::It, ..en };
        let then = at("2026-12-02T00:59:14.491Z");
        assert_eq!(en.text(then), "2 Dec 2026, 01:59 CET");
        assert_eq!(it.text(then), "2 dic 2026, 01:59 CET");
        assert_eq!(en.relative(then), "3 hours ago");
        assert_eq!(it.relative(then), "3 ore fa");
        let soon = at("2026-12-04T04:30:00Z");
        assert_eq!(en.relative(soon), "in 2 days");
        assert_eq!(it.relative(soon), "tra 2 giorni");
        assert_eq!(it.relative(at("2026-12-02T02:58:00Z")), "1 ora fa");
        assert_eq!(en.relative(at("2026-12-02T03:59:00Z")), "just now");
        assert_eq!(en.relative(at("2026-12-02T03:50:00Z")), "9 minutes ago");
        assert_eq!(en.relative(at("2026-08-02T03:50:00Z")), "4 months ago");
        let time = en.time(then);
        assert_eq!(time["iso"], "2026-12-02T00:59:14.491Z");
        let utc = Reader { zone: Tz::UTC, ..en };
        assert_eq!(utc.text(then), "2 Dec 2026, 00:59 UTC");
    }
}
