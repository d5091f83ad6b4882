//! Leader election on a `coordination.k8s.io/v1` Lease, so several operator replicas can run
//! and exactly one reconciles.
//!
//! The holder renews the lease every `renew` interval; a candidate takes it over only when the
//! last renewal is older than the lease duration. Every write carries the resourceVersion it
//! read, so two candidates racing for an expired lease cannot both win. A leader that fails to
//! renew in time stops leading (the caller exits), which is what keeps two leaders from
//! overlapping for longer than one lease duration.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    pub renew: Duration,
}

pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease {name}: {source}")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) -> Result<(), LeaseError> {
        loop {
            if self.try_acquire().await? {
                tracing::info!(identity = %self.settings.identity, lease = %self.settings.name, "became leader");
                return Ok(());
            }
            tokio::time::sleep(self.settings.renew).await;
        }
    }

    /// Renews the lease until a renewal fails for longer than the lease duration, then returns.
    pub async fn keep(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew).await;
            match self.try_acquire().await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("lease taken by another replica");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the lease");
                    // Give up before the lease can expire, so no other replica leads meanwhile.
                    if last_ok.elapsed() + self.settings.renew >= self.settings.duration {
                        tracing::error!("lease not renewed in time; stepping down");
                        return;
                    }
                }
            }
        }
    }

    /// One attempt: true when this replica holds the lease afterwards.
    pub async fn try_acquire(&self) -> Result<bool, LeaseError> {
        let now = Timestamp::now();
        let err = |source| LeaseError::Api {
            name: self.settings.name.clone(),
            source,
        };
        let duration_secs = i32::try_from(self.settings.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await.map_err(err)? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.settings.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(err(e)),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let mine = spec.holder_identity.as_deref() == Some(self.settings.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let held = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(0).into());
            t.0 + held < now
        });
        if !mine && !expired {
            return Ok(false);
        }
        if !mine {
            spec.holder_identity = Some(self.settings.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(duration_secs);
        // Replace carries the resourceVersion we read: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(err(e)),
        }
    }
}
