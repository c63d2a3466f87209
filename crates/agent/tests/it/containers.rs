//! The containers collector against a fake Docker daemon on a real Unix socket, answering with
//! recorded Docker API responses.

use crate::fakedocker::{FakeDocker, Reply, fixture, fixture_json, host_with_memory};
use hostwatch_agent::HostPaths;
use hostwatch_agent::collect::Collector;
use hostwatch_agent::collect::containers::{ContainersCollector, SocketSearch};
use hostwatch_agent::config::{ContainersConfig, WatchdogConfig};
use hostwatch_proto::sections::{Containers, WatchdogResult};
use hostwatch_proto::{ErrorKind, SectionData};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const STOPPED: &str = "ae8964ba86c7cd7522cf84e09781343d88e0e3543281c747d88b27e246578b65";
const RUNNING: &str = "3d88e0e3543281c747d88b27e246578b65ae8964ba86c7cd7522cf84e0978134";
const PORTAINER: &str = "b978af0b858aa8855cce46b628817d4ed58e58f2c4f66c9b9c5449134ed4c008";
const RESTARTING: &str = "ae8964ba86c7cd7522cf84e09781343d88e0e3543281c747d88b27e246578b67";
const API: &str = "6e58b2b4bd6bb7e4f3c1b6de0d5e3e6e7c2a0f0a9f1d4c5b6a7e8f9d0c1b2a3e";

/// 16 GiB of host memory.
const HOST_MEM_KIB: u64 = 16 * 1024 * 1024;

fn no_search() -> SocketSearch {
    SocketSearch {
        docker_host: None,
        candidates: Vec::new(),
    }
}

struct Setup {
    collector: ContainersCollector,
    clock: Arc<AtomicI64>,
    _host: tempfile::TempDir,
}

/// A collector on `socket` (through the config) with a clock the test moves.
fn collector(socket: Option<PathBuf>, watchdog: bool, search: SocketSearch) -> Setup {
    let host = tempfile::tempdir().unwrap();
    let paths: HostPaths = host_with_memory(host.path(), HOST_MEM_KIB);
    let config = ContainersConfig {
        socket,
        watchdog: WatchdogConfig {
            enabled: watchdog,
            ..WatchdogConfig::default()
        },
        ..ContainersConfig::default()
    };
    let clock = Arc::new(AtomicI64::new(1_717_243_200_000)); // 2024-06-01T12:00:00Z
    let c = clock.clone();
    let collector = ContainersCollector::with_search(&config, &paths, search)
        .with_clock(move || c.load(Ordering::SeqCst));
    Setup {
        collector,
        clock,
        _host: host,
    }
}

fn section(setup: &mut Setup) -> Containers {
    match setup.collector.collect() {
        Ok(Some(SectionData::Containers(c))) => c,
        other => panic!("expected a containers section, got {other:?}"),
    }
}

/// The watchtower recording: exited, two running (one healthy, one without a health check),
/// one restarting; daemon on API 1.38 (older than `one-shot`).
fn watchtower_daemon() -> FakeDocker {
    let d = FakeDocker::start();
    d.route("GET", "/_ping", vec![Reply::ping(Some("1.38"))])
        .route(
            "GET",
            "/version",
            vec![Reply::json(fixture(
                "docker-java/version_api1.38_windows-lcow.json",
            ))],
        )
        .route(
            "GET",
            "/containers/json",
            vec![Reply::json(fixture("watchtower/containers-json_all.json"))],
        )
        .route(
            "GET",
            &format!("/containers/{STOPPED}/json"),
            vec![Reply::json(fixture("watchtower/inspect_exited-code1.json"))],
        )
        .route(
            "GET",
            &format!("/containers/{RUNNING}/json"),
            vec![Reply::json(fixture(
                "moby-api-docs/container-inspect_healthy_v1.47-doc-example.json",
            ))],
        )
        .route(
            "GET",
            &format!("/containers/{PORTAINER}/json"),
            vec![Reply::json(fixture(
                "watchtower/inspect_running-no-healthcheck.json",
            ))],
        )
        .route(
            "GET",
            &format!("/containers/{RESTARTING}/json"),
            vec![Reply::json(fixture("watchtower/inspect_restarting.json"))],
        )
        .route(
            "GET",
            &format!("/containers/{RUNNING}/stats"),
            vec![Reply::json(fixture(
                "moby-api-docs/container-stats_cgroup-v1_v1.47-doc-example.json",
            ))],
        )
        .route(
            "GET",
            &format!("/containers/{PORTAINER}/stats"),
            vec![Reply::json(fixture(
                "docker-java/container-stats_cgroup-v1_api1.27.json",
            ))],
        );
    d
}

