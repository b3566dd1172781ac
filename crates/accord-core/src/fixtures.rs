//! What the core's tests share: the shipped workflows, parsed as `accord serve` parses them, the
//! ids and addresses their `[sample]` inputs spell, and edits of those samples.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::machine::{Addresses, Registry};
use crate::workflow::{parse_definition, CheckEnv, Definition};

pub(crate) const INSTANCE: uuid::Uuid = uuid::Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
pub(crate) const REVIEWERS: &str = "reviewers@accord.test";

// Ids and addresses as the `[sample]` tables of the shipped workflows spell them.
pub(crate) const RESELLER: uuid::Uuid = uuid::Uuid::from_u128(0x0b7c6d1e_2f3a_4b5c_8d9e_0f1a2b3c4d5e);
pub(crate) const PROVIDER: uuid::Uuid = uuid::Uuid::from_u128(0x8f0c7c1e_4a55_4c7b_9d51_0c5c2a1f7a10);
pub(crate) const CUSTOMER: uuid::Uuid = uuid::Uuid::from_u128(0x5d1c2b3a_4f5e_6d7c_8b9a_0a1b2c3d4e5f);
pub(crate) const ANNA: &str = "anna.rossi@contoso.it";
pub(crate) const MARCO: &str = "admin@contosoitalia.onmicrosoft.com";
pub(crate) const GIULIA: &str = "giulia@northwind.it";
pub(crate) const CONTOSO_ADMIN: &str = "admin@contoso.it";
/// The reseller's second global admin in the provider invitation's sample.
pub(crate) const CONTOSO_IT: &str = "it@contoso.it";

pub(crate) fn addresses() -> Addresses {
    Addresses::from([("reviewers".to_owned(), REVIEWERS.to_owned())])
}

/// The shipped definitions, parsed and checked as `accord serve` parses them.
pub(crate) fn definitions() -> &'static [Definition] {
    static LOADED: OnceLock<Vec<Definition>> = OnceLock::new();
    LOADED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
        let registry = registry();
        let (guards, effects, checks) = (registry.guard_names(), registry.effect_names(), registry.start_check_specs());
        let env = CheckEnv { guards: &guards, start_checks: &checks, effects: &effects, template_exists: None };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("workflows/ is readable")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let source = std::fs::read_to_string(path).expect("a workflow file");
                parse_definition(&path.display().to_string(), &source, &env)
                    .unwrap_or_else(|problems| panic!("{} has problems: {problems:#?}", path.display()))
            })
            .collect()
    })
}

pub(crate) fn registry() -> Registry {
    crate::csp::registry()
}

pub(crate) fn definition(name: &str) -> &'static Definition {
    definitions().iter().find(|d| d.name.as_str() == name).unwrap_or_else(|| panic!("no shipped workflow `{name}`"))
}

pub(crate) fn remove(value: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('.').map_or((None, path), |(parent, key)| (Some(parent), key));
    let target = match parent {
        Some(parent) => parent.split('.').try_fold(value, |value, key| value.get_mut(key)),
        None => Some(value),
    };
    let removed = target.and_then(Value::as_object_mut).and_then(|map| map.remove(key));
    assert!(removed.is_some(), "the sample has no `{path}` to remove");
}

pub(crate) fn set(value: &mut Value, path: &str, new: Value) {
    let target = path.split('.').try_fold(value, |value, key| value.get_mut(key));
    *target.unwrap_or_else(|| panic!("the sample has no `{path}` to replace")) = new;
}

/// A change to a sample context, so a case can say what it differs in.
#[derive(Clone, Debug)]
pub(crate) enum Edit {
    Keep,
    Set(&'static str, Value),
    Remove(&'static str),
    Replace(Value),
}

impl Edit {
    pub(crate) fn apply(&self, context: &mut Value) {
        match self {
            Edit::Keep => {}
            Edit::Set(path, value) => set(context, path, value.clone()),
            Edit::Remove(path) => remove(context, path),
            Edit::Replace(value) => *context = value.clone(),
        }
    }
}
