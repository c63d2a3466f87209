//! The dashboard's alert, score and panel views over the real HTTP stack: the overview's alert
//! counts and scores (page and live feed), the host page's score card, alerts and section
//! panels, the fleet alerts page and the admins' notification settings.

use crate::harness::{TestHub, report};
use crate::web::{ADMIN_PW, VIEWER_PW, get, ingest, login, users_on};
use hostwatch_hub::config::HubConfig;
use hostwatch_proto::{Report, Section};
use std::time::Duration;

/// Alerts judged every second; a filesystem over 60 % fires at once, critical over 62 %.
fn fast_alerts() -> HubConfig {
    let text = r#"
[alerts]
evaluate_every = 1
[alerts.builtin.fs_used]
warning = 60
critical = 62
for = 0
"#;
    let config: HubConfig = toml::from_str(text).unwrap();
    config.validate().unwrap();
    config
}

/// The fixture report with `/` at `pct` % and every other filesystem at 10 %.
fn with_disks_at(mut r: Report, pct: f64) -> Report {
    if let Some(Section::Ok(fs)) = &mut r.sections.filesystems {
        for m in &mut fs.mounts {
            m.used_pct = if m.mount == "/" { pct } else { 10.0 };
        }
    }
    r
}

/// Waits until `host` has `critical` firing critical alerts.
async fn wait_critical(hub: &TestHub, host: &str, critical: u32) {
    for _ in 0..200 {
        let counts = hub.hub.alerts.open_counts();
        if counts.get(host).map(|c| c.1) == Some(critical) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{host} never had {critical} critical alerts: {:?}",
        hub.hub.alerts.open_counts()
    );
}

/// A hub with users, `sick-1` whose root filesystem fires a critical alert, `fine-1` at 10 %,
/// and scores computed.
async fn sick_and_fine() -> TestHub {
    let hub = users_on(TestHub::start(fast_alerts()).await).await;
    let sick = hub.enrol("sick-1").await;
    let fine = hub.enrol("fine-1").await;
    ingest(&hub, &sick, &with_disks_at(report("sick-1", "i", 1), 96.0)).await;
    ingest(&hub, &fine, &with_disks_at(report("fine-1", "i", 1), 10.0)).await;
    wait_critical(&hub, "sick-1", 1).await;
    hostwatch_hub::score::refresh(&hub.hub, hostwatch_hub::hub::now_ms())
        .await
        .unwrap();
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_alerts_and_scores_and_puts_critical_hosts_first() {
    let hub = sick_and_fine().await;
    let cookie = login(&hub, "victor", VIEWER_PW).await;
    let page = get(&hub, "/?sort=problems", &cookie).await.text();
    let pos = |name: &str| page.find(&format!("id=\"row-{name}\"")).unwrap();
    // Both hosts have the same (fixture) figures; the critical alert decides.
    assert!(pos("sick-1") < pos("fine-1"), "{page}");
    let row = |name: &str| -> &str {
        let start = pos(name);
        &page[start..start + page[start..].find("</tr>").unwrap()]
    };
    let sick = row("sick-1");
    assert!(sick.contains("class=\"num alerts crit\""), "{sick}");
    assert!(
        sick.contains("<a href=\"/alerts?host=sick-1\">1</a>"),
        "{sick}"
    );
    assert!(sick.contains("title=\"1 critical, 0 warning\""), "{sick}");
    let fine = row("fine-1");
    assert!(fine.contains("class=\"num alerts \""), "{fine}");
    assert!(fine.contains(">0</td>"), "{fine}");
    let sick_score = hub.hub.scores.get("sick-1").unwrap().score;
    let fine_score = hub.hub.scores.get("fine-1").unwrap().score;
    assert!(sick_score < fine_score, "{sick_score} vs {fine_score}");
    assert!(
        sick.contains(&format!("#score\">{sick_score:.0}</a>")),
        "{sick}"
    );
    // The header: the fleet's score (the average of both) and the firing alerts.
    let fleet = (sick_score + fine_score) / 2.0;
    assert!(
        page.contains(&format!(
            "score <b>{:.0}</b>",
            (fleet * 10.0).round() / 10.0
        )),
        "{page}"
    );
    assert!(
        page.contains("id=\"fleet-critical\" href=\"/alerts\"><b>1</b> critical"),
        "{page}"
    );
    assert!(page.contains("<b>0</b> warning"), "{page}");
    // Sorting by alerts and by score.
    let by_score = get(&hub, "/?sort=score", &cookie).await.text();
    assert!(by_score.find("row-sick-1").unwrap() < by_score.find("row-fine-1").unwrap());
    let by_score_desc = get(&hub, "/?sort=score&dir=desc", &cookie).await.text();
    assert!(by_score_desc.find("row-fine-1").unwrap() < by_score_desc.find("row-sick-1").unwrap());

    // The live feed carries the same cells and the header's figures.
    let message = hostwatch_hub::web::live::publish(&hub.hub, None)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&message).unwrap();
    assert_eq!(v["summary"]["critical"], 1, "{v}");
    assert_eq!(v["summary"]["warning"], 0, "{v}");
    assert!(v["summary"]["score"].as_f64().unwrap() > 0.0, "{v}");
    let rows = v["rows"].as_array().unwrap();
    let sick = rows.iter().find(|r| r["name"] == "sick-1").unwrap();
    assert_eq!(sick["rank"], 1, "a critical alert ranks with late hosts");
    assert!(
        sick["html"]
            .as_str()
            .unwrap()
            .contains("class=\"num alerts crit\""),
        "{sick}"
    );
    let _ = ADMIN_PW;
    hub.stop().await;
}
