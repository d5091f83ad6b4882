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
use stockfeed_spec::render::Worker;

use super::configmap::{self, SINK_FILE, producer_file};
use super::labels::{self, Component};
use super::service::{PRODUCER_METRICS_PORT, SINK_METRICS_PORT};
use super::{Ctx, OperatorDefaults, SecretVersions, names};

/// Annotation on pod templates carrying the hash of what that pod's worker reads.
pub const CONFIG_HASH: &str = "stockfeed.dev/config-hash";
/// Unprivileged uid/gid of the distroless `nonroot` user.
const NONROOT: i64 = 65532;
const CONFIG_DIR: &str = "/etc/stockfeed";

pub struct PodInputs<'a> {
    pub spec: &'a FeedSpec,
    pub rendered: &'a Rendered,
    pub defaults: &'a OperatorDefaults,
    pub service_account: &'a str,
    pub config_map: &'a k8s_openapi::api::core::v1::ConfigMap,
    pub secret_versions: &'a SecretVersions,
    /// Some producer pod still exists (see [`sink`]).
    pub producers_running: bool,
}

/// The hash a Deployment's pods carry (see [`configmap::hash`]).
pub fn config_hash_of(d: &Deployment) -> Option<&str> {
    d.spec
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(CONFIG_HASH)
        .map(String::as_str)
}

/// Shard `shard` of the producer. `Recreate`, because two pods of one shard would fetch and
/// produce the same tickers twice during a rolling update. The shard's tickers are in its own
/// file; nothing in the pod names the shard count, so other shards' changes leave it alone.
pub fn producer(ctx: &Ctx<'_>, pods: &PodInputs<'_>, shard: u32) -> Deployment {
    let mut selector = labels::selector(ctx.name, Component::Producer);
    selector.insert(labels::SHARD.into(), shard.to_string());
    let mut metadata = ctx.metadata(names::producer(ctx.name, shard), Component::Producer);
    if let Some(l) = metadata.labels.as_mut() {
        l.insert(labels::SHARD.into(), shard.to_string());
    }
    let file = producer_file(shard);
    let hash = configmap::hash(
        pods.config_map,
        &file,
        pods.rendered,
        Worker::Producer,
        pods.secret_versions,
    );
    workload(
        metadata,
        selector,
        if pods.spec.suspend { 0 } else { 1 },
        "Recreate",
        container(
            Worker::Producer,
            pods,
            vec![
                "produce".into(),
                "--config".into(),
                format!("{CONFIG_DIR}/{file}"),
            ],
            PRODUCER_METRICS_PORT,
            pods.spec.workers.producer.resources.as_ref(),
        ),
        pods,
        &hash,
    )
}

/// The sink: replicas share the topic's partitions in one consumer group; a rolling update is
/// safe because its output names and offset commits make a zombie's writes harmless. On
/// suspend it stops only once no producer pod is left: stopping both at once let the
/// producers' last records land after the sink's last cut, left in Kafka until a resume.
pub fn sink(ctx: &Ctx<'_>, pods: &PodInputs<'_>) -> Deployment {
    let replicas = if pods.spec.suspend && !pods.producers_running {
        0
    } else {
        pods.spec.workers.sink.replicas
    };
    let hash = configmap::hash(
        pods.config_map,
        SINK_FILE,
        pods.rendered,
        Worker::Sink,
        pods.secret_versions,
    );
    workload(
        ctx.metadata(names::sink(ctx.name), Component::Sink),
        labels::selector(ctx.name, Component::Sink),
        replicas,
        "RollingUpdate",
        container(
            Worker::Sink,
            pods,
            vec![
                "sink".into(),
                "--config".into(),
                format!("{CONFIG_DIR}/{SINK_FILE}"),
            ],
            SINK_METRICS_PORT,
            pods.spec.workers.sink.resources.as_ref(),
        ),
        pods,
        &hash,
    )
}

