//! Pooled SMTP connections with `TCP_NODELAY`, built from lettre's connection type.
//!
//! lettre 0.11's own pool leaves Nagle's algorithm on. Its client writes a message's body and the
//! end-of-data marker (`\r\n.\r\n`) as two writes, so the kernel holds the five-byte marker until
//! the server acknowledges the body, and servers delay that acknowledgement (40 ms on Linux): one
//! stall per message, whatever the server. Here each connection is a tokio `TcpStream` with
//! `TCP_NODELAY` handed to lettre (`connect_with_transport`), which then does the SMTP exchange,
//! STARTTLS and authentication itself. Implicit TLS (`smtps://`) keeps lettre's own pool.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// How STARTTLS is used on a `smtp://` connection (`?tls=` in the URL, as lettre reads it).
#[derive(Clone)]
pub enum StartTls {
    Never,
    /// When the server offers it.
    Opportunistic(TlsParameters),
    /// Or the connection fails.
    Required(TlsParameters),
}

/// Why a send failed: permanent (the server refused this message) or worth trying again.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    pub reply: String,
}

pub struct SmtpPool {
    host: String,
    port: u16,
    tls: StartTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl SmtpPool {
    pub fn new(host: String, port: u16, tls: StartTls, credentials: Option<Credentials>, timeout: Duration) -> Self {
        Self {
            host,
            port,
            tls,
            credentials,
            hello: ClientId::default(),
            timeout,
            idle: Mutex::new(Vec::new()),
            max_idle: 16,
        }
    }

    /// Sends one message: on an idle connection that still answers `NOOP`, else a new one. A
    /// connection goes back to the pool only after a successful send.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SendError> {
        let reused = self.idle.lock().await.pop();
        let mut connection = match reused {
            Some(mut connection) => {
                if connection.test_connected().await {
                    connection
                } else {
                    self.within("connecting", self.connect()).await?
                }
            }
            None => self.within("connecting", self.connect()).await?,
        };
        let response =
            self.within("sending", async { connection.send(envelope, message).await.map_err(lettre_error) }).await?;
        if !connection.has_broken() {
            let mut idle = self.idle.lock().await;
            if idle.len() < self.max_idle {
                idle.push(connection);
            }
        }
        Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|err| SendError {
            permanent: false,
            reply: format!("cannot connect to {}:{}: {err}", self.host, self.port),
        })?;
        stream
            .set_nodelay(true)
            .map_err(|err| SendError { permanent: false, reply: format!("setting TCP_NODELAY: {err}") })?;
        // Whatever goes wrong before a message is sent (the greeting, STARTTLS, authentication)
        // is the server's or the configuration's doing, never the message's: the email waits
        // for a later attempt, a 5xx reply included.
        let session = |what: &'static str| {
            move |err| SendError { permanent: false, reply: format!("{what}: {}", error_chain(&err)) }
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(session("greeting"))?;
        match &self.tls {
            StartTls::Never => {}
            StartTls::Opportunistic(_) if !connection.can_starttls() => {}
            StartTls::Opportunistic(tls) | StartTls::Required(tls) => {
                connection.starttls(tls.clone(), &self.hello).await.map_err(session(
                    "STARTTLS (for a relay certificate from a private authority, add ca=PATH to ACCORD_SMTP_URL)",
                ))?;
            }
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(session("authenticating (check the user and password in ACCORD_SMTP_URL)"))?;
        }
        Ok(connection)
    }

    /// Runs `work` under the send timeout: a server that stops answering is a transient failure.
    async fn within<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T, SendError>>,
    ) -> Result<T, SendError> {
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| {
            Err(SendError {
                permanent: false,
                reply: format!("{what}: no answer from {}:{} within {:?}", self.host, self.port, self.timeout),
            })
        })
    }
}

fn lettre_error(err: lettre::transport::smtp::Error) -> SendError {
    SendError { permanent: refuses_the_message(&err), reply: error_chain(&err) }
}

/// Whether the server refused the message itself: a 5xx reply, except those about the session
/// (RFC 4954: 530 authentication required, 534 mechanism too weak, 535 bad credentials, 538
/// encryption required), which a corrected configuration gets past, so the email is kept for
/// another attempt instead of being failed.
pub fn refuses_the_message(err: &lettre::transport::smtp::Error) -> bool {
    err.is_permanent() && !err.status().is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538))
}

/// An error and its causes on one line, each cause once: what an SMTP server or the connection to
/// it said, as the outbox keeps it for the operator.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::delivery::Transport;

    #[test]
    fn an_unknown_tls_mode_is_refused_with_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let err = Transport::new(Some("smtp://relay.example:587?tls=sometimes"), dir.path().into()).err().unwrap();
        let message = err.to_string();
        assert!(message.contains("tls=sometimes") && message.contains("?tls=required"), "{message}");
        assert!(Transport::new(Some("smtp://relay.example:587?tls=required"), dir.path().into()).is_ok());
    }

    #[tokio::test]
    async fn a_private_authority_is_read_from_the_url_or_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mail = || dir.path().join("mail");
        let refused = |url: &str| Transport::new(Some(url), mail()).err().expect(url).to_string();

        let message = refused("smtp://relay.example:25?ca=/etc/ca.pem");
        assert!(message.contains("ca= is for TLS") && message.contains("?tls=required"), "{message}");
        let missing = dir.path().join("missing.pem");
        let message = refused(&format!("smtp://relay.example:587?tls=required&ca={}", missing.display()));
        assert!(message.contains("cannot read the CA certificate"), "{message}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let message = refused(&format!("smtps://relay.example:465?ca={}", garbage.display()));
        assert!(message.contains("is not a PEM certificate"), "{message}");

        let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let authority = authority.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, authority.pem()).unwrap();
        for url in ["smtp://relay.example:587?tls=required&ca=", "smtps://relay.example:465?ca="] {
            let url = format!("{url}{}", ca.display());
            assert!(Transport::new(Some(&url), mail()).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_server_that_refuses_connections_is_a_transient_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pool = super::SmtpPool::new(
            "127.0.0.1".into(),
            port,
            super::StartTls::Never,
            None,
            std::time::Duration::from_secs(5),
        );
        let envelope = lettre::address::Envelope::new(
            Some("a@example.com".parse().unwrap()),
            vec!["b@example.com".parse().unwrap()],
        )
        .unwrap();
        let err = pool.send(&envelope, b"Subject: x\r\n\r\nx\r\n").await.unwrap_err();
        assert!(!err.permanent && err.reply.contains("cannot connect"), "{err:?}");
    }
}
