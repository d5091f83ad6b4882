//! The `spec` of a StockFeed: the one shape shared by the Kubernetes resource (the operator wraps
//! it in a CustomResource) and `stockfeed run -f feed.yaml`.
//!
//! The JSON Schema derived here becomes the CRD's OpenAPI schema, so doc comments are API docs
//! (`kubectl explain stockfeed.spec.sink`) and the `schemars` attributes are what the API server
//! enforces at `kubectl apply`. The same rules are checked in Rust by [`crate::validate`], so a
//! manifest refused by the API server is refused by `stockfeed run` with the same words.
//!
//! Shapes that Kubernetes' structural schemas cannot express are avoided on purpose: no
//! internally tagged or untagged enums (the worker's provider-tagged `SourceConfig` is rendered
//! from the flat [`SourceSpec`] instead), string enums carry no per-variant docs (those become
//! `oneOf` branches), and every optional field is omitted rather than serialised as `null`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::GlueCatalogConfig;
use crate::format::Format;
use stockfeed_record::Symbol;
use stockfeed_record::lake::layout::PartitionKey;

/// Pattern of a duration such as `500ms`, `5s`, `2m`, `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h))+$";
/// Pattern of a byte size such as `1048576`, `512Ki`, `64Mi`, `1Gi`.
pub const BYTE_SIZE_PATTERN: &str = r"^[0-9]+(Ki|Mi|Gi)?$";
/// Kafka's legal topic names (at most 249 characters of `[a-zA-Z0-9._-]`).
pub const TOPIC_PATTERN: &str = r"^[a-zA-Z0-9._-]{1,249}$";
/// Where the sink writes: an S3 prefix or a local directory, always ending in `/`.
pub const SINK_URL_PATTERN: &str =
    r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/].*/)?|file:///(.*/)?)$";
/// A Kubernetes object name (DNS-1123 subdomain).
pub const K8S_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

/// Desired state of one market-data pipeline: which tickers to fetch from which provider, the
/// Kafka topic in between, where the sink writes, and how the lake is catalogued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.workers) || !has(self.workers.producer) || !has(self.workers.producer.replicas) || self.workers.producer.replicas <= size(self.tickers)",
        "message": "workers.producer.replicas must not exceed the number of tickers: a producer shard without tickers would never become Ready",
        "fieldPath": ".workers.producer.replicas",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct FeedSpec {
    /// Ticker symbols to fetch, e.g. `[AAPL, MSFT]`: 1 to 1000, each listed once.
    #[schemars(length(min = 1, max = 1000))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub tickers: Vec<Symbol>,
    /// The market-data provider and how to reach it.
    pub source: SourceSpec,
    /// The Kafka topic between producer and sink.
    pub kafka: KafkaSpec,
    /// Where and how the sink writes the lake.
    pub sink: SinkSpec,
    /// How the lake is registered for SQL (AWS Glue Data Catalog).
    #[serde(default, skip_serializing_if = "CatalogSpec::is_empty")]
    pub catalog: CatalogSpec,
    /// Image, replicas and identity of the worker pods (ignored by `stockfeed run`).
    #[serde(default)]
    pub workers: WorkersSpec,
    /// Scale the workers to zero without deleting anything; the topic, lake and catalog stay.
    #[serde(default)]
    pub suspend: bool,
}

/// The supported market-data providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Synthetic,
    Replay,
    Finnhub,
    Alphavantage,
    Yahoo,
    Alpaca,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Synthetic => "synthetic",
            Provider::Replay => "replay",
            Provider::Finnhub => "finnhub",
            Provider::Alphavantage => "alphavantage",
            Provider::Yahoo => "yahoo",
            Provider::Alpaca => "alpaca",
        }
    }

    /// Providers that refuse requests without an API key.
    pub fn needs_credentials(self) -> bool {
        matches!(
            self,
            Provider::Finnhub | Provider::Alphavantage | Provider::Alpaca
        )
    }

    /// Providers polled over REST, for which `pollInterval` means something.
    pub fn is_polled(self) -> bool {
        matches!(self, Provider::Alphavantage | Provider::Yahoo)
    }
}

