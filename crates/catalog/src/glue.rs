//! [`GlueCatalog`]: makes the Glue Data Catalog match a [`CatalogPlan`], and removes it again.
//!
//! `ensure` is a reconcile step: it reads each entity first and writes only what differs, so a
//! repeated call with the same plan makes no write at all and reports every entity
//! `Unchanged`. `remove` deletes what StockFeed created (crawler, tables, and the database when
//! nothing else is left in it) and never touches the data in S3. Missing entities are never an
//! error: `EntityNotFoundException` on a delete means the work is already done.
//!
//! Every AWS call runs in its own `tracing` span naming the entity; failures say which call on
//! which entity failed, and for `AccessDeniedException` which permission to grant.

use aws_sdk_glue::Client;
use aws_sdk_glue::config::{BehaviorVersion, Region};
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    Crawler, CrawlerTargets, DatabaseInput, RecrawlPolicy, S3Target, SchemaChangePolicy, Table,
};
use serde::{Deserialize, Serialize};

use super::crawler::CrawlerDef;
use super::plan::CatalogPlan;
use super::table::TableDef;
use stockfeed_spec::catalog::GlueCatalogConfig;

/// What `ensure` or `remove` did to one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Change {
    Created,
    Updated,
    /// Already as wanted (including "absent, and not wanted").
    Unchanged,
    Deleted,
}

/// One entity's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityOutcome {
    /// `markets`, `markets.trades` or the crawler's name.
    pub name: String,
    pub change: Change,
    /// For `Updated`: what differed, one line per field (`Schedule: old -> new`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl EntityOutcome {
    fn new(name: impl Into<String>, change: Change) -> Self {
        EntityOutcome {
            name: name.into(),
            change,
            differences: Vec::new(),
        }
    }
}

/// The outcome of [`GlueCatalog::ensure`] or [`GlueCatalog::remove`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogOutcome {
    pub database: EntityOutcome,
    /// In plan order (trades, quotes, bars).
    pub tables: Vec<EntityOutcome>,
    pub crawler: EntityOutcome,
    /// The crawler as found after `ensure` (`None` when there is none, and after `remove`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawler_state: Option<CrawlerState>,
}

impl CatalogOutcome {
    /// True when anything was created, updated or deleted.
    pub fn changed(&self) -> bool {
        std::iter::once(&self.database)
            .chain(&self.tables)
            .chain(std::iter::once(&self.crawler))
            .any(|e| e.change != Change::Unchanged)
    }

    /// One line for logs and events, e.g. `database markets Unchanged; markets.trades Updated`.
    pub fn summary(&self) -> String {
        let db = format!("database {} {:?}", self.database.name, self.database.change);
        let tables = self
            .tables
            .iter()
            .map(|t| format!("{} {:?}", t.name, t.change));
        let crawler = format!("crawler {} {:?}", self.crawler.name, self.crawler.change);
        std::iter::once(db)
            .chain(tables)
            .chain(std::iter::once(crawler))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A crawler's state, for a status field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrawlerState {
    pub name: String,
    /// `READY`, `RUNNING` or `STOPPING`.
    pub state: String,
    /// Status of the last crawl: `SUCCEEDED`, `CANCELLED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crawl_status: Option<String>,
    /// Why the last crawl failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crawl_error: Option<String>,
    /// Start of the last crawl, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crawl_start: Option<String>,
    /// The cron expression, when scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// `SCHEDULED`, `NOT_SCHEDULED` or `TRANSITIONING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_state: Option<String>,
}

impl CrawlerState {
    fn of(crawler: &Crawler) -> Self {
        let last = crawler.last_crawl();
        CrawlerState {
            name: crawler.name().unwrap_or_default().to_owned(),
            state: crawler
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            last_crawl_status: last.and_then(|l| l.status()).map(|s| s.as_str().to_owned()),
            last_crawl_error: last
                .and_then(|l| l.error_message())
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            last_crawl_start: last.and_then(|l| l.start_time()).and_then(|t| {
                t.fmt(aws_sdk_glue::primitives::DateTimeFormat::DateTime)
                    .ok()
            }),
            schedule: crawler
                .schedule()
                .and_then(|s| s.schedule_expression())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            schedule_state: crawler
                .schedule()
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_owned()),
        }
    }
}

