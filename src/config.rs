//! Configuration: built-in defaults, then `accord.toml` (or the file `--config` names), then
//! `ACCORD_*` environment variables. Secrets are wrapped so they never print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::store::{default_sqlite_url, redact_url};

/// The keys a file or the environment may set.
const KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "database_max_connections",
    "listen",
    "public_url",
    "smtp_url",
    "workflows_dir",
    "templates_dir",
    "webmail_domains",
    "draft_url_hosts",
    "scheduler_poll",
    "lease",
    "mail_from",
    "mail_reply_to",
    "parties",
    "smtp_retry_base",
    "log_format",
    "limits",
    "agreements",
    "time_zone",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the default SQLite database (and, later, `.eml` files) live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; unset: `accord.db` in `data_dir`.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// The HTTP server's `host:port`.
    pub listen: String,
    /// The base of every emailed link.
    pub public_url: String,
    /// `smtp://host:port` or `smtps://…`; unset: `.eml` files in the data directory.
    pub smtp_url: Option<SecretString>,
    pub workflows_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// Refused for `business_email` input fields; `name.*` matches any country suffix.
    pub webmail_domains: Vec<String>,
    /// Hosts a draft edit may link to besides the public URL's (a partner's own site, say);
    /// any other URL added to a draft is refused, so a draft cannot carry a phishing link.
    pub draft_url_hosts: Vec<String>,
    /// How often the scheduler looks for due timers when none is known to be due sooner (and
    /// the dispatcher for due emails).
    pub scheduler_poll: String,
    /// How long a node's claim on an email or a timer lasts unless renewed (renewed every third
    /// of it while the work runs); a stopped node's claims pass to another node after this.
    pub lease: String,
    /// The sender of every email, unless its workflow's `[mail]` names another.
    pub mail_from: String,
    /// Where replies go, unless a workflow's `[mail]` says otherwise; unset: to the sender.
    pub mail_reply_to: Option<String>,
    /// Addresses of parties that are not in an instance's input (reviewers and the like), by
    /// the key a workflow's `[parties.<name>] config = "<key>"` names.
    pub parties: std::collections::BTreeMap<String, String>,
    /// The first retry delay after a transient SMTP failure; it doubles per attempt (to 15 min).
    pub smtp_retry_base: String,
    pub log_format: LogFormat,
    /// What one client may take of the server: `[limits]` in the file,
    /// `ACCORD_LIMITS__<KEY>` in the environment.
    pub limits: Limits,
    /// Where the link pages send a reader for the full text of each agreement they summarise:
    /// `[agreements]` in the file, `ACCORD_AGREEMENTS__<KEY>` in the environment.
    pub agreements: Agreements,
    /// The IANA time zone (`Europe/Rome`) times are shown in where no party's own zone applies:
    /// dates in emails to a recipient with neither a time zone nor a country, and the console's.
    pub time_zone: String,
}

/// Timeouts, the connection cap, the body size and the request rates. A rate of 0 turns that
/// limit off; the test harness and `accord bench` run with every rate off
/// ([`Limits::without_rate_limits`]).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How long a client has to send a request's head (request line and headers), counted from
    /// when the connection starts waiting for one: a half-sent request is closed after it.
    pub header_timeout: String,
    /// How long a client has to send a request's whole body, counted from its head.
    pub body_timeout: String,
    /// A connection that sends nothing for this long while no request is in progress (before its
    /// first request or between two) is closed.
    pub idle_timeout: String,
    /// Open connections at most; 0: the process's file limit less the database pool and
    /// `reserved_files`. When full, a new connection closes the one idle the longest.
    pub max_connections: usize,
    /// File descriptors kept back, besides the database pool, when the connection cap comes from
    /// the file limit: SMTP, the SQLite files, templates, `.eml` files, the listener.
    pub reserved_files: usize,
    /// The largest request body accepted (413 `body_too_large` above it).
    pub max_body_bytes: usize,
    /// API requests per minute per key (by the hash of its `Authorization` header), or per client
    /// address when there is none.
    pub api_per_minute: u32,
    /// Console sign-in attempts per minute per client address.
    pub sign_in_per_minute: u32,
    /// Actions and resend requests per minute on one personalised link.
    pub link_token_per_minute: u32,
    /// Actions and resend requests per minute on links from one client address.
    pub link_address_per_minute: u32,
    /// Posts of the public enrollment form (`POST /enroll`) per minute per client address.
    pub enroll_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: "10s".into(),
            body_timeout: "30s".into(),
            idle_timeout: "5s".into(),
            max_connections: 0,
            reserved_files: 64,
            max_body_bytes: 1024 * 1024,
            api_per_minute: 600,
            sign_in_per_minute: 10,
            link_token_per_minute: 10,
            link_address_per_minute: 60,
            enroll_per_minute: 10,
        }
    }
}

