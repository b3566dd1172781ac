//! End to end through an out-of-process SMTP sink (MailDev in CI), read back through its HTTP
//! API the way an outside test suite would.

use std::sync::Arc;
use std::time::Duration;

use accord::delivery::{Dispatcher, Transport};
use accord::sink::{Sink, SinkKind};
use accord::store::{AttemptOutcome, EmailStatus};
use reqwest::StatusCode;

use crate::helpers::{
    aiosmtpd_path, free_port, maildev_bin, maildev_command, required, signup_input, spawn_app, wait_for_port, Backend,
    TestApp,
};

/// MailDev's web API and SMTP addresses: `None` when not configured, which fails under CI=true.
fn maildev() -> Option<(String, String)> {
    let found = match (std::env::var("ACCORD_TEST_MAILDEV_URL"), std::env::var("ACCORD_TEST_MAILDEV_SMTP")) {
        (Ok(api), Ok(smtp)) if !api.is_empty() && !smtp.is_empty() => Some((api, smtp)),
        _ => None,
    };
    required(found, "ACCORD_TEST_MAILDEV_URL/ACCORD_TEST_MAILDEV_SMTP", "the MailDev test")
}

crate::on_each_store!(
    a_signup_runs_end_to_end_through_maildev,
    a_server_that_wants_other_credentials_keeps_the_email_queued,
    a_relay_with_starttls_and_a_private_authority_gets_the_mail,
    a_relay_with_implicit_tls_and_a_private_authority_gets_the_mail
);

