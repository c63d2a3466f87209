//! `[[commands]]` (the whitelist) and `[remote]` (signing keys, audit log size).

use serde::Deserialize;

/// One command an operator may trigger remotely.
///
/// ```toml
/// [[commands]]
/// name = "restart"
/// description = "Restart a web service"
/// argv = ["systemctl", "restart"]
/// params = [{ choices = ["nginx", "php-fpm"] }]
/// timeout_seconds = 30
/// ```
/// The checked parameters are appended to `argv`, which runs directly (never through a shell).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub argv: Vec<String>,
    /// One rule per parameter position; a request must give exactly this many.
    #[serde(default)]
    pub params: Vec<ParamRule>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Bytes of stdout (and separately of stderr) kept in the response.
    #[serde(default = "default_output")]
    pub output_max_bytes: usize,
}

fn default_timeout() -> u64 {
    30
}

fn default_output() -> usize {
    16 * 1024
}

/// What one parameter may be: one of fixed `choices`, or text matching the whole of `regex`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamRule {
    pub choices: Option<Vec<String>>,
    pub regex: Option<String>,
}

/// `[remote]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteCommandsConfig {
    /// Ed25519 public keys (base64, as `hostwatch keys generate` prints them). When set, every
    /// request except `list` must be signed by one of them, whatever its origin.
    pub trusted_keys: Vec<String>,
    /// The audit log rotates (to `audit.jsonl.1`) past this size.
    pub audit_max_bytes: u64,
}

impl Default for RemoteCommandsConfig {
    fn default() -> Self {
        RemoteCommandsConfig {
            trusted_keys: Vec::new(),
            audit_max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The name of the built-in catalogue command.
pub const LIST: &str = "list";

/// Checks the whitelist: names, argv, rules (regexes compile), limits.
pub fn validate(specs: &[CommandSpec], remote: &RemoteCommandsConfig) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in specs.iter().enumerate() {
        let at = format!("commands[{i}]");
        let ok_name = !c.name.is_empty()
            && c.name.len() <= 64
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !ok_name {
            return Err(format!(
                "key `{at}.name`: must be 1-64 letters, digits, '-', '_' or '.', got `{}`",
                c.name
            ));
        }
        if c.name == LIST {
            return Err(format!("key `{at}.name`: `list` is built in"));
        }
        if !seen.insert(&c.name) {
            return Err(format!("key `{at}.name`: `{}` is defined twice", c.name));
        }
        if c.argv.is_empty() || c.argv[0].is_empty() {
            return Err(format!("key `{at}.argv`: needs at least the program"));
        }
        if !(1..=3600).contains(&c.timeout_seconds) {
            return Err(format!(
                "key `{at}.timeout_seconds`: must be between 1 and 3600, got {}",
                c.timeout_seconds
            ));
        }
        if !(1..=1024 * 1024).contains(&c.output_max_bytes) {
            return Err(format!(
                "key `{at}.output_max_bytes`: must be between 1 and 1048576, got {}",
                c.output_max_bytes
            ));
        }
        for (j, rule) in c.params.iter().enumerate() {
            let key = format!("{at}.params[{j}]");
            match (&rule.choices, &rule.regex) {
                (Some(choices), None) if !choices.is_empty() => {}
                (None, Some(re)) => {
                    super::anchored(re).map_err(|e| format!("key `{key}.regex`: {e}"))?;
                }
                _ => {
                    return Err(format!(
                        "key `{key}`: give exactly one of `choices` (a non-empty list) or `regex`"
                    ));
                }
            }
        }
    }
    for (i, k) in remote.trusted_keys.iter().enumerate() {
        super::signing::parse_public_key(k)
            .map_err(|e| format!("key `remote.trusted_keys[{i}]`: {e}"))?;
    }
    if remote.audit_max_bytes < 4096 {
        return Err(format!(
            "key `remote.audit_max_bytes`: at least 4096, got {}",
            remote.audit_max_bytes
        ));
    }
    Ok(())
}

/// The whitelist as the agent advertises it to the hub (names, descriptions, rules).
pub fn catalogue(specs: &[CommandSpec]) -> Vec<hostwatch_proto::CommandInfo> {
    specs
        .iter()
        .map(|c| hostwatch_proto::CommandInfo {
            name: c.name.clone(),
            description: c.description.clone(),
            params: c
                .params
                .iter()
                .map(|r| hostwatch_proto::ParamInfo {
                    choices: r.choices.clone(),
                    regex: r.regex.clone(),
                })
                .collect(),
        })
        .collect()
}
