//! The Helm chart installed into the real API server (`hack/kube.sh`), and the operator run
//! under the identity the chart gives it.
//!
//! The control plane has no kubelet, so the chart's operator pod never runs. Instead the real
//! `stockfeed-operator` binary runs here with the installed Deployment's own arguments and
//! environment, authenticated by a TokenRequest token of the chart's ServiceAccount, which is
//! what the pod would get. It then reconciles a StockFeed end to end (children, topic on the
//! real Kafka broker, status, finalizer, events, shard deletion, Lease), which proves the RBAC
//! suffices; the same identity is then refused everything outside the rules, and a
//! SelfSubjectRulesReview shows exactly the rules the chart documents, which proves it is not
//! wider.
//!
//! Needs `STOCKFEED_HELM`, the control plane and Kafka (`hack/services.sh up`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chart::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use stockfeed_operator::crd::StockFeed;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// A Helm release in its own namespace, uninstalled (and the namespace deleted) when dropped.
struct Release {
    name: String,
    namespace: String,
}

impl Release {
    fn install(prefix: &str, sets: &[String]) -> Release {
        let namespace = namespace(prefix);
        let name = namespace.clone();
        let kubeconfig = kubeconfig();
        let mut args = vec![
            "install",
            name.as_str(),
            CHART,
            "--namespace",
            namespace.as_str(),
            "--kubeconfig",
            kubeconfig.as_str(),
            "--timeout",
            "2m",
        ];
        for s in sets {
            args.extend(["--set", s.as_str()]);
        }
        let out = helm_ok(&args);
        assert!(out.contains("STATUS: deployed"), "{out}");
        // NOTES.txt tells the user what to apply next.
        assert!(out.contains("kubectl apply -f my-feed.yaml"), "{out}");
        kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/stockfeeds.stockfeed.dev",
            ],
            None,
        );
        Release { name, namespace }
    }

    /// Full name of the chart's objects (`<release>-stockfeed-operator`).
    fn fullname(&self) -> String {
        format!("{}-stockfeed-operator", self.name)
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let kubeconfig = kubeconfig();
        let _ = helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--kubeconfig",
            &kubeconfig,
        ]);
        let _ = kubectl(
            &["delete", "namespace", &self.namespace, "--wait=false"],
            None,
        );
    }
}

/// A namespace deleted when dropped, also when the test fails halfway.
struct TestNamespace(String);

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.0, "--wait=false"], None);
    }
}

