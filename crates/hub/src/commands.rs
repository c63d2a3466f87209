//! Remote commands through the hub: an admin queues one for a host, the hub signs it with its
//! Ed25519 key (`[commands] signing_key`), and it rides to the host on the envelope of the
//! host's next report; the agent runs it only if it trusts the key, then posts the result.
//!
//! The signature is what makes this safe: the agent checks it against its own
//! `[remote] trusted_keys`, so a forged row in the hub's database cannot run anything.

use crate::hub::Hub;
use crate::store::{HostId, NewCommand, Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use hostwatch_proto::{Secret, SignedCommand};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Mutex;

/// `[commands]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandsConfig {
    /// The base64 Ed25519 private key (`hostwatch keys generate`) the hub signs commands with;
    /// agents list its public half in `[remote] trusted_keys`. Unset: no commands.
    pub signing_key: Option<Secret>,
    /// How long a queued command stays valid (the agent refuses it after), in seconds.
    pub expiry_seconds: u64,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig {
            signing_key: None,
            expiry_seconds: 600,
        }
    }
}

/// Agents refuse a signed request valid for longer than this.
const MAX_EXPIRY_SECONDS: u64 = 3600;

impl CommandsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(key) = &self.signing_key {
            parse_key(key).map_err(|e| format!("key `commands.signing_key`: {e}"))?;
        }
        if !(10..=MAX_EXPIRY_SECONDS).contains(&self.expiry_seconds) {
            return Err(format!(
                "key `commands.expiry_seconds`: must be between 10 and {MAX_EXPIRY_SECONDS}, got {}",
                self.expiry_seconds
            ));
        }
        Ok(())
    }
}

fn parse_key(key: &Secret) -> Result<SigningKey, String> {
    let bytes: [u8; 32] = STANDARD
        .decode(key.expose().trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(
            "not a base64 Ed25519 private key (32 bytes; `hostwatch keys generate` makes one)",
        )?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The message when no key is configured.
pub const NO_KEY: &str = "this hub has no signing key for remote commands: run `hostwatch keys \
     generate`, put its private key in the hub's config as `[commands] signing_key` (or \
     HOSTWATCH_COMMANDS_SIGNING_KEY) and its public key in each agent's `[remote] trusted_keys`, \
     then restart the hub";

/// Why a command could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}", NO_KEY)]
    NoKey,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs `command` for `host`, valid until `expires_at` (unix ms).
pub fn sign(
    key: &Secret,
    host: &str,
    request_id: &str,
    expires_at: i64,
    command: &str,
    params: &[String],
) -> Result<SignedCommand, String> {
    let key = parse_key(key)?;
    let message =
        hostwatch_proto::command::signed_message(host, request_id, expires_at, command, params);
    Ok(SignedCommand {
        request_id: request_id.to_string(),
        command: command.to_string(),
        params: params.to_vec(),
        expires_at,
        signature: STANDARD.encode(key.sign(&message).to_bytes()),
    })
}

/// A fresh request id: `hub-` and 16 random bytes in hex.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("hub-{hex}")
}

/// Checks what the hub can check of a request (the agent checks it against its whitelist).
pub fn check_request(command: &str, params: &[String]) -> Result<(), String> {
    let ok_name = !command.is_empty()
        && command.len() <= 64
        && command
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if !ok_name {
        return Err(format!(
            "`command` must be 1-64 letters, digits, '-', '_' or '.', got {command:?}"
        ));
    }
    if params.len() > 32 {
        return Err(format!("at most 32 parameters, got {}", params.len()));
    }
    for (i, p) in params.iter().enumerate() {
        if p.len() > 1024 {
            return Err(format!("parameter {} is longer than 1024 bytes", i + 1));
        }
        if p.chars().any(char::is_control) {
            return Err(format!("parameter {} contains control characters", i + 1));
        }
    }
    Ok(())
}

/// Signs and stores a command for `host` on behalf of `admin`; the host gets it with the
/// envelope of its next report.
pub async fn queue<S: Store>(
    hub: &Hub<S>,
    host: &crate::store::Host,
    admin: &str,
    command: &str,
    params: &[String],
    now: i64,
) -> Result<SignedCommand, QueueError> {
    let key = hub
        .config
        .commands
        .signing_key
        .as_ref()
        .ok_or(QueueError::NoKey)?;
    check_request(command, params).map_err(QueueError::Invalid)?;
    let expires_at = now + (hub.config.commands.expiry_seconds * 1000) as i64;
    let signed = sign(
        key,
        &host.name,
        &new_request_id(),
        expires_at,
        command,
        params,
    )
    .map_err(QueueError::Invalid)?;
    hub.store
        .queue_command(NewCommand {
            host: host.id,
            requested_by: admin.to_string(),
            requested_at: now,
            signed: signed.clone(),
        })
        .await?;
    hub.pending_commands.add(host.id);
    tracing::info!(host = %host.name, %admin, command, request_id = %signed.request_id, "remote command queued");
    Ok(signed)
}

/// The commands to put in `host`'s envelope now (each sent once). A store failure leaves
/// them queued for the next report.
pub async fn take_for<S: Store>(hub: &Hub<S>, host: HostId, now: i64) -> Vec<SignedCommand> {
    if !hub.pending_commands.maybe(hub, host).await {
        return Vec::new();
    }
    match hub.store.take_commands(host, now).await {
        Ok(taken) => taken,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queued commands; they wait for the next report");
            hub.pending_commands.add(host);
            Vec::new()
        }
    }
}

