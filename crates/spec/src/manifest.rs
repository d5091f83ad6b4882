//! A whole `StockFeed` document (`apiVersion`, `kind`, `metadata`, `spec`) read from YAML, for
//! `stockfeed run -f feed.yaml`, which has no API server to check it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::feed::FeedSpec;
use crate::validate::{InvalidSpec, validate};
use crate::{API_VERSION, KIND};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedManifest {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: FeedSpec,
}

/// The metadata fields a local run uses; the rest (labels, annotations…) is accepted and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    Parse {
        path: String,
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    WrongKind { path: String, message: String },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: InvalidSpec,
    },
}

impl FeedManifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and validates one document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let manifest: FeedManifest =
            serde_path_to_error::deserialize(de).map_err(|e| ManifestError::Parse {
                path: origin.to_owned(),
                field: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        if manifest.api_version != API_VERSION || manifest.kind != KIND {
            return Err(ManifestError::WrongKind {
                path: origin.to_owned(),
                message: format!(
                    "expected apiVersion {API_VERSION} and kind {KIND}, got {} {}",
                    manifest.api_version, manifest.kind
                ),
            });
        }
        validate(&manifest.spec).map_err(|source| ManifestError::Invalid {
            path: origin.to_owned(),
            source,
        })?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_kind_and_bad_field_are_explained() {
        let e = FeedManifest::parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {tickers: [A], source: {provider: synthetic}, kafka: {bootstrapServers: k, topic: t}, sink: {url: 'file:///l/'}}\n", "f.yaml").unwrap_err();
        assert!(
            e.to_string()
                .contains("expected apiVersion stockfeed.dev/v1alpha1"),
            "{e}"
        );
        let e = FeedManifest::parse("apiVersion: stockfeed.dev/v1alpha1\nkind: StockFeed\nmetadata: {name: x}\nspec: {tickers: [A], source: {provider: synthetic}, kafka: {bootstrapServers: k, topic: t, partitions: many}, sink: {url: 'file:///l/'}}\n", "f.yaml").unwrap_err();
        assert!(e.to_string().contains("spec.kafka.partitions"), "{e}");
    }
}
