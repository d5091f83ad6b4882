//! `catalog.glue`: where and how the lake is registered in the AWS Glue Data Catalog.
//!
//! ```yaml
//! catalog:
//!   glue:
//!     database: markets            # created when missing
//!     tablePrefix: ""              # tables markets.trades, markets.quotes, markets.bars
//!     partitionProjection: true    # Athena computes partitions; no crawl needed to query
//!     crawler:                     # optional; registers partitions for non-Athena readers
//!       enabled: true
//!       schedule: "cron(0/15 * * * ? *)"
//!       roleArn: arn:aws:iam::123456789012:role/stockfeed-crawler
//!     region: eu-west-1            # optional; default chain otherwise
//! ```
//!
//! This struct is embedded in the StockFeed CRD, so its doc comments are API documentation and
//! its `schemars` attributes are enforced by the API server; [`GlueCatalogConfig::validate`]
//! checks the same rules in Rust (for `stockfeed run` and as a second line of defence).

use serde::{Deserialize, Serialize};

/// Glue database names: lowercase letters, digits and `_`, 1 to 255 characters. Glue itself
/// lower-cases names, so anything else would silently become a different name.
pub const DATABASE_PATTERN: &str = r"^[a-z0-9_]{1,255}$";
/// Table name prefixes: the same characters; at most 249 so `{prefix}trades` fits in 255.
pub const TABLE_PREFIX_PATTERN: &str = r"^[a-z0-9_]{0,249}$";
/// An IAM role ARN in any partition (`aws`, `aws-cn`, `aws-us-gov`, ...), with optional path.
pub const ROLE_ARN_PATTERN: &str =
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$";
/// A Glue schedule: an AWS cron expression with six fields, `cron(0/15 * * * ? *)`.
pub const SCHEDULE_PATTERN: &str = r"^cron\(\S+( \S+){5}\)$";
/// An AWS region name such as `us-east-1` or `us-gov-west-1`.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";
/// An endpoint URL.
pub const ENDPOINT_PATTERN: &str = r"^https?://[^\s/]+(/.*)?$";

/// Registration of the lake in the AWS Glue Data Catalog: one database, one external table per
/// record kind, and optionally a crawler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlueCatalogConfig {
    /// Glue database holding the tables; created when missing, and deleted with the StockFeed
    /// only when no other table is left in it. Lowercase letters, digits and `_`.
    #[schemars(regex(pattern = DATABASE_PATTERN))]
    pub database: String,
    /// Prefix of the table names: the tables are `{tablePrefix}trades`, `{tablePrefix}quotes`
    /// and `{tablePrefix}bars`, one per record kind, because the sink writes each kind to its
    /// own folder with its own columns. Default empty.
    #[serde(default)]
    #[schemars(regex(pattern = TABLE_PREFIX_PATTERN))]
    pub table_prefix: String,
    /// Define the tables with Athena partition projection, so new partitions are queryable at
    /// once without a crawl or `MSCK REPAIR TABLE`. Default true. With projection on, Athena
    /// ignores partitions registered in the catalog.
    #[serde(default = "default_true")]
    pub partition_projection: bool,
    /// A Glue crawler that registers new partitions of the tables in the catalog (for readers
    /// other than Athena, or with partition projection off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawler: Option<CrawlerConfig>,
    /// AWS region of the Glue catalog; default: the SDK's chain (AWS_REGION, profile, IMDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = REGION_PATTERN))]
    pub region: Option<String>,
    /// Glue endpoint override, e.g. a VPC interface endpoint; default: the region's public
    /// endpoint, or `AWS_ENDPOINT_URL_GLUE` / `AWS_ENDPOINT_URL` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ENDPOINT_PATTERN))]
    pub endpoint: Option<String>,
}

/// The Glue crawler of a StockFeed's tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.enabled) || !self.enabled || has(self.roleArn)",
    "message": "crawler.roleArn is required when crawler.enabled is true"
}]))]
pub struct CrawlerConfig {
    /// Create the crawler; false (the default) deletes a crawler created earlier.
    #[serde(default)]
    pub enabled: bool,
    /// When the crawler runs, in UTC, as an AWS cron expression, e.g. `cron(0/15 * * * ? *)`
    /// (every 15 minutes; the shortest interval Glue allows is 5 minutes). Unset: it runs
    /// only when started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: Option<String>,
    /// IAM role the crawler runs as; it needs read access to the sink's S3 prefix and the
    /// `AWSGlueServiceRole` policy. Required when `enabled` is true. The operator's own role
    /// needs `iam:PassRole` on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,
}

fn default_true() -> bool {
    true
}

/// One invalid field of a [`GlueCatalogConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path below `glue`, e.g. `crawler.roleArn`.
    pub field: &'static str,
    pub problem: String,
}

/// Every problem found by [`GlueCatalogConfig::validate`], each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>().join("; "))]
pub struct InvalidGlueConfig(pub Vec<FieldProblem>);

