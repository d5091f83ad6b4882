//! Producer and sink Deployments: hardened pods (non-root, read-only root filesystem, no
//! capabilities), secrets only through `secretKeyRef`, probes on the workers' metrics port.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use stockfeed_spec::Rendered;
use stockfeed_spec::feed::{FeedSpec, Resources};

use super::configmap::{PRODUCER_FILE, SINK_FILE};
use super::labels::{self, Component};
use super::service::{PRODUCER_METRICS_PORT, SINK_METRICS_PORT};
use super::{Ctx, OperatorDefaults, names};

/// Annotation on pod templates carrying the configuration hash.
pub const CONFIG_HASH: &str = "stockfeed.dev/config-hash";
/// Unprivileged uid/gid of the distroless `nonroot` user.
const NONROOT: i64 = 65532;
const CONFIG_DIR: &str = "/etc/stockfeed";

pub struct PodInputs<'a> {
    pub spec: &'a FeedSpec,
    pub rendered: &'a Rendered,
    pub defaults: &'a OperatorDefaults,
    pub service_account: &'a str,
    pub config_hash: &'a str,
}

/// Shard `shard` of the producer. `Recreate`, because two pods of one shard would fetch and
/// produce the same tickers twice during a rolling update.
pub fn producer(ctx: &Ctx<'_>, pods: &PodInputs<'_>, shard: i32) -> Deployment {
    let replicas = pods.spec.workers.producer.replicas;
    let mut selector = labels::selector(ctx.name, Component::Producer);
    selector.insert(labels::SHARD.into(), shard.to_string());
    let env = vec![
        plain_env("STOCKFEED_SHARD_INDEX", shard.to_string()),
        plain_env("STOCKFEED_SHARD_COUNT", replicas.to_string()),
    ];
    let mut metadata = ctx.metadata(names::producer(ctx.name, shard), Component::Producer);
    if let Some(l) = metadata.labels.as_mut() {
        l.insert(labels::SHARD.into(), shard.to_string());
    }
    workload(
        metadata,
        selector,
        if pods.spec.suspend { 0 } else { 1 },
        "Recreate",
        container(
            "producer",
            pods,
            vec![
                "produce".into(),
                "--config".into(),
                format!("{CONFIG_DIR}/{PRODUCER_FILE}"),
            ],
            PRODUCER_METRICS_PORT,
            env,
            pods.spec.workers.producer.resources.as_ref(),
        ),
        pods,
    )
}

/// The sink: replicas share the topic's partitions in one consumer group; a rolling update is
/// safe because its output names and offset commits make a zombie's writes harmless.
pub fn sink(ctx: &Ctx<'_>, pods: &PodInputs<'_>) -> Deployment {
    let replicas = if pods.spec.suspend {
        0
    } else {
        pods.spec.workers.sink.replicas
    };
    workload(
        ctx.metadata(names::sink(ctx.name), Component::Sink),
        labels::selector(ctx.name, Component::Sink),
        replicas,
        "RollingUpdate",
        container(
            "sink",
            pods,
            vec![
                "sink".into(),
                "--config".into(),
                format!("{CONFIG_DIR}/{SINK_FILE}"),
            ],
            SINK_METRICS_PORT,
            Vec::new(),
            pods.spec.workers.sink.resources.as_ref(),
        ),
        pods,
    )
}