async fn a_signup_runs_end_to_end_through_maildev(backend: Backend) {
    let Some((api, smtp)) = maildev() else { return };
    let Some(t) = TestApp::options(backend)
        .config(move |config| config.smtp_url = Some(format!("smtp://{smtp}").into()))
        .spawn()
        .await
    else {
        return;
    };
    let base = t.base.clone();

    let recipient = format!("anna.{}@contoso.it", uuid::Uuid::new_v4().simple());
    let mut input = signup_input();
    input["contact"]["email"] = serde_json::json!(recipient);
    let request = accord::engine::StartRequest { input, ..crate::helpers::signup_request() };
    let id = t.engine().start(request).await.unwrap().instance.id;
    let dispatcher = t.app.dispatcher().unwrap();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), 1);

    let sink = Sink::new(SinkKind::MailDev, &api);
    let mail = sink.wait_for(&recipient, |m| m.subject.starts_with("Confirm"), Duration::from_secs(20)).await.unwrap();
    assert_eq!(mail.subject, "Confirm your email address for Contoso Italia");
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(format!("<{}>", mail.message_id), view.emails[0].message_id);

    let client = reqwest::Client::new();
    let links = crate::helpers::links_in(&mail.text, &base);
    let mut verify = None;
    for link in &links {
        let page = client.get(link).send().await.unwrap().text().await.unwrap();
        if page.contains("<h1>Conferma il tuo indirizzo email</h1>") {
            verify = Some(link.clone());
        }
    }
    let verify = verify.expect("the verification link is in the mail MailDev holds");
    let response = client.post(&verify).form(&[("confirm_0", "on")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(t.state(id).await, "in_review");

    assert_eq!(dispatcher.dispatch_due().await.unwrap(), 1);
    let status =
        sink.wait_for(&recipient, |m| m.subject.ends_with("in review"), Duration::from_secs(20)).await.unwrap();
    assert!(status.text.contains("is now: in review"), "{}", status.text);
}

#[test]
fn the_demo_reads_its_mail_back_from_maildev() {
    let Some((api, smtp)) = maildev() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir.path())
        .env("ACCORD_DATA_DIR", dir.path().join("data"))
        .env("ACCORD_WORKFLOWS_DIR", crate::helpers::repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", crate::helpers::repo().join("templates"))
        .env("ACCORD_PARTIES", "{reviewers=\"reviewers@contoso.example\"}")
        .env("ACCORD_SMTP_URL", format!("smtp://{smtp}"))
        .env_remove("ACCORD_DATABASE_URL")
        .args(["demo", "--sink", &format!("maildev={api}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("enrollment ok"), "{stdout}");
    assert!(stdout.contains("awaiting_agreement -> active"), "{stdout}");
}

/// A MailDev of the test's own that takes mail only from `accord` with password `s3cret`
/// (SMTP AUTH PLAIN or LOGIN); killed on drop.
struct AuthenticatingMailDev {
    child: std::process::Child,
    smtp: u16,
    api: String,
}

impl AuthenticatingMailDev {
    /// `None` when MailDev is not installed, which fails under CI=true.
    fn start() -> Option<Self> {
        let bin = required(maildev_bin(), "MailDev (ACCORD_TEST_MAILDEV_BIN)", "the SMTP authentication test")?;
        let (smtp, web) = (free_port(), free_port());
        let child = maildev_command(&bin, smtp, web)
            .args(["--incoming-user", "accord", "--incoming-pass", "s3cret"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start MailDev");
        wait_for_port(smtp, "MailDev's SMTP server");
        wait_for_port(web, "MailDev's web API");
        Some(Self { child, smtp, api: format!("http://127.0.0.1:{web}") })
    }

    fn url(&self, credentials: &str) -> String {
        format!("smtp://{credentials}127.0.0.1:{}", self.smtp)
    }
}

impl Drop for AuthenticatingMailDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dispatcher_through(t: &TestApp, smtp_url: &str) -> Dispatcher {
    let config = &t.app.config;
    let transport = Transport::new(Some(smtp_url), config.data_dir.join("mail")).unwrap();
    Dispatcher::new(
        t.engine(),
        Arc::new(transport),
        config.mail_from().unwrap(),
        config.backoff().unwrap(),
        config.scheduler_poll().unwrap(),
        config.lease().unwrap(),
    )
}

/// An SMTP server that refuses the session (no credentials: 530; wrong ones: 535) is a
/// configuration to correct, not a message to give up on: the email stays queued with the
/// server's reply, and goes out once the credentials are right.
async fn a_server_that_wants_other_credentials_keeps_the_email_queued(backend: Backend) {
    let Some(sink) = AuthenticatingMailDev::start() else { return };
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;

    for (credentials, code) in [("", "530"), ("accord:wrong@", "535")] {
        assert_eq!(dispatcher_through(&t, &sink.url(credentials)).dispatch_due().await.unwrap(), 0);
        let view = t.engine().view(id).await.unwrap();
        assert_eq!(view.emails[0].status, EmailStatus::Queued, "{credentials:?}: the email is kept");
        let last = view.attempts.last().expect("the attempt is recorded");
        assert_eq!(last.outcome, AttemptOutcome::Deferred, "{credentials:?}");
        assert!(last.reply.contains(code), "{credentials:?}: the reply says why: {}", last.reply);
        // Past the retry delay.
        t.clock.advance(Duration::from_secs(24 * 3600));
    }

    assert_eq!(dispatcher_through(&t, &sink.url("accord:s3cret@")).dispatch_due().await.unwrap(), 1);
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.emails[0].status, EmailStatus::Sent);
    let recipient = &view.emails[0].recipient;
    let mail =
        Sink::new(SinkKind::MailDev, &sink.api).wait_for(recipient, |_| true, Duration::from_secs(20)).await.unwrap();
    assert_eq!(format!("<{}>", mail.message_id), view.emails[0].message_id);
}

/// A relay as companies run them: TLS (after STARTTLS, required before anything else, or from
/// the first byte with `implicit`) with a certificate from a private authority, then SMTP AUTH as
/// `accord`/`s3cret` (aiosmtpd, out of process); killed on drop. Keeps each message it accepts
/// as a file.
struct TlsRelay {
    child: std::process::Child,
    port: u16,
    implicit: bool,
    dir: tempfile::TempDir,
}

impl TlsRelay {
    /// `None` when aiosmtpd is not installed, which fails under CI=true.
    fn start(implicit: bool) -> Option<Self> {
        let python_path = required(aiosmtpd_path(), "aiosmtpd (ACCORD_TEST_AIOSMTPD_PATH)", "the TLS relay test")?;
        let dir = tempfile::tempdir().unwrap();
        // The private authority, and the relay's certificate for 127.0.0.1 that it signs.
        let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        authority.distinguished_name.push(rcgen::DnType::CommonName, "Accord test authority");
        let authority = rcgen::CertifiedIssuer::self_signed(authority, rcgen::KeyPair::generate().unwrap()).unwrap();
        let relay_key = rcgen::KeyPair::generate().unwrap();
        let relay = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&relay_key, &authority)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), authority.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), relay.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), relay_key.serialize_pem()).unwrap();

        let port = free_port();
        let mut child = std::process::Command::new("python3")
            .arg(crate::helpers::repo().join("tests/support/tls_relay.py"))
            .arg(port.to_string())
            .args([dir.path().join("cert.pem"), dir.path().join("key.pem")])
            .args(["accord", "s3cret"])
            .arg(dir.path().join("mail"))
            .arg(if implicit { "smtps" } else { "starttls" })
            .env("PYTHONPATH", python_path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start python3");
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the TLS relay did not start (its errors are above)");
        Some(Self { child, port, implicit, dir })
    }

    /// The relay's URL, naming the private authority's certificate or not.
    fn url(&self, trusting_the_authority: bool) -> String {
        let mut url = match self.implicit {
            true => format!("smtps://accord:s3cret@127.0.0.1:{}?", self.port),
            false => format!("smtp://accord:s3cret@127.0.0.1:{}?tls=required&", self.port),
        };
        if trusting_the_authority {
            let ca = self.dir.path().join("ca.pem");
            url.push_str("ca=");
            url.extend(url::form_urlencoded::byte_serialize(ca.to_str().unwrap().as_bytes()));
        }
        url
    }

    /// Every message the relay kept.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else { return Vec::new() };
        entries.map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap()).collect()
    }
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn a_relay_with_starttls_and_a_private_authority_gets_the_mail(backend: Backend) {
    through_a_tls_relay(backend, false).await;
}

