//! `stockfeed run`: one or more StockFeed manifests run on this machine, without Kubernetes.
//!
//! The same manifest the operator reconciles is validated and rendered by the same code
//! (`stockfeed_spec`), the topics are ensured through the same admin code, and the producer and
//! sink run in this process as tasks. Stopping is ordered so nothing produced is left unwritten:
//! the producer stops first, the sink then drains the topic (until its lag is zero or a bound
//! passes) and writes and commits what it holds before it stops.

pub mod progress;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use stockfeed_kafka::Connect;
use stockfeed_kafka::admin::{TopicAdmin, TopicOutcome, TopicRequest};
use stockfeed_producer::ProducerSettings;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::{Readiness, Summary, launch};
use stockfeed_sink::metrics::SinkMetrics;
use stockfeed_sink::{SinkReadiness, SinkSummary, run_sink};
use stockfeed_spec::{FeedManifest, RenderContext, Rendered, render};

/// A little more than the sink consumer's statistics interval (5 s), which reports lag.
const STATS_INTERVAL: Duration = Duration::from_secs(6);

/// How a local run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop the producers after this long (a finite source may end sooner).
    pub duration: Option<Duration>,
    /// After the producers stop, how long the sinks may take to drain the topic.
    pub drain_timeout: Duration,
    /// Print a progress line (on a terminal, updated in place).
    pub progress: bool,
    /// Bound on each Kafka admin request.
    pub kafka_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            duration: None,
            drain_timeout: Duration::from_secs(60),
            progress: true,
            kafka_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{feed}")]
    Spec {
        feed: String,
        #[source]
        source: stockfeed_spec::InvalidSpec,
    },
    #[error("{feed}: topic {topic}")]
    Topic {
        feed: String,
        topic: String,
        #[source]
        source: stockfeed_kafka::admin::AdminError,
    },
    #[error("{feed}: Kafka settings")]
    Kafka {
        feed: String,
        #[source]
        source: stockfeed_kafka::KafkaConfigError,
    },
    #[error("{feed}: producer")]
    Producer {
        feed: String,
        #[source]
        source: launch::LaunchError,
    },
    #[error("{feed}: sink")]
    Sink {
        feed: String,
        #[source]
        source: stockfeed_sink::SinkError,
    },
}

/// What one feed did.
#[derive(Debug, Clone, Default)]
pub struct FeedSummary {
    pub name: String,
    pub producer: Summary,
    pub sink: SinkSummary,
    /// Records the sink had not consumed when it was stopped (they stay in Kafka; a new run
    /// writes them, exactly once).
    pub left_in_kafka: i64,
}

struct Running {
    name: String,
    producer_metrics: Arc<ProducerMetrics>,
    sink_metrics: Arc<SinkMetrics>,
    partitions: i32,
}

/// Renders every manifest (all must be valid before anything starts), ensures their topics,
/// then runs them until `duration`, the end of their sources, or `shutdown`.
pub async fn run(
    manifests: &[FeedManifest],
    options: &RunOptions,
    shutdown: CancellationToken,
) -> Result<Vec<FeedSummary>, RunError> {
    let mut feeds = Vec::new();
    for m in manifests {
        let name = m.metadata.name.clone();
        let ctx = RenderContext {
            sink_group_id: Some(format!("stockfeed-run.{name}")),
            ..RenderContext::default()
        };
        let rendered = render(&m.spec, &ctx).map_err(|source| RunError::Spec {
            feed: name.clone(),
            source,
        })?;
        feeds.push((m, name, rendered));
    }
    for (m, name, rendered) in &feeds {
        ensure_topics(m, name, rendered, options.kafka_timeout).await?;
        ensure_catalog(m, name).await;
    }

    let producers_stop = shutdown.child_token();
    let sinks_stop = CancellationToken::new();
    let mut running = Vec::new();
    let mut producer_tasks = Vec::new();
    let mut sink_tasks = Vec::new();
    for (m, name, rendered) in feeds {
        let producer_metrics = Arc::new(ProducerMetrics::register(&mut Registry::default()));
        let sink_metrics = Arc::new(SinkMetrics::register(&mut Registry::default()));
        let sink_config = rendered.sink.clone();
        let (sm, stop, feed) = (sink_metrics.clone(), sinks_stop.clone(), name.clone());
        sink_tasks.push(tokio::spawn(async move {
            run_sink(sink_config, sm, Arc::new(SinkReadiness::default()), stop)
                .await
                .map_err(|source| RunError::Sink { feed, source })
        }));
        let producer_config = rendered.producer.clone();
        let (pm, stop, feed) = (
            producer_metrics.clone(),
            producers_stop.clone(),
            name.clone(),
        );
        producer_tasks.push(tokio::spawn(async move {
            launch::run(&producer_config, pm, Arc::new(Readiness::default()), stop)
                .await
                .map_err(|source| RunError::Producer { feed, source })
        }));
        running.push(Running {
            name,
            producer_metrics,
            sink_metrics,
            partitions: m.spec.kafka.partitions,
        });
    }
    let running = Arc::new(running);

    let reporter = options
        .progress
        .then(|| progress::spawn(running.clone(), sinks_stop.clone()));

    // Producers end on their own (finite sources), on --duration, or on Ctrl-C.
    if let Some(d) = options.duration {
        let stop = producers_stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.cancel();
        });
    }
    let mut summaries: Vec<FeedSummary> = running
        .iter()
        .map(|r| FeedSummary {
            name: r.name.clone(),
            ..FeedSummary::default()
        })
        .collect();
    let mut first_error = None;
    for (i, task) in producer_tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(s)) => summaries[i].producer = s,
            Ok(Err(e)) => {
                // One failed producer stops the run: the others would run unobserved.
                producers_stop.cancel();
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::error!(error = %e, "producer task panicked"),
        }
    }
    producers_stop.cancel();

    // Drain: wait until every sink has consumed what was produced, within the bound. Lag comes
    // from the consumer's statistics (every 5 s), so first wait for one fresh report.
    if first_error.is_none() {
        let deadline = tokio::time::Instant::now() + options.drain_timeout;
        tokio::time::sleep(STATS_INTERVAL.min(options.drain_timeout)).await;
        while tokio::time::Instant::now() < deadline && total_lag(&running) > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for (i, r) in running.iter().enumerate() {
        summaries[i].left_in_kafka = lag(r);
    }
    sinks_stop.cancel();
    for (i, task) in sink_tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(s)) => summaries[i].sink = s,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::error!(error = %e, "sink task panicked"),
        }
    }
    if let Some(r) = reporter {
        let _ = r.await;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(summaries),
    }
}