impl GlueCatalogConfig {
    /// A configuration with the defaults: no prefix, partition projection, no crawler.
    pub fn new(database: impl Into<String>) -> Self {
        GlueCatalogConfig {
            database: database.into(),
            table_prefix: String::new(),
            partition_projection: true,
            crawler: None,
            region: None,
            endpoint: None,
        }
    }

    /// The crawler settings when a crawler is wanted.
    pub fn enabled_crawler(&self) -> Option<&CrawlerConfig> {
        self.crawler.as_ref().filter(|c| c.enabled)
    }

    /// Checks the rules of the CRD schema (patterns, the crawler's role) in Rust; the error
    /// lists every invalid field.
    pub fn validate(&self) -> Result<(), InvalidGlueConfig> {
        let mut problems = Vec::new();
        let mut fail = |field: &'static str, problem: String| {
            problems.push(FieldProblem { field, problem });
        };
        if let Err(p) = check_name(&self.database, 1, 255) {
            fail("database", p);
        }
        if let Err(p) = check_name(&self.table_prefix, 0, 249) {
            fail("tablePrefix", p);
        }
        if let Some(crawler) = &self.crawler {
            match &crawler.role_arn {
                Some(arn) => {
                    if let Err(p) = check_role_arn(arn) {
                        fail("crawler.roleArn", p);
                    }
                }
                None if crawler.enabled => fail(
                    "crawler.roleArn",
                    "is required when crawler.enabled is true: the IAM role the crawler runs as"
                        .to_owned(),
                ),
                None => {}
            }
            if let Some(schedule) = &crawler.schedule
                && let Err(p) = check_schedule(schedule)
            {
                fail("crawler.schedule", p);
            }
        }
        if let Some(region) = &self.region
            && !is_region(region)
        {
            fail(
                "region",
                format!("`{region}` is not an AWS region name such as us-east-1"),
            );
        }
        if let Some(endpoint) = &self.endpoint
            && !is_endpoint(endpoint)
        {
            fail(
                "endpoint",
                format!("`{endpoint}` is not an http:// or https:// URL"),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidGlueConfig(problems))
        }
    }
}

fn check_name(name: &str, min: usize, max: usize) -> Result<(), String> {
    if name.len() < min || name.len() > max {
        return Err(format!(
            "`{name}` has {} characters; it must have {min} to {max}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "`{name}` contains `{bad}`; use lowercase letters, digits and `_` only \
             (Glue lower-cases names, so other characters would name a different object)"
        ));
    }
    Ok(())
}

