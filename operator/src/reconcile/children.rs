//! Applies the built children with server-side apply and removes the ones no longer wanted.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::Error;
use crate::build::Children;
use crate::build::labels::{self, Component};

/// Field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "stockfeed-operator";

/// What the API server holds after the apply (the Deployments carry their current status).
/// A role whose Deployments were held back holds what exists of them, if anything.
pub struct Applied {
    pub producers: Vec<Deployment>,
    pub sink: Option<Deployment>,
}

/// Which workers' Deployments to apply. A worker whose Secrets are incomplete is held back:
/// its pods would only sit in CreateContainerConfigError, and pods already running keep
/// running unchanged until the Secret is fixed.
#[derive(Debug, Clone, Copy)]
pub struct Apply {
    pub producers: bool,
    pub sink: bool,
}

/// Applies in dependency order: identity and configuration first, so a pod never starts
/// against a ConfigMap or ServiceAccount that is not there yet.
#[tracing::instrument(skip_all, fields(namespace = ns))]
pub async fn apply(
    client: &Client,
    ns: &str,
    children: &Children,
    which: Apply,
) -> Result<Applied, Error> {
    if let Some(sa) = &children.service_account {
        ssa(client, ns, sa, "ServiceAccount").await?;
    }
    ssa(client, ns, &children.config_map, "ConfigMap").await?;
    ssa(client, ns, &children.metrics_service, "Service").await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    // A list by name, not a GET: the operator's role has `list` on Deployments, not `get`.
    let existing = |name: String| {
        let api = api.clone();
        async move {
            api.list(&ListParams::default().fields(&format!("metadata.name={name}")))
                .await
                .map(|l| l.items.into_iter().next())
                .map_err(|source| Error::List {
                    kind: "Deployment",
                    source,
                })
        }
    };
    let mut producers = Vec::new();
    for d in &children.producers {
        if which.producers {
            producers.push(ssa(client, ns, d, "Deployment").await?);
        } else if let Some(d) = existing(d.name_any()).await? {
            producers.push(d);
        }
    }
    let sink = if which.sink {
        Some(ssa(client, ns, &children.sink, "Deployment").await?)
    } else {
        existing(children.sink.name_any()).await?
    };
    Ok(Applied { producers, sink })
}

async fn ssa<K>(client: &Client, ns: &str, object: &K, kind: &'static str) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = object.name_any();
    // apiVersion and kind must be in the body of an apply patch.
    let mut body = serde_json::to_value(object).map_err(|e| Error::ApplyChild {
        kind,
        name: name.clone(),
        source: kube::Error::SerdeError(e),
    })?;
    body["apiVersion"] = K::api_version(&()).into();
    body["kind"] = K::kind(&()).into();
    // Force: the operator owns these fields; a person's edit is drift to correct.
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(body))
        .await
        .map_err(|source| Error::ApplyChild { kind, name, source })
}

/// Deletes producer shard Deployments of this StockFeed beyond the current shard count.
pub async fn delete_orphans(
    client: &Client,
    ns: &str,
    feed_name: &str,
    children: &Children,
) -> Result<Vec<String>, Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let selector = format!(
        "{}={},{}={},{}",
        labels::INSTANCE,
        labels::instance_value(feed_name),
        labels::COMPONENT,
        Component::Producer.as_str(),
        labels::managed_selector()
    );
    let existing = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::List {
            kind: "Deployment",
            source,
        })?;
    let wanted: Vec<String> = children.producers.iter().map(|d| d.name_any()).collect();
    let mut deleted = Vec::new();
    for d in existing {
        let name = d.name_any();
        if wanted.contains(&name) {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(source) => {
                return Err(Error::DeleteOrphan {
                    kind: "Deployment",
                    name,
                    source,
                });
            }
        }
    }
    Ok(deleted)
}
