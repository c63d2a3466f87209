//! `POST /api/v1/reports` and `/job-runs`: every status of the transport contract, and the
//! store left unchanged by each refusal.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_proto::Report;

fn json(r: &Report) -> Vec<u8> {
    r.to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_stored_once_and_answered_with_the_envelope() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let r = report("web-1", "inst-a", 1);
    let resp = hub.post_json("/api/v1/reports", &token, &json(&r)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let env = resp.json();
    assert_eq!(env["interval_seconds"], 10);
    assert_eq!(
        (env["accepted"].as_u64(), env["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(env["server_time"].as_i64().unwrap() > 1_700_000_000_000);

    // The agent retries after a lost reply: acknowledged again, stored once.
    let again = hub.post_json("/api/v1/reports", &token, &json(&r)).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        (
            again.json()["accepted"].as_u64(),
            again.json()["duplicates"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(hub.stored_reports("web-1").await, 1);

    // The same seq from another agent instance is a different report.
    let other = report("web-1", "inst-b", 1);
    assert_eq!(
        hub.post_json("/api/v1/reports", &token, &json(&other))
            .await
            .json()["accepted"],
        1
    );
    assert_eq!(hub.stored_reports("web-1").await, 2);

    // Reporting made the host up, and the latest state is served.
    let detail = hub.get("/api/v1/hosts/web-1", &hub.viewer).await.json();
    assert_eq!(detail["status"], "up");
    assert_eq!(detail["latest"]["seq"], 1);
    let list = hub.get("/api/v1/hosts", &hub.viewer).await.json();
    assert_eq!(list[0]["name"], "web-1");
    assert_eq!(list[0]["figures"]["cpu_steal_pct"], 8.2);
    assert_eq!(list[0]["figures"]["fullest_mount"], "/");
    assert_eq!(list[0]["figures"]["fullest_used_pct"], 63.2);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_backfill_and_compressed_bodies_are_accepted() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("db-1").await;
    let batch: Vec<Report> = (1..=50).map(|s| report("db-1", "i", s)).collect();
    let body = serde_json::to_vec(&batch).unwrap();
    let zstd_body = zstd::bulk::compress(&body, 3).unwrap();
    let auth = format!("Bearer {token}");
    let resp = hub
        .request(
            "POST",
            "/api/v1/reports",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Content-Encoding", "zstd"),
            ],
            &zstd_body,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["accepted"], 50);

    // gzip too, with an overlapping batch: only the new ones are stored.
    let overlap: Vec<Report> = (40..=60).map(|s| report("db-1", "i", s)).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &serde_json::to_vec(&overlap).unwrap()).unwrap();
    let resp = hub
        .request(
            "POST",
            "/api/v1/reports",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            &gz.finish().unwrap(),
        )
        .await;
    assert_eq!(
        (
            resp.json()["accepted"].as_u64(),
            resp.json()["duplicates"].as_u64()
        ),
        (Some(10), Some(11))
    );
    assert_eq!(hub.stored_reports("db-1").await, 60);

    // Backfilled older reports do not roll the latest state back.
    let old = report("db-1", "i", 0);
    hub.post_json("/api/v1/reports", &token, &json(&old)).await;
    assert_eq!(
        hub.get("/api/v1/hosts/db-1", &hub.viewer).await.json()["latest"]["seq"],
        60
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_without_detail_and_store_nothing() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let body = json(&report("web-1", "i", 1));
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for auth in [
        None,
        Some("Bearer".to_string()),
        Some("Basic dXNlcjpwYXNz".to_string()),
        Some("Bearer hw_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {}", hub.admin)),
    ] {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let resp = hub
            .request("POST", "/api/v1/reports", &headers, &body)
            .await;
        assert_eq!(resp.status, 401, "{auth:?}");
        assert_eq!(resp.json(), serde_json::json!({"error": "unauthorized"}));
    }
    assert_eq!(hub.stored_reports("web-1").await, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_hosts_token_is_refused_with_403() {
    let hub = TestHub::start(HubConfig::default()).await;
    let _web = hub.enrol("web-1").await;
    let db = hub.enrol("db-1").await;
    // db-1's token, reporting as web-1: even one such document refuses the whole batch.
    let batch = vec![report("db-1", "i", 1), report("web-1", "i", 2)];
    let resp = hub
        .post_json("/api/v1/reports", &db, &serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(resp.status, 403);
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .contains("document 1: host_id `web-1`")
    );
    assert_eq!(hub.stored_reports("db-1").await, 0);
    assert_eq!(hub.stored_reports("web-1").await, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_naming_the_problem_and_store_nothing() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let good = String::from_utf8(json(&report("web-1", "i", 1))).unwrap();
    let truncated = &good[..good.len() / 2];
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["schema_version"] = 2.into();
    let newer = v.to_string();
    v["schema_version"] = 1.into();
    v["seq"] = "seven".into();
    let wrong_type = v.to_string();
    for (body, expect) in [
        ("this is not json", "invalid JSON"),
        (truncated, "invalid JSON"),
        ("", "empty body"),
        (&newer, "schema_version 2 is newer"),
        (&wrong_type, "at `seq`"),
        ("{\"hello\": 1}", "schema_version"),
    ] {
        let resp = hub
            .post_json("/api/v1/reports", &token, body.as_bytes())
            .await;
        assert_eq!(resp.status, 400, "{body:.40}: {}", resp.text());
        let msg = resp.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(expect), "{msg} should mention {expect}");
    }
    // A batch with one bad document stores none of it.
    let batch = format!("[{good}, {wrong_type}]");
    let resp = hub
        .post_json("/api/v1/reports", &token, batch.as_bytes())
        .await;
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("document 1"));
    assert_eq!(hub.stored_reports("web-1").await, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_batches_get_413_and_store_nothing() {
    let mut config = HubConfig::default();
    // Six full reports (every section) fit in the body limit, so the batch limit is what refuses them.
    config.ingest.max_body_bytes = 256 * 1024;
    config.ingest.max_batch = 5;
    let hub = TestHub::start(config).await;
    let token = hub.enrol("web-1").await;
    let batch: Vec<Report> = (1..=6).map(|s| report("web-1", "i", s)).collect();
    let resp = hub
        .post_json(
            "/api/v1/reports",
            &token,
            &serde_json::to_vec(&batch).unwrap(),
        )
        .await;
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert!(resp.text().contains("split the batch"));

    let big = vec![b' '; 300 * 1024];
    let resp = hub.post_json("/api/v1/reports", &token, &big).await;
    assert_eq!(resp.status, 413);

    // A zstd bomb: 1 MiB of JSON whitespace compresses to almost nothing, and is still refused.
    let mut bomb = b"[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    bomb.push(b']');
    let small = zstd::bulk::compress(&bomb, 19).unwrap();
    assert!(small.len() < 1024);
    let auth = format!("Bearer {token}");
    let resp = hub
        .request(
            "POST",
            "/api/v1/reports",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Content-Encoding", "zstd"),
            ],
            &small,
        )
        .await;
    assert_eq!(resp.status, 413);
    assert_eq!(hub.stored_reports("web-1").await, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_and_encoding_get_415() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let body = json(&report("web-1", "i", 1));
    let auth = format!("Bearer {token}");
    let resp = hub
        .request(
            "POST",
            "/api/v1/reports",
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            &body,
        )
        .await;
    assert_eq!(resp.status, 415);
    let resp = hub
        .request(
            "POST",
            "/api/v1/reports",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Content-Encoding", "br-unknown"),
            ],
            &body,
        )
        .await;
    assert_eq!(resp.status, 415);
    assert_eq!(hub.stored_reports("web-1").await, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_host_gets_429_with_retry_after() {
    let mut config = HubConfig::default();
    config.ingest.requests_per_minute = 3;
    let hub = TestHub::start(config).await;
    let token = hub.enrol("web-1").await;
    let other = hub.enrol("web-2").await;
    for s in 1..=3 {
        let r = hub
            .post_json("/api/v1/reports", &token, &json(&report("web-1", "i", s)))
            .await;
        assert_eq!(r.status, 200);
    }
    let resp = hub
        .post_json("/api/v1/reports", &token, &json(&report("web-1", "i", 4)))
        .await;
    assert_eq!(resp.status, 429);
    let retry: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(hub.stored_reports("web-1").await, 3);
    // Another host is not limited by web-1's flood.
    let r = hub
        .post_json("/api/v1/reports", &other, &json(&report("web-2", "i", 1)))
        .await;
    assert_eq!(r.status, 200);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_at_its_limit_of_requests_in_flight_answers_503_at_once() {
    let mut config = HubConfig::default();
    config.ingest.max_in_flight = 2;
    let hub = TestHub::start(config).await;
    let token = hub.enrol("web-1").await;
    // Two requests still being handled hold both slots.
    let held = hub.hub.ingest_slots.try_acquire_many(2).unwrap();
    let resp = hub
        .post_json("/api/v1/reports", &token, &json(&report("web-1", "i", 1)))
        .await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("5"));
    assert!(
        resp.text().contains("handling 2 requests already"),
        "{}",
        resp.text()
    );
    assert_eq!(hub.stored_reports("web-1").await, 0, "nothing stored");
    drop(held);
    let resp = hub
        .post_json("/api/v1/reports", &token, &json(&report("web-1", "i", 1)))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(hub.stored_reports("web-1").await, 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_are_stored_once_per_run_id() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("backup-1").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proto/tests/fixtures/jobrun-v1.json"
    ))
    .unwrap();
    let resp = hub
        .post_json("/api/v1/job-runs", &token, text.as_bytes())
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["accepted"], 1);
    let again = hub
        .post_json("/api/v1/job-runs", &token, text.as_bytes())
        .await;
    assert_eq!(again.json()["duplicates"], 1);
    let runs = hub
        .get(
            "/api/v1/hosts/backup-1/jobs?job=nightly-backup",
            &hub.viewer,
        )
        .await
        .json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["outcome"]["exited"], 1);
    // A run claiming another host is refused.
    let other = hub.enrol("web-1").await;
    assert_eq!(
        hub.post_json("/api/v1/job-runs", &other, text.as_bytes())
            .await
            .status,
        403
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_needs_an_api_token_and_admin_for_changes() {
    let hub = TestHub::start(HubConfig::default()).await;
    let host_token = hub.enrol("web-1").await;
    assert_eq!(
        hub.get("/api/v1/hosts", &host_token).await.status,
        401,
        "host tokens cannot query"
    );
    assert_eq!(hub.get("/api/v1/hosts", "nonsense").await.status, 401);
    assert_eq!(hub.get("/api/v1/hosts", &hub.viewer).await.status, 200);

    let add = |token: String| {
        let hub = &hub;
        async move {
            let auth = format!("Bearer {token}");
            hub.request(
                "POST",
                "/api/v1/hosts",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                br#"{"name": "db-9"}"#,
            )
            .await
        }
    };
    assert_eq!(
        add(hub.viewer.clone()).await.status,
        403,
        "viewers cannot enrol"
    );
    let created = add(hub.admin.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let new_token = created.json()["token"].as_str().unwrap().to_string();
    assert!(
        created.json()["agent_config"]
            .as_str()
            .unwrap()
            .contains(&new_token)
    );
    assert_eq!(add(hub.admin.clone()).await.status, 409, "names are unique");

    // The new token works; after rotation only the new one does.
    let r = hub
        .post_json(
            "/api/v1/reports",
            &new_token,
            &report("db-9", "i", 1).to_json(),
        )
        .await;
    assert_eq!(r.status, 200);
    let rotated = hub
        .post_json("/api/v1/hosts/db-9/rotate-token", &hub.admin, b"")
        .await;
    assert_eq!(rotated.status, 200);
    let newer = rotated.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        hub.post_json(
            "/api/v1/reports",
            &new_token,
            &report("db-9", "i", 2).to_json()
        )
        .await
        .status,
        401
    );
    assert_eq!(
        hub.post_json("/api/v1/reports", &newer, &report("db-9", "i", 2).to_json())
            .await
            .status,
        200
    );

    let events = hub
        .get("/api/v1/events?host=db-9", &hub.viewer)
        .await
        .json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"host_enrolled")
            && kinds.contains(&"token_rotated")
            && kinds.contains(&"host_status"),
        "{kinds:?}"
    );

    let auth = format!("Bearer {}", hub.admin);
    let del = hub
        .request(
            "DELETE",
            "/api/v1/hosts/db-9",
            &[("Authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(del.status, 204);
    assert_eq!(
        hub.post_json("/api/v1/reports", &newer, &report("db-9", "i", 3).to_json())
            .await
            .status,
        401
    );
    assert_eq!(hub.get("/api/v1/hosts/db-9", &hub.viewer).await.status, 404);
    hub.stop().await;
}

#[tokio::test]
async fn hosts_carry_tags_set_at_enrolment_and_replaced_by_admins() {
    let hub = TestHub::start(HubConfig::default()).await;
    let auth = format!("Bearer {}", hub.admin);
    let json = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let created = hub
        .request(
            "POST",
            "/api/v1/hosts",
            &json,
            br#"{"name": "db-1", "tags": ["prod", "db", "prod"]}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["tags"], serde_json::json!(["db", "prod"]));
    let listed = hub.get("/api/v1/hosts", &hub.viewer).await.json();
    assert_eq!(listed[0]["tags"], serde_json::json!(["db", "prod"]));

    let bad = hub
        .request(
            "PUT",
            "/api/v1/hosts/db-1/tags",
            &json,
            br#"{"tags": ["has space"]}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("has space"), "{}", bad.text());
    let viewer = format!("Bearer {}", hub.viewer);
    let refused = hub
        .request(
            "PUT",
            "/api/v1/hosts/db-1/tags",
            &[
                ("Authorization", viewer.as_str()),
                ("Content-Type", "application/json"),
            ],
            br#"{"tags": ["x"]}"#,
        )
        .await;
    assert_eq!(refused.status, 403);
    let set = hub
        .request(
            "PUT",
            "/api/v1/hosts/db-1/tags",
            &json,
            br#"{"tags": ["staging"]}"#,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let host = hostwatch_hub::store::Store::host(&hub.hub.store, "db-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host.tags, vec!["staging".to_string()]);
    let missing = hub
        .request("PUT", "/api/v1/hosts/nope/tags", &json, br#"{"tags": []}"#)
        .await;
    assert_eq!(missing.status, 404);
    hub.stop().await;
}

/// An agent's report comes as one zstd frame of one document: the report log keeps that frame
/// as sent (not compressed a second time), and it reads back as the same report. A damaged
/// frame is refused with 400 and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zstd_report_is_stored_as_sent_and_reads_back_whole() {
    use hostwatch_hub::store::Store;
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web-1").await;
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "zstd"),
    ];
    let sent = report("web-1", "i", 1);
    let frame = zstd::bulk::compress(&json(&sent), 3).unwrap();
    let damaged = &frame[..frame.len() / 2];
    let resp = hub
        .request("POST", "/api/v1/reports", &headers, damaged)
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.text().contains("zstd"), "{}", resp.text());
    assert_eq!(hub.stored_reports("web-1").await, 0);

    let resp = hub
        .request("POST", "/api/v1/reports", &headers, &frame)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["accepted"], 1);
    let host = hub.hub.store.host("web-1").await.unwrap().unwrap();
    let stored = hub
        .hub
        .store
        .reports_between(host.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored, vec![sent]);
    let db = rusqlite::Connection::open(hub.hub.store.path()).unwrap();
    let blob: Vec<u8> = db
        .query_row("SELECT body FROM reports", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blob, frame);
    hub.stop().await;
}
