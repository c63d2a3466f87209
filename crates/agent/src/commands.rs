//! Remote commands: a whitelist of argv commands with checked parameters, requested over MQTT
//! (or through the hub), run by the agent's one [`Runner`], every request audited.
//!
//! Request: `{"command": "restart", "params": ["nginx"], "request_id": "r-17"}` (plus
//! `expires_at` and `signature` when `[remote] trusted_keys` is set; see
//! [`signing`]). Response: `{"request_id", "command", "ok", "error"?, "exit_code"?, "signal"?,
//! "output"?, "stderr"?, "truncated", "duration_ms"?, "commands"?}`. An unknown command, a
//! parameter that breaks its rule, a wrong number of parameters, a malformed request or a bad
//! signature get an error response and run nothing.

pub mod audit;
pub mod config;
pub mod forward;
pub mod signing;

use crate::runner::{Command, Exit, RunError, Runner};
use audit::{Audit, AuditRecord};
use config::{CommandSpec, LIST, ParamRule, RemoteCommandsConfig};
use ed25519_dalek::VerifyingKey;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Mqtt,
    Hub,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Mqtt => "mqtt",
            Origin::Hub => "hub",
        }
    }
}

/// A request as it arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub command: String,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Unix ms after which the signed request must not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Base64 Ed25519 signature over [`signing::signed_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The answer to one request: the result as the hub also takes it, plus the catalogue for
/// `list`. On MQTT it is one flat JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(flatten)]
    pub result: hostwatch_proto::CommandResult,
    /// The catalogue, for `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CatalogueEntry>>,
}

/// One command as `list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub name: String,
    pub description: String,
    /// Per position: `{"choices": [...]}` or `{"regex": "..."}`.
    pub params: Vec<serde_json::Value>,
}

/// `^(?:re)$`: a rule always matches the whole parameter.
pub fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

enum Rule {
    Choices(Vec<String>),
    Regex(String, Regex),
}

struct Compiled {
    spec: CommandSpec,
    rules: Vec<Rule>,
}

/// The whitelist and what running it needs.
pub struct Commands {
    host: String,
    specs: Vec<Compiled>,
    runner: Runner,
    audit: Audit,
    /// Audit entries waiting for the next report to the hub.
    forward: forward::AuditQueue,
    keys: Vec<VerifyingKey>,
    /// Signed request ids seen, with their expiry, so none runs twice.
    seen: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field(
                "commands",
                &self.specs.iter().map(|c| &c.spec.name).collect::<Vec<_>>(),
            )
            .field("audit", &self.audit.path())
            .field("trusted_keys", &self.keys.len())
            .finish()
    }
}

/// The longest a signed request may be valid for, so the replay memory stays small.
const MAX_VALIDITY_MS: i64 = 3_600_000;

impl Commands {
    /// The whitelist of a validated configuration; `host` is the host id signatures bind to.
    pub fn new(
        host: &str,
        specs: &[CommandSpec],
        remote: &RemoteCommandsConfig,
        runner: Runner,
        audit_path: PathBuf,
    ) -> Result<Commands, String> {
        config::validate(specs, remote)?;
        let specs = specs
            .iter()
            .map(|spec| Compiled {
                spec: spec.clone(),
                rules: spec
                    .params
                    .iter()
                    .map(|r| match r {
                        ParamRule {
                            choices: Some(c), ..
                        } => Rule::Choices(c.clone()),
                        ParamRule { regex, .. } => {
                            let re = regex.clone().unwrap_or_default();
                            let compiled = anchored(&re).expect("validated above");
                            Rule::Regex(re, compiled)
                        }
                    })
                    .collect(),
            })
            .collect();
        let keys = remote
            .trusted_keys
            .iter()
            .map(|k| signing::parse_public_key(k))
            .collect::<Result<_, _>>()?;
        Ok(Commands {
            host: host.to_string(),
            specs,
            runner,
            audit: Audit::new(audit_path, remote.audit_max_bytes),
            forward: forward::AuditQueue::new(forward::CAPACITY),
            keys,
            seen: Mutex::new(HashMap::new()),
        })
    }

    pub fn audit_path(&self) -> &std::path::Path {
        self.audit.path()
    }

    /// The audit entries not yet sent to the hub (which leave the queue), and how many were
    /// dropped since start: for the next report's `audit` and `audit_dropped_total`.
    pub fn take_audit_for_hub(&self) -> (Vec<hostwatch_proto::AuditEntry>, u64) {
        self.forward.take()
    }

