//! Readings of one place from an API source, as one wide table: `timestamp`
//! (UTC, µs) then one nullable DOUBLE column per series, rows joined on the
//! exact timestamp and sorted by it.
//!
//! A source implements [`ReadingsSource`] (fetching, paging, naming its
//! series); everything else is shared: the `<source>_readings(place [,
//! since => …] [, until => …] [, max_points => …])` table function
//! ([`ReadingsFunction`]), the arguments ([`ReadingsCall`]), and the
//! collecting materialized view (`collect`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::common::{exec_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use crate::catalog::fetched::FetchedTable;
use crate::catalog::open_first::{Opening, OpensTable};
use crate::catalog::source_access::SourceAccess;
use crate::storage::event_time::{to_micros, UTC};

/// The time column of every readings table.
pub(crate) const TIME_COLUMN: &str = "timestamp";

/// Which readings to fetch: times in `from..=until` (µs, UTC), at most about
/// `max_points` values (a source stops paging there, see [`ReadingsSource::fetch`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) from: Option<i64>,
    pub(crate) until: Option<i64>,
    pub(crate) max_points: Option<usize>,
}

impl Window {
    pub(crate) fn contains(&self, micros: i64) -> bool {
        self.from.is_none_or(|f| micros >= f) && self.until.is_none_or(|u| micros <= u)
    }
}

/// An API source of readings (HydroVu; USGS Water Services would be another).
#[async_trait]
pub(crate) trait ReadingsSource: Debug + Send + Sync {
    /// The table function, e.g. `hydrovu_readings`.
    fn function(&self) -> &'static str;

    /// Every reading of `place` in `window`. With `max_points`, it may stop
    /// early, at a time of its choosing (about that many readings of each
    /// series), but what it returns must be every reading up to its newest
    /// time: the next fetch starts after that time.
    async fn fetch(&self, place: &str, window: &Window) -> Result<WideReadings>;
}

/// Readings gathered from pages: per column, the value at each time (µs).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct WideReadings {
    columns: BTreeMap<String, BTreeMap<i64, Option<f64>>>,
}

impl WideReadings {
    /// Adds one reading; the same reading twice is kept once, two different
    /// values for one column and time is an error (never a guess).
    pub(crate) fn add(&mut self, column: &str, at: i64, value: Option<f64>) -> Result<()> {
        let values = self.columns.entry(column.to_string()).or_default();
        match values.insert(at, value) {
            Some(old) if !same_value(old, value) => Err(exec_datafusion_err!(
                "two different values for {column} at {}: {} and {}",
                show_time(at),
                show_value(old),
                show_value(value)
            )),
            _ => Ok(()),
        }
    }

    /// Readings held (values and NULLs).
    pub(crate) fn points(&self) -> usize {
        self.columns.values().map(BTreeMap::len).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.points() == 0
    }

    /// The time of the `n`th oldest reading (1-based; counting every
    /// column's), or of the newest when there are fewer.
    pub(crate) fn time_of_nth(&self, n: usize) -> Option<i64> {
        let mut times: Vec<i64> = self
            .columns
            .values()
            .flat_map(|v| v.keys())
            .copied()
            .collect();
        if times.is_empty() {
            return None;
        }
        let at = n.clamp(1, times.len()) - 1;
        Some(*times.select_nth_unstable(at).1)
    }

    /// One row per distinct time, oldest first. The columns are those of
    /// `existing` (a view's, in its order; missing ones NULL) followed by
    /// new ones by name; with no `existing`, all by name.
    pub(crate) fn to_batch(&self, existing: Option<&Schema>) -> Result<RecordBatch> {
        let times: BTreeSet<i64> = self
            .columns
            .values()
            .flat_map(|v| v.keys())
            .copied()
            .collect();
        let mut names: Vec<String> = existing
            .map(|s| {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != TIME_COLUMN)
                    .collect()
            })
            .unwrap_or_default();
        for name in self.columns.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let mut fields = vec![Field::new(TIME_COLUMN, time_type(), false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(
            TimestampMicrosecondArray::from_iter_values(times.iter().copied()).with_timezone(UTC),
        )];
        for name in names {
            let values = self.columns.get(&name);
            let column: Float64Array = times
                .iter()
                .map(|t| values.and_then(|v| v.get(t).copied().flatten()))
                .collect();
            fields.push(Field::new(name, DataType::Float64, true));
            arrays.push(Arc::new(column));
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }
}

fn same_value(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.to_bits() == b.to_bits() || a == b,
        (None, None) => true,
        _ => false,
    }
}

