//! End to end: a real hub on loopback evaluating every second; a host's reports whose root
//! filesystem fills like `hostwatch loadgen --fill-disk web-1:/:1:80` (1 % a minute from 80 %,
//! in report time) drive it over 85 % → a firing notice reaches the notifier; back under →
//! a resolved notice. The alert API lists, acknowledges and silences along the way.

use crate::harness::{TestHub, report};
use hostwatch_hub::alert::rule::Secs;
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::notice::{AlertNotice, DigestMessage, NoticeState, Notifier, Severity};
use hostwatch_hub::store::Store;
use hostwatch_proto::Section;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Recorder {
    notices: Mutex<Vec<AlertNotice>>,
    stopped: Mutex<Vec<String>>,
}

impl Notifier for Recorder {
    fn alert(&self, notice: AlertNotice) {
        self.notices.lock().unwrap().push(notice);
    }
    fn stop_repeating(&self, fingerprint: &str) {
        self.stopped.lock().unwrap().push(fingerprint.into());
    }
    fn digest(&self, _: DigestMessage) {}
}

impl Recorder {
    fn fs_notices(&self) -> Vec<AlertNotice> {
        self.notices
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.rule == "fs_used")
            .cloned()
            .collect()
    }
}

const MIN: i64 = 60_000;

/// Posts report `seq` (collected `seq` minutes after the first) with `/` at `pct`, and waits
/// until the engine has judged it.
async fn send(hub: &TestHub, token: &str, host_id: i64, seq: u64, pct: f64) {
    let mut r = report("web-1", "i-1", seq);
    r.collected_at = 1_795_339_937_104 + seq as i64 * MIN;
    if let Some(Section::Ok(f)) = &mut r.sections.filesystems {
        f.mounts.retain(|m| m.mount == "/");
        f.mounts[0].used_pct = pct;
    }
    let at = r.collected_at;
    let res = hub.post_json("/api/v1/reports", token, &r.to_json()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    for _ in 0..200 {
        if hub.hub.alerts.judged_until(host_id) == Some(at) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the engine never judged report {seq}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_disk_fires_then_resolves_through_the_notifier_and_the_api() {
    let mut config = HubConfig::default();
    config.alerts.evaluate_every = Secs(1);
    let rec = Arc::new(Recorder::default());
    let hub = TestHub::start_notifying(config, rec.clone()).await;
    let token = hub.enrol("web-1").await;
    let host_id = hub.hub.store.host("web-1").await.unwrap().unwrap().id;

    // 80 % + 1 % a minute: over 85 % from minute 6, firing 5 minutes later (minute 11).
    let mut seq = 0;
    while rec.fs_notices().is_empty() {
        assert!(seq < 16, "no firing notice by minute {seq}");
        send(&hub, &token, host_id, seq, 80.0 + seq as f64).await;
        seq += 1;
    }
    assert_eq!(seq - 1, 11, "fired at minute 11");
    let fired = rec.fs_notices()[0].clone();
    assert_eq!(
        (fired.state, fired.severity, fired.host.as_deref()),
        (NoticeState::Firing, Severity::Warning, Some("web-1"))
    );
    assert_eq!(
        fired.summary,
        "/ on web-1 is 91.0 % full (warning above 85.0 %)"
    );

    // The API lists it for viewers; only admins acknowledge.
    let list = hub
        .get("/api/v1/alerts?state=firing", &hub.viewer)
        .await
        .json();
    let fs = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "fs_used")
        .expect("fs_used is listed")
        .clone();
    assert_eq!(fs["host"], "web-1");
    assert_eq!(fs["severity"], "warning");
    assert_eq!(fs["value"], 91.0);
    assert_eq!(fs["summary"], fired.summary);
    assert_eq!(fs["fingerprint"], fired.fingerprint);
    let of_host = hub
        .get("/api/v1/hosts/web-1/alerts", &hub.viewer)
        .await
        .json();
    assert!(
        of_host
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "fs_used")
    );
    assert_eq!(
        hub.get("/api/v1/hosts/nope/alerts", &hub.viewer)
            .await
            .status,
        404
    );
    assert_eq!(
        hub.get("/api/v1/alerts?state=gone", &hub.viewer)
            .await
            .status,
        400
    );
    assert_eq!(hub.get("/api/v1/alerts", "hw_bogus").await.status, 401);
    let ack_path = format!("/api/v1/alerts/{}/ack", fired.fingerprint);
    assert_eq!(
        hub.post_json(&ack_path, &hub.viewer, b"{}").await.status,
        403
    );
    let acked = hub
        .post_json(
            &ack_path,
            &hub.admin,
            br#"{"comment":"growing the volume"}"#,
        )
        .await;
    assert_eq!(acked.status, 200, "{}", acked.text());
    assert_eq!(acked.json()["comment"], "growing the volume");
    assert!(rec.stopped.lock().unwrap().contains(&fired.fingerprint));
    assert_eq!(
        hub.post_json("/api/v1/alerts/0000/ack", &hub.admin, b"")
            .await
            .status,
        404
    );

    // Silences: admins create and delete, viewers read; bad ones are refused with the reason.
    let bad = hub
        .post_json(
            "/api/v1/silences",
            &hub.admin,
            br#"{"matchers":[],"duration":"1h"}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("matchers"), "{}", bad.text());
    let created = hub
        .post_json(
            "/api/v1/silences",
            &hub.admin,
            br#"{"matchers":[{"label":"rule","value":"cpu_steal"}],"duration":"2h","comment":"noisy neighbour"}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(created.json()["author"].as_str().unwrap(), {
        let list = hub.get("/api/v1/silences", &hub.viewer).await.json();
        list[0]["author"].as_str().unwrap().to_string()
    });
    assert_eq!(
        hub.post_json("/api/v1/silences", &hub.viewer, b"{}")
            .await
            .status,
        403
    );
    let auth = format!("Bearer {}", hub.admin);
    let del = hub
        .request(
            "DELETE",
            &format!("/api/v1/silences/{id}"),
            &[("Authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(del.status, 204);
    let del = hub
        .request(
            "DELETE",
            &format!("/api/v1/silences/{id}"),
            &[("Authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(del.status, 404);

    // Back under 85 %: resolved (the acknowledgement does not hold back the resolve).
    send(&hub, &token, host_id, seq, 60.0).await;
    let notices = rec.fs_notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[1].state, NoticeState::Resolved);
    assert_eq!(notices[1].fingerprint, fired.fingerprint);
    let list = hub.get("/api/v1/alerts", &hub.viewer).await.json();
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "fs_used")
    );
    // Both transitions are host events.
    let events = hub
        .get("/api/v1/events?host=web-1", &hub.viewer)
        .await
        .json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["message"].as_str().unwrap().contains("/ on web-1")
                || e["message"].as_str().unwrap().contains("fs_used")
        })
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["alert_resolved", "alert_firing"]);
    hub.stop().await;
}
