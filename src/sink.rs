//! Adapters that read received mail from an out-of-process SMTP sink's HTTP API (MailHog v2,
//! Mailpit, MailDev), so a test suite or `accord demo` can find a message and the links in it.

use std::time::{Duration, Instant};

use anyhow::Context;
use mail_parser::MessageParser;
use serde_json::Value;

/// Which sink an adapter talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    MailHog,
    Mailpit,
    MailDev,
}

/// A received message, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkMessage {
    /// The sink's own id for the message.
    pub id: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone, Debug)]
pub struct Sink {
    kind: SinkKind,
    base: String,
    client: reqwest::Client,
}

impl Sink {
    /// `mailhog=URL`, `mailpit=URL` or `maildev=URL` (the sink's HTTP API, such as
    /// `http://127.0.0.1:8025`).
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (kind, url) = spec.split_once('=').context("expected KIND=URL, such as mailhog=http://127.0.0.1:8025")?;
        let kind = match kind {
            "mailhog" => SinkKind::MailHog,
            "mailpit" => SinkKind::Mailpit,
            "maildev" => SinkKind::MailDev,
            other => anyhow::bail!("unknown sink `{other}`: use mailhog, mailpit or maildev"),
        };
        url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
        Ok(Self::new(kind, url))
    }

    pub fn new(kind: SinkKind, base: &str) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { kind, base: base.trim_end_matches('/').to_owned(), client }
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let response = self.client.get(&url).send().await.with_context(|| format!("asking the sink at {url}"))?;
        anyhow::ensure!(response.status().is_success(), "the sink at {url} answered {}", response.status());
        Ok(response)
    }

    /// Every message the sink holds.
    pub async fn messages(&self) -> anyhow::Result<Vec<SinkMessage>> {
        match self.kind {
            SinkKind::MailHog => {
                // Content-Type is text/json: parse the text rather than trusting the header.
                let text = self.get("/api/v2/messages?limit=1000").await?.text().await?;
                parse_mailhog(&serde_json::from_str(&text).context("MailHog's answer is not JSON")?)
            }
            SinkKind::MailDev => {
                let text = self.get("/email").await?.text().await?;
                parse_maildev(&serde_json::from_str(&text).context("MailDev's answer is not JSON")?)
            }
            SinkKind::Mailpit => {
                let list: Value = self.get("/api/v1/messages?limit=1000").await?.json().await?;
                let mut messages = Vec::new();
                for summary in list["messages"].as_array().into_iter().flatten() {
                    let id = summary["ID"].as_str().context("a Mailpit message without an ID")?;
                    let raw = self.get(&format!("/api/v1/message/{id}/raw")).await?.bytes().await?;
                    let to = summary["To"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["Address"].as_str())
                        .map(str::to_owned)
                        .collect();
                    messages.push(from_raw(id, to, &raw)?);
                }
                Ok(messages)
            }
        }
    }

    /// Empties the sink.
    pub async fn clear(&self) -> anyhow::Result<()> {
        let path = match self.kind {
            SinkKind::MailHog => "/api/v1/messages",
            SinkKind::Mailpit => "/api/v1/messages",
            SinkKind::MailDev => "/email/all",
        };
        let url = format!("{}{path}", self.base);
        let response = self.client.delete(&url).send().await.with_context(|| format!("emptying the sink at {url}"))?;
        anyhow::ensure!(response.status().is_success(), "emptying the sink at {url}: {}", response.status());
        Ok(())
    }

    /// Waits until a message to `recipient` that `matches` arrives.
    pub async fn wait_for(
        &self,
        recipient: &str,
        matches: impl Fn(&SinkMessage) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<SinkMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .messages()
                .await?
                .into_iter()
                .find(|m| m.to.iter().any(|to| to.eq_ignore_ascii_case(recipient)) && matches(m));
            if let Some(message) = found {
                return Ok(message);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no matching message to {recipient} reached the sink within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl SinkMessage {
    /// Decodes a raw message (MIME, any transfer encoding, RFC 2047 headers). `to` is the
    /// envelope's recipients; when empty, the To header's addresses are used.
    pub fn from_raw(id: &str, to: Vec<String>, raw: &[u8]) -> anyhow::Result<SinkMessage> {
        from_raw(id, to, raw)
    }
}

fn from_raw(id: &str, to: Vec<String>, raw: &[u8]) -> anyhow::Result<SinkMessage> {
    let parsed = MessageParser::default().parse(raw).context("the message is not valid MIME")?;
    let to = if to.is_empty() {
        parsed.to().map(|to| to.iter().filter_map(|a| a.address().map(str::to_owned)).collect()).unwrap_or_default()
    } else {
        to
    };
    Ok(SinkMessage {
        id: id.to_owned(),
        to,
        subject: parsed.subject().unwrap_or_default().to_owned(),
        message_id: parsed.message_id().unwrap_or_default().to_owned(),
        text: parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
    })
}

/// MailHog v2 keeps bodies in their transfer encoding and splits MIME parts badly, so the whole
/// raw message (`Raw.Data`) is parsed instead.
pub fn parse_mailhog(answer: &Value) -> anyhow::Result<Vec<SinkMessage>> {
    let items = answer["items"].as_array().context("MailHog's answer has no `items`")?;
    items
        .iter()
        .map(|item| {
            let id = item["ID"].as_str().unwrap_or_default();
            let raw = item["Raw"]["Data"].as_str().context("a MailHog message without Raw.Data")?;
            let to = item["Raw"]["To"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            from_raw(id, to, raw.as_bytes())
        })
        .collect()
}

/// MailDev decodes everything; `to` is empty without a To header, so the envelope is used.
pub fn parse_maildev(answer: &Value) -> anyhow::Result<Vec<SinkMessage>> {
    let items = answer.as_array().context("MailDev's answer is not a list")?;
    Ok(items
        .iter()
        .map(|item| SinkMessage {
            id: item["id"].as_str().unwrap_or_default().to_owned(),
            to: item["envelope"]["to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["address"].as_str())
                .map(str::to_owned)
                .collect(),
            subject: item["subject"].as_str().unwrap_or_default().to_owned(),
            message_id: item["messageId"].as_str().unwrap_or_default().trim_matches(['<', '>']).to_owned(),
            text: item["text"].as_str().unwrap_or_default().to_owned(),
            html: item["html"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Value {
        let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    const LINK: &str =
        "https://app.example.test/verify?token=abcDEF123456789abcDEF123456789abcDEF123456789&email=alice%40example.test&next=%2Fhome&n=1";

    #[test]
    fn mailhog_quoted_printable_bodies_and_encoded_subjects_are_decoded() {
        let messages = parse_mailhog(&fixture("mailhog/api_v2_messages.json")).unwrap();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.to, ["alice@example.test"]);
        assert_eq!(m.subject, "Vérifiez votre adresse #1");
        assert_eq!(m.message_id, "179530060195.6376.2296908038489332245@example.test");
        assert!(m.text.contains("Hello Alice – café."), "{}", m.text);
        assert!(m.text.contains(LINK), "soft line breaks and =3D are undone: {}", m.text);
        assert!(m.html.contains(&format!("href=\"{LINK}\"")), "{}", m.html);
    }

    #[test]
    fn maildev_messages_use_the_envelope_recipients() {
        let messages = parse_maildev(&fixture("maildev/email_list.json")).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].to, ["bob@example.test"]);
        assert_eq!(messages[0].subject, "Vérifiez votre adresse #1");
        assert!(messages[0].text.contains(LINK), "{}", messages[0].text);
        assert!(!messages[0].message_id.starts_with('<'));
    }

    #[test]
    fn sink_specs_name_their_kind() {
        assert_eq!(Sink::parse("mailhog=http://127.0.0.1:8025").unwrap().kind, SinkKind::MailHog);
        assert!(Sink::parse("postfix=http://x").unwrap_err().to_string().contains("unknown sink"));
        assert!(Sink::parse("maildev").is_err());
    }
}
