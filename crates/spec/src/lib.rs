//! The StockFeed resource and every configuration file it turns into: what a user, the
//! operator and `stockfeed run` write down, with no Kubernetes client, Kafka client or storage
//! behind it.
//!
//! - [`feed`]: the `spec` of a StockFeed, whose JSON Schema is the CRD's schema; [`validate`]
//!   checks the same rules in Rust with errors naming the field; [`manifest`] reads a whole
//!   `StockFeed` YAML document for running without Kubernetes;
//! - [`render`]: spec → the producer's and the sink's configuration files;
//! - the files' own types, one module per reader: [`producer`], [`source`], [`sink`],
//!   [`format`], [`lake`], [`kafka`], [`catalog`], and [`secret`] for the references to
//!   secrets they carry.
//!
//! It must not know how any of it is carried out: sources, Kafka clients, encoders, object
//! stores and AWS clients live in the stage crates that read these types. That is what lets
//! the operator render a worker's configuration without linking the worker.

pub mod catalog;
pub mod feed;
pub mod format;
pub mod kafka;
pub mod lake;
pub mod manifest;
pub mod producer;
pub mod render;
pub mod secret;
pub mod shard;
pub mod sink;
pub mod source;
pub mod validate;

pub use feed::FeedSpec;
pub use manifest::{FeedManifest, ManifestError};
pub use render::{RenderContext, Rendered, render};
pub use validate::{FieldError, InvalidSpec, validate};

/// API group, version and kind of the resource.
pub const API_GROUP: &str = "stockfeed.dev";
pub const API_VERSION: &str = "stockfeed.dev/v1alpha1";
pub const KIND: &str = "StockFeed";
