//! What the kubelet says about a StockFeed's pods, so a pod that cannot start or keeps
//! crashing shows on the StockFeed with the kubelet's own reason (ErrImageNeverPull,
//! CrashLoopBackOff, CreateContainerConfigError, …) instead of "Progressing" for ever.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};

use super::error::Error;
use crate::build::labels::{self, Component};

/// Waiting reasons that do not clear by themselves: each needs a fix by someone.
const STUCK: &[&str] = &[
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// A reason and a message for a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub message: String,
}

/// The first stuck container or unschedulable pod among `pods`.
pub fn problem(pods: &[Pod]) -> Option<Problem> {
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let Some(status) = &pod.status else { continue };
        for c in status.container_statuses.iter().flatten() {
            let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if STUCK.contains(&reason) {
                let mut message = format!("pod {name}, container {}", c.name);
                if let Some(m) = waiting.message.as_deref().filter(|m| !m.is_empty()) {
                    message.push_str(": ");
                    message.push_str(m);
                }
                // A crash loop's own message is only "back-off …": say how it last ended.
                if let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                    message.push_str(&format!(
                        " (last exit code {}{})",
                        t.exit_code,
                        t.reason
                            .as_deref()
                            .map(|r| format!(", {r}"))
                            .unwrap_or_default()
                    ));
                }
                return Some(Problem {
                    reason: reason.to_owned(),
                    message,
                });
            }
        }
        for c in status.conditions.iter().flatten() {
            if c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
            {
                return Some(Problem {
                    reason: "Unschedulable".into(),
                    message: format!(
                        "pod {name}: {}",
                        c.message.as_deref().unwrap_or("no node fits")
                    ),
                });
            }
        }
    }
    None
}

/// A Deployment that the controller-manager gave up on (pods cannot be created, e.g. quota,
/// or no progress within its deadline).
pub fn deployment_problem(deployments: &[Deployment]) -> Option<Problem> {
    for d in deployments {
        for c in d.status.iter().flat_map(|s| s.conditions.iter().flatten()) {
            let (type_, status) = (c.type_.as_deref(), c.status.as_deref());
            let failed = (type_ == Some("ReplicaFailure") && status == Some("True"))
                || (type_ == Some("Progressing")
                    && status == Some("False")
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
            if failed {
                return Some(Problem {
                    reason: c
                        .reason
                        .clone()
                        .or_else(|| c.type_.clone())
                        .unwrap_or_default(),
                    message: format!(
                        "Deployment {}: {}",
                        d.metadata.name.as_deref().unwrap_or("?"),
                        c.message.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
    }
    None
}

/// The pods of one role of a StockFeed.
#[tracing::instrument(skip(client))]
pub async fn list(
    client: &Client,
    ns: &str,
    feed: &str,
    component: Component,
) -> Result<Vec<Pod>, Error> {
    let selector = format!(
        "{}={},{}={},{}",
        labels::INSTANCE,
        labels::instance_value(feed),
        labels::COMPONENT,
        component.as_str(),
        labels::managed_selector()
    );
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::List {
            kind: "Pod",
            source,
        })?;
    Ok(pods.items)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "f-sink-1"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn stuck_containers_are_reported_with_the_kubelets_reason() {
        let p = pod(serde_json::json!({"containerStatuses": [{
            "name": "sink", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}
        }]}));
        let got = problem(&[p]).unwrap();
        assert_eq!(got.reason, "CrashLoopBackOff");
        assert!(
            got.message.contains("f-sink-1") && got.message.contains("last exit code 2"),
            "{got:?}"
        );
    }

    #[test]
    fn starting_containers_are_not_problems() {
        let p = pod(serde_json::json!({"containerStatuses": [{
            "name": "sink", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]}));
        assert_eq!(problem(&[p]), None);
        let unschedulable = pod(serde_json::json!({"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        }]}));
        assert_eq!(problem(&[unschedulable]).unwrap().reason, "Unschedulable");
    }
}
