//! The fuzz target's property on stable, so CI checks it on every run: `Report::from_json`
//! returns a report or an error for any bytes — random ones, and golden documents broken at the
//! byte level and at the JSON level — and never panics. A document that decodes re-encodes and
//! decodes again to the same report (floats within a few ULPs, see [`same`]).
//! (`crates/proto/fuzz` runs the same with libFuzzer.)

use hostwatch_proto::{DecodeError, Report};
use proptest::prelude::*;
use serde_json::Value;

const GOLDEN: [&str; 4] = [
    include_str!("fixtures/report-v1-full.json"),
    include_str!("fixtures/report-v1-errors.json"),
    include_str!("fixtures/report-v1-newer-minor.json"),
    include_str!("fixtures/report-v2.json"),
];

/// Whether two documents are the same, floats within a few units in the last place: serde_json
/// (without its `float_roundtrip` feature, which the workspace does not enable) parses floats
/// best-effort, so a large or many-digit float can come back an ULP or two off after a
/// decode → encode → decode trip. Everything else must be exactly equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Decodes, and checks what must hold either way.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Report::from_json(bytes) {
        Ok(report) => {
            prop_assert!(report.schema_version <= hostwatch_proto::SCHEMA_VERSION);
            let json = report.to_json();
            let again = Report::from_json(&json)
                .map_err(|e| TestCaseError::fail(format!("a re-encoded report fails: {e}")))?;
            let (a, b) = (
                serde_json::to_value(&again).unwrap(),
                serde_json::to_value(&report).unwrap(),
            );
            prop_assert!(same(&a, &b), "the round trip changed the report:\n{a}\n{b}");
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            if let DecodeError::NewerSchema { found, supported } = e {
                prop_assert!(found > supported);
            }
        }
    }
    Ok(())
}

/// Values that break a field's type or range in interesting ways.
fn nasty_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        Just(serde_json::json!(-0.0)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(4_294_967_296u64)),
        ".{0,12}".prop_map(Value::from),
        Just(serde_json::json!("fast")),
        Just(serde_json::json!({"error": {"kind": "io", "message": "x"}})),
        Just(serde_json::json!({"error": {"kind": "unheard-of", "message": "x"}})),
        Just(serde_json::json!({"error": 1})),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([{}, null, 1])),
    ]
}

/// Every path to a value in `v` (object keys and array indices).
fn paths(v: &Value, here: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(here.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(PathStep::Key(k.clone()));
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(PathStep::Index(i));
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// A JSON-level edit of a golden document.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value at the `n`th path (modulo the count) with another.
    Replace(usize, Value),
    /// Remove the key at the `n`th path, when it is an object member.
    Remove(usize),
    /// Add an unknown member to the object at the `n`th path.
    AddUnknown(usize, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), nasty_value()).prop_map(|(n, v)| Edit::Replace(n, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), nasty_value()).prop_map(|(n, v)| Edit::AddUnknown(n, v)),
    ]
}

fn apply(doc: &mut Value, edit: &Edit) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let pick = |n: usize| all[n % all.len()].clone();
    match edit {
        Edit::Replace(n, value) => *at(doc, &pick(*n)) = value.clone(),
        Edit::Remove(n) => {
            let path = pick(*n);
            if let Some((PathStep::Key(k), parent)) = path.split_last()
                && let Value::Object(map) = at(doc, parent)
            {
                map.remove(k);
            }
        }
        Edit::AddUnknown(n, value) => {
            if let Value::Object(map) = at(doc, &pick(*n)) {
                map.insert("added_by_a_newer_agent".into(), value.clone());
            }
        }
    }
}

/// A byte-level edit: what a truncated upload or a bit flip does.
#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",:0123456789.eE+-ntfu\\ ".to_vec())
        )
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| ByteEdit::Delete(i, n)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), 1..256usize).prop_map(|(i, n)| ByteEdit::Duplicate(i, n)),
    ]
}

fn apply_bytes(doc: &mut Vec<u8>, edit: &ByteEdit) {
    if doc.is_empty() {
        return;
    }
    let len = doc.len();
    match *edit {
        ByteEdit::Flip(i, b) => doc[i % len] ^= b,
        ByteEdit::Insert(i, b) => doc.insert(i % (len + 1), b),
        ByteEdit::Delete(i, n) => {
            let from = i % len;
            doc.drain(from..(from + n).min(len));
        }
        ByteEdit::Truncate(i) => doc.truncate(i % len),
        ByteEdit::Duplicate(i, n) => {
            let from = i % len;
            let piece = doc[from..(from + n).min(len)].to_vec();
            doc.splice(from..from, piece);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes)?;
    }

    #[test]
    fn json_shaped_noise_never_panics(
        text in r#"[{}\[\]":,0-9a-z_.eE+\- ]{0,400}"#,
    ) {
        check(text.as_bytes())?;
        // The same noise inside a plausible report header reaches the section decoders.
        let wrapped = format!(
            r#"{{"schema_version":1,"host_id":"h","agent":{{"version":"0","instance_id":"i"}},"seq":1,"collected_at":0,"tiers":[],"sections":{text}}}"#
        );
        check(wrapped.as_bytes())?;
    }

    #[test]
    fn golden_documents_broken_byte_by_byte_never_panic(
        which in 0..GOLDEN.len(),
        edits in prop::collection::vec(byte_edit(), 1..6),
    ) {
        let mut doc = GOLDEN[which].as_bytes().to_vec();
        for e in &edits {
            apply_bytes(&mut doc, e);
        }
        check(&doc)?;
    }

    #[test]
    fn golden_documents_with_wrong_types_and_missing_fields_never_panic(
        which in 0..GOLDEN.len(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let mut doc: Value = serde_json::from_str(GOLDEN[which]).unwrap();
        for e in &edits {
            apply(&mut doc, e);
        }
        check(&serde_json::to_vec(&doc).unwrap())?;
    }
}

#[test]
fn floats_compare_within_a_few_ulps_and_nothing_else_does() {
    let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert!(same(
        &v("[-9.538364294738173e16]"),
        &v("[-9.538364294738171e16]")
    ));
    assert!(!same(&v("[1.0]"), &v("[1.001]")));
    assert!(!same(&v("[1]"), &v("[2]")));
    assert!(!same(&v(r#"{"a":1}"#), &v(r#"{"a":1,"b":2}"#)));
    assert!(!same(&v(r#"{"a":"x"}"#), &v(r#"{"a":"y"}"#)));
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for depth in [200, 100_000] {
        let doc = format!(
            r#"{{"schema_version":1,"sections":{{"cpu":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(Report::from_json(doc.as_bytes()).is_err(), "depth {depth}");
    }
}

#[test]
fn the_mutators_do_reach_the_decoder_s_error_paths() {
    // A wrong type deep inside a section is reported with its path, not a panic.
    let mut doc: Value = serde_json::from_str(GOLDEN[0]).unwrap();
    doc["sections"]["disks"]["devices"][0]["rates"]["util_pct"] = serde_json::json!("high");
    let e = Report::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert!(e.to_string().contains("sections.disks"), "{e}");
    // An unknown member added by a newer agent is ignored.
    let mut doc: Value = serde_json::from_str(GOLDEN[0]).unwrap();
    apply(&mut doc, &Edit::AddUnknown(0, serde_json::json!(1)));
    assert!(doc.get("added_by_a_newer_agent").is_some());
    assert!(Report::from_json(&serde_json::to_vec(&doc).unwrap()).is_ok());
}
