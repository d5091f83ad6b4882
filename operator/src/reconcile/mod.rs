//! The StockFeed controller.
//!
//! One reconcile goes: validate and render the spec (worker library) → check referenced
//! Secrets → ensure the Kafka topics → build the children (pure, `crate::build`) → apply them
//! with server-side apply and delete orphans → ensure the Glue catalog → derive conditions from
//! what was observed → write the status and publish events for what changed.
//!
//! External resources (Glue) are removed by a finalizer; owned Kubernetes objects are removed by
//! the garbage collector through their controller owner references. Failures the user can fix
//! (missing Secret, unreachable broker, AWS access denied) are reported in conditions and
//! retried with a per-object backoff; they are not errors of the controller.

pub mod backoff;
pub mod catalog;
pub mod children;
pub mod error;
pub mod feed;
pub mod pods;
pub mod secrets;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tracing::Instrument;

pub use error::Error;

use crate::build::OperatorDefaults;
use crate::build::labels;
use crate::crd::StockFeed;
use crate::metrics::Metrics;

/// Name of the finalizer guarding the Glue catalog and, with `kafka.deletionPolicy: Delete`, the
/// topics (the name predates the topics; kept so stored objects need no migration).
pub const FINALIZER: &str = "stockfeed.dev/catalog-cleanup";

/// How the controller runs; filled from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or every namespace when `None`.
    pub namespace: Option<String>,
    pub defaults: OperatorDefaults,
    /// Bound on each Kafka admin request.
    pub kafka_timeout: Duration,
    /// Re-check of a healthy StockFeed (catches drift in AWS, which sends no watch events).
    pub resync: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Reconciles run at once.
    pub concurrency: u16,
    /// Identity in events.
    pub instance: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: None,
            defaults: OperatorDefaults::default(),
            kafka_timeout: Duration::from_secs(10),
            resync: Duration::from_secs(300),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            concurrency: 8,
            instance: "stockfeed-operator".into(),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub backoff: backoff::Backoff,
    /// AWS settings from the default chain (IRSA in EKS), loaded once at start-up.
    pub aws: aws_config::SdkConfig,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        aws: aws_config::SdkConfig,
    ) -> Self {
        let reporter = Reporter {
            controller: "stockfeed-operator".into(),
            instance: Some(settings.instance.clone()),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            backoff: backoff::Backoff::new(settings.backoff_base, settings.backoff_max),
            client,
            settings,
            metrics,
            aws,
        }
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = ctx.settings.namespace.clone();
    let ns = ns.as_deref();
    // Watch only our own children, so the cache never holds every Deployment of the cluster.
    let owned = watcher::Config::default().labels(&labels::managed_selector());
    let config = kube::runtime::controller::Config::default().concurrency(ctx.settings.concurrency);
    Controller::new(api::<StockFeed>(&client, ns), watcher::Config::default())
        .with_config(config)
        .owns(api::<Deployment>(&client, ns), owned.clone())
        .owns(api::<ConfigMap>(&client, ns), owned.clone())
        .owns(api::<ServiceAccount>(&client, ns), owned.clone())
        .owns(api::<Service>(&client, ns), owned.clone())
        // Pods belong to ReplicaSets, not to the StockFeed: found by the instance label, so a
        // container that cannot start shows on the StockFeed as soon as the kubelet says so.
        .watches(api::<Pod>(&client, ns), owned, |pod: Pod| {
            let ns = pod.namespace();
            pod.labels()
                .get(labels::INSTANCE)
                .cloned()
                .zip(ns)
                .map(|(name, ns)| ObjectRef::<StockFeed>::new(&name).within(&ns))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(object = %object.name, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
}

async fn reconcile(feed: Arc<StockFeed>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_timer();
    ctx.metrics.reconciled();
    let ns = feed.namespace().unwrap_or_default();
    let api: Api<StockFeed> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %feed.name_any());
    kube::runtime::finalizer(&api, FINALIZER, feed, |event| async {
        match event {
            kube::runtime::finalizer::Event::Apply(feed) => feed::apply(&feed, &ctx).await,
            kube::runtime::finalizer::Event::Cleanup(feed) => feed::cleanup(&feed, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(feed: Arc<StockFeed>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.metric_label());
    let delay = ctx.backoff.failed(&feed.uid().unwrap_or_default());
    tracing::warn!(name = %feed.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
