//! Reports arrive from the network, so the hub decodes bytes anyone with a host token can
//! send: `Report::from_json` must return a report or an error for any input, never panic.
//! Whatever does decode must survive the hub's next steps too: re-encoding, and decoding the
//! re-encoded form to the same report (what the store writes is read back later) — floats
//! within a few ULPs, as serde_json parses them best-effort (no `float_roundtrip` feature).
#![no_main]

use hostwatch_proto::Report;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Equal, floats within a few units in the last place. The same rule as
/// `crates/proto/tests/decode_fuzz.rs`.
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

fuzz_target!(|data: &[u8]| {
    let report = match Report::from_json(data) {
        Ok(report) => report,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(report.schema_version <= hostwatch_proto::SCHEMA_VERSION);
    let again = Report::from_json(&report.to_json()).expect("a re-encoded report decodes");
    let (a, b) = (
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&report).unwrap(),
    );
    assert!(same(&a, &b), "the round trip changed the report:\n{a}\n{b}");
});
