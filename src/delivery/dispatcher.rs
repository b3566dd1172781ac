//! Sends the outbox: claims due emails, hands them to the transport (lettre's pooled SMTP, or
//! `.eml` files when no SMTP server is configured), records every attempt, retries transient
//! failures with exponential backoff and jitter, and keeps permanent refusals as `failed`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::delivery::smtp::{error_chain, refuses_the_message, SmtpPool, StartTls};
use crate::lease::{self, Lease};
use crate::store::{AttemptOutcome, EmailFinish, EmailRecord, EmailStatus, Store, StoreError};

/// Where mail goes.
pub enum Transport {
    /// `smtp://`: plain or STARTTLS, pooled connections with `TCP_NODELAY` (see `smtp.rs`).
    Smtp(SmtpPool),
    /// `smtps://`: implicit TLS through lettre's own pool.
    Smtps(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory: the embedded default, needs no server.
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug)]
pub struct Failure {
    pub permanent: bool,
    pub reply: String,
}

impl Transport {
    /// `smtp://[user:pass@]host:port` (plain, or STARTTLS with `?tls=required`), `smtps://…`
    /// (TLS from the start), either with `ca=PATH` to trust a private authority's certificate
    /// besides the built-in roots; `None`: files under `mail_dir`.
    pub fn new(smtp_url: Option<&str>, mail_dir: PathBuf) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) if url.starts_with("smtp://") => {
                let parsed = url::Url::parse(url).map_err(|err| anyhow::anyhow!("bad ACCORD_SMTP_URL: {err}"))?;
                let host = parsed.host_str().context("ACCORD_SMTP_URL names no host: use smtp://HOST:PORT")?.to_owned();
                let starttls = match parsed.query_pairs().find(|(key, _)| key == "tls").map(|(_, v)| v.into_owned()) {
                    None => StartTls::Never,
                    Some(mode) if mode == "required" => StartTls::Required(tls_for(&host, &parsed)?),
                    Some(mode) if mode == "opportunistic" => StartTls::Opportunistic(tls_for(&host, &parsed)?),
                    Some(other) => anyhow::bail!(
                        "bad ACCORD_SMTP_URL: tls={other} is not known; use ?tls=required or ?tls=opportunistic (STARTTLS), or smtps:// for TLS from the start"
                    ),
                };
                anyhow::ensure!(
                    matches!(starttls, StartTls::Required(_) | StartTls::Opportunistic(_))
                        || !parsed.query_pairs().any(|(key, _)| key == "ca"),
                    "bad ACCORD_SMTP_URL: ca= is for TLS: add ?tls=required (STARTTLS) or use smtps://"
                );
                let credentials = (!parsed.username().is_empty()).then(|| {
                    Credentials::new(
                        percent_decode(parsed.username()),
                        percent_decode(parsed.password().unwrap_or_default()),
                    )
                });
                let port = parsed.port().unwrap_or(25);
                Ok(Self::Smtp(SmtpPool::new(host, port, starttls, credentials, Duration::from_secs(30))))
            }
            Some(url) => {
                let parsed = url::Url::parse(url).map_err(|err| anyhow::anyhow!("bad ACCORD_SMTP_URL: {err}"))?;
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| anyhow::anyhow!("bad ACCORD_SMTP_URL {}: {err}", crate::store::redact_url(url)))?
                    .timeout(Some(Duration::from_secs(30)));
                if parsed.query_pairs().any(|(key, _)| key == "ca") {
                    let host = parsed.host_str().context("ACCORD_SMTP_URL names no host: use smtps://HOST:PORT")?;
                    builder = builder.tls(Tls::Wrapper(tls_for(host, &parsed)?));
                }
                if !parsed.username().is_empty() {
                    let password = parsed.password().unwrap_or_default();
                    builder = builder
                        .credentials(Credentials::new(percent_decode(parsed.username()), percent_decode(password)));
                }
                Ok(Self::Smtps(builder.build()))
            }
            None => {
                std::fs::create_dir_all(&mail_dir)
                    .map_err(|err| anyhow::anyhow!("creating the mail directory {}: {err}", mail_dir.display()))?;
                Ok(Self::Files(AsyncFileTransport::new(&mail_dir), mail_dir))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "smtp".into(),
            Transport::Smtps(_) => "smtps".into(),
            Transport::Files(_, dir) => format!(".eml files in {}", dir.display()),
        }
    }

    async fn send(&self, message: Message) -> Result<String, Failure> {
        match self {
            Transport::Smtp(pool) => pool
                .send(message.envelope(), &message.formatted())
                .await
                .map_err(|err| Failure { permanent: err.permanent, reply: err.reply }),
            Transport::Smtps(smtp) => match smtp.send(message).await {
                Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
                Err(err) => Err(Failure { permanent: refuses_the_message(&err), reply: error_chain(&err) }),
            },
            Transport::Files(files, _) => match files.send(message).await {
                Ok(id) => Ok(format!("written {id}.eml")),
                Err(err) => Err(Failure { permanent: false, reply: error_chain(&err) }),
            },
        }
    }
}

