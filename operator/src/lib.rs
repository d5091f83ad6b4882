//! StockFeed's Kubernetes operator: the `StockFeed` custom resource, its reconciler, topic
//! provisioning and CRD generation.
//!
//! Only the crate skeleton exists so far; the CRD and reconciler arrive with the operator
//! issue. It already depends on the worker library, the direction every shared type flows.

/// The record schema version the operator's generated worker configuration targets.
pub fn record_schema_version() -> u16 {
    stockfeed_worker::record::SCHEMA_VERSION
}
