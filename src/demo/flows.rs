//! The demo's recipient: reads the mail back and clicks the links it finds, one workflow at a
//! time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::{Engine, EngineError, EventRequest, StartRequest};
use crate::ids::InstanceId;
use crate::mail::links;
use crate::sink::{Sink, SinkMessage};
use crate::store::{EmailStatus, Origin};

/// Who acts for the demo's customer in the audit log.
const CUSTOMER_DEMO: &str = "customer (demo)";

/// Where the demo reads mail from.
pub(super) enum Mailbox {
    Files(PathBuf),
    Sink(Sink),
}

impl Mailbox {
    async fn messages(&self) -> anyhow::Result<Vec<SinkMessage>> {
        match self {
            Mailbox::Sink(sink) => sink.messages().await,
            Mailbox::Files(dir) => {
                let mut messages = Vec::new();
                let Ok(entries) = std::fs::read_dir(dir) else { return Ok(messages) };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_none_or(|e| e != "eml") {
                        continue;
                    }
                    // A file still being written may not parse yet: the next look finds it whole.
                    if let Ok(message) = std::fs::read(&path)
                        .map_err(anyhow::Error::from)
                        .and_then(|raw| SinkMessage::from_raw(&path.display().to_string(), Vec::new(), &raw))
                    {
                        messages.push(message);
                    }
                }
                Ok(messages)
            }
        }
    }

    /// The first message to `recipient` not seen before.
    async fn next_for(
        &self,
        recipient: &str,
        seen: &mut Vec<String>,
        timeout: Duration,
    ) -> anyhow::Result<SinkMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let fresh =
                self.messages().await?.into_iter().find(|m| {
                    m.to.iter().any(|to| to.eq_ignore_ascii_case(recipient)) && !seen.contains(&m.message_id)
                });
            if let Some(message) = fresh {
                seen.push(message.message_id.clone());
                return Ok(message);
            }
            anyhow::ensure!(Instant::now() < deadline, "no new email to {recipient} arrived within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What one workflow's run did.
#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    pub(super) workflow: String,
    pub(super) states: Vec<String>,
    pub(super) emails: Vec<String>,
    pub(super) links_clicked: usize,
    pub(super) refusals_checked: usize,
    /// What a directory command did (for the relationship commands, which are not workflows).
    pub(super) steps: Vec<String>,
    pub(super) error: Option<String>,
}

/// A recipient and the pages they open.
pub(super) struct Runner {
    pub(super) engine: Engine,
    pub(super) mailbox: Mailbox,
    pub(super) base: String,
    pub(super) client: reqwest::Client,
    pub(super) timeout: Duration,
    pub(super) seen: Vec<String>,
    pub(super) progress: ProgressBar,
    /// The reseller the enrollment made active, for the provider invitation.
    pub(super) reseller: Option<uuid::Uuid>,
    /// The reseller's global admin (who may invite customers).
    pub(super) reseller_admin: String,
    /// The provider the reseller authorised, for the dual invitation.
    pub(super) provider: Option<uuid::Uuid>,
    /// The customer added for the agreement, for the relationship commands.
    pub(super) customer: Option<uuid::Uuid>,
}

