//! `hostwatch users …` on a hub's data directory, as an operator runs it.

use crate::common::hostwatch_on;
use std::io::Write;
use std::process::{Output, Stdio};

fn run(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = hostwatch_on(data)
        .arg("users")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn users_are_added_listed_changed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let added = run(
        data,
        &["add", "alice", "--role", "admin", "--password-stdin"],
        Some("alice-password-1\n"),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("user alice added (admin)"));
    assert!(!text(&added).contains("alice-password-1"), "never echoed");

    let generated = run(data, &["add", "victor", "--generate"], None);
    assert!(generated.status.success(), "{}", text(&generated));
    let out = String::from_utf8_lossy(&generated.stdout);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown only now): "))
        .expect("the generated password is printed once");
    assert_eq!(password.len(), 22, "{out}");
    assert!(out.contains("user victor added (viewer)"));

    let list = run(data, &["list"], None);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("alice") && listed.contains("admin"),
        "{listed}"
    );
    assert!(
        listed.contains("victor") && listed.contains("viewer"),
        "{listed}"
    );
    assert!(
        !listed.contains("argon2"),
        "no hashes in the list: {listed}"
    );

    // Errors name what was wrong, and change nothing.
    let dup = run(data, &["add", "alice", "--generate"], None);
    assert!(!dup.status.success());
    assert!(
        text(&dup).contains("user `alice` already exists"),
        "{}",
        text(&dup)
    );
    let short = run(data, &["add", "bob", "--password-stdin"], Some("short\n"));
    assert!(text(&short).contains("too short"), "{}", text(&short));
    let no_tty = run(data, &["add", "bob"], None);
    assert!(!no_tty.status.success());
    assert!(
        text(&no_tty).contains("--password-stdin"),
        "{}",
        text(&no_tty)
    );
    let empty = run(data, &["passwd", "alice", "--password-stdin"], Some(""));
    assert!(
        text(&empty).contains("no password on stdin"),
        "{}",
        text(&empty)
    );

    let passwd = run(
        data,
        &["passwd", "alice", "--password-stdin"],
        Some("alice-password-2\n"),
    );
    assert!(passwd.status.success(), "{}", text(&passwd));
    let missing = run(data, &["passwd", "nobody", "--generate"], None);
    assert!(
        text(&missing).contains("no user `nobody`"),
        "{}",
        text(&missing)
    );

    let removed = run(data, &["remove", "victor"], None);
    assert!(removed.status.success(), "{}", text(&removed));
    let again = run(data, &["remove", "victor"], None);
    assert!(text(&again).contains("no user `victor`"));
    let list = run(data, &["list"], None);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("victor"));
}
