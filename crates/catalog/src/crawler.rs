//! The Glue crawler of a StockFeed's tables, as a pure function of the configuration.
//!
//! Its job is to register new partitions of the tables StockFeed creates (see `table.rs`), never
//! to invent tables or schemas of its own:
//! - one S3 target per kind folder (`s3://bucket/prefix/trade/`, ...): each folder is one
//!   table's location, and the crawler matches an S3 path to the existing table with that
//!   location;
//! - exclusions hide what is not table data: objects and folders whose names start with `_` or
//!   `.` (Hive's convention for incomplete or bookkeeping files, which the sink follows for
//!   temporary files) and the sink's `_stockfeed/` manifests (they live under the prefix, next
//!   to the kind folders, so no target reaches them; the patterns keep it that way if a target
//!   ever moves up);
//! - `SchemaChangePolicy` LOG/LOG: the crawler never edits or deletes our tables, it only logs
//!   what it would change;
//! - `RecrawlPolicy` `CRAWL_NEW_FOLDERS_ONLY`: each run lists only folders added since the last
//!   one, which is what a lake that only grows needs; AWS requires LOG/LOG with it;
//! - `Configuration`: partitions inherit the table's schema and SerDe
//!   (`Partitions.AddOrUpdateBehavior = InheritFromTable`, which avoids
//!   `HIVE_PARTITION_SCHEMA_MISMATCH`), and compatible files under one target form one table
//!   (`TableGroupingPolicy = CombineCompatibleSchemas`) instead of a table per folder.
//!
//! With partition projection on, Athena ignores registered partitions, so a crawler adds
//! nothing for Athena; it is still created when the configuration enables it, because readers
//! that do not understand projection (Spark, EMR, Redshift Spectrum, Hive) need registered
//! partitions, and the user asked for it explicitly.

use std::collections::BTreeMap;

use aws_sdk_glue::types::Crawler;

use super::table::LakeLocation;
use stockfeed_record::lake::layout::Dataset;

/// The crawler's `Configuration` (a versioned JSON string).
pub const CRAWLER_CONFIGURATION: &str = r#"{"Version":1.0,"CrawlerOutput":{"Partitions":{"AddOrUpdateBehavior":"InheritFromTable"}},"Grouping":{"TableGroupingPolicy":"CombineCompatibleSchemas"}}"#;
/// `SchemaChangePolicy.UpdateBehavior`.
pub const UPDATE_BEHAVIOR: &str = "LOG";
/// `SchemaChangePolicy.DeleteBehavior`.
pub const DELETE_BEHAVIOR: &str = "LOG";
/// `RecrawlPolicy.RecrawlBehavior`.
pub const RECRAWL_BEHAVIOR: &str = "CRAWL_NEW_FOLDERS_ONLY";

/// Glob patterns (relative to each target path) of objects the crawler must skip.
pub const EXCLUSIONS: [&str; 10] = [
    "_*",
    "**/_*",
    "_*/**",
    "**/_*/**",
    ".*",
    "**/.*",
    ".*/**",
    "**/.*/**",
    "_stockfeed/**",
    "**/_stockfeed/**",
];

/// One S3 target of a crawler.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct S3TargetDef {
    pub path: String,
    pub exclusions: Vec<String>,
}

/// What a crawler should look like (or, from [`CrawlerDef::observed`], what it looks like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerDef {
    pub name: String,
    /// IAM role ARN (or, as GetCrawler may return it, the role name).
    pub role: String,
    pub database: String,
    pub description: String,
    pub targets: Vec<S3TargetDef>,
    /// AWS cron expression; `None` runs only on demand.
    pub schedule: Option<String>,
    pub update_behavior: String,
    pub delete_behavior: String,
    pub recrawl_behavior: String,
    pub configuration: String,
}

/// The crawler for the tables of `database` over the kind folders of `lake`.
pub fn crawler_def(
    name: &str,
    role_arn: &str,
    database: &str,
    lake: &LakeLocation,
    schedule: Option<&str>,
) -> CrawlerDef {
    let targets = Dataset::ALL
        .iter()
        .map(|dataset| S3TargetDef {
            path: lake.kind_url(*dataset),
            exclusions: EXCLUSIONS.iter().map(|e| (*e).to_owned()).collect(),
        })
        .collect();
    CrawlerDef {
        name: name.to_owned(),
        role: role_arn.to_owned(),
        database: database.to_owned(),
        description: format!(
            "StockFeed: registers new partitions of the tables in {database} over {}; \
             managed by StockFeed, manual changes are reverted",
            lake.root_url()
        ),
        targets,
        schedule: schedule.map(str::to_owned),
        update_behavior: UPDATE_BEHAVIOR.to_owned(),
        delete_behavior: DELETE_BEHAVIOR.to_owned(),
        recrawl_behavior: RECRAWL_BEHAVIOR.to_owned(),
        configuration: CRAWLER_CONFIGURATION.to_owned(),
    }
}

