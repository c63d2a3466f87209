//! Remote commands through the hub: queued by an admin, signed, sent once on the host's next
//! envelope, the result posted back by the host and stored once.

use crate::harness::{TestHub, report};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hostwatch_hub::config::HubConfig;
use hostwatch_hub::store::{EventQuery, NewCommand, Store};
use hostwatch_proto::{Envelope, Secret, SignedCommand};

const SEED: [u8; 32] = [42; 32];

fn config_with_key() -> HubConfig {
    let mut c = HubConfig::default();
    c.commands.signing_key = Some(Secret::new(STANDARD.encode(SEED)));
    c
}

async fn send_report(hub: &TestHub, token: &str, host: &str, seq: u64) -> Envelope {
    let r = hub
        .post_json("/api/v1/reports", token, &report(host, "i1", seq).to_json())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn verifies(host: &str, c: &SignedCommand) -> bool {
    let public = ed25519_dalek::SigningKey::from_bytes(&SEED).verifying_key();
    let message = hostwatch_proto::command::signed_message(
        host,
        &c.request_id,
        c.expires_at,
        &c.command,
        &c.params,
    );
    let sig: [u8; 64] = STANDARD.decode(&c.signature).unwrap().try_into().unwrap();
    public
        .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

#[tokio::test]
async fn without_a_signing_key_queueing_is_a_conflict_that_says_how_to_fix_it() {
    let hub = TestHub::start(HubConfig::default()).await;
    hub.enrol("web1").await;
    let r = hub
        .post_json(
            "/api/v1/hosts/web1/commands",
            &hub.admin,
            br#"{"command":"restart","params":["nginx"]}"#,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let message = r.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("[commands] signing_key"), "{message}");
    assert!(message.contains("hostwatch keys generate"), "{message}");
    hub.stop().await;
}

#[tokio::test]
async fn a_queued_command_rides_once_on_the_next_envelope_and_its_result_is_stored_once() {
    let hub = TestHub::start(config_with_key()).await;
    let token = hub.enrol("web1").await;
    let other = hub.enrol("web2").await;
    // Before anything is queued, envelopes carry no commands (and no `commands` key).
    let raw = hub
        .post_json(
            "/api/v1/reports",
            &token,
            &report("web1", "i1", 1).to_json(),
        )
        .await;
    assert!(!raw.text().contains("commands"), "{}", raw.text());

    let body = br#"{"command":"restart","params":["nginx"]}"#;
    let viewer = hub
        .post_json("/api/v1/hosts/web1/commands", &hub.viewer, body)
        .await;
    assert_eq!(viewer.status, 403);
    let host_token = hub
        .post_json("/api/v1/hosts/web1/commands", &token, body)
        .await;
    assert_eq!(host_token.status, 401, "a host token is no admin token");
    let bad = hub
        .post_json(
            "/api/v1/hosts/web1/commands",
            &hub.admin,
            br#"{"command":"restart","params":[1]}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("params"), "{}", bad.text());
    let missing = hub
        .post_json("/api/v1/hosts/nope/commands", &hub.admin, body)
        .await;
    assert_eq!(missing.status, 404);

    let queued = hub
        .post_json("/api/v1/hosts/web1/commands", &hub.admin, body)
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let queued = queued.json();
    assert_eq!(queued["state"], "queued");
    let id = queued["request_id"].as_str().unwrap().to_string();
    let expires = queued["expires_at"].as_i64().unwrap();
    let requested = queued["requested_at"].as_i64().unwrap();
    assert_eq!(expires - requested, 600_000, "default expiry is 10 minutes");

    // The other host's report does not carry it.
    assert!(
        send_report(&hub, &other, "web2", 1)
            .await
            .commands
            .is_empty()
    );
    let envelope = send_report(&hub, &token, "web1", 2).await;
    assert_eq!(envelope.commands.len(), 1);
    let sent = &envelope.commands[0];
    assert_eq!(
        (sent.request_id.as_str(), sent.command.as_str()),
        (id.as_str(), "restart")
    );
    assert_eq!(sent.params, vec!["nginx".to_string()]);
    assert!(verifies("web1", sent), "signed for web1 with the hub's key");
    assert!(!verifies("web2", sent), "the signature binds the host");
    // Sent once.
    assert!(
        send_report(&hub, &token, "web1", 3)
            .await
            .commands
            .is_empty()
    );

    let list = hub.get("/api/v1/hosts/web1/commands", &hub.admin).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()[0]["state"], "sent");
    assert_eq!(
        hub.get("/api/v1/hosts/web1/commands", &hub.viewer)
            .await
            .status,
        403
    );

    let result = serde_json::json!({
        "request_id": id, "command": "restart", "ok": true, "exit_code": 0,
        "output": "restarted\n", "stderr": "", "truncated": false, "duration_ms": 12
    })
    .to_string();
    let stolen = hub
        .post_json("/api/v1/command-results", &other, result.as_bytes())
        .await;
    assert_eq!(stolen.status, 403, "{}", stolen.text());
    let unknown = hub
        .post_json(
            "/api/v1/command-results",
            &token,
            br#"{"request_id":"hub-nope","command":"x","ok":true}"#,
        )
        .await;
    assert_eq!(unknown.status, 404);
    let no_token = hub
        .post_json("/api/v1/command-results", "hw_bad", result.as_bytes())
        .await;
    assert_eq!(no_token.status, 401);
    let first = hub
        .post_json("/api/v1/command-results", &token, result.as_bytes())
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["stored"], true);
    let forged = serde_json::json!({
        "request_id": id, "command": "restart", "ok": false, "exit_code": 1, "output": "forged"
    })
    .to_string();
    let again = hub
        .post_json("/api/v1/command-results", &token, forged.as_bytes())
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["stored"], false, "stored exactly once");

    let list = hub
        .get("/api/v1/hosts/web1/commands", &hub.admin)
        .await
        .json();
    let row = &list[0];
    assert_eq!(row["state"], "done");
    assert_eq!(row["result"]["exit_code"], 0);
    assert_eq!(row["result"]["output"], "restarted\n");
    assert_eq!(row["result"]["duration_ms"], 12);
    assert!(row["requested_by"].as_str().unwrap().starts_with("admin-"));
    assert_eq!(row["params"], serde_json::json!(["nginx"]));

    let h = hub.hub.store.host("web1").await.unwrap().unwrap();
    let events = hub
        .hub
        .store
        .events(EventQuery {
            host: Some(h.id),
            since: None,
            until: None,
            limit: 50,
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"command_requested"), "{kinds:?}");
    let finished = events
        .iter()
        .find(|e| e.kind == "command_finished")
        .expect("a command_finished event");
    assert!(
        finished.message.contains("restart") && finished.message.contains("exit 0"),
        "{}",
        finished.message
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_command_not_sent_before_its_expiry_expires_and_is_never_sent() {
    let hub = TestHub::start(config_with_key()).await;
    let token = hub.enrol("web1").await;
    let h = hub.hub.store.host("web1").await.unwrap().unwrap();
    hub.hub
        .store
        .queue_command(NewCommand {
            host: h.id,
            requested_by: "alice".into(),
            requested_at: 1_000,
            signed: SignedCommand {
                request_id: "hub-old".into(),
                command: "restart".into(),
                params: vec![],
                expires_at: 2_000,
                signature: "c2ln".into(),
            },
        })
        .await
        .unwrap();
    hub.hub.pending_commands.add(h.id);
    let list = hub
        .get("/api/v1/hosts/web1/commands", &hub.admin)
        .await
        .json();
    assert_eq!(list[0]["state"], "expired");
    assert!(
        send_report(&hub, &token, "web1", 1)
            .await
            .commands
            .is_empty()
    );
    hub.stop().await;
}

#[tokio::test]
async fn commands_queued_before_a_restart_are_sent_after_it() {
    let hub = TestHub::start(config_with_key()).await;
    let token = hub.enrol("web1").await;
    let r = hub
        .post_json(
            "/api/v1/hosts/web1/commands",
            &hub.admin,
            br#"{"command":"uptime"}"#,
        )
        .await;
    assert_eq!(r.status, 202);
    let dir = hub.stop().await;
    let hub = TestHub::start_in(config_with_key(), dir).await;
    let envelope = send_report(&hub, &token, "web1", 1).await;
    assert_eq!(envelope.commands.len(), 1);
    assert_eq!(envelope.commands[0].command, "uptime");
    hub.stop().await;
}

mod dashboard {
    use super::*;
    use crate::harness::Response;
    use hostwatch_hub::store::Role;
    use hostwatch_hub::web::users;

    async fn login(hub: &TestHub, user: &str, password: &str) -> String {
        let body = format!("username={user}&password={password}&next=%2F");
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
        let set = r.header("set-cookie").expect("a session cookie");
        set.split(';').next().unwrap().to_string()
    }

    async fn post_form(hub: &TestHub, cookie: &str, body: &str, site: &str) -> Response {
        hub.request(
            "POST",
            "/hosts/web1/commands",
            &[
                ("Cookie", cookie),
                ("Sec-Fetch-Site", site),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .await
    }

    async fn hub_with_users(config: HubConfig) -> TestHub {
        let hub = TestHub::start(config).await;
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
        hub
    }

    #[tokio::test]
    async fn admins_trigger_an_advertised_command_from_the_host_page_viewers_cannot() {
        let hub = hub_with_users(config_with_key()).await;
        let token = hub.enrol("web1").await;
        // The agent advertises its whitelist in the system section.
        let mut r = report("web1", "i1", 1);
        if let Some(hostwatch_proto::Section::Ok(system)) = &mut r.sections.system {
            system.commands = serde_json::from_value(serde_json::json!([
                {"name": "restart", "description": "Restart a web service",
                 "params": [{"choices": ["nginx", "php-fpm"]}]},
                {"name": "uptime"}
            ]))
            .unwrap();
        } else {
            panic!("the fixture has a system section");
        }
        let resp = hub.post_json("/api/v1/reports", &token, &r.to_json()).await;
        assert_eq!(resp.status, 200);

        let admin = login(&hub, "alice", "alice-password-1").await;
        let viewer = login(&hub, "victor", "victor-password-1").await;
        let host_page = hub
            .request("GET", "/hosts/web1", &[("Cookie", &admin)], b"")
            .await
            .text();
        assert!(
            host_page.contains("/hosts/web1/commands"),
            "admins get the link"
        );
        let viewer_page = hub
            .request("GET", "/hosts/web1", &[("Cookie", &viewer)], b"")
            .await
            .text();
        assert!(
            !viewer_page.contains("/hosts/web1/commands"),
            "viewers do not"
        );

        let page = hub
            .request("GET", "/hosts/web1/commands", &[("Cookie", &admin)], b"")
            .await;
        assert_eq!(page.status, 200);
        let html = page.text();
        assert!(html.contains("id=\"command-form-restart\""), "{html}");
        assert!(html.contains("<option>php-fpm</option>"), "{html}");
        assert!(html.contains("Restart a web service"));
        assert!(html.contains("id=\"command-form-uptime\""));
        assert!(html.contains("id=\"no-requests\""));

        // Viewers: refused the page and the post, server-side.
        let r = hub
            .request("GET", "/hosts/web1/commands", &[("Cookie", &viewer)], b"")
            .await;
        assert_eq!(r.status, 403);
        let r = post_form(&hub, &viewer, "command=restart&param=nginx", "same-origin").await;
        assert_eq!(r.status, 403);
        // A cross-site post with the admin's cookie is refused by the CSRF guard.
        let r = post_form(&hub, &admin, "command=restart&param=nginx", "cross-site").await;
        assert_eq!(r.status, 403);
        let h = hub.hub.store.host("web1").await.unwrap().unwrap();
        assert!(
            hub.hub
                .store
                .commands(h.id, 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing was queued"
        );

        let r = post_form(&hub, &admin, "command=restart&param=php-fpm", "same-origin").await;
        assert_eq!(r.status, 303, "{}", r.text());
        let location = r.header("location").unwrap().to_string();
        assert!(
            location.starts_with("/hosts/web1/commands?queued=hub-"),
            "{location}"
        );
        let queued = hub.hub.store.commands(h.id, 0, 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].requested_by, "alice");
        assert_eq!(queued[0].params, ["php-fpm"]);

        // The host gets it; its result shows on the page.
        let envelope = send_report(&hub, &token, "web1", 2).await;
        assert_eq!(envelope.commands[0].command, "restart");
        let result = serde_json::json!({
            "request_id": queued[0].request_id, "command": "restart", "ok": false,
            "exit_code": 3, "error": "exited with status 3", "output": "<script>boom</script>",
            "duration_ms": 1500
        });
        let posted = hub
            .post_json(
                "/api/v1/command-results",
                &token,
                result.to_string().as_bytes(),
            )
            .await;
        assert_eq!(posted.status, 200);
        let html = hub
            .request("GET", &location, &[("Cookie", &admin)], b"")
            .await
            .text();
        assert!(html.contains("id=\"command-queued\""), "{html}");
        assert!(
            html.contains("exit 3") && html.contains("exited with status 3"),
            "{html}"
        );
        assert!(html.contains("restart php-fpm"), "{html}");
        assert!(!html.contains("<script>boom"), "output is escaped");
        hub.stop().await;
    }

    #[tokio::test]
    async fn without_a_key_or_a_catalogue_the_page_says_so_and_offers_a_free_form() {
        let hub = hub_with_users(HubConfig::default()).await;
        hub.enrol("web1").await;
        let admin = login(&hub, "alice", "alice-password-1").await;
        let html = hub
            .request("GET", "/hosts/web1/commands", &[("Cookie", &admin)], b"")
            .await
            .text();
        assert!(html.contains("id=\"no-signing-key\""), "{html}");
        assert!(html.contains("id=\"command-free-form\""), "{html}");
        let r = post_form(
            &hub,
            &admin,
            "command=uptime&params_text=a%0D%0Ab",
            "same-origin",
        )
        .await;
        assert_eq!(r.status, 409);
        assert!(r.text().contains("signing_key"), "{}", r.text());
        let missing = hub
            .request("GET", "/hosts/nope/commands", &[("Cookie", &admin)], b"")
            .await;
        assert_eq!(missing.status, 404);
        hub.stop().await;
    }
}
