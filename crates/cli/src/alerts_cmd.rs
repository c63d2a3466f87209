//! `hostwatch alerts …`: open alerts, silences and acknowledgements, through the hub's API.
//! Unlike `hostwatch hosts`, this cannot work on the data directory: the alert engine's state
//! lives in the running hub (a silence written behind its back would not be seen until a
//! restart), so every command is a request to it, with an API token.

use anyhow::{Context, bail};
use clap::Subcommand;
use hostwatch_hub::alert::matcher::Matcher;
use hostwatch_proto::Secret;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hub's base URL (default: the hub configuration's `server.public_url`, else
    /// `http://` + its listen address).
    #[arg(long, global = true, env = "HOSTWATCH_URL")]
    pub url: Option<String>,
    /// An API token (`hostwatch tokens add NAME`; `--role admin` to silence or acknowledge).
    #[arg(
        long,
        global = true,
        env = "HOSTWATCH_API_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The hub's config file, for the default URL.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Open alerts (firing and pending), most severe first.
    List {
        /// Only this host's.
        #[arg(long)]
        host: Option<String>,
        /// `firing` or `pending`.
        #[arg(long)]
        state: Option<String>,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Silence the alerts that match every `--matcher` for a while: they still change
    /// state, but nobody is notified.
    Silence {
        /// `host=~"web-.*"`, `rule=fs_used`, `mount!="/boot"` (labels, `rule`, `host`,
        /// `severity`); repeatable, all must match.
        #[arg(long = "matcher", short = 'm', required = true)]
        matchers: Vec<String>,
        /// How long: `2h`, `30m`, `1d`.
        #[arg(long = "for")]
        duration: String,
        /// Why, for whoever looks next.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Active and future silences.
    Silences,
    /// Delete a silence by its id.
    Unsilence { id: i64 },
    /// Acknowledge a firing alert: it stops repeating; its resolve is still sent.
    Ack {
        fingerprint: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let response = req
            .send()
            .await
            .with_context(|| format!("{method} {url}: the hub did not answer"))?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let why = doc["error"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            match status.as_u16() {
                401 => bail!("the hub refused the token (401): {why}"),
                403 => bail!("this token may not do that (403; it needs the admin role): {why}"),
                _ => bail!("{method} {path}: the hub answered {status}: {why}"),
            }
        }
        Ok(doc)
    }
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

fn matcher_text(m: &Value) -> String {
    format!(
        "{}{}\"{}\"",
        m["label"].as_str().unwrap_or(""),
        m["op"].as_str().unwrap_or("="),
        m["value"].as_str().unwrap_or("")
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let base = match args.url {
        Some(u) => u,
        None => crate::hub_cmd::load_config(args.config)?
            .server
            .public_url(),
    };
    let Some(token) = args.token.filter(|t| !t.is_empty()) else {
        bail!(
            "--token (or HOSTWATCH_API_TOKEN): an API token is needed (`hostwatch tokens add NAME`)"
        );
    };
    // Check what can be checked before anything is sent.
    let silence = match &args.command {
        AlertsCommand::Silence {
            matchers,
            duration,
            comment,
        } => {
            let mut raw = Vec::new();
            for text in matchers {
                let m = Matcher::parse_text(text).map_err(|e| anyhow::anyhow!("--matcher {e}"))?;
                raw.push(serde_json::to_value(&m)?);
            }
            hostwatch_hub::alert::rule::parse_duration(duration)
                .map_err(|e| anyhow::anyhow!("--for: {e}"))?;
            Some(json!({"matchers": raw, "duration": duration, "comment": comment}))
        }
        AlertsCommand::List { state: Some(s), .. } if s != "firing" && s != "pending" => {
            bail!("--state: `{s}` is neither `firing` nor `pending`")
        }
        _ => None,
    };
    let http = reqwest::Client::builder()
        .user_agent(concat!("hostwatch-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the API client")?;
    let api = Api {
        http,
        base: base.trim_end_matches('/').to_string(),
        token: Secret::new(token),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        use reqwest::Method;
        match args.command {
            AlertsCommand::List { host, state, json } => {
                let mut query = Vec::new();
                if let Some(h) = &host {
                    query.push(format!("host={}", encode(h)));
                }
                if let Some(s) = &state {
                    query.push(format!("state={s}"));
                }
                let path = if query.is_empty() {
                    "/api/v1/alerts".to_string()
                } else {
                    format!("/api/v1/alerts?{}", query.join("&"))
                };
                let alerts = api.call(Method::GET, &path, None).await?;
                if json {
                    out!("{}", serde_json::to_string_pretty(&alerts)?);
                    return Ok(());
                }
                let list = alerts.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    out!("no open alerts");
                    return Ok(());
                }
                out!(
                    "{:<8} {:<7} {:<20} {:<20} {:<16} {:<24}  SUMMARY",
                    "SEVERITY",
                    "STATE",
                    "HOST",
                    "RULE",
                    "SINCE (UTC)",
                    "FINGERPRINT"
                );
                for a in list {
                    let mut flags = Vec::new();
                    if a["silenced"] == true {
                        flags.push("silenced");
                    }
                    if !a["acknowledged"].is_null() {
                        flags.push("acked");
                    }
                    if a["flapping"] == true {
                        flags.push("flapping");
                    }
                    let flags = if flags.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", flags.join(", "))
                    };
                    out!(
                        "{:<8} {:<7} {:<20} {:<20} {:<16} {:<24}  {}{flags}",
                        a["severity"].as_str().unwrap_or(""),
                        a["state"].as_str().unwrap_or(""),
                        a["host"].as_str().unwrap_or(""),
                        a["rule"].as_str().unwrap_or(""),
                        when(a["since"].as_i64()),
                        a["fingerprint"].as_str().unwrap_or(""),
                        a["summary"].as_str().unwrap_or("")
                    );
                }
            }
            AlertsCommand::Silence { .. } => {
                let s = api.call(Method::POST, "/api/v1/silences", silence).await?;
                let matchers: Vec<String> = s["matchers"]
                    .as_array()
                    .map(|m| m.iter().map(matcher_text).collect())
                    .unwrap_or_default();
                out!(
                    "silence {} until {} UTC: {}",
                    s["id"],
                    when(s["ends_at"].as_i64()),
                    matchers.join(", ")
                );
            }
            AlertsCommand::Silences => {
                let list = api.call(Method::GET, "/api/v1/silences", None).await?;
                let list = list.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    out!("no silences");
                    return Ok(());
                }
                out!(
                    "{:<5} {:<16} {:<16} {:<12}  MATCHERS — COMMENT",
                    "ID",
                    "FROM (UTC)",
                    "UNTIL (UTC)",
                    "AUTHOR"
                );
                for s in list {
                    let matchers: Vec<String> = s["matchers"]
                        .as_array()
                        .map(|m| m.iter().map(matcher_text).collect())
                        .unwrap_or_default();
                    out!(
                        "{:<5} {:<16} {:<16} {:<12}  {} — {}",
                        s["id"],
                        when(s["starts_at"].as_i64()),
                        when(s["ends_at"].as_i64()),
                        s["author"].as_str().unwrap_or(""),
                        matchers.join(", "),
                        s["comment"].as_str().unwrap_or("")
                    );
                }
            }
            AlertsCommand::Unsilence { id } => {
                api.call(Method::DELETE, &format!("/api/v1/silences/{id}"), None)
                    .await?;
                out!("silence {id} deleted");
            }
            AlertsCommand::Ack {
                fingerprint,
                comment,
            } => {
                if fingerprint.is_empty() || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
                    bail!("`{fingerprint}` is not a fingerprint (hex digits, as `alerts list` shows)");
                }
                let ack = api
                    .call(
                        Method::POST,
                        &format!("/api/v1/alerts/{fingerprint}/ack"),
                        Some(json!({ "comment": comment })),
                    )
                    .await?;
                out!(
                    "alert {fingerprint} acknowledged by {}: it stops repeating; its resolve is still sent",
                    ack["author"].as_str().unwrap_or("")
                );
            }
        }
        Ok(())
    })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