#[test]
fn every_state_with_health_restarts_memory_limits_and_io() {
    let daemon = watchtower_daemon();
    let mut s = collector(Some(daemon.socket.clone()), false, no_search());
    let c = section(&mut s);
    assert_eq!(c.socket, daemon.socket.display().to_string());
    assert_eq!(c.api_version.as_deref(), Some("1.38"));
    assert_eq!(c.engine.as_deref(), Some("Docker Engine 18.06.1-ce"));
    assert_eq!((c.running, c.unhealthy), (2, 0));
    let names: Vec<_> = c.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "watchtower-stopped",
            "watchtower-running",
            "portainer",
            "portainer"
        ]
    );

    let stopped = &c.containers[0];
    assert_eq!(stopped.id, "ae8964ba86c7");
    assert_eq!(stopped.state, "exited");
    assert_eq!(stopped.status, "Exited (1) 6 days ago");
    assert_eq!(stopped.exit_code, Some(1));
    assert_eq!(stopped.restart_policy.as_deref(), Some("no"));
    assert_eq!(stopped.started_at, Some(1_554_925_882_918));
    assert_eq!((stopped.uptime_seconds, stopped.cpu_pct), (None, None));
    assert!(stopped.health.is_none());

    let healthy = &c.containers[1];
    let h = healthy.health.as_ref().unwrap();
    assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
    assert_eq!(h.last_checks.len(), 1);
    assert_eq!(h.last_checks[0].exit_code, 0);
    assert_eq!(h.last_checks[0].started_at, 1_577_012_345_638);
    assert_eq!(healthy.restart_count, Some(1));
    assert_eq!(healthy.restart_policy.as_deref(), Some("on-failure"));
    // StartedAt 2015-01-06T15:47:32.072Z, clock 2024-06-01T12:00:00Z: whole seconds.
    assert_eq!(
        healthy.uptime_seconds,
        Some(1_717_243_200 - 1_420_559_252 - 1)
    );
    // cgroup v1, 64 MiB limit, no inactive cache: usage as is.
    assert_eq!(healthy.mem_used_bytes, Some(6_537_216));
    assert_eq!(healthy.mem_limit_bytes, Some(67_108_864));
    assert_eq!(healthy.mem_unlimited, Some(false));
    assert_eq!(healthy.net_rx_bytes_total, Some(5338 + 4641));
    assert_eq!(healthy.net_tx_bytes_total, Some(648 + 690));
    assert_eq!(healthy.block_read_bytes_total, None, "empty blkio_stats");
    assert_eq!(
        healthy.net_rx_bytes_per_sec, None,
        "first sight has no rates"
    );

    let portainer = &c.containers[2];
    assert!(portainer.health.is_none(), "no health check configured");
    assert_eq!(portainer.restart_policy.as_deref(), Some("always"));
    // Unlimited: cgroup v1 says so with its huge hierarchical limit.
    assert_eq!(portainer.mem_unlimited, Some(true));
    assert_eq!(portainer.mem_limit_bytes, None);
    assert_eq!(portainer.mem_used_bytes, Some(647_168));
    assert_eq!(portainer.block_read_bytes_total, Some(823_296));
    assert_eq!(portainer.block_write_bytes_total, Some(122_880));
    // First sight, but the daemon filled precpu_stats: the CLI's formula over its second.
    let cpu = portainer.cpu_pct.unwrap();
    let expect = (212_198_028.0 - 211_307_214.0) / (545_941_980_000_000.0 - 545_937_990_000_000.0)
        * 4.0
        * 100.0;
    assert!((cpu - expect).abs() < 1e-9, "{cpu} vs {expect}");

    let restarting = &c.containers[3];
    assert_eq!(restarting.state, "restarting");
    assert_eq!(restarting.id, "ae8964ba86c7");
    assert_eq!(restarting.cpu_pct, None);

    let requests = daemon.requests();
    assert!(
        requests.contains(&"GET /v1.38/containers/json?all=1".to_string()),
        "{requests:?}"
    );
    assert!(
        requests.contains(&format!(
            "GET /v1.38/containers/{RUNNING}/stats?stream=false"
        )),
        "1.38 has no one-shot: {requests:?}"
    );
    assert_eq!(
        daemon.count("/stats"),
        2,
        "stats only for running containers"
    );
}

