//! The JSON Schema of the wire format, generated from the types.
//!
//! The committed copy in `worker/schema/` is what other teams read; `stockfeed schema` prints a
//! fresh one and a test fails when the two differ, so the file can never drift from the code.

use super::{Record, SCHEMA_VERSION};

/// Path of the committed schema, relative to the worker crate.
pub fn committed_path() -> String {
    format!("schema/record.v{SCHEMA_VERSION}.schema.json")
}

/// The schema as pretty JSON with a trailing newline, exactly as committed.
pub fn render() -> String {
    let mut schema = schemars::schema_for!(Record);
    schema.insert(
        "$id".to_owned(),
        format!("https://stockfeed.dev/schema/record.v{SCHEMA_VERSION}.schema.json").into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
