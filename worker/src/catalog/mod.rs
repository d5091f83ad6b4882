//! The lake's entry in the AWS Glue Data Catalog: a database, one external table per record
//! kind, and optionally a crawler, shared by the operator and `stockfeed run`.
//!
//! - [`config`]: `catalog.glue` of the StockFeed spec ([`GlueCatalogConfig`]);
//! - [`table`] and [`crawler`]: pure functions from the sink's settings (URL, format,
//!   `partitionBy`, the lake columns) to the table and crawler definitions;
//! - [`plan`]: [`CatalogPlan`], all of it computed at once without AWS calls;
//! - [`glue`]: [`GlueCatalog`], which applies a plan through the Glue API (`ensure`) and
//!   removes it (`remove`).

pub mod athena;
pub mod config;
pub mod crawler;
pub mod glue;
pub mod plan;
pub mod table;

pub use config::{CrawlerConfig, GlueCatalogConfig, InvalidGlueConfig};
pub use crawler::CrawlerDef;
pub use glue::{CatalogError, CatalogOutcome, Change, CrawlerState, EntityOutcome, GlueCatalog};
pub use plan::{CatalogPlan, PlanError};
pub use table::{LakeLocation, SYMBOL_PARTITION_KEY, TableDef};
