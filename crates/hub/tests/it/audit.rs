//! The agents' audit entries: forwarded in reports, stored once (a retried report adds
//! nothing), listed for admins by the API and on the Commands page, refusals as host events.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{EventQuery, Role, Store};
use hostwatch_hub::web::users;
use hostwatch_proto::{AuditEntry, AuditOutcome, Report, Secret};

fn entry(at: i64, origin: &str, id: &str, command: &str, params: &[&str]) -> AuditEntry {
    AuditEntry {
        at,
        origin: origin.into(),
        request_id: id.into(),
        command: command.into(),
        params: params.iter().map(|p| p.to_string()).collect(),
        outcome: AuditOutcome::Ran,
        ok: true,
        exit_code: Some(0),
        reason: None,
        duration_ms: Some(40),
    }
}

fn refused(at: i64, origin: &str, id: &str, command: &str, reason: &str) -> AuditEntry {
    AuditEntry {
        outcome: AuditOutcome::Refused,
        ok: false,
        exit_code: None,
        reason: Some(reason.into()),
        duration_ms: None,
        ..entry(at, origin, id, command, &["now"])
    }
}

fn with_audit(seq: u64, audit: Vec<AuditEntry>) -> Report {
    let mut r = report("web1", "i1", seq);
    r.audit = audit;
    r
}

async fn login(hub: &TestHub, user: &str) -> String {
    let body = format!("username={user}&password={user}-password-1&next=%2F");
    let r = hub
        .request(
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", "http://localhost"),
            ],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn forwarded_entries_are_stored_once_and_shown_to_admins() {
    let hub = TestHub::start(HubConfig::default()).await;
    for (name, role) in [("alice", Role::Admin), ("victor", Role::Viewer)] {
        users::add(
            &hub.hub.store,
            name,
            role,
            Secret::new(format!("{name}-password-1")),
            0,
        )
        .await
        .unwrap();
    }
    let token = hub.enrol("web1").await;
    let now = jiff::Timestamp::now().as_millisecond();
    let reason = "unknown command `reboot`; `list` shows what this host allows";
    let first = with_audit(
        1,
        vec![
            refused(now - 3000, "mqtt", "m-1", "reboot", reason),
            entry(now - 2000, "hub", "h-1", "restart", &["nginx"]),
        ],
    );
    // Sent, then retried (a lost reply), then backfilled in a batch with the next report.
    for _ in 0..2 {
        let r = hub
            .post_json("/api/v1/reports", &token, &first.to_json())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let second = with_audit(
        2,
        vec![refused(
            now - 1000,
            "mqtt",
            "m-2",
            "restart",
            "bad signature: not signed by a trusted key for this host",
        )],
    );
    let batch = format!(
        "[{},{}]",
        String::from_utf8(first.to_json()).unwrap(),
        String::from_utf8(second.to_json()).unwrap()
    );
    let r = hub
        .post_json("/api/v1/reports", &token, batch.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["duplicates"], 1, "{}", r.text());

    let list = hub.get("/api/v1/hosts/web1/audit", &hub.admin).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let got: Vec<AuditEntry> = serde_json::from_slice(&list.body).unwrap();
    let ids: Vec<&str> = got.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["m-2", "h-1", "m-1"], "each once, newest first");
    assert_eq!(got[2], first.audit[0], "stored as sent");
    assert_eq!(got[1], first.audit[1]);
    let limited = hub
        .get("/api/v1/hosts/web1/audit?limit=1", &hub.admin)
        .await;
    assert_eq!(limited.json().as_array().unwrap().len(), 1);
    assert_eq!(
        hub.get("/api/v1/hosts/web1/audit", &hub.viewer)
            .await
            .status,
        403
    );
    assert_eq!(
        hub.get("/api/v1/hosts/nope/audit", &hub.admin).await.status,
        404
    );

    // Refusals are host events, once each.
    let h = hub.hub.store.host("web1").await.unwrap().unwrap();
    let events = hub
        .hub
        .store
        .events(EventQuery {
            host: Some(h.id),
            since: None,
            until: None,
            limit: 100,
        })
        .await
        .unwrap();
    let refusals: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "command_refused")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .any(|m| m.contains("`reboot` [\"now\"]") && m.contains("mqtt") && m.contains(reason)),
        "{refusals:?}"
    );

    // The host's latest state (open to viewers) does not carry them.
    let host = hub.get("/api/v1/hosts/web1", &hub.viewer).await;
    assert_eq!(host.status, 200);
    assert!(!host.text().contains("m-1"), "{}", host.text());

    // The Commands page lists them for admins.
    let admin = login(&hub, "alice").await;
    let page = hub
        .request("GET", "/hosts/web1/commands", &[("Cookie", &admin)], b"")
        .await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Audit log"), "{html}");
    let table = &html[html.find("id=\"command-audit\"").expect("the audit table")..];
    for id in ["m-1", "h-1", "m-2"] {
        assert_eq!(
            table.matches(&format!("data-request=\"{id}\"")).count(),
            1,
            "{id} once"
        );
    }
    assert!(table.contains("<code>reboot</code>") && table.contains("refused"));
    assert!(table.contains("unknown command `reboot`"), "{table}");
    assert!(table.contains("<code>nginx</code>"));
    let viewer = login(&hub, "victor").await;
    let denied = hub
        .request("GET", "/hosts/web1/commands", &[("Cookie", &viewer)], b"")
        .await;
    assert_ne!(denied.status, 200);
    assert!(!denied.text().contains("m-1"));
    hub.stop().await;
}

#[tokio::test]
async fn an_empty_page_says_so_and_old_entries_are_not_kept() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("web1").await;
    let ancient = hostwatch_hub::audit::KEEP_MS + 1000;
    let now = jiff::Timestamp::now().as_millisecond();
    let r = with_audit(1, vec![refused(now - ancient, "mqtt", "old", "x", "nope")]);
    assert_eq!(
        hub.post_json("/api/v1/reports", &token, &r.to_json())
            .await
            .status,
        200
    );
    let list = hub.get("/api/v1/hosts/web1/audit", &hub.admin).await;
    assert_eq!(list.json(), serde_json::json!([]), "past retention");
    hub.stop().await;
}
