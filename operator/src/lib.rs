//! StockFeed's Kubernetes operator: the `StockFeed` custom resource, its reconciler, topic
//! provisioning, Glue catalog management and CRD generation.
//!
//! It owns everything that talks to the Kubernetes API server, and uses of the pipeline only
//! what reconciling needs: the spec and its rendering (`stockfeed-spec`), topic administration
//! (`stockfeed-kafka`), the Glue catalog (`stockfeed-catalog`) and telemetry. It must not know
//! sources, the sink's files or the query engine; the workers never link it.
//!
//! - [`crd`]: the resource types (the spec itself is `stockfeed_spec::FeedSpec`);
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
