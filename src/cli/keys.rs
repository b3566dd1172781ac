//! `accord keys`: create, list and revoke API keys, operator and partner ones.

use clap::Subcommand;
use serde_json::json;

use super::{output, print};
use accord::app;
use accord::config::Config;
use accord::keys;
use accord::store::Scope;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it once on stdout (only its hash is stored)
    ///
    /// Operator keys: --scope admin|reviewer|pipeline. Partner keys act as one user of one
    /// partner, with that user's roles in the directory at each request:
    /// accord keys create --partner <PARTNER_ID> --user admin@contoso.it --expires 90d
    Create {
        /// admin: everything; reviewer: read and decide; pipeline: start, read and signal
        #[arg(long, value_parser = parse_scope, required_unless_present = "partner", conflicts_with = "partner")]
        scope: Option<Scope>,
        /// Make a partner key for this partner (see `accord partners`); needs --user
        #[arg(long, value_name = "PARTNER_ID", requires = "user")]
        partner: Option<uuid::Uuid>,
        /// The partner's user the key acts as (an email address of one of its users)
        #[arg(long, value_name = "EMAIL", requires = "partner")]
        user: Option<String>,
        /// A name to recognise the key by in instance histories and `accord keys list`
        #[arg(long, default_value = "")]
        label: String,
        /// How long the key lives, such as 90d or 12h [default: until revoked]
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires: Option<std::time::Duration>,
    },
    /// List keys: id, kind, partner, user, label, created, last used, expires, revoked
    List,
    /// Revoke a key: it answers 401 key_revoked from its next request on
    Revoke { id: uuid::Uuid },
}

fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    accord::http::parse_key_lifetime(text)
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    match text.parse()? {
        Scope::Partner => Err("make a partner key with --partner <PARTNER_ID> --user <EMAIL>".into()),
        scope => Ok(scope),
    }
}

pub async fn run(config: Config, action: KeysCommand, json: bool) -> anyhow::Result<()> {
    let store = app::open_store(&config).await?;
    let now = accord::clock::Timestamp::from_datetime(chrono::Utc::now());
    match action {
        KeysCommand::Create { scope, partner, user, label, expires } => {
            let holder = match (scope, partner, user) {
                (_, Some(partner), Some(user)) => keys::KeyHolder::Partner { partner, user },
                (Some(scope), _, _) => keys::KeyHolder::Operator(scope),
                _ => anyhow::bail!("give --scope admin|reviewer|pipeline, or --partner <PARTNER_ID> --user <EMAIL>"),
            };
            let new = keys::NewKey { holder, label, expires_in: expires };
            let (key, record) = keys::create(store.as_ref(), &new, now).await?;
            let mut view = serde_json::to_value(accord::http::KeyView::of(&record))?;
            view["key"] = json!(key);
            // The key alone on stdout, so `accord keys create ... | head -1` or `$(...)` gets it;
            // what it is goes to stderr.
            print(json, &view, || key.clone());
            if !json {
                let holder = match (&record.partner_id, &record.user_email) {
                    (Some(partner), Some(user)) => format!("partner key of {partner}, acting as {user}"),
                    _ => format!("scope {}", record.scope),
                };
                let expiry = record.expires_at.map_or_else(|| "until revoked".to_owned(), |at| format!("until {at}"));
                output::note(&format!(
                    "({holder}; valid {expiry}; id {}; this key is shown once: store it now)",
                    record.id
                ));
            }
            Ok(())
        }
        KeysCommand::List => {
            let keys = store.api_keys().await?;
            let views: Vec<accord::http::KeyView<'_>> = keys.iter().map(accord::http::KeyView::of).collect();
            print(json, &json!({ "items": views }), || {
                let mut lines = vec!["ID\tKIND\tPARTNER\tUSER\tLABEL\tCREATED\tLAST USED\tEXPIRES\tREVOKED".to_owned()];
                let or_dash = |t: Option<String>| t.unwrap_or_else(|| "-".into());
                for k in &keys {
                    lines.push(format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        k.id,
                        if k.scope == Scope::Partner { "partner".to_owned() } else { k.scope.to_string() },
                        or_dash(k.partner_id.map(|p| p.to_string())),
                        or_dash(k.user_email.clone()),
                        if k.label.is_empty() { "-" } else { &k.label },
                        k.created_at,
                        or_dash(k.last_used_at.map(|t| t.to_string())),
                        or_dash(k.expires_at.map(|t| t.to_string())),
                        or_dash(k.revoked_at.map(|t| t.to_string())),
                    ));
                }
                lines.join("\n")
            });
            Ok(())
        }
        KeysCommand::Revoke { id } => match store.revoke_api_key(id, now).await? {
            None => anyhow::bail!("no key with id {id}; `accord keys list` lists them"),
            Some(revoked) => {
                print(json, &json!({ "id": id, "revoked": true, "already_revoked": !revoked }), || {
                    if revoked {
                        format!("revoked {id}")
                    } else {
                        format!("{id} was revoked already")
                    }
                });
                Ok(())
            }
        },
    }
}
