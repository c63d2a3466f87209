//! `hostwatch digest --preview` through the real binary, on a data directory with a host's
//! recent reports and an alert.

use crate::common::hostwatch_on as hostwatch;
use hostwatch_hub::enrol;
use hostwatch_hub::store::{IncomingReport, SqliteStore, Store};
use hostwatch_proto::{Report, Section};
use std::path::Path;

fn fill(data: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(data).unwrap();
        let host = enrol::add_host(&store, "db-1", &[], "http://127.0.0.1", 0)
            .await
            .unwrap()
            .host;
        let now = hostwatch_hub::hub::now_ms();
        let golden = Report::from_json(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../proto/tests/fixtures/report-v1-full.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let reports = (0..6)
            .map(|i| {
                let mut r = golden.clone();
                r.host_id = "db-1".into();
                r.seq = i + 1;
                r.collected_at = now - 3_600_000 + i as i64 * 60_000;
                if let Some(Section::Ok(c)) = &mut r.sections.cpu {
                    c.usage.as_mut().unwrap().steal_pct = if i % 2 == 0 { 12.0 } else { 13.0 };
                }
                if let Some(Section::Ok(f)) = &mut r.sections.filesystems {
                    f.mounts[0].mount = "/data<&>".into();
                }
                let body = zstd::bulk::compress(&r.to_json(), 3).unwrap();
                IncomingReport { report: r, body }
            })
            .collect();
        store
            .ingest_reports(host.id, reports, now, 10)
            .await
            .unwrap();
        store
            .record_event(Some(host.id), now - 60_000, "alert_firing", "steal".into())
            .await
            .unwrap();
    });
}

#[test]
fn the_preview_prints_this_weeks_digest_as_text_or_html() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let preview = |extra: &[&str]| {
        let out = hostwatch(dir.path())
            .env("HOSTWATCH_DIGEST_TIME_ZONE", "Europe/Berlin")
            .args(["digest", "--preview"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = preview(&[]);
    assert!(
        text.starts_with("hostwatch weekly digest — week ending "),
        "{text}"
    );
    assert!(text.contains("(Europe/Berlin)\n"), "{text}");
    assert!(text.contains("\ndb-1 — score "), "{text}");
    assert!(text.contains("  CPU steal: 12.5 % avg\n"), "{text}");
    assert!(text.contains("  Alerts fired: 1\n"), "{text}");
    assert!(text.contains("/data<&> 63.2 %"), "{text}");
    // An unhealthy container outranks steal: it is an outage, steal is a slowdown.
    assert!(
        text.contains("  1. db-1: restart 1 unhealthy container (api)\n"),
        "{text}"
    );
    assert!(text.contains("  2. db-1: CPU steal 12.5 % avg"), "{text}");

    let html = preview(&["--html"]);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("/data&lt;&amp;&gt; 63.2 %"), "{html}");
    assert!(!html.contains("<&>"), "{html}");

    // Without --preview it says how the digest is sent; a bad schedule names its key.
    let out = hostwatch(dir.path()).arg("digest").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hostwatch digest --preview"));
    let out = hostwatch(dir.path())
        .env("HOSTWATCH_DIGEST_WEEKDAY", "someday")
        .args(["digest", "--preview"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key `digest.weekday`"), "{err}");
}