fn workload(
    metadata: ObjectMeta,
    selector: BTreeMap<String, String>,
    replicas: i32,
    strategy: &str,
    container: Container,
    pods: &PodInputs<'_>,
    config_hash: &str,
) -> Deployment {
    let worker = if container.name == "sink" {
        Worker::Sink
    } else {
        Worker::Producer
    };
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
    for (i, f) in pods.rendered.secret_files_of(worker).enumerate() {
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
    let placement = pods.spec.workers.placement.or(&pods.defaults.placement);
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
                        config_hash.to_owned(),
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
                    image_pull_secrets: placement.image_pull_secrets,
                    node_selector: placement.node_selector,
                    tolerations: placement.tolerations,
                    affinity: placement.affinity,
                    priority_class_name: placement.priority_class_name,
                    topology_spread_constraints: placement.topology_spread_constraints,
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn container(
    worker: Worker,
    pods: &PodInputs<'_>,
    args: Vec<String>,
    port: i32,
    resources: Option<&Resources>,
) -> Container {
    let name = match worker {
        Worker::Producer => "producer",
        Worker::Sink => "sink",
    };
    let mut env = vec![plain_env("RUST_LOG", "info".into())];
    for s in pods.rendered.secret_env_of(worker) {
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
    for (i, f) in pods.rendered.secret_files_of(worker).enumerate() {
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
        resources: Some(resource_requirements(worker, resources)),
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

/// Defaults per worker, from the measurements in BENCHMARKS.md ("end to end": peak RSS at full
/// speed, producer 124–159 MiB, sink 288–301 MiB; sink bench: cap + up to ~250 MiB) with
/// headroom. The sink sizes its buffer cap to 40 % of its limit (`stockfeed_spec::sink::Memory`),
/// so 1 GiB gives a 410 MiB cap and a peak near 660 MiB. The chart's README states these.
fn resource_requirements(worker: Worker, r: Option<&Resources>) -> ResourceRequirements {
    let (memory_request, memory_limit) = match worker {
        Worker::Producer => ("192Mi", "512Mi"),
        Worker::Sink => ("512Mi", "1Gi"),
    };
    let r = r.cloned().unwrap_or_default();
    let q = |v: Option<String>, default: &str| Quantity(v.unwrap_or_else(|| default.into()));
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), q(r.cpu_request, "100m")),
            ("memory".into(), q(r.memory_request.clone(), memory_request)),
        ])),
        limits: Some(
            [
                r.cpu_limit.map(|c| ("cpu".to_owned(), Quantity(c))),
                Some(("memory".to_owned(), q(r.memory_limit, memory_limit))),
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

    fn stored(name: &str, yaml: &str) -> StockFeed {
        let mut feed = StockFeed::new(name, serde_yaml::from_str(yaml).unwrap());
        feed.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some("u-1".into()),
            ..Default::default()
        };
        feed
    }

    fn children_of(feed: &StockFeed, defaults: &OperatorDefaults) -> crate::build::Children {
        let rendered = render(feed.spec_feed(), &RenderContext::default()).unwrap();
        build(feed, &rendered, defaults, &Default::default(), false).unwrap()
    }

    fn env_names(d: &k8s_openapi::api::apps::v1::Deployment) -> Vec<String> {
        d.spec.template.spec.as_ref().unwrap().containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| e.name.clone())
            .collect()
    }

    /// A producer pod holds no lake keys, a sink pod no provider token; both hold Kafka's.
    #[test]
    fn each_container_gets_only_the_secrets_it_reads() {
        let feed = stored(
            "f",
            "tickers: [AAPL]\nsource: {provider: finnhub, credentialsSecretRef: {name: fh}}\nkafka: {bootstrapServers: 'k:9093', topic: t, security: {protocol: SASL_SSL, saslMechanism: SCRAM-SHA-512, saslSecretRef: {name: ku}, caSecretRef: {name: ca}}}\nsink: {url: 's3://lake/raw/', s3: {credentialsSecretRef: {name: lake}}}\n",
        );
        let c = children_of(&feed, &OperatorDefaults::default());
        let producer = env_names(&c.producers[0]);
        let sink = env_names(&c.sink);
        assert!(
            producer.contains(&"STOCKFEED_SOURCE_TOKEN".to_owned()),
            "{producer:?}"
        );
        assert!(
            !producer.iter().any(|e| e.starts_with("STOCKFEED_S3_")),
            "{producer:?}"
        );
        assert!(
            sink.contains(&"STOCKFEED_S3_ACCESS_KEY_ID".to_owned()),
            "{sink:?}"
        );
        assert!(
            !sink.contains(&"STOCKFEED_SOURCE_TOKEN".to_owned()),
            "{sink:?}"
        );
        for env in [&producer, &sink] {
            assert!(
                env.contains(&"STOCKFEED_KAFKA_PASSWORD".to_owned()),
                "{env:?}"
            );
        }
    }

    /// A shard's pod depends on its own tickers, not on the shard count: a count change rolls
    /// exactly the shards whose tickers moved (with balanced shards that is usually most of
    /// them; here, 5 tickers from 2 to 3 shards, one shard keeps its tickers) and never the
    /// sink.
    #[test]
    fn a_shard_count_change_rolls_only_the_shards_whose_tickers_moved() {
        let with = |tickers: &str, n: u32| {
            stored(
                "f",
                &format!(
                    "tickers: {tickers}\nsource: {{provider: synthetic}}\nkafka: {{bootstrapServers: 'k:9092', topic: t}}\nsink: {{url: 's3://lake/raw/'}}\nworkers: {{producer: {{replicas: {n}}}}}\n"
                ),
            )
        };
        let file = |c: &crate::build::Children, i: usize| {
            c.config_map.data.as_ref().unwrap()[&format!("producer-{i}.yaml")].clone()
        };
        let mut kept = 0;
        for tickers in [
            "[AAPL, MSFT, NVDA, IBM, ORCL]",
            "[AAPL, MSFT, NVDA, IBM, ORCL, AMD, INTC, CSCO]",
        ] {
            for n in 1..5 {
                let before = children_of(&with(tickers, n), &OperatorDefaults::default());
                let after = children_of(&with(tickers, n + 1), &OperatorDefaults::default());
                for i in 0..n as usize {
                    let same_tickers = file(&before, i) == file(&after, i);
                    let same_pod =
                        before.producers[i].spec.template == after.producers[i].spec.template;
                    assert_eq!(
                        same_tickers,
                        same_pod,
                        "{tickers}, shard {i} of {n} -> {}",
                        n + 1
                    );
                    kept += usize::from(same_pod);
                }
                assert_eq!(before.sink.spec.template, after.sink.spec.template);
            }
        }
        assert!(
            kept > 0,
            "no shard kept its tickers: the test shows nothing"
        );
    }

    /// Suspend stops the producers at once and the sink only once no producer pod is left.
    #[test]
    fn a_suspended_sink_waits_for_the_producers_to_be_gone() {
        let feed = stored(
            "f",
            "tickers: [AAPL]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 's3://lake/raw/'}\nsuspend: true\n",
        );
        let rendered = render(feed.spec_feed(), &RenderContext::default()).unwrap();
        let defaults = OperatorDefaults::default();
        let with =
            |running| build(&feed, &rendered, &defaults, &Default::default(), running).unwrap();
        let draining = with(true);
        assert_eq!(draining.producers[0].spec.replicas, Some(0));
        assert_eq!(draining.sink.spec.replicas, Some(1));
        assert_eq!(with(false).sink.spec.replicas, Some(0));
    }

    /// A StockFeed's placement replaces the operator's default per field, never merges inside one.
    #[test]
    fn placement_takes_each_field_from_the_spec_else_from_the_defaults() {
        let feed = stored(
            "f",
            "tickers: [AAPL]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 's3://lake/raw/'}\nworkers: {placement: {nodeSelector: {pool: feeds}, tolerations: []}}\n",
        );
        let defaults = OperatorDefaults {
            placement: serde_json::from_value(serde_json::json!({
                "nodeSelector": {"pool": "general"},
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "priorityClassName": "stockfeed",
                "imagePullSecrets": [{"name": "registry"}],
            }))
            .unwrap(),
            ..OperatorDefaults::default()
        };
        let c = children_of(&feed, &defaults);
        for d in c.producers.iter().chain(std::iter::once(&c.sink)) {
            let pod = d.spec.template.spec.as_ref().unwrap();
            assert_eq!(pod.node_selector.as_ref().unwrap()["pool"], "feeds");
            assert_eq!(pod.tolerations.as_deref(), Some(&[][..]));
            assert_eq!(pod.priority_class_name.as_deref(), Some("stockfeed"));
            assert_eq!(pod.image_pull_secrets.as_ref().unwrap()[0].name, "registry");
            assert_eq!(pod.affinity, None);
        }
    }

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
        let children = build(
            &feed,
            &rendered,
            &OperatorDefaults::default(),
            &Default::default(),
            false,
        )
        .unwrap();
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
