//! The Glue database, tables and crawler of a StockFeed, through the worker library's catalog
//! code (the same code `stockfeed run` uses). AWS access comes from the operator's own identity
//! (IRSA in EKS), never from Secrets.

use kube::ResourceExt;
use stockfeed_catalog::{CatalogError, CatalogPlan, Change, GlueCatalog, GlueCatalogConfig};
use stockfeed_record::lake::layout::PartitionBy;
use stockfeed_spec::FeedSpec;

use crate::build::names;
use crate::conditions::{CATALOG_READY, Observed};
use crate::crd::{CrawlerStatus, StockFeed};

pub struct CatalogResult {
    pub condition: Observed,
    pub crawler: Option<CrawlerStatus>,
    /// One line per created, updated or deleted entity, for events.
    pub changes: Vec<String>,
}

fn client(aws: &aws_config::SdkConfig, glue: &GlueCatalogConfig) -> GlueCatalog {
    let mut config = aws_sdk_glue::config::Builder::from(aws);
    if let Some(region) = &glue.region {
        config = config.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &glue.endpoint {
        config = config.endpoint_url(endpoint);
    }
    GlueCatalog::new(aws_sdk_glue::Client::from_conf(config.build()))
}

fn plan(
    feed: &StockFeed,
    spec: &FeedSpec,
    glue: &GlueCatalogConfig,
) -> Result<CatalogPlan, String> {
    let partition_by =
        PartitionBy::new(spec.sink.partition_by.clone()).map_err(|e| e.to_string())?;
    let crawler = names::crawler(&feed.namespace().unwrap_or_default(), &feed.name_any());
    CatalogPlan::new(
        glue,
        &spec.sink.url,
        spec.sink.format,
        &partition_by,
        &crawler,
    )
    .map_err(|e| e.to_string())
}

/// Ensures the catalog; failures become the condition, never an error of the reconcile.
pub async fn ensure(
    aws: &aws_config::SdkConfig,
    feed: &StockFeed,
    spec: &FeedSpec,
) -> CatalogResult {
    let Some(glue) = &spec.catalog.glue else {
        return CatalogResult {
            condition: Observed::ok(CATALOG_READY, "NotConfigured", "no catalog in the spec"),
            crawler: None,
            changes: Vec::new(),
        };
    };
    if spec.sink.url.starts_with("file://") {
        return CatalogResult {
            condition: Observed::failed(
                CATALOG_READY,
                "LocalSink",
                "Glue can only catalog an s3:// sink; remove spec.catalog or use an s3:// url",
            ),
            crawler: None,
            changes: Vec::new(),
        };
    }
    let plan = match plan(feed, spec, glue) {
        Ok(p) => p,
        Err(message) => {
            return CatalogResult {
                condition: Observed::failed(CATALOG_READY, "InvalidCatalog", message),
                crawler: None,
                changes: Vec::new(),
            };
        }
    };
    match client(aws, glue).ensure(&plan).await {
        Ok(outcome) => {
            let changes = std::iter::once(&outcome.database)
                .chain(&outcome.tables)
                .chain(std::iter::once(&outcome.crawler))
                .filter(|e| e.change != Change::Unchanged)
                .map(|e| {
                    let mut line = format!("Glue {} {:?}", e.name, e.change);
                    if !e.differences.is_empty() {
                        line.push_str(&format!(" ({})", e.differences.join("; ")));
                    }
                    line
                })
                .collect();
            let crawler = outcome.crawler_state.map(|s| CrawlerStatus {
                name: s.name,
                state: Some(s.state),
                last_crawl: s.last_crawl_status,
            });
            CatalogResult {
                condition: Observed::ok(
                    CATALOG_READY,
                    "Synced",
                    format!(
                        "database {} with tables {}",
                        plan.database,
                        plan.qualified_table_names().join(", ")
                    ),
                ),
                crawler,
                changes,
            }
        }
        Err(e) => CatalogResult {
            condition: Observed::failed(CATALOG_READY, reason(&e), e.to_string()),
            crawler: None,
            changes: Vec::new(),
        },
    }
}

/// Removes the crawler and tables (and the database once empty); S3 is never touched. Returns a
/// note for an event when something was removed.
pub async fn remove(
    aws: &aws_config::SdkConfig,
    feed: &StockFeed,
    spec: &FeedSpec,
) -> Result<Option<String>, String> {
    let Some(glue) = &spec.catalog.glue else {
        return Ok(None);
    };
    // A spec that never produced a valid plan never created anything.
    let Ok(plan) = plan(feed, spec, glue) else {
        return Ok(None);
    };
    let outcome = client(aws, glue)
        .remove(&plan)
        .await
        .map_err(|e| e.to_string())?;
    Ok(outcome
        .changed()
        .then(|| format!("removed from Glue: {}", outcome.summary())))
}

fn reason(e: &CatalogError) -> &'static str {
    if matches!(e, CatalogError::AccessDenied { .. }) {
        "AccessDenied"
    } else if e.is_retryable() {
        "GlueUnavailable"
    } else {
        "GlueError"
    }
}
