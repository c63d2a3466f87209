//! The dashboard over the real HTTP stack: login, sessions, CSRF, roles, the overview, the
//! live feed and the host page.

use crate::harness::{Response, TestHub, report};
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::recent::Figure;
use hostwatch_hub::store::{Role, Store};
use hostwatch_hub::web::users;
use hostwatch_proto::{Report, Secret};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const ADMIN_PW: &str = "admin-password-1";
pub(crate) const VIEWER_PW: &str = "viewer-password-1";

pub(crate) async fn hub_with_users() -> TestHub {
    users_on(TestHub::start(HubConfig::default()).await).await
}

/// Adds alice (admin) and victor (viewer) to a running hub.
pub(crate) async fn users_on(hub: TestHub) -> TestHub {
    users::add(
        &hub.hub.store,
        "alice",
        Role::Admin,
        Secret::new(ADMIN_PW),
        0,
    )
    .await
    .unwrap();
    users::add(
        &hub.hub.store,
        "victor",
        Role::Viewer,
        Secret::new(VIEWER_PW),
        0,
    )
    .await
    .unwrap();
    hub
}

fn form(user: &str, password: &str, next: &str) -> Vec<u8> {
    format!("username={user}&password={password}&next={next}").into_bytes()
}

async fn login_raw(hub: &TestHub, user: &str, password: &str, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "http://localhost"),
    ];
    headers.extend_from_slice(extra);
    hub.request(
        "POST",
        "/login",
        &headers,
        &form(user, password, "%2Fhosts%2Fweb-1"),
    )
    .await
}

