//! The SQLite store on its own: durability across reopen, heartbeat transitions, migrations.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{HostStatus, SqliteStore, Store, StoreError};
use hostwatch_proto::{ErrorKind, Report, Section, SectionError};

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

/// A report of `instance`'s `seq` collected at `at`, holding only the sections `keep` plus the
/// failed sections `fail` (their message names the report, so a stale one shows).
fn partial(instance: &str, seq: u64, at: i64, keep: &[&str], fail: &[&str]) -> Report {
    let mut r = report("web-1", instance, seq);
    r.collected_at = at;
    let full = std::mem::take(&mut r.sections);
    let mut json = serde_json::to_value(&full).unwrap();
    json.as_object_mut()
        .unwrap()
        .retain(|name, _| keep.contains(&name.as_str()));
    r.sections = serde_json::from_value(json).unwrap();
    for name in fail {
        r.sections
            .put_error(
                name,
                SectionError {
                    kind: ErrorKind::Io,
                    message: format!("{name} failed in {instance}/{seq}"),
                },
            )
            .unwrap();
    }
    r
}

fn failure(section: Option<&Section<impl std::fmt::Debug>>) -> Option<String> {
    section.and_then(|s| s.error()).map(|e| e.message.clone())
}

/// The stored row of the latest state lags the in-memory state by up to a minute (it is no
/// longer rewritten on every report). A crash in that minute must lose nothing: the restarted
/// hub rebuilds the state from the row plus the report log, exactly as it was, including
/// sections that only some reports carry, failed sections, a backfilled older report (stored
/// but never merged), a report exactly as old as the state, a batch and a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unclean_stop_the_latest_state_holds_every_acknowledged_section() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let other = hub.enrol("web-2").await;
    let t = 1_795_339_937_104;
    let post_as = |token: String, docs: Vec<Report>| {
        let body = if docs.len() == 1 {
            docs[0].to_json()
        } else {
            serde_json::to_vec(&docs).unwrap()
        };
        let hub = &hub;
        async move {
            let r = hub.post_json("/api/v1/reports", &token, &body).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()
        }
    };
    let post = |docs| post_as(token.clone(), docs);
    post(vec![partial(
        "a",
        1,
        t,
        hostwatch_proto::Sections::NAMES,
        &[],
    )])
    .await;
    post(vec![partial(
        "a",
        2,
        t + 10_000,
        &["cpu", "load"],
        &["memory"],
    )])
    .await;
    post(vec![
        partial("a", 3, t + 20_000, &["cpu"], &["disks"]),
        partial("a", 4, t + 30_000, &["network", "memory"], &[]),
    ])
    .await;
    // A spooled report from before: stored, never merged (the state is newer).
    post(vec![partial(
        "spool",
        1,
        t + 15_000,
        &["cpu"],
        &["system", "thermal"],
    )])
    .await;
    post(vec![partial(
        "a",
        5,
        t + 40_000,
        &["cpu"],
        &["filesystems"],
    )])
    .await;
    // A restarted agent's first report, exactly as old as the state: merged.
    post(vec![partial("b", 1, t + 40_000, &[], &["load"])]).await;
    post(vec![partial("a", 6, t + 50_000, &["memory"], &["cpu"])]).await;
    let again = post(vec![partial("a", 6, t + 50_000, &["memory"], &["cpu"])]).await;
    assert_eq!(again["duplicates"], 1);
    post(vec![partial("a", 7, t + 60_000, &["load"], &["zfs"])]).await;
    // A host whose row was never written yet: its state is all in the report log.
    for (seq, keep, fail) in [
        (1, &["cpu", "memory"][..], &["disks"][..]),
        (2, &["disks"][..], &[][..]),
    ] {
        let mut r = partial("a", seq, t + seq as i64 * 10_000, keep, fail);
        r.host_id = "web-2".into();
        post_as(other.clone(), vec![r]).await;
    }
    let id2 = hub.hub.store.host("web-2").await.unwrap().unwrap().id;
    let before2 = hub.hub.store.latest(id2).await.unwrap().unwrap();
    assert_eq!(before2.seq, 2);
    assert!(before2.sections.memory.as_ref().unwrap().ok().is_some());
    assert!(before2.sections.disks.as_ref().unwrap().ok().is_some());

    let id = hub.hub.store.host("web-1").await.unwrap().unwrap().id;
    let before = hub.hub.store.latest(id).await.unwrap().unwrap();
    // The merge itself: each section from the newest report that carried it.
    let s = &before.sections;
    assert_eq!((before.agent.instance_id.as_str(), before.seq), ("a", 7));
    assert_eq!(before.collected_at, t + 60_000);
    assert!(
        s.system.as_ref().unwrap().ok().is_some(),
        "the backfill's system error is not merged"
    );
    assert!(s.thermal.as_ref().unwrap().ok().is_some());
    assert!(s.memory.as_ref().unwrap().ok().is_some());
    assert_eq!(failure(s.disks.as_ref()).unwrap(), "disks failed in a/3");
    assert_eq!(
        failure(s.filesystems.as_ref()).unwrap(),
        "filesystems failed in a/5"
    );
    assert_eq!(failure(s.cpu.as_ref()).unwrap(), "cpu failed in a/6");
    assert_eq!(failure(s.zfs.as_ref()).unwrap(), "zfs failed in a/7");
    assert!(
        s.load.as_ref().unwrap().ok().is_some(),
        "a/7's load replaces b/1's error"
    );
    assert!(
        s.ollama.as_ref().unwrap().ok().is_some(),
        "kept from the first report"
    );

    // The crash: the files as they are now, while the hub runs (every answer above was
    // given after its commit, so they hold every acknowledged report).
    let crashed = tempfile::tempdir().unwrap();
    for file in ["hostwatch.db", "hostwatch.db-wal"] {
        std::fs::copy(hub.dir.path().join(file), crashed.path().join(file)).unwrap();
    }
    let row_of = |dir: &std::path::Path, host| -> Option<i64> {
        use rusqlite::OptionalExtension;
        let c = rusqlite::Connection::open(dir.join("hostwatch.db")).unwrap();
        c.query_row(
            "SELECT collected_at FROM latest WHERE host_id = ?1",
            [host],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
    };
    let row_at = |dir: &std::path::Path| row_of(dir, id).unwrap();
    assert_eq!(
        row_at(crashed.path()),
        t + 40_000,
        "the row was last written for the tie (a/6 and a/7 are only in the report log)"
    );
    assert_eq!(
        row_of(crashed.path(), id2),
        None,
        "web-2's row was not written yet"
    );

    let restarted = TestHub::start_in(HubConfig::default(), crashed).await;
    let after = restarted.hub.store.latest(id).await.unwrap().unwrap();
    assert_eq!(after, before);
    assert_eq!(
        restarted.hub.store.latest(id2).await.unwrap().unwrap(),
        before2
    );
    let mut all = restarted.hub.store.latest_all().await.unwrap();
    all.sort_by_key(|(id, _)| *id);
    assert_eq!(all, vec![(id, before.clone()), (id2, before2.clone())]);
    let crashed = restarted.stop().await;
    assert_eq!(
        row_at(crashed.path()),
        t + 60_000,
        "the start wrote the rebuilt state"
    );

    // A graceful stop writes the row too.
    let dir = hub.stop().await;
    assert_eq!(row_at(dir.path()), t + 60_000);
}

