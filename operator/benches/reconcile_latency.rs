//! Operator benchmark (not a test): against the local API server (`hack/kube.sh start`) and
//! Kafka, the time from creating a StockFeed to all of its children existing, p50/p99 over 200
//! StockFeeds, and the operator's RSS with 1,000 StockFeeds.
//!
//! Baseline, measured side by side: the same children created directly by one client (the API
//! server's own cost for five objects), so the ratio shows what the operator adds.
//!
//! `make bench-operator` (release build). Set `BENCH_FEEDS` / `BENCH_RSS_FEEDS` to change counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use stockfeed_operator::crd::StockFeed;

fn kubeconfig() -> String {
    std::env::var("KUBECONFIG")
        .unwrap_or_else(|_| format!("{}/../.run/kube/kubeconfig", env!("CARGO_MANIFEST_DIR")))
}

async fn client() -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig()).expect("kubeconfig: run hack/kube.sh start"),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

fn feed(name: &str, kafka: &str) -> StockFeed {
    let yaml = format!(
        "apiVersion: stockfeed.dev/v1alpha1\nkind: StockFeed\nmetadata: {{name: {name}}}\nspec:\n  tickers: [AAPL, MSFT]\n  source: {{provider: synthetic}}\n  kafka: {{bootstrapServers: '{kafka}', topic: bench.{name}, partitions: 1, replicationFactor: 1}}\n  sink: {{url: 's3://bench-lake/{name}/'}}\n"
    );
    serde_yaml::from_str(&yaml).unwrap()
}

/// Installs the StockFeed CRD this build defines (a fresh API server has none) and waits until
/// the API server serves it.
async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = stockfeed_operator::crd::crd();
    let name = crd.name_any();
    crds.patch(
        &name,
        &PatchParams::apply("stockfeed-bench").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
    let established = await_condition(crds, &name, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(60), established)
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not established within 60 s"))
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Operator(Child);
impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_children(client: &Client, ns: &str, name: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    loop {
        let sink = deployments.get_opt(&format!("{name}-sink")).await.unwrap();
        let producer = deployments
            .get_opt(&format!("{name}-producer-0"))
            .await
            .unwrap();
        let cm = configmaps.get_opt(&format!("{name}-config")).await.unwrap();
        if sink.is_some() && producer.is_some() && cm.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() {
    let feeds: usize = std::env::var("BENCH_FEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rss_feeds: usize = std::env::var("BENCH_RSS_FEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let kafka = std::env::var("STOCKFEED_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let client = client().await;
    install_crd(&client).await;
    let ns = format!("bench-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();

    let exe = std::env::var("STOCKFEED_OPERATOR_BIN").unwrap_or_else(|_| {
        format!(
            "{}/release/stockfeed-operator",
            std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())
        )
    });
    let operator = Operator(
        Command::new(&exe)
            .args(["--namespace", &ns, "--leader-elect", "false", "--metrics-addr", "127.0.0.1:0", "--concurrency", "16"])
            .env("KUBECONFIG", kubeconfig())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe} ({e}); build it with cargo build --release -p stockfeed-operator")),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Baseline: the same five objects created directly, one feed after another.
    let baseline_ns = format!("{ns}-direct");
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": baseline_ns}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut direct = Vec::new();
    for i in 0..feeds {
        let name = format!("d{i}");
        let f = {
            let mut f = feed(&name, &kafka);
            f.metadata.namespace = Some(baseline_ns.clone());
            f.metadata.uid = Some(format!("00000000-0000-0000-0000-{i:012}"));
            f
        };
        let rendered = stockfeed_spec::render(f.spec_feed(), &Default::default()).unwrap();
        let children = stockfeed_operator::build::build(
            &f,
            &rendered,
            &Default::default(),
            &Default::default(),
            false,
        )
        .unwrap();
        let started = Instant::now();
        let all = stockfeed_operator::reconcile::children::Apply {
            producers: true,
            sink: true,
        };
        stockfeed_operator::reconcile::children::apply(&client, &baseline_ns, &children, all)
            .await
            .unwrap();
        direct.push(started.elapsed());
    }
    direct.sort();

    // The operator: create one StockFeed at a time and wait for its children.
    let api: Api<StockFeed> = Api::namespaced(client.clone(), &ns);
    let mut latencies = Vec::new();
    for i in 0..feeds {
        let name = format!("f{i}");
        let started = Instant::now();
        api.create(&PostParams::default(), &feed(&name, &kafka))
            .await
            .unwrap();
        wait_children(&client, &ns, &name).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    // RSS with many StockFeeds: create the rest, wait until all have children, sample.
    let rss_before = rss_kib(operator.0.id());
    for i in feeds..rss_feeds {
        api.create(&PostParams::default(), &feed(&format!("f{i}"), &kafka))
            .await
            .unwrap();
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let settle = Instant::now();
    loop {
        let n = deployments
            .list_metadata(&ListParams::default().labels("app.kubernetes.io/component=sink"))
            .await
            .unwrap()
            .items
            .len();
        if n >= rss_feeds || settle.elapsed() > Duration::from_secs(900) {
            println!(
                "{n} of {rss_feeds} StockFeeds reconciled after {:.0?}",
                settle.elapsed()
            );
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(operator.0.id());

    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
    println!("apply → all children, {feeds} StockFeeds (one at a time):");
    println!("  operator  p50 {p50:>9.1?}  p99 {p99:>9.1?}");
    println!("  direct    p50 {d50:>9.1?}  p99 {d99:>9.1?}   (same objects applied by one client)");
    println!(
        "  ratio operator/direct: p50 {:.1}x  p99 {:.1}x",
        p50.as_secs_f64() / d50.as_secs_f64(),
        p99.as_secs_f64() / d99.as_secs_f64()
    );
    println!(
        "operator RSS: {} MiB with {feeds} StockFeeds, {} MiB with {rss_feeds}",
        rss_before / 1024,
        rss_after / 1024
    );
    // One machine-readable line for `make bench` (hack/bench.sh collects it).
    println!(
        "BENCH-RESULT {}",
        serde_json::json!({
            "bench": "operator",
            "feeds": feeds,
            "operator_p50_ms": p50.as_secs_f64() * 1e3,
            "operator_p99_ms": p99.as_secs_f64() * 1e3,
            "direct_p50_ms": d50.as_secs_f64() * 1e3,
            "direct_p99_ms": d99.as_secs_f64() * 1e3,
            "ratio_p50": p50.as_secs_f64() / d50.as_secs_f64(),
            "ratio_p99": p99.as_secs_f64() / d99.as_secs_f64(),
            "rss_mib": rss_before / 1024,
            "rss_feeds": rss_feeds,
            "rss_mib_at_rss_feeds": rss_after / 1024,
        })
    );
    let _ = api
        .list(&ListParams::default().limit(1))
        .await
        .map(|l| l.items.first().map(|f| f.name_any()));
    drop(operator);
    for n in [&ns, &baseline_ns] {
        let _ = namespaces.delete(n, &Default::default()).await;
    }
}
