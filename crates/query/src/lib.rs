//! Embedded SQL over the lake (`stockfeed query`): the tables a StockFeed's Glue catalog
//! defines, read straight from the sink's files, locally or on S3, with the results Athena
//! would give.
//!
//! It reads the lake by the schema and layout of `stockfeed-record` and a StockFeed's settings
//! from `stockfeed-spec`; it never writes the lake and knows nothing of Kafka or the sink.
//!
//! ## Engine: Apache DataFusion
//!
//! DataFusion is an Apache Software Foundation project (Apache-2.0, released every few weeks)
//! written in Rust on Apache Arrow, the same arrow-rs crates the sink's Parquet writer uses: one
//! Arrow, one Parquet implementation, one type system from writer to query. It compiles with
//! cargo like the rest of the worker and needs nothing at run time. It is still the largest
//! dependency: measured on the 2-core dev machine, a cold debug build of `stockfeed` went from
//! 8.0 to 14.7 minutes (598 to 1302 CPU seconds) and the debug binary from 99 to 313 MB. Only
//! the features querying needs are on (see the workspace `Cargo.toml`).
//!
//! DuckDB was the other candidate: a better SQL surface (it has `min_by`/`max_by`), but the
//! `duckdb` crate's bundled build compiles DuckDB's C++ sources (about 23 minutes of release
//! build on the same machine, plus a C++ toolchain in every build image), and at run time it
//! installs and loads extensions (httpfs for S3, parquet without the bundled feature) from
//! the internet unless that is switched off, which a worker image that must never call out
//! cannot allow. DuckDB stays in the test venv as the *independent* reader the integration
//! tests compare against.
//!
//! ## What a session can do
//!
//! - Read the three tables of [`lake`] (and `information_schema`) and nothing else: the
//!   session's only object store is the lake ([`store::LakeRegistry`]), and the store refuses
//!   writes.
//! - Run one read-only statement at a time: `SELECT`/`WITH`, `SHOW`, `DESCRIBE`, `EXPLAIN`.
//!   DDL (`CREATE EXTERNAL TABLE`), DML (`INSERT`, `COPY ... TO`) and `SET` are refused.
//! - Trino's `min_by`/`max_by` are added ([`functions`]), so OHLC SQL can be the same text as
//!   in Athena; `examples/sql/README.md` lists the dialect differences that remain.
//! - Count what each query read ([`ScanSnapshot`]): files, bytes, requests.

pub mod error;
pub mod functions;
pub mod lake;
pub mod output;
pub mod plot;
mod s3;
pub mod store;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

pub use error::QueryError;
pub use lake::{CATALOG, DEFAULT_DATABASE, LakeSource};
pub use output::{OutputError, OutputFormat, ResultWriter};
pub use store::{ScanSnapshot, ScanStats};

use stockfeed_record::lake::layout::Dataset;
use stockfeed_record::lake::table_name;

/// A query session over one or more lakes (the feeds of a manifest file).
pub struct Lake {
    ctx: SessionContext,
    sources: Vec<LakeSource>,
    stats: Arc<ScanStats>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("sources", &self.sources)
            .finish()
    }
}

impl Lake {
    /// Registers the lake's tables. Nothing is listed or read yet, so this succeeds on an
    /// empty (or not yet created) lake; for `s3://` it resolves the region and, when the feed
    /// names static keys, reads them.
    pub async fn open(source: LakeSource) -> Result<Self, QueryError> {
        Self::open_all(vec![source]).await
    }