/// The part of a role ARN Glue may echo back instead of the ARN: the name after `role/` and
/// any path. Plain names are returned unchanged.
fn role_name(role: &str) -> &str {
    match role.split_once(":role/") {
        Some((_, path_and_name)) => path_and_name.rsplit('/').next().unwrap_or(path_and_name),
        None => role.rsplit('/').next().unwrap_or(role),
    }
}

/// JSON texts compared by value, with every number as a float (`1.0` equals `1`), so a
/// configuration that Glue re-serialises is not a difference.
fn same_json(a: &str, b: &str) -> bool {
    fn normalise(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            Value::Array(a) => Value::Array(a.into_iter().map(normalise).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, normalise(v))).collect())
            }
            other => other,
        }
    }
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => normalise(a) == normalise(b),
        _ => a == b,
    }
}

impl CrawlerDef {
    /// The managed fields of a crawler as GetCrawler returned it.
    pub fn observed(crawler: &Crawler) -> CrawlerDef {
        let mut targets: Vec<S3TargetDef> = crawler
            .targets()
            .map(|t| t.s3_targets())
            .unwrap_or_default()
            .iter()
            .map(|t| S3TargetDef {
                path: t.path().unwrap_or_default().to_owned(),
                exclusions: t.exclusions().to_vec(),
            })
            .collect();
        targets.sort();
        let policy = crawler.schema_change_policy();
        CrawlerDef {
            name: crawler.name().unwrap_or_default().to_owned(),
            role: crawler.role().unwrap_or_default().to_owned(),
            database: crawler.database_name().unwrap_or_default().to_owned(),
            description: crawler.description().unwrap_or_default().to_owned(),
            targets,
            schedule: crawler
                .schedule()
                .and_then(|s| s.schedule_expression())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            update_behavior: policy
                .and_then(|p| p.update_behavior())
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            delete_behavior: policy
                .and_then(|p| p.delete_behavior())
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            recrawl_behavior: crawler
                .recrawl_policy()
                .and_then(|p| p.recrawl_behavior())
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            configuration: crawler.configuration().unwrap_or_default().to_owned(),
        }
    }

    /// True when `observed` has other S3 targets. AWS does not let an incremental
    /// (`CRAWL_NEW_FOLDERS_ONLY`) crawler's targets be edited, so such a crawler is replaced.
    pub fn targets_differ(&self, observed: &CrawlerDef) -> bool {
        let mut want = self.targets.clone();
        want.sort();
        want != observed.targets
    }

    /// How `observed` differs from this (desired) definition, one line per field; empty when
    /// no update is needed.
    pub fn differences(&self, observed: &CrawlerDef) -> Vec<String> {
        let mut out = Vec::new();
        let mut field =
            |name: &str, same: bool, have: &dyn std::fmt::Debug, want: &dyn std::fmt::Debug| {
                if !same {
                    out.push(format!("{name}: {have:?} -> {want:?}"));
                }
            };
        field(
            "Role",
            self.role == observed.role || role_name(&self.role) == role_name(&observed.role),
            &observed.role,
            &self.role,
        );
        field(
            "DatabaseName",
            self.database == observed.database,
            &observed.database,
            &self.database,
        );
        field(
            "Description",
            self.description == observed.description,
            &observed.description,
            &self.description,
        );
        field(
            "Targets",
            !self.targets_differ(observed),
            &observed.targets,
            &self.targets,
        );
        field(
            "Schedule",
            self.schedule == observed.schedule,
            &observed.schedule,
            &self.schedule,
        );
        field(
            "SchemaChangePolicy",
            (&self.update_behavior, &self.delete_behavior)
                == (&observed.update_behavior, &observed.delete_behavior),
            &(&observed.update_behavior, &observed.delete_behavior),
            &(&self.update_behavior, &self.delete_behavior),
        );
        field(
            "RecrawlPolicy",
            self.recrawl_behavior == observed.recrawl_behavior,
            &observed.recrawl_behavior,
            &self.recrawl_behavior,
        );
        field(
            "Configuration",
            same_json(&self.configuration, &observed.configuration),
            &observed.configuration,
            &self.configuration,
        );
        out
    }
}

