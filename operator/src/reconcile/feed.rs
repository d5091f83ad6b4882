//! Apply and cleanup of one StockFeed (see the module docs of `reconcile` for the order).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use stockfeed_spec::render::Worker;
use stockfeed_spec::{FieldError, InvalidSpec, RenderContext, render};

use super::error::Error;
use super::{Context, catalog, children, pods, secrets, topic};
use crate::build::labels::Component;
use crate::build::{self, names};
use crate::conditions::{self, Observed};
use crate::crd::{ReplicaCounts, StockFeed, StockFeedStatus};

/// How soon a healthy StockFeed that reads Secrets is reconciled again (see the end of `apply`).
const SECRET_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn apply(feed: &Arc<StockFeed>, ctx: &Context) -> Result<Action, Error> {
    let ns = feed.namespace().unwrap_or_default();
    let name = feed.name_any();
    let spec = feed.spec_feed();
    let old = feed.status.clone().unwrap_or_default();
    let mut status = StockFeedStatus {
        observed_generation: feed.metadata.generation,
        ticker_count: i32::try_from(spec.tickers.len()).unwrap_or(i32::MAX),
        ..old.clone()
    };

    // 1. The spec. The CRD schema rejects most mistakes; this catches the rest (provider
    //    settings) and objects stored under an older CRD.
    let render_ctx = RenderContext {
        sink_group_id: Some(names::sink_group(&ns, &name)),
        ..RenderContext::default()
    };
    let rendered = match render(spec, &render_ctx).and_then(|r| in_a_pod(spec).map(|()| r)) {
        Ok(r) => r,
        Err(invalid) => {
            let c = Observed::failed(conditions::READY, "InvalidSpec", invalid.to_string());
            status.last_error = Some(invalid.to_string());
            finish(feed, ctx, &old, status, vec![c]).await?;
            // Nothing to retry until the user edits the object.
            return Ok(Action::await_change());
        }
    };

    // 2. Secrets, 3. topics.
    let secrets = secrets::check(&ctx.client, &ns, &rendered).await?;
    let topic = topic::ensure(spec, ctx.settings.kafka_timeout).await;
    if topic.created {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "TopicCreated",
            "Provisioning",
            topic.condition.message.clone(),
        )
        .await;
    }
    status.topic = topic.status.clone().or(old.topic.clone());

    // 4. Children. The producer pods first: a suspended feed's sink runs until they are gone.
    let producer_pods = pods::list(&ctx.client, &ns, &name, Component::Producer).await?;
    let built = build::build(
        feed,
        &rendered,
        &ctx.settings.defaults,
        &secrets.versions,
        !producer_pods.is_empty(),
    )?;
    let which = children::Apply {
        producers: secrets.gaps_of(Worker::Producer).is_empty(),
        sink: secrets.gaps_of(Worker::Sink).is_empty(),
    };
    let applied = children::apply(&ctx.client, &ns, &built, which).await?;
    let orphans = if which.producers {
        children::delete_orphans(&ctx.client, &ns, &name, &built).await?
    } else {
        Vec::new()
    };
    for gone in orphans {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "ShardRemoved",
            "Scaling",
            format!("deleted Deployment {gone}"),
        )
        .await;
    }
    if old.config_hash.as_deref() != Some(built.config_hash.as_str()) && old.config_hash.is_some() {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "ConfigChanged",
            "Rolling",
            format!(
                "worker configuration changed (hash {}); pods roll",
                built.config_hash
            ),
        )
        .await;
    }
    status.config_hash = Some(built.config_hash.clone());

    // 5. Catalog.
    let catalog = catalog::ensure(&ctx.aws, feed, spec).await;
    for note in &catalog.changes {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "CatalogChanged",
            "Cataloging",
            note.clone(),
        )
        .await;
    }
    status.crawler = catalog.crawler.clone();

    // 6. Conditions, from the Deployments and what the kubelet says about their pods.
    let sink_pods = pods::list(&ctx.client, &ns, &name, Component::Sink).await?;
    let sink_deployments: Vec<Deployment> = applied.sink.into_iter().collect();
    let (producer, producer_counts) = availability(
        conditions::PRODUCER_AVAILABLE,
        &applied.producers,
        spec.suspend,
        &secrets.gaps_of(Worker::Producer),
        pods::deployment_problem(&applied.producers).or_else(|| pods::problem(&producer_pods)),
    );
    let (sink, sink_counts) = availability(
        conditions::SINK_AVAILABLE,
        &sink_deployments,
        spec.suspend,
        &secrets.gaps_of(Worker::Sink),
        pods::deployment_problem(&sink_deployments).or_else(|| pods::problem(&sink_pods)),
    );
    status.producer_replicas = producer_counts;
    status.sink_replicas = sink_counts;
    let parts = vec![topic.condition, producer, sink, catalog.condition];
    let degraded = parts
        .iter()
        .any(|c| !c.status && c.reason != "Progressing" && c.reason != "Suspended");
    status.last_error = parts
        .iter()
        .find(|c| !c.status && c.reason != "Progressing" && c.reason != "Suspended")
        .map(|c| format!("{}: {}", c.type_, c.message));
    let mut all = vec![conditions::ready(&parts)];
    all.extend(parts);
    finish(feed, ctx, &old, status, all).await?;

    let uid = feed.uid().unwrap_or_default();
    if degraded {
        Ok(Action::requeue(ctx.backoff.failed(&uid)))
    } else {
        ctx.backoff.succeeded(&uid);
        // Secrets are not watched (that would need `list` on every Secret): a StockFeed that
        // reads some is looked at again within a minute, so a rotation rolls its pods soon.
        let uses_secrets = !rendered.secret_env.is_empty() || !rendered.secret_files.is_empty();
        Ok(Action::requeue(if uses_secrets {
            ctx.settings.resync.min(SECRET_RECHECK)
        } else {
            ctx.settings.resync
        }))
    }
}

