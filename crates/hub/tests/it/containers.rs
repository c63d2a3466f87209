//! The containers section at the hub: watchdog restarts become host events, once each.

use crate::harness::{TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_proto::Section;

async fn restart_events(hub: &TestHub, host: &str) -> Vec<(String, String)> {
    let events = hub
        .get(&format!("/api/v1/events?host={host}"), &hub.viewer)
        .await
        .json();
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("container_"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_watchdog_restart_is_recorded_once_as_a_host_event() {
    let hub = TestHub::start(HubConfig::default()).await;
    let token = hub.enrol("docker-1").await;
    // The golden report carries one restart of `api`; the agent retries it after a lost reply.
    let first = report("docker-1", "i", 1);
    for _ in 0..2 {
        let r = hub
            .post_json("/api/v1/reports", &token, &first.to_json())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let events = restart_events(&hub, "docker-1").await;
    assert_eq!(
        events,
        vec![(
            "container_restarted".to_string(),
            "container api (fc1243c01bbb) restarted by the watchdog: health check failed 3 times in a row"
                .to_string()
        )]
    );

    // A later report with a failed restart adds its own event; one without actions adds none.
    let mut second = report("docker-1", "i", 2);
    let Some(Section::Ok(c)) = &mut second.sections.containers else {
        panic!("the golden report has containers")
    };
    let action = &mut c.watchdog_actions[0];
    action.at += 600_000;
    action.result = hostwatch_proto::sections::WatchdogResult::Failed;
    action.error = Some("POST /containers/x/restart answered HTTP 500: busy".into());
    let mut third = report("docker-1", "i", 3);
    if let Some(Section::Ok(c)) = &mut third.sections.containers {
        c.watchdog_actions.clear();
    }
    let batch = format!(
        "[{},{}]",
        String::from_utf8(second.to_json()).unwrap(),
        String::from_utf8(third.to_json()).unwrap()
    );
    let r = hub
        .post_json("/api/v1/reports", &token, batch.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = restart_events(&hub, "docker-1").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "container_restart_failed");
    assert!(events[0].1.contains("HTTP 500: busy"), "{:?}", events[0]);
    hub.stop().await;
}
