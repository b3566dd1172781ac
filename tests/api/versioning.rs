//! Editing a workflow file and restarting leaves instances in flight on their version.

use crate::helpers::{copy_definitions, operator, signup_request, Backend, TestApp};
use serde_json::json;

crate::on_each_store!(instances_in_flight_keep_their_definition);

async fn instances_in_flight_keep_their_definition(backend: Backend) {
    let files = tempfile::tempdir().unwrap();
    let (workflows, templates) = copy_definitions(files.path());

    let Some(before) = TestApp::options(backend).definitions(&workflows, &templates).spawn().await else { return };
    let old = before.engine().start(signup_request()).await.unwrap().instance;
    let db = before.stop();

    // In the new version, "this wasn't me" counts as an expiry rather than a withdrawal.
    let file = workflows.join("example_signup.toml");
    let source = std::fs::read_to_string(&file).unwrap();
    let edited = source.replace("on.not_me = { to = \"withdrawn\" }", "on.not_me = { to = \"expired\" }");
    assert_ne!(source, edited);
    std::fs::write(&file, edited).unwrap();

    let after = TestApp::options(backend)
        .db(db)
        .definitions(&workflows, &templates)
        .spawn()
        .await
        .expect("the same database again");
    let new = after.engine().start(signup_request()).await.unwrap().instance;
    assert_ne!(old.definition_hash, new.definition_hash);

    let old_outcome = after.engine().apply(old.id, operator("not_me", json!(null), None)).await.unwrap();
    let new_outcome = after.engine().apply(new.id, operator("not_me", json!(null), None)).await.unwrap();
    assert_eq!(old_outcome.instance.state.as_str(), "withdrawn", "the instance in flight kept its version");
    assert_eq!(new_outcome.instance.state.as_str(), "expired", "new instances start on the edited version");
}
