//! Pure functions from a validated StockFeed to the Kubernetes objects that run it.
//!
//! Nothing here talks to the API server, so every object can be checked with plain asserts.
//! Objects are built from explicit fields only (never from something read back from the
//! cluster), which is what server-side apply needs to own exactly the fields we set.

pub mod configmap;
pub mod deployment;
pub mod labels;
pub mod service;
pub mod service_account;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

use stockfeed_spec::Rendered;
use stockfeed_spec::feed::PodPlacement;

use crate::crd::StockFeed;

/// Settings that come from how the operator was installed, not from the StockFeed.
#[derive(Debug, Clone)]
pub struct OperatorDefaults {
    /// Worker image when the StockFeed names none.
    pub worker_image: String,
    pub image_pull_policy: String,
    /// Scheduling of worker pods for fields a StockFeed leaves out (chart `workerPlacement`).
    pub placement: PodPlacement,
}

impl Default for OperatorDefaults {
    fn default() -> Self {
        OperatorDefaults {
            worker_image: "ghcr.io/stockfeed/stockfeed-worker:latest".into(),
            image_pull_policy: "IfNotPresent".into(),
            placement: PodPlacement::default(),
        }
    }
}

/// `resourceVersion` of each referenced Secret, by name. A pod template carries a hash of the
/// versions of the Secrets its container reads, so rotating a Secret restarts exactly the pods
/// that read it (environment variables are read once, at start).
pub type SecretVersions = BTreeMap<String, String>;

/// Every object the operator keeps in the StockFeed's namespace.
#[derive(Debug, Clone)]
pub struct Children {
    pub config_map: ConfigMap,
    /// `None` when the StockFeed names its own ServiceAccount.
    pub service_account: Option<ServiceAccount>,
    /// One Deployment per producer shard: a shard is an index into the ticker list, which a
    /// Deployment's interchangeable pods could not carry.
    pub producers: Vec<Deployment>,
    pub sink: Deployment,
    pub metrics_service: Service,
    /// Hash of everything the workers read (files, Secret references and versions): one value
    /// for the status. Each pod template carries its own role's hash.
    pub config_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("StockFeed has no namespace or uid yet")]
    NotStored,
    #[error("cannot render the worker configuration as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("cannot write the file of a producer shard: {0}")]
    Shard(#[from] stockfeed_spec::render::ShardFileError),
}

/// Builds every child of `feed` from its rendered worker configuration. `producers_running`:
/// some producer pod of the feed still exists (a suspended feed's sink keeps running until none
/// does, so it writes every record the producers flushed on their way out).
pub fn build(
    feed: &StockFeed,
    rendered: &Rendered,
    defaults: &OperatorDefaults,
    secret_versions: &SecretVersions,
    producers_running: bool,
) -> Result<Children, BuildError> {
    let owner = feed
        .controller_owner_ref(&())
        .ok_or(BuildError::NotStored)?;
    let namespace = feed.namespace().ok_or(BuildError::NotStored)?;
    let name = feed.name_any();
    let ctx = Ctx {
        name: &name,
        namespace: &namespace,
        owner,
    };
    let spec = feed.spec_feed();
    let shards = u32::try_from(spec.workers.producer.replicas.max(1)).unwrap_or(1);
    let config_map = configmap::build(&ctx, rendered, shards)?;
    let service_account = match &spec.workers.service_account_name {
        Some(_) => None,
        None => Some(service_account::build(&ctx, &spec.workers)),
    };
    let sa_name = spec
        .workers
        .service_account_name
        .clone()
        .unwrap_or_else(|| names::service_account(&name));
    let pods = deployment::PodInputs {
        spec,
        rendered,
        defaults,
        service_account: &sa_name,
        config_map: &config_map,
        secret_versions,
        producers_running,
    };
    let producers: Vec<Deployment> = (0..shards)
        .map(|shard| deployment::producer(&ctx, &pods, shard))
        .collect();
    let sink = deployment::sink(&ctx, &pods);
    let metrics_service = service::build(&ctx);
    let config_hash = configmap::combined_hash(
        producers
            .iter()
            .chain(std::iter::once(&sink))
            .filter_map(deployment::config_hash_of),
    );
    Ok(Children {
        config_map,
        service_account,
        producers,
        sink,
        metrics_service,
        config_hash,
    })
}

/// What every builder needs about the owning StockFeed.
pub struct Ctx<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
}

impl Ctx<'_> {
    pub fn metadata(
        &self,
        name: String,
        component: labels::Component,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.to_owned()),
            labels: Some(labels::labels(self.name, component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }
}

/// Child names, derived from the StockFeed's name so they are stable and discoverable.
pub mod names {
    pub fn config_map(feed: &str) -> String {
        format!("{feed}-config")
    }
    pub fn service_account(feed: &str) -> String {
        format!("{feed}-workers")
    }
    pub fn producer(feed: &str, shard: u32) -> String {
        format!("{feed}-producer-{shard}")
    }
    pub fn sink(feed: &str) -> String {
        format!("{feed}-sink")
    }
    pub fn metrics_service(feed: &str) -> String {
        format!("{feed}-metrics")
    }
    /// Sink consumer group: one per StockFeed, so two feeds on one topic each get every record.
    pub fn sink_group(namespace: &str, feed: &str) -> String {
        format!("stockfeed-sink.{namespace}.{feed}")
    }
    /// Glue crawler: unique per namespace and name, within Glue's 255-character limit.
    pub fn crawler(namespace: &str, feed: &str) -> String {
        let name = format!("stockfeed-{namespace}-{feed}");
        if name.len() <= 255 {
            name
        } else {
            let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
            format!("{}-{hash:016x}", &name[..200])
        }
    }
}