/// TLS for `host`, trusting the Mozilla root certificates built into lettre (webpki-roots) and,
/// where the URL has `ca=PATH`, the PEM certificate at PATH too (a relay whose certificate a
/// private authority signed).
fn tls_for(host: &str, url: &url::Url) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some((_, path)) = url.query_pairs().find(|(key, _)| key == "ca") {
        let pem = std::fs::read(&*path)
            .map_err(|err| anyhow::anyhow!("bad ACCORD_SMTP_URL: cannot read the CA certificate ca={path}: {err}"))?;
        // lettre's rustls side reads a file without any certificate as an empty list.
        let not_pem =
            |reason: String| anyhow::anyhow!("bad ACCORD_SMTP_URL: ca={path} is not a PEM certificate: {reason}");
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(not_pem("no -----BEGIN CERTIFICATE----- in it".into()));
        }
        let certificate = Certificate::from_pem(&pem).map_err(|err| not_pem(err.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().map_err(|err| anyhow::anyhow!("TLS for {host}: {err}"))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Retry timing for transient failures.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// After this many attempts a transiently failing email is marked failed.
    pub max_attempts: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(2), max: Duration::from_secs(15 * 60), max_attempts: 30 }
    }
}

impl Backoff {
    /// The wait after attempt `attempt` (1-based): base * 2^(attempt-1), capped, times a random
    /// factor in [0.5, 1) so many failing emails do not retry in lockstep.
    pub fn delay(&self, attempt: i64) -> Duration {
        let exponent = u32::try_from(attempt.clamp(1, 32) - 1).unwrap_or(31);
        let raw = self.base.saturating_mul(2u32.saturating_pow(exponent)).min(self.max);
        raw.mul_f64(rand::thread_rng().gen_range(0.5..1.0))
    }
}

pub struct Dispatcher {
    sender: Sender,
    poll: Duration,
    parallel: usize,
    wake: Arc<crate::wake::Wake>,
}

/// What one send needs; cheap to clone, so each send runs as its own task.
#[derive(Clone)]
struct Sender {
    store: Arc<dyn Store>,
    metrics: Arc<crate::metrics::Metrics>,
    transport: Arc<Transport>,
    clock: Arc<dyn Clock>,
    from: Mailbox,
    backoff: Backoff,
    /// How long a claim lasts unless renewed; another dispatcher may take over a lapsed one.
    lease: Lease,
}

impl Dispatcher {
    pub fn new(
        engine: &crate::engine::Engine,
        transport: Arc<Transport>,
        from: Mailbox,
        backoff: Backoff,
        poll: Duration,
        lease: Lease,
    ) -> Self {
        Self {
            sender: Sender {
                store: engine.store().clone(),
                metrics: engine.metrics().clone(),
                clock: engine.clock().clone(),
                transport,
                from,
                backoff,
                lease,
            },
            poll,
            parallel: 8,
            wake: engine.wake().clone(),
        }
    }

    /// Sends every email due now, once each. Returns how many were delivered.
    ///
    /// Up to `parallel` sends run at once, each its own task, each renewing its claim while the
    /// SMTP exchange lasts; see [`crate::lease::drain`].
    pub async fn dispatch_due(&self) -> Result<usize, StoreError> {
        let sender = &self.sender;
        lease::drain(
            self.parallel,
            |want| async move {
                let now = sender.clock.now();
                let claimed = sender.store.claim_due_emails(now, now.plus(sender.lease.length), want as i64).await?;
                for email in claimed.iter().filter(|email| email.took_over) {
                    warn!(email = %email.id, attempt = email.attempts, "took over an email whose claim had lapsed");
                    sender.metrics.lease_takeover("email");
                }
                Ok(claimed)
            },
            |email| {
                let sender = sender.clone();
                async move { sender.attempt(email).await }
            },
        )
        .await
    }
}

impl Dispatcher {
    /// One attempt at `email`, which the caller claimed (`OutboxStore::claim_due_emails`): what
    /// [`Self::dispatch_due`] does with each claim. True when it was delivered.
    pub async fn send_claimed(&self, email: EmailRecord) -> Result<bool, StoreError> {
        self.sender.attempt(email).await
    }
}