    /// Registers the tables of several lakes in one session; the first lake's database is the
    /// default one. Two lakes may share a database but not a table name.
    pub async fn open_all(sources: Vec<LakeSource>) -> Result<Self, QueryError> {
        let first = sources
            .first()
            .ok_or_else(|| QueryError::Lake("no lake to query".to_owned()))?;
        let default_database = first.database.clone();
        for source in &sources {
            source.validate_names()?;
        }
        let mut seen: Vec<(String, &str)> = Vec::new();
        for source in &sources {
            for table in source.table_names() {
                if let Some((_, other)) = seen.iter().find(|(t, _)| *t == table) {
                    return Err(QueryError::Lake(format!(
                        "the lakes {other} and {} both define table {table}; give their feeds \
                         different catalog.glue database or tablePrefix values, or query one",
                        source.url
                    )));
                }
                seen.push((table, source.url.as_str()));
            }
        }

        // One object store per store URL (file:/// or s3://bucket), each seeing its lakes.
        let stats = Arc::new(ScanStats::default());
        let mut locations = Vec::with_capacity(sources.len());
        let mut groups: Vec<(lake::Location, &LakeSource, Vec<store::LakeRoot>)> = Vec::new();
        for source in &sources {
            let location = lake::Location::parse(&source.url)?;
            let root = store::LakeRoot {
                root: location.root.clone(),
                symbol_alias: lake::symbol_alias(source),
            };
            match groups
                .iter_mut()
                .find(|(l, _, _)| l.store_url == location.store_url)
            {
                Some((_, _, roots)) => roots.push(root),
                None => groups.push((location.clone(), source, vec![root])),
            }
            locations.push(location);
        }
        let mut stores: Vec<(url::Url, Arc<dyn ObjectStore>)> = Vec::new();
        for (location, source, roots) in groups {
            let inner: Arc<dyn ObjectStore> = match &location.bucket {
                None => Arc::new(LocalFileSystem::new()),
                Some(bucket) => s3::connect(bucket, &source.s3).await?,
            };
            let view = store::LakeStore::new(
                inner,
                &roots,
                Arc::clone(&stats),
                location.store_url.to_string(),
            );
            stores.push((location.store_url, Arc::new(view)));
        }
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(store::LakeRegistry::new(stores)))
            .build_arc()
            .map_err(|e| QueryError::Lake(error::one_line(&e.message())))?;

        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, &default_database)
            .with_create_default_catalog_and_schema(true)
            // `189.1234` is a DECIMAL literal, as in Trino, not a float that compares inexactly
            // with the lake's decimal(18,8) columns.
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for function in functions::by_aggregates() {
            ctx.register_udaf(function);
        }
        let catalog = ctx
            .catalog(CATALOG)
            .ok_or_else(|| QueryError::Lake(format!("catalog {CATALOG} was not created")))?;
        for (source, location) in sources.iter().zip(&locations) {
            if catalog.schema(&source.database).is_none() {
                catalog
                    .register_schema(&source.database, Arc::new(MemorySchemaProvider::new()))
                    .map_err(|e| QueryError::Lake(error::one_line(&e.message())))?;
            }
            for dataset in Dataset::ALL {
                let table = lake::table(source, location, dataset)?;
                let name = TableReference::partial(
                    source.database.as_str(),
                    table_name(&source.table_prefix, dataset),
                );
                ctx.register_table(name, Arc::new(table))
                    .map_err(|e| QueryError::Lake(error::one_line(&e.message())))?;
            }
        }
        Ok(Lake {
            ctx,
            sources,
            stats,
        })
    }

    /// The registered tables, `database.table`.
    pub fn tables(&self) -> Vec<String> {
        self.sources
            .iter()
            .flat_map(LakeSource::table_names)
            .collect()
    }

    pub fn sources(&self) -> &[LakeSource] {
        &self.sources
    }

    /// What the session's queries have read so far; [`ScanStats::reset`] starts over.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// The DataFusion session, for callers that need more than SQL text.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Parses, checks and plans one statement.
    pub async fn plan(&self, sql: &str) -> Result<DataFrame, QueryError> {
        let dialect = GenericDialect {};
        let mut statements = DFParserBuilder::new(sql)
            .with_dialect(&dialect)
            .build()
            .and_then(|mut parser| parser.parse_statements())
            .map_err(QueryError::from_planning)?;
        let statement = match statements.len() {
            1 => statements.pop_front(),
            0 => None,
            n => {
                return Err(QueryError::InvalidSql(format!(
                    "the text holds {n} statements; run one at a time"
                )));
            }
        }
        .ok_or_else(|| QueryError::InvalidSql("the text holds no SQL statement".to_owned()))?;

        let state = self.ctx.state();
        let references = state
            .resolve_table_references(&statement)
            .map_err(QueryError::from_planning)?;
        let plan = match state.statement_to_plan(statement).await {
            Ok(plan) => plan,
            Err(e) => {
                // Name a missing table plainly, with what exists, rather than DataFusion's
                // fully qualified "table ... not found".
                if let Some(missing) = references.iter().find(|r| !self.table_exists(r)) {
                    return Err(QueryError::UnknownTable {
                        name: missing.to_string(),
                        available: self.tables(),
                    });
                }
                return Err(QueryError::from_planning(e));
            }
        };
        read_only(&plan)?;
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(QueryError::from_planning)
    }

    fn table_exists(&self, reference: &TableReference) -> bool {
        let functions = self.ctx.state();
        if let TableReference::Bare { table } = reference
            && functions.table_functions().contains_key(table.as_ref())
        {
            return true;
        }
        self.ctx.table_exist(reference.clone()).unwrap_or(false)
    }

    /// Runs one statement; the rows arrive as the stream is polled.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        self.plan(sql)
            .await?
            .execute_stream()
            .await
            .map_err(QueryError::from_execution)
    }

    /// Runs one statement and collects every row.
    pub async fn collect(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let frame = self.plan(sql).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(QueryError::from_execution)?;
        Ok((schema, batches))
    }
}

/// Refuses anything that would change state: DDL, DML (including `COPY ... TO`) and `SET`.
fn read_only(plan: &LogicalPlan) -> Result<(), QueryError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| QueryError::NotAllowed(error::one_line(&e.message())))
}
