//! hostwatch's configuration conventions, one implementation for agent and hub.
//!
//! Finding, reading and overlaying a TOML config file, with errors that name the file, the
//! key and what was wrong.
//!
//! Search order (the first that exists wins): `--config`, `$HOSTWATCH_CONFIG`,
//! `./hostwatch.toml`, `~/.config/hostwatch/<role>.toml`, `/etc/hostwatch/<role>.toml`; none
//! found → the built-in defaults. Then `HOSTWATCH_<SECTION>_<KEY>` environment variables
//! override single keys (`HOSTWATCH_PROMETHEUS_LISTEN=0.0.0.0:9101`). A value is read as TOML
//! when it parses as one (`10`, `true`, `["lo", "eth0"]`), else as a plain string.

use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "HOSTWATCH_CONFIG";

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// No file was found; built-in defaults (plus environment overrides) apply.
    Defaults,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// A configuration problem. Its message names the file (or environment variable), the key
/// and what was wrong; it never echoes a value, so a mistyped secret is not printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct ConfigError {
    /// The file or environment variable the problem is in.
    pub source_name: String,
    /// `key `a.b`: what was wrong`, or a syntax error with its position.
    pub problem: String,
}

/// The sources to consult, gathered from the process so that tests can pass their own.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config`
    pub explicit: Option<PathBuf>,
    /// The process environment.
    pub env: Vec<(String, String)>,
    /// `$HOME`, for `~/.config/hostwatch/<role>.toml`.
    pub home: Option<PathBuf>,
    /// The directory `./hostwatch.toml` is looked up in.
    pub cwd: Option<PathBuf>,
    /// Replaces `/etc/hostwatch` (tests).
    pub etc_dir: Option<PathBuf>,
}

impl Sources {
    /// The real process environment, with `--config` if given.
    pub fn from_process(explicit: Option<PathBuf>) -> Self {
        Sources {
            explicit,
            env: std::env::vars().collect(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            cwd: std::env::current_dir().ok(),
            etc_dir: None,
        }
    }

    /// The candidate files in search order, each with whether it must exist.
    fn candidates(&self, role: &str) -> Vec<(PathBuf, bool)> {
        if let Some(p) = &self.explicit {
            return vec![(p.clone(), true)];
        }
        if let Some((_, p)) = self
            .env
            .iter()
            .find(|(k, v)| k == CONFIG_ENV && !v.is_empty())
        {
            return vec![(PathBuf::from(p), true)];
        }
        let mut out = Vec::new();
        if let Some(cwd) = &self.cwd {
            out.push((cwd.join("hostwatch.toml"), false));
        }
        if let Some(home) = &self.home {
            out.push((
                home.join(".config/hostwatch").join(format!("{role}.toml")),
                false,
            ));
        }
        let etc = self
            .etc_dir
            .clone()
            .unwrap_or_else(|| "/etc/hostwatch".into());
        out.push((etc.join(format!("{role}.toml")), false));
        out
    }
}

/// Loads the configuration of `role` (`agent`, `hub`).
///
/// `sections` lists the config's top-level tables: an environment variable whose section is
/// not among them is left alone (it may be meant for the command line), while one that names a
/// known section but an unknown key is an error.
pub fn load<T: DeserializeOwned>(
    role: &str,
    sources: &Sources,
    sections: &[&str],
) -> Result<(T, Origin), ConfigError> {
    let mut table = toml::Table::new();
    let mut origin = Origin::Defaults;
    for (path, required) in sources.candidates(role) {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                table = text.parse::<toml::Table>().map_err(|e| ConfigError {
                    source_name: path.display().to_string(),
                    problem: one_line(&e.to_string()),
                })?;
                origin = Origin::File(path);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                return Err(ConfigError {
                    source_name: path.display().to_string(),
                    problem: format!("cannot read: {e}"),
                });
            }
        }
    }

    let overridden = overlay_env(&mut table, &sources.env, sections)?;

    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map(|config| (config, origin.clone()))
        .map_err(|e| {
            let key = e.path().to_string();
            let source_name = overridden
                .get(&key)
                .cloned()
                .unwrap_or_else(|| origin.to_string());
            ConfigError {
                source_name,
                problem: format!("key `{key}`: {}", e.inner()),
            }
        })
}

/// Applies `HOSTWATCH_<SECTION>_<KEY>` variables; returns which dotted key came from which variable.
fn overlay_env(
    table: &mut toml::Table,
    env: &[(String, String)],
    sections: &[&str],
) -> Result<HashMap<String, String>, ConfigError> {
    let mut overridden = HashMap::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("HOSTWATCH_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        if !sections.contains(&section) || key.is_empty() {
            continue;
        }
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = entry.as_table_mut() else {
            return Err(ConfigError {
                source_name: name.clone(),
                problem: format!("`{section}` is not a table in the config file"),
            });
        };
        section_table.insert(key.to_string(), env_value(raw));
        overridden.insert(format!("{section}.{key}"), name.clone());
    }
    Ok(overridden)
}

/// An environment value as TOML when it is valid TOML, else as a string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
