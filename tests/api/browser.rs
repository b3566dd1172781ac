//! The console and the recipient pages in a real browser: Debian's Chromium driven through
//! ChromeDriver (WebDriver) with fantoccini. Each page visited is saved as a screenshot under
//! `target/tmp/screenshots/` for a person to look at. Without ChromeDriver the tests are skipped,
//! except under CI=true, where they fail (scripts/test installs it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use accord::clock::Clock;
use accord::directory::{NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use accord::engine::StartRequest;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{links_in, spawn_app, Backend, TestApp};

/// A headless Chromium session, and the ChromeDriver that runs it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// Screenshots are named `<prefix>-<page>.png`.
    prefix: String,
}

fn executable(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    path.exists().then_some(path)
}

impl Browser {
    pub(crate) async fn start(prefix: &str) -> Option<Self> {
        Self::start_sized(prefix, "1280,1000", &[]).await
    }

    /// A session whose window is `window` (`width,height`: a phone's, say), with `extra` flags
    /// (dark mode, say).
    pub(crate) async fn start_sized(prefix: &str, window: &str, extra: &[&str]) -> Option<Self> {
        let (Some(driver), Some(chromium)) = (
            executable("ACCORD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"),
            executable("ACCORD_TEST_CHROMIUM", "/usr/bin/chromium"),
        ) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: browser tests need chromium and chromium-driver (scripts/test installs them)"
            );
            eprintln!("skipping: chromium and chromium-driver are not installed (scripts/test installs them)");
            return None;
        };
        let port = crate::helpers::free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium off the network beyond loopback (this machine's is closed).
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={window}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra.iter().map(|flag| (*flag).to_owned()));
        // Two TLS backends are linked into the test binary; the WebDriver client must pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Some(Self { client, driver, _profile: profile, prefix: prefix.to_owned() })
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits until the page's HTML contains `text`; returns the HTML.
    pub(crate) async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let html = self.client.source().await.unwrap();
            if html.contains(text) {
                return html;
            }
            assert!(Instant::now() < deadline, "the page never showed {text:?}:\n{html}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(selector)).await.unwrap()
    }

    pub(crate) async fn xpath(&self, path: &str) -> fantoccini::elements::Element {
        self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(path)).await.unwrap()
    }

    /// Saves the page as `target/tmp/screenshots/<prefix>-<name>.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}-{name}.png", self.prefix)), png).unwrap();
    }

    pub(crate) async fn sign_in(&self, base: &str, key: &str) {
        self.goto(&format!("{base}/console")).await;
        self.wait_for("Sign in to the review console").await;
        assert!(self.client.current_url().await.unwrap().path().ends_with("/console/login"), "redirected to sign in");
        self.screenshot("console-login").await;
        self.css("#key").await.send_keys("acc_not-a-key").await.unwrap();
        self.css("form button").await.click().await.unwrap();
        self.wait_for("This key is not valid").await;
        self.css("#key").await.send_keys(key).await.unwrap();
        self.css("form button").await.click().await.unwrap();
        self.wait_for("Review queue</h1>").await;
    }

    pub(crate) async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn reviewer_key(m: &TestApp) -> String {
    accord::keys::create_operator(m.engine().store().as_ref(), accord::store::Scope::Reviewer, "giulia", m.clock.now())
        .await
        .unwrap()
        .0
}

/// Editing, releasing and retrying emails in the console is an admin's (the authorisation table).
async fn admin_key(m: &TestApp) -> String {
    accord::keys::create_operator(m.engine().store().as_ref(), accord::store::Scope::Admin, "marco", m.clock.now())
        .await
        .unwrap()
        .0
}

fn prefix(backend: Backend, test: &str) -> String {
    format!("{}-{test}", if backend == Backend::Sqlite { "sqlite" } else { "postgres" })
}

