//! The CRD against a real API server: good manifests are stored, bad ones are refused by the
//! API server itself (schema patterns, ranges, enums, list rules and CEL), with the message a
//! user sees from `kubectl apply`. The same manifests go through the worker library's
//! validation, so `stockfeed run` refuses what the API server refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use stockfeed_spec::FeedManifest;
use support::*;

const VALID: &str = r#"
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {name: NAME}
spec:
  tickers: [AAPL, MSFT, BRK.B]
  source: {provider: synthetic, settings: {rate: 100, seed: 7}}
  kafka: {bootstrapServers: "kafka:9092", topic: stocks.ticks, partitions: 6, replicationFactor: 3}
  sink:
    url: s3://market-lake/raw/stocks/
    format: parquet
    partitionBy: [dt, hour]
    flush: {maxRecords: 100000, maxBytes: 64Mi, maxAge: 60s}
  catalog:
    glue: {database: markets, partitionProjection: true}
"#;

fn manifest(name: &str, spec_edit: impl Fn(&mut serde_yaml::Value)) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&VALID.replace("NAME", name)).unwrap();
    spec_edit(&mut doc["spec"]);
    serde_yaml::to_string(&doc).unwrap()
}

fn set(path: &str, value: &str) -> impl Fn(&mut serde_yaml::Value) {
    let path: Vec<String> = path.split('.').map(str::to_owned).collect();
    let value: serde_yaml::Value = serde_yaml::from_str(value).unwrap();
    move |spec: &mut serde_yaml::Value| {
        let mut at = spec;
        for key in &path[..path.len() - 1] {
            at = &mut at[key.as_str()];
        }
        at[path[path.len() - 1].as_str()] = value.clone();
    }
}

#[test]
fn valid_manifests_are_accepted() {
    install_crd();
    let ns = namespace("crd-valid");
    let variants = [
        manifest("plain", |_| {}),
        manifest("placed", |s| {
            set(
                "workers",
                "{placement: {nodeSelector: {pool: feeds}, tolerations: [{key: dedicated, operator: Equal, value: feeds, effect: NoSchedule}], priorityClassName: stockfeed, imagePullSecrets: [{name: registry}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}}}, topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}]}}",
            )(s);
        }),
        manifest("finnhub", |s| {
            set(
                "source",
                "{provider: finnhub, credentialsSecretRef: {name: finnhub-token}, pollInterval: 5s}",
            )(s);
        }),
        manifest(
            "sasl",
            set(
                "kafka.security",
                "{protocol: SASL_SSL, saslMechanism: SCRAM-SHA-512, saslSecretRef: {name: kafka-user}, caSecretRef: {name: kafka-ca, key: ca.pem}}",
            ),
        ),
        manifest(
            "local",
            set(
                "sink",
                "{url: 's3://market-lake/jsonl/', format: jsonl, gzip: true, partitionBy: [dt, symbol]}",
            ),
        ),
        manifest(
            "kms",
            set(
                "sink.s3",
                "{region: eu-west-1, serverSideEncryption: 'aws:kms', kmsKeyId: alias/lake, storageClass: INTELLIGENT_TIERING}",
            ),
        ),
        manifest(
            "workers",
            set(
                "workers",
                "{image: 'registry.example/stockfeed:1.0', producer: {replicas: 2}, sink: {replicas: 3, resources: {memoryLimit: 1Gi}}, serviceAccountAnnotations: {eks.amazonaws.com/role-arn: 'arn:aws:iam::123456789012:role/lake'}}",
            ),
        ),
    ];
    for m in &variants {
        kubectl_ok(&["apply", "--server-side", "-n", &ns, "-f", "-"], Some(m));
        FeedManifest::parse(m, "test").unwrap_or_else(|e| panic!("worker refuses {m}: {e}"));
    }
    let listed = kubectl_ok(&["get", "sf", "-n", &ns, "-o", "name"], None);
    assert_eq!(listed.lines().count(), variants.len(), "{listed}");
    // Defaults are applied by the API server from the schema.
    let stored = kubectl_ok(
        &[
            "get",
            "sf",
            "plain",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.workers.sink.replicas} {.spec.kafka.partitions} {.spec.suspend}",
        ],
        None,
    );
    assert_eq!(stored, "1 6 false");
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

