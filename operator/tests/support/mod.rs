//! Helpers for the operator tests against a real kube-apiserver (`hack/kube.sh start`):
//! kubectl, a client, a namespace per test, the CRD, and the controller run in-process.

#![allow(dead_code)] // each test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use prometheus_client::registry::Registry;
use stockfeed_operator::metrics::Metrics;
use stockfeed_operator::reconcile::{self, Context, Settings};
use tokio_util::sync::CancellationToken;

pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The admin kubeconfig written by `hack/kube.sh start`; fails the test with what to do when
/// the control plane is not running.
pub fn kubeconfig() -> String {
    let path =
        std::env::var("KUBECONFIG").unwrap_or_else(|_| format!("{REPO}/.run/kube/kubeconfig"));
    let out = Command::new(kubectl_path())
        .args([
            "--kubeconfig",
            &path,
            "get",
            "--raw",
            "/readyz",
            "--request-timeout=10s",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl ({e}); run `hack/kube.sh fetch`"));
    if !out.status.success() {
        panic!(
            "the test control plane is not reachable with {path} ({}). Start it with \
             `hack/kube.sh start` (or `make services-up`).",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    path
}

pub fn kubectl_path() -> String {
    std::env::var("STOCKFEED_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

pub fn kafka_bootstrap() -> String {
    std::env::var("STOCKFEED_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".to_owned())
}

pub fn moto_endpoint() -> String {
    std::env::var("STOCKFEED_TEST_MOTO").unwrap_or_else(|_| "http://127.0.0.1:19050".to_owned())
}

/// Runs kubectl with the test kubeconfig and `stdin` as input.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// kubectl that must succeed; returns stdout.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// kubectl that must succeed within `within`, retried every 500 ms. For reads served from
/// state the apiserver publishes asynchronously: the OpenAPI document behind `kubectl explain`
/// is rebuilt some time after a CRD is (re)applied and Established, by another test too.
pub fn kubectl_eventually(args: &[&str], within: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let out = kubectl(args, None);
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl {args:?} still failing after {within:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Applies a manifest in `ns` server-side, as a user would (field manager `test-user`).
pub fn apply_as_user(ns: &str, manifest: &str) {
    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=test-user",
            "-n",
            ns,
            "-f",
            "-",
        ],
        Some(manifest),
    );
}

/// Installs (or updates) the committed CRD and waits until it is established.
pub fn install_crd() {
    let crd = format!("{REPO}/crds/stockfeed.yaml");
    kubectl_ok(
        &["apply", "--server-side", "--force-conflicts", "-f", &crd],
        None,
    );
    kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/stockfeeds.stockfeed.dev",
        ],
        None,
    );
}

/// A fresh namespace named after the test.
pub fn namespace(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("{prefix}-{}-{nanos:x}", std::process::id());
    kubectl_ok(&["create", "namespace", &name], None);
    name
}

pub async fn client() -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig()).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

/// The controller, watching one namespace, until dropped.
pub struct Operator {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Operator {
    pub async fn start(namespace: &str) -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let settings = Settings {
            namespace: Some(namespace.to_owned()),
            kafka_timeout: Duration::from_secs(3),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            resync: Duration::from_secs(30),
            ..Settings::default()
        };
        let ctx = Arc::new(Context::new(
            client().await,
            settings,
            metrics,
            aws_config(),
        ));
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(reconcile::run(ctx, async move { s.cancelled().await }));
        Operator {
            stop,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What IRSA gives the operator in EKS, here fixed keys for moto (which checks none).
pub fn aws_config() -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    aws_config::SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// The Python of hack's test venv (boto3 via moto), built once by `hack/lib.sh` if missing;
/// `STOCKFEED_PYTHON` overrides it.
pub fn python() -> String {
    if let Ok(p) = std::env::var("STOCKFEED_PYTHON") {
        return p;
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg("source hack/lib.sh && python_venv")
        .current_dir(REPO)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "cannot build the test venv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}/bin/python",
        String::from_utf8(out.stdout).unwrap().trim()
    )
}
