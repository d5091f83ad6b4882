//! The rules of a StockFeed spec, checked in Rust.
//!
//! The CRD schema makes the API server enforce these at `kubectl apply` (patterns, ranges, CEL);
//! `stockfeed run` has no API server, so it checks the same rules here before anything starts.
//! The operator also runs them, as a second line of defence for objects stored before a CRD
//! upgrade. A test in the operator crate keeps both sides in step by applying the same invalid
//! manifests to a real API server.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;

use crate::feed::*;
use crate::lake::LakeUrl;
use stockfeed_record::lake::layout::PartitionBy;

/// One broken rule, with the path of the field as `kubectl explain` would name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every broken rule of a spec, so a user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidSpec(pub Vec<FieldError>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid StockFeed spec: {}", parts.join("; "))
    }
}

fn regex(pattern: &str) -> Regex {
    // The patterns are constants of this crate, covered by the unit tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("constant pattern compiles")
}

static DURATION: LazyLock<Regex> = LazyLock::new(|| regex(DURATION_PATTERN));
static BYTE_SIZE: LazyLock<Regex> = LazyLock::new(|| regex(BYTE_SIZE_PATTERN));
static TOPIC: LazyLock<Regex> = LazyLock::new(|| regex(TOPIC_PATTERN));
static SINK_URL: LazyLock<Regex> = LazyLock::new(|| regex(SINK_URL_PATTERN));
static K8S_NAME: LazyLock<Regex> = LazyLock::new(|| regex(K8S_NAME_PATTERN));
static QUANTITY: LazyLock<Regex> = LazyLock::new(|| regex(QUANTITY_PATTERN));

/// Parses a duration written as the CRD allows (`500ms`, `5s`, `1h30m`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    if !DURATION.is_match(text) {
        return None;
    }
    humantime::parse_duration(text).ok()
}

struct Checker(Vec<FieldError>);