#[test]
fn a_second_tick_reads_inspect_only_where_something_changed() {
    let daemon = watchtower_daemon();
    let mut s = collector(Some(daemon.socket.clone()), false, no_search());
    section(&mut s);
    assert_eq!(daemon.count("/json") - daemon.count("containers/json?"), 4);
    daemon.clear_requests();
    s.clock.fetch_add(10_000, Ordering::SeqCst);
    let c = section(&mut s);
    assert_eq!(
        daemon.count("/json") - daemon.count("containers/json?"),
        0,
        "nothing changed: {:?}",
        daemon.requests()
    );
    assert_eq!(daemon.count("/_ping"), 0, "negotiated once");
    // Cached inspect still supplies the details.
    assert_eq!(c.containers[1].restart_count, Some(1));
    assert_eq!(c.containers[0].exit_code, Some(1));
    // A minute later, everything is read again.
    daemon.clear_requests();
    s.clock.fetch_add(60_000, Ordering::SeqCst);
    section(&mut s);
    assert_eq!(daemon.count("/json") - daemon.count("containers/json?"), 4);
}

/// One running container whose health check keeps failing, on cgroup v2, API 1.47.
fn unhealthy_daemon(state: &str, status: &str) -> FakeDocker {
    let mut list = fixture_json("watchtower/containers-json_all.json");
    let mut entry = list[2].take();
    entry["Id"] = API.into();
    entry["Names"] = serde_json::json!(["/api"]);
    entry["State"] = state.into();
    entry["Status"] = status.into();
    list = serde_json::json!([entry]);
    let mut inspect = fixture_json(if state == "running" {
        "watchtower/inspect_running-no-healthcheck.json"
    } else {
        "watchtower/inspect_exited-code1.json"
    });
    inspect["Id"] = API.into();
    inspect["Name"] = "/api".into();
    inspect["State"]["Health"] = fixture_json("docker-cli-docs/state-health_unhealthy.json");
    let d = FakeDocker::start();
    d.route("GET", "/_ping", vec![Reply::ping(Some("1.47"))])
        .route(
            "GET",
            "/version",
            vec![Reply::json(
                r#"{"Components":[{"Name":"Engine","Version":"27.3.1"}],"Version":"27.3.1","ApiVersion":"1.47","MinAPIVersion":"1.24"}"#,
            )],
        )
        .route("GET", "/containers/json", vec![Reply::json(list.to_string())])
        .route(
            "GET",
            &format!("/containers/{API}/json"),
            vec![Reply::json(inspect.to_string())],
        )
        .route(
            "GET",
            &format!("/containers/{API}/stats"),
            vec![
                Reply::json(fixture("derived/stats_cgroup-v2_one-shot_tick1.json")),
                Reply::json(fixture("derived/stats_cgroup-v2_one-shot_tick2.json")),
            ],
        )
        .route("POST", &format!("/containers/{API}/restart"), vec![Reply::status(204, "")]);
    d
}