/// Logs in; the `Cookie` header value of the new session.
pub(crate) async fn login(hub: &TestHub, user: &str, password: &str) -> String {
    let r = login_raw(hub, user, password, &[]).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let set = r.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

pub(crate) async fn get(hub: &TestHub, path: &str, cookie: &str) -> Response {
    hub.request("GET", path, &[("Cookie", cookie)], b"").await
}

pub(crate) async fn ingest(hub: &TestHub, token: &str, r: &Report) {
    let body = serde_json::to_vec(r).unwrap();
    let resp = hub.post_json("/api/v1/reports", token, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

fn with_cpu(mut r: Report, busy: f64) -> Report {
    let mut v = serde_json::to_value(&r).unwrap();
    v["sections"]["cpu"]["usage"]["busy_pct"] = busy.into();
    v["sections"]["cpu"]["usage"]["steal_pct"] = 0.5.into();
    r = serde_json::from_value(v).unwrap();
    r
}

#[tokio::test]
async fn pages_need_a_login_and_a_login_sets_a_safe_cookie() {
    let hub = hub_with_users().await;
    let r = hub.request("GET", "/hosts/web-1?range=6h", &[], b"").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/login?next=%2Fhosts%2Fweb-1%3Frange%3D6h")
    );
    assert_eq!(hub.request("GET", "/login", &[], b"").await.status, 200);
    // The API without any credentials.
    assert_eq!(
        hub.request("GET", "/api/v1/hosts", &[], b"").await.status,
        401
    );

    let r = login_raw(&hub, "alice", ADMIN_PW, &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/hosts/web-1"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("hw_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap();

    // The session works for pages and for the JSON API the pages use.
    let page = get(&hub, "/", session).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("alice"));
    let api = get(&hub, "/api/v1/hosts", session).await;
    assert_eq!(api.status, 200, "{}", api.text());

    // Behind a TLS proxy the cookie is Secure.
    let r = login_raw(&hub, "alice", ADMIN_PW, &[("X-Forwarded-Proto", "https")]).await;
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));

    // Logout ends the session server-side, not only in the browser.
    let r = hub
        .request(
            "POST",
            "/logout",
            &[("Cookie", session), ("Sec-Fetch-Site", "same-origin")],
            b"",
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(get(&hub, "/", session).await.status, 303);
    assert_eq!(get(&hub, "/api/v1/hosts", session).await.status, 401);
    hub.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let hub = hub_with_users().await;
    let wrong = login_raw(&hub, "alice", "not-the-password", &[]).await;
    let unknown = login_raw(&hub, "alicf", "not-the-password", &[]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert!(wrong.text().contains("Wrong user name or password."));
    assert_eq!(
        wrong.text().replace("alice", "X"),
        unknown.text().replace("alicf", "X")
    );
    hub.stop().await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_user_name() {
    let hub = hub_with_users().await;
    for _ in 0..hostwatch_hub::web::LOGINS_PER_MINUTE {
        assert_eq!(
            login_raw(&hub, "victor", "guess-guess", &[]).await.status,
            401
        );
    }
    let r = login_raw(&hub, "victor", VIEWER_PW, &[]).await;
    assert_eq!(r.status, 429, "even the right password waits: {}", r.text());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(r.header("set-cookie").is_none());
    // Another user is not locked out by victor's attempts.
    login(&hub, "alice", ADMIN_PW).await;
    hub.stop().await;
}

#[tokio::test]
async fn cross_site_writes_with_the_cookie_are_refused() {
    let hub = hub_with_users().await;
    let admin = login(&hub, "alice", ADMIN_PW).await;
    let body = br#"{"name":"web-9"}"#;
    let post = |headers: Vec<(&'static str, String)>| {
        let hub = &hub;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            hub.request("POST", "/api/v1/hosts", &h, body).await
        }
    };
    let json = ("Content-Type", "application/json".to_string());
    let cookie = ("Cookie", admin.clone());
    // A forged form post from another site: refused before it does anything.
    let r = post(vec![
        json.clone(),
        cookie.clone(),
        ("Origin", "http://evil.example".into()),
    ])
    .await;
    assert_eq!(r.status, 403);
    let r = post(vec![
        json.clone(),
        cookie.clone(),
        ("Sec-Fetch-Site", "cross-site".into()),
    ])
    .await;
    assert_eq!(r.status, 403);
    let r = post(vec![json.clone(), cookie.clone()]).await;
    assert_eq!(r.status, 403, "no origin information at all");
    assert!(hub.hub.store.host("web-9").await.unwrap().is_none());
    // From the dashboard itself it works.
    let r = post(vec![
        json.clone(),
        cookie.clone(),
        ("Sec-Fetch-Site", "same-origin".into()),
    ])
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // A cross-site login (login CSRF) is refused too.
    let r = hub
        .request(
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", "http://evil.example"),
            ],
            &form("alice", ADMIN_PW, "/"),
        )
        .await;
    assert_eq!(r.status, 403);
    // Bearer-token clients are exempt: no browser adds that header by itself.
    let auth = format!("Bearer {}", hub.admin);
    let r = hub
        .request(
            "POST",
            "/api/v1/hosts",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            br#"{"name":"web-10"}"#,
        )
        .await;
    assert_eq!(r.status, 201);
    hub.stop().await;
}

#[tokio::test]
async fn viewers_see_no_admin_actions_and_are_refused_them() {
    let hub = hub_with_users().await;
    let viewer = login(&hub, "victor", VIEWER_PW).await;
    let admin = login(&hub, "alice", ADMIN_PW).await;
    let page = get(&hub, "/", &viewer).await.text();
    assert!(!page.contains("/admin/enrol"), "{page}");
    assert!(get(&hub, "/", &admin).await.text().contains("/admin/enrol"));

    assert_eq!(get(&hub, "/admin/enrol", &viewer).await.status, 403);
    let same = [
        ("Cookie", viewer.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let r = hub
        .request("POST", "/admin/enrol", &same, b"name=sneaky")
        .await;
    assert_eq!(r.status, 403);
    let json = [
        ("Cookie", viewer.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Type", "application/json"),
    ];
    let r = hub
        .request("POST", "/api/v1/hosts", &json, br#"{"name":"sneaky"}"#)
        .await;
    assert_eq!(r.status, 403);
    assert!(hub.hub.store.host("sneaky").await.unwrap().is_none());

    // The admin enrols from the dashboard and sees the token once.
    let same = [
        ("Cookie", admin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let r = hub
        .request("POST", "/admin/enrol", &same, b"name=db-1&tags=prod%2C+db")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("hw_"), "the token is shown");
    let host = hub.hub.store.host("db-1").await.unwrap().unwrap();
    assert_eq!(host.tags, ["db", "prod"]);
    hub.stop().await;
}

#[tokio::test]
async fn the_overview_shows_figures_sorts_filters_and_times_itself() {
    let hub = hub_with_users().await;
    let a = hub.enrol("app-1").await;
    let b = hub.enrol("busy-1").await;
    hub.enrol("quiet-1").await;
    hostwatch_hub::enrol::set_tags(&hub.hub.store, "app-1", &["prod".to_string()])
        .await
        .unwrap();
    ingest(&hub, &a, &with_cpu(report("app-1", "i", 1), 12.0)).await;
    ingest(&hub, &b, &with_cpu(report("busy-1", "i", 1), 97.0)).await;
    let cookie = login(&hub, "victor", VIEWER_PW).await;

    let r = get(&hub, "/", &cookie).await;
    assert_eq!(r.status, 200);
    assert!(r.header("server-timing").unwrap().starts_with("app;dur="));
    let page = r.text();
    let pos = |name: &str| {
        page.find(&format!("id=\"row-{name}\""))
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // Problems first: the 97 % host, then the one never heard from, then the fine one.
    assert!(
        pos("busy-1") < pos("quiet-1") && pos("quiet-1") < pos("app-1"),
        "{page}"
    );
    assert!(page.contains("class=\"num cpu crit\">97 %"), "{page}");
    assert!(page.contains(">12 %<"));
    assert!(page.contains("<span class=\"tag\">prod</span>"));

    let by_name = get(&hub, "/?sort=name&dir=asc", &cookie).await.text();
    let p = |n: &str| by_name.find(&format!("id=\"row-{n}\"")).unwrap();
    assert!(p("app-1") < p("busy-1") && p("busy-1") < p("quiet-1"));

    let tagged = get(&hub, "/?tag=prod", &cookie).await.text();
    assert!(tagged.contains("row-app-1") && !tagged.contains("row-busy-1"));
    let new = get(&hub, "/?status=new", &cookie).await.text();
    assert!(new.contains("row-quiet-1") && !new.contains("row-app-1"));
    let searched = get(&hub, "/?q=BUSY", &cookie).await.text();
    assert!(searched.contains("row-busy-1") && !searched.contains("row-app-1"));
    let none = get(&hub, "/?q=nothing-like-it", &cookie).await.text();
    assert!(none.contains("No host matches these filters."));
    // Names are escaped however they got there.
    let odd = get(&hub, "/?q=%3Cscript%3E", &cookie).await.text();
    assert!(!odd.contains("<script>"), "{odd}");
    hub.stop().await;
}

/// Reads an SSE stream until `needle` appears (or the test's timeout fires).
async fn sse_until(
    hub: &TestHub,
    cookie: &str,
    needle: &str,
    during: impl std::future::Future<Output = ()>,
) -> String {
    let mut s = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
    let head = format!(
        "GET /events/fleet HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    // Wait for the stream's greeting so the update is not sent before we listen.
    while !seen.contains("event: hello") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    during.await;
    while !seen.contains(needle) {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

#[tokio::test]
async fn the_live_feed_pushes_a_changed_row_after_a_report() {
    let hub = hub_with_users().await;
    let token = hub.enrol("live-1").await;
    let cookie = login(&hub, "victor", VIEWER_PW).await;
    let no_cookie = hub.request("GET", "/events/fleet", &[], b"").await;
    assert_eq!(no_cookie.status, 401);

    let seen = tokio::time::timeout(
        Duration::from_secs(20),
        sse_until(&hub, &cookie, "66 %", async {
            ingest(&hub, &token, &with_cpu(report("live-1", "i", 1), 66.0)).await;
        }),
    )
    .await
    .expect("a row update within the coalescing window");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    assert!(seen.contains("event: rows"), "{seen}");
    assert!(seen.contains("row-live-1"), "{seen}");
    // The sparkline now has the report's minute.
    let id = hub.hub.store.host("live-1").await.unwrap().unwrap().id;
    let r = report("live-1", "i", 1);
    assert_eq!(
        hub.hub
            .recent
            .points(id, Figure::CpuBusy, r.collected_at + 1000)
            .len(),
        1
    );
    hub.stop().await;
}

#[tokio::test]
async fn the_host_page_renders_its_tables_and_the_api_answers_its_charts() {
    let hub = hub_with_users().await;
    let token = hub.enrol("web-1").await;
    for seq in 1..=3 {
        ingest(&hub, &token, &report("web-1", "i", seq)).await;
    }
    let cookie = login(&hub, "victor", VIEWER_PW).await;
    let r = get(&hub, "/hosts/web-1", &cookie).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    for needed in [
        "id=\"filesystems\"",
        "id=\"top-cpu\"",
        "id=\"events\"",
        "data-charts=",
        "/assets/uPlot.iife.min.js",
        "host web-1 enrolled",
    ] {
        assert!(page.contains(needed), "{needed} missing from {page}");
    }
    assert!(page.contains("class=\"active\" aria-current=\"true\">1h"));
    let six = get(&hub, "/hosts/web-1?range=6h", &cookie).await.text();
    assert!(six.contains("data-range-ms=\"21600000\""));
    assert_eq!(get(&hub, "/hosts/nope", &cookie).await.status, 404);

    // What host.js asks for, with the same cookie.
    let first = report("web-1", "i", 1).collected_at;
    let path = format!(
        "/api/v1/hosts/web-1/series?name=cpu.user_pct&from={}&to={}&max_points=100",
        first - 1000,
        first + 60_000
    );
    let series = get(&hub, &path, &cookie).await;
    assert_eq!(series.status, 200, "{}", series.text());
    assert_eq!(
        series.json()["series"][0]["points"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The embedded assets, uPlot included.
    let js = hub
        .request("GET", "/assets/uPlot.iife.min.js", &[], b"")
        .await;
    assert_eq!(js.status, 200);
    assert!(js.text().contains("uPlot"));
    assert_eq!(
        hub.request("GET", "/assets/../Cargo.toml", &[], b"")
            .await
            .status,
        404
    );
    hub.stop().await;
}

#[tokio::test]
async fn no_password_session_token_or_hash_reaches_the_logs() {
    crate::logcapture::install();
    let hub = hub_with_users().await;
    let r = login_raw(&hub, "alice", ADMIN_PW, &[]).await;
    let cookie = r.header("set-cookie").unwrap().to_string();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("hw_session=")
        .to_string();
    login_raw(&hub, "alice", "a-wrong-password-xyz", &[]).await;
    login_raw(&hub, "nobody", "another-wrong-password", &[]).await;
    let (_, hash) = hub
        .hub
        .store
        .user_with_hash("alice")
        .await
        .unwrap()
        .unwrap();
    users::set_password(&hub.hub.store, "alice", Secret::new("a-new-password-123"))
        .await
        .unwrap();
    hub.stop().await;
    let logs = crate::logcapture::text();
    assert!(
        logs.contains("dashboard login"),
        "logging was captured: {logs}"
    );
    for secret in [
        ADMIN_PW,
        "a-wrong-password-xyz",
        "another-wrong-password",
        "a-new-password-123",
        token.as_str(),
        hash.as_str(),
    ] {
        assert!(!logs.contains(secret), "`{secret}` leaked into the logs");
    }
}

#[tokio::test]
async fn users_store_roles_and_sessions_end_with_the_user_or_a_new_password() {
    let hub = hub_with_users().await;
    let store = &hub.hub.store;
    let names: Vec<_> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role))
        .collect();
    assert_eq!(
        names,
        [
            ("alice".to_string(), Role::Admin),
            ("victor".to_string(), Role::Viewer)
        ]
    );
    let dup = users::add(
        store,
        "alice",
        Role::Viewer,
        Secret::new("whatever-long"),
        0,
    )
    .await;
    assert!(matches!(dup, Err(users::UserError::Store(_))), "{dup:?}");
    let bad = users::add(
        store,
        "no spaces",
        Role::Viewer,
        Secret::new("whatever-long"),
        0,
    )
    .await;
    assert!(matches!(bad, Err(users::UserError::InvalidName(_))));
    let short = users::add(store, "bob", Role::Viewer, Secret::new("short"), 0).await;
    assert!(matches!(short, Err(users::UserError::Password(_))));
    // The first-start admin exists only when no user does.
    assert!(users::first_admin(store, 0).await.unwrap().is_none());

    let session = login(&hub, "victor", VIEWER_PW).await;
    users::set_password(store, "victor", Secret::new("victor-new-password"))
        .await
        .unwrap();
    assert_eq!(
        get(&hub, "/", &session).await.status,
        303,
        "the old session ended"
    );
    assert_eq!(login_raw(&hub, "victor", VIEWER_PW, &[]).await.status, 401);
    let session = login(&hub, "victor", "victor-new-password").await;
    assert!(store.remove_user("victor").await.unwrap());
    assert!(!store.remove_user("victor").await.unwrap());
    assert_eq!(get(&hub, "/", &session).await.status, 303);
    hub.stop().await;
}

#[tokio::test]
async fn a_first_start_creates_an_admin_whose_password_logs_in() {
    let hub = TestHub::start(HubConfig::default()).await;
    let password = users::first_admin(&hub.hub.store, 0)
        .await
        .unwrap()
        .expect("no user yet: an admin is made");
    assert!(
        users::first_admin(&hub.hub.store, 0)
            .await
            .unwrap()
            .is_none()
    );
    let cookie = login(&hub, "admin", password.expose()).await;
    assert!(
        get(&hub, "/", &cookie)
            .await
            .text()
            .contains("/admin/enrol")
    );
    hub.stop().await;
}

#[tokio::test]
async fn sparklines_and_score_averages_are_refilled_from_history_when_the_hub_restarts() {
    let hub = hub_with_users().await;
    let token = hub.enrol("spark-1").await;
    let now = hostwatch_hub::hub::now_ms();
    for (i, cpu) in [10.0, 20.0, 30.0].into_iter().enumerate() {
        let mut r = with_cpu(report("spark-1", "i", i as u64 + 1), cpu);
        r.collected_at = now - (3 - i as i64) * 60_000;
        ingest(&hub, &token, &r).await;
    }
    let dir = hub.stop().await;
    let hub = TestHub::start_in(HubConfig::default(), dir).await;
    let id = hub.hub.store.host("spark-1").await.unwrap().unwrap().id;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let values = loop {
        let points = hub.hub.recent.points(id, Figure::CpuBusy, now);
        if points.len() == 3 || std::time::Instant::now() > deadline {
            break points.iter().map(|p| p.1).collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(values, [10.0, 20.0, 30.0]);
    // The health score's hourly CPU average reads the same refilled minutes.
    assert_eq!(hub.hub.recent.mean(id, Figure::CpuBusy, now), Some(20.0));
    hub.stop().await;
}

#[tokio::test]
async fn pages_are_gzipped_for_browsers_that_accept_it() {
    let hub = hub_with_users().await;
    hub.enrol("zip-1").await;
    let cookie = login(&hub, "victor", VIEWER_PW).await;
    let r = hub
        .request(
            "GET",
            "/",
            &[("Cookie", &cookie), ("Accept-Encoding", "gzip")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut html)
        .unwrap();
    assert!(html.contains("id=\"row-zip-1\""), "{html}");
    hub.stop().await;
}