crate::on_each_store!(
    a_reviewer_signs_in_and_approves_an_enrollment,
    a_customer_accepts_an_invitation_released_from_the_draft_editor,
    opening_every_link_page_changes_nothing,
    a_failed_email_shows_the_servers_reply_and_is_retried,
);

async fn a_reviewer_signs_in_and_approves_an_enrollment(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let Some(browser) = Browser::start(&prefix(backend, "review")).await else { return };
    let input = crate::enrollment::enrollment_input();
    let request = StartRequest { workflow: "enrollment".into(), input, idempotency_key: None, actor: "test".into() };
    let id = m.engine().start(request).await.unwrap().instance.id;
    m.send(id, "verify", Value::Null).await.unwrap();
    assert_eq!(m.dispatch().await, 2);
    m.next_mail().await;
    m.next_mail().await;

    browser.sign_in(&m.base, &reviewer_key(&m).await).await;
    let queue = browser.wait_for("Contoso Italia S.r.l.").await;
    assert!(queue.contains("due in 4 days") || queue.contains("due in 5 days"), "a deadline badge: {queue}");
    browser.screenshot("console-queue").await;
    browser.xpath("//a[text()='Contoso Italia S.r.l.']").await.click().await.unwrap();
    let detail = browser.wait_for("State diagram").await;
    assert!(detail.contains("Email verified by"), "verification evidence: {detail}");
    assert!(detail.contains("the MPN profile is in the tenant's country"), "{detail}");
    assert!(detail.contains("<svg"), "the diagram is inline SVG");
    browser.screenshot("console-enrollment").await;

    // A rejection without a reason is refused on the page.
    browser.xpath("//input[@name='event' and @value='reject']/ancestor::form//button").await.click().await.unwrap();
    browser.wait_for("A rejection needs a reason").await;
    browser.screenshot("console-reject-refused").await;
    assert_eq!(m.state(id).await, "in_review");

    browser.xpath("//input[@name='event' and @value='approve']/ancestor::form//button").await.click().await.unwrap();
    let after = browser.wait_for("awaiting_agreement</strong>").await;
    assert!(after.contains("reviewer:giulia"), "the decision is on the timeline with the reviewer: {after}");
    browser.screenshot("console-approved").await;
    assert_eq!(m.state(id).await, "awaiting_agreement");

    assert_eq!(m.dispatch().await, 2);
    let subjects = [m.next_mail().await, m.next_mail().await];
    let to_contact = subjects.iter().find(|mail| mail.to == ["anna.rossi@contoso.it"]).expect("the contact is told");
    assert_eq!(to_contact.subject, "Contoso Italia S.r.l.: la registrazione è stata approvata");

    browser.goto(&format!("{}/console/emails?status=failed", m.base)).await;
    browser.wait_for("No email has failed").await;
    browser.screenshot("console-failed").await;
    browser.finish().await;
}

async fn reseller(m: &TestApp) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id,
        kind: PartnerKind::IndirectReseller,
        legal_name: "Contoso Italia S.r.l.".into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: "contoso.example".into(),
        status: PartnerStatus::Active,
        served_countries: Vec::new(),
        users: vec![NewUser {
            email: "admin@contoso.example".into(),
            name: "Admin".into(),
            roles: vec![Role::GlobalAdmin, Role::AdminAgent],
        }],
    };
    m.engine()
        .store()
        .create_partner(&partner, &accord::directory::Actor::system("test"), m.clock.now())
        .await
        .unwrap();
    id
}

fn customer_invitation(reseller: uuid::Uuid, locale: &str) -> StartRequest {
    let input = json!({
        "reseller": { "id": reseller.to_string() },
        "sender": { "email": "admin@contoso.example" },
        "customer": { "name": "Northwind Traders", "domain": "northwind.example", "country": "IT",
                      "contact": "Giulia Bianchi", "email": "giulia@northwind.example", "locale": locale },
        "dap": true,
    });
    StartRequest { workflow: "customer_invitation".into(), input, idempotency_key: None, actor: "test".into() }
}