async fn ensure_topics(
    m: &FeedManifest,
    name: &str,
    rendered: &Rendered,
    timeout: Duration,
) -> Result<(), RunError> {
    let base = rendered
        .producer
        .kafka
        .connection
        .client_config()
        .map_err(|source| RunError::Kafka {
            feed: name.to_owned(),
            source,
        })?;
    let topic_err = |topic: &str| {
        let (feed, topic) = (name.to_owned(), topic.to_owned());
        move |source| RunError::Topic {
            feed,
            topic,
            source,
        }
    };
    let admin = TopicAdmin::new(&base, timeout).map_err(topic_err(&m.spec.kafka.topic))?;
    let main = TopicRequest {
        name: m.spec.kafka.topic.clone(),
        partitions: m.spec.kafka.partitions,
        replication_factor: m.spec.kafka.replication_factor,
        config: m.spec.kafka.topic_config.clone(),
    };
    let dlq = TopicRequest {
        name: rendered.producer.pipeline_options().dlq_topic,
        config: Default::default(),
        ..main.clone()
    };
    for request in [main, dlq] {
        match admin
            .ensure(&request)
            .await
            .map_err(topic_err(&request.name))?
        {
            TopicOutcome::Created => tracing::info!(topic = %request.name, "created topic"),
            TopicOutcome::Exists { differences, .. } if !differences.is_empty() => {
                tracing::warn!(topic = %request.name, differences = %differences.join("; "), "topic differs from the manifest; left as is");
            }
            TopicOutcome::Exists { .. } => {}
        }
    }
    Ok(())
}

/// The manifest's Glue catalog, for an s3:// lake, through the same code as the operator. A
/// local run without AWS access still runs: the failure is reported, not fatal.
async fn ensure_catalog(m: &FeedManifest, name: &str) {
    let Some(glue) = &m.spec.catalog.glue else {
        return;
    };
    if !m.spec.sink.url.starts_with("s3://") {
        tracing::info!(
            feed = name,
            "catalog.glue ignored for a file:// lake; query it with `stockfeed query`"
        );
        return;
    }
    let plan = stockfeed_record::lake::layout::PartitionBy::new(m.spec.sink.partition_by.clone())
        .map_err(|e| e.to_string())
        .and_then(|p| {
            stockfeed_catalog::CatalogPlan::new(
                glue,
                &m.spec.sink.url,
                m.spec.sink.format,
                &p,
                &format!("stockfeed-local-{name}"),
            )
            .map_err(|e| e.to_string())
        });
    let result = match plan {
        Ok(plan) => stockfeed_catalog::GlueCatalog::connect(glue)
            .await
            .ensure(&plan)
            .await
            .map(|o| o.summary())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) => tracing::info!(feed = name, %summary, "Glue catalog ensured"),
        Err(e) => {
            tracing::warn!(feed = name, error = %e, "Glue catalog not ensured; the pipeline runs without it");
            eprintln!("{name}: Glue catalog not ensured ({e}); running without it");
        }
    }
}

fn lag(r: &Running) -> i64 {
    (0..r.partitions)
        .map(|p| {
            r.sink_metrics
                .lag
                .get_or_create(&stockfeed_sink::metrics::PartitionLabels {
                    partition: p.to_string(),
                })
                .get()
        })
        .sum()
}

fn total_lag(running: &[Running]) -> i64 {
    running.iter().map(lag).sum()
}