fn show_value(v: Option<f64>) -> String {
    v.map_or("NULL".into(), |v| v.to_string())
}

/// A µs time as RFC 3339 (UTC), for messages.
pub(crate) fn show_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or(format!("{micros} µs"), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    })
}

/// `timestamp`'s type: the pond's event time (µs, UTC).
pub(crate) fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// The arguments of `<source>_readings(place [, since => ts] [, until => ts]
/// [, max_points => n])` (named arguments arrive as one options struct,
/// `{since: …}`, which may also be written so).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReadingsCall {
    pub(crate) place: String,
    pub(crate) window: Window,
}

impl ReadingsCall {
    pub(crate) fn parse(function: &str, exprs: &[Expr]) -> Result<Self> {
        let usage = || {
            datafusion::common::plan_datafusion_err!(
                "usage: {function}(place [, since => TIMESTAMP '2024-01-01 00:00:00Z'] [, until => TIMESTAMP …] [, max_points => 100000])"
            )
        };
        let literal = |e: &Expr| match e {
            Expr::Literal(value, _) => Some(value.clone()),
            _ => None,
        };
        let (place, options) = match exprs {
            [place] => (literal(place), None),
            [place, options] => (literal(place), Some(literal(options).ok_or_else(usage)?)),
            _ => return Err(usage()),
        };
        let place = match place {
            Some(ScalarValue::Int64(Some(n))) if n >= 0 => n.to_string(),
            Some(ScalarValue::Int32(Some(n))) if n >= 0 => n.to_string(),
            Some(
                ScalarValue::Utf8(Some(t))
                | ScalarValue::Utf8View(Some(t))
                | ScalarValue::LargeUtf8(Some(t)),
            ) if !t.trim().is_empty() => t.trim().to_string(),
            _ => return Err(usage()),
        };
        let mut window = Window::default();
        if let Some(options) = options {
            let ScalarValue::Struct(options) = options else {
                return Err(usage());
            };
            for (i, field) in options.fields().iter().enumerate() {
                let value = ScalarValue::try_from_array(options.column(i), 0)?;
                match field.name().as_str() {
                    "since" => window.from = Some(instant(function, "since", &value)?),
                    "until" => window.until = Some(instant(function, "until", &value)?),
                    "max_points" => window.max_points = Some(count(function, &value)?),
                    other => {
                        return plan_err!(
                            "{function}(): no argument {other}: it takes since, until (TIMESTAMPs) and max_points (a positive integer)"
                        )
                    }
                }
            }
        }
        if let (Some(from), Some(until)) = (window.from, window.until) {
            if from > until {
                return plan_err!(
                    "{function}(): since ({}) is after until ({})",
                    show_time(from),
                    show_time(until)
                );
            }
        }
        Ok(ReadingsCall { place, window })
    }
}

/// A TIMESTAMP argument as µs since the epoch (a naive timestamp is UTC).
fn instant(function: &str, name: &str, value: &ScalarValue) -> Result<i64> {
    let micros = match value {
        ScalarValue::TimestampSecond(Some(v), _) => to_micros(*v, TimeUnit::Second, false),
        ScalarValue::TimestampMillisecond(Some(v), _) => {
            to_micros(*v, TimeUnit::Millisecond, false)
        }
        ScalarValue::TimestampMicrosecond(Some(v), _) => *v,
        // Rounded up: the first µs not before the instant.
        ScalarValue::TimestampNanosecond(Some(v), _) => to_micros(*v, TimeUnit::Nanosecond, true),
        _ => {
            return plan_err!(
                "{function}(): {name} must be a TIMESTAMP, e.g. {name} => TIMESTAMP '2024-01-01 00:00:00Z' (got {value})"
            )
        }
    };
    Ok(micros)
}

fn count(function: &str, value: &ScalarValue) -> Result<usize> {
    let n = match value {
        ScalarValue::Int64(Some(n)) => *n,
        ScalarValue::Int32(Some(n)) => i64::from(*n),
        _ => -1,
    };
    match usize::try_from(n) {
        Ok(n) if n > 0 => Ok(n),
        _ => plan_err!("{function}(): max_points must be a positive integer (got {value})"),
    }
}

