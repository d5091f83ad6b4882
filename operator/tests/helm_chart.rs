//! The Helm chart (charts/stockfeed-operator) rendered by the real helm CLI (`hack/helm.sh`):
//! `helm lint --strict` on every shipped values file, what the default and the non-default
//! values render (hardened pod, flags and env the operator binary reads, least-privilege RBAC
//! in both scopes, monitoring objects that match what the operator builds), the values schema
//! refusing bad values with the key's path, and a dashboard that only queries metrics the
//! worker and operator export.
//!
//! Needs `STOCKFEED_HELM` (`eval "$(hack/helm.sh env)"`), no cluster; the install into a real
//! API server is in helm_install.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart;

use std::collections::BTreeSet;

use chart::*;
use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[test]
fn lint_passes_for_every_values_file() {
    let mut runs = vec![None];
    runs.extend(extra_values_files().into_iter().map(Some));
    for values in runs {
        let mut args = vec!["lint", "--strict", CHART];
        let path;
        if let Some(v) = &values {
            path = values_file(v);
            args.extend(["-f", path.as_str()]);
        }
        let out = helm(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "helm lint with {values:?} failed:\n{text}"
        );
        assert!(
            text.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{text}"
        );
        // --strict turns warnings into failures; also refuse template errors logged as INFO.
        assert!(
            !text.contains("[ERROR]") && !text.contains("Fail:"),
            "{text}"
        );
    }
}

