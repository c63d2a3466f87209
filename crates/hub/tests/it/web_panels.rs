//! The dashboard's alert, score and panel views over the real HTTP stack: the overview's alert
//! counts and scores (page and live feed), the host page's score card, alerts and section
//! panels, the fleet alerts page and the admins' notification settings.

use crate::harness::{TestHub, report};
use crate::web::{ADMIN_PW, VIEWER_PW, get, ingest, login, users_on};
use hostwatch_hub::config::HubConfig;
use hostwatch_proto::{Report, Section};
use std::time::Duration;

/// Alerts judged every second; a filesystem over 60 % fires at once, critical over 62 %. The
/// rules on the integrations' sections are off: the fixture's degraded pool, failing checks and
/// failed units would fire on both hosts alike, and these tests are about the difference.
fn fast_alerts() -> HubConfig {
    let mut text = r#"
[alerts]
evaluate_every = 1
[alerts.builtin.fs_used]
warning = 60
critical = 62
for = 0
"#
    .to_string();
    for rule in [
        "container_unhealthy",
        "container_restarting",
        "unit_inactive",
        "failed_units",
        "check_state",
        "zfs_pool_state",
        "zfs_errors",
        "zfs_scrub_age",
        "smart_failed",
        "smart_sectors",
        "nvme_wear",
        "pve_storage_used",
        "source_failing",
        "job_failed",
        "job_missed",
    ] {
        text.push_str(&format!("[alerts.builtin.{rule}]\ndisabled = true\n"));
    }
    let config: HubConfig = toml::from_str(&text).unwrap();
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

/// The `<section id="…">` of a page.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let end = page[start..].find("</section>").unwrap();
    &page[start..start + end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_page_has_the_score_card_alerts_and_a_panel_per_section() {
    let hub = sick_and_fine().await;
    let viewer = login(&hub, "victor", VIEWER_PW).await;
    let admin = login(&hub, "alice", ADMIN_PW).await;
    let page = get(&hub, "/hosts/sick-1", &viewer).await.text();

    // The score card: every dimension with its points and its reason, linked to its data.
    let score = hub.hub.scores.get("sick-1").unwrap();
    let card = section(&page, "score");
    assert!(
        card.contains(&format!("id=\"score-total\">{:.0}</span>", score.score)),
        "{card}"
    );
    for d in &score.dimensions {
        assert!(
            card.contains(&format!("id=\"dimension-{}\"", d.name)),
            "{card}"
        );
        // askama escapes the reason's `>` of "→": compare what the page shows.
        let reason = d.reason.replace('&', "&#38;").replace('>', "&#62;");
        assert!(
            card.contains(&format!("<p class=\"reason\">{reason}</p>")),
            "{reason} in {card}"
        );
    }
    let disk = score.dimensions.iter().find(|d| d.name == "disk").unwrap();
    assert!(disk.points < disk.max, "96 % costs disk points: {disk:?}");
    assert!(card.contains("href=\"#filesystems\">See the data"));
    assert!(card.contains("dim-points crit") || card.contains("dim-points warn"));

    // Its alerts: the viewer sees them without buttons, the admin with ack and silence.
    let alerts = section(&page, "alerts");
    assert!(alerts.contains("fs_used"), "{alerts}");
    assert!(alerts.contains("class=\"crit\">critical</td>"), "{alerts}");
    assert!(alerts.contains(">96</td>"), "{alerts}");
    assert!(!alerts.contains("class=\"small ack\""), "{alerts}");
    let admin_page = get(&hub, "/hosts/sick-1", &admin).await.text();
    let admin_alerts = section(&admin_page, "alerts");
    let fingerprint = &hub.hub.alerts.alerts(Some("sick-1"), None)[0].fingerprint;
    assert!(
        admin_alerts.contains(&format!(
            "class=\"small ack\" data-fingerprint=\"{fingerprint}\""
        )),
        "{admin_alerts}"
    );
    // The silence button carries matchers for this alert (HTML-escaped JSON).
    assert!(
        admin_alerts.contains("&#34;label&#34;:&#34;host&#34;,&#34;op&#34;:&#34;=&#34;,&#34;value&#34;:&#34;sick-1&#34;"),
        "{admin_alerts}"
    );
    assert!(
        admin_alerts.contains(
            "&#34;label&#34;:&#34;mount&#34;,&#34;op&#34;:&#34;=&#34;,&#34;value&#34;:&#34;/&#34;"
        ),
        "{admin_alerts}"
    );

    // A panel per section the fixture has, with its figures.
    for id in [
        "containers",
        "checks",
        "systemd",
        "zfs",
        "zfs-datasets",
        "smart",
        "proxmox-guests",
        "proxmox-storages",
        "gpus",
        "ollama",
    ] {
        section(&page, &format!("panel-{id}"));
    }
    let containers = section(&page, "panel-containers");
    assert!(
        containers.contains("2 running, 1 unhealthy"),
        "{containers}"
    );
    assert!(containers.contains(">nginx:1.27</td>"), "{containers}");
    assert!(containers.contains("6.2 MiB / 64 MiB"), "{containers}");
    assert!(containers.contains("/ no limit"), "{containers}");
    assert!(containers.contains("failed in a row)"), "{containers}");
    let checks = section(&page, "panel-checks");
    assert!(
        checks.contains("class=\"warn\" title=\"exit 1\">WARNING</td>"),
        "{checks}"
    );
    // The long output is behind a disclosure.
    assert!(
        checks.contains("<details><summary>DISK WARNING - free space: / 3326 MB (16%);</summary><pre class=\"output\">/ 15272 MB (77%);\n/boot 68 MB (69%);</pre></details>"),
        "{checks}"
    );
    assert!(checks.contains("UNKNOWN") && checks.contains("timed out after 10 s"));
    let systemd = section(&page, "panel-systemd");
    assert!(
        systemd.contains("1 failed unit on the system: pve-guests.service"),
        "{systemd}"
    );
    assert!(systemd.contains("activating (auto-restart)"), "{systemd}");
    let zfs = section(&page, "panel-zfs");
    assert!(
        zfs.contains(">DEGRADED<") || zfs.contains("<summary>DEGRADED</summary>"),
        "{zfs}"
    );
    assert!(
        zfs.contains(">35 %</td>") && zfs.contains(">12 %</td>"),
        "{zfs}"
    );
    let smart = section(&page, "panel-smart");
    assert!(smart.contains("PASSED, with findings"), "{smart}");
    assert!(
        smart.contains(">42454 h</td>") && smart.contains(">31 °C</td>"),
        "{smart}"
    );
    assert!(smart.contains(">3.0 %</td>"), "NVMe used: {smart}");
    let gpus = section(&page, "panel-gpus");
    assert!(gpus.contains("card0 Radeon RX Vega 56/64"), "{gpus}");
    assert!(gpus.contains(">15 / 220 W</td>"), "{gpus}");
    assert!(
        gpus.contains(">asleep</td>"),
        "a suspended GPU is not woken: {gpus}"
    );
    assert!(
        gpus.contains("fallen off the bus"),
        "source errors show: {gpus}"
    );
    assert!(gpus.contains("python (5762)"), "{gpus}");
    let ollama = section(&page, "panel-ollama");
    assert!(
        ollama.contains("loading llama3:70b (39.9 GiB) would leave only 1.2 GiB"),
        "{ollama}"
    );
    assert!(ollama.contains(">70.6B</td>"), "{ollama}");
    assert!(ollama.contains(">loaded</td>"), "{ollama}");
    let guests = section(&page, "panel-proxmox-guests");
    assert!(
        guests.contains("node pve-node1") && guests.contains(">web1<"),
        "{guests}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn section_errors_show_in_their_panel_and_missing_sections_have_none() {
    let hub = users_on(TestHub::start(HubConfig::default()).await).await;
    let token = hub.enrol("odd-1").await;
    let mut r = report("odd-1", "i", 1);
    r.sections.containers = Some(Section::Failed(hostwatch_proto::SectionError {
        kind: hostwatch_proto::ErrorKind::Io,
        message: "connecting to /var/run/docker.sock: permission denied".into(),
    }));
    r.sections.zfs = None;
    r.sections.zfs_datasets = None;
    r.sections.smart = None;
    r.sections.proxmox = None;
    ingest(&hub, &token, &r).await;
    let cookie = login(&hub, "victor", VIEWER_PW).await;
    let page = get(&hub, "/hosts/odd-1", &cookie).await.text();
    let containers = section(&page, "panel-containers");
    assert!(
        containers.contains("<p class=\"error section-error\">The agent could not read this: connecting to /var/run/docker.sock: permission denied</p>"),
        "{containers}"
    );
    assert!(!containers.contains("<table"), "{containers}");
    for gone in ["panel-zfs", "panel-smart", "panel-proxmox-guests"] {
        assert!(!page.contains(gone), "{gone} shown without its section");
    }
    assert!(page.contains("id=\"panel-checks\""));
    // No alerts yet: said so.
    assert!(section(&page, "alerts").contains("No open alerts."));
    hub.stop().await;
}

/// What alerts.js sends: the session cookie, JSON, and the browser's same-origin header.
async fn post_as(
    hub: &TestHub,
    cookie: &str,
    method: &str,
    path: &str,
    body: &str,
) -> crate::harness::Response {
    hub.request(
        method,
        path,
        &[
            ("Cookie", cookie),
            ("Sec-Fetch-Site", "same-origin"),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_page_lists_alerts_and_silences_and_admins_act_on_them() {
    let hub = sick_and_fine().await;
    let viewer = login(&hub, "victor", VIEWER_PW).await;
    let admin = login(&hub, "alice", ADMIN_PW).await;
    let fingerprint = hub.hub.alerts.alerts(Some("sick-1"), None)[0]
        .fingerprint
        .clone();

    // Viewers read: the alert with its host, rule and value; no buttons, no silence form.
    let page = get(&hub, "/alerts", &viewer).await.text();
    // (The fixture's failing checks and units are pending on their own rules.)
    assert!(page.contains("<b>1</b> firing, <b>"), "{page}");
    let alerts = section(&page, "alerts");
    assert!(
        alerts.contains("<a href=\"/hosts/sick-1\">sick-1</a>"),
        "{alerts}"
    );
    assert!(alerts.contains(">fs_used</td>") && alerts.contains(">96</td>"));
    assert!(alerts.contains("/ on sick-1 is 96.0 % full"), "{alerts}");
    assert!(!alerts.contains("class=\"small ack\"") && !page.contains("id=\"silence-form\""));
    assert!(page.contains("No active or upcoming silences."));
    // …and are refused the actions themselves.
    let r = post_as(
        &hub,
        &viewer,
        "POST",
        &format!("/api/v1/alerts/{fingerprint}/ack"),
        "{}",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let silence = r#"{"matchers":[{"label":"host","op":"=","value":"sick-1"}],"duration":"2h","comment":"disk swap tonight"}"#;
    assert_eq!(
        post_as(&hub, &viewer, "POST", "/api/v1/silences", silence)
            .await
            .status,
        403
    );

    // Admins get the buttons and the form; the filter by host keeps only that host's alerts.
    let page = get(&hub, "/alerts?host=fine-1", &admin).await.text();
    assert!(
        !section(&page, "alerts").contains("sick-1") && page.contains("value=\"host=fine-1\""),
        "{page}"
    );
    let page = get(&hub, "/alerts", &admin).await.text();
    assert!(page.contains(&format!(
        "class=\"small ack\" data-fingerprint=\"{fingerprint}\""
    )));
    assert!(page.contains("id=\"silence-form\""));

    // What the buttons do, and what the page shows after.
    let r = post_as(
        &hub,
        &admin,
        "POST",
        &format!("/api/v1/alerts/{fingerprint}/ack"),
        r#"{"comment":""}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_as(&hub, &admin, "POST", "/api/v1/silences", silence).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let page = get(&hub, "/alerts", &admin).await.text();
    let alerts = section(&page, "alerts");
    assert!(alerts.contains(">acked</span>"), "{alerts}");
    assert!(
        !alerts.contains("class=\"small ack\""),
        "acked once: {alerts}"
    );
    let silences = section(&page, "silences");
    assert!(
        silences.contains("<code>host=&#34;sick-1&#34;</code>"),
        "{silences}"
    );
    assert!(silences.contains(">disk swap tonight</td>") && silences.contains(">active<"));
    assert!(silences.contains(&format!(
        "class=\"small danger delete-silence\" data-id=\"{id}\""
    )));
    let r = post_as(
        &hub,
        &admin,
        "DELETE",
        &format!("/api/v1/silences/{id}"),
        "",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        get(&hub, "/alerts", &admin)
            .await
            .text()
            .contains("No active or upcoming silences.")
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifications_page_shows_channels_never_their_secrets_and_the_delivery_log() {
    crate::notify::install_crypto();
    const SECRETS: [&str; 6] = [
        "777000:AAH-bot-token-secret",
        "T0001/B0002/hook-url-secret",
        "hmac-key-secret",
        "tk_ntfy_secret",
        "smtp-password-secret",
        "gotify-app-secret",
    ];
    // A closed port: every test send fails, quickly, and lands in the log.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let config = crate::notify::config(&format!(
        r#"retry_attempts = 1
[[notify.channels]]
name = "phone"
type = "telegram"
bot_token = "{}"
chat_id = "1"
api_base = "http://{addr}"
quiet_hours = "22:00-07:00"
[[notify.channels]]
name = "team-chat"
type = "slack"
url = "http://{addr}/services/{}"
[[notify.channels]]
name = "hook"
type = "webhook"
url = "http://{addr}/in"
hmac_key = "{}"
digest = false
[[notify.channels]]
name = "push"
type = "ntfy"
server = "http://{addr}"
topic = "t"
token = "{}"
[[notify.channels]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {}
tls = "none"
smtp_username = "u"
smtp_password = "{}"
from = "hub@example.org"
to = ["ops@example.org"]
[[notify.channels]]
name = "gotify"
type = "gotify"
server = "http://{addr}"
token = "{}"
"#,
        SECRETS[0],
        SECRETS[1],
        SECRETS[2],
        SECRETS[3],
        addr.port(),
        SECRETS[4],
        SECRETS[5],
    ));
    let hub = users_on(TestHub::start(config).await).await;
    let viewer = login(&hub, "victor", VIEWER_PW).await;
    let admin = login(&hub, "alice", ADMIN_PW).await;
    assert_eq!(get(&hub, "/admin/notifications", &viewer).await.status, 403);
    let viewer_page = get(&hub, "/", &viewer).await.text();
    assert!(!viewer_page.contains("/admin/notifications"));

    let page = get(&hub, "/admin/notifications", &admin).await.text();
    assert!(!page.contains("No channels configured"));
    for (name, kind) in [
        ("phone", "telegram"),
        ("team-chat", "slack"),
        ("hook", "webhook"),
        ("push", "ntfy"),
        ("mail", "email"),
        ("gotify", "gotify"),
    ] {
        let row = &page[page.find(&format!("id=\"channel-{name}\"")).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&format!(">{kind}</td>")), "{row}");
        assert!(
            row.contains(&format!(
                "class=\"small send-test\" data-channel=\"{name}\""
            )),
            "{row}"
        );
    }
    assert!(page.contains("quiet 22:00-07:00, digest"), "{page}");
    assert!(page.contains(">no digest</td>"), "{page}");
    assert!(page.contains("Nothing sent yet."));

    // The "send test" button's request, for two channels: each fails and is logged.
    for name in ["phone", "hook"] {
        let r = post_as(
            &hub,
            &admin,
            "POST",
            &format!("/api/v1/notify/test/{name}"),
            "",
        )
        .await;
        assert_eq!(r.status, 502, "{}", r.text());
        assert_eq!(r.json()["delivered"], false);
    }
    let page = get(&hub, "/admin/notifications", &admin).await.text();
    let log = section(&page, "deliveries");
    assert_eq!(
        log.matches("class=\"crit\">failed</td>").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains(">phone</td>") && log.contains(">hook</td>"),
        "{log}"
    );
    assert!(log.contains(">test</td>"), "{log}");
    assert!(log.contains("class=\"num\">1</td>"), "one attempt: {log}");
    for secret in SECRETS
        .iter()
        .copied()
        .chain(["AAH-bot-token-secret", "hook-url-secret"])
    {
        assert!(
            !page.contains(secret),
            "`{secret}` shown on the page:\n{page}"
        );
    }
    hub.stop().await;
}