/// A failed Glue call, naming the call and the entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "{permission} on {entity} denied; grant it to the operator's IAM role{hint} ({message})"
    )]
    AccessDenied {
        operation: &'static str,
        entity: String,
        /// e.g. `glue:CreateTable`.
        permission: String,
        hint: String,
        message: String,
    },
    #[error(
        "{operation} on {entity} refused because the crawler is running or changing its \
         schedule; it is retried once the crawl has finished ({message})"
    )]
    CrawlerBusy {
        operation: &'static str,
        entity: String,
        message: String,
    },
    #[error("{operation} on {entity} failed: {message}")]
    Service {
        operation: &'static str,
        entity: String,
        code: Option<String>,
        message: String,
    },
    #[error(
        "{operation} on {entity}: no answer from Glue ({message}); check the region, the \
         endpoint and the network path to it"
    )]
    Unreachable {
        operation: &'static str,
        entity: String,
        message: String,
    },
    #[error(
        "{operation} on {entity} could not be sent ({message}); check the region and the AWS \
         credentials available to this process"
    )]
    NotSent {
        operation: &'static str,
        entity: String,
        message: String,
    },
}

impl CatalogError {
    /// True for failures that a later retry can clear without a configuration change.
    pub fn is_retryable(&self) -> bool {
        match self {
            CatalogError::CrawlerBusy { .. } | CatalogError::Unreachable { .. } => true,
            CatalogError::Service { code, .. } => matches!(
                code.as_deref(),
                Some(
                    "ThrottlingException"
                        | "OperationTimeoutException"
                        | "InternalServiceException"
                        | "ConcurrentModificationException"
                        | "ResourceNotReadyException"
                )
            ),
            CatalogError::AccessDenied { .. } | CatalogError::NotSent { .. } => false,
        }
    }

    /// The Glue API call that failed, e.g. `CreateTable`.
    pub fn operation(&self) -> &'static str {
        match self {
            CatalogError::AccessDenied { operation, .. }
            | CatalogError::CrawlerBusy { operation, .. }
            | CatalogError::Service { operation, .. }
            | CatalogError::Unreachable { operation, .. }
            | CatalogError::NotSent { operation, .. } => operation,
        }
    }
}

/// How an SDK call failed, before it is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// Glue answered with an error.
    Service,
    /// Timeout, connection or response-parsing failure.
    Transport,
    /// The request could not be built or signed (no region, no credentials).
    Construction,
}

/// Names a failed call (pure, so the messages can be tested without AWS).
fn classify(
    operation: &'static str,
    entity: &str,
    hint: &str,
    kind: FailureKind,
    code: Option<&str>,
    message: String,
) -> CatalogError {
    let entity = entity.to_owned();
    match (kind, code) {
        (FailureKind::Service, Some("AccessDeniedException" | "AccessDenied")) => {
            CatalogError::AccessDenied {
                operation,
                entity,
                permission: format!("glue:{operation}"),
                hint: hint.to_owned(),
                message,
            }
        }
        (
            FailureKind::Service,
            Some("CrawlerRunningException" | "SchedulerTransitioningException"),
        ) => CatalogError::CrawlerBusy {
            operation,
            entity,
            message,
        },
        (FailureKind::Service, code) => CatalogError::Service {
            operation,
            entity,
            code: code.map(str::to_owned),
            message,
        },
        (FailureKind::Transport, _) => CatalogError::Unreachable {
            operation,
            entity,
            message,
        },
        (FailureKind::Construction, _) => CatalogError::NotSent {
            operation,
            entity,
            message,
        },
    }
}

