//! Athena queries over the catalogued lake: start, poll until a terminal state, page the
//! results. The analyst's end of the pipeline in AWS; `stockfeed query --athena` uses it.
//!
//! Athena's result rows are strings (a NULL is a cell without a value), and for a SELECT the
//! first row of the first page repeats the column names; both are handled here so callers get
//! plain rows. FAILED and CANCELLED are terminal and reported with Athena's own reason.

use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};

/// One query to run.
#[derive(Debug, Clone)]
pub struct AthenaQuery {
    pub sql: String,
    /// Glue database the unqualified table names refer to.
    pub database: Option<String>,
    /// Workgroup; `primary` unless set.
    pub workgroup: String,
    /// `s3://bucket/prefix/` for result files; unset uses the workgroup's location.
    pub output_location: Option<String>,
    /// First delay between polls; doubles up to 5 s.
    pub poll_interval: Duration,
    /// The query is stopped and an error returned after this long.
    pub timeout: Duration,
}

impl AthenaQuery {
    pub fn new(sql: impl Into<String>) -> Self {
        AthenaQuery {
            sql: sql.into(),
            database: None,
            workgroup: "primary".into(),
            output_location: None,
            poll_interval: Duration::from_millis(200),
            timeout: Duration::from_secs(600),
        }
    }
}

/// Rows of a finished query, values as Athena returns them (strings; `None` is NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaResult {
    pub query_execution_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub data_scanned_bytes: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    #[error("Athena {operation} failed: {code}: {message}")]
    Api {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("Athena query {id} failed: {reason}")]
    Failed { id: String, reason: String },
    #[error("Athena query {id} was cancelled{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Cancelled { id: String, reason: Option<String> },
    #[error("Athena query {id} did not finish within {timeout:?}; it was stopped")]
    Timeout { id: String, timeout: Duration },
}

fn api_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> AthenaError {
    move |e| {
        let (code, message) = match e.as_service_error() {
            Some(s) => (
                s.code().unwrap_or("Unknown").to_owned(),
                s.message().unwrap_or_default().to_owned(),
            ),
            None => (
                "NoResponse".to_owned(),
                aws_sdk_athena::error::DisplayErrorContext(&e).to_string(),
            ),
        };
        AthenaError::Api {
            operation,
            code,
            message,
        }
    }
}

pub struct AthenaClient {
    client: Client,
}

impl AthenaClient {
    pub fn new(client: Client) -> Self {
        AthenaClient { client }
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        AthenaClient::new(Client::new(config))
    }

    /// Runs `query` to completion and returns every row.
    #[tracing::instrument(skip_all, fields(workgroup = %query.workgroup))]
    pub async fn run(&self, query: &AthenaQuery) -> Result<AthenaResult, AthenaError> {
        let mut start = self
            .client
            .start_query_execution()
            .query_string(&query.sql)
            .work_group(&query.workgroup)
            // Idempotency: a retried start is the same query, not a second one.
            .client_request_token(request_token(&query.sql));
        if let Some(db) = &query.database {
            start = start.query_execution_context(
                QueryExecutionContext::builder()
                    .database(db)
                    .catalog("AwsDataCatalog")
                    .build(),
            );
        }
        if let Some(out) = &query.output_location {
            start = start
                .result_configuration(ResultConfiguration::builder().output_location(out).build());
        }
        let id = start
            .send()
            .await
            .map_err(api_error("StartQueryExecution"))?
            .query_execution_id
            .unwrap_or_default();
        let scanned = self.wait(&id, query).await?;
        let (columns, rows) = self.results(&id).await?;
        Ok(AthenaResult {
            query_execution_id: id,
            columns,
            rows,
            data_scanned_bytes: scanned,
        })
    }

    /// Polls until SUCCEEDED (returns the bytes scanned) or a failure.
    async fn wait(&self, id: &str, query: &AthenaQuery) -> Result<Option<i64>, AthenaError> {
        let deadline = tokio::time::Instant::now() + query.timeout;
        let mut delay = query.poll_interval;
        loop {
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(api_error("GetQueryExecution"))?
                .query_execution;
            let statistics = execution.as_ref().and_then(|e| e.statistics.clone());
            let status = execution.and_then(|e| e.status);
            let state = status.as_ref().and_then(|s| s.state.clone());
            let reason = status.as_ref().and_then(|s| s.state_change_reason.clone());
            let detail = status
                .as_ref()
                .and_then(|s| s.athena_error.as_ref())
                .and_then(|e| e.error_message.clone());
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    return Ok(statistics.and_then(|s| s.data_scanned_in_bytes));
                }
                Some(QueryExecutionState::Failed) => {
                    return Err(AthenaError::Failed {
                        id: id.to_owned(),
                        reason: reason
                            .or(detail)
                            .unwrap_or_else(|| "no reason given".into()),
                    });
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(AthenaError::Cancelled {
                        id: id.to_owned(),
                        reason,
                    });
                }
                // QUEUED or RUNNING (transient errors may move RUNNING back to QUEUED).
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await;
                return Err(AthenaError::Timeout {
                    id: id.to_owned(),
                    timeout: query.timeout,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Pages through the results; drops the header row Athena puts first for a SELECT.
    async fn results(
        &self,
        id: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), AthenaError> {
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(api_error("GetQueryResults"))?;
            let set = page.result_set;
            if first_page {
                columns = set
                    .as_ref()
                    .and_then(|s| s.result_set_metadata.clone())
                    .and_then(|m| m.column_info)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
            }
            let mut page_rows: Vec<Vec<Option<String>>> = set
                .and_then(|s| s.rows)
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    r.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|d| d.var_char_value)
                        .collect()
                })
                .collect();
            if first_page && is_header(&page_rows, &columns) {
                page_rows.remove(0);
            }
            rows.extend(page_rows);
            first_page = false;
            token = page.next_token;
            if token.is_none() {
                return Ok((columns, rows));
            }
        }
    }
}

/// True when the first row repeats the column names (a SELECT's header row).
fn is_header(rows: &[Vec<Option<String>>], columns: &[String]) -> bool {
    match rows.first() {
        Some(first) if !columns.is_empty() => {
            first.len() == columns.len()
                && first
                    .iter()
                    .zip(columns)
                    .all(|(v, c)| v.as_deref() == Some(c.as_str()))
        }
        _ => false,
    }
}

/// 32+ characters, unique per query text and moment.
fn request_token(sql: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hash = xxhash_rust::xxh3::xxh3_128(format!("{nanos}\0{sql}").as_bytes());
    format!("stockfeed-{hash:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_row_is_recognised_only_when_it_repeats_the_columns() {
        let columns = vec!["symbol".to_owned(), "vwap".to_owned()];
        let header = vec![vec![Some("symbol".into()), Some("vwap".into())]];
        assert!(is_header(&header, &columns));
        let data = vec![vec![Some("AAPL".into()), Some("1.5".into())]];
        assert!(!is_header(&data, &columns));
        assert!(!is_header(&data, &[]));
        assert!(request_token("select 1").len() >= 32);
    }
}
