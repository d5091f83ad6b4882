//! Checks the Secrets a StockFeed references before any pod is made: each must exist and hold
//! every key a worker reads from it. A gap is reported on the StockFeed, naming the Secret and
//! the key, instead of as pods stuck in CreateContainerConfigError.
//!
//! The check needs the Secret's key names, which only a full GET returns; the values come with
//! them (RBAC cannot grant keys without values). They are dropped at once, never logged, never
//! stored: only the key names and the `resourceVersion` (which makes a rotation roll the pods
//! that read the Secret) leave this module.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use stockfeed_spec::Rendered;
use stockfeed_spec::render::{UsedBy, Worker};

use super::error::Error;
use crate::build::SecretVersions;

/// A referenced Secret, or a key of it, that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub secret: String,
    /// `None`: the whole Secret is missing.
    pub key: Option<String>,
    pub used_by: UsedBy,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            None => write!(f, "Secret {} not found", self.secret),
            Some(k) => write!(f, "Secret {} has no key {k}", self.secret),
        }
    }
}

/// What the API server holds of the referenced Secrets.
#[derive(Debug, Default)]
pub struct SecretCheck {
    pub versions: SecretVersions,
    pub gaps: Vec<Gap>,
}

impl SecretCheck {
    /// Gaps that stop `worker`'s pods.
    pub fn gaps_of(&self, worker: Worker) -> Vec<&Gap> {
        self.gaps
            .iter()
            .filter(|g| g.used_by.includes(worker))
            .collect()
    }
}

/// Each referenced Secret name with the keys read from it and by whom.
fn wanted(rendered: &Rendered) -> BTreeMap<&str, Vec<(&str, UsedBy)>> {
    let mut wanted: BTreeMap<&str, Vec<(&str, UsedBy)>> = BTreeMap::new();
    for e in &rendered.secret_env {
        wanted
            .entry(e.secret.as_str())
            .or_default()
            .push((e.key.as_str(), e.used_by));
    }
    for f in &rendered.secret_files {
        wanted
            .entry(f.secret.as_str())
            .or_default()
            .push((f.key.as_str(), f.used_by));
    }
    wanted
}

/// Gaps of one Secret, given the key names it holds (`None`: it does not exist). Pure, so the
/// rules are tested without an API server.
pub fn gaps(
    secret: &str,
    wanted: &[(&str, UsedBy)],
    present: Option<&BTreeSet<String>>,
) -> Vec<Gap> {
    let Some(present) = present else {
        // One gap per Secret, by the union of its readers.
        let used_by = wanted
            .iter()
            .map(|(_, u)| *u)
            .reduce(|a, b| if a == b { a } else { UsedBy::Both })
            .unwrap_or(UsedBy::Both);
        return vec![Gap {
            secret: secret.to_owned(),
            key: None,
            used_by,
        }];
    };
    let mut seen = BTreeSet::new();
    wanted
        .iter()
        .filter(|(key, _)| !present.contains(*key) && seen.insert(*key))
        .map(|(key, used_by)| Gap {
            secret: secret.to_owned(),
            key: Some((*key).to_owned()),
            used_by: *used_by,
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(namespace = ns))]
pub async fn check(client: &Client, ns: &str, rendered: &Rendered) -> Result<SecretCheck, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = SecretCheck::default();
    for (name, keys) in wanted(rendered) {
        let found = api.get_opt(name).await.map_err(|source| Error::GetSecret {
            name: name.to_owned(),
            source,
        })?;
        let present = found.map(|secret| {
            if let Some(v) = secret.metadata.resource_version.clone() {
                out.versions.insert(name.to_owned(), v);
            }
            // Key names only; `secret` (and its values) is dropped at the end of this closure.
            secret
                .data
                .into_iter()
                .flat_map(BTreeMap::into_keys)
                .collect::<BTreeSet<String>>()
        });
        out.gaps.extend(gaps(name, &keys, present.as_ref()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_named_and_a_missing_secret_is_one_gap() {
        let wanted = [("keyId", UsedBy::Producer), ("secretKey", UsedBy::Producer)];
        let present = BTreeSet::from(["keyId".to_owned()]);
        let g = gaps("alpaca", &wanted, Some(&present));
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].to_string(), "Secret alpaca has no key secretKey");
        assert!(
            gaps(
                "alpaca",
                &wanted,
                Some(&BTreeSet::from(["keyId".into(), "secretKey".into()]))
            )
            .is_empty()
        );
        let g = gaps(
            "kafka",
            &[("username", UsedBy::Both), ("x", UsedBy::Sink)],
            None,
        );
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].to_string(), "Secret kafka not found");
        assert_eq!(g[0].used_by, UsedBy::Both);
    }
}
