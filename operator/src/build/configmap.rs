//! The workers' ConfigMap: one file per producer shard and one for the sink, typed and checked
//! by the worker library before they are written.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use stockfeed_spec::Rendered;
use stockfeed_spec::render::Worker;

use super::labels::Component;
use super::{BuildError, Ctx, SecretVersions, names};

pub const SINK_FILE: &str = "sink.yaml";

/// File of producer shard `shard`. Each shard has its own, holding only its tickers, so a
/// change of the shard count rewrites (and restarts) only the shards whose tickers moved.
pub fn producer_file(shard: u32) -> String {
    format!("producer-{shard}.yaml")
}

pub fn build(ctx: &Ctx<'_>, rendered: &Rendered, shards: u32) -> Result<ConfigMap, BuildError> {
    let mut data = BTreeMap::from([(SINK_FILE.to_owned(), rendered.sink_yaml()?)]);
    for shard in 0..shards {
        data.insert(
            producer_file(shard),
            rendered.producer_shard_yaml(shard, shards)?,
        );
    }
    Ok(ConfigMap {
        metadata: ctx.metadata(names::config_map(ctx.name), Component::Config),
        data: Some(data),
        ..Default::default()
    })
}

/// Changes whenever anything one worker reads at start-up changes: its file, which Secret keys
/// feed its environment and files, and those Secrets' versions. Put on that worker's pod
/// template only, so a change rolls just the pods it concerns (tickers: the producer shards;
/// flush settings: the sink; a rotated S3 key: the sink).
pub fn hash(
    config_map: &ConfigMap,
    file: &str,
    rendered: &Rendered,
    worker: Worker,
    versions: &SecretVersions,
) -> String {
    let mut text = String::new();
    text.push_str(file);
    text.push('\0');
    if let Some(content) = config_map.data.as_ref().and_then(|d| d.get(file)) {
        text.push_str(content);
    }
    text.push('\0');
    let mut secrets = std::collections::BTreeSet::new();
    for e in rendered.secret_env_of(worker) {
        text.push_str(&format!("{}={}/{}\0", e.var, e.secret, e.key));
        secrets.insert(e.secret.as_str());
    }
    for f in rendered.secret_files_of(worker) {
        text.push_str(&format!("{}:{}/{}\0", f.path.display(), f.secret, f.key));
        secrets.insert(f.secret.as_str());
    }
    for s in secrets {
        let version = versions.get(s).map_or("", String::as_str);
        text.push_str(&format!("{s}@{version}\0"));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// One hash over the pods' hashes, for the status.
pub fn combined_hash<'a>(hashes: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for h in hashes {
        text.push_str(h);
        text.push('\0');
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}
