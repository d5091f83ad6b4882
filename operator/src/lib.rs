//! StockFeed's Kubernetes operator: the `StockFeed` custom resource, its reconciler, topic
//! provisioning, Glue catalog management and CRD generation.
//!
//! - [`crd`]: the resource types (the spec itself is the worker library's `FeedSpec`);
//! - [`build`]: pure builders of the children (ConfigMap, ServiceAccount, Deployments, Service);
//! - [`reconcile`]: the controller, the only code that talks to the API server;
//! - [`conditions`], [`metrics`], [`leader`]: status conditions, Prometheus metrics, leader
//!   election.

pub mod build;
pub mod conditions;
pub mod crd;
pub mod leader;
pub mod metrics;
pub mod reconcile;
