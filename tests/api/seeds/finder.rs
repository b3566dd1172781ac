//! The provider finder (seed 000: a reseller looks for an indirect provider): active indirect
//! providers by country served, through the API, the page and the CLI. A provider serves the
//! countries the directory records for it, else its CSP region's.

use std::process::Command;

use accord::clock::Clock;
use accord::directory::{Actor, NewPartner, NewUser, PartnerKind, PartnerStatus, Role};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{repo, Backend, TestApp};

crate::on_each_store!(the_finder_lists_active_providers_serving_a_country_by_api_page_and_cli);

async fn add(t: &TestApp, kind: PartnerKind, name: &str, country: &str, serves: &[&str], status: PartnerStatus) {
    let partner = NewPartner {
        id: uuid::Uuid::new_v4(),
        kind,
        legal_name: name.into(),
        country: country.into(),
        mpn_id: "4455667".into(),
        tenant_domain: format!("{}.example", name.split(' ').next().unwrap().to_lowercase()),
        status,
        served_countries: serves.iter().map(|c| (*c).to_owned()).collect(),
        users: vec![NewUser {
            email: "secret.admin@provider.example".into(),
            name: "Admin".into(),
            roles: vec![Role::GlobalAdmin],
        }],
    };
    t.engine().store().create_partner(&partner, &Actor::system("test"), t.clock.now()).await.unwrap();
}

fn names(body: &Value) -> Vec<&str> {
    body["items"].as_array().unwrap().iter().map(|p| p["legal_name"].as_str().unwrap()).collect()
}

async fn the_finder_lists_active_providers_serving_a_country_by_api_page_and_cli(backend: Backend) {
    let Some(t) = TestApp::options(backend).spawn().await else { return };
    use PartnerKind::{IndirectProvider, IndirectReseller};
    use PartnerStatus::{Active, PendingAgreement};
    add(&t, IndirectProvider, "Northwind Distribution S.p.A.", "IT", &["IT", "SM"], Active).await;
    add(&t, IndirectProvider, "Fabrikam Distribution GmbH", "DE", &[], Active).await;
    add(&t, IndirectProvider, "Litware Distribution Ltd", "GB", &[], Active).await;
    add(&t, IndirectProvider, "Pending Distribution S.r.l.", "IT", &["IT"], PendingAgreement).await;
    add(&t, IndirectReseller, "Contoso Italia S.r.l.", "IT", &[], Active).await;

    // The API needs no key: it shows what providers publish, never their people.
    let get = |path: String| {
        let client = t.client.clone();
        let url = format!("{}{path}", t.base);
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, italy) = get("/api/v1/providers?country=it".into()).await;
    assert_eq!(status, StatusCode::OK, "{italy}");
    assert_eq!(italy["country"], "IT");
    assert_eq!(names(&italy), ["Fabrikam Distribution GmbH", "Northwind Distribution S.p.A."], "{italy}");
    let fabrikam = &italy["items"][0];
    assert_eq!(fabrikam["serves_from"], "region", "Fabrikam records no countries: its region's: {fabrikam}");
    assert!(fabrikam["serves"].as_array().unwrap().iter().any(|c| c == "FR"));
    assert_eq!(italy["items"][1]["serves_from"], "directory");
    assert!(!italy.to_string().contains("secret.admin"), "no people: {italy}");

    let (_, san_marino) = get("/api/v1/providers?country=SM".into()).await;
    assert_eq!(names(&san_marino), ["Fabrikam Distribution GmbH", "Northwind Distribution S.p.A."]);
    let (_, france) = get("/api/v1/providers?country=FR".into()).await;
    assert_eq!(names(&france), ["Fabrikam Distribution GmbH"], "Northwind records IT and SM only");
    let (_, uk) = get("/api/v1/providers?country=GB".into()).await;
    assert_eq!(names(&uk), ["Litware Distribution Ltd"], "the UK is a region of its own");
    let (_, japan) = get("/api/v1/providers?country=JP".into()).await;
    assert_eq!(names(&japan), Vec::<&str>::new());

    for (query, code) in
        [("?country=XX", "invalid_country"), ("?country=", "country_required"), ("", "country_required")]
    {
        let (status, body) = get(format!("/api/v1/providers{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert_eq!(body["error"]["field"], "country", "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("such as IT"), "{body}");
    }

    // The page, in the browser's language or the one chosen.
    let page = |query: &'static str, language: &'static str| {
        let client = t.client.clone();
        let url = format!("{}/providers{query}", t.base);
        async move {
            let response = client.get(url).header("accept-language", language).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, html) = page("?country=IT", "it-IT,it;q=0.9,en;q=0.5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"it\">") && html.contains("Provider che servono IT"), "{html}");
    assert!(html.contains("Northwind Distribution S.p.A.") && html.contains("Fabrikam Distribution GmbH"));
    assert!(!html.contains("Pending Distribution") && !html.contains("Litware"), "{html}");
    assert!(html.contains("(la sua area CSP)"), "Fabrikam serves its region: {html}");
    let (_, html) = page("?country=IT&lang=en", "it").await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("Providers serving IT"), "{html}");
    let (status, html) = page("?country=ZZ", "en").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Enter the country&#x27;s two-letter ISO code")
            || html.contains("two-letter ISO code, such as IT.")
    );
    let (status, html) = page("", "it").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Trova un provider indiretto") && !html.contains("<table>"), "{html}");

    // The CLI, on the same database.
    let accord = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .current_dir(t.db.dir.path())
            .env("ACCORD_DATA_DIR", t.db.dir.path().join("data"))
            .env("ACCORD_DATABASE_URL", &t.db.url)
            .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
            .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
            .env_remove("ACCORD_CONFIG")
            .args(args)
            .output()
            .unwrap()
    };
    let out = accord(&["providers", "--country", "it"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Northwind Distribution S.p.A.") && stdout.contains("serves IT,SM"), "{stdout}");
    assert!(stdout.contains("Fabrikam Distribution GmbH") && stdout.contains("(its CSP region)"), "{stdout}");
    let out = accord(&["providers", "--country", "XX", "--json"]);
    assert!(!out.status.success());
    let both = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(both.contains("not an ISO 3166-1 alpha-2 country code"), "{both}");
}