#[test]
fn default_values_render_a_hardened_operator_with_cluster_wide_least_privilege() {
    let objects = template("sf", &["--namespace", "stockfeed-system"]);
    let kinds: BTreeSet<&str> = objects.iter().map(kind_of).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
        ]),
        "optional objects (ServiceMonitor, PodMonitor, PDB, dashboard) are off by default"
    );
    for o in &objects {
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm", "{o}");
        assert_eq!(labels["app.kubernetes.io/instance"], "sf", "{o}");
    }

    // The pod: non-root, read-only root, no capabilities, RuntimeDefault seccomp, bounded.
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "stockfeed-system");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sf-stockfeed-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = operator_container(&objects);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for key in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][key].is_string(), "{c}");
    }
    assert!(c["resources"]["limits"]["memory"].is_string(), "{c}");
    assert_eq!(c["image"], "ghcr.io/stockfeed/stockfeed-operator:0.1.0");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");

    // Flags and env the binary reads (stockfeed-operator --help).
    let args = args_of(c);
    for expected in [
        "--metrics-addr=[::]:8080",
        "--leader-elect=true",
        "--lease-name=stockfeed-operator-leader",
        "--lease-duration=15s",
        "--lease-renew=5s",
    ] {
        assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
    }
    assert_eq!(
        env_value(c, "STOCKFEED_WORKER_IMAGE").as_deref(),
        Some("ghcr.io/stockfeed/stockfeed-worker:0.1.0")
    );
    assert_eq!(
        env_value(c, "POD_NAMESPACE").as_deref(),
        Some("from:metadata.namespace")
    );
    assert_eq!(
        env_value(c, "POD_NAME").as_deref(),
        Some("from:metadata.name")
    );
    assert_eq!(
        env_value(c, "WATCH_NAMESPACE"),
        None,
        "cluster scope watches all"
    );

    // RBAC: exactly the reconcile grants cluster-wide, exactly the lease grants in its namespace.
    let cluster_role = one(&objects, "ClusterRole");
    assert_eq!(grants(&cluster_role["rules"]), reconcile_grants());
    let binding = one(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], cluster_role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], "sf-stockfeed-operator");
    assert_eq!(binding["subjects"][0]["namespace"], "stockfeed-system");
    let lease_role = one(&objects, "Role");
    assert_eq!(lease_role["metadata"]["namespace"], "stockfeed-system");
    assert_eq!(
        grants(&lease_role["rules"]),
        lease_grants("stockfeed-operator-leader")
    );
    // Nothing of the forbidden kind anywhere.
    for role in all(&objects, "ClusterRole")
        .into_iter()
        .chain(all(&objects, "Role"))
    {
        for (group, resource, verb, _) in grants(&role["rules"]) {
            assert!(
                group != "*" && resource != "*" && verb != "*",
                "wildcard in {role}"
            );
            assert!(
                !(resource == "secrets" && verb != "get"),
                "secrets: only get ({verb})"
            );
            assert!(
                !group.contains("rbac") && resource != "namespaces",
                "{group}/{resource} granted"
            );
            // Pods are only read (their kubelet reasons go on the StockFeed), never made.
            assert!(
                !(resource == "pods" && verb != "list" && verb != "watch"),
                "pods: only list and watch ({verb})"
            );
        }
    }

    // The metrics Service targets the container's port.
    let service = one(&objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http-metrics");
    assert_eq!(c["ports"][0]["name"], "http-metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn namespaced_values_grant_nothing_cluster_wide() {
    let objects = template(
        "sf",
        &[
            "--namespace",
            "platform",
            "-f",
            &values_file("ci/namespaced-values.yaml"),
        ],
    );
    assert!(all(&objects, "ClusterRole").is_empty());
    assert!(all(&objects, "ClusterRoleBinding").is_empty());
    let role = one(&objects, "Role");
    assert_eq!(
        role["metadata"]["namespace"], "markets",
        "the Role is where the StockFeeds are"
    );
    assert_eq!(grants(&role["rules"]), reconcile_grants());
    let binding = one(&objects, "RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "markets");
    assert_eq!(binding["subjects"][0]["name"], "markets-operator");
    assert_eq!(
        binding["subjects"][0]["namespace"], "platform",
        "the operator runs in the release namespace"
    );
    let c = operator_container(&objects);
    assert_eq!(env_value(c, "WATCH_NAMESPACE").as_deref(), Some("markets"));
    assert!(args_of(c).iter().any(|a| a == "--leader-elect=false"));
    assert!(!args_of(c).iter().any(|a| a.starts_with("--lease-name")));
    assert_eq!(
        c["image"],
        "registry.example.com/stockfeed/stockfeed-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        env_value(c, "STOCKFEED_WORKER_IMAGE").as_deref(),
        Some("registry.example.com/stockfeed/stockfeed-worker:0.1.0-rc.1")
    );
    assert_eq!(
        env_value(c, "STOCKFEED_WORKER_PULL_POLICY").as_deref(),
        Some("Always")
    );
    assert_eq!(env_value(c, "AWS_REGION").as_deref(), Some("eu-west-1"));
    let sa = one(&objects, "ServiceAccount");
    assert_eq!(sa["metadata"]["name"], "markets-operator");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/stockfeed-operator"
    );
    assert!(all(&objects, "Service").is_empty(), "metrics Service off");
}

/// The worker pods exactly as the operator builds them, for checking the PodMonitor against.
/// `workerPlacement` reaches the operator as the JSON of a `spec.workers.placement`, with the
/// empty defaults left out (so they set nothing), and the operator's parser takes it.
#[test]
fn worker_placement_values_reach_the_operator_in_the_specs_shape() {
    let c_default = template("sf", &["--namespace", "stockfeed-system"]);
    assert_eq!(
        env_value(operator_container(&c_default), "STOCKFEED_WORKER_PLACEMENT"),
        None
    );
    let objects = template(
        "sf",
        &[
            "--namespace",
            "stockfeed-system",
            "--set",
            "workerPlacement.nodeSelector.pool=feeds",
            "--set",
            "workerPlacement.priorityClassName=stockfeed",
        ],
    );
    let json = env_value(operator_container(&objects), "STOCKFEED_WORKER_PLACEMENT")
        .expect("STOCKFEED_WORKER_PLACEMENT");
    let placement: stockfeed_spec::feed::PodPlacement = serde_json::from_str(&json).unwrap();
    assert_eq!(placement.node_selector.unwrap()["pool"], "feeds");
    assert_eq!(placement.priority_class_name.as_deref(), Some("stockfeed"));
    assert_eq!(
        placement.tolerations, None,
        "an empty default set tolerations: {json}"
    );
}

fn built_worker_pods() -> Vec<k8s_openapi::api::apps::v1::Deployment> {
    let mut feed: stockfeed_operator::crd::StockFeed = serde_yaml::from_str(
        r#"
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {name: prices, namespace: markets, uid: 7b0c1d6e-0000-4000-8000-000000000001}
spec:
  tickers: [AAPL, MSFT]
  source: {provider: synthetic}
  kafka: {bootstrapServers: "kafka:9092", topic: stocks.ticks}
  sink: {url: "s3://lake/raw/"}
  workers: {producer: {replicas: 2}}
"#,
    )
    .unwrap();
    feed.metadata.generation = Some(1);
    let rendered =
        stockfeed_spec::render(feed.spec_feed(), &stockfeed_spec::RenderContext::default())
            .unwrap();
    let children = stockfeed_operator::build::build(
        &feed,
        &rendered,
        &stockfeed_operator::build::OperatorDefaults::default(),
        &Default::default(),
        false,
    )
    .unwrap();
    let mut pods = children.producers;
    pods.push(children.sink);
    pods
}

#[test]
fn full_values_render_monitoring_that_matches_what_the_operator_builds() {
    let objects = template(
        "sf",
        &[
            "--namespace",
            "stockfeed-system",
            "-f",
            &values_file("ci/full-values.yaml"),
        ],
    );
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let c = operator_container(&objects);
    assert!(args_of(c).iter().any(|a| a == "--metrics-addr=[::]:9000"));
    assert!(
        args_of(c)
            .iter()
            .any(|a| a == "--lease-name=stockfeed-operator-ha")
    );
    assert!(args_of(c).iter().any(|a| a == "--image-pull-policy=Always"));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["priorityClassName"],
        "system-cluster-critical"
    );

    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(pdb["spec"].get("maxUnavailable").is_none());
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    // ServiceMonitor → the metrics Service's port, by name.
    let sm = one(&objects, "ServiceMonitor");
    let service = one(&objects, "Service");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(service["spec"]["ports"][0]["name"], "http-metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 9000);
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][k], v, "{k}");
    }
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");

    // PodMonitor → selects every producer and sink pod the operator builds, by their labels,
    // and scrapes the port their container names.
    let pm = one(&objects, "PodMonitor");
    assert_eq!(pm["spec"]["namespaceSelector"]["any"], true);
    let endpoint = &pm["spec"]["podMetricsEndpoints"][0];
    let pods = built_worker_pods();
    assert_eq!(pods.len(), 3);
    for d in &pods {
        let template = d.spec.template.clone();
        let labels = template.metadata.unwrap().labels.unwrap();
        for (k, v) in pm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "{k}");
        }
        let component = &labels["app.kubernetes.io/component"];
        let allowed = &pm["spec"]["selector"]["matchExpressions"][0]["values"];
        assert!(
            allowed.as_array().unwrap().iter().any(|v| v == component),
            "{component}"
        );
        let container = &template.spec.unwrap().containers[0];
        let port_names: Vec<_> = container
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .filter_map(|p| p.name)
            .collect();
        assert!(
            port_names.iter().any(|n| endpoint["port"] == n.as_str()),
            "{port_names:?}"
        );
    }
    let targets: Vec<&str> = endpoint["relabelings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["targetLabel"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"stockfeed") && targets.contains(&"component"),
        "{targets:?}"
    );

    // The dashboard ConfigMap, for Grafana's sidecar.
    let cm = one(&objects, "ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "StockFeed");
    let json: Value = serde_json::from_str(cm["data"]["stockfeed.json"].as_str().unwrap())
        .expect("the dashboard in the ConfigMap is valid JSON");
    assert_eq!(json["uid"], "stockfeed-overview");
}

