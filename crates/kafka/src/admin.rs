//! Topic provisioning through Kafka's admin API, shared by the operator and `stockfeed run`.
//!
//! A missing topic is created with the requested partitions, replication and configuration; an
//! existing one is only compared and its differences reported. Changing partitions or
//! replication of a live topic moves keys between partitions or data between brokers, a
//! decision for a person, so this code never does it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;

/// The topic a StockFeed wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRequest {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub config: BTreeMap<String, String>,
}

/// What was found or done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    /// The topic exists; `differences` lists how it differs from the request (empty when none).
    Exists {
        partitions: i32,
        replication_factor: i32,
        differences: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create a Kafka admin client: {0}")]
    Client(#[source] KafkaError),
    #[error(
        "Kafka at {servers} did not answer within {timeout:?} ({source}{}); check \
         bootstrapServers, that the brokers are reachable from here, and the security settings",
        last_client_error.as_deref().map(|e| format!("; the client last reported: {e}")).unwrap_or_default()
    )]
    Unreachable {
        servers: String,
        timeout: Duration,
        #[source]
        source: Box<KafkaError>,
        /// What librdkafka last reported on its connections (a refused TLS handshake, a failed
        /// SASL login, a DNS error): the request's own error is only "transport failure".
        last_client_error: Option<Box<str>>,
    },
    #[error("creating topic {topic} failed: {code}: {message}")]
    Create {
        topic: String,
        code: String,
        message: String,
    },
    #[error("deleting topic {topic} failed: {code}")]
    Delete { topic: String, code: String },
    #[error("describing the configuration of topic {topic} failed: {source}")]
    Describe {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// Keeps the last connection error librdkafka reports, for [`AdminError::Unreachable`].
#[derive(Default)]
struct LastError(std::sync::Mutex<Option<String>>);

impl rdkafka::ClientContext for LastError {
    /// librdkafka says why a connection failed (TLS handshake, SASL, DNS) only in its log, at
    /// level error; a consumer's error events carry just a code.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        if matches!(level, L::Emerg | L::Alert | L::Critical | L::Error) {
            tracing::warn!(facility = fac, "librdkafka: {message}");
            if let Ok(mut last) = self.0.lock() {
                *last = Some(message.to_owned());
            }
        } else {
            tracing::debug!(facility = fac, "librdkafka: {message}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for LastError {}

/// Admin operations against one cluster.
pub struct TopicAdmin {
    admin: AdminClient<DefaultClientContext>,
    /// Metadata requests block; this client is shared with a blocking thread for them.
    metadata_client: Arc<BaseConsumer<LastError>>,
    servers: String,
    timeout: Duration,
}

impl TopicAdmin {
    /// `base` is the connection's client config (servers, security); `timeout` bounds every
    /// request, so an unreachable cluster is an error after `timeout`, not a hang.
    pub fn new(base: &ClientConfig, timeout: Duration) -> Result<Self, AdminError> {
        let servers = base.get("bootstrap.servers").unwrap_or_default().to_owned();
        let mut config = base.clone();
        config.set("socket.timeout.ms", timeout.as_millis().to_string());
        let admin = config.create().map_err(AdminError::Client)?;
        let metadata_client = Arc::new(
            config
                .create_with_context(LastError::default())
                .map_err(AdminError::Client)?,
        );
        Ok(TopicAdmin {
            admin,
            metadata_client,
            servers,
            timeout,
        })
    }

    /// Deletes the topics; one that does not exist counts as deleted. Returns the ones that
    /// existed.
    #[tracing::instrument(skip_all, fields(servers = %self.servers))]
    pub async fn delete(&self, topics: &[&str]) -> Result<Vec<String>, AdminError> {
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = self
            .admin
            .delete_topics(topics, &options)
            .await
            .map_err(|source| self.unreachable(source))?;
        let mut deleted = Vec::new();
        for result in results {
            match result {
                Ok(topic) => deleted.push(topic),
                Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => {
                    return Err(AdminError::Delete {
                        topic,
                        code: code.to_string(),
                    });
                }
            }
        }
        Ok(deleted)
    }

    /// Creates the topic if missing, else reports how it differs from `request`.
    #[tracing::instrument(skip_all, fields(topic = %request.name, servers = %self.servers))]
    pub async fn ensure(&self, request: &TopicRequest) -> Result<TopicOutcome, AdminError> {
        if let Some(found) = self.describe(&request.name).await? {
            return self.compare(request, found).await;
        }
        let new = NewTopic::new(
            &request.name,
            request.partitions,
            TopicReplication::Fixed(request.replication_factor.into()),
        );
        let new = request
            .config
            .iter()
            .fold(new, |t, (k, v)| t.set(k.as_str(), v.as_str()));
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = self
            .admin
            .create_topics([&new], &options)
            .await
            .map_err(|source| self.unreachable(source))?;
        for result in results {
            match result {
                Ok(_) => {}
                // Someone (another operator replica, a person) created it meanwhile.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    if let Some(found) = self.describe(&request.name).await? {
                        return self.compare(request, found).await;
                    }
                }
                Err((topic, code)) => {
                    return Err(AdminError::Create {
                        topic,
                        code: format!("{code:?}"),
                        message: code.to_string(),
                    });
                }
            }
        }
        // Creation returns before every broker's metadata cache knows the topic; wait until the
        // cluster reports it, so a client started right after does not find it missing.
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.describe(&request.name).await?.is_none() {
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!("topic created");
        Ok(TopicOutcome::Created)
    }

    /// Partition count and replication of an existing topic, `None` if it does not exist.
    pub async fn describe(&self, topic: &str) -> Result<Option<(i32, i32)>, AdminError> {
        let metadata = self.metadata(topic).await?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| {
                let replication = t.partitions().first().map_or(0, |p| p.replicas().len());
                (
                    i32::try_from(t.partitions().len()).unwrap_or(i32::MAX),
                    i32::try_from(replication).unwrap_or(i32::MAX),
                )
            }))
    }

    async fn metadata(&self, topic: &str) -> Result<Metadata, AdminError> {
        // librdkafka's metadata call blocks; keep it off the async runtime's threads.
        let client = self.metadata_client.clone();
        let timeout = self.timeout;
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || client.fetch_metadata(Some(&topic), timeout))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
            .map_err(|source| self.unreachable(source))
    }

    async fn compare(
        &self,
        request: &TopicRequest,
        (partitions, replication_factor): (i32, i32),
    ) -> Result<TopicOutcome, AdminError> {
        let mut differences = Vec::new();
        if partitions != request.partitions {
            differences.push(format!(
                "has {partitions} partitions, the spec asks for {}",
                request.partitions
            ));
        }
        if replication_factor != i32::from(request.replication_factor) {
            differences.push(format!(
                "has replication factor {replication_factor}, the spec asks for {}",
                request.replication_factor
            ));
        }
        if !request.config.is_empty() {
            let options = AdminOptions::new().request_timeout(Some(self.timeout));
            let described = self
                .admin
                .describe_configs([&ResourceSpecifier::Topic(&request.name)], &options)
                .await
                .map_err(|source| AdminError::Describe {
                    topic: request.name.clone(),
                    source,
                })?;
            let actual: BTreeMap<String, Option<String>> = described
                .into_iter()
                .flatten()
                .flat_map(|r| r.entries)
                .map(|e| (e.name, e.value))
                .collect();
            for (k, want) in &request.config {
                let have = actual.get(k).cloned().flatten();
                if have.as_deref() != Some(want.as_str()) {
                    differences.push(format!(
                        "config {k} is {}, the spec asks for {want}",
                        have.as_deref().unwrap_or("unset")
                    ));
                }
            }
        }
        Ok(TopicOutcome::Exists {
            partitions,
            replication_factor,
            differences,
        })
    }

    fn unreachable(&self, source: KafkaError) -> AdminError {
        // Log events wait in the client's queue until it is polled; this client consumes
        // nothing, so polling only serves them (into `LastError`). Bounded: each poll returns
        // early on an error event, and a broken cluster keeps making them.
        for _ in 0..64 {
            if self.metadata_client.poll(Duration::ZERO).is_none() {
                break;
            }
        }
        let last_client_error = self
            .metadata_client
            .context()
            .0
            .lock()
            .ok()
            .and_then(|l| l.as_deref().map(Box::from));
        AdminError::Unreachable {
            servers: self.servers.clone(),
            timeout: self.timeout,
            source: Box::new(source),
            last_client_error,
        }
    }
}
