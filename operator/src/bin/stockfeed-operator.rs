//! `stockfeed-operator`: runs the StockFeed controller (with leader election) and serves
//! `/metrics`, `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use kube::api::{Api, ListParams};
use prometheus_client::registry::Registry;
use stockfeed_operator::build::OperatorDefaults;
use stockfeed_operator::crd::StockFeed;
use stockfeed_operator::leader::{LeaderElector, LeaseSettings};
use stockfeed_operator::metrics::Metrics;
use stockfeed_operator::reconcile::{self, Context, Settings};
use stockfeed_spec::feed::PodPlacement;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "stockfeed-operator",
    version,
    about = "Reconciles StockFeed resources"
)]
struct Args {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Worker image for StockFeeds that name none.
    #[arg(
        long,
        env = "STOCKFEED_WORKER_IMAGE",
        default_value = "ghcr.io/stockfeed/stockfeed-worker:latest"
    )]
    worker_image: String,
    #[arg(
        long,
        env = "STOCKFEED_WORKER_PULL_POLICY",
        default_value = "IfNotPresent"
    )]
    image_pull_policy: String,
    /// Scheduling of worker pods for the fields a StockFeed's spec.workers.placement leaves
    /// out, as JSON in that field's shape (the chart's `workerPlacement` values).
    #[arg(long, env = "STOCKFEED_WORKER_PLACEMENT", value_parser = parse_placement)]
    worker_placement: Option<PodPlacement>,
    /// Address of /metrics, /healthz and /readyz (`[::]` accepts IPv4 too).
    #[arg(long, default_value = "[::]:8080")]
    metrics_addr: SocketAddr,
    /// Elect a leader through a Lease, so several replicas can run (one reconciles).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    #[arg(long, default_value = "stockfeed-operator-leader")]
    lease_name: String,
    /// This replica's identity in the Lease and in events (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    lease_renew: Duration,
    /// Bound on each Kafka admin request.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    kafka_timeout: Duration,
    /// Re-check of healthy StockFeeds (drift in AWS sends no events).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    resync: Duration,
    /// First retry delay after a failure; doubles per failure up to --backoff-max.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    backoff_base: Duration,
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    backoff_max: Duration,
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    stockfeed_telemetry::init();
    let args = Args::parse();
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("stockfeed-operator-{}", std::process::id()));

    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let ready_check = {
        let ready = ready.clone();
        Arc::new(move || {
            if ready.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err("waiting for the StockFeed CRD".to_owned())
            }
        })
    };
    let (bound, server) = stockfeed_telemetry::server::serve(
        args.metrics_addr,
        Arc::new(registry),
        ready_check,
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot listen on {}", args.metrics_addr))?;
    tracing::info!(%bound, "serving /metrics, /healthz, /readyz");

    let client = Client::try_default()
        .await
        .context("cannot configure a Kubernetes client (in-cluster or KUBECONFIG)")?;
    check_crd(&client, args.namespace.as_deref()).await?;
    ready.store(true, Ordering::Relaxed);

    let elector = args.leader_elect.then(|| {
        LeaderElector::new(
            client.clone(),
            LeaseSettings {
                namespace: args.lease_namespace.clone(),
                name: args.lease_name.clone(),
                identity: identity.clone(),
                duration: args.lease_duration,
                renew: args.lease_renew,
            },
        )
    });
    if let Some(elector) = &elector {
        tokio::select! {
            r = elector.acquire() => r.context("leader election failed")?,
            () = shutdown.cancelled() => return Ok(()),
        }
    }
    metrics.leader.set(1);

    let settings = Settings {
        namespace: args.namespace,
        defaults: OperatorDefaults {
            worker_image: args.worker_image,
            image_pull_policy: args.image_pull_policy,
            placement: args.worker_placement.unwrap_or_default(),
        },
        kafka_timeout: args.kafka_timeout,
        resync: args.resync,
        backoff_base: args.backoff_base,
        backoff_max: args.backoff_max,
        concurrency: args.concurrency,
        instance: identity,
    };
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ctx = Arc::new(Context::new(client, settings, metrics.clone(), aws));
    let stop = shutdown.clone();
    let controller = tokio::spawn(reconcile::run(ctx, async move { stop.cancelled().await }));

    let lost_lease = async {
        match &elector {
            Some(e) => e.keep().await,
            None => std::future::pending().await,
        }
    };
    let exit = tokio::select! {
        () = lost_lease => {
            // Another replica may lead now: stop at once rather than reconcile alongside it.
            metrics.leader.set(0);
            shutdown.cancel();
            Err(anyhow::anyhow!("lost the leader lease; exiting so a restart rejoins the election"))
        }
        () = shutdown.cancelled() => Ok(()),
    };
    let _ = controller.await;
    let _ = server.await;
    exit
}

/// Fails at once, with what to do, when the CRD is not installed or not readable.
async fn check_crd(client: &Client, namespace: Option<&str>) -> anyhow::Result<()> {
    let api: Api<StockFeed> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(anyhow::anyhow!(
            "the StockFeed CRD is not installed; run `kubectl apply -f crds/stockfeed.yaml`"
        )),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(anyhow::anyhow!(
            "not allowed to list StockFeeds ({}); check the operator's RBAC",
            e.message
        )),
        Err(e) => Err(e).context("cannot reach the Kubernetes API server"),
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            } else {
                let _ = ctrl_c.await;
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}

fn parse_placement(text: &str) -> Result<PodPlacement, String> {
    serde_json::from_str(text).map_err(|e| {
        format!("not a spec.workers.placement object (nodeSelector, tolerations, affinity, imagePullSecrets, priorityClassName, topologySpreadConstraints): {e}")
    })
}