#[test]
fn invalid_manifests_are_refused_by_the_api_server() {
    install_crd();
    let ns = namespace("crd-invalid");
    type Edit = Box<dyn Fn(&mut serde_yaml::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "no tickers",
            Box::new(set("tickers", "[]")),
            "should have at least 1 items",
        ),
        (
            "lowercase ticker",
            Box::new(set("tickers", "[aapl]")),
            "spec.tickers[0]",
        ),
        (
            "duplicate ticker",
            Box::new(set("tickers", "[AAPL, AAPL]")),
            "duplicate entries",
        ),
        (
            "unknown provider",
            Box::new(set("source.provider", "bloomberg")),
            "Unsupported value: \"bloomberg\"",
        ),
        (
            "finnhub without key",
            Box::new(set("source.provider", "finnhub")),
            "source.credentialsSecretRef is required",
        ),
        (
            "bad topic",
            Box::new(set("kafka.topic", "'stocks ticks'")),
            "spec.kafka.topic",
        ),
        (
            "zero partitions",
            Box::new(set("kafka.partitions", "0")),
            "should be greater than or equal to 1",
        ),
        (
            "replication 9",
            Box::new(set("kafka.replicationFactor", "9")),
            "should be less than or equal to 7",
        ),
        (
            "url without slash",
            Box::new(set("sink.url", "s3://market-lake/raw")),
            "spec.sink.url",
        ),
        (
            "partition by hour",
            Box::new(set("sink.partitionBy", "[hour]")),
            "partitionBy must be [dt], [dt, hour] or [dt, symbol]",
        ),
        (
            "avro",
            Box::new(set("sink.format", "avro")),
            "Unsupported value: \"avro\"",
        ),
        (
            "bad duration",
            Box::new(set("sink.flush.maxAge", "soon")),
            "spec.sink.flush.maxAge",
        ),
        (
            "sasl without secret",
            Box::new(set("kafka.security", "{protocol: SASL_SSL}")),
            "SASL protocols need saslMechanism and saslSecretRef",
        ),
        (
            "kms without sse",
            Box::new(set("sink.s3", "{kmsKeyId: alias/x}")),
            "kmsKeyId needs serverSideEncryption: aws:kms",
        ),
        (
            "no producers",
            Box::new(set("workers", "{producer: {replicas: 0}}")),
            "spec.workers.producer.replicas",
        ),
        (
            "upper-case database",
            Box::new(set("catalog.glue.database", "Markets")),
            "spec.catalog.glue.database",
        ),
        (
            "unknown field",
            Box::new(set("surprise", "1")),
            ".spec.surprise: field not declared in schema",
        ),
        (
            "topic deletion on a TLS cluster",
            Box::new(set(
                "kafka",
                "{bootstrapServers: 'k:9093', topic: t, deletionPolicy: Delete, security: {protocol: SSL}}",
            )),
            "kafka.deletionPolicy Delete needs a cluster whose topics the operator manages",
        ),
        (
            "tolerations that are not a list",
            Box::new(set(
                "workers",
                "{placement: {tolerations: {key: dedicated}}}",
            )),
            "spec.workers.placement.tolerations",
        ),
        (
            "more producer shards than tickers",
            Box::new(set("workers", "{producer: {replicas: 4}}")),
            "must not exceed the number of tickers",
        ),
    ];
    assert!(cases.len() >= 10);
    for (i, (what, edit, expected)) in cases.iter().enumerate() {
        let m = manifest(&format!("bad-{i}"), edit);
        let out = kubectl(&["apply", "--server-side", "-n", &ns, "-f", "-"], Some(&m));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{what}: the API server accepted\n{m}"
        );
        assert!(
            stderr.contains(expected),
            "{what}: expected `{expected}` in: {stderr}"
        );
        // stockfeed run refuses the same manifest.
        assert!(
            FeedManifest::parse(&m, "test").is_err(),
            "{what}: the worker accepted\n{m}"
        );
    }
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