/// The configuration JSON as a value, for readers that want to inspect it.
pub fn configuration_value() -> BTreeMap<String, serde_json::Value> {
    serde_json::from_str(CRAWLER_CONFIGURATION).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use aws_sdk_glue::types::{
        CrawlerTargets, RecrawlBehavior, RecrawlPolicy, S3Target, Schedule, SchemaChangePolicy,
    };

    use super::*;

    fn def(schedule: Option<&str>) -> CrawlerDef {
        let lake = LakeLocation::parse("s3://market-lake/raw/stocks/").unwrap();
        crawler_def(
            "stockfeed-default-aapl",
            "arn:aws:iam::123456789012:role/service-role/stockfeed-crawler",
            "markets",
            &lake,
            schedule,
        )
    }

    /// What GetCrawler returns for a crawler created from `d`.
    fn as_returned(d: &CrawlerDef, role: &str, configuration: &str) -> Crawler {
        let targets = d
            .targets
            .iter()
            .rev() // order is not significant
            .map(|t| {
                S3Target::builder()
                    .path(&t.path)
                    .set_exclusions(Some(t.exclusions.clone()))
                    .build()
            })
            .collect();
        Crawler::builder()
            .name(&d.name)
            .role(role)
            .database_name(&d.database)
            .description(&d.description)
            .targets(
                CrawlerTargets::builder()
                    .set_s3_targets(Some(targets))
                    .build(),
            )
            .set_schedule(d.schedule.as_ref().map(|s| {
                Schedule::builder()
                    .schedule_expression(s)
                    .state("SCHEDULED".into())
                    .build()
            }))
            .schema_change_policy(
                SchemaChangePolicy::builder()
                    .update_behavior(d.update_behavior.as_str().into())
                    .delete_behavior(d.delete_behavior.as_str().into())
                    .build(),
            )
            .recrawl_policy(
                RecrawlPolicy::builder()
                    .recrawl_behavior(RecrawlBehavior::CrawlNewFoldersOnly)
                    .build(),
            )
            .configuration(configuration)
            .build()
    }

    #[test]
    fn one_target_per_kind_folder_with_exclusions() {
        let d = def(Some("cron(0/15 * * * ? *)"));
        let paths: Vec<&str> = d.targets.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "s3://market-lake/raw/stocks/trade/",
                "s3://market-lake/raw/stocks/quote/",
                "s3://market-lake/raw/stocks/bar/",
                "s3://market-lake/raw/stocks/bar_1m/"
            ]
        );
        for t in &d.targets {
            for pattern in ["_*", "**/_*", "**/_*/**", ".*", "**/.*", "**/_stockfeed/**"] {
                assert!(t.exclusions.iter().any(|e| e == pattern), "{pattern}");
            }
        }
        assert_eq!(d.database, "markets");
        assert_eq!(d.schedule.as_deref(), Some("cron(0/15 * * * ? *)"));
        assert_eq!(d.name, "stockfeed-default-aapl");
        assert!(d.role.ends_with(":role/service-role/stockfeed-crawler"));
    }

    #[test]
    fn policies_are_the_combination_aws_accepts() {
        let d = def(None);
        assert_eq!(d.recrawl_behavior, "CRAWL_NEW_FOLDERS_ONLY");
        assert_eq!(d.update_behavior, "LOG");
        assert_eq!(d.delete_behavior, "LOG");
        assert_eq!(d.schedule, None);
        let config = configuration_value();
        assert_eq!(config["Version"], serde_json::json!(1.0));
        assert_eq!(
            config["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"],
            "InheritFromTable"
        );
        assert_eq!(
            config["Grouping"]["TableGroupingPolicy"],
            "CombineCompatibleSchemas"
        );
    }

    #[test]
    fn an_echoed_crawler_has_no_differences() {
        let d = def(Some("cron(0/15 * * * ? *)"));
        // Glue may return the role as a name and re-serialise the configuration.
        let returned = as_returned(
            &d,
            "stockfeed-crawler",
            r#"{"Version": 1, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
                "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}}"#,
        );
        let observed = CrawlerDef::observed(&returned);
        assert_eq!(d.differences(&observed), Vec::<String>::new());
        assert!(!d.targets_differ(&observed));
    }

    #[test]
    fn schedule_role_and_target_changes_are_differences() {
        let d = def(Some("cron(0/15 * * * ? *)"));
        let observed = CrawlerDef::observed(&as_returned(&d, &d.role, CRAWLER_CONFIGURATION));
        let hourly = def(Some("cron(0 * * * ? *)"));
        assert_eq!(
            hourly.differences(&observed),
            ["Schedule: Some(\"cron(0/15 * * * ? *)\") -> Some(\"cron(0 * * * ? *)\")"]
        );
        let unscheduled = def(None);
        assert_eq!(unscheduled.differences(&observed).len(), 1);

        let mut other_role = d.clone();
        other_role.role = "arn:aws:iam::123456789012:role/other".into();
        assert!(other_role.differences(&observed)[0].starts_with("Role:"));

        let lake = LakeLocation::parse("s3://other-lake/x/").unwrap();
        let moved = crawler_def(&d.name, &d.role, "markets", &lake, d.schedule.as_deref());
        assert!(moved.targets_differ(&observed));
        let diffs = moved.differences(&observed);
        assert!(diffs.iter().any(|l| l.starts_with("Targets:")), "{diffs:?}");
    }

    #[test]
    fn role_names_and_json_comparison() {
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/service-role/crawler"),
            "crawler"
        );
        assert_eq!(role_name("crawler"), "crawler");
        assert_eq!(role_name("service-role/crawler"), "crawler");
        assert!(same_json(r#"{"a":1.0,"b":[1]}"#, r#"{ "b":[1.0], "a":1 }"#));
        assert!(!same_json(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(!same_json("", CRAWLER_CONFIGURATION));
    }
}