fn sdk_error<E>(operation: &'static str, entity: &str, hint: &str, e: SdkError<E>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &e {
        SdkError::ServiceError(_) => FailureKind::Service,
        SdkError::ConstructionFailure(_) => FailureKind::Construction,
        _ => FailureKind::Transport,
    };
    let code = e.code().map(str::to_owned);
    let message = match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        _ => DisplayErrorContext(&e).to_string(),
    };
    classify(operation, entity, hint, kind, code.as_deref(), message)
}

fn code_is<E: ProvideErrorMetadata>(e: &SdkError<E>, code: &str) -> bool {
    matches!(e, SdkError::ServiceError(_)) && e.code() == Some(code)
}

const NOT_FOUND: &str = "EntityNotFoundException";
const ALREADY_EXISTS: &str = "AlreadyExistsException";

/// The Glue Data Catalog of one AWS account and region.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: Client,
}

impl GlueCatalog {
    /// Wraps a client built elsewhere.
    pub fn new(client: Client) -> Self {
        GlueCatalog { client }
    }

    /// A client from shared SDK settings (credentials, region, endpoint).
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        GlueCatalog::new(Client::new(config))
    }

    /// A client from the SDK's default chains: credentials from the environment, profile,
    /// IRSA web identity or instance metadata; region from `region`, else `AWS_REGION` or the
    /// profile; endpoint from `AWS_ENDPOINT_URL_GLUE` or `AWS_ENDPOINT_URL` when set.
    pub async fn from_env(region: Option<String>) -> Self {
        GlueCatalog::connect_to(region, None).await
    }

    /// [`GlueCatalog::from_env`] with the `region` and `endpoint` of the configuration.
    pub async fn connect(config: &GlueCatalogConfig) -> Self {
        GlueCatalog::connect_to(config.region.clone(), config.endpoint.clone()).await
    }

    async fn connect_to(region: Option<String>, endpoint: Option<String>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        GlueCatalog::from_sdk_config(&loader.load().await)
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates or updates the database, tables and crawler of `plan`; deletes the crawler when
    /// the plan has none. Writes nothing when everything already matches.
    #[tracing::instrument(name = "glue_ensure", skip_all, fields(database = %plan.database))]
    pub async fn ensure(&self, plan: &CatalogPlan) -> Result<CatalogOutcome, CatalogError> {
        let database = self.ensure_database(plan).await?;
        let mut tables = Vec::with_capacity(plan.tables.len());
        for table in &plan.tables {
            tables.push(self.ensure_table(&plan.database, table).await?);
        }
        let crawler = self.ensure_crawler(plan).await?;
        let crawler_state = self.crawler_state(&plan.crawler_name).await?;
        let outcome = CatalogOutcome {
            database,
            tables,
            crawler,
            crawler_state,
        };
        if outcome.changed() {
            tracing::info!(summary = %outcome.summary(), "glue catalog reconciled");
        } else {
            tracing::debug!(summary = %outcome.summary(), "glue catalog already up to date");
        }
        Ok(outcome)
    }

    /// Deletes the crawler and the tables of `plan`, then the database if no table is left in
    /// it. Never deletes data in S3. Entities already gone count as done, so a second call
    /// succeeds and reports everything `Unchanged`. A running crawler is asked to stop and
    /// [`CatalogError::CrawlerBusy`] is returned: retry once the crawl has ended.
    #[tracing::instrument(name = "glue_remove", skip_all, fields(database = %plan.database))]
    pub async fn remove(&self, plan: &CatalogPlan) -> Result<CatalogOutcome, CatalogError> {
        let crawler = match self.delete_crawler(&plan.crawler_name).await {
            Ok(true) => Change::Deleted,
            Ok(false) => Change::Unchanged,
            Err(e @ CatalogError::CrawlerBusy { .. }) => {
                self.stop_crawler(&plan.crawler_name).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let mut tables = Vec::with_capacity(plan.tables.len());
        for table in &plan.tables {
            let change = if self.delete_table(&plan.database, &table.name).await? {
                Change::Deleted
            } else {
                Change::Unchanged
            };
            tables.push(EntityOutcome::new(
                format!("{}.{}", plan.database, table.name),
                change,
            ));
        }
        let database = match self.table_names(&plan.database).await? {
            None => Change::Unchanged,
            Some(left) if left.is_empty() => {
                if self.delete_database(&plan.database).await? {
                    Change::Deleted
                } else {
                    Change::Unchanged
                }
            }
            Some(left) => {
                tracing::info!(
                    database = %plan.database,
                    tables = ?left,
                    "keeping the database: it holds tables StockFeed did not create"
                );
                Change::Unchanged
            }
        };
        let outcome = CatalogOutcome {
            database: EntityOutcome::new(&plan.database, database),
            tables,
            crawler: EntityOutcome::new(&plan.crawler_name, crawler),
            crawler_state: None,
        };
        tracing::info!(summary = %outcome.summary(), "glue catalog removed");
        Ok(outcome)
    }

    /// The crawler's state, or `None` when there is no crawler of that name.
    pub async fn crawler_state(&self, name: &str) -> Result<Option<CrawlerState>, CatalogError> {
        Ok(self.get_crawler(name).await?.as_ref().map(CrawlerState::of))
    }

    async fn ensure_database(&self, plan: &CatalogPlan) -> Result<EntityOutcome, CatalogError> {
        let change = if self.database_exists(&plan.database).await? {
            Change::Unchanged
        } else if self
            .create_database(&plan.database, &plan.database_description)
            .await?
        {
            Change::Created
        } else {
            // Created by someone else between our read and our write.
            Change::Unchanged
        };
        Ok(EntityOutcome::new(&plan.database, change))
    }

    async fn ensure_table(
        &self,
        database: &str,
        want: &TableDef,
    ) -> Result<EntityOutcome, CatalogError> {
        let name = format!("{database}.{}", want.name);
        let existing = match self.get_table(database, &want.name).await? {
            Some(table) => table,
            None => {
                if self.create_table(database, want).await? {
                    return Ok(EntityOutcome::new(name, Change::Created));
                }
                // Lost a race with another writer: compare with what is there now.
                match self.get_table(database, &want.name).await? {
                    Some(table) => table,
                    None => return Ok(EntityOutcome::new(name, Change::Unchanged)),
                }
            }
        };
        let differences = want.differences(&TableDef::observed(&existing));
        if differences.is_empty() {
            return Ok(EntityOutcome::new(name, Change::Unchanged));
        }
        tracing::info!(table = %name, ?differences, "updating glue table");
        self.update_table(database, want).await?;
        Ok(EntityOutcome {
            name,
            change: Change::Updated,
            differences,
        })
    }

    async fn ensure_crawler(&self, plan: &CatalogPlan) -> Result<EntityOutcome, CatalogError> {
        let name = &plan.crawler_name;
        let existing = self.get_crawler(name).await?;
        let Some(want) = &plan.crawler else {
            let change = match existing {
                Some(_) => {
                    if self.delete_crawler(name).await? {
                        Change::Deleted
                    } else {
                        Change::Unchanged
                    }
                }
                None => Change::Unchanged,
            };
            return Ok(EntityOutcome::new(name, change));
        };
        let Some(existing) = existing else {
            self.create_crawler(want).await?;
            return Ok(EntityOutcome::new(name, Change::Created));
        };
        let observed = CrawlerDef::observed(&existing);
        let differences = want.differences(&observed);
        if differences.is_empty() {
            return Ok(EntityOutcome::new(name, Change::Unchanged));
        }
        tracing::info!(crawler = %name, ?differences, "updating glue crawler");
        if want.targets_differ(&observed) {
            // AWS refuses to change the S3 targets of a CRAWL_NEW_FOLDERS_ONLY crawler; a new
            // crawler with the new targets starts with a full crawl, which is what new
            // locations need anyway.
            self.delete_crawler(name).await?;
            self.create_crawler(want).await?;
        } else {
            self.update_crawler(want, observed.schedule.is_some())
                .await?;
        }
        Ok(EntityOutcome {
            name: name.clone(),
            change: Change::Updated,
            differences,
        })
    }

    // ---- one method per Glue call, each in its own span ----

    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn database_exists(&self, database: &str) -> Result<bool, CatalogError> {
        match self.client.get_database().name(database).send().await {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(false),
            Err(e) => Err(sdk_error(
                "GetDatabase",
                &format!("database {database}"),
                "",
                e,
            )),
        }
    }

    /// False when it already exists.
    #[tracing::instrument(skip(self, description), err(Display, level = "warn"))]
    async fn create_database(
        &self,
        database: &str,
        description: &str,
    ) -> Result<bool, CatalogError> {
        let entity = format!("database {database}");
        let input = DatabaseInput::builder()
            .name(database)
            .description(description)
            .build()
            .map_err(|e| {
                classify(
                    "CreateDatabase",
                    &entity,
                    "",
                    FailureKind::Construction,
                    None,
                    e.to_string(),
                )
            })?;
        match self
            .client
            .create_database()
            .database_input(input)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, ALREADY_EXISTS) => Ok(false),
            Err(e) => Err(sdk_error("CreateDatabase", &entity, "", e)),
        }
    }

    /// False when it was already gone.
    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn delete_database(&self, database: &str) -> Result<bool, CatalogError> {
        match self.client.delete_database().name(database).send().await {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(false),
            Err(e) => Err(sdk_error(
                "DeleteDatabase",
                &format!("database {database}"),
                "",
                e,
            )),
        }
    }

    /// The names of all tables in the database, or `None` when it does not exist.
    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn table_names(&self, database: &str) -> Result<Option<Vec<String>>, CatalogError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match self
                .client
                .get_tables()
                .database_name(database)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if code_is(&e, NOT_FOUND) => return Ok(None),
                Err(e) => {
                    return Err(sdk_error(
                        "GetTables",
                        &format!("database {database}"),
                        "",
                        e,
                    ));
                }
            };
            names.extend(page.table_list().iter().map(|t| t.name().to_owned()));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(Some(names)),
            }
        }
    }

    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<Table>, CatalogError> {
        match self
            .client
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
        {
            Ok(out) => Ok(out.table().cloned()),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(sdk_error("GetTable", &format!("{database}.{table}"), "", e)),
        }
    }

    /// False when it already exists.
    #[tracing::instrument(skip(self, want), fields(table = %want.name), err(Display, level = "warn"))]
    async fn create_table(&self, database: &str, want: &TableDef) -> Result<bool, CatalogError> {
        let entity = format!("{database}.{}", want.name);
        let input = want.to_input().map_err(|e| {
            classify(
                "CreateTable",
                &entity,
                "",
                FailureKind::Construction,
                None,
                e.to_string(),
            )
        })?;
        match self
            .client
            .create_table()
            .database_name(database)
            .table_input(input)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, ALREADY_EXISTS) => Ok(false),
            Err(e) => Err(sdk_error("CreateTable", &entity, "", e)),
        }
    }

    #[tracing::instrument(skip(self, want), fields(table = %want.name), err(Display, level = "warn"))]
    async fn update_table(&self, database: &str, want: &TableDef) -> Result<(), CatalogError> {
        let entity = format!("{database}.{}", want.name);
        let input = want.to_input().map_err(|e| {
            classify(
                "UpdateTable",
                &entity,
                "",
                FailureKind::Construction,
                None,
                e.to_string(),
            )
        })?;
        self.client
            .update_table()
            .database_name(database)
            .table_input(input)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("UpdateTable", &entity, "", e))
    }

    /// False when it was already gone.
    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn delete_table(&self, database: &str, table: &str) -> Result<bool, CatalogError> {
        match self
            .client
            .delete_table()
            .database_name(database)
            .name(table)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(false),
            Err(e) => Err(sdk_error(
                "DeleteTable",
                &format!("{database}.{table}"),
                "",
                e,
            )),
        }
    }

    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn get_crawler(&self, crawler: &str) -> Result<Option<Crawler>, CatalogError> {
        match self.client.get_crawler().name(crawler).send().await {
            Ok(out) => Ok(out.crawler().cloned()),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(sdk_error(
                "GetCrawler",
                &format!("crawler {crawler}"),
                "",
                e,
            )),
        }
    }

    #[tracing::instrument(skip(self, want), fields(crawler = %want.name), err(Display, level = "warn"))]
    async fn create_crawler(&self, want: &CrawlerDef) -> Result<(), CatalogError> {
        let (targets, policy, recrawl) = crawler_parts(want);
        self.client
            .create_crawler()
            .name(&want.name)
            .role(&want.role)
            .database_name(&want.database)
            .description(&want.description)
            .targets(targets)
            .set_schedule(want.schedule.clone())
            .schema_change_policy(policy)
            .recrawl_policy(recrawl)
            .configuration(&want.configuration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                sdk_error(
                    "CreateCrawler",
                    &format!("crawler {}", want.name),
                    &pass_role_hint(&want.role),
                    e,
                )
            })
    }

    /// `had_schedule`: the crawler has a schedule now; an empty `Schedule` removes it when
    /// the plan has none.
    #[tracing::instrument(skip(self, want), fields(crawler = %want.name), err(Display, level = "warn"))]
    async fn update_crawler(
        &self,
        want: &CrawlerDef,
        had_schedule: bool,
    ) -> Result<(), CatalogError> {
        let (targets, policy, recrawl) = crawler_parts(want);
        let schedule = match (&want.schedule, had_schedule) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => Some(String::new()),
            (None, false) => None,
        };
        self.client
            .update_crawler()
            .name(&want.name)
            .role(&want.role)
            .database_name(&want.database)
            .description(&want.description)
            .targets(targets)
            .set_schedule(schedule)
            .schema_change_policy(policy)
            .recrawl_policy(recrawl)
            .configuration(&want.configuration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                sdk_error(
                    "UpdateCrawler",
                    &format!("crawler {}", want.name),
                    &pass_role_hint(&want.role),
                    e,
                )
            })
    }

    /// False when it was already gone.
    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn delete_crawler(&self, crawler: &str) -> Result<bool, CatalogError> {
        match self.client.delete_crawler().name(crawler).send().await {
            Ok(_) => Ok(true),
            Err(e) if code_is(&e, NOT_FOUND) => Ok(false),
            Err(e) => Err(sdk_error(
                "DeleteCrawler",
                &format!("crawler {crawler}"),
                "",
                e,
            )),
        }
    }

    /// Asks a running crawler to stop; a crawler that is not running (any more) is fine.
    #[tracing::instrument(skip(self), err(Display, level = "warn"))]
    async fn stop_crawler(&self, crawler: &str) -> Result<(), CatalogError> {
        match self.client.stop_crawler().name(crawler).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if code_is(&e, NOT_FOUND)
                    || code_is(&e, "CrawlerNotRunningException")
                    || code_is(&e, "CrawlerStoppingException") =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(
                "StopCrawler",
                &format!("crawler {crawler}"),
                "",
                e,
            )),
        }
    }
}