impl Checker {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.fail(
                field,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    fn pattern(&mut self, field: &str, value: &str, re: &Regex, what: &str) {
        if !re.is_match(value) {
            self.fail(field, format!("`{value}` is not {what}"));
        }
    }
}

/// Checks every rule the CRD enforces; the error lists all that are broken.
pub fn validate(spec: &FeedSpec) -> Result<(), InvalidSpec> {
    let mut c = Checker(Vec::new());

    let n = spec.tickers.len();
    if n == 0 || n > 1000 {
        c.fail(
            "spec.tickers",
            format!("must list 1 to 1000 symbols, got {n}"),
        );
    }
    let shards = spec.workers.producer.replicas;
    if usize::try_from(shards).is_ok_and(|s| s > n) && n > 0 {
        c.fail(
            "spec.workers.producer.replicas",
            format!(
                "{shards} producer shards for {n} tickers: a shard without tickers would never become Ready; use at most {n}"
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for t in &spec.tickers {
        if !seen.insert(t) {
            c.fail("spec.tickers", format!("lists {t} twice"));
        }
    }

    check_source(&mut c, &spec.source);
    check_kafka(&mut c, &spec.kafka);
    check_sink(&mut c, &spec.sink);
    if let Some(glue) = &spec.catalog.glue {
        if let Err(e) = glue.validate() {
            c.fail("spec.catalog.glue", e.to_string());
        }
        if spec.sink.url.starts_with("file://")
            && glue.crawler.as_ref().is_some_and(|cr| cr.enabled)
        {
            c.fail(
                "spec.catalog.glue.crawler.enabled",
                "a Glue crawler can only crawl an s3:// sink",
            );
        }
    }
    check_workers(&mut c, &spec.workers);

    if c.0.is_empty() {
        Ok(())
    } else {
        Err(InvalidSpec(c.0))
    }
}

fn check_source(c: &mut Checker, s: &SourceSpec) {
    if s.provider.needs_credentials() && s.credentials_secret_ref.is_none() {
        c.fail(
            "spec.source.credentialsSecretRef",
            format!(
                "is required for provider {}: name the Secret holding the API key",
                s.provider.as_str()
            ),
        );
    }
    if let Some(r) = &s.credentials_secret_ref {
        check_secret_ref(c, "spec.source.credentialsSecretRef", r);
    }
    if let Some(p) = &s.poll_interval {
        match parse_duration(p) {
            Some(d) if d.is_zero() => c.fail("spec.source.pollInterval", "must be positive"),
            Some(_) => {}
            None => c.fail(
                "spec.source.pollInterval",
                format!("`{p}` is not a duration like 5s or 1m"),
            ),
        }
    }
}

fn check_secret_ref(c: &mut Checker, field: &str, r: &SecretKeyRef) {
    c.pattern(
        &format!("{field}.name"),
        &r.name,
        &K8S_NAME,
        "a Kubernetes object name",
    );
    if let Some(k) = &r.key
        && (k.is_empty() || k.len() > 253)
    {
        c.fail(&format!("{field}.key"), "must be 1 to 253 characters");
    }
}

fn check_kafka(c: &mut Checker, k: &KafkaSpec) {
    if k.bootstrap_servers.trim().is_empty() {
        c.fail("spec.kafka.bootstrapServers", "is empty; give host:port");
    }
    c.pattern(
        "spec.kafka.topic",
        &k.topic,
        &TOPIC,
        "a legal Kafka topic name",
    );
    c.range("spec.kafka.partitions", k.partitions.into(), 1, 10_000);
    c.range(
        "spec.kafka.replicationFactor",
        k.replication_factor.into(),
        1,
        7,
    );
    if let Some(d) = &k.dlq_topic {
        c.pattern("spec.kafka.dlqTopic", d, &TOPIC, "a legal Kafka topic name");
        if d == &k.topic {
            c.fail("spec.kafka.dlqTopic", "must differ from kafka.topic");
        }
    }
    if k.deletion_policy == TopicDeletionPolicy::Delete && k.security.is_some() {
        c.fail(
            "spec.kafka.deletionPolicy",
            "Delete needs a cluster whose topics the operator manages (no kafka.security): on TLS/SASL clusters topics are created and deleted with the cluster's own tooling",
        );
    }
    if let Some(sec) = &k.security {
        let sasl = matches!(
            sec.protocol,
            KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl
        );
        if sasl && (sec.sasl_mechanism.is_none() || sec.sasl_secret_ref.is_none()) {
            c.fail(
                "spec.kafka.security",
                "SASL protocols need saslMechanism and saslSecretRef",
            );
        }
        if !sasl && sec.sasl_secret_ref.is_some() {
            c.fail(
                "spec.kafka.security",
                "saslSecretRef is only used with SASL_PLAINTEXT or SASL_SSL",
            );
        }
        if let Some(r) = &sec.sasl_secret_ref {
            check_secret_ref(c, "spec.kafka.security.saslSecretRef", r);
        }
        if let Some(r) = &sec.ca_secret_ref {
            check_secret_ref(c, "spec.kafka.security.caSecretRef", r);
        }
    }
}

fn check_sink(c: &mut Checker, s: &SinkSpec) {
    if s.url.len() > 1024 {
        c.fail("spec.sink.url", "is longer than 1024 characters");
    }
    if !SINK_URL.is_match(&s.url) {
        c.fail(
            "spec.sink.url",
            format!(
                "`{}` is not s3://bucket/prefix/ or file:///path/ (it must end with /)",
                s.url
            ),
        );
    } else if let Err(e) = LakeUrl::parse(&s.url) {
        c.fail("spec.sink.url", e.to_string());
    }
    if let Err(e) = PartitionBy::new(s.partition_by.clone()) {
        c.fail("spec.sink.partitionBy", e.to_string());
    }
    c.range(
        "spec.sink.flush.maxRecords",
        i64::try_from(s.flush.max_records).unwrap_or(i64::MAX),
        1,
        100_000_000,
    );
    if !BYTE_SIZE.is_match(&s.flush.max_bytes)
        || crate::sink::parse_byte_size(&s.flush.max_bytes).is_none_or(|b| b == 0)
    {
        c.fail(
            "spec.sink.flush.maxBytes",
            format!("`{}` is not a positive size like 64Mi", s.flush.max_bytes),
        );
    }
    if parse_duration(&s.flush.max_age).is_none_or(|d| d.is_zero()) {
        c.fail(
            "spec.sink.flush.maxAge",
            format!("`{}` is not a positive duration like 60s", s.flush.max_age),
        );
    }
    if parse_duration(&s.derived_bars.allowed_lateness).is_none() {
        c.fail(
            "spec.sink.derivedBars.allowedLateness",
            format!(
                "`{}` is not a duration like 10s",
                s.derived_bars.allowed_lateness
            ),
        );
    }
    if let Some(s3) = &s.s3 {
        if s3.kms_key_id.is_some()
            && s3.server_side_encryption != Some(ServerSideEncryption::AwsKms)
        {
            c.fail(
                "spec.sink.s3.kmsKeyId",
                "needs serverSideEncryption: aws:kms",
            );
        }
        if let Some(r) = &s3.credentials_secret_ref {
            check_secret_ref(c, "spec.sink.s3.credentialsSecretRef", r);
        }
    }
}

fn check_workers(c: &mut Checker, w: &WorkersSpec) {
    c.range(
        "spec.workers.producer.replicas",
        w.producer.replicas.into(),
        1,
        64,
    );
    c.range("spec.workers.sink.replicas", w.sink.replicas.into(), 1, 256);
    if let Some(sa) = &w.service_account_name {
        c.pattern(
            "spec.workers.serviceAccountName",
            sa,
            &K8S_NAME,
            "a Kubernetes object name",
        );
    }
    for (field, r) in [
        ("spec.workers.producer.resources", &w.producer.resources),
        ("spec.workers.sink.resources", &w.sink.resources),
    ] {
        let Some(r) = r else { continue };
        for (name, v) in [
            ("cpuRequest", &r.cpu_request),
            ("cpuLimit", &r.cpu_limit),
            ("memoryRequest", &r.memory_request),
            ("memoryLimit", &r.memory_limit),
        ] {
            if let Some(v) = v {
                c.pattern(
                    &format!("{field}.{name}"),
                    v,
                    &QUANTITY,
                    "a quantity like 250m or 512Mi",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> FeedSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    const OK: &str = "tickers: [AAPL, MSFT]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: stocks.ticks}\nsink: {url: 's3://market-lake/raw/'}\n";

    #[test]
    fn minimal_spec_is_valid_with_defaults() {
        let s = spec(OK);
        validate(&s).unwrap();
        assert_eq!(s.kafka.partitions, 6);
        assert_eq!(s.kafka.replication_factor, 3);
        assert_eq!(s.sink.flush.max_bytes, "64Mi");
        assert_eq!(s.workers.sink.replicas, 1);
    }

    #[test]
    fn every_broken_rule_is_named() {
        let mut s = spec(OK);
        s.tickers.push(s.tickers[0].clone());
        s.source.provider = Provider::Finnhub;
        s.source.poll_interval = Some("soon".into());
        s.kafka.topic = "bad topic".into();
        s.kafka.partitions = 0;
        s.sink.url = "s3://market-lake/raw".into();
        s.sink.partition_by = vec![stockfeed_record::lake::layout::PartitionKey::Hour];
        s.sink.flush.max_age = "0s".into();
        s.workers.sink.replicas = 0;
        let err = validate(&s).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "spec.tickers",
            "spec.source.credentialsSecretRef",
            "spec.source.pollInterval",
            "spec.kafka.topic",
            "spec.kafka.partitions",
            "spec.sink.url",
            "spec.sink.partitionBy",
            "spec.sink.flush.maxAge",
            "spec.workers.sink.replicas",
        ] {
            assert!(fields.contains(&f), "{f} missing from {err}");
        }
        assert!(err.to_string().contains("AAPL twice"), "{err}");
    }

    #[test]
    fn patterns_accept_and_refuse() {
        assert!(SINK_URL.is_match("s3://market-lake/raw/stocks/"));
        assert!(SINK_URL.is_match("s3://market-lake/"));
        assert!(SINK_URL.is_match("file:///tmp/lake/"));
        assert!(!SINK_URL.is_match("s3://market-lake/raw"));
        assert!(!SINK_URL.is_match("http://x/"));
        assert!(parse_duration("1h30m").is_some());
        assert!(parse_duration("5 s").is_none());
        assert!(QUANTITY.is_match("250m") && QUANTITY.is_match("1.5Gi"));
        assert!(K8S_NAME.is_match("finnhub-token") && !K8S_NAME.is_match("Finnhub"));
    }

    #[test]
    fn sasl_needs_its_secret() {
        let mut s = spec(OK);
        s.kafka.security = Some(KafkaSecuritySpec {
            protocol: KafkaProtocol::SaslSsl,
            sasl_mechanism: None,
            sasl_secret_ref: None,
            ca_secret_ref: None,
        });
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("saslMechanism"), "{err}");
    }
}