pub async fn cleanup(feed: &Arc<StockFeed>, ctx: &Context) -> Result<Action, Error> {
    // The lake on S3 holds the user's data: it is left alone. The topic goes only when the
    // spec's deletion policy says so.
    let topics = topic::delete(feed.spec_feed(), ctx.settings.kafka_timeout)
        .await
        .map_err(Error::TopicCleanup)?;
    if let Some(note) = topics {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "TopicDeleted",
            "Deleting",
            note,
        )
        .await;
    }
    let removed = catalog::remove(&ctx.aws, feed, feed.spec_feed())
        .await
        .map_err(Error::CatalogCleanup)?;
    if let Some(note) = removed {
        publish(
            ctx,
            feed,
            EventType::Normal,
            "CatalogRemoved",
            "Deleting",
            note,
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Limits of running in a pod that `stockfeed run` does not have: the root filesystem is
/// read-only and lost with the pod, so a `file://` lake has nowhere to go.
fn in_a_pod(spec: &stockfeed_spec::FeedSpec) -> Result<(), InvalidSpec> {
    if spec.sink.url.starts_with("file://") {
        return Err(InvalidSpec(vec![FieldError::new(
            "spec.sink.url",
            "a file:// sink cannot run in a pod: its root filesystem is read-only and would be lost with the pod; use an s3:// URL (file:// is for `stockfeed run`)",
        )]));
    }
    Ok(())
}

/// Condition and counts for a set of Deployments of one role. In order: suspended; held back
/// for a Secret; a pod the kubelet cannot start or keeps restarting (even while an older pod
/// still serves: the rollout is stuck); available; else progressing.
fn availability(
    type_: &'static str,
    deployments: &[Deployment],
    suspended: bool,
    secret_gaps: &[&secrets::Gap],
    problem: Option<pods::Problem>,
) -> (Observed, ReplicaCounts) {
    let desired: i32 = deployments.iter().filter_map(|d| d.spec.replicas).sum();
    let available: i32 = deployments
        .iter()
        .filter_map(|d| d.status.as_ref()?.available_replicas)
        .sum();
    let counts = ReplicaCounts { desired, available };
    let role = if type_ == conditions::SINK_AVAILABLE {
        "sink"
    } else {
        "producer"
    };
    let condition = if suspended {
        Observed::failed(
            type_,
            "Suspended",
            format!("spec.suspend is true; the {role} is scaled to zero"),
        )
    } else if !secret_gaps.is_empty() {
        let reason = if secret_gaps.iter().all(|g| g.key.is_none()) {
            "SecretMissing"
        } else {
            "SecretKeyMissing"
        };
        let gaps: Vec<String> = secret_gaps.iter().map(|g| g.to_string()).collect();
        Observed::failed(
            type_,
            reason,
            format!(
                "{} in the StockFeed's namespace; the {role} pods are not created or changed until it is fixed",
                gaps.join("; ")
            ),
        )
    } else if let Some(p) = problem {
        Observed::failed(type_, &p.reason, p.message)
    } else if desired > 0 && available >= desired {
        Observed::ok(
            type_,
            "Available",
            format!("{available}/{desired} {role} pods available"),
        )
    } else {
        Observed::failed(
            type_,
            "Progressing",
            format!("{available}/{desired} {role} pods available"),
        )
    };
    (condition, counts)
}

/// Writes the status (server-side apply on the status subresource) and publishes an event for
/// every condition that changed.
async fn finish(
    feed: &Arc<StockFeed>,
    ctx: &Context,
    old: &StockFeedStatus,
    mut status: StockFeedStatus,
    observed: Vec<Observed>,
) -> Result<(), Error> {
    status.conditions = conditions::merge(&old.conditions, &observed, feed.metadata.generation);
    for c in conditions::transitions(&old.conditions, &status.conditions) {
        let type_ = if c.status == "True" || c.reason == "Progressing" || c.reason == "Suspended" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(
            ctx,
            feed,
            type_,
            &c.reason,
            "Reconciling",
            format!("{} is {}: {}", c.type_, c.status, c.message),
        )
        .await;
    }
    let api: Api<StockFeed> =
        Api::namespaced(ctx.client.clone(), &feed.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": StockFeed::api_version(&()),
        "kind": StockFeed::kind(&()),
        "status": status,
    });
    api.patch_status(
        &feed.name_any(),
        &PatchParams::apply(children::FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(Error::PatchStatus)?;
    Ok(())
}

async fn publish(
    ctx: &Context,
    feed: &StockFeed,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    // An event that cannot be written is not worth failing the reconcile for.
    if let Err(e) = ctx.recorder.publish(&event, &feed.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}