/// Every metric name the worker (producer and sink) and the operator export, as Prometheus
/// sees the samples (counters with `_total`, histograms with `_bucket`/`_sum`/`_count`).
fn exported_metric_names() -> BTreeSet<String> {
    use stockfeed_producer::metrics::{ErrorLabels, ProviderLabels, RecordLabels, RequestLabels};
    use stockfeed_sink::metrics::{KindLabels, PartitionLabels};
    let mut registry = prometheus_client::registry::Registry::default();
    let p = stockfeed_producer::metrics::ProducerMetrics::register(&mut registry);
    let s = stockfeed_sink::metrics::SinkMetrics::register(&mut registry);
    let o = stockfeed_operator::metrics::Metrics::register(&mut registry);
    // Labelled families are only encoded once they have a series: give each one.
    let provider = ProviderLabels {
        provider: "synthetic".into(),
    };
    let class = ErrorLabels {
        class: "source".into(),
    };
    let kind = KindLabels {
        kind: "trade".into(),
    };
    p.records
        .get_or_create(&RecordLabels {
            provider: "synthetic".into(),
            kind: "trade".into(),
            symbol: "AAPL".into(),
        })
        .inc();
    p.duplicates.get_or_create(&provider).inc();
    p.dlq.get_or_create(&provider).inc();
    p.errors.get_or_create(&class).inc();
    p.api_latency
        .get_or_create(&RequestLabels {
            provider: "finnhub".into(),
            outcome: "ok".into(),
        })
        .observe(0.1);
    s.records_written.get_or_create(&kind).inc();
    s.files_written.get_or_create(&kind).inc();
    s.errors.get_or_create(&class).inc();
    s.lag
        .get_or_create(&PartitionLabels {
            partition: "0".into(),
        })
        .set(1);
    o.failed("apply_child");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("#") || parts.next() != Some("TYPE") {
            continue;
        }
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    assert!(names.len() > 20, "{names:?}");
    names
}

