//! Property tests of everything that parses input from outside the relay: the binary frame
//! header, agent messages, SDP offers, JSON request bodies and PNG images. Each property holds
//! for every generated input: no panic, only the documented errors, sizes checked before
//! anything is allocated, and a round trip where there is an encoder.
//!
//! Case counts are fixed so the suite's run time is predictable; `PROPTEST_CASES` raises them
//! for a longer local run.

mod agent_messages;
mod frame_header;
mod json_bodies;
mod png_input;
mod sdp;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Checks `property` on `cases` generated values (or `PROPTEST_CASES`, when set); a failure
/// panics with the smallest failing value proptest could shrink it to.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, property) {
        panic!("{failure}");
    }
}

/// A runtime for properties that talk to a relay: it keeps serving between cases.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Any JSON value, nested up to three levels.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with some of `keys` (each holding `proper` values or anything) and maybe a
/// stray key: close enough to a real message or body to get past the first checks.
fn json_object_with(
    keys: &'static [&'static str],
    proper: impl Fn(&'static str) -> proptest::strategy::BoxedStrategy<serde_json::Value>,
) -> impl Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let fields: Vec<_> = keys
        .iter()
        .map(|&key| {
            let value = prop_oneof![3 => proper(key), 1 => json_value()];
            proptest::option::weighted(0.7, value).prop_map(move |v| (key, v))
        })
        .collect();
    let stray = proptest::option::weighted(0.1, (".{1,12}", json_value()));
    (fields, stray).prop_map(|(fields, stray)| {
        let mut object = serde_json::Map::new();
        for (key, value) in fields {
            if let Some(value) = value {
                object.insert(key.to_owned(), value);
            }
        }
        if let Some((key, value)) = stray {
            object.insert(key, value);
        }
        serde_json::Value::Object(object)
    })
}