/// Which provider to read and with which credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(self.provider in ['finnhub', 'alphavantage', 'alpaca']) || has(self.credentialsSecretRef)",
        "message": "source.credentialsSecretRef is required for finnhub, alphavantage and alpaca",
        "fieldPath": ".credentialsSecretRef",
        "reason": "FieldValueRequired"
    }
]))]
pub struct SourceSpec {
    /// synthetic | replay | finnhub | alphavantage | yahoo | alpaca.
    pub provider: Provider,
    /// The Secret holding the API key, never the key itself. finnhub reads the key `token`,
    /// alphavantage `apiKey` (override with `key`); alpaca reads `keyId` and `secretKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretKeyRef>,
    /// Time between polls for REST providers (alphavantage, yahoo, finnhub in poll mode), e.g. `15s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub poll_interval: Option<String>,
    /// Provider-specific settings, as documented for the worker's `source` section (for example
    /// `rate` and `seed` for synthetic, `path` and `speed` for replay, `mode` and `baseUrl` for
    /// finnhub). Checked by the operator and by `stockfeed run`, which name the bad field.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// A key in a Secret in the StockFeed's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(regex(pattern = K8S_NAME_PATTERN))]
    pub name: String,
    /// Key within the Secret; each use documents its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

/// The topic between producer and sink, created by the operator when missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.deletionPolicy) || self.deletionPolicy == 'Retain' || !has(self.security)",
        "message": "kafka.deletionPolicy Delete needs a cluster whose topics the operator manages (no kafka.security): on TLS/SASL clusters topics are created and deleted with the cluster's own tooling",
        "fieldPath": ".deletionPolicy",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct KafkaSpec {
    /// Comma-separated `host:port` list of brokers.
    #[schemars(length(min = 1, max = 4096))]
    pub bootstrap_servers: String,
    /// The topic; it cannot change after creation (records already written stay where they are).
    #[schemars(regex(pattern = TOPIC_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "kafka.topic is immutable; create a new StockFeed for a new topic"}
    ]))]
    pub topic: String,
    /// Partitions used when the topic is created (an existing topic is never changed).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: i32,
    /// Replication factor used when the topic is created.
    #[serde(default = "default_replication")]
    #[schemars(range(min = 1, max = 7))]
    pub replication_factor: i16,
    /// Topic-level configuration used at creation, e.g. `retention.ms: "604800000"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub topic_config: BTreeMap<String, String>,
    /// Dead-letter topic; default `<topic>.dlq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TOPIC_PATTERN))]
    pub dlq_topic: Option<String>,
    /// TLS and SASL settings for secured clusters (MSK, Confluent Cloud, Strimzi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<KafkaSecuritySpec>,
    /// What happens to the topic and its dead-letter topic when the StockFeed is deleted:
    /// `Retain` (default; the records stay for other readers and for a new StockFeed) or
    /// `Delete` (the operator deletes both; the lake keeps what was written).
    #[serde(default, skip_serializing_if = "TopicDeletionPolicy::is_retain")]
    pub deletion_policy: TopicDeletionPolicy,
}

/// `Retain` or `Delete`; see [`KafkaSpec::deletion_policy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TopicDeletionPolicy {
    #[default]
    Retain,
    Delete,
}

impl TopicDeletionPolicy {
    pub fn is_retain(&self) -> bool {
        *self == TopicDeletionPolicy::Retain
    }
}

fn default_partitions() -> i32 {
    6
}
fn default_replication() -> i16 {
    3
}

/// Kafka security protocol names as librdkafka spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KafkaProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