async fn a_customer_accepts_an_invitation_released_from_the_draft_editor(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let Some(browser) = Browser::start(&prefix(backend, "customer")).await else { return };
    let reseller = reseller(&m).await;
    let id = m.engine().start(customer_invitation(reseller, "en")).await.unwrap().instance.id;

    browser.sign_in(&m.base, &admin_key(&m).await).await;
    browser.goto(&format!("{}/console/emails?status=draft", m.base)).await;
    browser.wait_for("asks to be your Microsoft Cloud Solution Provider").await;
    browser.xpath("//a[contains(text(), 'asks to be your')]").await.click().await.unwrap();
    let editor = browser.wait_for("Edit the draft").await;
    browser.screenshot("console-draft").await;
    let original = browser.css("#text").await.prop("value").await.unwrap().unwrap();
    assert_eq!(links_in(&original, &m.base).len(), 2, "{editor}");

    // Dropping the link is refused on the page, and what was typed is kept.
    let text = browser.css("#text").await;
    text.clear().await.unwrap();
    text.send_keys("Hello Giulia, please call us to connect.").await.unwrap();
    browser.xpath("//button[text()='Save']").await.click().await.unwrap();
    let refused = browser.wait_for("Not saved").await;
    assert!(refused.contains("personalised link"), "{refused}");
    assert!(refused.contains("please call us to connect"), "the typed text is kept: {refused}");
    browser.screenshot("console-draft-refused").await;

    let text = browser.css("#text").await;
    text.clear().await.unwrap();
    text.send_keys(&format!("Dear Giulia, as agreed on the phone:\n\n{original}")).await.unwrap();
    browser.xpath("//button[text()='Save']").await.click().await.unwrap();
    browser.wait_for("Dear Giulia, as agreed").await;
    browser.xpath("//button[text()='Done']").await.click().await.unwrap();
    browser.wait_for("No draft is waiting").await;

    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert!(mail.text.starts_with("Dear Giulia, as agreed"), "{}", mail.text);
    let accept = links_in(&mail.text, &m.base).into_iter().next().unwrap();
    browser.goto(&accept).await;
    let page = browser.wait_for("Accept agreement &amp; authorize partner").await;
    assert!(page.contains("reseller and delegated administrator"), "{page}");
    browser.screenshot("customer-accept").await;
    // Without the box, the browser itself holds the form back (and the server would refuse it).
    browser.xpath("//button[text()='Accept & authorize']").await.click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m.state(id).await, "invited");
    browser.css("#confirm_0").await.click().await.unwrap();
    browser.xpath("//button[text()='Accept & authorize']").await.click().await.unwrap();
    browser.wait_for("<h1>Done</h1>").await;
    browser.screenshot("customer-done").await;
    assert_eq!(m.state(id).await, "accepted");

    browser.goto(&format!("{}/console/partners/{reseller}", m.base)).await;
    let listed = browser.wait_for("id=\"customers\"").await;
    assert!(
        listed.contains("Northwind Traders") && listed.contains("reseller and delegated administrator"),
        "{listed}"
    );
    browser.screenshot("console-partner-customers").await;
    browser.finish().await;
}

