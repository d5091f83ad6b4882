//! [`CatalogPlan`]: everything the Glue catalog of one StockFeed should contain, computed from
//! the configuration without any AWS call, so it can be tested, diffed and logged.

use super::crawler::{CrawlerDef, crawler_def};
use super::table::{LakeLocation, LocationError, TableDef, TableSource, table_def};
use stockfeed_record::lake::layout::Dataset;
use stockfeed_record::lake::layout::PartitionBy;
use stockfeed_spec::catalog::{GlueCatalogConfig, InvalidGlueConfig};
use stockfeed_spec::format::Format;

/// The desired Glue database, tables and crawler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPlan {
    pub database: String,
    /// Used when the database is created; an existing database's description is left alone.
    pub database_description: String,
    pub lake: LakeLocation,
    /// One per dataset, in [`Dataset::ALL`] order.
    pub tables: Vec<TableDef>,
    /// The crawler's name, also when no crawler is wanted: a crawler of that name is then
    /// deleted.
    pub crawler_name: String,
    /// `None` when the crawler is disabled or not configured.
    pub crawler: Option<CrawlerDef>,
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("catalog.glue: {0}")]
    Config(#[from] InvalidGlueConfig),
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(
        "crawler name `{0}` is invalid: Glue needs 1 to 255 characters on one line \
         (no control characters)"
    )]
    CrawlerName(String),
}

impl CatalogPlan {
    /// The plan for a sink writing `format` files partitioned by `partition_by` under
    /// `sink_url` (`s3://bucket/prefix/`). `crawler_name` is chosen by the caller and must be
    /// stable across reconciles (e.g. `stockfeed-{namespace}-{name}`).
    pub fn new(
        config: &GlueCatalogConfig,
        sink_url: &str,
        format: Format,
        partition_by: &PartitionBy,
        crawler_name: &str,
    ) -> Result<Self, PlanError> {
        config.validate()?;
        let lake = LakeLocation::parse(sink_url)?;
        if crawler_name.is_empty()
            || crawler_name.chars().count() > 255
            || crawler_name.chars().any(char::is_control)
        {
            return Err(PlanError::CrawlerName(crawler_name.to_owned()));
        }
        let source = TableSource {
            lake: &lake,
            table_prefix: &config.table_prefix,
            format,
            partition_by,
            partition_projection: config.partition_projection,
        };
        let tables = Dataset::ALL
            .iter()
            .map(|dataset| table_def(&source, *dataset))
            .collect();
        // validate() guarantees a role when the crawler is enabled.
        let crawler = config.enabled_crawler().and_then(|c| {
            c.role_arn.as_deref().map(|role| {
                crawler_def(
                    crawler_name,
                    role,
                    &config.database,
                    &lake,
                    c.schedule.as_deref(),
                )
            })
        });
        Ok(CatalogPlan {
            database: config.database.clone(),
            database_description: "StockFeed market-data lake tables".to_owned(),
            lake,
            tables,
            crawler_name: crawler_name.to_owned(),
            crawler,
        })
    }

    /// `database.table` of every table.
    pub fn qualified_table_names(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| format!("{}.{}", self.database, t.name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockfeed_record::lake::layout::PartitionKey;
    use stockfeed_spec::catalog::CrawlerConfig;

    fn config(crawler: Option<CrawlerConfig>) -> GlueCatalogConfig {
        GlueCatalogConfig {
            crawler,
            ..GlueCatalogConfig::new("markets")
        }
    }

    fn enabled() -> CrawlerConfig {
        CrawlerConfig {
            enabled: true,
            schedule: Some("cron(0/15 * * * ? *)".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/crawler".into()),
        }
    }

    #[test]
    fn four_tables_and_the_crawler() {
        let plan = CatalogPlan::new(
            &config(Some(enabled())),
            "s3://lake/raw/",
            Format::Parquet,
            &PartitionBy::default(),
            "stockfeed-ns-feed",
        )
        .unwrap();
        assert_eq!(plan.database, "markets");
        assert_eq!(
            plan.qualified_table_names(),
            [
                "markets.trades",
                "markets.quotes",
                "markets.bars",
                "markets.bars_1m"
            ]
        );
        assert_eq!(plan.tables[3].location, "s3://lake/raw/bar_1m/");
        let crawler = plan.crawler.as_ref().unwrap();
        assert_eq!(crawler.name, "stockfeed-ns-feed");
        assert_eq!(crawler.targets.len(), 4);
        assert_eq!(crawler.targets[0].path, "s3://lake/raw/trade/");
        assert_eq!(plan.tables[0].location, "s3://lake/raw/trade/");
    }

    #[test]
    fn disabled_crawler_keeps_its_name_for_deletion() {
        for crawler in [
            None,
            Some(CrawlerConfig {
                enabled: false,
                ..enabled()
            }),
        ] {
            let plan = CatalogPlan::new(
                &config(crawler),
                "s3://lake/",
                Format::Csv,
                &PartitionBy::new(vec![PartitionKey::Dt]).unwrap(),
                "c",
            )
            .unwrap();
            assert_eq!(plan.crawler, None);
            assert_eq!(plan.crawler_name, "c");
        }
    }

    #[test]
    fn refuses_bad_inputs_with_the_field() {
        let by = PartitionBy::default();
        let bad = CatalogPlan::new(
            &config(Some(CrawlerConfig {
                role_arn: None,
                ..enabled()
            })),
            "s3://lake/",
            Format::Parquet,
            &by,
            "c",
        )
        .unwrap_err();
        assert!(bad.to_string().contains("crawler.roleArn"), "{bad}");
        let local = CatalogPlan::new(&config(None), "file:///lake/", Format::Parquet, &by, "c")
            .unwrap_err();
        assert!(matches!(
            local,
            PlanError::Location(LocationError::NotS3(_))
        ));
        let name = CatalogPlan::new(&config(None), "s3://lake/", Format::Parquet, &by, "a\nb")
            .unwrap_err();
        assert!(matches!(name, PlanError::CrawlerName(_)));
        assert!(CatalogPlan::new(&config(None), "s3://lake/", Format::Parquet, &by, "").is_err());
    }
}