impl Limits {
    /// The same limits with every request rate off: what the test harness and `accord bench`
    /// serve with, so that they measure and exercise the application, not the limiter.
    pub fn without_rate_limits(self) -> Self {
        Self {
            api_per_minute: 0,
            sign_in_per_minute: 0,
            link_token_per_minute: 0,
            link_address_per_minute: 0,
            enroll_per_minute: 0,
            ..self
        }
    }

    pub fn header_timeout(&self) -> anyhow::Result<Duration> {
        positive_duration("limits.header_timeout", &self.header_timeout)
    }

    pub fn body_timeout(&self) -> anyhow::Result<Duration> {
        positive_duration("limits.body_timeout", &self.body_timeout)
    }

    pub fn idle_timeout(&self) -> anyhow::Result<Duration> {
        positive_duration("limits.idle_timeout", &self.idle_timeout)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.header_timeout()?;
        self.body_timeout()?;
        self.idle_timeout()?;
        anyhow::ensure!(self.max_body_bytes > 0, "limits.max_body_bytes must be at least 1");
        Ok(())
    }
}

fn positive_duration(key: &str, text: &str) -> anyhow::Result<Duration> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err(anyhow::anyhow!("{key} must be longer than zero")),
        Err(err) => Err(anyhow::anyhow!("bad {key} `{text}`: {err} (use a duration such as \"10s\")")),
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 16,
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            workflows_dir: PathBuf::from("workflows"),
            templates_dir: PathBuf::from("templates"),
            webmail_domains: DEFAULT_WEBMAIL.iter().map(|d| (*d).to_owned()).collect(),
            draft_url_hosts: Vec::new(),
            scheduler_poll: "1s".into(),
            lease: "30s".into(),
            mail_from: "Accord <accord@localhost>".into(),
            mail_reply_to: None,
            parties: std::collections::BTreeMap::new(),
            smtp_retry_base: "2s".into(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            agreements: Agreements::default(),
            time_zone: "UTC".into(),
        }
    }
}

/// Consumer web-mail services, refused as a business contact. `name.*` covers the national
/// variants (`yahoo.co.uk`, `hotmail.it`, `libero.it` is listed on its own).
pub const DEFAULT_WEBMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.*",
    "ymail.com",
    "rocketmail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.*",
    "aim.com",
    "outlook.*",
    "hotmail.*",
    "live.*",
    "msn.com",
    "gmx.*",
    "web.de",
    "mail.ru",
    "yandex.*",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "alice.it",
    "orange.fr",
    "laposte.net",
    "qq.com",
    "163.com",
];

