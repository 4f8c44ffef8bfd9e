//! Time literals in the layouts sensors write: `CAST('2022-01-31 12:00' AS
//! TIMESTAMP)`, `TIMESTAMP '2022-01-31 12:00'` and `ts > '2022-01-31 12:00'`.
//!
//! DataFusion's cast (Arrow's parser) requires seconds; DuckDB does not.
//! This analyzer rule runs after type coercion and turns a cast of a text
//! literal into a timestamp literal when [`time_text`] reads it and Arrow
//! would not; everything Arrow reads keeps Arrow's meaning.

use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use crate::storage::event_time::UTC;
use crate::values::time_text;

#[derive(Debug, Default)]
pub(crate) struct TimeLiterals;

impl AnalyzerRule for TimeLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Output columns keep the names the query gave them.
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                Ok(expr
                    .transform_up(|e| Ok(rewrite(e)))?
                    .update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "pond_time_literals"
    }
}

fn rewrite(expr: Expr) -> Transformed<Expr> {
    let (inner, target) = match &expr {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            (expr.as_ref(), field.data_type())
        }
        _ => return Transformed::no(expr),
    };
    let Expr::Literal(
        ScalarValue::Utf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
        | ScalarValue::LargeUtf8(Some(text)),
        _,
    ) = inner
    else {
        return Transformed::no(expr);
    };
    let DataType::Timestamp(unit, zone) = target else {
        return Transformed::no(expr);
    };
    match literal(text, *unit, zone.as_deref()) {
        Some(value) => Transformed::yes(Expr::Literal(value, None)),
        None => Transformed::no(expr),
    }
}

/// The timestamp `text` means, when Arrow cannot read it and pondsql can.
fn literal(text: &str, unit: TimeUnit, zone: Option<&str>) -> Option<ScalarValue> {
    if string_to_timestamp_nanos(text).is_ok() {
        return None; // Arrow reads it: keep its meaning
    }
    let time = time_text::parse(text, None).ok()?;
    // Without an offset, text in a zone-aware column is in that zone;
    // only UTC is known here without a zone database.
    let zone_is_utc = matches!(zone, None | Some(UTC) | Some("+00:00") | Some("Z"));
    if !time.had_offset && !zone_is_utc {
        return None;
    }
    let per_micro = match unit {
        TimeUnit::Nanosecond => return time.micros.checked_mul(1_000).map(|v| ts(unit, v, zone)),
        TimeUnit::Microsecond => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Second => 1_000_000,
    };
    // A value the unit cannot hold exactly is left to DataFusion's cast.
    (time.micros % per_micro == 0).then(|| ts(unit, time.micros / per_micro, zone))
}

fn ts(unit: TimeUnit, value: i64, zone: Option<&str>) -> ScalarValue {
    let zone = zone.map(Into::into);
    match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(value), zone),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(value), zone),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(value), zone),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(value), zone),
    }
}
