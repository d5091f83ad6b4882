//! The Athena client against moto's Athena API: results paged and stripped of the header row
//! with NULLs kept, the QUEUED → RUNNING → SUCCEEDED flow, an unknown workgroup's error, and a
//! query that does not finish in time being stopped (CANCELLED).
//!
//! moto never executes SQL: results are canned through its `/moto-api` (what rows Athena would
//! return), and state transitions are set through its state manager. Both are global to the
//! server, so the flows run in one test, one after another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use aws_sdk_athena::config::{BehaviorVersion, Credentials, Region};
use stockfeed_catalog::athena::{AthenaClient, AthenaError, AthenaQuery};

fn sdk_client(endpoint: &str) -> aws_sdk_athena::Client {
    let config = aws_sdk_athena::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "moto-test",
        ))
        .build();
    aws_sdk_athena::Client::from_conf(config)
}

fn client(endpoint: &str) -> AthenaClient {
    AthenaClient::new(sdk_client(endpoint))
}

async fn moto_api(endpoint: &str, path: &str, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

fn query(sql: &str) -> AthenaQuery {
    AthenaQuery {
        database: Some("markets".into()),
        output_location: Some("s3://athena-results/stockfeed/".into()),
        poll_interval: Duration::from_millis(50),
        ..AthenaQuery::new(sql)
    }
}

#[tokio::test]
async fn athena_flows_against_moto() {
    let endpoint = support::require_moto();
    let athena = client(&endpoint);

    // 1. Results: the header row is dropped, a NULL stays None, columns come from metadata.
    let cell = |v: &str| serde_json::json!({"VarCharValue": v});
    moto_api(
        &endpoint,
        "static/athena/query-results",
        serde_json::json!({"results": [{
            "rows": [
                {"Data": [cell("symbol"), cell("vwap")]},
                {"Data": [cell("AAPL"), cell("189.54285714")]},
                {"Data": [cell("MSFT"), {}]}
            ],
            "column_info": [
                {"Name": "symbol", "Type": "varchar", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "symbol", "Nullable": "UNKNOWN", "CaseSensitive": true},
                {"Name": "vwap", "Type": "decimal", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "vwap", "Nullable": "UNKNOWN", "CaseSensitive": false}
            ]
        }]}),
    )
    .await;
    let result = athena
        .run(&query(
            "SELECT symbol, vwap FROM trades WHERE dt = '2026-11-26'",
        ))
        .await
        .unwrap();
    assert_eq!(result.columns, ["symbol", "vwap"]);
    assert_eq!(
        result.rows,
        vec![
            vec![Some("AAPL".to_owned()), Some("189.54285714".to_owned())],
            vec![Some("MSFT".to_owned()), None],
        ]
    );
    assert!(!result.query_execution_id.is_empty());

    // 1b. The same through the CLI (`stockfeed query --athena`), endpoint and keys from the
    // standard AWS environment variables of the child process.
    moto_api(
        &endpoint,
        "static/athena/query-results",
        serde_json::json!({"results": [{
            "rows": [
                {"Data": [cell("symbol"), cell("trades")]},
                {"Data": [cell("IBM"), cell("42")]}
            ],
            "column_info": [
                {"Name": "symbol", "Type": "varchar", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "symbol", "Nullable": "UNKNOWN", "CaseSensitive": true},
                {"Name": "trades", "Type": "bigint", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "trades", "Nullable": "UNKNOWN", "CaseSensitive": false}
            ]
        }]}),
    )
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args([
            "query",
            "--athena",
            "--lake",
            "s3://lake/raw/",
            "--database",
            "markets",
            "--athena-output",
            "s3://athena-results/cli/",
            "--format",
            "csv",
            "SELECT symbol, count(*) AS trades FROM trades GROUP BY 1",
        ])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "symbol,trades\nIBM,42\n"
    );

    // 2. An unknown workgroup is the API's error, named.
    let err = athena
        .run(&AthenaQuery {
            workgroup: "no-such-workgroup".into(),
            ..query("SELECT 1")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AthenaError::Api { operation: "StartQueryExecution", code, .. } if code == "InvalidRequestException"),
        "{err}"
    );
    assert!(err.to_string().contains("WorkGroup"), "{err}");

    // 3. QUEUED → RUNNING → SUCCEEDED across polls.
    moto_api(
        &endpoint,
        "state-manager/set-transition",
        serde_json::json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}}),
    )
    .await;
    let slow = athena.run(&query("SELECT count(*) FROM trades")).await;
    assert!(slow.is_ok(), "{slow:?}");

    // 4. Never finishing: stopped after the timeout, and Athena reports it cancelled.
    moto_api(
        &endpoint,
        "state-manager/set-transition",
        serde_json::json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}}),
    )
    .await;
    let err = athena
        .run(&AthenaQuery {
            timeout: Duration::from_millis(600),
            ..query("SELECT * FROM trades")
        })
        .await
        .unwrap_err();
    moto_api(
        &endpoint,
        "state-manager/unset-transition",
        serde_json::json!({"model_name": "athena::execution"}),
    )
    .await;
    let AthenaError::Timeout { id, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    let state = sdk_client(&endpoint)
        .get_query_execution()
        .query_execution_id(id)
        .send()
        .await
        .unwrap()
        .query_execution
        .unwrap()
        .status
        .unwrap()
        .state
        .unwrap();
    assert_eq!(state.as_str(), "CANCELLED");
}
