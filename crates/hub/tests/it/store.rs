//! The SQLite store on its own: durability across reopen, heartbeat transitions, migrations.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{HostStatus, SqliteStore, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reports_survive_a_restart() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    for s in 1..=20 {
        let r = hub
            .post_json(
                "/api/v1/reports",
                &token,
                &report("web-1", "i", s).to_json(),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let dir = hub.stop().await;
    let hub = TestHub::start_in(HubConfig::default(), dir).await;
    assert_eq!(hub.stored_reports("web-1").await, 20);
    // The token still works after the restart; the latest state was persisted.
    let r = hub
        .post_json(
            "/api/v1/reports",
            &token,
            &report("web-1", "i", 20).to_json(),
        )
        .await;
    assert_eq!(r.json()["duplicates"], 1);
    assert_eq!(
        hub.get("/api/v1/hosts/web-1", &hub.viewer).await.json()["latest"]["seq"],
        20
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_marks_silent_hosts_late_then_down_and_reporting_brings_them_back() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    hub.post_json(
        "/api/v1/reports",
        &token,
        &report("web-1", "i", 1).to_json(),
    )
    .await;
    let seen = hub
        .hub
        .store
        .host("web-1")
        .await
        .unwrap()
        .unwrap()
        .last_seen
        .unwrap();
    let status = || async { hub.hub.store.host("web-1").await.unwrap().unwrap().status };
    assert_eq!(status().await, HostStatus::Up);
    assert_eq!(
        hostwatch_hub::heartbeat::check(&hub.hub, seen + 5_000)
            .await
            .unwrap(),
        0
    );
    hostwatch_hub::heartbeat::check(&hub.hub, seen + 21_000)
        .await
        .unwrap();
    assert_eq!(status().await, HostStatus::Late);
    hostwatch_hub::heartbeat::check(&hub.hub, seen + 61_000)
        .await
        .unwrap();
    assert_eq!(status().await, HostStatus::Down);
    hub.post_json(
        "/api/v1/reports",
        &token,
        &report("web-1", "i", 2).to_json(),
    )
    .await;
    assert_eq!(status().await, HostStatus::Up);
    let events = hub
        .get("/api/v1/events?host=web-1", &hub.viewer)
        .await
        .json();
    let messages: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("web-1 is down: no report for 61 s")),
        "{messages:?}"
    );
    assert!(messages.contains(&"web-1 is up (was down)"), "{messages:?}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_hostwatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let db = dir.path().join("hostwatch.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (99, 'future', '2030-01-01T00:00:00Z', '0')",
        [],
    )
    .unwrap();
    drop(conn);
    match SqliteStore::open(dir.path()) {
        Err(e @ StoreError::NewerSchema { found: 99, .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("newer hostwatch") && msg.contains("upgrade"),
                "{msg}"
            );
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_from_many_hosts_all_land() {
    let hub = std::sync::Arc::new(TestHub::start(HubConfig::default()).await);
    let mut tasks = Vec::new();
    for h in 0..20 {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("host-{h}");
            let token = hub.enrol(&name).await;
            for s in 1..=10 {
                let r = hub
                    .post_json("/api/v1/reports", &token, &report(&name, "i", s).to_json())
                    .await;
                assert_eq!(r.status, 200, "{}", r.text());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for h in 0..20 {
        assert_eq!(hub.stored_reports(&format!("host-{h}")).await, 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_expired_sessions_and_keeps_live_ones() {
    use hostwatch_hub::store::{Role, User};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let user = User {
        name: "alice".into(),
        role: Role::Admin,
        created_at: 0,
    };
    store.create_user(&user, "$argon2id$stub").await.unwrap();
    let (old, live) = ([1u8; 32], [2u8; 32]);
    store.create_session(old, "alice", 0, 1_000).await.unwrap();
    store
        .create_session(live, "alice", 0, 10_000)
        .await
        .unwrap();
    let retention = HubConfig::default().retention.as_store();
    store.apply_retention(5_000, retention).await.unwrap();
    // Asked as of a time before either expired: only the row that is still there answers.
    assert!(store.session(old, 500).await.unwrap().is_none(), "purged");
    assert!(store.session(live, 500).await.unwrap().is_some(), "kept");
}