async fn a_relay_with_implicit_tls_and_a_private_authority_gets_the_mail(backend: Backend) {
    through_a_tls_relay(backend, true).await;
}

/// Through TLS and authentication to a relay whose certificate a private authority signed: not
/// trusting the authority keeps the email queued with the reason; `ca=` trusting it delivers it.
async fn through_a_tls_relay(backend: Backend, implicit: bool) {
    let Some(relay) = TlsRelay::start(implicit) else { return };
    let Some(t) = spawn_app(backend).await else { return };
    let id = t.start_signup().await;

    assert_eq!(dispatcher_through(&t, &relay.url(false)).dispatch_due().await.unwrap(), 0);
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.emails[0].status, EmailStatus::Queued, "an untrusted certificate keeps the email");
    let last = view.attempts.last().expect("the attempt is recorded");
    assert!(last.reply.contains("certificate"), "the reply says why: {}", last.reply);
    assert!(implicit || last.reply.contains("STARTTLS"), "the reply says what failed: {}", last.reply);
    assert!(implicit || last.reply.contains("add ca=PATH"), "the reply says what to do: {}", last.reply);
    assert!(relay.messages().is_empty());

    t.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(dispatcher_through(&t, &relay.url(true)).dispatch_due().await.unwrap(), 1);
    let view = t.engine().view(id).await.unwrap();
    assert_eq!(view.emails[0].status, EmailStatus::Sent);
    let messages = relay.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains(&view.emails[0].message_id), "{}", messages[0]);
    assert!(messages[0].contains(&view.emails[0].recipient), "{}", messages[0]);
}
