//! Chaos (`make chaos`, not `make test`): the operator (the real `stockfeed-operator` binary,
//! against the test control plane, the real broker and moto's Glue) is killed with SIGKILL in
//! the middle of reconciling 50 StockFeeds and started again; then all 50 are deleted and it
//! is killed again in the middle of the cleanup. Every StockFeed must converge (topic and
//! catalog ready, status current, Ready once its Deployments are available), with exactly its
//! own children and none twice, and after the deletion no Glue database, table or crawler of
//! theirs may be left.
//!
//! The control plane runs no kubelet, so Deployment availability is written by the test, as in
//! `reconcile.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use stockfeed_operator::crd::StockFeed;
use support::*;

const FEEDS: usize = 50;
const CONVERGE: Duration = Duration::from_secs(300);

fn report(tag: &str, text: impl std::fmt::Display) {
    println!("chaos[operator-restart-50] {tag}: {text}");
}

/// The operator binary, watching one namespace; SIGKILLed on drop.
struct OperatorProcess {
    child: Option<Child>,
}

impl OperatorProcess {
    fn start(ns: &str, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_stockfeed-operator"))
            .args([
                "--namespace",
                ns,
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-elect",
                "false",
                "--kafka-timeout",
                "5s",
                "--backoff-base",
                "500ms",
                "--backoff-max",
                "5s",
            ])
            .env("KUBECONFIG", kubeconfig())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start stockfeed-operator");
        OperatorProcess { child: Some(child) }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    async fn terminate(&mut self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn db_prefix(ns: &str) -> String {
    format!("db_{}_", ns.replace('-', "_"))
}

fn manifests(ns: &str) -> String {
    (0..FEEDS)
        .map(|i| {
            format!(
                r#"---
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {{name: feed-{i:02}}}
spec:
  tickers: [AAPL, MSFT]
  source: {{provider: synthetic, settings: {{rate: 10}}}}
  kafka: {{bootstrapServers: "{kafka}", topic: {ns}.feed-{i:02}, partitions: 1, replicationFactor: 1}}
  sink: {{url: "s3://lake-bucket/raw/feed-{i:02}/", format: parquet}}
  catalog:
    glue: {{database: {db}{i:02}, endpoint: "{moto}", region: us-east-1, crawler: {{enabled: true, schedule: 'cron(0/15 * * * ? *)', roleArn: 'arn:aws:iam::123456789012:role/glue-crawler'}}}}
"#,
                kafka = kafka_bootstrap(),
                db = db_prefix(ns),
                moto = moto_endpoint()
            )
        })
        .collect()
}

/// Glue databases with `db_prefix`, their tables, and crawlers named `stockfeed-<ns>-...`,
/// asked of moto through boto3 (an independent client).
#[derive(Debug, serde::Deserialize)]
struct GlueState {
    databases: Vec<String>,
    tables: BTreeMap<String, Vec<String>>,
    crawlers: Vec<String>,
}

fn glue_state(ns: &str) -> GlueState {
    let script = format!(
        r#"
import boto3, json
g = boto3.client("glue", endpoint_url="{endpoint}", region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
dbs = [d["Name"] for d in g.get_databases()["DatabaseList"] if d["Name"].startswith("{db}")]
tables = {{db: [t["Name"] for t in g.get_tables(DatabaseName=db)["TableList"]] for db in dbs}}
crawlers = [c for c in g.list_crawlers(MaxResults=1000)["CrawlerNames"] if c.startswith("stockfeed-{ns}-")]
print(json.dumps({{"databases": dbs, "tables": tables, "crawlers": crawlers}}))
"#,
        endpoint = moto_endpoint(),
        db = db_prefix(ns),
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn is_true(feed: &StockFeed, type_: &str) -> bool {
    feed.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// Topic and catalog ready, and the status written for the current generation.
fn converged(feed: &StockFeed) -> bool {
    is_true(feed, "TopicReady")
        && is_true(feed, "CatalogReady")
        && feed.status.as_ref().and_then(|s| s.observed_generation) == feed.metadata.generation
}

async fn feeds(api: &Api<StockFeed>) -> Vec<StockFeed> {
    api.list(&ListParams::default()).await.unwrap().items
}

fn controller(refs: &[OwnerReference]) -> Option<&OwnerReference> {
    refs.iter().find(|r| r.controller == Some(true))
}

/// Children per feed name, by kind. With `uids` (the live StockFeeds), panics on a child
/// without exactly one controller that is one of them (an orphan), or named for another feed.
async fn children(
    client: &Client,
    ns: &str,
    uids: Option<&BTreeMap<String, String>>,
) -> ChildCount {
    let mut by_feed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut total = 0;
    let mut check = |kind: &str, name: String, refs: &[OwnerReference]| {
        let owned_by_feed = refs.iter().any(|r| r.kind == "StockFeed");
        if !name.starts_with("feed-") && !owned_by_feed {
            return; // default ServiceAccount, kube-root-ca.crt
        }
        let owners: Vec<_> = refs.iter().filter(|r| r.kind == "StockFeed").collect();
        let Some(uids) = uids else {
            total += 1;
            if let Some(owner) = owners.first() {
                by_feed
                    .entry(owner.name.clone())
                    .or_default()
                    .insert(format!("{kind}/{name}"));
            }
            return;
        };
        assert_eq!(
            owners.len(),
            1,
            "{kind} {name} has {} StockFeed owners",
            owners.len()
        );
        let owner = controller(refs).unwrap_or_else(|| panic!("{kind} {name}: no controller"));
        assert_eq!(
            uids.get(&owner.name),
            Some(&owner.uid),
            "{kind} {name} is owned by {} ({}), not a live StockFeed: an orphan",
            owner.name,
            owner.uid
        );
        assert!(
            name.starts_with(&format!("{}-", owner.name)),
            "{kind} {name} belongs to {}",
            owner.name
        );
        total += 1;
        assert!(
            by_feed
                .entry(owner.name.clone())
                .or_default()
                .insert(format!("{kind}/{name}")),
            "{kind} {name} twice"
        );
    };
    let lp = ListParams::default();
    for d in Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        check("Deployment", d.name_any(), d.owner_references());
    }
    for c in Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        check("ConfigMap", c.name_any(), c.owner_references());
    }
    for s in Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        check("ServiceAccount", s.name_any(), s.owner_references());
    }
    for s in Api::<Service>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        check("Service", s.name_any(), s.owner_references());
    }
    ChildCount { by_feed, total }
}

struct ChildCount {
    by_feed: BTreeMap<String, BTreeSet<String>>,
    total: usize,
}

fn expected_children(feed: &str) -> BTreeSet<String> {
    [
        format!("Deployment/{feed}-producer-0"),
        format!("Deployment/{feed}-sink"),
        format!("ConfigMap/{feed}-config"),
        format!("ServiceAccount/{feed}-workers"),
        format!("Service/{feed}-metrics"),
    ]
    .into_iter()
    .collect()
}

async fn mark_available(client: &Client, ns: &str, name: &str) {
    let body = serde_json::json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}});
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn operator_killed_mid_reconcile_of_50_feeds_all_converge_without_duplicates_or_orphans() {
    let started = Instant::now();
    println!(
        "chaos[operator-restart-50] START: the operator SIGKILLed while reconciling 50 \
         StockFeeds, and again while deleting them"
    );
    install_crd();
    let ns = namespace("sf-chaos-op");
    let client = client().await;
    let api: Api<StockFeed> = Api::namespaced(client.clone(), &ns);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("operator.log");

    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=chaos",
            "-n",
            &ns,
            "-f",
            "-",
        ],
        Some(&manifests(&ns)),
    );
    let mut operator = OperatorProcess::start(&ns, &log);
    // Kill it once a few feeds are done but most are not.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (done, with_status) = loop {
        let all = feeds(&api).await;
        let done = all.iter().filter(|f| converged(f)).count();
        let with_status = all.iter().filter(|f| f.status.is_some()).count();
        if done >= 3 || with_status >= 10 {
            break (done, with_status);
        }
        assert!(operator.alive(), "the operator exited by itself");
        assert!(
            Instant::now() < deadline,
            "the operator made no progress in 120 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    operator.kill();
    let glue = glue_state(&ns);
    let partial = children(&client, &ns, None).await;
    report(
        "INJECTED",
        format!(
            "SIGKILL of the operator at {:.1}s: {done} of {FEEDS} feeds converged, {with_status} \
             with a status, {} children and {} Glue databases / {} crawlers existed",
            started.elapsed().as_secs_f64(),
            partial.total,
            glue.databases.len(),
            glue.crawlers.len()
        ),
    );
    assert!(done < FEEDS, "the kill came after everything converged");

    let mut operator = OperatorProcess::start(&ns, &log);
    report("INJECTED", "a new operator process started");
    let converge_started = Instant::now();
    let all = eventually("all 50 StockFeeds converged", CONVERGE, || async {
        let all = feeds(&api).await;
        (all.len() == FEEDS && all.iter().all(converged)).then_some(all)
    })
    .await;
    let uids: BTreeMap<String, String> = all
        .iter()
        .map(|f| (f.name_any(), f.uid().unwrap()))
        .collect();
    let kids = children(&client, &ns, Some(&uids)).await;
    for name in uids.keys() {
        assert_eq!(
            kids.by_feed.get(name).cloned().unwrap_or_default(),
            expected_children(name),
            "children of {name}"
        );
    }
    report(
        "CHECKED",
        format!(
            "all {FEEDS} StockFeeds converged {:.1}s after the restart (TopicReady and \
             CatalogReady True, status of the current generation); {} children, exactly the 5 \
             expected per feed, each with one controller owner, none twice",
            converge_started.elapsed().as_secs_f64(),
            kids.total
        ),
    );
    let glue = glue_state(&ns);
    assert_eq!(glue.databases.len(), FEEDS, "{glue:?}");
    assert_eq!(glue.crawlers.len(), FEEDS, "{glue:?}");
    let tables: usize = glue.tables.values().map(Vec::len).sum();
    let per_db: BTreeSet<usize> = glue.tables.values().map(Vec::len).collect();
    assert_eq!(
        per_db.len(),
        1,
        "every database has the same tables: {glue:?}"
    );
    report(
        "CHECKED",
        format!(
            "Glue: {} databases, {tables} tables ({:?} each), {} crawlers: one set per feed",
            glue.databases.len(),
            per_db,
            glue.crawlers.len()
        ),
    );
    // Ready once the Deployments report availability.
    for name in uids.keys() {
        mark_available(&client, &ns, &format!("{name}-producer-0")).await;
        mark_available(&client, &ns, &format!("{name}-sink")).await;
    }
    eventually("all 50 StockFeeds Ready", CONVERGE, || async {
        let all = feeds(&api).await;
        all.iter().all(|f| is_true(f, "Ready")).then_some(())
    })
    .await;
    report(
        "CHECKED",
        format!("all {FEEDS} StockFeeds Ready once their Deployments were available"),
    );

    // Delete them all; kill the operator in the middle of the cleanup.
    kubectl_ok(
        &["delete", "stockfeeds", "--all", "-n", &ns, "--wait=false"],
        None,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let left = loop {
        let left = feeds(&api).await.len();
        if left < FEEDS - 3 || left == 0 {
            break left;
        }
        assert!(
            Instant::now() < deadline,
            "no StockFeed went away within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    operator.kill();
    let glue = glue_state(&ns);
    report(
        "INJECTED",
        format!(
            "SIGKILL of the operator during the deletion: {left} of {FEEDS} feeds left, {} Glue \
             databases / {} crawlers left",
            glue.databases.len(),
            glue.crawlers.len()
        ),
    );
    let mut operator = OperatorProcess::start(&ns, &log);
    report("INJECTED", "a new operator process started");
    let cleanup_started = Instant::now();
    eventually("all StockFeeds gone", CONVERGE, || async {
        feeds(&api).await.is_empty().then_some(())
    })
    .await;
    let glue = glue_state(&ns);
    assert!(
        glue.databases.is_empty() && glue.crawlers.is_empty(),
        "orphaned Glue objects: {glue:?}"
    );
    report(
        "CHECKED",
        format!(
            "all {FEEDS} StockFeeds deleted {:.1}s after the restart; no Glue database, table or \
             crawler of theirs left",
            cleanup_started.elapsed().as_secs_f64()
        ),
    );
    let kids = eventually("children garbage-collected", CONVERGE, || async {
        let kids = children(&client, &ns, None).await;
        (kids.total == 0).then_some(kids)
    })
    .await;
    report(
        "CHECKED",
        format!(
            "no child left behind ({} after garbage collection)",
            kids.total
        ),
    );
    operator.terminate().await;
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
    report(
        "COUNTS",
        format!(
            "{FEEDS} feeds, 2 operator SIGKILLs, 3 operator processes; scenario took {:.0}s",
            started.elapsed().as_secs_f64()
        ),
    );
}
