//! The proxmox collector in API mode, against a local HTTPS server with a certificate from a
//! test CA, answering `/api2/json/cluster/resources` with a recorded PVE response: the token
//! goes in the `Authorization` header and nowhere else — not in errors, not in logs.

use crate::hub::test_pki;
use crate::logcapture;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hostwatch_agent::HostPaths;
use hostwatch_agent::collect::Collector;
use hostwatch_agent::collect::proxmox::{ProxmoxCollector, ProxmoxConfig};
use hostwatch_agent::collect::tools::ToolPath;
use hostwatch_agent::runner::Runner;
use hostwatch_proto::{Secret, SectionData};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const TOKEN_ID: &str = "hostwatch@pve!monitor";
const TOKEN_SECRET: &str = "5f3c2a1e-8d4b-4c7a-9e6f-0b1a2c3d4e5f";

/// The Authorization headers seen, and the status to answer with.
#[derive(Default)]
struct Seen {
    authorizations: Vec<String>,
    status: Option<StatusCode>,
}

type Shared = Arc<Mutex<Seen>>;

async fn resources(
    axum::extract::State(seen): axum::extract::State<Shared>,
    headers: HeaderMap,
) -> axum::response::Response {
    let mut seen = seen.lock().unwrap();
    seen.authorizations.push(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    );
    if let Some(status) = seen.status {
        return (status, "{\"data\":null}").into_response();
    }
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/proxmox/cluster-resources_pve7.json"
    ))
    .unwrap();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves the fake PVE API over TLS on a free loopback port.
async fn start(acceptor: tokio_rustls::TlsAcceptor) -> (SocketAddr, Shared) {
    let seen = Shared::default();
    let router = Router::new()
        .route("/api2/json/cluster/resources", get(resources))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(router.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            });
        }
    });
    (addr, seen)
}

fn config(addr: SocketAddr) -> ProxmoxConfig {
    ProxmoxConfig {
        node: Some("node2".into()),
        timeout_seconds: 5,
        api_url: Some(format!("https://127.0.0.1:{}/", addr.port())),
        token_id: Some(TOKEN_ID.into()),
        token_secret: Some(Secret::new(TOKEN_SECRET)),
        ..ProxmoxConfig::default()
    }
}

/// One collection, on a blocking thread as the agent runs collectors.
async fn collect(config: ProxmoxConfig) -> Result<Option<SectionData>, String> {
    tokio::task::spawn_blocking(move || {
        // No pvesh anywhere: API mode must not need it.
        let mut c = ProxmoxCollector::new(
            &config,
            HostPaths::default(),
            Runner::default(),
            ToolPath::new(""),
        );
        c.collect().map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_mode_sends_the_token_and_never_shows_it() {
    logcapture::install();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca_pem, acceptor) = test_pki();
    let (addr, seen) = start(acceptor).await;
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("pve-root-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    // Trusting the PVE CA: the section, parsed as from pvesh.
    let mut trusted = config(addr);
    trusted.ca_file = Some(ca_file.clone());
    assert_eq!(trusted.validate(), Ok(()));
    let Some(SectionData::Proxmox(p)) = collect(trusted.clone()).await.unwrap() else {
        panic!("a proxmox section");
    };
    assert_eq!(p.node, "node2");
    let vm = p.guests.iter().find(|g| g.vmid == 100).unwrap();
    assert_eq!(
        (vm.name.as_str(), vm.memory_used_bytes),
        ("server1", 842_551_296)
    );
    assert!(p.storages.iter().any(|s| s.storage == "local-zfs"));
    assert_eq!(
        seen.lock().unwrap().authorizations,
        vec![format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}")]
    );

    // PVE's self-signed certificate without its CA: refused unless told to skip the check.
    let err = collect(config(addr)).await.unwrap_err();
    assert!(err.contains("Proxmox API https://127.0.0.1:"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let mut insecure = config(addr);
    insecure.insecure_skip_verify = true;
    assert!(matches!(
        collect(insecure).await.unwrap(),
        Some(SectionData::Proxmox(_))
    ));

    // A token PVE refuses: an error naming the URL and the status, not the token.
    seen.lock().unwrap().status = Some(StatusCode::UNAUTHORIZED);
    let refused = collect(trusted.clone()).await.unwrap_err();
    assert!(
        refused.contains("/api2/json/cluster/resources: HTTP 401"),
        "{refused}"
    );

    let debug = format!("{trusted:?}");
    for text in [&err, &refused, &debug, &logcapture::text()] {
        assert!(!text.contains(TOKEN_SECRET), "the secret leaked: {text}");
    }
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[test]
fn api_settings_are_checked_by_key() {
    let ok = ProxmoxConfig {
        api_url: Some("https://pve1:8006".into()),
        token_id: Some(TOKEN_ID.into()),
        token_secret: Some(Secret::new(TOKEN_SECRET)),
        ..ProxmoxConfig::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(ProxmoxConfig::default().validate(), Ok(()), "pvesh mode");
    for (change, key) in [
        (
            ProxmoxConfig {
                api_url: Some("pve1:8006".into()),
                ..ok.clone()
            },
            "proxmox.api_url",
        ),
        (
            ProxmoxConfig {
                api_url: Some(format!("https://root:{TOKEN_SECRET}@pve1:8006")),
                ..ok.clone()
            },
            "proxmox.api_url",
        ),
        (
            ProxmoxConfig {
                token_id: Some("hostwatch@pve".into()),
                ..ok.clone()
            },
            "proxmox.token_id",
        ),
        (
            ProxmoxConfig {
                token_secret: None,
                ..ok.clone()
            },
            "proxmox.token_secret",
        ),
        (
            ProxmoxConfig {
                ca_file: Some("/nonexistent/pve-root-ca.pem".into()),
                ..ok.clone()
            },
            "proxmox.ca_file",
        ),
    ] {
        let err = change.validate().unwrap_err();
        assert!(err.starts_with(&format!("key `{key}`")), "{err}");
        assert!(!err.contains(TOKEN_SECRET), "{err}");
    }
}
