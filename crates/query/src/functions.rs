//! Trino's `min_by(x, y)` and `max_by(x, y)` for DataFusion, which has no such aggregates (it
//! spells them `first_value(x ORDER BY y)` / `last_value(x ORDER BY y)`, which Trino lacks).
//!
//! With these registered, OHLC bars keep one SQL text for Athena and `stockfeed query`:
//! `min_by(price, event_ts) AS open, max_by(price, event_ts) AS close`.
//!
//! Semantics as in Trino: the value of `x` on the row where `y` is smallest (largest); rows
//! whose `y` is null are skipped; `x` may itself be null; no rows give null. Among rows with
//! equal `y` the first one met wins, which like Trino's choice is not defined across
//! partitions: order by a unique key (or add a tie-breaker) where ties matter.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, make_comparator};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// `min_by` and `max_by`, ready to register.
pub fn by_aggregates() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(ExtremeBy::new(Extreme::Min)),
        AggregateUDF::from(ExtremeBy::new(Extreme::Max)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Extreme {
    Min,
    Max,
}

impl Extreme {
    /// Whether a key ordered `ordering` against the current best replaces it.
    fn replaces(self, ordering: Ordering) -> bool {
        match self {
            Extreme::Min => ordering == Ordering::Less,
            Extreme::Max => ordering == Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ExtremeBy {
    extreme: Extreme,
    signature: Signature,
}

impl ExtremeBy {
    fn new(extreme: Extreme) -> Self {
        ExtremeBy {
            extreme,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ExtremeBy {
    fn name(&self) -> &str {
        match self.extreme {
            Extreme::Min => "min_by",
            Extreme::Max => "max_by",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [value, _] => Ok(value.clone()),
            _ => exec_err!("{}(x, y) takes two arguments", self.name()),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let [value, key] = args.expr_fields else {
            return exec_err!("{}(x, y) takes two arguments", self.name());
        };
        Ok(Box::new(ExtremeByAccumulator {
            extreme: self.extreme,
            value: ScalarValue::try_new_null(value.data_type())?,
            key: ScalarValue::try_new_null(key.data_type())?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [value, key] = args.input_fields else {
            return exec_err!("{}(x, y) takes two arguments", self.name());
        };
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "value"),
                value.data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "key"),
                key.data_type().clone(),
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct ExtremeByAccumulator {
    extreme: Extreme,
    /// The best row's `x`.
    value: ScalarValue,
    /// The best row's `y`; null while no row has been seen.
    key: ScalarValue,
}

impl ExtremeByAccumulator {
    /// Folds in the rows of `values` (x) and `keys` (y): rows, or partial states, alike.
    fn fold(&mut self, values: &ArrayRef, keys: &ArrayRef) -> Result<()> {
        let compare = make_comparator(keys.as_ref(), keys.as_ref(), SortOptions::default())?;
        let mut best: Option<usize> = None;
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            match best {
                Some(b) if !self.extreme.replaces(compare(row, b)) => {}
                _ => best = Some(row),
            }
        }
        let Some(row) = best else {
            return Ok(());
        };
        let key = ScalarValue::try_from_array(keys, row)?;
        let better = self.key.is_null()
            || key
                .partial_cmp(&self.key)
                .is_some_and(|o| self.extreme.replaces(o));
        if better {
            self.value = ScalarValue::try_from_array(values, row)?;
            self.key = key;
        }
        Ok(())
    }
}

impl Accumulator for ExtremeByAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [x, y] => self.fold(x, y),
            _ => exec_err!("min_by/max_by expect two arguments"),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), self.key.clone()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.value.size() + self.key.size()
            - size_of_val(&self.value)
            - size_of_val(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn pick_the_value_at_the_extreme_key_skipping_null_keys() {
        let ctx = SessionContext::new();
        for f in by_aggregates() {
            ctx.register_udaf(f);
        }
        let batches = ctx
            .sql(
                "SELECT g, min_by(v, k) AS lo, max_by(v, k) AS hi FROM (VALUES \
                 ('a', 'first', 2), ('a', 'early', 1), ('a', 'late', 9), ('a', 'nokey', NULL), \
                 ('b', NULL, 5), ('b', 'only', 7), ('c', 'x', NULL)) AS t(g, v, k) \
                 GROUP BY g ORDER BY g",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = &batches[0];
        let col = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| {
                    (0..a.len())
                        .map(|r| (!a.is_null(r)).then(|| a.value(r).to_owned()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let s = |t: &str| Some(t.to_owned());
        assert_eq!(col(1), vec![s("early"), None, None]);
        assert_eq!(col(2), vec![s("late"), s("only"), None]);
    }

    #[tokio::test]
    async fn works_across_partial_aggregates() {
        let ctx = SessionContext::new();
        for f in by_aggregates() {
            ctx.register_udaf(f);
        }
        // Many rows in several partitions force a partial + final aggregation.
        let batches = ctx
            .sql(
                "SELECT min_by(value * 10, 1000 - value), max_by(value, value % 997) \
                 FROM generate_series(1, 100000) AS t(value)",
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let int = |i: usize| {
            batches[0]
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.value(0))
        };
        assert_eq!(int(0), Some(1_000_000));
        // value % 997 peaks at 996, first met at 996; any value ≡ 996 (mod 997) qualifies.
        assert_eq!(int(1).map(|v| v % 997), Some(996));
    }
}
