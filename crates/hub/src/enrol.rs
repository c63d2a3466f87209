//! Enrolling hosts and API clients: one implementation for the CLI and the admin API.

use crate::store::{ApiClient, Host, Store, StoreError};
use crate::token;
use hostwatch_proto::Secret;

/// A new host: its token (shown once, never stored) and the agent config to paste.
#[derive(Debug)]
pub struct Enrolment {
    pub host: Host,
    pub token: Secret,
    /// TOML for the host's `/etc/hostwatch/agent.toml`. Holds the token: print, never log.
    pub agent_config: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("invalid name `{0}`: use 1-253 letters, digits, '-', '_' or '.'")]
    InvalidName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `name` is a valid host or client name (what an agent's `host_id` may be).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn agent_config(name: &str, hub_url: &str, token: &Secret) -> Secret {
    Secret::new(format!(
        "[agent]\nhost_id = \"{name}\"\n\n[hub]\nurl = \"{hub_url}\"\ntoken = \"{}\"\n",
        token.expose()
    ))
}

/// Creates a host and issues its token.
pub async fn add_host<S: Store>(
    store: &S,
    name: &str,
    hub_url: &str,
    now: i64,
) -> Result<Enrolment, EnrolError> {
    if !valid_name(name) {
        return Err(EnrolError::InvalidName(name.to_string()));
    }
    let issued = token::issue();
    let host = store.create_host(name, &issued.stored, now).await?;
    let agent_config = agent_config(name, hub_url, &issued.token);
    Ok(Enrolment {
        host,
        token: issued.token,
        agent_config,
    })
}

/// Replaces a host's token; `None` when there is no such host.
pub async fn rotate_token<S: Store>(
    store: &S,
    name: &str,
    hub_url: &str,
    now: i64,
) -> Result<Option<Enrolment>, EnrolError> {
    let issued = token::issue();
    if !store.set_host_token(name, &issued.stored, now).await? {
        return Ok(None);
    }
    let Some(host) = store.host(name).await? else {
        return Ok(None);
    };
    let agent_config = agent_config(name, hub_url, &issued.token);
    Ok(Some(Enrolment {
        host,
        token: issued.token,
        agent_config,
    }))
}

/// Creates an API token for a person or script.
pub async fn add_api_client<S: Store>(
    store: &S,
    client: &ApiClient,
    now: i64,
) -> Result<Secret, EnrolError> {
    if !valid_name(&client.name) {
        return Err(EnrolError::InvalidName(client.name.clone()));
    }
    let issued = token::issue();
    store.create_api_token(client, &issued.stored, now).await?;
    Ok(issued.token)
}
