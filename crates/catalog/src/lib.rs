//! The lake's entry in the AWS Glue Data Catalog: a database, one external table per record
//! kind, and optionally a crawler, shared by the operator and `stockfeed run`; and Athena
//! queries over it.
//!
//! It owns the Glue and Athena clients and the catalog's definitions; it takes the table
//! schema and layout from `stockfeed-record` and its settings (`catalog.glue`,
//! [`GlueCatalogConfig`]) from `stockfeed-spec`, and knows nothing of Kafka or of how the
//! files are written.
//!
//! - [`table`] and [`crawler`]: pure functions from the sink's settings (URL, format,
//!   `partitionBy`, the lake columns) to the table and crawler definitions;
//! - [`plan`]: [`CatalogPlan`], all of it computed at once without AWS calls;
//! - [`glue`]: [`GlueCatalog`], which applies a plan through the Glue API (`ensure`) and
//!   removes it (`remove`).

pub mod athena;
pub mod crawler;
pub mod glue;
pub mod plan;
pub mod table;

pub use crawler::CrawlerDef;
pub use glue::{CatalogError, CatalogOutcome, Change, CrawlerState, EntityOutcome, GlueCatalog};
pub use plan::{CatalogPlan, PlanError};
pub use stockfeed_record::lake::SYMBOL_PARTITION_KEY;
pub use stockfeed_spec::catalog::{CrawlerConfig, GlueCatalogConfig, InvalidGlueConfig};
pub use table::{LakeLocation, TableDef};
