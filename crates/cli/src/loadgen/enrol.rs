//! Enrolling the simulated hosts through the hub's admin API, as an operator's script would:
//! `POST /api/v1/hosts {"name"}` → 201 with the token; a host that exists already (409, a
//! previous run) gets a fresh token from `POST /api/v1/hosts/{name}/rotate-token`.

use anyhow::{Context, bail};
use hostwatch_proto::Secret;
use reqwest::StatusCode;
use std::sync::Arc;

/// Enrolment requests in flight at once: enough for the hub's group commit to batch them.
const IN_FLIGHT: usize = 32;

/// Talks to the admin API with an admin token.
#[derive(Debug, Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl Admin {
    pub fn new(base: &str, token: Secret) -> anyhow::Result<Admin> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hostwatch-loadgen/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the admin API client")?;
        Ok(Admin {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default().to_vec();
        Ok((status, body))
    }

    /// Enrols `name` (or rotates its token when it exists); returns its host token.
    pub async fn enrol(&self, name: &str) -> anyhow::Result<Secret> {
        let body = serde_json::to_vec(&serde_json::json!({ "name": name }))?;
        let (mut status, mut answer) = self.post("/api/v1/hosts", body).await?;
        if status == StatusCode::CONFLICT {
            (status, answer) = self
                .post(&format!("/api/v1/hosts/{name}/rotate-token"), Vec::new())
                .await?;
        }
        if !matches!(status, StatusCode::OK | StatusCode::CREATED) {
            let detail = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                bail!("the hub refused the admin token ({status}): {detail}");
            }
            bail!("enrolling {name}: the hub answered {status}: {detail}");
        }
        let reply: serde_json::Value = serde_json::from_slice(&answer)
            .with_context(|| format!("enrolling {name}: the answer is not JSON"))?;
        let token = reply["token"]
            .as_str()
            .with_context(|| format!("enrolling {name}: the answer has no `token`"))?;
        Ok(Secret::new(token))
    }

    /// Enrols every name, a few at a time; tokens in the order of `names`.
    pub async fn enrol_all(&self, names: &[String]) -> anyhow::Result<Vec<Secret>> {
        let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut tasks = Vec::with_capacity(names.len());
        for name in names {
            let permit = permits.clone().acquire_owned().await?;
            let (admin, name) = (self.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                let token = admin.enrol(&name).await;
                drop(permit);
                token
            }));
        }
        let mut tokens = Vec::with_capacity(names.len());
        for task in tasks {
            tokens.push(task.await.context("an enrolment task failed")??);
        }
        Ok(tokens)
    }
}
