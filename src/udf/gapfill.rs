//! `gapfill(source, bucket, from, to [, {fill, groups, time_column, origin}])`:
//! one row per bucket in `[from, to)` (per group), for charts and regular
//! series. A bucket without a source row is filled with NULLs (`fill:
//! 'null'`), the previous bucket's values (`'locf'`), or, for numeric
//! columns, linear interpolation in time between the buckets around it
//! (`'linear'`; NULL before the first and after the last value).
//!
//! The source holds at most one row per bucket (a `downsample()` output, or
//! readings on a regular clock); two rows in one bucket are an error, not a
//! guess. Buckets fall as `downsample()`'s do: fixed lengths or whole
//! months, from `origin` (default the epoch).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Months};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{exec_err, plan_datafusion_err, plan_err, Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{col, lit, Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::path_argument;
use crate::catalog::provider_for;
use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::view::session_state;
use crate::storage::content::time_column;
use crate::storage::event_time::nanos_per;
use crate::storage::PondPath;

/// Most rows one call may produce: a chart needs thousands, not billions.
const MAX_ROWS: usize = 10_000_000;

#[derive(Debug)]
pub(crate) struct Gapfill {
    pond: Arc<SessionPond>,
}

impl Gapfill {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        Gapfill { pond }
    }
}

/// How a missing bucket is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Null,
    Locf,
    Linear,
}

impl TableFunctionImpl for Gapfill {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let usage = || {
            plan_datafusion_err!(
                "usage: gapfill('/path', INTERVAL '1 hour', TIMESTAMP 'from', TIMESTAMP 'to' [, {{fill: 'null' | 'locf' | 'linear', groups: 'station', time_column: 'ts', origin: TIMESTAMP '…'}}])"
            )
        };
        let exprs = args.exprs();
        if !(4..=5).contains(&exprs.len()) {
            return Err(usage());
        }
        let path_text = path_argument(
            "gapfill",
            &TableFunctionArgs::new(&exprs[..1], args.session()),
        )?;
        // Checked as downsample() checks it: whole months, or a positive length.
        let ScalarValue::IntervalMonthDayNano(Some(step)) =
            super::downsample::bucket_interval("gapfill", &exprs[1])?
        else {
            return Err(usage());
        };
        let step = if step.months != 0 {
            Step::Months(step.months as u32)
        } else {
            Step::Nanos(i64::from(step.days) * 86_400_000_000_000 + step.nanoseconds)
        };
        let time_arg = |i: usize, what: &str| -> Result<i64> {
            match &exprs[i] {
                Expr::Literal(v, _) => {
                    match v.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None))? {
                        ScalarValue::TimestampNanosecond(Some(n), _) => Ok(n),
                        _ => plan_err!("gapfill(): {what} is NULL"),
                    }
                }
                _ => plan_err!("gapfill(): {what} must be a constant TIMESTAMP"),
            }
        };
        let (from, to) = (time_arg(2, "from")?, time_arg(3, "to")?);
        if from >= to {
            return plan_err!("gapfill(): from must be before to");
        }
        let (mut fill, mut groups, mut time, mut origin) = (Fill::Null, Vec::new(), None, 0i64);
        if let Some(options) = exprs.get(4) {
            let Expr::Literal(ScalarValue::Struct(options), _) = options else {
                return Err(usage());
            };
            for (i, field) in options.fields().iter().enumerate() {
                let value = ScalarValue::try_from_array(options.column(i), 0)?;
                let text = || match &value {
                    ScalarValue::Utf8(Some(s)) => Ok(s.clone()),
                    _ => plan_err!("gapfill(): option {} takes text", field.name()),
                };
                match field.name().as_str() {
                    "fill" => {
                        fill = match text()?.as_str() {
                            "null" => Fill::Null,
                            "locf" => Fill::Locf,
                            "linear" => Fill::Linear,
                            other => return plan_err!("gapfill(): fill '{other}' is not one of 'null', 'locf', 'linear'"),
                        }
                    }
                    "groups" => groups = text()?.split(',').map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect(),
                    "time_column" => time = Some(text()?),
                    "origin" => {
                        origin = match value.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None))? {
                            ScalarValue::TimestampNanosecond(Some(n), _) => n,
                            _ => return plan_err!("gapfill(): origin must be a TIMESTAMP"),
                        }
                    }
                    other => return plan_err!("gapfill(): unknown option '{other}': it takes fill, groups, time_column, origin"),
                }
            }
        }
        let view = self.pond.view();
        let path = PondPath::parse(&path_text).map_err(|e| plan_datafusion_err!("{e}"))?;
        let node = view.require(&path).map_err(external)?;
        let source = provider_for(&self.pond, &node)?;
        let source_schema = source.schema();
        let time = time
            .or_else(|| node.latest.attrs.time_column.clone())
            .or_else(|| time_column(&source_schema))
            .ok_or_else(|| plan_datafusion_err!("gapfill('{path}'): the source has no timestamp column: name one with {{time_column: '…'}}"))?;
        let DataType::Timestamp(unit, _) = source_schema
            .field_with_name(&time)
            .map_err(|_| {
                plan_datafusion_err!("gapfill('{path}'): the source has no column '{time}'")
            })?
            .data_type()
            .clone()
        else {
            return plan_err!("gapfill('{path}'): column '{time}' is not a timestamp");
        };
        for group in &groups {
            if source_schema.field_with_name(group).is_err() {
                return plan_err!(
                    "gapfill('{path}'): groups names '{group}', which the source does not have"
                );
            }
        }
        let fields: Vec<Field> = source_schema
            .fields()
            .iter()
            .map(|f| {
                let linear = fill == Fill::Linear
                    && f.data_type().is_numeric()
                    && !groups.contains(f.name());
                let data_type = if linear {
                    DataType::Float64
                } else {
                    f.data_type().clone()
                };
                Field::new(f.name(), data_type, true)
            })
            .collect();
        Ok(Arc::new(GapfillTable {
            source,
            path,
            schema: Arc::new(Schema::new(fields)),
            time,
            unit,
            step,
            from,
            to,
            origin,
            fill,
            groups,
        }))
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Nanos(i64),
    Months(u32),
}