impl Config {
    /// Loads defaults, then `file` (it must exist when given; `accord.toml` is read when
    /// present), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        match file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "the configuration file {} does not exist", path.display());
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("accord.toml").exists() => figment = figment.merge(Toml::file("accord.toml")),
            None => {}
        }
        // `ACCORD_LIMITS__API_PER_MINUTE=0` sets `limits.api_per_minute`.
        let env = Env::prefixed("ACCORD_")
            .filter(|key| {
                let top = key.as_str().split("__").next().unwrap_or_default();
                KEYS.iter().any(|known| top.eq_ignore_ascii_case(known))
            })
            .split("__");
        let config: Config = figment.merge(env).extract().map_err(|err| anyhow::anyhow!("bad configuration: {err}"))?;
        config.scheduler_poll()?;
        config.lease()?;
        config.backoff()?;
        config.mail_from()?;
        config.mail_reply_to()?;
        config.party_addresses()?;
        config.time_zone()?;
        config.limits.check()?;
        config.agreements.check()?;
        Ok(config)
    }

    /// The database URL in force (with its secret), defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => default_sqlite_url(&self.data_dir),
        }
    }

    /// The database URL for messages: no password.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url())
    }

    pub fn backoff(&self) -> anyhow::Result<crate::delivery::Backoff> {
        let base = humantime::parse_duration(&self.smtp_retry_base).map_err(|err| {
            anyhow::anyhow!("bad smtp_retry_base `{}`: {err} (use a duration such as \"2s\")", self.smtp_retry_base)
        })?;
        Ok(crate::delivery::Backoff { base, ..Default::default() })
    }

    pub fn mail_from(&self) -> anyhow::Result<lettre::message::Mailbox> {
        self.mail_from.parse().map_err(|err| {
            anyhow::anyhow!(
                "bad mail_from `{}`: {err} (use an address such as \"Accord <onboarding@example.com>\")",
                self.mail_from
            )
        })
    }

    pub fn mail_reply_to(&self) -> anyhow::Result<Option<lettre::message::Mailbox>> {
        let Some(text) = &self.mail_reply_to else { return Ok(None) };
        text.parse().map(Some).map_err(|err| {
            anyhow::anyhow!(
                "bad mail_reply_to `{text}`: {err} (use an address such as \"Partner support <support@example.com>\", or leave it out)"
            )
        })
    }

    /// The configured time zone.
    pub fn time_zone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.time_zone.parse().map_err(|_| {
            anyhow::anyhow!(
                "bad time_zone `{}`: use an IANA time zone name such as \"Europe/Rome\" or \"UTC\"",
                self.time_zone
            )
        })
    }

    /// The configured parties' addresses (`[parties]`), each one an address mail can go to.
    pub fn party_addresses(&self) -> anyhow::Result<()> {
        for (key, address) in &self.parties {
            address.parse::<lettre::Address>().map_err(|err| {
                anyhow::anyhow!(
                    "bad [parties] {key} = `{address}`: {err} (use an address such as \"reviewers@example.com\")"
                )
            })?;
        }
        Ok(())
    }

    pub fn smtp_url(&self) -> Option<String> {
        self.smtp_url.as_ref().map(|url| url.expose_secret().to_owned())
    }

    pub fn scheduler_poll(&self) -> anyhow::Result<Duration> {
        humantime::parse_duration(&self.scheduler_poll).map_err(|err| {
            anyhow::anyhow!("bad scheduler_poll `{}`: {err} (use a duration such as \"1s\")", self.scheduler_poll)
        })
    }
}

impl Config {
    pub fn lease(&self) -> anyhow::Result<crate::lease::Lease> {
        let length = humantime::parse_duration(&self.lease)
            .map_err(|err| anyhow::anyhow!("bad lease `{}`: {err} (use a duration such as \"30s\")", self.lease))?;
        if length < Duration::from_secs(3) {
            anyhow::bail!("lease `{}` is too short: claims are renewed every third of it; use 3s or more", self.lease);
        }
        Ok(crate::lease::Lease { length })
    }
}

/// The full texts of the agreements a link page asks a person to accept, linked beside its
/// summary. The defaults are Microsoft's public pages; a deployment may point at a copy of its
/// own (a country's version, a translation).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Agreements {
    /// The Microsoft Customer Agreement: customer invitations and agreement requests.
    pub customer: String,
    /// The Microsoft Partner Agreement: what an enrolling reseller's global admin accepts.
    pub partner: String,
}

