//! Seed 001: a reseller's legal country decides the regions where it may do business. An
//! invitation to a customer outside them is refused at start, single and dual alike.

use accord::directory::{DirectoryChange, PartnerKind};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::customer::{invitation, partner};
use crate::helpers::{Backend, TestApp};

crate::on_each_store!(an_italian_reseller_may_not_invite_a_uk_customer_single_or_dual);

async fn an_italian_reseller_may_not_invite_a_uk_customer_single_or_dual(backend: Backend) {
    let Some(m) = TestApp::options(backend).spawn().await else { return };
    let reseller = partner(&m, PartnerKind::IndirectReseller, "Contoso Italia S.r.l.").await;
    let provider = partner(&m, PartnerKind::IndirectProvider, "Fabrikam Distribution").await;
    let actor = accord::directory::Actor::system("test");
    let relate = DirectoryChange::RelateProvider { reseller, provider };
    m.engine().store().change_directory(&relate, &actor, accord::clock::Clock::now(&*m.clock)).await.unwrap();
    let api = m.api(accord::store::Scope::Pipeline).await;

    let mut single = invitation(reseller, "tailspin.example", "public", false);
    single["customer"]["country"] = json!("gb");
    let mut dual = single.clone();
    dual["provider"] = json!({ "id": provider.to_string() });
    for (workflow, input) in [("customer_invitation", single.clone()), ("dual_customer_invitation", dual.clone())] {
        let body = json!({ "workflow": workflow, "input": input });
        let (status, body) = api.call(Method::POST, "/api/v1/instances", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{workflow}: {body}");
        let field = &body["error"]["fields"][0];
        assert_eq!(
            (field["field"].as_str(), field["code"].as_str()),
            (Some("customer.country"), Some("region_not_authorized")),
            "{workflow}: {body}"
        );
        let message = field["message"].as_str().unwrap();
        for mention in ["Contoso Italia S.r.l.", "Italy (IT)", "Europe (EU/EFTA)", "United Kingdom", "(GB)"] {
            assert!(message.contains(mention), "{workflow}: {message:?} does not mention {mention:?}");
        }
    }
    let listed = api.get("/api/v1/instances").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "nothing started: {listed}");

    // Inside the region (San Marino, for an Italian reseller) both start.
    for (workflow, mut input) in [("customer_invitation", single), ("dual_customer_invitation", dual)] {
        input["customer"]["country"] = json!("SM");
        let body = json!({ "workflow": workflow, "input": input });
        let (status, body) = api.call(Method::POST, "/api/v1/instances", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{workflow}: {body}");
    }
}
