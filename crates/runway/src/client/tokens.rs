//! `runway token create|list|revoke` over the API (an admin token), and
//! what a new token is, shared with `token create --org` on the database.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use runway_api::enums::TokenScope;
use runway_store::repo::tenants::NewToken;
use serde_json::{Value, json};

use super::commands::{ClientArgs, ListArgs};
use super::render::Output;
use super::{Api, render};

/// What a new token may do, and for how long.
#[derive(Debug, Args)]
pub struct NewTokenArgs {
    /// A label for the token.
    #[arg(long, default_value = "cli")]
    name: String,
    /// `admin` (everything), `write` (every resource but tokens and
    /// retention rules), `read` (reads only) or `runner` (RunnerService
    /// only, for --environment).
    #[arg(long)]
    scope: TokenScope,
    /// A runner token's environment (env_…), repeated for more; `*` for
    /// every environment of the organization.
    #[arg(long = "environment")]
    environments: Vec<String>,
    /// How long until it stops working, e.g. `90d`, `12h`, `30m` (default: never).
    #[arg(long, value_parser = humantime::parse_duration)]
    expires_in: Option<Duration>,
}

impl NewTokenArgs {
    /// The token, expiring `expires_in` after `now` (nanoseconds).
    pub fn new_token(&self, now: i64) -> anyhow::Result<NewToken> {
        let expires_at = match self.expires_in {
            Some(d) => Some(
                now.checked_add(i64::try_from(d.as_nanos()).context("--expires-in is too long")?)
                    .context("--expires-in is too long")?,
            ),
            None => None,
        };
        Ok(NewToken {
            name: self.name.clone(),
            scope: self.scope,
            environment_ids: self.environments.clone(),
            expires_at,
        })
    }

    fn body(&self) -> anyhow::Result<Value> {
        let mut body = json!({"name": self.name, "scope": self.scope});
        if !self.environments.is_empty() {
            body["environment_ids"] = json!(self.environments);
        }
        if let Some(d) = self.expires_in {
            let at = chrono::Utc::now()
                + chrono::Duration::from_std(d).context("--expires-in is too long")?;
            body["expires_at"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        }
        Ok(body)
    }
}

fn print(output: Output, value: &Value) {
    match output {
        Output::Json => render::print_line(value),
        Output::Table => render::print_line(render::human(value)),
    }
}

/// Issues a token in the caller's organization and prints its secret (the
/// whole token as JSON with `--output json`).
pub async fn create(client: ClientArgs, spec: &NewTokenArgs) -> anyhow::Result<()> {
    let api = Api::new(&client.url, &client.token, client.ca.as_deref())?;
    let token = api.post("/tokens", Some(&spec.body()?), None).await?;
    match client.output {
        Output::Json => render::print_line(token),
        Output::Table => {
            // The secret alone on standard output (for `$(…)`); its id, to
            // revoke it by, beside it on standard error.
            render::print_line(token["secret"].as_str().unwrap_or_default());
            crate::logging::tell(format!(
                "runway: issued {} ({} scope); the secret is shown only now",
                token["id"].as_str().unwrap_or_default(),
                token["scope"].as_str().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Lists the organization's tokens.
pub async fn list(
    client: ClientArgs,
    list: &ListArgs,
    include_revoked: bool,
) -> anyhow::Result<()> {
    let api = Api::new(&client.url, &client.token, client.ca.as_deref())?;
    let mut query = list.query();
    if include_revoked {
        query.push(("include_revoked", "true".into()));
    }
    print(client.output, &api.get("/tokens", &query).await?);
    Ok(())
}

/// Revokes a token.
pub async fn revoke(client: ClientArgs, id: &str) -> anyhow::Result<()> {
    let api = Api::new(&client.url, &client.token, client.ca.as_deref())?;
    print(
        client.output,
        &api.post(&format!("/tokens/{id}/revoke"), None, None)
            .await?,
    );
    Ok(())
}

/// Shows the token the command runs with (`RUNWAY_TOKEN` or `--token`).
pub async fn current(client: ClientArgs) -> anyhow::Result<()> {
    let api = Api::new(&client.url, &client.token, client.ca.as_deref())?;
    print(client.output, &api.get("/tokens/current", &[]).await?);
    Ok(())
}
