//! The `StockFeed` custom resource (`stockfeed.dev/v1alpha1`).
//!
//! The spec is the worker library's [`FeedSpec`], flattened in, so the operator and
//! `stockfeed run` can never disagree on its shape; this module adds only what is Kubernetes'
//! own: names, printer columns, the status and its schema.

// kube's `printcolumn(...)` entries repeat `type_ = "string"`, which this lint mistakes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stockfeed_spec::FeedSpec;

/// Desired state of a StockFeed (fields below).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "stockfeed.dev",
    version = "v1alpha1",
    kind = "StockFeed",
    namespaced,
    doc = "A real-time market-data pipeline: a producer fetching tickers from a market-data API into a Kafka topic, and a sink writing that topic as partitioned files to S3, catalogued in AWS Glue.",
    status = "StockFeedStatus",
    shortname = "sf",
    category = "stockfeed",
    category = "all",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether data flows end to end"
    ),
    printcolumn(
        name = "Tickers",
        type_ = "integer",
        json_path = ".status.tickerCount",
        description = "Number of tickers"
    ),
    printcolumn(name = "Topic", type_ = "string", json_path = ".spec.kafka.topic"),
    printcolumn(name = "Sink", type_ = "string", json_path = ".spec.sink.url"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct StockFeedSpec {
    // no doc: the fields and their docs come from FeedSpec
    #[serde(flatten)]
    pub feed: FeedSpec,
}

/// Observed state, written by the operator only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockFeedStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, TopicReady, ProducerAvailable, SinkAvailable, CatalogReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Number of tickers in the spec (for `kubectl get`).
    #[serde(default)]
    pub ticker_count: i32,
    /// Producer pods available / wanted, across all shards.
    #[serde(default)]
    pub producer_replicas: ReplicaCounts,
    /// Sink pods available / wanted.
    #[serde(default)]
    pub sink_replicas: ReplicaCounts,
    /// The Kafka topic as found on the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicStatus>,
    /// The Glue crawler, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawler: Option<CrawlerStatus>,
    /// Hash of the rendered worker configuration; pods roll when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// The last failure, if the last reconcile failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaCounts {
    pub desired: i32,
    pub available: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrawlerStatus {
    pub name: String,
    /// READY, RUNNING or STOPPING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Status of the last crawl, e.g. SUCCEEDED or FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crawl: Option<String>,
}

/// Conditions form a map keyed by `type`, so server-side apply merges them entry by entry.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    serde_json::from_value(serde_json::json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer", "format": "int64"}
            }
        }
    }))
    .unwrap_or_default()
}

impl StockFeed {
    pub fn spec_feed(&self) -> &FeedSpec {
        &self.spec.feed
    }
}

/// Longest StockFeed name: its longest child name that must be a DNS-1035 label (63
/// characters), the Service `{name}-metrics`, then still fits.
pub const MAX_NAME_LEN: usize = 55;

/// The CRD: the derived schema plus rules that need the whole object: on the resource's own
/// name, and on what only a cluster forbids. A name with a dot, a
/// leading digit or more than [`MAX_NAME_LEN`] characters is a valid object name but makes
/// invalid child names (Services are DNS-1035 labels), which would fail only when the
/// operator applies them; CEL sees `metadata.name` only at the schema's root, hence here.
pub fn crd() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = StockFeed::crd();
    let rule = |rule: String, message: String| ValidationRule {
        rule,
        message: Some(message),
        reason: Some("FieldValueInvalid".into()),
        ..Default::default()
    };
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        root.x_kubernetes_validations = Some(vec![
            rule(
                "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')".into(),
                "metadata.name must start with a lowercase letter and hold only lowercase letters, digits and '-' (no dots): it names the feed's Service <name>-metrics, a DNS-1035 label".into(),
            ),
            rule(
                format!("size(self.metadata.name) <= {MAX_NAME_LEN}"),
                format!("metadata.name must be at most {MAX_NAME_LEN} characters, so that the feed's Service <name>-metrics fits in 63"),
            ),
            // The shared FeedSpec allows file:// for `stockfeed run`; in a pod it has nowhere
            // to go (the operator refuses it too, for objects stored before this rule).
            rule(
                "!self.spec.sink.url.startsWith('file://')".into(),
                "spec.sink.url: a file:// sink cannot run in a pod (read-only root filesystem, lost with the pod); use an s3:// URL — file:// is for `stockfeed run`".into(),
            ),
        ]);
    }
    crd
}

/// The CRD as YAML, as `crdgen` prints it and `crds/stockfeed.yaml` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let text = serde_yaml::to_string(&crd())?;
    Ok(format!(
        "# Generated by `cargo run -p stockfeed-operator --bin crdgen`; do not edit.\n{text}"
    ))
}
