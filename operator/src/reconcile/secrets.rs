//! Checks that the Secrets a StockFeed references exist, so a missing one is reported on the
//! StockFeed at once instead of as pods stuck in CreateContainerConfigError.
//!
//! Only metadata is fetched; the operator never reads Secret values.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use stockfeed_spec::Rendered;

use super::error::Error;

/// Names of referenced Secrets that do not exist in `ns`.
#[tracing::instrument(skip_all, fields(namespace = ns))]
pub async fn missing(client: &Client, ns: &str, rendered: &Rendered) -> Result<Vec<String>, Error> {
    let names: BTreeSet<&str> = rendered
        .secret_env
        .iter()
        .map(|s| s.secret.as_str())
        .chain(rendered.secret_files.iter().map(|f| f.secret.as_str()))
        .collect();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut missing = Vec::new();
    for name in names {
        let found = api
            .get_metadata_opt(name)
            .await
            .map_err(|source| Error::GetSecret {
                name: name.to_owned(),
                source,
            })?;
        if found.is_none() {
            missing.push(name.to_owned());
        }
    }
    Ok(missing)
}
