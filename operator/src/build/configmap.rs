//! The workers' ConfigMap: the rendered producer and sink files, typed and checked by the
//! worker library before they are written.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use stockfeed_spec::Rendered;

use super::labels::Component;
use super::{BuildError, Ctx, names};

pub const PRODUCER_FILE: &str = "producer.yaml";
pub const SINK_FILE: &str = "sink.yaml";

pub fn build(ctx: &Ctx<'_>, rendered: &Rendered) -> Result<ConfigMap, BuildError> {
    Ok(ConfigMap {
        metadata: ctx.metadata(names::config_map(ctx.name), Component::Config),
        data: Some(BTreeMap::from([
            (PRODUCER_FILE.to_owned(), rendered.producer_yaml()?),
            (SINK_FILE.to_owned(), rendered.sink_yaml()?),
        ])),
        ..Default::default()
    })
}

/// Changes whenever anything a worker reads at start-up changes: the files and which Secret
/// keys feed its environment. Put on the pod templates, it makes a spec change roll the pods.
pub fn hash(config_map: &ConfigMap, rendered: &Rendered) -> String {
    let mut text = String::new();
    for (k, v) in config_map.data.iter().flatten() {
        text.push_str(k);
        text.push('\0');
        text.push_str(v);
        text.push('\0');
    }
    for e in &rendered.secret_env {
        text.push_str(&format!("{}={}/{}\0", e.var, e.secret, e.key));
    }
    for f in &rendered.secret_files {
        text.push_str(&format!("{}/{}\0", f.secret, f.key));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}