#[test]
fn unhealthy_container_shows_its_failing_checks_and_cgroup_v2_rates() {
    let daemon = unhealthy_daemon("running", "Up 2 hours (unhealthy)");
    let mut s = collector(Some(daemon.socket.clone()), false, no_search());
    let c = section(&mut s);
    assert_eq!(c.api_version.as_deref(), Some("1.47"));
    assert_eq!((c.running, c.unhealthy), (1, 1));
    let api = &c.containers[0];
    let h = api.health.as_ref().unwrap();
    assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 3));
    assert_eq!(h.last_checks.len(), 3, "up to three while unhealthy");
    assert!(h.last_checks.iter().all(|r| r.exit_code == 1));
    assert_eq!(
        h.last_checks[2].output,
        "stat: can't stat '/etc/passwd': No such file or directory\n"
    );
    assert_eq!(h.last_checks[2].started_at, 1_464_196_932_971);
    assert_eq!(h.last_checks[2].ended_at, Some(1_464_196_933_082));
    // cgroup v2: usage minus inactive_file; 512 MiB limit below the host's 16 GiB.
    assert_eq!(api.mem_used_bytes, Some(36_311_040 - 10_227_712));
    assert_eq!(api.mem_limit_bytes, Some(536_870_912));
    assert_eq!(api.mem_unlimited, Some(false));
    assert_eq!(api.cpu_pct, None, "one-shot: empty precpu, first sight");
    assert_eq!(api.block_read_bytes_total, Some(1_048_576));
    assert_eq!(
        daemon.count(&format!(
            "GET /v1.47/containers/{API}/stats?stream=false&one-shot=true"
        )),
        1
    );

    s.clock.fetch_add(10_000, Ordering::SeqCst);
    let c = section(&mut s);
    let api = &c.containers[0];
    // 0.5 s of CPU over 20 s of host CPU time on 2 CPUs: 5 % of one core.
    assert_eq!(api.cpu_pct, Some(5.0));
    assert_eq!(api.block_read_bytes_per_sec, Some(4096.0));
    assert_eq!(api.block_write_bytes_per_sec, Some(104_857.6));
    assert_eq!(api.net_rx_bytes_per_sec, Some(1024.0));
    assert_eq!(api.net_tx_bytes_per_sec, Some(200.0));
    assert_eq!(
        daemon.count(&format!("/containers/{API}/json")),
        2,
        "an unhealthy container is inspected every tick"
    );
    assert_eq!(
        daemon.count("/restart"),
        0,
        "the watchdog is off by default"
    );
}

#[test]
fn version_comes_from_slash_version_when_ping_has_none_and_is_capped_at_ours() {
    // Docker 1.10: no Api-Version header, list without State, API 1.22.
    let old = FakeDocker::start();
    old.route("GET", "/_ping", vec![Reply::ping(None)])
        .route(
            "GET",
            "/version",
            vec![Reply::json(fixture(
                "docker-java/version_api1.22_boot2docker.json",
            ))],
        )
        .route(
            "GET",
            "/containers/json",
            vec![Reply::json(fixture(
                "docker-java/containers-json_api1.22_filter.json",
            ))],
        )
        .route(
            "GET",
            "/containers/095351afe7b4995dfb3e965f9cfd3a07b1fe69198c50085a2cb7c2b5a5c9b62f/json",
            vec![Reply::json(fixture(
                "docker-java/container-inspect_healthy-with-log_api1.24.json",
            ))],
        );
    let mut s = collector(Some(old.socket.clone()), false, no_search());
    let c = section(&mut s);
    assert_eq!(c.api_version.as_deref(), Some("1.22"));
    assert_eq!(c.engine.as_deref(), Some("Docker Engine 1.10.1"));
    let only = &c.containers[0];
    assert_eq!(
        only.state, "running",
        "from the status text `Up Less than a second`"
    );
    let h = only.health.as_ref().unwrap();
    assert_eq!(h.status, "healthy");
    assert_eq!(h.last_checks.len(), 1, "the newest check while healthy");
    assert_eq!(h.last_checks[0].output, "World");
    // Its stats route is missing (404): the container keeps its other fields, with the error.
    assert!(
        only.error.as_deref().unwrap().contains("HTTP 404"),
        "{:?}",
        only.error
    );
    assert!(
        old.count("GET /v1.22/containers/json?all=1") == 1,
        "{:?}",
        old.requests()
    );

    // A daemon newer than us: we speak our newest version.
    let new = FakeDocker::start();
    new.route("GET", "/_ping", vec![Reply::ping(Some("1.99"))])
        .route("GET", "/version", vec![Reply::json("{}")])
        .route("GET", "/containers/json", vec![Reply::json("[]")]);
    let mut s = collector(Some(new.socket.clone()), false, no_search());
    let c = section(&mut s);
    assert_eq!(c.api_version.as_deref(), Some("1.52"));
    assert!(c.containers.is_empty());
    assert_eq!(new.count("GET /v1.52/containers/json?all=1"), 1);
}