/// SASL mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanismSpec {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// How workers authenticate to Kafka. Credentials come from Secrets only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!self.protocol.startsWith('SASL') || (has(self.saslMechanism) && has(self.saslSecretRef))",
        "message": "SASL protocols need saslMechanism and saslSecretRef",
        "reason": "FieldValueRequired"
    },
    {
        "rule": "self.protocol.startsWith('SASL') || !has(self.saslSecretRef)",
        "message": "saslSecretRef is only used with SASL_PLAINTEXT or SASL_SSL"
    }
]))]
pub struct KafkaSecuritySpec {
    /// PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL.
    pub protocol: KafkaProtocol,
    /// PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanismSpec>,
    /// Secret with keys `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_secret_ref: Option<SecretKeyRef>,
    /// Secret holding the PEM CA of the brokers (key default `ca.crt`); unset uses the system CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

/// Where the sink writes and how files are cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkSpec {
    /// `s3://bucket/prefix/` or, for local runs, `file:///path/`; ends with `/`.
    #[schemars(regex(pattern = SINK_URL_PATTERN))]
    #[schemars(length(max = 1024))]
    pub url: String,
    /// parquet | jsonl | csv.
    #[serde(default)]
    pub format: Format,
    /// Hive partition columns: `[dt]`, `[dt, hour]` (default) or `[dt, symbol]`.
    #[serde(default = "default_partition_by")]
    #[schemars(length(min = 1, max = 2))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "self == ['dt'] || self == ['dt', 'hour'] || self == ['dt', 'symbol']",
            "message": "partitionBy must be [dt], [dt, hour] or [dt, symbol]"
        }
    ]))]
    pub partition_by: Vec<PartitionKey>,
    /// When a file is cut: whichever limit is reached first.
    #[serde(default)]
    pub flush: FlushSpec,
    /// Gzip JSON-lines files.
    #[serde(default)]
    pub gzip: bool,
    /// S3 settings; ignored for `file://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,
    /// Also write 1-minute OHLCV bars derived from the trades, as the `bars_1m` table.
    #[serde(default)]
    pub derived_bars: DerivedBarsSpec,
}

/// The sink's derived 1-minute bars (`sink.derivedBars`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DerivedBarsSpec {
    /// Write `bar_1m/` (table `bars_1m`) from the trades.
    #[serde(default)]
    pub enabled: bool,
    /// How long after a minute ends, in event time, its trades may still arrive, e.g. `10s`.
    /// A minute's bar is written once a trade of the same Kafka partition is this much past
    /// the minute's end; later trades of that minute stay out of the bar (and are counted).
    #[serde(default = "default_allowed_lateness")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub allowed_lateness: String,
}

fn default_allowed_lateness() -> String {
    "10s".into()
}

impl Default for DerivedBarsSpec {
    fn default() -> Self {
        DerivedBarsSpec {
            enabled: false,
            allowed_lateness: default_allowed_lateness(),
        }
    }
}

fn default_partition_by() -> Vec<PartitionKey> {
    vec![PartitionKey::Dt, PartitionKey::Hour]
}

/// Rotation limits of the sink's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlushSpec {
    /// Records per file at most.
    #[serde(default = "default_max_records")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_records: u64,
    /// Bytes per file at most, e.g. `64Mi`.
    #[serde(default = "default_max_bytes")]
    #[schemars(regex(pattern = BYTE_SIZE_PATTERN))]
    pub max_bytes: String,
    /// Age of the oldest buffered record at which a file is cut, e.g. `60s`.
    #[serde(default = "default_max_age")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub max_age: String,
}

fn default_max_records() -> u64 {
    100_000
}
fn default_max_bytes() -> String {
    "64Mi".into()
}
fn default_max_age() -> String {
    "60s".into()
}

impl Default for FlushSpec {
    fn default() -> Self {
        FlushSpec {
            max_records: default_max_records(),
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
        }
    }
}

/// Server-side encryption choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServerSideEncryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl ServerSideEncryption {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSideEncryption::Aes256 => "AES256",
            ServerSideEncryption::AwsKms => "aws:kms",
        }
    }
}

/// S3 connection and object settings. On AWS leave `endpoint` and `credentialsSecretRef` unset:
/// the default credential chain (IRSA on EKS) is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.kmsKeyId) || (has(self.serverSideEncryption) && self.serverSideEncryption == 'aws:kms')",
     "message": "kmsKeyId needs serverSideEncryption: aws:kms"}
]))]
pub struct S3Spec {
    /// Endpoint of an S3-compatible store, e.g. `http://minio:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/]+(/.*)?$"))]
    pub endpoint: Option<String>,
    /// AWS region of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: Option<String>,
    /// Path-style addressing, which most S3-compatible stores need.
    #[serde(default)]
    pub force_path_style: bool,
    /// AES256 (SSE-S3) or aws:kms (SSE-KMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<ServerSideEncryption>,
    /// KMS key for SSE-KMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: Option<String>,
    /// Storage class, e.g. STANDARD, INTELLIGENT_TIERING, STANDARD_IA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z_]{1,32}$"))]
    pub storage_class: Option<String>,
    /// Static keys for stores outside AWS: a Secret with `accessKeyId` and `secretAccessKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretKeyRef>,
}

