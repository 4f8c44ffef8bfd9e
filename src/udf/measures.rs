//! The columns a downsample aggregates (measures) and what each becomes:
//! `min`, `max`, `count`, `sum` (and `avg` of raw columns), from raw
//! columns or from a coarser rollup's parts.

use datafusion::arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn::{avg, count, sum};
use datafusion::logical_expr::{cast, ident, Expr};

use super::float_min_max::{max, min};

/// One aggregated quantity: a raw numeric column, or the parts of a finer
/// downsample output.
#[derive(Clone, Debug)]
pub(super) enum Measure {
    Raw { column: String, data_type: DataType },
    Rollup { base: String, data_type: DataType },
}

/// The aggregates a measure needs, named `<name>.<part>` (and `.avg` for raw columns).
pub(super) fn measure_aggregates(measure: &Measure) -> Vec<Expr> {
    match measure {
        Measure::Raw { column, data_type } => {
            let c = || ident(column);
            vec![
                min(c()).alias(format!("{column}.min")),
                avg(cast(c(), DataType::Float64)).alias(format!("{column}.avg")),
                max(c()).alias(format!("{column}.max")),
                count(c()).alias(format!("{column}.count")),
                sum(cast(c(), sum_type(data_type))).alias(format!("{column}.sum")),
            ]
        }
        Measure::Rollup { base, .. } => {
            let part = |p: &str| ident(format!("{base}.{p}"));
            vec![
                min(part("min")).alias(format!("{base}.min")),
                max(part("max")).alias(format!("{base}.max")),
                sum(part("count")).alias(format!("{base}.count")),
                sum(part("sum")).alias(format!("{base}.sum")),
            ]
        }
    }
}

/// The output columns of a measure: name, expression over the aggregates, type.
pub(super) fn output_parts(measure: &Measure) -> Vec<(String, Expr, DataType)> {
    let (base, data_type, avg) = match measure {
        Measure::Raw { column, data_type } => (column, data_type, ident(format!("{column}.avg"))),
        Measure::Rollup { base, data_type } => (
            base,
            data_type,
            cast(ident(format!("{base}.sum")), DataType::Float64)
                / cast(ident(format!("{base}.count")), DataType::Float64),
        ),
    };
    let name = |p: &str| format!("{base}.{p}");
    vec![
        (name("min"), ident(name("min")), data_type.clone()),
        (name("avg"), avg, DataType::Float64),
        (name("max"), ident(name("max")), data_type.clone()),
        (name("count"), ident(name("count")), DataType::Int64),
        (name("sum"), ident(name("sum")), sum_type(data_type)),
    ]
}

/// Sums of integers stay exact integers; anything else sums as a double.
fn sum_type(data_type: &DataType) -> DataType {
    if data_type.is_integer() {
        DataType::Int64
    } else {
        DataType::Float64
    }
}