/// `stockfeed_*` identifiers in a PromQL expression, skipping regex matchers such as
/// `{__name__=~"stockfeed_(producer|sink)_.+"}`.
fn metric_names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("stockfeed_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let in_regex = end < bytes.len() && bytes[end] == b'(';
        let preceded = start > 0 && (bytes[start - 1].is_ascii_alphanumeric());
        if !in_regex && !preceded {
            names.push(expr[start..end].to_owned());
        }
        i = end;
    }
    names
}

fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    exprs
}

#[test]
fn dashboard_queries_only_metrics_the_code_exports_and_covers_the_issue() {
    let path = format!("{CHART}/dashboards/stockfeed.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let exported = exported_metric_names();
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 15, "{} queries", exprs.len());
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names_in(expr) {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name}, which nothing exports (query: {expr}); exported: {exported:?}"
            );
            used.insert(name);
        }
    }
    // The issue's list: per-StockFeed produced and written rates, lag, freshness, DLQ, errors.
    for needed in [
        "stockfeed_producer_records_total",
        "stockfeed_sink_records_written_total",
        "stockfeed_sink_consumer_lag",
        "stockfeed_sink_freshness_seconds_bucket",
        "stockfeed_producer_dlq_total",
        "stockfeed_sink_dlq_total",
        "stockfeed_producer_errors_total",
        "stockfeed_sink_errors_total",
        "stockfeed_operator_reconcile_failures_total",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
    // Worker panels are per StockFeed: they filter by and group by the label the PodMonitor adds.
    for expr in exprs
        .iter()
        .filter(|e| e.contains("stockfeed_producer_") || e.contains("stockfeed_sink_"))
    {
        assert!(
            expr.contains(r#"stockfeed=~"$stockfeed""#),
            "not filtered by $stockfeed: {expr}"
        );
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "stockfeed"]);
    // Unique panel ids, as Grafana requires.
    let ids: Vec<i64> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
}

#[test]
fn a_dashboard_query_of_an_unknown_metric_is_caught() {
    // The check above must be able to fail: a misspelt name is not among the exported ones.
    let exported = exported_metric_names();
    let names = metric_names_in(
        r#"sum(rate(stockfeed_sink_record_written_total{stockfeed=~"$stockfeed"}[5m])) + label_values({__name__=~"stockfeed_(producer|sink)_.+"}, x)"#,
    );
    assert_eq!(names, ["stockfeed_sink_record_written_total"]);
    assert!(!exported.contains(&names[0]));
}

