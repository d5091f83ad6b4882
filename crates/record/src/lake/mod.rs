//! The lake's side of the record model: the table schema of each record kind ([`columns`]), the
//! object layout and partition paths ([`layout`]), and the names tables go by. The sink writes
//! files by it, the catalog declares tables by it and the query engine reads by it, so none of
//! them can disagree with another about a column or a path.

pub mod columns;
pub mod layout;

pub use columns::{Column, ColumnType, columns};
pub use layout::{Dataset, PartitionBy, PartitionKey};

/// The partition key of the `symbol=` folders: not `symbol`, which is a data column.
pub const SYMBOL_PARTITION_KEY: &str = "symbol_partition";

/// `{tablePrefix}trades`, `{tablePrefix}quotes`, `{tablePrefix}bars`, `{tablePrefix}bars_1m`.
pub fn table_name(table_prefix: &str, dataset: Dataset) -> String {
    format!("{table_prefix}{}", dataset.table_suffix())
}