fn workload(
    metadata: ObjectMeta,
    selector: BTreeMap<String, String>,
    replicas: i32,
    strategy: &str,
    container: Container,
    pods: &PodInputs<'_>,
) -> Deployment {
    let mut pod_labels = metadata.labels.clone().unwrap_or_default();
    pod_labels.extend(selector.clone());
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: metadata
                    .owner_references
                    .as_ref()
                    .and_then(|o| o.first())
                    .map(|o| names::config_map(&o.name))
                    .unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    // Each Secret file is a volume of its own holding just that key, mounted as a directory:
    // no subPath, so the kubelet can update it when the Secret is rotated, and no mount point
    // inside another read-only volume (kubernetes#61545: the container would not start).
    for (i, f) in pods.rendered.secret_files.iter().enumerate() {
        let file_name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.key.clone());
        volumes.push(Volume {
            name: format!("secret-file-{i}"),
            secret: Some(SecretVolumeSource {
                secret_name: Some(f.secret.clone()),
                default_mode: Some(0o440),
                items: Some(vec![KeyToPath {
                    key: f.key.clone(),
                    path: file_name,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    Deployment {
        metadata,
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some(strategy.into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH.to_owned(),
                        pods.config_hash.to_owned(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(pods.service_account.to_owned()),
                    // Workers never call the Kubernetes API.
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT),
                        run_as_group: Some(NONROOT),
                        fs_group: Some(NONROOT),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    // Long enough for the sink to write its open segments and commit on SIGTERM.
                    termination_grace_period_seconds: Some(60),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn container(
    name: &str,
    pods: &PodInputs<'_>,
    args: Vec<String>,
    port: i32,
    mut env: Vec<EnvVar>,
    resources: Option<&Resources>,
) -> Container {
    env.push(plain_env("RUST_LOG", "info".into()));
    for s in &pods.rendered.secret_env {
        env.push(EnvVar {
            name: s.var.to_owned(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: s.secret.clone(),
                    key: s.key.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let mut mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        },
    ];
    for (i, f) in pods.rendered.secret_files.iter().enumerate() {
        let dir = f.path.parent().unwrap_or(f.path.as_path());
        mounts.push(VolumeMount {
            name: format!("secret-file-{i}"),
            mount_path: dir.display().to_string(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Default::default()
    };
    Container {
        name: name.into(),
        image: Some(
            pods.spec
                .workers
                .image
                .clone()
                .unwrap_or_else(|| pods.defaults.worker_image.clone()),
        ),
        image_pull_policy: Some(pods.defaults.image_pull_policy.clone()),
        args: Some(args),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(probe("/healthz", 20)),
        readiness_probe: Some(probe("/readyz", 10)),
        resources: Some(resource_requirements(resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

/// Defaults sized from the worker benchmarks: a producer idles at a few MiB, a sink holds up to
/// its buffered-bytes cap (256 MiB by default) plus the Parquet encoder's working set.
fn resource_requirements(r: Option<&Resources>) -> ResourceRequirements {
    let r = r.cloned().unwrap_or_default();
    let q = |v: Option<String>, default: &str| Quantity(v.unwrap_or_else(|| default.into()));
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), q(r.cpu_request, "100m")),
            ("memory".into(), q(r.memory_request.clone(), "256Mi")),
        ])),
        limits: Some(
            [
                r.cpu_limit.map(|c| ("cpu".to_owned(), Quantity(c))),
                Some(("memory".to_owned(), q(r.memory_limit, "512Mi"))),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        ..Default::default()
    }
}

fn plain_env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use kube::api::ObjectMeta;
    use stockfeed_spec::{RenderContext, render};

    use crate::build::{OperatorDefaults, build};
    use crate::crd::StockFeed;

    const TLS_FEED: &str = "tickers: [AAPL]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9093', topic: t, security: {protocol: SSL, caSecretRef: {name: kafka-ca, key: ca.pem}}}\nsink: {url: 's3://lake/raw/'}\n";

    /// The Kafka CA reaches the container as a Secret volume of its own: never through subPath
    /// (no rotation, and kubernetes#61545), never inside the read-only configuration volume.
    #[test]
    fn secret_files_are_volumes_of_their_own_outside_the_config_directory() {
        let mut feed = StockFeed::new("tls", serde_yaml::from_str(TLS_FEED).unwrap());
        feed.metadata = ObjectMeta {
            name: Some("tls".into()),
            namespace: Some("ns".into()),
            uid: Some("u-1".into()),
            ..Default::default()
        };
        let rendered = render(feed.spec_feed(), &RenderContext::default()).unwrap();
        let children = build(&feed, &rendered, &OperatorDefaults::default()).unwrap();
        let pod = children.sink.spec.template.spec.unwrap();
        let container = &pod.containers[0];
        let mounts = container.volume_mounts.as_ref().unwrap();
        let ca = mounts
            .iter()
            .find(|m| m.name.starts_with("secret-file-"))
            .expect("a mount for the Kafka CA");
        assert_eq!(ca.sub_path, None, "{ca:?}");
        assert!(
            !ca.mount_path.starts_with(super::CONFIG_DIR),
            "the CA is mounted inside the config volume: {ca:?}"
        );
        let volume = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == ca.name)
            .unwrap();
        let items = volume.secret.unwrap().items.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].key, "ca.pem");
        // The file the worker's configuration names is where the volume puts the key.
        let ca_file = rendered.secret_files[0].path.clone();
        assert_eq!(
            std::path::Path::new(&ca.mount_path).join(&items[0].path),
            ca_file
        );
    }
}
