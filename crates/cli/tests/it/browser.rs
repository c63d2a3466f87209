//! The dashboard in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven
//! over WebDriver, against the real `hostwatch hub` fed by `hostwatch loadgen` — all on
//! loopback. One story, so the browser starts once: a wrong password is refused; an admin logs
//! in and sees the loadgen fleet; a figure changes live without a reload; when the hub goes
//! away the page says it is reconnecting and recovers by itself; a host page draws
//! its charts with data; a viewer has no admin actions and is refused them. Screenshots of the
//! overview and a host page are saved under `target/test-artifacts/`.

use crate::common::{free_port, hostwatch_on, wait_listening};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const HOSTS: usize = 6;

/// Kills a child process however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn admin_token(data: &Path) -> String {
    let out = hostwatch_on(data)
        .args(["tokens", "add", "browser", "--role", "admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("hw_"))
        .expect("the token is printed")
        .to_string()
}

fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    let mut child = hostwatch_on(data)
        .args(["users", "add", name, "--role", role, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// How many hosts the API lists as up.
fn hosts_up(port: u16, token: &str) -> usize {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(
        s,
        "GET /api/v1/hosts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .map(|hosts| {
            hosts
                .iter()
                .filter(|h| h["status"] == "up" && h["figures"]["cpu_busy_pct"].is_number())
                .count()
        })
        .unwrap_or(0)
}

/// Evaluates `expr` in the page until it is truthy; its value then.
async fn wait_js(driver: &WebDriver, expr: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = driver
            .execute(format!("return ({expr});"), Vec::new())
            .await
            .map(|r| r.json().clone())
            .unwrap_or(Value::Null);
        let truthy = match &v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({expr})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn login(driver: &WebDriver, base: &str, user: &str, password: &str) {
    driver.goto(format!("{base}/login")).await.unwrap();
    driver
        .find(By::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    driver
        .find(By::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    driver
        .find(By::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The answer: another page, or the form again with an error.
    wait_js(
        driver,
        "document.readyState === 'complete' && (location.pathname !== '/login' || document.getElementById('login-error'))",
        "the login answer",
    )
    .await;
}

async fn path_of(driver: &WebDriver) -> String {
    driver.current_url().await.unwrap().path().to_string()
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "browser tests need Debian's chromium and chromium-driver (scripts/test.sh installs them)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let token = admin_token(data);
    add_user(data, "alice", "admin", "alice-password-1");
    add_user(data, "victor", "viewer", "victor-password-1");
    let port = free_port();
    let mut hub = Killed(crate::common::start_hub(data, port));
    let base = format!("http://127.0.0.1:{port}");

    // A fleet reporting every second; loadgen-2's root filesystem fills up (a problem row).
    let _loadgen = Killed(
        hostwatch_on(data)
            .args(["loadgen", "--hosts", &HOSTS.to_string(), "--interval", "1"])
            .args(["--duration", "120", "--medium-interval", "2"])
            .args(["--fill-disk", "loadgen-2:/:20:90"])
            .args(["--url", &base])
            .env("HOSTWATCH_ADMIN_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while hosts_up(port, &token) < HOSTS {
        assert!(
            Instant::now() < deadline,
            "loadgen's hosts never all came up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let driver_port = free_port();
    let profile = tempfile::tempdir().unwrap();
    let _chromedriver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(driver_port);

    // WebDriver's HTTP client is reqwest with rustls; the process's provider is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ] {
            caps.add_arg(arg).unwrap();
        }
        let driver = WebDriver::new(format!("http://127.0.0.1:{driver_port}"), caps)
            .await
            .expect("chromedriver starts a Chromium session");
        let result = story(&driver, &base, &mut hub, data, port).await;
        let _ = driver.quit().await;
        result
    });
}

async fn story(driver: &WebDriver, base: &str, hub: &mut Killed, data: &Path, port: u16) {
    // Not logged in: the overview sends us to the login form.
    driver.goto(format!("{base}/")).await.unwrap();
    assert_eq!(path_of(driver).await, "/login");

    // A wrong password is refused.
    login(driver, base, "alice", "not-her-password").await;
    let error = driver
        .find(By::Id("login-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(error, "Wrong user name or password.");
    assert_eq!(path_of(driver).await, "/login");

    // The admin logs in and sees every host loadgen enrolled.
    login(driver, base, "alice", "alice-password-1").await;
    assert_eq!(path_of(driver).await, "/");
    // Read in one script: live updates replace rows, so element handles could go stale.
    let statuses = driver
        .execute(
            "return Array.from(document.querySelectorAll('#fleet tbody tr.host')).map(tr => [tr.id, tr.querySelector('.status').textContent.trim()]);",
            Vec::new(),
        )
        .await
        .unwrap()
        .json()
        .clone();
    let statuses: Vec<(String, String)> = serde_json::from_value(statuses).unwrap();
    assert_eq!(statuses.len(), HOSTS, "{statuses:?}");
    for i in 0..HOSTS {
        let row = format!("row-loadgen-{i}");
        assert!(
            statuses.contains(&(row.clone(), "up".to_string())),
            "{row} is listed and up: {statuses:?}"
        );
    }
    assert!(
        driver.find(By::Id("enrol-link")).await.is_ok(),
        "admins see the enrol action"
    );

    // Live: figures change without a reload (a marker set on this page survives).
    wait_js(
        driver,
        "document.getElementById('live-state').dataset.state === 'open'",
        "the live feed",
    )
    .await;
    driver
        .execute(
            "window.hwMarker = 42; window.hwBefore = Array.from(document.querySelectorAll('#fleet td.cpu')).map(td => td.textContent).join('|');",
            Vec::new(),
        )
        .await
        .unwrap();
    wait_js(
        driver,
        "window.hwLive.rows > 0 && window.hwMarker === 42 && Array.from(document.querySelectorAll('#fleet td.cpu')).map(td => td.textContent).join('|') !== window.hwBefore",
        "a CPU figure to change live",
    )
    .await;
    // Sparklines are drawn by the server, one per host.
    wait_js(
        driver,
        &format!("document.querySelectorAll('#fleet svg.spark path').length === {HOSTS}"),
        "sparklines",
    )
    .await;
    // Every row has its health score and the header the fleet's, carried by the live feed.
    wait_js(
        driver,
        &format!("Array.from(document.querySelectorAll('#fleet td.score')).filter(td => /^\\d+$/.test(td.textContent.trim())).length === {HOSTS} && /\\d/.test(document.getElementById('fleet-score').textContent)"),
        "health scores on every row",
    )
    .await;
    let shot = artifacts().join("dashboard-overview.png");
    driver.screenshot(&shot).await.unwrap();
    println!("screenshot: {}", shot.display());

    // The hub goes away: the page says it is reconnecting, and recovers by itself.
    let _ = hub.0.kill();
    let _ = hub.0.wait();
    wait_js(
        driver,
        "!document.getElementById('live-banner').hidden && document.getElementById('live-state').dataset.state === 'lost'",
        "the reconnecting banner",
    )
    .await;
    let banner = driver
        .find(By::Id("live-banner"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(banner.contains("reconnecting"), "{banner}");
    hub.0 = crate::common::start_hub(data, port);
    wait_js(
        driver,
        "document.getElementById('live-banner').hidden && document.getElementById('live-state').dataset.state === 'open' && window.hwMarker === 42",
        "the live feed to come back without a reload",
    )
    .await;

    // The host page draws its charts from the series API, with data in them.
    driver
        .goto(format!("{base}/hosts/loadgen-0"))
        .await
        .unwrap();
    let points = wait_js(
        driver,
        "window.hwCharts && window.hwCharts.cpu && window.hwCharts.cpu.data[1].length",
        "the CPU chart's data",
    )
    .await;
    assert!(points.as_u64().unwrap() >= 2, "{points}");
    let memory = wait_js(
        driver,
        "window.hwCharts && window.hwCharts.memory && window.hwCharts.memory.data[1].length",
        "the memory chart's data",
    )
    .await;
    assert!(memory.as_u64().unwrap() >= 2, "{memory}");
    let series = driver
        .execute("return window.hwCharts.cpu.series.length", Vec::new())
        .await
        .unwrap();
    assert!(
        series.json().as_u64().unwrap() >= 4,
        "CPU stacked by mode: {:?}",
        series.json()
    );
    let attr = driver
        .find(By::Id("chart-cpu"))
        .await
        .unwrap()
        .attr("data-points")
        .await
        .unwrap();
    assert_eq!(
        attr.as_deref().map(|a| a.parse::<u64>().unwrap()),
        points.as_u64()
    );
    assert!(driver.find(By::Css("canvas")).await.is_ok());
    assert!(driver.find(By::Id("filesystems")).await.is_ok());
    // The score card, scored on demand for a host the background pass has not reached yet.
    let total = driver
        .find(By::Id("score-total"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(total.parse::<u32>().is_ok_and(|s| s <= 100), "{total}");
    let shot = artifacts().join("dashboard-host.png");
    driver.screenshot(&shot).await.unwrap();
    println!("screenshot: {}", shot.display());

    // The alerts page: an admin silences a host through the form (alerts.js posts to the
    // silences API with the session cookie, through the CSRF check) and deletes it again.
    driver.goto(format!("{base}/alerts")).await.unwrap();
    assert!(driver.find(By::Id("fleet")).await.is_err());
    let matchers = driver.find(By::Id("silence-matchers")).await.unwrap();
    matchers.clear().await.unwrap();
    matchers
        .send_keys("host=loadgen-2, rule=~fs_.*")
        .await
        .unwrap();
    let duration = driver.find(By::Id("silence-duration")).await.unwrap();
    duration.clear().await.unwrap();
    duration.send_keys("1h").await.unwrap();
    driver
        .find(By::Id("silence-comment"))
        .await
        .unwrap()
        .send_keys("disk swap tonight")
        .await
        .unwrap();
    driver
        .find(By::Id("silence-create"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let listed = wait_js(
        driver,
        "document.querySelector('#silence-list code') && document.querySelector('#silence-list code').textContent",
        "the new silence after the reload",
    )
    .await;
    assert_eq!(listed, "host=\"loadgen-2\", rule=~\"fs_.*\"");
    let shot = artifacts().join("dashboard-alerts.png");
    driver.screenshot(&shot).await.unwrap();
    driver
        .find(By::Css("#silence-list button.delete-silence"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        driver,
        "document.getElementById('no-silences') !== null",
        "the silence to be deleted",
    )
    .await;

    // A viewer: no admin actions shown, and refused when asked for directly.
    driver
        .find(By::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(driver, "location.pathname === '/login'", "the logout").await;
    login(driver, base, "victor", "victor-password-1").await;
    assert_eq!(path_of(driver).await, "/");
    assert!(
        driver.find(By::Id("enrol-link")).await.is_err(),
        "viewers see no enrol action"
    );
    driver.goto(format!("{base}/admin/enrol")).await.unwrap();
    let body = driver
        .find(By::Tag("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("This page is for admins."), "{body}");
    assert!(driver.find(By::Id("enrol-name")).await.is_err());
    driver
        .goto(format!("{base}/admin/notifications"))
        .await
        .unwrap();
    let body = driver
        .find(By::Tag("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("This page is for admins."), "{body}");
    // The alerts page is theirs to read, without the silence form.
    driver.goto(format!("{base}/alerts")).await.unwrap();
    assert!(driver.find(By::Id("silences")).await.is_ok());
    assert!(driver.find(By::Id("silence-form")).await.is_err());
}