/// Catalog registration of the lake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSpec {
    /// AWS Glue database, tables (one per record kind) and optional crawler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue: Option<GlueCatalogConfig>,
}

impl CatalogSpec {
    pub fn is_empty(&self) -> bool {
        self.glue.is_none()
    }
}

/// Image, replicas and identity of the worker pods.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkersSpec {
    /// Worker image; default is the image the operator was installed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Producer settings; each replica takes its own share of the tickers.
    #[serde(default)]
    pub producer: ProducerWorkers,
    /// Sink settings; replicas share the topic's partitions as one consumer group.
    #[serde(default)]
    pub sink: SinkWorkers,
    /// Run the workers under this existing ServiceAccount instead of one the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = K8S_NAME_PATTERN))]
    pub service_account_name: Option<String>,
    /// Annotations of the ServiceAccount the operator creates, e.g.
    /// `eks.amazonaws.com/role-arn` for IRSA.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_account_annotations: BTreeMap<String, String>,
    /// Where the worker pods are scheduled and which registry credentials they pull with.
    #[serde(default, skip_serializing_if = "PodPlacement::is_empty")]
    pub placement: PodPlacement,
}

/// Scheduling of the worker pods, in the Pod API's own terms. A field left out takes the
/// operator's default (the chart's `workerPlacement` values); a field given here replaces that
/// default whole (an empty list or map removes it), so a feed can always say exactly where it
/// runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodPlacement {
    /// Secrets (type `kubernetes.io/dockerconfigjson`) to pull the worker image with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<k8s_openapi::api::core::v1::LocalObjectReference>>,
    /// Node labels the worker pods require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Taints the worker pods tolerate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<k8s_openapi::api::core::v1::Toleration>>,
    /// Node and pod (anti-)affinity of the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<k8s_openapi::api::core::v1::Affinity>,
    /// PriorityClass of the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = K8S_NAME_PATTERN))]
    pub priority_class_name: Option<String>,
    /// How the worker pods spread over zones or nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints:
        Option<Vec<k8s_openapi::api::core::v1::TopologySpreadConstraint>>,
}

impl PodPlacement {
    pub fn is_empty(&self) -> bool {
        self == &PodPlacement::default()
    }

    /// `self`, with every field it leaves out taken from `defaults`.
    pub fn or(&self, defaults: &PodPlacement) -> PodPlacement {
        PodPlacement {
            image_pull_secrets: self
                .image_pull_secrets
                .clone()
                .or_else(|| defaults.image_pull_secrets.clone()),
            node_selector: self
                .node_selector
                .clone()
                .or_else(|| defaults.node_selector.clone()),
            tolerations: self
                .tolerations
                .clone()
                .or_else(|| defaults.tolerations.clone()),
            affinity: self.affinity.clone().or_else(|| defaults.affinity.clone()),
            priority_class_name: self
                .priority_class_name
                .clone()
                .or_else(|| defaults.priority_class_name.clone()),
            topology_spread_constraints: self
                .topology_spread_constraints
                .clone()
                .or_else(|| defaults.topology_spread_constraints.clone()),
        }
    }
}

/// Producer pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProducerWorkers {
    /// Number of producer shards (one pod each); the tickers are split between them.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 64))]
    pub replicas: i32,
    /// CPU and memory of each pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

impl Default for ProducerWorkers {
    fn default() -> Self {
        ProducerWorkers {
            replicas: 1,
            resources: None,
        }
    }
}

/// Sink pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkWorkers {
    /// Sink pods in the consumer group; more than the topic's partitions would idle.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 256))]
    pub replicas: i32,
    /// CPU and memory of each pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

impl Default for SinkWorkers {
    fn default() -> Self {
        SinkWorkers {
            replicas: 1,
            resources: None,
        }
    }
}

fn one() -> i32 {
    1
}

/// Requests and limits as Kubernetes quantities (`250m`, `512Mi`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory_limit: Option<String>,
}

/// A Kubernetes resource quantity (simplified: decimal number with an optional suffix).
pub const QUANTITY_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$";