/// A kubeconfig that authenticates as the chart's ServiceAccount with a TokenRequest token,
/// the way the operator pod's projected token would.
fn identity_kubeconfig(dir: &Path, namespace: &str, service_account: &str) -> PathBuf {
    let token = kubectl_ok(
        &[
            "create",
            "token",
            service_account,
            "--namespace",
            namespace,
            "--duration=1h",
        ],
        None,
    );
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig()).unwrap()).unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stockfeed", "cluster": {
            "server": cluster["server"].as_str().unwrap(),
            "certificate-authority-data": cluster["certificate-authority-data"].as_str().unwrap(),
        }}],
        "users": [{"name": service_account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "operator", "context": {"cluster": "stockfeed", "user": service_account, "namespace": namespace}}],
        "current-context": "operator",
    });
    let path = dir.join("operator.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

async fn client_from(path: &Path) -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(path).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

/// The `stockfeed-operator` binary, run as the installed Deployment's container would be.
struct OperatorProcess {
    child: Child,
    log: PathBuf,
    port: u16,
    pod_name: String,
}

impl OperatorProcess {
    async fn start(admin: &Client, release: &Release, kubeconfig: &Path, dir: &Path) -> Self {
        let deployment = Api::<Deployment>::namespaced(admin.clone(), &release.namespace)
            .get(&release.fullname())
            .await
            .unwrap();
        let container = deployment.spec.template.spec.unwrap().containers[0].clone();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pod_name = format!("{}-5d4f8c7b9-x2x7q", release.fullname());
        let args: Vec<String> = container
            .args
            .unwrap()
            .into_iter()
            .map(|a| {
                if a.starts_with("--metrics-addr=") {
                    format!("--metrics-addr=127.0.0.1:{port}")
                } else {
                    a
                }
            })
            .collect();
        let log = dir.join("operator.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stockfeed-operator"));
        cmd.args(&args)
            .env("KUBECONFIG", kubeconfig)
            // No AWS calls happen (no catalog in the test feeds); keep the SDK's region and
            // credential lookups off the network and away from the developer's profile.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for name in ["WATCH_NAMESPACE", "POD_NAMESPACE", "POD_NAME", "RUST_LOG"] {
            cmd.env_remove(name);
        }
        for e in container.env.unwrap() {
            let value = match (e.value, e.value_from) {
                (Some(v), _) => v,
                (None, Some(from)) => match from.field_ref.unwrap().field_path.as_str() {
                    "metadata.namespace" => release.namespace.clone(),
                    "metadata.name" => pod_name.clone(),
                    other => panic!("unexpected fieldRef {other} in the chart's env"),
                },
                (None, None) => String::new(),
            };
            cmd.env(e.name, value);
        }
        let child = cmd.spawn().unwrap();
        let mut process = OperatorProcess {
            child,
            log,
            port,
            pod_name,
        };
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            process.assert_alive();
            if process
                .get("/readyz")
                .is_some_and(|b| b.starts_with("ready"))
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the operator was not ready within {WAIT:?}:\n{}",
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        process
    }

    /// The body of `path` on the operator's metrics server, when it answers 2xx.
    fn get(&self, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let out = Command::new("curl")
            .args(["-sf", "-m", "2", &url])
            .output()
            .expect("curl runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn metrics(&self) -> String {
        self.get("/metrics").expect("/metrics answers")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the operator exited ({status}) under the chart's identity:\n{}",
                self.log_text()
            );
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`; on timeout fails with the operator's log, which says
/// what the API server refused.
async fn within<T, F, Fut>(operator: &OperatorProcess, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}; operator log:\n{}",
            operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn feed_manifest(name: &str, topic: &str, producers: i32) -> String {
    format!(
        r#"
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {{name: {name}}}
spec:
  tickers: [AAPL, MSFT, IBM]
  source: {{provider: synthetic, settings: {{rate: 10}}}}
  kafka: {{bootstrapServers: "{kafka}", topic: {topic}, partitions: 2, replicationFactor: 1}}
  sink:
    url: "s3://lake/raw/{name}/"
    format: parquet
    s3: {{endpoint: "http://s3.stockfeed.invalid:9000", forcePathStyle: true, credentialsSecretRef: {{name: lake-keys}}}}
  workers: {{producer: {{replicas: {producers}}}, sink: {{replicas: 1}}}}
"#,
        kafka = kafka_bootstrap()
    )
}

fn condition(feed: &StockFeed, type_: &str) -> Option<(String, String)> {
    feed.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

async fn wait_condition(
    operator: &OperatorProcess,
    api: &Api<StockFeed>,
    name: &str,
    type_: &str,
    want: impl Fn(&(String, String)) -> bool,
) -> (String, String) {
    within(operator, &format!("{type_} on {name}"), || async {
        condition(&api.get_opt(name).await.ok()??, type_).filter(|c| want(c))
    })
    .await
}

/// Writes `available` into a Deployment's status, as the deployment controller would.
async fn mark_available(admin: &Client, ns: &str, name: &str) {
    let body = serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}});
    Api::<Deployment>::namespaced(admin.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .unwrap();
}

fn create_lake_secret(ns: &str) {
    kubectl_ok(
        &[
            "create",
            "secret",
            "generic",
            "lake-keys",
            "-n",
            ns,
            "--from-literal=accessKeyId=test",
            "--from-literal=secretAccessKey=test-secret",
        ],
        None,
    );
}

/// The identity's permissions in `ns` as the API server computes them.
async fn rules_review(identity: &Client, ns: &str) -> BTreeSet<Grant> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(ns.to_owned()),
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectRulesReview>::all(identity.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    let status = answer.status.unwrap();
    assert!(!status.incomplete, "{:?}", status.evaluation_error);
    grants(&serde_json::to_value(&status.resource_rules).unwrap())
}

/// What the chart's identity may do in `ns` beyond what every ServiceAccount may do (the
/// namespace's `default` ServiceAccount, bound to nothing, is the baseline: self reviews,
/// reading ClusterTrustBundles, ...).
async fn granted(identity: &Client, baseline: &Client, ns: &str) -> BTreeSet<Grant> {
    let everyone = rules_review(baseline, ns).await;
    rules_review(identity, ns)
        .await
        .difference(&everyone)
        .cloned()
        .collect()
}

/// A client for the release namespace's `default` ServiceAccount.
async fn baseline_client(dir: &Path, ns: &str) -> Client {
    eventually("the default ServiceAccount", WAIT, || async {
        kubectl(&["get", "serviceaccount", "default", "-n", ns], None)
            .status
            .success()
            .then_some(())
    })
    .await;
    let sub = dir.join("baseline");
    std::fs::create_dir_all(&sub).unwrap();
    client_from(&identity_kubeconfig(&sub, ns, "default")).await
}

fn forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden under the chart's identity, got {other:?}"),
    }
}

/// Children of `feed` in `ns`, each controlled by the StockFeed.
async fn assert_children(admin: &Client, ns: &str, feed: &str, uid: &str, producers: i32) {
    let mut owners = Vec::new();
    for shard in 0..producers {
        let d = Api::<Deployment>::namespaced(admin.clone(), ns)
            .get(&format!("{feed}-producer-{shard}"))
            .await
            .unwrap();
        owners.push(d.owner_references().to_vec());
    }
    owners.push(
        Api::<Deployment>::namespaced(admin.clone(), ns)
            .get(&format!("{feed}-sink"))
            .await
            .unwrap()
            .owner_references()
            .to_vec(),
    );
    owners.push(
        Api::<ConfigMap>::namespaced(admin.clone(), ns)
            .get(&format!("{feed}-config"))
            .await
            .unwrap()
            .owner_references()
            .to_vec(),
    );
    owners.push(
        Api::<ServiceAccount>::namespaced(admin.clone(), ns)
            .get(&format!("{feed}-workers"))
            .await
            .unwrap()
            .owner_references()
            .to_vec(),
    );
    owners.push(
        Api::<Service>::namespaced(admin.clone(), ns)
            .get(&format!("{feed}-metrics"))
            .await
            .unwrap()
            .owner_references()
            .to_vec(),
    );
    for refs in owners {
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].uid, uid);
        assert_eq!(refs[0].controller, Some(true));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_install_reconciles_under_its_identity_and_nothing_more() {
    let admin = client().await;
    let feed_ns = namespace("sf-helm-feeds");
    let _feed_ns_guard = TestNamespace(feed_ns.clone());
    // The operator is confined to the test's namespace with --namespace (an extra flag the
    // chart passes through), so it never touches other tests' StockFeeds; the RBAC under test
    // is still the cluster-wide ClusterRole, and the all-namespaces list and watch it grants
    // are exercised directly below.
    let release = Release::install(
        "sf-helm-cluster",
        &[
            "workerImage.repository=registry.test/stockfeed-worker".into(),
            "workerImage.tag=e2e-7".into(),
            "workerImage.pullPolicy=Always".into(),
            "leaderElection.leaseDuration=4s".into(),
            "leaderElection.renewInterval=1s".into(),
            "operator.kafkaTimeout=5s".into(),
            "operator.backoffBase=500ms".into(),
            "operator.backoffMax=5s".into(),
            format!("operator.extraArgs={{--namespace={feed_ns}}}"),
            "operator.logLevel=info".into(),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let sa_name = release.fullname();
    let identity_path = identity_kubeconfig(dir.path(), &release.namespace, &sa_name);
    let identity = client_from(&identity_path).await;
    let baseline = baseline_client(dir.path(), &release.namespace).await;

    // Not wider: exactly the documented rules, here and in the operator's own namespace.
    assert_eq!(
        granted(&identity, &baseline, &feed_ns).await,
        reconcile_grants()
    );
    let mut own = reconcile_grants();
    own.extend(lease_grants("stockfeed-operator-leader"));
    assert_eq!(granted(&identity, &baseline, &release.namespace).await, own);
    // And the API server refuses what the rules leave out.
    create_lake_secret(&feed_ns);
    forbidden(
        "list Secrets",
        Api::<Secret>::namespaced(identity.clone(), &feed_ns)
            .list(&ListParams::default())
            .await,
    );
    forbidden(
        "delete a namespace",
        Api::<Namespace>::all(identity.clone())
            .delete(&feed_ns, &DeleteParams::default())
            .await,
    );
    let role: ClusterRole = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{}-escalate", release.name)},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    }))
    .unwrap();
    forbidden(
        "create a ClusterRole",
        Api::<ClusterRole>::all(identity.clone())
            .create(&PostParams::default(), &role)
            .await,
    );
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "escalate"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": release.namespace}]
    }))
    .unwrap();
    forbidden(
        "bind cluster-admin",
        Api::<RoleBinding>::namespaced(identity.clone(), &feed_ns)
            .create(&PostParams::default(), &binding)
            .await,
    );
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shell"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    forbidden(
        "create a Pod",
        Api::<Pod>::namespaced(identity.clone(), &feed_ns)
            .create(&PostParams::default(), &pod)
            .await,
    );
    forbidden(
        "delete StockFeeds",
        Api::<StockFeed>::namespaced(identity.clone(), &feed_ns)
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    forbidden(
        "read another Lease",
        Api::<Lease>::namespaced(identity.clone(), &release.namespace)
            .get("someone-elses-lease")
            .await,
    );
    // The one Secret permission: a lookup by name (the operator keeps only key names and the
    // resourceVersion).
    assert!(
        Api::<Secret>::namespaced(identity.clone(), &feed_ns)
            .get("lake-keys")
            .await
            .is_ok()
    );
    // What a cluster-wide operator does first: list and watch StockFeeds in every namespace.
    Api::<StockFeed>::all(identity.clone())
        .list(&ListParams::default().limit(1))
        .await
        .expect("cluster-wide list of StockFeeds");
    // An error status (403) comes back before the stream starts; the stream itself is unused.
    let _watch = Api::<StockFeed>::all(identity.clone())
        .watch(&kube::api::WatchParams::default().timeout(1), "0")
        .await
        .expect("cluster-wide watch of StockFeeds");

    // Sufficient: the operator, as the chart runs it, under that identity.
    let mut operator = OperatorProcess::start(&admin, &release, &identity_path, dir.path()).await;
    let topic = format!("{feed_ns}.quotes");
    apply_as_user(&feed_ns, &feed_manifest("quotes", &topic, 2));
    let feeds: Api<StockFeed> = Api::namespaced(admin.clone(), &feed_ns);
    wait_condition(&operator, &feeds, "quotes", "TopicReady", |c| c.0 == "True").await;
    // The Secret lookup worked: the producer waits for its pods, not for a Secret.
    let (_, reason) = wait_condition(&operator, &feeds, "quotes", "ProducerAvailable", |c| {
        !c.1.is_empty()
    })
    .await;
    assert_eq!(reason, "Progressing");
    // A feed whose producer Secret lacks its key: the operator holds the producer back and
    // still reports (and makes the sink), under the same identity.
    let no_key = feed_manifest("nokey", &format!("{feed_ns}.nokey"), 1).replace(
        "{provider: synthetic, settings: {rate: 10}}",
        "{provider: finnhub, credentialsSecretRef: {name: lake-keys}}",
    );
    apply_as_user(&feed_ns, &no_key);
    let (_, reason) = wait_condition(&operator, &feeds, "nokey", "ProducerAvailable", |c| {
        !c.1.is_empty()
    })
    .await;
    assert_eq!(reason, "SecretKeyMissing");
    let feed = feeds.get("quotes").await.unwrap();
    let uid = feed.uid().unwrap();
    assert!(
        feed.finalizers()
            .iter()
            .any(|f| f == "stockfeed.dev/catalog-cleanup"),
        "finalizer added"
    );
    assert_children(&admin, &feed_ns, "quotes", &uid, 2).await;
    // The worker image is the chart's, passed through STOCKFEED_WORKER_IMAGE.
    let sink = Api::<Deployment>::namespaced(admin.clone(), &feed_ns)
        .get("quotes-sink")
        .await
        .unwrap();
    let worker = &sink.spec.template.spec.unwrap().containers[0];
    assert_eq!(
        worker.image.as_deref(),
        Some("registry.test/stockfeed-worker:e2e-7")
    );
    assert_eq!(worker.image_pull_policy.as_deref(), Some("Always"));

    // Ready once the workers are available (the deployment controller's part, done here).
    for d in ["quotes-producer-0", "quotes-producer-1", "quotes-sink"] {
        mark_available(&admin, &feed_ns, d).await;
    }
    wait_condition(&operator, &feeds, "quotes", "Ready", |c| c.0 == "True").await;

    // Scaling down deletes a shard.
    apply_as_user(&feed_ns, &feed_manifest("quotes", &topic, 1));
    within(&operator, "shard 1 deleted", || async {
        Api::<Deployment>::namespaced(admin.clone(), &feed_ns)
            .get_opt("quotes-producer-1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // Events, as events.k8s.io/v1, from the operator.
    let reasons: BTreeSet<String> = within(&operator, "events", || async {
        let events = Api::<Event>::namespaced(admin.clone(), &feed_ns)
            .list(&ListParams::default())
            .await
            .ok()?;
        let reasons: BTreeSet<String> = events
            .items
            .into_iter()
            .filter(|e| e.reporting_controller.as_deref() == Some("stockfeed-operator"))
            .filter_map(|e| e.reason)
            .collect();
        reasons.contains("ShardRemoved").then_some(reasons)
    })
    .await;
    assert!(reasons.contains("TopicCreated"), "{reasons:?}");

    // The Lease in the operator's namespace, held by the pod name the chart passes.
    let lease = Api::<Lease>::namespaced(admin.clone(), &release.namespace)
        .get("stockfeed-operator-leader")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(operator.pod_name.as_str())
    );

    // Deletion: the finalizer is released by the operator.
    feeds
        .delete("quotes", &DeleteParams::default())
        .await
        .unwrap();
    within(&operator, "StockFeed deleted", || async {
        feeds.get_opt("quotes").await.ok()?.is_none().then_some(())
    })
    .await;
    feeds
        .delete("nokey", &DeleteParams::default())
        .await
        .unwrap();
    within(&operator, "StockFeed nokey deleted", || async {
        feeds.get_opt("nokey").await.ok()?.is_none().then_some(())
    })
    .await;

    operator.assert_alive();
    let metrics = operator.metrics();
    assert!(metrics.contains("stockfeed_operator_leader 1"), "{metrics}");
    // Every refusal by the API server is logged with its message ("... is forbidden: User
    // ... cannot ..."), whether it failed a reconcile or only an event.
    let log = operator.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_install_is_confined_to_its_namespace() {
    let admin = client().await;
    let release = Release::install(
        "sf-helm-ns",
        &[
            "watch.scope=namespace".into(),
            "leaderElection.leaseName=markets-leader".into(),
            "leaderElection.leaseDuration=4s".into(),
            "leaderElection.renewInterval=1s".into(),
            "operator.kafkaTimeout=5s".into(),
            "operator.backoffBase=500ms".into(),
            "operator.backoffMax=5s".into(),
        ],
    );
    let ns = release.namespace.clone();
    // Nothing cluster-wide.
    assert!(
        Api::<ClusterRole>::all(admin.clone())
            .get_opt(&release.fullname())
            .await
            .unwrap()
            .is_none()
    );
    let dir = tempfile::tempdir().unwrap();
    let identity_path = identity_kubeconfig(dir.path(), &ns, &release.fullname());
    let identity = client_from(&identity_path).await;
    let baseline = baseline_client(dir.path(), &ns).await;
    let mut own = reconcile_grants();
    own.extend(lease_grants("markets-leader"));
    assert_eq!(granted(&identity, &baseline, &ns).await, own);
    assert_eq!(
        granted(&identity, &baseline, "default").await,
        BTreeSet::new()
    );
    forbidden(
        "list StockFeeds in all namespaces",
        Api::<StockFeed>::all(identity.clone())
            .list(&ListParams::default())
            .await,
    );
    forbidden(
        "list StockFeeds in another namespace",
        Api::<StockFeed>::namespaced(identity.clone(), "default")
            .list(&ListParams::default())
            .await,
    );
    forbidden(
        "look up a Secret in another namespace",
        Api::<Secret>::namespaced(identity.clone(), "default")
            .get_metadata("anything")
            .await,
    );

    let mut operator = OperatorProcess::start(&admin, &release, &identity_path, dir.path()).await;
    create_lake_secret(&ns);
    apply_as_user(&ns, &feed_manifest("trades", &format!("{ns}.trades"), 1));
    let feeds: Api<StockFeed> = Api::namespaced(admin.clone(), &ns);
    wait_condition(&operator, &feeds, "trades", "TopicReady", |c| c.0 == "True").await;
    let uid = feeds.get("trades").await.unwrap().uid().unwrap();
    within(&operator, "children", || async {
        Api::<Deployment>::namespaced(admin.clone(), &ns)
            .get_opt("trades-sink")
            .await
            .unwrap()
    })
    .await;
    assert_children(&admin, &ns, "trades", &uid, 1).await;
    for d in ["trades-producer-0", "trades-sink"] {
        mark_available(&admin, &ns, d).await;
    }
    wait_condition(&operator, &feeds, "trades", "Ready", |c| c.0 == "True").await;
    let lease = Api::<Lease>::namespaced(admin.clone(), &ns)
        .get("markets-leader")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(operator.pod_name.as_str())
    );
    feeds
        .delete("trades", &DeleteParams::default())
        .await
        .unwrap();
    within(&operator, "StockFeed deleted", || async {
        feeds.get_opt("trades").await.ok()?.is_none().then_some(())
    })
    .await;
    operator.assert_alive();
    assert!(operator.metrics().contains("stockfeed_operator_leader 1"));
    assert!(
        !operator.log_text().to_lowercase().contains("forbidden"),
        "{}",
        operator.log_text()
    );
}

/// Every values file the chart ships renders objects the API server accepts as they are
/// (server-side dry run with strict field validation), except the prometheus-operator kinds,
/// whose CRDs this control plane does not have (they are checked in helm_chart.rs).
#[test]
fn rendered_objects_pass_server_side_validation() {
    let ns = namespace("sf-helm-dryrun");
    let mut runs = vec![None];
    runs.extend(extra_values_files().into_iter().map(Some));
    for values in runs {
        let mut extra = vec![
            "--namespace".to_owned(),
            ns.clone(),
            "--set".to_owned(),
            format!("watch.namespace={ns}"),
            "--set".to_owned(),
            format!("dashboard.namespace={ns}"),
        ];
        if let Some(v) = &values {
            extra.extend(["-f".to_owned(), values_file(v)]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let objects: Vec<serde_json::Value> = template("dry", &extra)
            .into_iter()
            .filter(|o| {
                !o["apiVersion"]
                    .as_str()
                    .unwrap()
                    .starts_with("monitoring.coreos.com")
            })
            .collect();
        assert!(objects.len() >= 4, "{values:?}");
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
        let out = kubectl(
            &[
                "apply",
                "--dry-run=server",
                "--validate=strict",
                "-n",
                &ns,
                "-f",
                "-",
            ],
            Some(&list.to_string()),
        );
        assert!(
            out.status.success(),
            "the API server refused what {values:?} renders:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The StockFeeds the docs and the kind test apply are valid against the CRD.
    for (file, namespace) in [
        (values_file("examples/msk-stockfeed.yaml"), "markets"),
        (
            format!("{CHART}/../../tests/e2e/manifests/stockfeed.yaml"),
            "stockfeed-e2e",
        ),
    ] {
        let manifest = std::fs::read_to_string(&file).unwrap().replace(
            &format!("namespace: {namespace}"),
            &format!("namespace: {ns}"),
        );
        let out = kubectl(
            &["apply", "--dry-run=server", "--validate=strict", "-f", "-"],
            Some(&manifest),
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}