/// The `<source>_readings(…)` table function of one source. It fetches
/// before DataFusion plans (the columns depend on the series found).
#[derive(Debug)]
pub(crate) struct ReadingsFunction {
    source: Arc<dyn ReadingsSource>,
}

impl ReadingsFunction {
    pub(crate) fn new(source: Arc<dyn ReadingsSource>) -> Self {
        ReadingsFunction { source }
    }
}

impl OpensTable for ReadingsFunction {
    fn name(&self) -> &str {
        self.source.function()
    }

    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
        let function = self.source.function();
        SourceAccess::check(args.session().config(), function)?;
        let call = ReadingsCall::parse(function, args.exprs())?;
        let source = self.source.clone();
        Ok(Box::pin(async move {
            let readings = source.fetch(&call.place, &call.window).await?;
            let table: Arc<dyn TableProvider> =
                Arc::new(FetchedTable::new(function, readings.to_batch(None)?)?);
            Ok(table)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::logical_expr::lit;

    #[test]
    fn rows_join_on_exact_time_and_keep_a_view_s_column_order() {
        let mut r = WideReadings::default();
        r.add("b", 2, Some(2.0)).unwrap();
        r.add("a", 1, Some(1.0)).unwrap();
        r.add("a", 2, None).unwrap();
        r.add("a", 1, Some(1.0)).unwrap(); // the same reading twice: once
        assert_eq!(r.points(), 3);
        assert_eq!(r.time_of_nth(1), Some(1));
        assert_eq!(r.time_of_nth(2), Some(2), "times 1, 2, 2: the second is 2");
        assert_eq!(r.time_of_nth(9), Some(2));
        let existing = Schema::new(vec![
            Field::new(TIME_COLUMN, time_type(), false),
            Field::new("z", DataType::Float64, true),
            Field::new("b", DataType::Float64, true),
        ]);
        let batch = r.to_batch(Some(&existing)).unwrap();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["timestamp", "z", "b", "a"]);
        assert_eq!(batch.num_rows(), 2);
        let b = batch.column(2).as_primitive::<Float64Type>();
        assert!(b.is_null(0));
        assert_eq!(b.value(1), 2.0);
        assert_eq!(batch.column(1).null_count(), 2);
        let a = batch.column(3).as_primitive::<Float64Type>();
        assert_eq!((a.value(0), a.is_null(1)), (1.0, true));
    }

    #[test]
    fn two_values_for_one_time_are_an_error() {
        let mut r = WideReadings::default();
        r.add("a", 1_000_000, Some(1.0)).unwrap();
        let err = r.add("a", 1_000_000, Some(2.0)).unwrap_err().to_string();
        assert!(
            err.contains("two different values for a at 1970-01-01T00:00:01Z"),
            "{err}"
        );
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_named() {
        let options = |fields: Vec<(&str, ScalarValue)>| {
            let s = datafusion::common::scalar::ScalarStructBuilder::new();
            let s = fields.into_iter().fold(s, |s, (name, v)| {
                s.with_scalar(Field::new(name, v.data_type(), true), v)
            });
            lit(s.build().unwrap())
        };
        let call = ReadingsCall::parse(
            "f",
            &[
                lit(6582334i64),
                options(vec![
                    ("since", ScalarValue::TimestampNanosecond(Some(1_500), None)),
                    ("max_points", ScalarValue::Int64(Some(10))),
                ]),
            ],
        )
        .unwrap();
        assert_eq!(call.place, "6582334");
        assert_eq!(call.window.from, Some(2));
        assert_eq!(call.window.max_points, Some(10));
        let err = |exprs: &[Expr]| ReadingsCall::parse("f", exprs).unwrap_err().to_string();
        assert!(err(&[]).contains("usage: f(place"));
        assert!(err(&[
            lit(1i64),
            options(vec![("since", ScalarValue::Int64(Some(1)))])
        ])
        .contains("since must be a TIMESTAMP"));
        assert!(err(&[
            lit(1i64),
            options(vec![("limit", ScalarValue::Int64(Some(1)))])
        ])
        .contains("no argument limit"));
        assert!(err(&[
            lit(1i64),
            options(vec![("max_points", ScalarValue::Int64(Some(0)))])
        ])
        .contains("max_points must be a positive integer"));
    }
}