fn check_role_arn(arn: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{arn}` is not an IAM role ARN such as arn:aws:iam::123456789012:role/stockfeed-crawler"
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_tag, partition, service, region, account, resource] = parts.as_slice() else {
        return bad();
    };
    let partition_ok = partition.starts_with("aws")
        && partition[3..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return bad();
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    let chars_ok = path_and_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    if *arn_tag != "arn"
        || !partition_ok
        || *service != "iam"
        || !region.is_empty()
        || !account_ok
        || !chars_ok
        || name.is_empty()
        || name.len() > 64
        || path_and_name.contains("//")
    {
        return bad();
    }
    Ok(())
}

fn check_schedule(schedule: &str) -> Result<(), String> {
    let Some(inner) = schedule
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'))
    else {
        return Err(format!(
            "`{schedule}` is not an AWS cron expression such as `cron(0/15 * * * ? *)`"
        ));
    };
    let fields: Vec<&str> = inner.split(' ').collect();
    if fields.len() != 6 || fields.iter().any(|f| f.is_empty()) {
        return Err(format!(
            "`{schedule}` must have six fields separated by single spaces: minutes hours \
             day-of-month month day-of-week year"
        ));
    }
    if fields[2] != "?" && fields[4] != "?" {
        return Err(format!(
            "`{schedule}`: one of day-of-month (3rd field) and day-of-week (5th field) must be `?`"
        ));
    }
    Ok(())
}

fn is_region(region: &str) -> bool {
    let mut parts = region.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((number, middle)) = rest.split_last() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_endpoint(endpoint: &str) -> bool {
    let Some(rest) = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    !host.is_empty() && !endpoint.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<GlueCatalogConfig, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    #[test]
    fn defaults_and_camel_case() {
        let c = parse("database: markets").unwrap();
        assert_eq!(c, GlueCatalogConfig::new("markets"));
        assert!(c.partition_projection);
        assert_eq!(c.table_prefix, "");
        assert!(c.validate().is_ok());

        let c = parse(
            "database: markets\ntablePrefix: raw_\npartitionProjection: false\n\
             crawler: {enabled: true, schedule: 'cron(0/15 * * * ? *)', \
             roleArn: 'arn:aws:iam::123456789012:role/service-role/crawler'}\n\
             region: eu-west-1\nendpoint: https://glue.eu-west-1.amazonaws.com",
        )
        .unwrap();
        assert_eq!(c.table_prefix, "raw_");
        assert!(!c.partition_projection);
        let crawler = c.enabled_crawler().unwrap();
        assert_eq!(crawler.schedule.as_deref(), Some("cron(0/15 * * * ? *)"));
        assert_eq!(c.validate(), Ok(()));
        // Round trip, and no nulls for unset options.
        let json = serde_json::to_string(&GlueCatalogConfig::new("m")).unwrap();
        assert_eq!(
            json,
            r#"{"database":"m","tablePrefix":"","partitionProjection":true}"#
        );
        let back: GlueCatalogConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(parse("database: m\ntable: trades").is_err());
        assert!(parse("database: m\ncrawler: {enabled: true, role: x}").is_err());
    }

    #[test]
    fn crawler_needs_a_role_only_when_enabled() {
        let mut c = GlueCatalogConfig::new("markets");
        c.crawler = Some(CrawlerConfig {
            enabled: false,
            ..CrawlerConfig::default()
        });
        assert!(c.validate().is_ok());
        assert!(c.enabled_crawler().is_none());
        c.crawler = Some(CrawlerConfig {
            enabled: true,
            ..CrawlerConfig::default()
        });
        let err = c.validate().unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "crawler.roleArn");
        assert!(err.to_string().starts_with("crawler.roleArn: is required"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let c = GlueCatalogConfig {
            database: "Markets-1".into(),
            table_prefix: "raw.".into(),
            partition_projection: true,
            crawler: Some(CrawlerConfig {
                enabled: true,
                schedule: Some("every 5 minutes".into()),
                role_arn: Some("arn:aws:iam::123:user/bob".into()),
            }),
            region: Some("europe".into()),
            endpoint: Some("glue.local:4566".into()),
        };
        let err = c.validate().unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "database",
                "tablePrefix",
                "crawler.roleArn",
                "crawler.schedule",
                "region",
                "endpoint"
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("database: `Markets-1` contains `M`"),
            "{text}"
        );
    }

    #[test]
    fn name_rules() {
        assert!(check_name("markets_2026", 1, 255).is_ok());
        assert!(check_name("", 1, 255).is_err());
        assert!(check_name("", 0, 249).is_ok());
        assert!(check_name(&"a".repeat(256), 1, 255).is_err());
        assert!(check_name("a-b", 1, 255).is_err());
    }

    #[test]
    fn role_arns() {
        for ok in [
            "arn:aws:iam::123456789012:role/stockfeed-crawler",
            "arn:aws:iam::123456789012:role/service-role/AWSGlueServiceRole-x",
            "arn:aws-cn:iam::123456789012:role/r",
            "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f_g",
        ] {
            assert!(check_role_arn(ok).is_ok(), "{ok}");
        }
        for bad in [
            "stockfeed-crawler",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:iam::12345678901:role/r",
            "arn:aws:iam:us-east-1:123456789012:role/r",
            "arn:aws:s3::123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:aws:iam::123456789012:role/has space",
            "arn:azure:iam::123456789012:role/r",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules() {
        assert!(check_schedule("cron(0/15 * * * ? *)").is_ok());
        assert!(check_schedule("cron(15 12 * * ? *)").is_ok());
        assert!(check_schedule("cron(0 8 ? * MON-FRI *)").is_ok());
        assert!(check_schedule("rate(5 minutes)").is_err());
        assert!(check_schedule("cron(0/15 * * * *)").is_err());
        assert!(check_schedule("cron(0 8 1 * MON *)").is_err());
        assert!(check_schedule("cron(0  8 ? * * *)").is_err());
    }

    #[test]
    fn regions_and_endpoints() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["us-east", "useast1", "US-EAST-1", "us--1", "-east-1", ""] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_endpoint("http://127.0.0.1:19050"));
        assert!(is_endpoint(
            "https://vpce-1.glue.eu-west-1.vpce.amazonaws.com/"
        ));
        assert!(!is_endpoint("127.0.0.1:19050"));
        assert!(!is_endpoint("https://"));
    }

    /// The CRD schema carries the same rules, so the API server refuses what `validate` refuses.
    #[test]
    fn schema_has_patterns_defaults_and_docs() {
        let schema = serde_json::to_value(schemars::schema_for!(GlueCatalogConfig)).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["database"]["pattern"], DATABASE_PATTERN);
        assert_eq!(props["tablePrefix"]["pattern"], TABLE_PREFIX_PATTERN);
        assert_eq!(props["partitionProjection"]["default"], true);
        assert_eq!(schema["required"], serde_json::json!(["database"]));
        for (name, prop) in props.as_object().unwrap() {
            assert!(prop.get("description").is_some(), "{name} has no doc");
        }
        let crawler = &schema["$defs"]["CrawlerConfig"];
        assert_eq!(
            crawler["properties"]["roleArn"]["pattern"],
            ROLE_ARN_PATTERN
        );
        assert_eq!(
            crawler["properties"]["schedule"]["pattern"],
            SCHEDULE_PATTERN
        );
        assert!(
            crawler["x-kubernetes-validations"][0]["rule"]
                .as_str()
                .unwrap()
                .contains("has(self.roleArn)")
        );
        for (name, prop) in crawler["properties"].as_object().unwrap() {
            assert!(
                prop.get("description").is_some(),
                "crawler.{name} has no doc"
            );
        }
    }
}