impl Runner {
    async fn mail(&mut self, report: &mut Report, to: &str, subject_contains: &str) -> anyhow::Result<SinkMessage> {
        self.progress.set_message(format!("{}: waiting for mail to {to}", report.workflow));
        let mut message = self.mailbox.next_for(to, &mut self.seen, self.timeout).await?;
        if let Mailbox::Files(_) = self.mailbox {
            // The file transport writes the file before the attempt is recorded: once the email
            // counts as sent, the file is complete; read it again.
            let id = format!("<{}>", message.message_id);
            let deadline = Instant::now() + self.timeout;
            while !self
                .engine
                .store()
                .emails_by_status(EmailStatus::Sent, 100_000, None)
                .await?
                .iter()
                .any(|e| e.message_id == id)
            {
                anyhow::ensure!(Instant::now() < deadline, "the email to {to} was never recorded as sent");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let raw = std::fs::read(&message.id).with_context(|| format!("reading {}", message.id))?;
            message = SinkMessage::from_raw(&message.id, Vec::new(), &raw)?;
        }
        anyhow::ensure!(
            message.subject.contains(subject_contains),
            "expected an email about `{subject_contains}` to {to}, got `{}`",
            message.subject
        );
        report.emails.push(format!("{to}: {}", message.subject));
        Ok(message)
    }

    /// Opens the link titled `title` in `message` (a GET, as a scanner would), then acts.
    async fn click(
        &mut self,
        report: &mut Report,
        message: &SinkMessage,
        title: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        for link in links::find_in(&message.text, &self.base) {
            let page = self.client.get(&link).send().await?.text().await?;
            if page.contains(&format!("<h1>{title}</h1>")) {
                let response = self.client.post(&link).form(form).send().await?;
                anyhow::ensure!(response.status().is_success(), "acting on `{title}` answered {}", response.status());
                report.links_clicked += 1;
                return Ok(());
            }
        }
        anyhow::bail!("no link titled `{title}` in `{}`", message.subject)
    }

    async fn decide(&self, id: InstanceId, event: &str, data: Value) -> anyhow::Result<()> {
        let request = EventRequest {
            event: event.into(),
            data,
            idempotency_key: None,
            origin: Origin::Reviewer,
            actor: "demo:reviewer".into(),
        };
        self.engine.apply(id, request).await?;
        Ok(())
    }

    async fn expect_state(&self, id: InstanceId, state: &str) -> anyhow::Result<()> {
        let instance = self.engine.store().instance(id).await?.context("the instance vanished")?;
        anyhow::ensure!(instance.state.as_str() == state, "expected state `{state}`, found `{}`", instance.state);
        Ok(())
    }

    async fn finish(&self, report: &mut Report, id: InstanceId) -> anyhow::Result<()> {
        let history = self.engine.store().history(id).await?;
        report.states = history.iter().map(|h| h.to_state.to_string()).fold(Vec::new(), |mut states, s| {
            if states.last() != Some(&s) {
                states.push(s);
            }
            states
        });
        Ok(())
    }

    pub(super) async fn example_signup(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        let contact = format!("anna.{tag}@contoso.example");
        let input = json!({ "company": { "name": "Contoso" }, "contact": { "name": "Anna Rossi", "email": contact, "locale": "en" } });
        let id = self.start("example_signup", input).await?;
        let verify = self.mail(report, &contact, "Confirm your email address").await?;
        self.click(report, &verify, "Confirm your email address", &[("confirm_0", "on")]).await?;
        self.expect_state(id, "in_review").await?;
        self.mail(report, &contact, "in review").await?;
        self.decide(id, "approve", Value::Null).await?;
        self.mail(report, &contact, "approved").await?;
        self.expect_state(id, "approved").await?;
        self.finish(report, id).await
    }

    pub(super) async fn enrollment(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        let contact = format!("anna.{tag}@contoso.example");
        let admin = format!("admin.{tag}@contoso.example");
        let input = json!({
            "company": { "legal_name": "Contoso Italia S.r.l.",
                         "address": { "line1": "Via Roma 1", "city": "Milano", "postal_code": "20121", "country": "IT" } },
            "tenant": { "domain": "contosoitalia.onmicrosoft.com", "country": "IT" },
            "mpn": { "id": "1234567", "country": "IT" },
            "primary_contact": { "name": "Anna Rossi", "email": contact, "phone": "+39 02 1234 5678", "locale": "it-CH" },
            "support": { "email": "support@contoso.example", "phone": "+39 02 1234 0000" },
            "global_admin": { "name": "Marco Bianchi", "email": admin }
        });
        // Refusals first: a web-mail contact and an MPN profile in another country.
        let mut refused = input.clone();
        refused["primary_contact"]["email"] = json!("anna@gmail.com");
        refused["mpn"]["country"] = json!("FR");
        match self
            .engine
            .start(StartRequest {
                workflow: "enrollment".into(),
                input: refused,
                idempotency_key: None,
                actor: "demo".into(),
            })
            .await
        {
            Err(EngineError::InvalidInput(fields)) if fields.len() == 2 => report.refusals_checked += 1,
            other => anyhow::bail!(
                "a web-mail contact with a foreign MPN profile should be refused on two fields: {other:?}"
            ),
        }
        let id = self.start("enrollment", input).await?;
        let verify = self.mail(report, &contact, "Conferma il tuo indirizzo email").await?;
        self.click(report, &verify, "Conferma il tuo indirizzo email", &[("confirm_0", "on"), ("confirm_1", "on")])
            .await?;
        self.mail(report, &contact, "stiamo esaminando").await?;
        self.decide(id, "request_info", json!({ "message": "Please send the VAT number of the company." })).await?;
        let question = self.mail(report, &contact, "altre informazioni").await?;
        self.click(report, &question, "Rispondi al revisore", &[("answer", "IT01234567890")]).await?;
        self.mail(report, &contact, "stiamo esaminando").await?;
        self.decide(id, "approve", Value::Null).await?;
        self.mail(report, &contact, "approvata").await?;
        let agreement = self.mail(report, &admin, "Contratto per i partner Microsoft").await?;
        self.click(report, &agreement, "Accetta il Contratto per i partner Microsoft", &[("confirm_0", "on")]).await?;
        self.mail(report, &contact, "attivo").await?;
        self.expect_state(id, "active").await?;
        self.reseller = Some(id.as_uuid());
        self.reseller_admin = admin;
        self.finish(report, id).await
    }

    /// An indirect provider serving Italy invites the reseller the enrollment made active.
    pub(super) async fn provider_invitation(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        use crate::directory::{NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
        let reseller = self.reseller.context("the enrollment did not make a reseller active")?;
        let provider = NewPartner {
            id: uuid::Uuid::new_v4(),
            kind: PartnerKind::IndirectProvider,
            legal_name: format!("Fabrikam Distribution {tag}"),
            country: "IT".into(),
            mpn_id: "7654321".into(),
            tenant_domain: "fabrikam.example".into(),
            status: PartnerStatus::Active,
            served_countries: vec!["IT".into(), "SM".into()],
            users: vec![NewUser {
                email: format!("luca.{tag}@fabrikam.example"),
                name: "Luca Verdi".into(),
                roles: vec![Role::GlobalAdmin],
            }],
        };
        self.engine
            .store()
            .create_partner(&provider, &crate::directory::Actor::system("demo"), self.engine.now())
            .await?;
        // The invitation goes to the reseller's global admins as the directory records them: an
        // address of the provider's choosing is refused.
        let contact = format!("admin.{tag}@contoso.example");
        let mut input = json!({
            "provider": { "id": provider.id.to_string() },
            "reseller": { "id": reseller.to_string(), "email": format!("attacker.{tag}@evil.example"), "locale": "it" }
        });
        self.expect_refused(report, "provider_invitation", input.clone(), "reseller.email").await?;
        input["reseller"]["email"] = json!(contact);
        let id = self.start("provider_invitation", input).await?;
        let invitation = self.mail(report, &contact, "a collaborare").await?;
        self.click(report, &invitation, "Autorizza il provider indiretto", &[("confirm_0", "on")]).await?;
        self.expect_state(id, "authorized").await?;
        self.mail(report, &contact, "provider indiretto").await?;
        let related =
            self.engine.store().relationships(reseller).await?.iter().any(|r| r.provider_id == Some(provider.id));
        anyhow::ensure!(related, "the provider is not on the reseller's Indirect providers list");
        self.provider = Some(provider.id);
        self.finish(report, id).await
    }

    /// Expects `request` to be refused at start on `field`.
    async fn expect_refused(
        &self,
        report: &mut Report,
        workflow: &str,
        input: Value,
        field: &str,
    ) -> anyhow::Result<()> {
        let request = StartRequest { workflow: workflow.into(), input, idempotency_key: None, actor: "demo".into() };
        match self.engine.start(request).await {
            Err(EngineError::InvalidInput(fields)) if fields.iter().any(|f| f.field == field) => {
                report.refusals_checked += 1;
                Ok(())
            }
            other => anyhow::bail!("{workflow} should have been refused on `{field}`: {other:?}"),
        }
    }

    /// Releases the instance's draft, after checking that an edit dropping its link is refused.
    async fn release_draft(&mut self, report: &mut Report, id: InstanceId) -> anyhow::Result<()> {
        use crate::delivery::drafts::{self, DraftEdit, DraftError};
        let draft = self
            .engine
            .store()
            .emails(id)
            .await?
            .into_iter()
            .find(|e| e.status == EmailStatus::Draft)
            .context("the invitation was not held as a draft")?;
        let edit = DraftEdit { text: Some("Please call us to connect.".into()), ..DraftEdit::default() };
        match drafts::edit(&self.engine, draft.id, edit).await {
            Err(DraftError::LinkChanged { .. }) => report.refusals_checked += 1,
            other => anyhow::bail!("a draft edit dropping the link should be refused: {other:?}"),
        }
        drafts::release(&self.engine, draft.id).await?;
        Ok(())
    }

    fn customer_input(&self, reseller: uuid::Uuid, domain: &str, contact: &str, dap: bool) -> Value {
        json!({
            "reseller": { "id": reseller.to_string() },
            "sender": { "email": self.reseller_admin },
            "customer": { "name": "Northwind Traders", "domain": domain, "country": "IT", "cloud": "public",
                          "contact": "Giulia Bianchi", "email": contact, "locale": "en" },
            "dap": dap,
        })
    }

    /// The reseller invites a customer with delegated admin privileges; the customer accepts.
    pub(super) async fn customer_invitation(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        let reseller = self.reseller.context("the enrollment did not make a reseller active")?;
        let contact = format!("giulia.{tag}@northwind.example");
        let domain = format!("northwind-{tag}.example");
        let mut by_stranger = self.customer_input(reseller, &domain, &contact, true);
        by_stranger["sender"]["email"] = json!(format!("someone.{tag}@contoso.example"));
        self.expect_refused(report, "customer_invitation", by_stranger, "sender.email").await?;
        let mut germany = self.customer_input(reseller, &domain, &contact, false);
        germany["customer"]["cloud"] = json!("germany");
        self.expect_refused(report, "customer_invitation", germany, "dap").await?;

        let id = self.start("customer_invitation", self.customer_input(reseller, &domain, &contact, true)).await?;
        self.release_draft(report, id).await?;
        let invitation = self.mail(report, &contact, "Cloud Solution Provider").await?;
        self.click(report, &invitation, "Accept agreement &amp; authorize partner", &[("confirm_0", "on")]).await?;
        self.expect_state(id, "accepted").await?;
        let listed = self.engine.store().partner_customers(reseller, None).await?;
        anyhow::ensure!(
            listed.iter().any(|c| c.customer.domain == domain && c.dap),
            "the customer is not on the reseller's Customers list with DAP"
        );
        // Now a customer: a new invitation goes to its recorded admin contact, nobody else.
        let elsewhere = self.customer_input(reseller, &domain, &format!("someone.{tag}@northwind.example"), true);
        self.expect_refused(report, "customer_invitation", elsewhere, "customer.email").await?;
        self.finish(report, id).await
    }

    /// The reseller and its provider invite a customer together; acceptance relates both.
    pub(super) async fn dual_customer_invitation(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        let reseller = self.reseller.context("the enrollment did not make a reseller active")?;
        let provider = self.provider.context("the provider invitation did not relate a provider")?;
        let contact = format!("it.{tag}@adatum.example");
        let domain = format!("adatum-{tag}.example");
        let mut input = self.customer_input(reseller, &domain, &contact, false);
        input["provider"] = json!({ "id": uuid::Uuid::new_v4().to_string() });
        self.expect_refused(report, "dual_customer_invitation", input.clone(), "provider.id").await?;
        input["provider"] = json!({ "id": provider.to_string() });
        let id = self.start("dual_customer_invitation", input).await?;
        self.release_draft(report, id).await?;
        let invitation = self.mail(report, &contact, "Cloud Solution Providers").await?;
        self.click(report, &invitation, "Accept agreement &amp; authorize partner", &[("confirm_0", "on")]).await?;
        self.expect_state(id, "accepted").await?;
        let shared = self.engine.store().partner_customers(reseller, Some(provider)).await?;
        anyhow::ensure!(
            shared.iter().any(|c| c.customer.domain == domain),
            "the customer is not among the customers the reseller shares with its provider"
        );
        self.finish(report, id).await
    }

    /// A customer added from another portal accepts the customer agreement by link.
    pub(super) async fn customer_agreement(&mut self, report: &mut Report, tag: &str) -> anyhow::Result<()> {
        use crate::directory::commands::{self, AddCustomer};
        let reseller = self.reseller.context("the enrollment did not make a reseller active")?;
        let provider = self.provider.context("the provider invitation did not relate a provider")?;
        let contact = format!("admin.{tag}@tailspin.example");
        let add = AddCustomer {
            name: "Tailspin Toys".into(),
            domain: format!("tailspin-{tag}.example"),
            country: "IT".into(),
            cloud: "public".into(),
            admin_name: "Paolo Neri".into(),
            admin_email: contact.clone(),
            locale: Some("it".into()),
            relationships: vec![
                (reseller, "reseller_delegated_admin".into(), None),
                (provider, "advisor".into(), None),
            ],
        };
        let customer = commands::add_customer(
            self.engine.store().as_ref(),
            &add,
            &crate::directory::Actor::system("demo"),
            self.engine.now(),
        )
        .await?;
        self.customer = Some(customer.id);
        let input = commands::agreement_request(self.engine.store().as_ref(), customer.id, reseller).await?;
        let id = self.start("customer_agreement", input).await?;
        let request = self.mail(report, &contact, "Contratto del cliente Microsoft").await?;
        self.click(report, &request, "Accetta il Contratto del cliente Microsoft", &[("confirm_0", "on")]).await?;
        self.expect_state(id, "accepted").await?;
        self.finish(report, id).await
    }

    /// The relationship commands on both sides, with their refusals.
    pub(super) async fn relationship_commands(&mut self, report: &mut Report) -> anyhow::Result<()> {
        use crate::directory::commands::{self, CommandError, RemoveCustomer};
        let store = self.engine.store().clone();
        let store = store.as_ref();
        let now = self.engine.now();
        let reseller = self.reseller.context("the enrollment did not make a reseller active")?;
        let provider = self.provider.context("the provider invitation did not relate a provider")?;
        let customer = self.customer.context("the agreement step added no customer")?;
        match commands::delete_customer_relationship(
            store,
            customer,
            reseller,
            &crate::directory::Actor::new(CUSTOMER_DEMO, "demo"),
            now,
        )
        .await
        {
            Err(CommandError::Refused { code: "ask_partner", .. }) => report.refusals_checked += 1,
            other => anyhow::bail!("a customer must not delete a reseller relationship: {other:?}"),
        }
        commands::delete_customer_relationship(
            store,
            customer,
            provider,
            &crate::directory::Actor::new(CUSTOMER_DEMO, "demo"),
            now,
        )
        .await?;
        report.steps.push("the customer deleted its advisor relationship".into());
        commands::remove_admin_roles(
            store,
            customer,
            reseller,
            &crate::directory::Actor::new(CUSTOMER_DEMO, "demo"),
            now,
        )
        .await?;
        report.steps.push("the customer removed the reseller's admin roles; the relationship stays".into());
        let mut remove = RemoveCustomer {
            partner: reseller,
            customer,
            by: self.reseller_admin.clone(),
            reason: "the customer moved to another partner".into(),
            attest: false,
        };
        match commands::remove_customer_relationship(store, &remove, "demo", now).await {
            Err(CommandError::Invalid { code: "attestation_required", .. }) => report.refusals_checked += 1,
            other => anyhow::bail!("removing a customer without attestation must be refused: {other:?}"),
        }
        remove.attest = true;
        commands::remove_customer_relationship(store, &remove, "demo", now).await?;
        report.steps.push("the reseller removed the customer relationship, with attestation; no notice sent".into());
        commands::remove_admin_access(store, reseller, provider, &crate::directory::Actor::system("demo"), now).await?;
        report.steps.push("the reseller removed its provider's admin access; the partnership stays".into());
        let audit = store.audit_log(&format!("customer:{customer}")).await?;
        anyhow::ensure!(
            audit.iter().any(|a| a.action == "customer_relationship_removed" && a.reason.is_some()),
            "the removal has no audit row with its reason"
        );
        Ok(())
    }

    async fn start(&self, workflow: &str, input: Value) -> anyhow::Result<InstanceId> {
        let request = StartRequest { workflow: workflow.into(), input, idempotency_key: None, actor: "demo".into() };
        let id = self.engine.start(request).await?.instance.id;
        Ok(id)
    }
}
