//! The controller against a real API server, a real Kafka broker and moto's Glue: every child
//! with the right spec and owner, updates, scaling, suspend, drift, deletion with the Glue
//! finalizer, and the conditions a user sees when something is wrong.
//!
//! The control plane has no kubelet: Deployments are stored but no pod runs, so availability is
//! simulated by writing a Deployment's status the way the deployment controller would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use stockfeed_operator::crd::StockFeed;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

fn feed_manifest(name: &str, topic: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {{name: {name}}}
spec:
  tickers: [AAPL, MSFT, NVDA, IBM]
  source: {{provider: synthetic, settings: {{rate: 10}}}}
  kafka: {{bootstrapServers: "{kafka}", topic: {topic}, partitions: 3, replicationFactor: 1}}
  sink: {{url: "s3://lake-bucket/raw/{name}/", format: parquet}}
{extra_spec}
"#,
        kafka = kafka_bootstrap()
    )
}

fn condition(feed: &StockFeed, type_: &str) -> Option<(String, String, String)> {
    feed.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_condition(
    api: &Api<StockFeed>,
    name: &str,
    type_: &str,
    pred: impl Fn(&(String, String, String)) -> bool,
) -> (String, String, String) {
    eventually(&format!("{type_} on {name}"), WAIT, || async {
        let feed = api.get_opt(name).await.ok()??;
        condition(&feed, type_).filter(|c| pred(c))
    })
    .await
}

async fn deployment(client: &Client, ns: &str, name: &str) -> Option<Deployment> {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// Writes `available` into a Deployment's status, as the deployment controller would.
async fn mark_available(client: &Client, ns: &str, name: &str, available: i32) {
    let api = Api::<Deployment>::namespaced(client.clone(), ns);
    let body = serde_json::json!({"status": {"replicas": available, "readyReplicas": available, "availableReplicas": available, "updatedReplicas": available}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .unwrap();
}

fn glue_tables(database: &str) -> Vec<String> {
    glue_call("get-tables", database)
}

fn glue_crawlers() -> Vec<String> {
    glue_call("list-crawlers", "")
}

/// Asks moto through boto3 from hack's venv (an independent client, not the code under test).
fn glue_call(op: &str, database: &str) -> Vec<String> {
    let script = format!(
        r#"
import boto3, json, sys
g = boto3.client("glue", endpoint_url="{endpoint}", region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
op = "{op}"
if op == "get-tables":
    db = "{database}"
    try:
        print("\n".join(t["Name"] for t in g.get_tables(DatabaseName=db)["TableList"]))
    except g.exceptions.EntityNotFoundException:
        pass
else:
    print("\n".join(g.list_crawlers()["CrawlerNames"]))
"#,
        endpoint = moto_endpoint()
    );
    let python = python();
    let out = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e})"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Deletes every StockFeed of the namespace and waits until the finalizer let them go.
async fn remove_feeds(feeds: &Api<StockFeed>) {
    feeds
        .delete_collection(&DeleteParams::default(), &Default::default())
        .await
        .unwrap();
    eventually("StockFeeds deleted", WAIT, || async {
        feeds
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_children_update_scale_suspend_drift_delete() {
    install_crd();
    let ns = namespace("sf-lifecycle");
    let client = client().await;
    let operator = Operator::start(&ns).await;
    let topic = format!("{ns}.ticks");
    let db = format!("db_{}", ns.replace('-', "_"));
    let glue = format!(
        "  catalog:\n    glue: {{database: {db}, endpoint: \"{}\", region: us-east-1, crawler: {{enabled: true, schedule: 'cron(0/15 * * * ? *)', roleArn: 'arn:aws:iam::123456789012:role/glue-crawler'}}}}\n  workers: {{producer: {{replicas: 2}}, sink: {{replicas: 1}}}}\n",
        moto_endpoint()
    );
    apply_as_user(&ns, &feed_manifest("prices", &topic, &glue));
    let feeds: Api<StockFeed> = Api::namespaced(client.clone(), &ns);

    // Every child, owned by the StockFeed.
    let feed_uid = eventually("uid", WAIT, || async {
        feeds.get("prices").await.ok()?.uid()
    })
    .await;
    let sink = eventually("sink Deployment", WAIT, || async {
        deployment(&client, &ns, "prices-sink").await
    })
    .await;
    let p0 = deployment(&client, &ns, "prices-producer-0")
        .await
        .expect("shard 0");
    let p1 = deployment(&client, &ns, "prices-producer-1")
        .await
        .expect("shard 1");
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("prices-config")
        .await
        .unwrap();
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get("prices-workers")
        .await
        .unwrap();
    let svc = Api::<Service>::namespaced(client.clone(), &ns)
        .get("prices-metrics")
        .await
        .unwrap();
    for (kind, refs) in [
        ("sink", sink.owner_references()),
        ("producer-0", p0.owner_references()),
        ("producer-1", p1.owner_references()),
        ("configmap", cm.owner_references()),
        ("serviceaccount", sa.owner_references()),
        ("service", svc.owner_references()),
    ] {
        assert_eq!(refs.len(), 1, "{kind}");
        assert_eq!(refs[0].uid, feed_uid, "{kind}");
        assert_eq!(refs[0].controller, Some(true), "{kind}");
        assert_eq!(refs[0].kind, "StockFeed", "{kind}");
    }
    // The ConfigMap holds configuration the workers accept: a file per producer shard with
    // that shard's tickers (together: each ticker once), and the sink's.
    let data = cm.data.clone().unwrap();
    let shard_tickers = |data: &std::collections::BTreeMap<String, String>, i: u32| {
        let p =
            stockfeed_spec::producer::ProducerConfig::parse(&data[&format!("producer-{i}.yaml")])
                .unwrap();
        assert_eq!(p.kafka.topic, topic);
        assert!(p.shard.is_none(), "a shard's file carries no shard setting");
        p.tickers
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let mut all: Vec<String> = shard_tickers(&data, 0);
    all.extend(shard_tickers(&data, 1));
    all.sort();
    assert_eq!(all, ["AAPL", "IBM", "MSFT", "NVDA"]);
    assert!(!data.contains_key("producer.yaml"), "{:?}", data.keys());
    let sink_cfg = stockfeed_spec::sink::SinkConfig::parse(&data["sink.yaml"]).unwrap();
    assert_eq!(sink_cfg.sink.url, "s3://lake-bucket/raw/prices/");
    assert_eq!(sink_cfg.group_id(), format!("stockfeed-sink.{ns}.prices"));
    // Pods: hardened, sharded by their own file (nothing names the shard count), hashed.
    let pod = p1.spec.template.clone();
    let container = &pod.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.args.as_ref().unwrap().last().unwrap(),
        "/etc/stockfeed/producer-1.yaml"
    );
    let env: Vec<String> = container
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        !env.iter().any(|e| e.starts_with("STOCKFEED_SHARD")),
        "{env:?}"
    );
    let sc = container.security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        pod.spec
            .as_ref()
            .unwrap()
            .security_context
            .clone()
            .unwrap()
            .run_as_non_root,
        Some(true)
    );
    assert_eq!(
        p1.spec.strategy.clone().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let hash_of = |d: &Deployment| {
        d.spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["stockfeed.dev/config-hash"]
            .clone()
    };
    let first_hash = hash_of(&sink);
    let producer_hashes = |client: Client, ns: String| async move {
        let mut out = Vec::new();
        for i in 0..2 {
            out.push(hash_of(
                &deployment(&client, &ns, &format!("prices-producer-{i}"))
                    .await
                    .unwrap(),
            ));
        }
        out
    };
    let first_producer_hashes = producer_hashes(client.clone(), ns.clone()).await;

    // Topic and catalog.
    wait_condition(&feeds, "prices", "TopicReady", |c| c.0 == "True").await;
    wait_condition(&feeds, "prices", "CatalogReady", |c| c.0 == "True").await;
    let tables = glue_tables(&db);
    assert_eq!(tables.len(), 4, "{tables:?}");
    let crawler = format!("stockfeed-{ns}-prices");
    assert!(glue_crawlers().contains(&crawler), "{:?}", glue_crawlers());
    let feed = feeds.get("prices").await.unwrap();
    assert_eq!(
        feed.status
            .as_ref()
            .unwrap()
            .topic
            .as_ref()
            .unwrap()
            .partitions,
        3
    );
    assert!(
        feed.finalizers()
            .iter()
            .any(|f| f == "stockfeed.dev/catalog-cleanup")
    );

    // Availability follows the Deployments' status.
    let (status, reason, _) = condition(&feed, "SinkAvailable").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Progressing"));
    mark_available(&client, &ns, "prices-sink", 1).await;
    mark_available(&client, &ns, "prices-producer-0", 1).await;
    mark_available(&client, &ns, "prices-producer-1", 1).await;
    wait_condition(&feeds, "prices", "Ready", |c| c.0 == "True").await;

    // Update the tickers: the producer shard that gains ORCL rolls, the sink does not (a hash
    // per role, not one for both).
    apply_as_user(
        &ns,
        &feed_manifest("prices", &topic, &glue).replace("IBM]", "IBM, ORCL]"),
    );
    let rolled = eventually("new producer config hash", WAIT, || async {
        let now = producer_hashes(client.clone(), ns.clone()).await;
        (now != first_producer_hashes).then_some(now)
    })
    .await;
    let changed = rolled
        .iter()
        .zip(&first_producer_hashes)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 1, "one ticker added: exactly one shard changes");
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("prices-config")
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert!(
        data["producer-0.yaml"].contains("ORCL") || data["producer-1.yaml"].contains("ORCL"),
        "{data:?}"
    );
    let sink_now = deployment(&client, &ns, "prices-sink").await.unwrap();
    assert_eq!(
        hash_of(&sink_now),
        first_hash,
        "the sink rolled for a ticker change"
    );

    // Update the flush settings: the sink rolls, no producer does.
    let with_flush = |m: String| {
        m.replace(
            "format: parquet}",
            "format: parquet, flush: {maxRecords: 5000}}",
        )
    };
    apply_as_user(
        &ns,
        &with_flush(feed_manifest("prices", &topic, &glue).replace("IBM]", "IBM, ORCL]")),
    );
    eventually("new sink config hash", WAIT, || async {
        let d = deployment(&client, &ns, "prices-sink").await?;
        (hash_of(&d) != first_hash).then_some(())
    })
    .await;
    assert_eq!(
        producer_hashes(client.clone(), ns.clone()).await,
        rolled,
        "a producer rolled for a sink setting"
    );
    apply_as_user(
        &ns,
        &feed_manifest("prices", &topic, &glue).replace("IBM]", "IBM, ORCL]"),
    );

    // Scale: one producer shard fewer → its Deployment is deleted.
    apply_as_user(
        &ns,
        &feed_manifest(
            "prices",
            &topic,
            &glue.replace("producer: {replicas: 2}", "producer: {replicas: 1}"),
        )
        .replace("IBM]", "IBM, ORCL]"),
    );
    eventually("shard 1 deleted", WAIT, || async {
        deployment(&client, &ns, "prices-producer-1")
            .await
            .is_none()
            .then_some(())
    })
    .await;

    // Drift: a person scales the sink and deletes the ConfigMap; both are put back.
    kubectl_ok(
        &["scale", "deployment/prices-sink", "-n", &ns, "--replicas=5"],
        None,
    );
    kubectl_ok(&["delete", "configmap/prices-config", "-n", &ns], None);
    eventually("drift corrected", WAIT, || async {
        let d = deployment(&client, &ns, "prices-sink").await?;
        let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get_opt("prices-config")
            .await
            .ok()??;
        (d.spec.replicas == Some(1) && cm.data.is_some()).then_some(())
    })
    .await;

    // Suspend: workers scaled to zero, reported as such.
    let suspended = feed_manifest("prices", &topic, &format!("{glue}  suspend: true\n"))
        .replace("IBM]", "IBM, ORCL]")
        .replace("producer: {replicas: 2}", "producer: {replicas: 1}");
    apply_as_user(&ns, &suspended);
    eventually("suspended", WAIT, || async {
        let s = deployment(&client, &ns, "prices-sink").await?.spec.replicas;
        let p = deployment(&client, &ns, "prices-producer-0")
            .await?
            .spec
            .replicas;
        (s == Some(0) && p == Some(0)).then_some(())
    })
    .await;
    wait_condition(&feeds, "prices", "Ready", |c| {
        c.0 == "False" && c.1 == "Suspended"
    })
    .await;

    // Events were recorded for the changes.
    let events = kubectl_ok(
        &[
            "get",
            "events",
            "-n",
            &ns,
            "-o",
            "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}",
        ],
        None,
    );
    for reason in [
        "TopicCreated",
        "ConfigChanged",
        "ShardRemoved",
        "CatalogChanged",
    ] {
        assert!(
            events.lines().any(|l| l == reason),
            "no {reason} event in:\n{events}"
        );
    }

    // Delete with kafka.deletionPolicy Delete: the finalizer also deletes both topics.
    apply_as_user(
        &ns,
        &suspended.replace(
            "replicationFactor: 1}",
            "replicationFactor: 1, deletionPolicy: Delete}",
        ),
    );
    eventually("deletionPolicy stored", WAIT, || async {
        let f = feeds.get("prices").await.ok()?;
        (f.spec_feed().kafka.deletion_policy == stockfeed_spec::feed::TopicDeletionPolicy::Delete)
            .then_some(())
    })
    .await;
    let admin = {
        use stockfeed_kafka::Connect;
        let c = stockfeed_kafka::KafkaConnection {
            bootstrap_servers: kafka_bootstrap(),
            security: stockfeed_kafka::Security::Plaintext,
            client_id: None,
        }
        .client_config()
        .unwrap();
        stockfeed_kafka::admin::TopicAdmin::new(&c, Duration::from_secs(10)).unwrap()
    };
    assert!(admin.describe(&topic).await.unwrap().is_some());

    // Delete: the finalizer removes the crawler and tables; the garbage collector the children.
    feeds
        .delete("prices", &DeleteParams::default())
        .await
        .unwrap();
    eventually("StockFeed gone", WAIT, || async {
        feeds.get_opt("prices").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(glue_tables(&db).is_empty(), "{:?}", glue_tables(&db));
    assert!(!glue_crawlers().contains(&crawler));
    assert_eq!(admin.describe(&topic).await.unwrap(), None, "topic kept");
    assert_eq!(
        admin.describe(&format!("{topic}.dlq")).await.unwrap(),
        None,
        "dead-letter topic kept"
    );
    eventually("children collected", WAIT, || async {
        deployment(&client, &ns, "prices-sink")
            .await
            .is_none()
            .then_some(())
    })
    .await;

    operator.stop().await;
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_reported_and_recovers() {
    install_crd();
    let ns = namespace("sf-secret");
    let client = client().await;
    let operator = Operator::start(&ns).await;
    let manifest = feed_manifest("fh", &format!("{ns}.fh"), "").replace(
        "{provider: synthetic, settings: {rate: 10}}",
        "{provider: finnhub, credentialsSecretRef: {name: finnhub-token}}",
    );
    apply_as_user(&ns, &manifest);
    let feeds: Api<StockFeed> = Api::namespaced(client.clone(), &ns);
    let (_, _, message) = wait_condition(&feeds, "fh", "ProducerAvailable", |c| {
        c.1 == "SecretMissing"
    })
    .await;
    assert!(message.contains("finnhub-token"), "{message}");
    let (status, reason, _) = wait_condition(&feeds, "fh", "Ready", |c| c.0 == "False").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "SecretMissing")
    );
    // Held back: no producer pods to sit in CreateContainerConfigError. The sink reads no
    // provider token, so it is made, and without it.
    assert!(deployment(&client, &ns, "fh-producer-0").await.is_none());
    let sink = eventually("sink Deployment", WAIT, || async {
        deployment(&client, &ns, "fh-sink").await
    })
    .await;
    let sink_env = sink.spec.template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        !sink_env.iter().any(|e| e.name == "STOCKFEED_SOURCE_TOKEN"),
        "the sink holds the provider token: {sink_env:?}"
    );

    // The Secret, with the wrong key: the condition names the key it lacks.
    kubectl_ok(
        &[
            "create",
            "secret",
            "generic",
            "finnhub-token",
            "-n",
            &ns,
            "--from-literal=apiKey=not-a-real-key",
        ],
        None,
    );
    let (_, _, message) = wait_condition(&feeds, "fh", "ProducerAvailable", |c| {
        c.1 == "SecretKeyMissing"
    })
    .await;
    assert!(
        message.contains("Secret finnhub-token has no key token"),
        "{message}"
    );
    assert!(deployment(&client, &ns, "fh-producer-0").await.is_none());

    // Fixed: the producer is made, and references the key, never a value.
    kubectl_ok(
        &[
            "patch",
            "secret",
            "finnhub-token",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"stringData":{"token":"not-a-real-key"}}"#,
        ],
        None,
    );
    wait_condition(&feeds, "fh", "ProducerAvailable", |c| {
        c.1 != "SecretMissing" && c.1 != "SecretKeyMissing"
    })
    .await;
    let d = eventually("producer Deployment", WAIT, || async {
        deployment(&client, &ns, "fh-producer-0").await
    })
    .await;
    let hash_of = |d: &Deployment| {
        d.spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["stockfeed.dev/config-hash"]
            .clone()
    };
    let producer_hash = hash_of(&d);
    let sink_hash = hash_of(&deployment(&client, &ns, "fh-sink").await.unwrap());
    let env = d.spec.template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    let token = env
        .iter()
        .find(|e| e.name == "STOCKFEED_SOURCE_TOKEN")
        .unwrap();
    assert!(token.value.is_none());
    let key = token.value_from.clone().unwrap().secret_key_ref.unwrap();
    assert_eq!(
        (key.name.as_str(), key.key.as_str()),
        ("finnhub-token", "token")
    );

    // Rotation: the pods that read the Secret roll, the sink does not. The operator does not
    // watch Secrets (that would need `list` on all of them): it sees a rotation on its next
    // reconcile, at most a minute away for a StockFeed with Secrets; here a touch brings it on.
    kubectl_ok(
        &[
            "patch",
            "secret",
            "finnhub-token",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"stringData":{"token":"rotated"}}"#,
        ],
        None,
    );
    kubectl_ok(&["annotate", "stockfeed/fh", "-n", &ns, "touch=1"], None);
    eventually("producer rolled for the rotated Secret", WAIT, || async {
        let d = deployment(&client, &ns, "fh-producer-0").await?;
        (hash_of(&d) != producer_hash).then_some(())
    })
    .await;
    assert_eq!(
        hash_of(&deployment(&client, &ns, "fh-sink").await.unwrap()),
        sink_hash
    );
    let warnings = kubectl_ok(
        &[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector=type=Warning",
            "-o",
            "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}",
        ],
        None,
    );
    assert!(warnings.contains("SecretMissing"), "{warnings}");
    // Delete while the operator runs, so the finalizer is released and the namespace can go.
    remove_feeds(&feeds).await;
    operator.stop().await;
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_without_a_hot_loop() {
    install_crd();
    let ns = namespace("sf-nokafka");
    let client = client().await;
    let operator = Operator::start(&ns).await;
    let manifest =
        feed_manifest("lost", "lost.ticks", "").replace(&kafka_bootstrap(), "127.0.0.1:1");
    apply_as_user(&ns, &manifest);
    let feeds: Api<StockFeed> = Api::namespaced(client.clone(), &ns);
    let (_, _, message) =
        wait_condition(&feeds, "lost", "TopicReady", |c| c.1 == "KafkaUnreachable").await;
    assert!(message.contains("127.0.0.1:1"), "{message}");
    // The children exist anyway, so the pipeline starts as soon as the broker is reachable.
    assert!(deployment(&client, &ns, "lost-sink").await.is_some());
    let feed = feeds.get("lost").await.unwrap();
    assert!(
        feed.status
            .unwrap()
            .last_error
            .unwrap()
            .contains("TopicReady")
    );
    // Backoff, not a hot loop: over 10 s, with a 3 s Kafka timeout and doubling retries from
    // 0.5 s, at most a handful of attempts (each attempt publishes nothing new once the
    // condition is stable, so count the attempts through the Warning event's series count).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let count = kubectl_ok(
        &[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector=reason=KafkaUnreachable",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
        None,
    );
    assert_eq!(
        count.split_whitespace().count(),
        1,
        "one aggregated event, not one per retry: {count}"
    );
    // Delete while the operator runs, so the finalizer is released and the namespace can go.
    remove_feeds(&feeds).await;
    operator.stop().await;
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}