#[test]
fn bad_values_fail_at_install_with_the_offending_key() {
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "watch.scope=galaxy"], "/watch/scope"),
        (&["--set", "replicaCount=-1"], "/replicaCount"),
        (&["--set", "imagee.tag=1.0"], "'imagee' not allowed"),
        (
            &["--set", "operator.resync=five minutes"],
            "/operator/resync",
        ),
        (
            &["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        (&["--set", "metrics.port=80"], "/metrics/port"),
        (
            &["--set", "workerImage.digest=sha256:short"],
            "/workerImage/digest",
        ),
        (
            &["--set", "serviceAccount.annotations.role=1"],
            "/serviceAccount/annotations/role",
        ),
        (
            &[
                "--set",
                "replicaCount=2",
                "--set",
                "leaderElection.enabled=false",
            ],
            "replicaCount > 1 needs leaderElection.enabled",
        ),
        (
            &[
                "--set",
                "podDisruptionBudget.enabled=true",
                "--set",
                "podDisruptionBudget.minAvailable=1",
                "--set",
                "podDisruptionBudget.maxUnavailable=1",
            ],
            "set minAvailable or maxUnavailable, not both",
        ),
        (
            &[
                "--set",
                "serviceAccount.create=false",
                "--set",
                "serviceAccount.name=",
            ],
            "serviceAccount.name is required",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["template", "sf", CHART];
        args.extend_from_slice(extra);
        let out = helm(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(
            stderr.contains(message),
            "{extra:?}: expected {message:?} in:\n{stderr}"
        );
    }
}

#[test]
fn helm_ships_the_generated_crd() {
    // `helm show crds` prints what `helm install` will create: the generated CRD, unchanged.
    let shown = helm_ok(&["show", "crds", CHART]);
    let committed = std::fs::read_to_string(format!("{REPO}/crds/stockfeed.yaml")).unwrap();
    assert_eq!(documents(&shown), documents(&committed), "run `make crds`");
    // The rendered templates do not also carry it (it would be owned by the release and
    // deleted by `helm uninstall`, taking every StockFeed with it).
    let rendered = template_text("sf", &[]);
    assert!(!rendered.contains("kind: CustomResourceDefinition"));
}

/// Paths of the values the schema knows, down to the free-form leaves (maps and lists without
/// their own properties, such as `podAnnotations` or `resources.limits`).
fn schema_paths(node: &Value, prefix: &str, out: &mut Vec<String>) {
    match node.get("properties").and_then(Value::as_object) {
        Some(props) => {
            for (key, child) in props {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                schema_paths(child, &path, out);
            }
        }
        None => out.push(prefix.to_owned()),
    }
}

#[test]
fn every_value_has_a_default_and_a_row_in_the_readme() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CHART}/values.schema.json")).unwrap(),
    )
    .unwrap();
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(format!("{CHART}/values.yaml")).unwrap())
            .unwrap();
    let readme = std::fs::read_to_string(format!("{CHART}/README.md")).unwrap();
    let mut paths = Vec::new();
    schema_paths(&schema, "", &mut paths);
    paths.retain(|p| p != "global"); // Helm's own
    assert!(paths.len() > 50, "{paths:?}");
    for path in &paths {
        let mut v = &values;
        for key in path.split('.') {
            v = v
                .get(key)
                .unwrap_or_else(|| panic!("values.yaml has no default for {path}"));
        }
        assert!(
            readme.contains(&format!("| `{path}` |")),
            "README.md's values table has no row for `{path}`"
        );
    }
    // And values.yaml has nothing the schema does not know (the schema would refuse it).
    let mut defaults = Vec::new();
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(map) = v.as_object().filter(|m| !m.is_empty()) {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(child, &path, out);
            }
        } else {
            out.push(prefix.to_owned());
        }
    }
    walk(&values, "", &mut defaults);
    for d in defaults {
        assert!(
            paths
                .iter()
                .any(|p| d == *p || d.starts_with(&format!("{p}."))),
            "values.yaml sets {d}, which the schema does not describe"
        );
    }
}
