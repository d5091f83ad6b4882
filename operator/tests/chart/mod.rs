//! Helpers for the Helm chart tests: the helm binary (`hack/helm.sh`), rendering the chart into
//! JSON values, and finding objects in what it rendered.

#![allow(dead_code)] // each test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

pub const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/stockfeed-operator");

/// The helm binary from `STOCKFEED_HELM`; fails the test with what to do when it is not set.
pub fn helm_path() -> String {
    let Ok(path) = std::env::var("STOCKFEED_HELM") else {
        panic!(
            "STOCKFEED_HELM is not set. Build helm with `hack/helm.sh fetch` and set it with \
             `eval \"$(hack/helm.sh env)\"` (or `eval \"$(hack/services.sh env)\"`); \
             `make test` does both."
        );
    };
    assert!(
        std::path::Path::new(&path).is_file(),
        "STOCKFEED_HELM={path} does not exist; run `hack/helm.sh fetch`"
    );
    path
}

/// Runs helm; HOME-independent (its caches and config go to a throwaway directory).
pub fn helm(args: &[&str]) -> Output {
    let scratch = std::env::temp_dir().join(format!("stockfeed-helm-{}", std::process::id()));
    Command::new(helm_path())
        .args(args)
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm ({e})"))
}

/// helm that must succeed; returns stdout.
pub fn helm_ok(args: &[&str]) -> String {
    let out = helm(args);
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A values file of the chart, by path relative to the chart.
pub fn values_file(relative: &str) -> String {
    format!("{CHART}/{relative}")
}

/// Every values file the chart ships besides values.yaml: ci/ fixtures and the examples.
pub fn extra_values_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["ci", "examples"] {
        for entry in std::fs::read_dir(format!("{CHART}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-values.yaml") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 3,
        "expected ci/ and examples/ values files, found {files:?}"
    );
    files
}

/// `helm template` with extra arguments (`-f`, `--set`, `--namespace`), as YAML text.
pub fn template_text(release: &str, extra: &[&str]) -> String {
    let mut args = vec!["template", release, CHART];
    args.extend_from_slice(extra);
    helm_ok(&args)
}

/// `helm template`, each rendered document as JSON.
pub fn template(release: &str, extra: &[&str]) -> Vec<Value> {
    documents(&template_text(release, extra))
}

/// Parses a multi-document YAML stream, skipping empty documents.
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

pub fn kind_of(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

/// The only object of `kind`; fails when there is none or several.
pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| kind_of(o) == kind).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, rendered: {:?}",
        objects.iter().map(kind_of).collect::<Vec<_>>()
    );
    found[0]
}

pub fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| kind_of(o) == kind).collect()
}

/// The operator container of the rendered Deployment.
pub fn operator_container(objects: &[Value]) -> &Value {
    &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

/// The container's plain `env` values (`valueFrom` entries as `from:<fieldPath>`).
pub fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            let value = match e.get("value") {
                Some(v) => v.as_str().unwrap().to_owned(),
                None => format!(
                    "from:{}",
                    e["valueFrom"]["fieldRef"]["fieldPath"]
                        .as_str()
                        .unwrap_or("?")
                ),
            };
            (name, value)
        })
        .collect()
}

pub fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

pub fn args_of(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// One permission, as RBAC grants it: (apiGroup, resource, verb, resourceName or `*`).
pub type Grant = (String, String, String, String);

/// Flattens RBAC rules (rendered Roles, or a SelfSubjectRulesReview's resourceRules) into
/// single grants, so two rule sets can be compared exactly.
pub fn grants(rules: &Value) -> std::collections::BTreeSet<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let mut out = std::collections::BTreeSet::new();
    for rule in rules.as_array().unwrap() {
        let mut names = strings(&rule["resourceNames"]);
        if names.is_empty() {
            names.push("*".into());
        }
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

/// Builds grants from `(group, resources, verbs)` triples, for expected sets.
pub fn expected(
    triples: &[(&str, &[&str], &[&str])],
    resource_name: &str,
) -> std::collections::BTreeSet<Grant> {
    let mut out = std::collections::BTreeSet::new();
    for (group, resources, verbs) in triples {
        for r in *resources {
            for v in *verbs {
                out.insert((
                    (*group).to_owned(),
                    (*r).to_owned(),
                    (*v).to_owned(),
                    resource_name.to_owned(),
                ));
            }
        }
    }
    out
}

/// What the operator needs in every namespace it reconciles (templates/rbac.yaml).
pub fn reconcile_grants() -> std::collections::BTreeSet<Grant> {
    expected(
        &[
            (
                "stockfeed.dev",
                &["stockfeeds"],
                &["list", "watch", "patch"],
            ),
            ("stockfeed.dev", &["stockfeeds/status"], &["patch"]),
            (
                "apps",
                &["deployments"],
                &["list", "watch", "create", "patch", "delete"],
            ),
            (
                "",
                &["configmaps", "serviceaccounts", "services"],
                &["list", "watch", "create", "patch"],
            ),
            ("", &["secrets"], &["get"]),
            ("", &["pods"], &["list", "watch"]),
            ("events.k8s.io", &["events"], &["create", "patch"]),
        ],
        "*",
    )
}

/// What leader election needs in the operator's own namespace.
pub fn lease_grants(lease: &str) -> std::collections::BTreeSet<Grant> {
    let mut out = expected(&[("coordination.k8s.io", &["leases"], &["create"])], "*");
    out.extend(expected(
        &[("coordination.k8s.io", &["leases"], &["get", "update"])],
        lease,
    ));
    out
}