fn crawler_parts(want: &CrawlerDef) -> (CrawlerTargets, SchemaChangePolicy, RecrawlPolicy) {
    let targets = CrawlerTargets::builder()
        .set_s3_targets(Some(
            want.targets
                .iter()
                .map(|t| {
                    S3Target::builder()
                        .path(&t.path)
                        .set_exclusions(Some(t.exclusions.clone()))
                        .build()
                })
                .collect(),
        ))
        .build();
    let policy = SchemaChangePolicy::builder()
        .update_behavior(want.update_behavior.as_str().into())
        .delete_behavior(want.delete_behavior.as_str().into())
        .build();
    let recrawl = RecrawlPolicy::builder()
        .recrawl_behavior(want.recrawl_behavior.as_str().into())
        .build();
    (targets, policy, recrawl)
}

fn pass_role_hint(role: &str) -> String {
    format!(", together with iam:PassRole on the crawler's role {role}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_names_the_permission_and_entity() {
        let e = classify(
            "CreateTable",
            "markets.trades",
            "",
            FailureKind::Service,
            Some("AccessDeniedException"),
            "AccessDeniedException: User is not authorized".into(),
        );
        assert_eq!(
            e.to_string(),
            "glue:CreateTable on markets.trades denied; grant it to the operator's IAM role \
             (AccessDeniedException: User is not authorized)"
        );
        assert!(!e.is_retryable());
        let e = classify(
            "CreateCrawler",
            "crawler c",
            &pass_role_hint("arn:aws:iam::123456789012:role/r"),
            FailureKind::Service,
            Some("AccessDeniedException"),
            "denied".into(),
        );
        assert!(
            e.to_string().starts_with(
                "glue:CreateCrawler on crawler c denied; grant it to the operator's IAM role, \
                 together with iam:PassRole on the crawler's role arn:aws:iam::123456789012:role/r"
            ),
            "{e}"
        );
        assert_eq!(e.operation(), "CreateCrawler");
    }

    #[test]
    fn other_failures() {
        let busy = classify(
            "UpdateCrawler",
            "crawler c",
            "",
            FailureKind::Service,
            Some("CrawlerRunningException"),
            "running".into(),
        );
        assert!(matches!(busy, CatalogError::CrawlerBusy { .. }));
        assert!(busy.is_retryable());
        let throttled = classify(
            "GetTable",
            "m.t",
            "",
            FailureKind::Service,
            Some("ThrottlingException"),
            "slow down".into(),
        );
        assert!(throttled.is_retryable());
        assert_eq!(throttled.to_string(), "GetTable on m.t failed: slow down");
        let invalid = classify(
            "CreateTable",
            "m.t",
            "",
            FailureKind::Service,
            Some("InvalidInputException"),
            "bad".into(),
        );
        assert!(!invalid.is_retryable());
        let down = classify(
            "GetDatabase",
            "database m",
            "",
            FailureKind::Transport,
            None,
            "refused".into(),
        );
        assert!(matches!(down, CatalogError::Unreachable { .. }));
        assert!(down.is_retryable());
        let unsigned = classify(
            "GetDatabase",
            "database m",
            "",
            FailureKind::Construction,
            None,
            "no credentials".into(),
        );
        assert!(unsigned.to_string().contains("credentials"));
        assert!(!unsigned.is_retryable());
    }

    #[test]
    fn outcome_summary_and_changed() {
        let mut outcome = CatalogOutcome {
            database: EntityOutcome::new("markets", Change::Unchanged),
            tables: vec![EntityOutcome::new("markets.trades", Change::Unchanged)],
            crawler: EntityOutcome::new("c", Change::Unchanged),
            crawler_state: None,
        };
        assert!(!outcome.changed());
        outcome.tables[0].change = Change::Updated;
        assert!(outcome.changed());
        assert_eq!(
            outcome.summary(),
            "database markets Unchanged; markets.trades Updated; crawler c Unchanged"
        );
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["tables"][0]["change"], "Updated");
        assert!(json.get("crawlerState").is_none());
    }
}