#[derive(Debug)]
struct GapfillTable {
    source: Arc<dyn TableProvider>,
    path: PondPath,
    schema: SchemaRef,
    time: String,
    unit: TimeUnit,
    step: Step,
    /// `[from, to)` and the origin, in nanoseconds.
    from: i64,
    to: i64,
    origin: i64,
    fill: Fill,
    groups: Vec<String>,
}

impl GapfillTable {
    /// The start (ns) of the bucket holding `t` (ns).
    fn bucket_of(&self, t: i64) -> Result<i64> {
        match self.step {
            Step::Nanos(w) => {
                let k = (i128::from(t) - i128::from(self.origin)).div_euclid(i128::from(w));
                i64::try_from(i128::from(self.origin) + k * i128::from(w)).map_err(|_| {
                    plan_datafusion_err!(
                        "gapfill('{}'): a bucket falls outside what a timestamp holds",
                        self.path
                    )
                })
            }
            Step::Months(m) => {
                let origin = DateTime::from_timestamp_nanos(self.origin);
                let at = DateTime::from_timestamp_nanos(t);
                let months =
                    (at.year() - origin.year()) * 12 + at.month() as i32 - origin.month() as i32;
                let mut k = months.div_euclid(m as i32) * m as i32;
                loop {
                    let start = shift(origin, k)?;
                    if start <= at {
                        return start
                            .timestamp_nanos_opt()
                            .ok_or_else(|| plan_datafusion_err!("gapfill(): time out of range"));
                    }
                    k -= m as i32;
                }
            }
        }
    }

    /// The bucket starts (ns) in `[from, to)`.
    fn grid(&self) -> Result<Vec<i64>> {
        let mut starts = Vec::new();
        let mut start = self.bucket_of(self.from)?;
        while start < self.to {
            starts.push(start);
            if starts.len() > MAX_ROWS {
                return plan_err!("gapfill('{}'): more than {MAX_ROWS} buckets: narrow the range or widen the bucket", self.path);
            }
            start = match self.step {
                Step::Nanos(w) => start.checked_add(w),
                Step::Months(m) => {
                    shift(DateTime::from_timestamp_nanos(start), m as i32)?.timestamp_nanos_opt()
                }
            }
            .ok_or_else(|| plan_datafusion_err!("gapfill(): time out of range"))?;
        }
        Ok(starts)
    }