/// Names that are valid object names but would make invalid child names (the Service
/// `<name>-metrics` is a DNS-1035 label: no dots, a letter first, 63 characters at most) are
/// refused with a message that says why; the longest allowed name is accepted.
#[test]
fn names_that_make_invalid_child_names_are_refused() {
    install_crd();
    let ns = namespace("crd-names");
    let longest = format!("a{}", "b".repeat(stockfeed_operator::crd::MAX_NAME_LEN - 1));
    let too_long = format!("{longest}c");
    let out = kubectl(
        &["apply", "--server-side", "-n", &ns, "-f", "-"],
        Some(&manifest(&longest, |_| {})),
    );
    assert!(
        out.status.success(),
        "the longest allowed name ({} characters) was refused: {}",
        longest.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, expected) in [
        ("feed.v2", "no dots"),
        ("2feeds", "must start with a lowercase letter"),
        (too_long.as_str(), "must be at most 55 characters"),
    ] {
        let out = kubectl(
            &["apply", "--server-side", "-n", &ns, "-f", "-"],
            Some(&manifest(name, |_| {})),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(
            stderr.contains(expected),
            "{name}: expected `{expected}` in: {stderr}"
        );
    }
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

/// `stockfeed run` writes a `file://` lake; in a cluster the pod's root filesystem is read-only
/// and dies with the pod, so the API server refuses it and says what to use instead.
#[test]
fn a_file_sink_is_refused_in_the_cluster_and_accepted_locally() {
    install_crd();
    let ns = namespace("crd-file");
    let m = manifest("local", set("sink.url", "file:///var/lake/"));
    let out = kubectl(&["apply", "--server-side", "-n", &ns, "-f", "-"], Some(&m));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the API server accepted\n{m}");
    assert!(
        stderr.contains("a file:// sink cannot run in a pod") && stderr.contains("s3://"),
        "{stderr}"
    );
    FeedManifest::parse(&m, "test").expect("stockfeed run takes a file:// sink");
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

#[test]
fn the_topic_cannot_change_after_creation() {
    install_crd();
    let ns = namespace("crd-immutable");
    kubectl_ok(
        &["apply", "--server-side", "-n", &ns, "-f", "-"],
        Some(&manifest("feed", |_| {})),
    );
    let changed = manifest("feed", set("kafka.topic", "other.topic"));
    let out = kubectl(
        &["apply", "--server-side", "-n", &ns, "-f", "-"],
        Some(&changed),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "topic change accepted");
    assert!(stderr.contains("kafka.topic is immutable"), "{stderr}");
    // Other fields still change.
    let more = manifest("feed", set("tickers", "[AAPL, MSFT, NVDA]"));
    kubectl_ok(
        &["apply", "--server-side", "-n", &ns, "-f", "-"],
        Some(&more),
    );
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

#[test]
fn kubectl_get_shows_the_printer_columns() {
    install_crd();
    let ns = namespace("crd-columns");
    kubectl_ok(
        &["apply", "--server-side", "-n", &ns, "-f", "-"],
        Some(&manifest("feed", |_| {})),
    );
    let table = kubectl_ok(&["get", "sf", "-n", &ns], None);
    let header = table.lines().next().unwrap();
    for column in ["NAME", "READY", "TICKERS", "TOPIC", "SINK", "AGE"] {
        assert!(header.contains(column), "{column} missing: {header}");
    }
    assert!(
        table.contains("stocks.ticks") && table.contains("s3://market-lake/raw/stocks/"),
        "{table}"
    );
    let explained = kubectl_eventually(
        &["explain", "stockfeed.spec.sink.partitionBy"],
        std::time::Duration::from_secs(30),
    );
    assert!(explained.contains("Hive partition columns"), "{explained}");
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}