#[test]
fn list_health_of_newer_daemons_is_used_between_inspects() {
    let daemon = FakeDocker::start();
    let mut list = fixture_json("watchtower/containers-json_all.json");
    let mut entry = list[1].take();
    entry["Status"] = "Up 3 days (healthy)".into();
    entry["Health"] = serde_json::json!({"Status": "healthy", "FailingStreak": 0});
    list = serde_json::json!([entry]);
    daemon
        .route("GET", "/_ping", vec![Reply::ping(Some("1.52"))])
        .route("GET", "/version", vec![Reply::json("{}")])
        .route(
            "GET",
            "/containers/json",
            vec![Reply::json(list.to_string())],
        )
        .route(
            "GET",
            &format!("/containers/{RUNNING}/json"),
            vec![Reply::json(fixture(
                "moby-api-docs/container-inspect_healthy_v1.47-doc-example.json",
            ))],
        )
        .route(
            "GET",
            &format!("/containers/{RUNNING}/stats"),
            vec![Reply::json(fixture(
                "derived/stats_cgroup-v2_one-shot_tick1.json",
            ))],
        );
    let mut s = collector(Some(daemon.socket.clone()), false, no_search());
    section(&mut s);
    s.clock.fetch_add(10_000, Ordering::SeqCst);
    let c = section(&mut s);
    assert_eq!(daemon.count(&format!("/containers/{RUNNING}/json")), 1);
    let h = c.containers[0].health.as_ref().unwrap();
    assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
}

#[test]
fn a_broken_daemon_is_a_section_error_naming_the_socket() {
    let cases: [(Reply, ErrorKind, &str); 3] = [
        (
            Reply::status(500, r#"{"message":"Something went wrong."}"#),
            ErrorKind::Io,
            "answered HTTP 500: Something went wrong.",
        ),
        (
            Reply::json("[{\"Id\": 12,"),
            ErrorKind::Parse,
            "unreadable JSON",
        ),
        (
            Reply::json("<html>oops</html>"),
            ErrorKind::Parse,
            "expected value",
        ),
    ];
    for (reply, kind, needle) in cases {
        let daemon = FakeDocker::start();
        daemon
            .route("GET", "/_ping", vec![Reply::ping(Some("1.47"))])
            .route("GET", "/version", vec![Reply::json("{}")])
            .route("GET", "/containers/json", vec![reply]);
        let mut s = collector(Some(daemon.socket.clone()), false, no_search());
        let e = s.collector.collect().unwrap_err().to_section_error();
        assert_eq!(e.kind, kind, "{}", e.message);
        assert!(
            e.message.contains(&daemon.socket.display().to_string()),
            "{}",
            e.message
        );
        assert!(e.message.contains(needle), "{}", e.message);
    }
}

#[test]
fn a_socket_nobody_answers_on_is_an_error_and_no_socket_is_no_section() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let mut s = collector(
        None,
        false,
        SocketSearch {
            docker_host: None,
            candidates: vec![dir.path().join("missing.sock"), dead.clone()],
        },
    );
    let e = s.collector.collect().unwrap_err().to_section_error();
    assert!(
        e.message.contains(&dead.display().to_string())
            && e.message.contains("cannot connect")
            && e.message.contains("is the daemon running"),
        "{}",
        e.message
    );

    let mut s = collector(
        None,
        false,
        SocketSearch {
            docker_host: None,
            candidates: vec![dir.path().join("missing.sock")],
        },
    );
    assert!(matches!(s.collector.collect(), Ok(None)));

    // A socket the user named and that is missing is an error, not silence.
    let missing = dir.path().join("podman.sock");
    let mut s = collector(Some(missing.clone()), false, no_search());
    let e = s.collector.collect().unwrap_err().to_section_error();
    assert!(
        e.message.contains(&missing.display().to_string()) && e.message.contains("does not exist"),
        "{}",
        e.message
    );
}

