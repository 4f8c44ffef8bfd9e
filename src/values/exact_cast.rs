//! Casts into a stored column that would drop a fraction or overflow fail.
//!
//! DataFusion casts a value into a coarser timestamp unit by truncating:
//! `00:00:00.250` inserted into a column of whole seconds is stored as
//! `00:00:00`. The casts an INSERT (or an ingestion view) adds to fit its
//! table are [`ExactCast`] instead, which casts the same way but
//! fails, naming the table, column and value, when something would be cut.

use crate::storage::event_time::{nanos_per, unit_name};
use crate::values::time_text;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondBuilder};
use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{exec_datafusion_err, exec_err, plan_err, Column, DFSchema, ExprSchema};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `CAST(expr AS target)`, checked when it could drop a fraction, and
/// when `not_null` that no value is NULL.
pub(crate) fn exact_cast(
    expr: Expr,
    target: &DataType,
    not_null: bool,
    context: &str,
    column: &str,
    schema: &DFSchema,
) -> Result<Expr> {
    let source = expr.get_type(schema as &dyn ExprSchema)?;
    let may_cut = match target {
        DataType::Timestamp(unit, _) if *unit != TimeUnit::Nanosecond => match &source {
            DataType::Timestamp(from, _) => nanos_per(*from) < nanos_per(*unit),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
            _ => false,
        },
        _ => false,
    };
    // Widening a timestamp can overflow: that error names the column too.
    let may_overflow = target.is_temporal() && source != *target;
    if !may_cut && !not_null && !may_overflow {
        return expr.cast_to(target, schema);
    }
    let udf = ExactCast {
        target: target.clone(),
        may_cut,
        not_null,
        context: context.to_string(),
        column: column.to_string(),
        signature: Signature::any(1, Volatility::Immutable),
    };
    Ok(ScalarUDF::new_from_impl(udf).call(vec![expr]))
}

/// `plan` with its columns cast exactly to the types of `columns` (a
/// table's stored columns, same names in the same order): a finer part than
/// the column holds is an error naming `context` and the column, never cut.
pub(crate) fn fit_to(plan: LogicalPlan, columns: &Schema, context: &str) -> Result<LogicalPlan> {
    let schema = plan.schema().clone();
    let types = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>()
    };
    if types(schema.as_arrow()) == types(columns) {
        return Ok(plan);
    }
    if schema.fields().len() != columns.fields().len() {
        return plan_err!(
            "{context}: the query gives {} columns, the table has {}",
            schema.fields().len(),
            columns.fields().len()
        );
    }
    let exprs = columns
        .fields()
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let (qualifier, field) = schema.qualified_field(i);
            let column = Expr::Column(Column::from((qualifier, field)));
            if target.data_type() == field.data_type() {
                return Ok(column);
            }
            Ok(exact_cast(
                column,
                target.data_type(),
                false,
                context,
                field.name(),
                &schema,
            )?
            .alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// A cast into `target` that refuses to truncate a timestamp (`may_cut`)
/// or to pass a NULL (`not_null`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactCast {
    target: DataType,
    may_cut: bool,
    not_null: bool,
    /// What is being written, for messages: `INSERT INTO /t`, `reading f.csv`.
    context: String,
    column: String,
    signature: Signature,
}

impl ExactCast {
    /// Arrow's cast, failing where the default turns a value it cannot
    /// hold (an overflow, text that is no time) into NULL.
    fn cast(&self, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        cast_with_options(array, to, &options).map_err(|e| {
            exec_datafusion_err!(
                "{}: column '{}' cannot hold a value as {}: {e}",
                self.context,
                self.column,
                self.target
            )
        })
    }
}

impl ExactCast {
    /// Text as nanoseconds: Arrow's reading, else the sensor layouts
    /// [`time_text`] reads (`2022-01-31 12:00`, without seconds).
    fn text_to_nanos(&self, array: &ArrayRef, zone: Option<Arc<str>>) -> Result<ArrayRef> {
        let target = DataType::Timestamp(TimeUnit::Nanosecond, zone.clone());
        if let Ok(nanos) = self.cast(array, &target) {
            return Ok(nanos);
        }
        let text = self.cast(array, &DataType::Utf8)?;
        let mut out = TimestampNanosecondBuilder::with_capacity(text.len());
        for value in text.as_string::<i32>().iter() {
            let Some(value) = value else {
                out.append_null();
                continue;
            };
            let nanos = match string_to_timestamp_nanos(value) {
                Ok(nanos) => Some(nanos),
                Err(_) => time_text::parse(value, None)
                    .ok()
                    .and_then(|t| t.micros.checked_mul(1_000)),
            };
            let Some(nanos) = nanos else {
                return exec_err!(
                    "{}: column '{}': '{value}' is not a time (write it as YYYY-MM-DD HH:MM[:SS[.fraction]][offset])",
                    self.context,
                    self.column
                );
            };
            out.append_value(nanos);
        }
        Ok(Arc::new(out.finish().with_timezone_opt(zone)))
    }
}

impl ScalarUDFImpl for ExactCast {
    fn name(&self) -> &str {
        "exact_cast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("exact_cast takes one argument");
        };
        let array = value.to_array(args.number_rows)?;
        if self.not_null && array.null_count() > 0 {
            return exec_err!(
                "{}: column '{}' is NOT NULL, but the rows give it NULL: leave those rows out or give them a value, e.g. COALESCE(…, 0)",
                self.context,
                self.column
            );
        }
        let DataType::Timestamp(to, zone) = &self.target else {
            return Ok(ColumnarValue::Array(self.cast(&array, &self.target)?));
        };
        if !self.may_cut {
            return Ok(ColumnarValue::Array(self.cast(&array, &self.target)?));
        }
        // Strings parse to nanoseconds; timestamps keep their own unit.
        let (exact, from): (ArrayRef, TimeUnit) = match array.data_type() {
            DataType::Timestamp(from, _) => (array.clone(), *from),
            _ => (
                self.text_to_nanos(&array, zone.clone())?,
                TimeUnit::Nanosecond,
            ),
        };
        let per = nanos_per(*to) / nanos_per(from);
        let values = self.cast(&exact, &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        if let Some(row) =
            (0..values.len()).find(|&i| values.is_valid(i) && values.value(i) % per != 0)
        {
            let shown = array_value_to_string(&exact, row)?;
            return exec_err!(
                "{}: column '{}' holds whole {}s ({}), but the value {shown} has a finer part that would be cut off: truncate it on purpose, e.g. date_trunc('{}', …), or keep it in a column of finer unit",
                self.context,
                self.column,
                unit_name(*to),
                self.target,
                unit_name(*to)
            );
        }
        Ok(ColumnarValue::Array(self.cast(&exact, &self.target)?))
    }
}
