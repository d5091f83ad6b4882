//! What can go wrong between a SQL text and its rows, each as one line that names the problem.

use datafusion::error::DataFusionError;

/// Why a query could not be run. `Display` is a single line, fit for a terminal.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The lake's location or settings cannot be used (bad URL, unreadable credentials...).
    #[error("{0}")]
    Lake(String),
    /// The text is not one valid SQL statement.
    #[error("invalid SQL: {0}")]
    InvalidSql(String),
    /// The query names a table the lake does not have.
    #[error("table `{name}` does not exist; the lake has {}", list(.available))]
    UnknownTable {
        name: String,
        /// Every registered table, `database.table`.
        available: Vec<String>,
    },
    /// DDL, DML, `COPY` or `SET`: the lake is read-only to `stockfeed query`.
    #[error(
        "not allowed: {0}; `stockfeed query` only reads the lake (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)"
    )]
    NotAllowed(String),
    /// The statement is valid SQL but cannot be planned (unknown column or function, type
    /// mismatch...).
    #[error("cannot plan the query: {0}")]
    Plan(String),
    /// Reading the files or computing the result failed.
    #[error("query failed: {0}")]
    Execution(String),
}

fn list(tables: &[String]) -> String {
    if tables.is_empty() {
        "no tables".to_owned()
    } else {
        tables.join(", ")
    }
}

/// DataFusion messages can span lines (and carry a backtrace hint); keep the first meaningful
/// text on one line.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl QueryError {
    /// Classifies an error from planning: SQL syntax, a forbidden statement, or anything else.
    pub(crate) fn from_planning(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::SQL(parser, _) => {
                QueryError::InvalidSql(one_line(&parser.to_string()))
            }
            DataFusionError::Plan(m) => QueryError::Plan(one_line(m)),
            DataFusionError::SchemaError(s, _) => QueryError::Plan(one_line(&s.to_string())),
            root => QueryError::Plan(one_line(&root.message())),
        }
    }

    /// An error while the plan runs.
    pub fn from_execution(e: DataFusionError) -> Self {
        // `message` leaves out DataFusion's category prefix ("Execution error: ..."): the
        // variant already says it.
        QueryError::Execution(one_line(&e.find_root().message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let e = QueryError::UnknownTable {
            name: "markets.nope".into(),
            available: vec!["markets.trades".into(), "markets.quotes".into()],
        };
        assert_eq!(
            e.to_string(),
            "table `markets.nope` does not exist; the lake has markets.trades, markets.quotes"
        );
        assert_eq!(one_line("a\n\n  b \nc"), "a b c");
    }
}