impl Sender {
    /// One attempt at one claimed email; true when it was delivered.
    async fn attempt(&self, email: EmailRecord) -> Result<bool, StoreError> {
        // The claim numbered the attempt: only a completion with this number counts.
        let attempt = email.attempts;
        let result = match self.message(&email) {
            Ok(message) => {
                let id = email.id;
                // Its instance may have ended since the claim, cancelling it: the claim is checked
                // just before the exchange, so a cancelled email is never handed to the server.
                let until = self.clock.now().plus(self.lease.length);
                if !self.store.renew_email_lease(id, attempt, until).await? {
                    info!(email = %id, attempt, "the email was cancelled or taken over since its claim; not sent");
                    return Ok(false);
                }
                let renew = || async move {
                    let until = self.clock.now().plus(self.lease.length);
                    self.store.renew_email_lease(id, attempt, until).await
                };
                match lease::hold(self.transport.send(message), self.lease.heartbeat(), renew).await {
                    Some(result) => result,
                    None => {
                        warn!(email = %email.id, attempt, "another dispatcher took this email over; this attempt stops");
                        return Ok(false);
                    }
                }
            }
            Err(reply) => Err(Failure { permanent: true, reply }),
        };
        let at = self.clock.now();
        let (outcome, status, reply, next) = match result {
            Ok(reply) => (AttemptOutcome::Sent, EmailStatus::Sent, reply, at),
            Err(failure) if failure.permanent => (AttemptOutcome::Rejected, EmailStatus::Failed, failure.reply, at),
            Err(failure) if attempt >= self.backoff.max_attempts => (
                AttemptOutcome::Deferred,
                EmailStatus::Failed,
                format!("gave up after {attempt} attempts: {}", failure.reply),
                at,
            ),
            Err(failure) => {
                (AttemptOutcome::Deferred, EmailStatus::Queued, failure.reply, at.plus(self.backoff.delay(attempt)))
            }
        };
        match outcome {
            AttemptOutcome::Sent => info!(email = %email.id, to = %email.recipient, "email sent"),
            _ => {
                warn!(email = %email.id, to = %email.recipient, %reply, retry = status == EmailStatus::Queued, "email not delivered")
            }
        }
        self.metrics.attempt(outcome.as_str());
        let finish = EmailFinish { outbox: email.id, attempt, at, outcome, reply, status, next_attempt_at: next };
        let recorded = self.store.finish_email(&finish).await?;
        Ok(recorded && outcome == AttemptOutcome::Sent)
    }

    fn message(&self, email: &EmailRecord) -> Result<Message, String> {
        build_message(email, &self.from)
    }
}

/// The message for outbox row `email`: `From` and `Reply-To` as settled when it was rendered
/// (else `default_from`), `To` with the recipient's display name, and the text and HTML parts
/// as `multipart/alternative` (lettre adds `MIME-Version: 1.0`).
pub fn build_message(email: &EmailRecord, default_from: &Mailbox) -> Result<Message, String> {
    // Stored addresses show their domain in Unicode; the envelope and the To header carry
    // its ASCII (A-label) form, which every server accepts. Configured addresses (such as
    // `reviewers@localhost`) are taken as written.
    let address = match crate::workflow::email::normalize(&email.recipient) {
        Ok(normal) => normal.envelope().to_owned(),
        Err(_) => email.recipient.clone(),
    };
    let address: lettre::Address =
        address.parse().map_err(|err| format!("bad recipient {}: {err}", email.recipient))?;
    let to = Mailbox::new(email.recipient_name.clone(), address);
    let from = match &email.sender {
        Some(sender) => sender.parse().map_err(|err| format!("bad sender {sender}: {err}"))?,
        None => default_from.clone(),
    };
    let mut builder =
        Message::builder().from(from).to(to).subject(&email.subject).message_id(Some(email.message_id.clone()));
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(reply_to.parse().map_err(|err| format!("bad reply-to {reply_to}: {err}"))?);
    }
    let built = match &email.html_body {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text_body.clone(), html.clone())),
        None => builder.header(lettre::message::header::ContentType::TEXT_PLAIN).body(email.text_body.clone()),
    };
    built.map_err(|err| format!("cannot build the message: {err}"))
}

impl Dispatcher {
    /// Loops until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        info!(transport = %self.sender.transport.describe(), "dispatcher started");
        loop {
            if let Err(err) = self.dispatch_due().await {
                warn!(error = %err, "dispatching failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.wake.outbox_queued() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