    fn fill_rows(&self, rows: &RecordBatch) -> Result<RecordBatch> {
        let per = nanos_per(self.unit);
        let times = cast(
            rows.column_by_name(&self.time)
                .expect("the time column, checked"),
            &DataType::Int64,
        )?;
        let times = times.as_primitive::<Int64Type>();
        let group_columns: Vec<&ArrayRef> = self
            .groups
            .iter()
            .map(|g| rows.column_by_name(g).expect("group columns, checked"))
            .collect();
        // group key → bucket start (ns) → source row
        let mut by_group: BTreeMap<Vec<String>, BTreeMap<i64, usize>> = BTreeMap::new();
        for row in 0..rows.num_rows() {
            if times.is_null(row) {
                continue;
            }
            let key = group_columns
                .iter()
                .map(|c| array_value_to_string(c, row))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let t = times
                .value(row)
                .checked_mul(per)
                .ok_or_else(|| plan_datafusion_err!("gapfill(): time out of range"))?;
            let bucket = self.bucket_of(t)?;
            if by_group
                .entry(key.clone())
                .or_default()
                .insert(bucket, row)
                .is_some()
            {
                let shown = DateTime::from_timestamp_nanos(bucket).naive_utc();
                let group = if key.is_empty() {
                    String::new()
                } else {
                    format!(" for ({})", key.join(", "))
                };
                return exec_err!(
                    "gapfill('{}'): two rows fall in the bucket starting {shown}{group}: gap-fill one row per bucket (a downsample of the source), or name the columns that tell rows apart with {{groups: '…'}}",
                    self.path
                );
            }
        }
        let grid = self.grid()?;
        if by_group.is_empty() {
            by_group.insert(Vec::new(), BTreeMap::new());
        }
        if grid.len().saturating_mul(by_group.len()) > MAX_ROWS {
            return exec_err!(
                "gapfill('{}'): more than {MAX_ROWS} rows: narrow the range or widen the bucket",
                self.path
            );
        }
        let (mut found, mut carried, mut group_row, mut bucket_times) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut spans = Vec::new(); // per group: (first output row, rows)
        for buckets in by_group.values() {
            let any_row = buckets.values().next().copied();
            spans.push((found.len(), grid.len()));
            let mut last = None;
            for start in &grid {
                let row = buckets.get(start).copied();
                last = row.or(last);
                found.push(row.map(|r| r as u64));
                carried.push(last.map(|r| r as u64));
                group_row.push(any_row.map(|r| r as u64));
                bucket_times.push(start / per);
            }
        }
        let found = UInt64Array::from(found);
        let carried = UInt64Array::from(carried);
        let group_row = UInt64Array::from(group_row);
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                let name = field.name();
                let source = rows.column_by_name(name).expect("same columns");
                if name == &self.time {
                    let values: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(
                        bucket_times.clone(),
                    ));
                    return Ok(cast(&values, source.data_type())?);
                }
                if self.groups.contains(name) {
                    return Ok(take(source, &group_row, None)?);
                }
                match self.fill {
                    Fill::Null => Ok(take(source, &found, None)?),
                    Fill::Locf => Ok(take(source, &carried, None)?),
                    Fill::Linear if field.data_type() == &DataType::Float64 => {
                        let values = cast(&take(source, &found, None)?, &DataType::Float64)?;
                        Ok(
                            Arc::new(interpolate(values.as_primitive(), &bucket_times, &spans))
                                as ArrayRef,
                        )
                    }
                    Fill::Linear => Ok(take(source, &found, None)?),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Linear interpolation in time over the NULLs between two values, per group span.
fn interpolate(
    values: &datafusion::arrow::array::PrimitiveArray<datafusion::arrow::datatypes::Float64Type>,
    times: &[i64],
    spans: &[(usize, usize)],
) -> Float64Array {
    let mut out: Vec<Option<f64>> = values.iter().collect();
    for &(start, len) in spans {
        let known: Vec<usize> = (start..start + len)
            .filter(|&i| values.is_valid(i))
            .collect();
        for pair in known.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (ta, tb) = (times[a] as f64, times[b] as f64);
            let (va, vb) = (values.value(a), values.value(b));
            for (i, slot) in out.iter_mut().enumerate().take(b).skip(a + 1) {
                *slot = Some(va + (vb - va) * (times[i] as f64 - ta) / (tb - ta));
            }
        }
    }
    Float64Array::from(out)
}

fn shift(origin: DateTime<chrono::Utc>, months: i32) -> Result<DateTime<chrono::Utc>> {
    let shifted = if months >= 0 {
        origin.checked_add_months(Months::new(months as u32))
    } else {
        origin.checked_sub_months(Months::new(months.unsigned_abs()))
    };
    shifted.ok_or_else(|| {
        plan_datafusion_err!("gapfill(): a month bucket falls outside what a timestamp holds")
    })
}

#[async_trait]
impl TableProvider for GapfillTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ctx = SessionContext::new_with_state(session_state(state)?.clone());
        let time_type = self
            .source
            .schema()
            .field_with_name(&self.time)?
            .data_type()
            .clone();
        let per = nanos_per(self.unit);
        let bound = |nanos: i64| -> Result<Expr> {
            Ok(lit(
                ScalarValue::Int64(Some(nanos.div_euclid(per))).cast_to(&time_type)?
            ))
        };
        let time = col(Column::new_unqualified(&self.time));
        let frame = ctx.read_table(self.source.clone())?.filter(
            time.clone()
                .gt_eq(bound(self.bucket_of(self.from)?)?)
                .and(time.lt(bound(self.to)?)),
        )?;
        let source_schema = self.source.schema();
        let batches = frame.collect().await?;
        let rows = if batches.is_empty() {
            RecordBatch::new_empty(source_schema.clone())
        } else {
            concat_batches(&batches[0].schema(), &batches)?
        };
        let rows = RecordBatch::try_new(
            Arc::new(Schema::new(
                source_schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            )),
            rows.columns().to_vec(),
        )?;
        let filled = self.fill_rows(&rows)?;
        MemTable::try_new(self.schema.clone(), vec![vec![filled]])?
            .scan(state, projection, &[], limit)
            .await
    }
}