/// Which hosts may have queued commands, so a report of a host with none costs no write.
/// Unknown after a start until the store is asked once.
#[derive(Debug, Default)]
pub struct PendingCommands {
    hosts: Mutex<Hint>,
}

#[derive(Debug, Default)]
struct Hint {
    /// `None` until the store was asked.
    known: Option<HashSet<HostId>>,
    /// Queued while still unknown (the store's answer may predate them).
    early: HashSet<HostId>,
}

impl PendingCommands {
    pub fn add(&self, host: HostId) {
        let mut hint = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        match hint.known.as_mut() {
            Some(set) => set.insert(host),
            None => hint.early.insert(host),
        };
    }

    /// Whether `host` may have queued commands; forgets it (the caller takes them now).
    async fn maybe<S: Store>(&self, hub: &Hub<S>, host: HostId) -> bool {
        {
            let mut hint = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(set) = hint.known.as_mut() {
                return set.remove(&host);
            }
        }
        match hub.store.hosts_with_queued_commands().await {
            Ok(list) => {
                let mut hint = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
                let early = std::mem::take(&mut hint.early);
                let set = hint.known.get_or_insert_with(HashSet::new);
                set.extend(list);
                set.extend(early);
                set.remove(&host);
                // Taking costs one write; the store's answer is what counts.
                true
            }
            // Still unknown: take (the write tells).
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_from_keys_generate_signs_what_the_agent_verifies() {
        // The keypair's public half, as `hostwatch keys generate` prints it.
        let seed = [7u8; 32];
        let private = Secret::new(STANDARD.encode(seed));
        let public = SigningKey::from_bytes(&seed).verifying_key();
        let signed = sign(&private, "web1", "r1", 5000, "restart", &["nginx".into()]).unwrap();
        let message = hostwatch_proto::command::signed_message(
            "web1",
            "r1",
            5000,
            "restart",
            &["nginx".into()],
        );
        let sig: [u8; 64] = STANDARD
            .decode(&signed.signature)
            .unwrap()
            .try_into()
            .unwrap();
        assert!(
            public
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok()
        );
    }

    #[test]
    fn config_errors_name_the_key_and_never_the_secret() {
        let c = CommandsConfig {
            signing_key: Some(Secret::new("not-base64-and-secret")),
            ..CommandsConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.contains("commands.signing_key"), "{e}");
        assert!(!e.contains("not-base64-and-secret"), "{e}");
        assert!(!format!("{c:?}").contains("not-base64-and-secret"));
        let c = CommandsConfig {
            expiry_seconds: 7200,
            ..CommandsConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("expiry_seconds"));
    }

    #[test]
    fn requests_are_checked_for_shape() {
        assert!(check_request("restart", &["nginx".into()]).is_ok());
        assert!(check_request("rm -rf", &[]).is_err());
        assert!(check_request("", &[]).is_err());
        assert!(check_request("x", &["a\nb".into()]).is_err());
        assert!(check_request("x", &vec!["a".to_string(); 33]).is_err());
    }
}
