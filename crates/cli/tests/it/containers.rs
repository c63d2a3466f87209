//! `hostwatch snapshot` finds a Docker daemon through `DOCKER_HOST` (a fake one on a Unix
//! socket in a temp dir, answering with the agent's recorded API responses).

use crate::common::hostwatch;
use hostwatch_proto::Report;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/../agent/tests/fixtures/containers/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The answer to `path` (version prefix and query removed), from the watchtower recording.
fn answer(path: &str) -> (u16, String) {
    let ids = [
        (
            "ae8964ba86c7cd7522cf84e09781343d88e0e3543281c747d88b27e246578b65",
            "watchtower/inspect_exited-code1.json",
        ),
        (
            "3d88e0e3543281c747d88b27e246578b65ae8964ba86c7cd7522cf84e0978134",
            "moby-api-docs/container-inspect_healthy_v1.47-doc-example.json",
        ),
        (
            "b978af0b858aa8855cce46b628817d4ed58e58f2c4f66c9b9c5449134ed4c008",
            "watchtower/inspect_running-no-healthcheck.json",
        ),
        (
            "ae8964ba86c7cd7522cf84e09781343d88e0e3543281c747d88b27e246578b67",
            "watchtower/inspect_restarting.json",
        ),
    ];
    match path {
        "/_ping" => (200, "OK".into()),
        "/version" => (
            200,
            fixture("docker-java/version_api1.38_windows-lcow.json"),
        ),
        "/containers/json" => (200, fixture("watchtower/containers-json_all.json")),
        _ => {
            for (id, file) in ids {
                if path == format!("/containers/{id}/json") {
                    return (200, fixture(file));
                }
                if path == format!("/containers/{id}/stats") {
                    return (
                        200,
                        fixture("docker-java/container-stats_cgroup-v1_api1.27.json"),
                    );
                }
            }
            (404, r#"{"message":"no such container"}"#.into())
        }
    }
}

fn serve(listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        std::thread::spawn(move || {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let target = head.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            let path = match path.strip_prefix("/v1.38") {
                Some(rest) => rest,
                None => path,
            };
            let (status, body) = answer(path);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nApi-Version: 1.38\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
        });
    }
}

#[test]
fn snapshot_shows_containers_through_docker_host() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || serve(listener));

    let out = hostwatch()
        .arg("snapshot")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "containers (Docker Engine 18.06.1-ce on {}): 2 running, 0 unhealthy",
            socket.display()
        )),
        "{text}"
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in {text}"))
            .to_string()
    };
    let running = line("watchtower-running");
    assert!(
        running.contains("running") && running.contains("healthy"),
        "{running}"
    );
    assert!(
        line("portainer").contains("none"),
        "no memory limit shown as none"
    );
    assert!(line("watchtower-stopped").contains("Exited (1) 6 days ago"));

    // The same through the config key, as JSON.
    let out = hostwatch()
        .args(["snapshot", "--format", "json"])
        .env_remove("DOCKER_HOST")
        .env("HOSTWATCH_CONTAINERS_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = Report::from_json(&out.stdout).unwrap();
    let c = report.sections.containers.unwrap();
    let c = c.ok().expect("a healthy section");
    assert_eq!(c.containers.len(), 4);
    assert_eq!(c.api_version.as_deref(), Some("1.38"));
}
