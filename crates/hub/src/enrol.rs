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
    #[error("invalid tag `{0}`: use 1-64 letters, digits, '-', '_', '.', ':' or '='")]
    InvalidTag(String),
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

/// Whether `tag` is a valid host tag: short, and safe in URLs, label values and filters.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '='))
}

/// Checks tags and puts them in canonical form: sorted, without duplicates.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, EnrolError> {
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return Err(EnrolError::InvalidTag(bad.clone()));
    }
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Replaces a host's tags; `None` when there is no such host.
pub async fn set_tags<S: Store>(
    store: &S,
    name: &str,
    tags: &[String],
) -> Result<Option<Vec<String>>, EnrolError> {
    let tags = normalize_tags(tags)?;
    Ok(store.set_host_tags(name, &tags).await?.then_some(tags))
}

fn agent_config(name: &str, hub_url: &str, token: &Secret) -> Secret {
    Secret::new(format!(
        "[agent]\nhost_id = \"{name}\"\n\n[hub]\nurl = \"{hub_url}\"\ntoken = \"{}\"\n",
        token.expose()
    ))
}

/// Creates a host with its tags and issues its token.
pub async fn add_host<S: Store>(
    store: &S,
    name: &str,
    tags: &[String],
    hub_url: &str,
    now: i64,
) -> Result<Enrolment, EnrolError> {
    if !valid_name(name) {
        return Err(EnrolError::InvalidName(name.to_string()));
    }
    let tags = normalize_tags(tags)?;
    let issued = token::issue();
    let mut host = store.create_host(name, &issued.stored, now).await?;
    if !tags.is_empty() {
        store.set_host_tags(name, &tags).await?;
        host.tags = tags;
    }
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
