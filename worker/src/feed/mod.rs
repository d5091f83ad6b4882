//! The StockFeed resource as both the operator and `stockfeed run` read it.
//!
//! - [`spec`]: the `spec` types, whose JSON Schema is the CRD's schema;
//! - [`validate`]: the same rules checked in Rust, with errors naming the field;
//! - [`render`]: spec → the producer's and sink's configuration;
//! - [`manifest`]: a whole `StockFeed` YAML document, for running without Kubernetes.
//!
//! It lives in the worker library because a worker image carries no Kubernetes client, yet
//! `stockfeed run` must accept exactly the manifests the operator accepts.

pub mod manifest;
pub mod render;
pub mod spec;
pub mod validate;

pub use manifest::{FeedManifest, ManifestError};
pub use render::{RenderContext, Rendered, render};
pub use spec::FeedSpec;
pub use validate::{FieldError, InvalidSpec, validate};

/// API group, version and kind of the resource.
pub const API_GROUP: &str = "stockfeed.dev";
pub const API_VERSION: &str = "stockfeed.dev/v1alpha1";
pub const KIND: &str = "StockFeed";