#[test]
fn an_engine_started_after_the_agent_is_found_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("docker.sock");
    let mut s = collector(
        None,
        false,
        SocketSearch {
            docker_host: None,
            candidates: vec![default.clone()],
        },
    );
    assert!(matches!(s.collector.collect(), Ok(None)));
    // Docker starts: its default socket appears.
    let daemon = watchtower_daemon();
    std::os::unix::fs::symlink(&daemon.socket, &default).unwrap();
    // A host without an engine is not searched on every tick...
    s.clock.fetch_add(10_000, Ordering::SeqCst);
    assert!(matches!(s.collector.collect(), Ok(None)));
    assert!(daemon.requests().is_empty(), "{:?}", daemon.requests());
    // ...but again a minute after the last search.
    s.clock.fetch_add(50_000, Ordering::SeqCst);
    assert_eq!(section(&mut s).containers.len(), 4);
}

#[test]
fn docker_host_points_at_the_socket() {
    let daemon = unhealthy_daemon("running", "Up 2 hours (unhealthy)");
    let mut s = collector(
        None,
        false,
        SocketSearch {
            docker_host: Some(format!("unix://{}", daemon.socket.display())),
            candidates: Vec::new(),
        },
    );
    assert_eq!(section(&mut s).containers[0].name, "api");
    // A tcp:// DOCKER_HOST cannot be used; the defaults are searched instead.
    let mut s = collector(
        None,
        false,
        SocketSearch {
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            candidates: vec![daemon.socket.clone()],
        },
    );
    assert_eq!(section(&mut s).containers[0].name, "api");
}

#[test]
fn watchdog_restarts_once_at_the_streak_then_respects_cooldown_and_hourly_cap() {
    let daemon = unhealthy_daemon("running", "Up 2 hours (unhealthy)");
    let mut s = collector(Some(daemon.socket.clone()), true, no_search());
    let c = section(&mut s);
    let restart = format!("POST /v1.47/containers/{API}/restart?t=10");
    assert_eq!(daemon.count("/restart"), 1);
    assert_eq!(daemon.count(&restart), 1, "{:?}", daemon.requests());
    assert_eq!(c.watchdog_actions.len(), 1);
    let a = &c.watchdog_actions[0];
    assert_eq!(
        (a.container.as_str(), a.container_id.as_str()),
        ("api", "6e58b2b4bd6b")
    );
    assert_eq!(a.result, WatchdogResult::Restarted);
    assert_eq!(a.reason, "health check failed 3 times in a row");
    assert_eq!(a.at, 1_717_243_200_000);

    // Still unhealthy a minute later: the 10-minute cooldown holds.
    s.clock.fetch_add(60_000, Ordering::SeqCst);
    assert!(section(&mut s).watchdog_actions.is_empty());
    assert_eq!(daemon.count("/restart"), 1);
    // After the cooldown: second and third restarts.
    s.clock.fetch_add(10 * 60_000, Ordering::SeqCst);
    assert_eq!(section(&mut s).watchdog_actions.len(), 1);
    s.clock.fetch_add(10 * 60_000, Ordering::SeqCst);
    assert_eq!(section(&mut s).watchdog_actions.len(), 1);
    assert_eq!(daemon.count("/restart"), 3);
    // Three in the last hour: the cap holds although the cooldown has passed.
    s.clock.fetch_add(15 * 60_000, Ordering::SeqCst);
    assert!(section(&mut s).watchdog_actions.is_empty());
    assert_eq!(daemon.count("/restart"), 3);
}

#[test]
fn watchdog_never_touches_a_stopped_container_and_reports_a_failed_restart() {
    let daemon = unhealthy_daemon("exited", "Exited (1) 6 days ago");
    let mut s = collector(Some(daemon.socket.clone()), true, no_search());
    for _ in 0..3 {
        let c = section(&mut s);
        assert!(c.watchdog_actions.is_empty());
        assert_eq!(c.unhealthy, 0, "only running containers count as unhealthy");
        s.clock.fetch_add(3_600_000, Ordering::SeqCst);
    }
    assert_eq!(daemon.count("/restart"), 0);

    let daemon = unhealthy_daemon("running", "Up 2 hours (unhealthy)");
    daemon.route(
        "POST",
        &format!("/containers/{API}/restart"),
        vec![Reply::status(
            500,
            r#"{"message":"cannot restart: device busy"}"#,
        )],
    );
    let mut s = collector(Some(daemon.socket.clone()), true, no_search());
    let c = section(&mut s);
    let a = &c.watchdog_actions[0];
    assert_eq!(a.result, WatchdogResult::Failed);
    assert!(a.error.as_deref().unwrap().contains("device busy"), "{a:?}");
}