/// A stopping hub gives the requests in flight `STOP_GRACE`, then stops without them: a client
/// that never finishes its request (or a hub too loaded to answer) cannot hold it up. What it
/// acknowledged is kept; what it did not is the agent's to resend. (Paused time: the grace
/// passes as soon as nothing else can run, and a hub that waited forever fails the test.)
#[tokio::test(start_paused = true)]
async fn a_stopping_hub_does_not_wait_for_a_request_that_never_finishes() {
    use tokio::io::AsyncWriteExt;
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let acked = hub
        .post_json(
            "/api/v1/reports",
            &token,
            &report("web-1", "i", 1).to_json(),
        )
        .await;
    assert_eq!(acked.status, 200);

    // Headers and half the body, then nothing.
    let body = report("web-1", "i", 2).to_json();
    let mut stuck = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/reports HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stuck.write_all(head.as_bytes()).await.unwrap();
    stuck.write_all(&body[..body.len() / 2]).await.unwrap();
    // Returns once everything else is idle: the hub is waiting for the rest of the body.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let stopped = tokio::time::timeout(std::time::Duration::from_secs(3600), hub.stop()).await;
    let dir = stopped.expect("the hub waited for a request that never finishes");
    drop(stuck);

    let hub = TestHub::start_in(HubConfig::default(), dir).await;
    assert_eq!(hub.stored_reports("web-1").await, 1);
    let id = hub.hub.store.host("web-1").await.unwrap().unwrap().id;
    assert_eq!(hub.hub.store.latest(id).await.unwrap().unwrap().seq, 1);
    hub.stop().await;
}

/// A save larger than one write's bound (the first pass after thousands of hosts' first
/// reports) is written in slices; every row lands, and a removal that follows an upsert of the
/// same instance in the same save still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_save_larger_than_one_write_lands_whole() {
    use hostwatch_hub::store::{AlertSave, EventQuery, NewEvent, StoredAlert};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let alert = |n: usize| StoredAlert {
        fingerprint: format!("fp{n:05}"),
        host_id: None,
        rule: "fs_used".into(),
        state: "pending".into(),
        body: format!("{{\"n\":{n}}}"),
    };
    let save = AlertSave {
        upserts: (0..1_500).map(alert).collect(),
        // Saved and forgotten in the same pass.
        removed: vec!["fp01499".into()],
        events: (0..1_200)
            .map(|n| NewEvent {
                host: None,
                at: 1_000 + n,
                kind: "alert_firing".into(),
                message: format!("event {n}"),
            })
            .collect(),
        ..AlertSave::default()
    };
    store.save_alerts(save).await.unwrap();
    let mut saved: Vec<_> = store
        .alert_state()
        .await
        .unwrap()
        .instances
        .into_iter()
        .map(|a| (a.fingerprint, a.body))
        .collect();
    saved.sort();
    let want: Vec<_> = (0..1_499)
        .map(alert)
        .map(|a| (a.fingerprint, a.body))
        .collect();
    assert_eq!(saved, want);
    let events = store
        .events(EventQuery {
            host: None,
            since: Some(1_000),
            until: Some(3_000),
            limit: 10_000,
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1_200);
    let mut messages: Vec<_> = events.iter().map(|e| e.message.clone()).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 1_200);
}
