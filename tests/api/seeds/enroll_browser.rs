//! `/enroll` in a real browser (Chromium through ChromeDriver): the Italian form, a refused
//! submission with the note next to its field and the values kept, then the corrected form
//! starting the enrollment. Screenshots go to `target/screenshots/enroll/`.

use std::path::PathBuf;

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(the_enrollment_form_is_filled_in_and_sent_in_a_browser);

async fn screenshot(browser: &Browser, backend: Backend, name: &str) {
    let png = browser.client.screenshot().await.unwrap();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("screenshots").join("enroll");
    std::fs::create_dir_all(&dir).unwrap();
    let store = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    std::fs::write(dir.join(format!("{store}-{name}.png")), png).unwrap();
}

async fn the_enrollment_form_is_filled_in_and_sent_in_a_browser(backend: Backend) {
    let Some(mut m) = TestApp::options(backend).smtp().spawn().await else { return };
    let Some(browser) = Browser::start("enroll").await else { return };
    browser.goto(&format!("{}/enroll?lang=it", m.base)).await;
    browser.wait_for("Registrati come rivenditore indiretto").await;
    screenshot(&browser, backend, "form-it").await;
    let input = crate::enrollment::enrollment_input();
    for (name, value) in super::enroll::form_of(&input) {
        let value = if name == "primary_contact.email" { "anna.rossi@gmail.com".to_owned() } else { value };
        browser.css(&format!("[id='{name}']")).await.send_keys(&value).await.unwrap();
    }
    browser.css("form button[type=submit]").await.click().await.unwrap();
    let html = browser.wait_for("primary_contact.email-error").await;
    assert!(html.contains("non accettiamo indirizzi di servizi di posta web"), "{html}");
    screenshot(&browser, backend, "refused-it").await;
    let email = browser.css("[id='primary_contact.email']").await;
    assert_eq!(email.prop("value").await.unwrap().as_deref(), Some("anna.rossi@gmail.com"), "kept");
    let city = browser.css("[id='company.address.city']").await;
    assert_eq!(city.prop("value").await.unwrap().as_deref(), Some("Milano"), "kept");
    email.clear().await.unwrap();
    email.send_keys("anna.rossi@contoso.it").await.unwrap();
    browser.css("form button[type=submit]").await.click().await.unwrap();
    browser.wait_for("Controlla la posta").await;
    screenshot(&browser, backend, "started-it").await;
    assert_eq!(m.dispatch().await, 1);
    let mail = m.next_mail().await;
    assert_eq!(mail.to, ["anna.rossi@contoso.it"]);
    browser.goto(&format!("{}/enroll?lang=en", m.base)).await;
    browser.wait_for("Enroll as an indirect reseller").await;
    screenshot(&browser, backend, "form-en").await;
    browser.finish().await;
}