    /// Answers a raw request (malformed JSON included).
    pub async fn handle_json(&self, payload: &[u8], origin: Origin) -> Response {
        match serde_json::from_slice::<Request>(payload) {
            Ok(request) => self.handle(request, origin).await,
            Err(e) => {
                // Echo what can be salvaged, so the caller can match the answer.
                let loose: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                let text = |k: &str| match &loose[k] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                let response = Response {
                    result: hostwatch_proto::CommandResult {
                        request_id: text("request_id"),
                        command: text("command"),
                        error: Some(format!("malformed request: {e}")),
                        ..Default::default()
                    },
                    commands: None,
                };
                self.audit_rejected(origin, &response, &[]);
                response
            }
        }
    }

    /// Checks and runs a command the hub sent in its envelope.
    pub async fn handle_signed(&self, signed: hostwatch_proto::SignedCommand) -> Response {
        let request = Request {
            command: signed.command,
            params: signed.params,
            request_id: Some(signed.request_id),
            expires_at: Some(signed.expires_at),
            signature: Some(signed.signature),
        };
        self.handle(request, Origin::Hub).await
    }

    /// Checks a request and runs it if it passes.
    pub async fn handle(&self, request: Request, origin: Origin) -> Response {
        let request_id = request
            .request_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(crate::state::new_uuid);
        let mut response = Response {
            result: hostwatch_proto::CommandResult {
                request_id,
                command: request.command.clone(),
                ..Default::default()
            },
            commands: None,
        };
        if request.command == LIST {
            response.result.ok = true;
            response.commands = Some(self.catalogue());
            self.record(origin, &response, &request.params, "ok");
            return response;
        }
        let checked = self
            .check_signature(&request, &response.result.request_id, origin)
            .and_then(|()| self.check(&request));
        let (spec, argv) = match checked {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(origin = origin.as_str(), command = %request.command, %error, "remote command refused");
                response.result.error = Some(error);
                self.audit_rejected(origin, &response, &request.params);
                return response;
            }
        };
        let command = Command::from_argv(&argv)
            .expect("argv has a program (validated)")
            .timeout(Duration::from_secs(spec.timeout_seconds))
            .output_limit(spec.output_max_bytes);
        tracing::info!(origin = origin.as_str(), command = %request.command, request_id = %response.result.request_id, "running a remote command");
        match self.runner.run(&command).await {
            Ok(out) => {
                response.result.ok = out.exit.success();
                match out.exit {
                    Exit::Code(c) => response.result.exit_code = Some(c),
                    Exit::Signaled(s) => response.result.signal = Some(s),
                }
                response.result.output = Some(out.stdout.text().into_owned());
                response.result.stderr = Some(out.stderr.text().into_owned());
                response.result.truncated = out.stdout.truncated || out.stderr.truncated;
                response.result.duration_ms = Some(out.duration.as_millis() as u64);
                if !response.result.ok {
                    response.result.error = Some(out.exit.to_string());
                }
            }
            Err(e) => {
                if let RunError::TimedOut { partial, .. } = &e {
                    response.result.output = Some(partial.stdout.text().into_owned());
                    response.result.stderr = Some(partial.stderr.text().into_owned());
                    response.result.duration_ms = Some(partial.duration.as_millis() as u64);
                }
                response.result.error = Some(e.to_string());
            }
        }
        let result = if response.result.ok { "ok" } else { "failed" };
        self.record(origin, &response, &request.params, result);
        response
    }

    /// The command and its full argv, or why not.
    fn check(&self, request: &Request) -> Result<(&CommandSpec, Vec<String>), String> {
        let Some(c) = self.specs.iter().find(|c| c.spec.name == request.command) else {
            return Err(format!(
                "unknown command `{}`; `list` shows what this host allows",
                request.command
            ));
        };
        let (want, got) = (c.rules.len(), request.params.len());
        if want != got {
            return Err(format!(
                "`{}` takes {want} parameter(s), got {got}",
                c.spec.name
            ));
        }
        for (i, (rule, value)) in c.rules.iter().zip(&request.params).enumerate() {
            if value.chars().any(char::is_control) {
                return Err(format!("parameter {} contains control characters", i + 1));
            }
            let ok = match rule {
                Rule::Choices(choices) => choices.contains(value),
                Rule::Regex(_, re) => re.is_match(value),
            };
            if !ok {
                let allowed = match rule {
                    Rule::Choices(choices) => format!("one of {choices:?}"),
                    Rule::Regex(re, _) => format!("matching `{re}`"),
                };
                return Err(format!(
                    "parameter {} of `{}` must be {allowed}, got {value:?}",
                    i + 1,
                    c.spec.name
                ));
            }
        }
        let mut argv = c.spec.argv.clone();
        argv.extend(request.params.iter().cloned());
        Ok((&c.spec, argv))
    }

    /// With trusted keys configured: a valid signature for this host, unexpired, never seen.
    fn check_signature(
        &self,
        request: &Request,
        request_id: &str,
        origin: Origin,
    ) -> Result<(), String> {
        if self.keys.is_empty() {
            // The hub's database alone must never be able to run anything.
            if origin == Origin::Hub {
                return Err(
                    "this host trusts no signing key ([remote] trusted_keys is empty), \
                     so it refuses commands from the hub"
                        .into(),
                );
            }
            return Ok(());
        }
        let (Some(signature), Some(expires_at), Some(_)) =
            (&request.signature, request.expires_at, &request.request_id)
        else {
            return Err(
                "unsigned request: this host runs only commands signed by a trusted key \
                 (with request_id, expires_at and signature)"
                    .into(),
            );
        };
        let message = signing::signed_message(
            &self.host,
            request_id,
            expires_at,
            &request.command,
            &request.params,
        );
        if !signing::verify(&self.keys, &message, signature) {
            return Err("bad signature: not signed by a trusted key for this host".into());
        }
        let now = jiff::Timestamp::now().as_millisecond();
        if expires_at <= now {
            return Err("expired request".into());
        }
        if expires_at > now + MAX_VALIDITY_MS {
            return Err("request valid for too long (at most one hour)".into());
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, until| *until > now);
        if seen.contains_key(request_id) {
            return Err(format!("replayed request `{request_id}`"));
        }
        seen.insert(request_id.to_string(), expires_at);
        Ok(())
    }

    fn catalogue(&self) -> Vec<CatalogueEntry> {
        self.specs
            .iter()
            .map(|c| CatalogueEntry {
                name: c.spec.name.clone(),
                description: c.spec.description.clone(),
                params: c
                    .rules
                    .iter()
                    .map(|r| match r {
                        Rule::Choices(choices) => serde_json::json!({ "choices": choices }),
                        Rule::Regex(re, _) => serde_json::json!({ "regex": re }),
                    })
                    .collect(),
            })
            .collect()
    }

    fn audit_rejected(&self, origin: Origin, response: &Response, params: &[String]) {
        self.record(origin, response, params, "rejected");
    }

    fn record(&self, origin: Origin, response: &Response, params: &[String], result: &str) {
        let now = jiff::Timestamp::now();
        self.forward.push(hostwatch_proto::AuditEntry {
            at: now.as_millisecond(),
            origin: origin.as_str().to_string(),
            request_id: response.result.request_id.clone(),
            command: response.result.command.clone(),
            params: params.to_vec(),
            outcome: if result == "rejected" {
                hostwatch_proto::AuditOutcome::Refused
            } else {
                hostwatch_proto::AuditOutcome::Ran
            },
            ok: result == "ok",
            exit_code: response.result.exit_code,
            reason: response.result.error.clone(),
            duration_ms: response.result.duration_ms,
        });
        self.audit.record(&AuditRecord {
            time: now.to_string(),
            origin: origin.as_str(),
            request_id: &response.result.request_id,
            command: &response.result.command,
            params,
            result,
            error: response.result.error.as_deref(),
            exit_code: response.result.exit_code,
            duration_ms: response.result.duration_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_commands(dir: &std::path::Path) -> Vec<CommandSpec> {
        vec![CommandSpec {
            name: "touch".into(),
            description: "Make a marker".into(),
            argv: vec!["touch".into(), dir.join("marker").display().to_string()],
            params: vec![],
            timeout_seconds: 5,
            output_max_bytes: 1024,
        }]
    }

    fn signed(private: &str, host: &str, id: &str) -> hostwatch_proto::SignedCommand {
        let expires_at = jiff::Timestamp::now().as_millisecond() + 60_000;
        let message = signing::signed_message(host, id, expires_at, "touch", &[]);
        hostwatch_proto::SignedCommand {
            request_id: id.into(),
            command: "touch".into(),
            params: vec![],
            expires_at,
            signature: signing::sign(private, &message).unwrap(),
        }
    }

    fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn without_a_trusted_key_hub_commands_are_refused_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let commands = Commands::new(
            "web1",
            &touch_commands(dir.path()),
            &RemoteCommandsConfig::default(),
            Runner::default(),
            audit.clone(),
        )
        .unwrap();
        let (private, _) = signing::generate_keypair();
        let response = commands
            .handle_signed(signed(&private, "web1", "hub-1"))
            .await;
        assert!(!response.result.ok);
        assert!(
            response
                .result
                .error
                .as_deref()
                .unwrap()
                .contains("trusts no signing key"),
            "{response:?}"
        );
        assert!(!dir.path().join("marker").exists(), "nothing ran");
        let lines = audit_lines(&audit);
        assert_eq!(lines[0]["origin"], "hub");
        assert_eq!(lines[0]["result"], "rejected");
        assert_eq!(lines[0]["request_id"], "hub-1");
        let result = response.result.clone();
        assert_eq!(result.request_id, "hub-1");
        assert!(!result.ok && result.exit_code.is_none());
    }

    #[tokio::test]
    async fn a_trusted_hub_command_runs_once_for_this_host_only() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let (private, public) = signing::generate_keypair();
        let remote = RemoteCommandsConfig {
            trusted_keys: vec![public],
            ..RemoteCommandsConfig::default()
        };
        let commands = Commands::new(
            "web1",
            &touch_commands(dir.path()),
            &remote,
            Runner::default(),
            audit.clone(),
        )
        .unwrap();
        let other_host = commands
            .handle_signed(signed(&private, "web2", "hub-0"))
            .await;
        assert!(other_host.result.error.unwrap().contains("bad signature"));
        assert!(!dir.path().join("marker").exists());
        let ok = commands
            .handle_signed(signed(&private, "web1", "hub-1"))
            .await;
        assert!(ok.result.ok, "{ok:?}");
        assert_eq!(ok.result.exit_code, Some(0));
        assert!(dir.path().join("marker").exists());
        let replay = commands
            .handle_signed(signed(&private, "web1", "hub-1"))
            .await;
        assert!(replay.result.error.unwrap().contains("replayed"));
        let results: Vec<String> = audit_lines(&audit)
            .iter()
            .map(|l| {
                format!(
                    "{}:{}",
                    l["origin"].as_str().unwrap(),
                    l["result"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(results, ["hub:rejected", "hub:ok", "hub:rejected"]);
        // The same three wait for the hub, without the signature.
        let (queued, dropped) = commands.take_audit_for_hub();
        let outcomes: Vec<_> = queued.iter().map(|e| (e.outcome, e.ok)).collect();
        use hostwatch_proto::AuditOutcome::{Ran, Refused};
        assert_eq!(outcomes, [(Refused, false), (Ran, true), (Refused, false)]);
        assert_eq!(dropped, 0);
        assert_eq!(queued[1].exit_code, Some(0));
        assert!(queued[2].reason.as_deref().unwrap().contains("replayed"));
        let json = serde_json::to_string(&queued).unwrap();
        assert!(
            !json.contains("signature\"") && !json.contains(&private),
            "{json}"
        );
    }

    #[tokio::test]
    async fn every_mqtt_request_is_queued_for_the_hub_once() {
        let dir = tempfile::tempdir().unwrap();
        let commands = Commands::new(
            "web1",
            &touch_commands(dir.path()),
            &RemoteCommandsConfig::default(),
            Runner::default(),
            dir.path().join("audit.jsonl"),
        )
        .unwrap();
        let unknown = br#"{"command": "reboot", "params": ["now"], "request_id": "m-1"}"#;
        assert!(!commands.handle_json(unknown, Origin::Mqtt).await.result.ok);
        let too_many = br#"{"command": "touch", "params": ["x"], "request_id": "m-2"}"#;
        assert!(!commands.handle_json(too_many, Origin::Mqtt).await.result.ok);
        assert!(
            !commands
                .handle_json(b"{not json", Origin::Mqtt)
                .await
                .result
                .ok
        );
        let run = br#"{"command": "touch", "request_id": "m-3"}"#;
        assert!(commands.handle_json(run, Origin::Mqtt).await.result.ok);
        let (queued, _) = commands.take_audit_for_hub();
        let seen: Vec<_> = queued
            .iter()
            .map(|e| (e.origin.as_str(), e.command.as_str(), e.outcome.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("mqtt", "reboot", "refused"),
                ("mqtt", "touch", "refused"),
                ("mqtt", "", "refused"),
                ("mqtt", "touch", "ran"),
            ]
        );
        assert_eq!(queued[0].params, ["now"]);
        assert!(
            queued[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("unknown command")
        );
        assert!(
            queued[2]
                .reason
                .as_deref()
                .unwrap()
                .contains("malformed request")
        );
        assert!(commands.take_audit_for_hub().0.is_empty(), "taken once");
    }
}