async fn opening_every_link_page_changes_nothing(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let Some(browser) = Browser::start(&prefix(backend, "prefetch")).await else { return };
    let engine = m.engine().clone();
    let store = engine.store().clone();
    let reseller = reseller(&m).await;
    let mut ids = Vec::new();
    let enrollment = StartRequest {
        workflow: "enrollment".into(),
        input: crate::enrollment::enrollment_input(),
        idempotency_key: None,
        actor: "test".into(),
    };
    ids.push(engine.start(enrollment).await.unwrap().instance.id);
    ids.push(engine.start(customer_invitation(reseller, "it")).await.unwrap().instance.id);
    for draft in store.emails_by_status(accord::store::EmailStatus::Draft, 10, None).await.unwrap() {
        accord::delivery::drafts::release(&engine, draft.id).await.unwrap();
    }
    let provider = uuid::Uuid::new_v4();
    let partner = NewPartner {
        id: provider,
        kind: PartnerKind::IndirectProvider,
        legal_name: "Fabrikam Distribution".into(),
        country: "IT".into(),
        mpn_id: "7654321".into(),
        tenant_domain: "fabrikam.example".into(),
        status: PartnerStatus::Active,
        served_countries: vec!["IT".into()],
        users: Vec::new(),
    };
    store.create_partner(&partner, &accord::directory::Actor::system("test"), m.clock.now()).await.unwrap();
    let invitation = json!({
        "provider": { "id": provider.to_string() },
        "reseller": { "id": reseller.to_string(), "email": "admin@contoso.example" }
    });
    let request = StartRequest {
        workflow: "provider_invitation".into(),
        input: invitation,
        idempotency_key: None,
        actor: "t".into(),
    };
    ids.push(engine.start(request).await.unwrap().instance.id);
    assert_eq!(m.dispatch().await, 3);
    let mut links = Vec::new();
    for _ in 0..3 {
        links.extend(links_in(&m.next_mail().await.text, &m.base));
    }
    assert_eq!(links.len(), 6, "verify, not me, accept, cancel, authorize, decline");

    let before: Vec<i64> = futures::future::join_all(ids.iter().map(|id| store.instance(*id)))
        .await
        .into_iter()
        .map(|i| i.unwrap().unwrap().version)
        .collect();
    for (n, link) in links.iter().enumerate() {
        browser.goto(link).await;
        browser.wait_for("<form method=\"post\"").await;
        browser.screenshot(&format!("link-page-{n}")).await;
    }
    let after: Vec<i64> = futures::future::join_all(ids.iter().map(|id| store.instance(*id)))
        .await
        .into_iter()
        .map(|i| i.unwrap().unwrap().version)
        .collect();
    assert_eq!(before, after, "opening a link page applied nothing");
    for link in &links {
        let token = link.rsplit('/').next().unwrap();
        let record = store.link(&accord::mail::links::hash_token(token)).await.unwrap().unwrap();
        assert_eq!(record.status, accord::store::LinkStatus::Active, "{link} is still usable");
    }
    browser.finish().await;
}

async fn a_failed_email_shows_the_servers_reply_and_is_retried(backend: Backend) {
    let Some(m) = spawn_app(backend).await else { return };
    let Some(browser) = Browser::start(&prefix(backend, "failed")).await else { return };
    crate::email::refusing_smtp_server(m.smtp_port).await;
    let id = m.start_signup().await;
    assert_eq!(m.dispatch().await, 0, "refused with 550");

    browser.sign_in(&m.base, &admin_key(&m).await).await;
    browser.xpath("//nav//a[text()='Emails']").await.click().await.unwrap();
    browser.wait_for("No draft is waiting").await;
    browser.xpath("//a[text()='Failed']").await.click().await.unwrap();
    let list = browser.wait_for("(550): 5.1.1 mailbox unavailable").await;
    assert!(list.contains("anna.rossi@contoso.it"), "{list}");
    browser.screenshot("console-failed-emails").await;
    browser.xpath("//button[text()='Retry']").await.click().await.unwrap();
    browser.wait_for("No email has failed").await;
    let view = m.engine().view(id).await.unwrap();
    assert_eq!(view.emails[0].status, accord::store::EmailStatus::Queued, "queued again");

    assert_eq!(m.dispatch().await, 0, "the server still refuses");
    browser.goto(&format!("{}/console/instances/{id}", m.base)).await;
    let page = browser.wait_for("Timeline").await;
    assert!(page.contains("(550): 5.1.1 mailbox unavailable") && page.contains("<td>2</td>"), "two attempts: {page}");
    browser.screenshot("console-instance-failed").await;
    browser.finish().await;
}