impl Default for Agreements {
    fn default() -> Self {
        Self {
            customer: "https://www.microsoft.com/licensing/docs/customeragreement".into(),
            partner: "https://learn.microsoft.com/partner-center/enroll/microsoft-partner-agreement".into(),
        }
    }
}

impl Agreements {
    /// Each is an absolute `https://` (or `http://`) address: a page shows it as a link.
    fn check(&self) -> anyhow::Result<()> {
        for (key, value) in [("customer", &self.customer), ("partner", &self.partner)] {
            let parsed = url::Url::parse(value);
            anyhow::ensure!(
                parsed.is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some()),
                "bad agreements.{key} `{value}`: give the full address of the agreement's text, such as \"{}\"",
                match key {
                    "customer" => Agreements::default().customer,
                    _ => Agreements::default().partner,
                }
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_addresses_default_to_microsofts_pages_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        std::fs::write(&file, "[agreements]\ncustomer = \"https://contoso.example/mca-it.pdf\"\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.agreements.customer, "https://contoso.example/mca-it.pdf");
        assert_eq!(config.agreements.partner, Agreements::default().partner);
        assert!(Agreements::default().customer.starts_with("https://www.microsoft.com/"));
        std::fs::write(&file, "[agreements]\npartner = \"mpa.pdf\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("bad agreements.partner `mpa.pdf`") && err.contains("full address"), "{err}");
    }

    #[test]
    fn secrets_do_not_print_in_debug_output() {
        let config = Config {
            database_url: Some(SecretString::from("postgres://accord:hunter2@db/accord")),
            smtp_url: Some(SecretString::from("smtp://mailer:swordfish@mx:587")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("swordfish"), "{shown}");
        assert_eq!(config.database_url_redacted(), "postgres://accord:***@db/accord");
    }

    #[test]
    fn limits_come_from_their_section_and_a_bad_timeout_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        std::fs::write(&file, "[limits]\napi_per_minute = 0\nmax_body_bytes = 2048\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.limits.api_per_minute, 0, "0 turns the limit off");
        assert_eq!(config.limits.max_body_bytes, 2048);
        assert_eq!(config.limits.sign_in_per_minute, Limits::default().sign_in_per_minute);
        std::fs::write(&file, "[limits]\nheader_timeout = \"soon\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("bad limits.header_timeout `soon`"), "{err}");
    }

    #[test]
    fn a_lease_too_short_to_renew_is_refused_with_the_fix() {
        let config = Config { lease: "1s".into(), ..Config::default() };
        let err = config.lease().unwrap_err().to_string();
        assert!(err.contains("too short") && err.contains("3s or more"), "{err}");
        assert_eq!(Config::default().lease().unwrap().length, Duration::from_secs(30));
    }

    #[test]
    fn bad_mail_settings_are_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("accord.toml");
        for (setting, expected) in [
            ("mail_from = \"Accord <not an address>\"", "bad mail_from"),
            ("mail_reply_to = \"support at example.com\"", "bad mail_reply_to `support at example.com`"),
            ("time_zone = \"Europe/Milano\"", "bad time_zone `Europe/Milano`: use an IANA time zone name"),
            ("[parties]\nreviewers = \"reviewers\"", "bad [parties] reviewers = `reviewers`"),
        ] {
            std::fs::write(&file, setting).unwrap();
            let err = Config::load(Some(&file)).unwrap_err().to_string();
            assert!(err.contains(expected), "{setting}: {err}");
        }
        std::fs::write(&file, "mail_reply_to = \"Support <support@example.com>\"\ntime_zone = \"Europe/Rome\"\n")
            .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.time_zone().unwrap(), chrono_tz::Europe::Rome);
        assert_eq!(config.mail_reply_to().unwrap().unwrap().email.to_string(), "support@example.com");
    }
}
