//! The committed JSON Schema must be exactly what the types generate.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

use stockfeed_record::schema;

#[test]
fn committed_schema_matches_the_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(schema::committed_path());
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = schema::render();
    assert!(
        committed == fresh,
        "{} is stale or missing: regenerate it with `make schema` and commit it",
        path.display(),
    );
}

#[test]
fn schema_states_kinds_and_version_as_constants() {
    let schema: serde_json::Value = serde_json::from_str(&schema::render()).unwrap();
    let text = schema.to_string();
    for kind in [
        "\"const\":\"trade\"",
        "\"const\":\"quote\"",
        "\"const\":\"bar\"",
        "\"const\":1",
    ] {
        assert!(text.contains(kind), "schema lacks {kind}");
    }
    assert_eq!(schema["anyOf"].as_array().map(Vec::len), Some(3));
    assert_eq!(schema["$defs"]["Trade"]["additionalProperties"], false);
}
