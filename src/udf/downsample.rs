//! `downsample(source, bucket [, time_column | {time_column, origin}])`:
//! per time bucket (labelled by its start; aligned to the epoch or to
//! `origin`; fixed lengths or whole calendar months), `count` rows and, for every numeric
//! column `c`, `"c.min"`, `"c.avg"`, `"c.max"`, `"c.count"` and `"c.sum"`.
//! Over a glob the buckets are per capture values too.
//!
//! A source that is itself a downsample output (it has `count` and, for
//! some `c`, `c.min`, `c.max`, `c.count`, `c.sum`) is combined exactly: the
//! min of the mins, the max of the maxes, sums of sums and counts, and the
//! average as their quotient. That is how coarser levels are built from
//! finer ones; the finer output's text columns (its groups) stay groups.
//! Materialized views over `downsample()` refresh incrementally
//! (see `sql::refresh`), which is why the plan is built here from parts.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::datetime::date_bin;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    cast, ident, lit, BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator,
    TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;

use super::bucket::bucket_units;
pub(crate) use super::bucket::{bucket_interval, Bucket};
use super::glob::{GlobTable, VersionSelection, PATH_COLUMN};
use super::measures::{measure_aggregates, output_parts, Measure};
use super::path_argument;
use crate::catalog::lineage::{Lineage, Read};
use crate::catalog::provider_for;
use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::table::PondTable;
use crate::catalog::view::{physical_plan, same_columns, session_state};
use crate::storage::content::time_column;
use crate::storage::event_time::nanos_per;
use crate::storage::{GlobMatch, Kind, PathGlob, PondPath, Resolved};

/// The column that counts the rows of a bucket.
pub(crate) const COUNT_COLUMN: &str = "count";
const PARTS: [&str; 4] = ["min", "max", "count", "sum"];
/// The source's time column while it is being bucketed.
const SOURCE_TIME: &str = "__downsample_source_time";

#[derive(Debug)]
pub(crate) struct Downsample {
    pond: Arc<SessionPond>,
}

impl Downsample {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        Downsample { pond }
    }
}

impl TableFunctionImpl for Downsample {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let usage = || {
            plan_datafusion_err!(
                "usage: downsample('/path/or/glob', INTERVAL '1 hour' [, 'time_column' | {{time_column: 'ts', origin: TIMESTAMP '2024-01-01'}}])"
            )
        };
        let exprs = args.exprs();
        if !(2..=3).contains(&exprs.len()) {
            return Err(usage());
        }
        let source_text = path_argument(
            "downsample",
            &TableFunctionArgs::new(&exprs[..1], args.session()),
        )?;
        let interval = bucket_interval("downsample", &exprs[1])?;
        let (explicit_time, origin) = match exprs.get(2) {
            None => (None, None),
            Some(Expr::Literal(ScalarValue::Utf8(Some(name)), _)) => (Some(name.clone()), None),
            Some(Expr::Literal(ScalarValue::Struct(options), _)) => {
                let mut time = None;
                let mut origin = None;
                for (i, field) in options.fields().iter().enumerate() {
                    let value = ScalarValue::try_from_array(options.column(i), 0)?;
                    match (field.name().as_str(), value) {
                        ("time_column", ScalarValue::Utf8(Some(name))) => time = Some(name),
                        ("origin", value @ ScalarValue::TimestampNanosecond(..))
                        | ("origin", value @ ScalarValue::TimestampMicrosecond(..))
                        | ("origin", value @ ScalarValue::TimestampMillisecond(..))
                        | ("origin", value @ ScalarValue::TimestampSecond(..)) => {
                            origin = Some(value)
                        }
                        (name, value) => {
                            return plan_err!(
                                "downsample(): option {name}: {value} is not one it takes: time_column (text) and origin (a TIMESTAMP, where buckets start)"
                            )
                        }
                    }
                }
                (time, origin)
            }
            Some(_) => return Err(usage()),
        };
        let view = self.pond.view();
        let source = if source_text.contains(['*', '{']) {
            let glob =
                PathGlob::parse(&source_text).map_err(|e| DataFusionError::Plan(e.to_string()))?;
            let matches = glob.matches(&view);
            DownsampleSource::Glob(glob, matches)
        } else {
            let path = PondPath::parse(&source_text).map_err(|e| plan_datafusion_err!("{e}"))?;
            let node = view.require(&path).map_err(external)?;
            if node.kind() == crate::storage::Kind::Directory {
                return plan_err!(
                    "downsample('{path}'): {path} is a directory: give a table, or a glob such as '{}/*'",
                    path.as_str().trim_end_matches('/')
                );
            }
            DownsampleSource::Node(node)
        };
        Ok(Arc::new(DownsampleTable::new(
            self.pond.clone(),
            source_text,
            source,
            Bucket::new(interval, origin),
            explicit_time,
        )?))
    }
}

/// What `downsample()` reads.
#[derive(Clone, Debug)]
pub(crate) enum DownsampleSource {
    /// One table, materialized view or view.
    Node(Resolved),
    Glob(PathGlob, Vec<GlobMatch>),
}

#[derive(Clone, Debug)]
pub(crate) struct DownsampleTable {
    pond: Arc<SessionPond>,
    source: DownsampleSource,
    bucket: Bucket,
    time_column: String,
    time_type: DataType,
    /// The (longest) bucket's length in units of `time_type`.
    bucket_units: i64,
    /// Capture columns of a glob source.
    groups: Vec<String>,
    /// The bucket count: `count(*)` of raw rows, or the sum of finer counts.
    rollup_count: bool,
    measures: Vec<Measure>,
    /// Source columns that are not aggregated (not numeric, not the time,
    /// not a group), with their types: said at CREATE and in
    /// `pond.system.stored_queries`, so that leaving them out is never silent.
    not_aggregated: Vec<(String, DataType)>,
    schema: SchemaRef,
}

impl DownsampleTable {
    fn new(
        pond: Arc<SessionPond>,
        source_text: String,
        source: DownsampleSource,
        bucket: Bucket,
        explicit_time: Option<String>,
    ) -> Result<Self> {
        let (source_schema, stored_time, groups) = match &source {
            DownsampleSource::Node(node) => (
                node.latest.schema().cloned().ok_or_else(|| {
                    DataFusionError::Internal(format!("{} has no stored schema", node.path))
                })?,
                node.latest.attrs.time_column.clone(),
                Vec::new(),
            ),
            DownsampleSource::Glob(glob, matches) => {
                let table = GlobTable::new(pond.clone(), glob.clone(), matches.clone())?;
                let stored = matches
                    .iter()
                    .find_map(|m| m.table.latest.attrs.time_column.clone());
                (table.schema(), stored, glob.captures().to_vec())
            }
        };
        let time = explicit_time
            .or(stored_time)
            .or_else(|| time_column(&source_schema))
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "downsample('{source_text}'): the source has no timestamp column to bucket by{}",
                    if matches!(&source, DownsampleSource::Glob(_, m) if m.is_empty()) {
                        " (no table matches yet)"
                    } else {
                        ": name one as the third argument"
                    }
                )
            })?;
        let time_type = match source_schema.field_with_name(&time) {
            Ok(f) if matches!(f.data_type(), DataType::Timestamp(..)) => f.data_type().clone(),
            Ok(f) => {
                return plan_err!(
                    "downsample('{source_text}'): column '{time}' is {}, not a timestamp: name a TIMESTAMP column as the third argument",
                    f.data_type()
                )
            }
            Err(_) => {
                return plan_err!(
                    "downsample('{source_text}'): the source has no column '{time}'"
                )
            }
        };
        let bucket_units = bucket_units(&source_text, &bucket.interval, &time_type)?;
        let has = |name: &str| source_schema.field_with_name(name).ok();
        let rollup_count = has(COUNT_COLUMN).is_some_and(|f| f.data_type().is_integer());
        let mut groups = groups;
        if rollup_count {
            // A finer downsample's text columns are its groups (glob captures): keep them.
            for field in source_schema.fields() {
                if matches!(
                    field.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) && !groups.contains(field.name())
                    && field.name() != PATH_COLUMN
                {
                    groups.push(field.name().clone());
                }
            }
        }
        let is_rollup = |base: &str| {
            rollup_count
                && PARTS.iter().all(|p| {
                    has(&format!("{base}.{p}")).is_some_and(|f| f.data_type().is_numeric())
                })
        };
        let mut measures = Vec::new();
        let mut not_aggregated = Vec::new();
        let mut parts_of_rollups: Vec<String> = Vec::new();
        for field in source_schema.fields() {
            if let Some((base, "min")) = field.name().rsplit_once('.') {
                if is_rollup(base) {
                    measures.push(Measure::Rollup {
                        base: base.to_string(),
                        data_type: field.data_type().clone(),
                    });
                    parts_of_rollups
                        .extend(PARTS.iter().chain(&["avg"]).map(|p| format!("{base}.{p}")));
                }
            }
        }
        for field in source_schema.fields() {
            let name = field.name();
            let placed = *name == time
                || (rollup_count && name == COUNT_COLUMN)
                || parts_of_rollups.contains(name)
                || groups.contains(name)
                || name == PATH_COLUMN;
            if placed {
                continue;
            }
            if field.data_type().is_numeric() {
                measures.push(Measure::Raw {
                    column: name.clone(),
                    data_type: field.data_type().clone(),
                });
            } else {
                not_aggregated.push((name.clone(), field.data_type().clone()));
            }
        }
        // Keep the source's column order.
        let position = |m: &Measure| {
            let name = match m {
                Measure::Raw { column, .. } => column.clone(),
                Measure::Rollup { base, .. } => format!("{base}.min"),
            };
            source_schema.index_of(&name).unwrap_or(usize::MAX)
        };
        measures.sort_by_key(position);
        let mut fields: Vec<Field> = groups
            .iter()
            .map(|g| Field::new(g, DataType::Utf8, true))
            .collect();
        fields.push(Field::new(&time, time_type.clone(), true));
        fields.push(Field::new(COUNT_COLUMN, DataType::Int64, true));
        for measure in &measures {
            for (name, _, data_type) in output_parts(measure) {
                fields.push(Field::new(name, data_type, true));
            }
        }
        Ok(DownsampleTable {
            pond,
            source,
            bucket,
            time_column: time,
            time_type,
            bucket_units,
            groups,
            rollup_count,
            measures,
            not_aggregated,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The downsample table a query is, when it is exactly
    /// `SELECT * FROM downsample(…)` (the shape that refreshes incrementally
    /// and that `series()` takes as a level: its rows are downsample's rows,
    /// its columns downsample's, in order).
    pub(crate) fn of_plan(plan: &LogicalPlan) -> Option<DownsampleTable> {
        let mut plan = plan;
        loop {
            match plan {
                LogicalPlan::Projection(p)
                    if p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
                        && same_columns(p.schema.as_arrow(), p.input.schema().as_arrow()) =>
                {
                    plan = p.input.as_ref()
                }
                LogicalPlan::SubqueryAlias(a) => plan = a.input.as_ref(),
                LogicalPlan::TableScan(scan) if scan.filters.is_empty() && scan.fetch.is_none() => {
                    let provider = source_as_provider(&scan.source).ok()?;
                    return provider.downcast_ref::<DownsampleTable>().cloned();
                }
                _ => return None,
            }
        }
    }

    pub(crate) fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    pub(crate) fn source(&self) -> &DownsampleSource {
        &self.source
    }

    pub(crate) fn time_column(&self) -> &str {
        &self.time_column
    }

    pub(crate) fn time_type(&self) -> &DataType {
        &self.time_type
    }

    /// The (longest) bucket's length in units of the time column.
    pub(crate) fn bucket_units(&self) -> i64 {
        self.bucket_units
    }

    /// The columns that, with the time column, identify a bucket.
    /// Source columns left out because they are not numbers, with their types.
    pub(crate) fn not_aggregated(&self) -> &[(String, DataType)] {
        &self.not_aggregated
    }

    pub(crate) fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The pond nodes read, when they keep versions (tables, materialized views).
    pub(crate) fn versioned_sources(&self) -> Vec<&Resolved> {
        match &self.source {
            DownsampleSource::Node(node) if node.kind().holds_rows() => vec![node],
            DownsampleSource::Node(_) => Vec::new(),
            DownsampleSource::Glob(_, matches) => matches.iter().map(|m| &m.table).collect(),
        }
    }

    /// A scan of the source: its live versions, or only the selected ones.
    pub(crate) fn source_plan(&self, selection: Option<VersionSelection>) -> Result<LogicalPlan> {
        let provider: Arc<dyn TableProvider> = match (&self.source, selection) {
            (DownsampleSource::Node(node), Some(selection)) if node.kind().holds_rows() => {
                let schema = node
                    .latest
                    .schema()
                    .cloned()
                    .unwrap_or_else(|| self.schema.clone());
                let versions = selection.get(node.id()).cloned().unwrap_or_default();
                Arc::new(
                    PondTable::new(self.pond.clone(), node.path.clone(), schema, versions)
                        .of_node(node.id().clone()),
                )
            }
            (DownsampleSource::Node(node), _) => provider_for(&self.pond, node)?,
            (DownsampleSource::Glob(glob, matches), selection) => {
                let table = GlobTable::new(self.pond.clone(), glob.clone(), matches.clone())?;
                Arc::new(match selection {
                    Some(s) => table.with_selection(s),
                    None => table,
                })
            }
        };
        LogicalPlanBuilder::scan("source", provider_as_source(provider), None)?.build()
    }

    /// The bucket of a source row.
    fn bucket_expr(&self) -> Expr {
        let mut args = vec![lit(self.bucket.interval.clone()), ident(SOURCE_TIME)];
        if let Some(origin) = &self.bucket.origin {
            args.push(lit(origin.clone()));
        }
        // date_bin computes in nanoseconds whatever the input's unit: back
        // to the source's (exact: buckets are whole units, see bucket_units).
        cast(date_bin().call(args), self.time_type.clone()).alias(&self.time_column)
    }

    /// The source rows with a time, their time column renamed to
    /// [`SOURCE_TIME`] so that no source column shares the bucket's name.
    /// (DataFusion 55's join dynamic filters map columns through an
    /// aggregate by name and would bound the raw times by bucket starts,
    /// apache/datafusion#25244.)
    fn timed(&self, input: LogicalPlan) -> Result<LogicalPlanBuilder> {
        let mut columns: Vec<Expr> = self.groups.iter().map(ident).collect();
        if self.rollup_count {
            columns.push(ident(COUNT_COLUMN));
        }
        for measure in &self.measures {
            match measure {
                Measure::Raw { column, .. } => columns.push(ident(column)),
                Measure::Rollup { base, .. } => {
                    columns.extend(PARTS.iter().map(|p| ident(format!("{base}.{p}"))))
                }
            }
        }
        columns.push(ident(&self.time_column).alias(SOURCE_TIME));
        LogicalPlanBuilder::from(input)
            .filter(ident(&self.time_column).is_not_null())?
            .project(columns)
    }

    /// The distinct (groups, bucket) of the source rows in `input`.
    pub(crate) fn buckets(&self, input: LogicalPlan) -> Result<LogicalPlan> {
        let mut keys: Vec<Expr> = self.groups.iter().map(ident).collect();
        keys.push(self.bucket_expr());
        let mut columns = self.group_columns();
        columns.push(ident(&self.time_column));
        self.timed(input)?
            .aggregate(keys, Vec::<Expr>::new())?
            .project(columns)?
            .build()
    }

    /// The group columns as output: text.
    fn group_columns(&self) -> Vec<Expr> {
        self.groups
            .iter()
            .map(|g| cast(ident(g), DataType::Utf8).alias(g))
            .collect()
    }

    /// The downsample of the source rows in `input` (which has the source's columns).
    pub(crate) fn aggregate(&self, input: LogicalPlan) -> Result<LogicalPlan> {
        let mut keys: Vec<Expr> = self.groups.iter().map(ident).collect();
        keys.push(self.bucket_expr());
        let mut aggregates = vec![if self.rollup_count {
            sum(ident(COUNT_COLUMN)).alias(COUNT_COLUMN)
        } else {
            count(lit(1i64)).alias(COUNT_COLUMN)
        }];
        for measure in &self.measures {
            aggregates.extend(measure_aggregates(measure));
        }
        let mut columns: Vec<Expr> = self.group_columns();
        columns.push(ident(&self.time_column));
        columns.push(cast(ident(COUNT_COLUMN), DataType::Int64).alias(COUNT_COLUMN));
        for measure in &self.measures {
            for (name, expr, data_type) in output_parts(measure) {
                columns.push(cast(expr, data_type).alias(name));
            }
        }
        self.timed(input)?
            .aggregate(keys, aggregates)?
            .project(columns)?
            .build()
    }
}

#[async_trait]
impl TableProvider for DownsampleTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    /// Filters are applied on top of the buckets (group filters then reach
    /// the source through the aggregate); bounds on the bucket start also
    /// become bounds on the source's times (see [`Self::source_times`]), so
    /// a time window reads only the source versions it needs.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut source = LogicalPlanBuilder::from(self.source_plan(None)?);
        if let Some(times) = self.source_times(filters) {
            source = source.filter(times)?;
        }
        let plan = self.aggregate(source.build()?)?;
        physical_plan(session_state(state)?, plan, filters, projection, limit).await
    }
}

impl DownsampleTable {
    /// The source rows every bucket kept by `filters` is made of, as a
    /// filter on the source's time column; `None` when the filters do not
    /// bound the bucket start. Whole buckets only: a bucket's rows are at or
    /// after its start, so `start >= x` needs `time >= x`; `start < y` is
    /// `time <` the first bucket start at or after `y`.
    fn source_times(&self, filters: &[Expr]) -> Option<Expr> {
        let (mut from, mut to) = (None::<i64>, None::<i64>);
        for filter in filters {
            let Some((op, nanos)) = time_comparison(filter, &self.time_column) else {
                continue;
            };
            let mut lower = |n: i64| from = Some(from.map_or(n, |f| f.max(n)));
            match op {
                Operator::GtEq => lower(nanos),
                Operator::Gt => lower(nanos.saturating_add(1)),
                Operator::Eq => lower(nanos),
                _ => {}
            }
            let mut upper = |n: i64| to = Some(to.map_or(n, |t| t.min(n)));
            match op {
                Operator::Lt => upper(nanos),
                Operator::LtEq | Operator::Eq => upper(nanos.saturating_add(1)),
                _ => {}
            }
        }
        let time = || ident(&self.time_column);
        let from = from.and_then(|n| time_bound(n, &self.time_type).map(|b| time().gt_eq(b)));
        let to = to
            .and_then(|n| self.bucket.first_start_from(n))
            .and_then(|n| time_bound(n, &self.time_type).map(|b| time().lt(b)));
        conjunction(from.into_iter().chain(to))
    }
}

/// `column op literal` (either way round) on the named time column, with
/// the literal in nanoseconds since the epoch and `op` as if the column
/// were on the left.
fn time_comparison(filter: &Expr, column: &str) -> Option<(Operator, i64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
        return None;
    };
    let is_time = |e: &Expr| match e {
        Expr::Column(c) => c.name == column,
        Expr::Cast(c) => matches!(&*c.expr, Expr::Column(c) if c.name == column),
        _ => false,
    };
    let nanos = |e: &Expr| match e {
        Expr::Literal(v, _) if matches!(v.data_type(), DataType::Timestamp(..)) => {
            match v.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None)) {
                Ok(ScalarValue::TimestampNanosecond(Some(n), _)) => Some(n),
                _ => None,
            }
        }
        _ => None,
    };
    if is_time(left) {
        Some((*op, nanos(right)?))
    } else if is_time(right) {
        Some((op.swap()?, nanos(left)?))
    } else {
        None
    }
}

/// A time bound in the time column's type; a bound between two of its
/// units rounds up, which keeps `>=` and `<` exact. `None` for a column
/// that is not a timestamp.
pub(crate) fn time_bound(nanos: i64, time_type: &DataType) -> Option<Expr> {
    let DataType::Timestamp(unit, tz) = time_type else {
        return None;
    };
    let per = nanos_per(*unit);
    let units = nanos.div_euclid(per) + i64::from(nanos.rem_euclid(per) != 0);
    let tz = tz.clone();
    Some(lit(match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(units), tz),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(units), tz),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(units), tz),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(units), tz),
    }))
}

/// `downsample()` reads its source: the tables it keeps versions of, or a
/// view (its own version counts too: redefining it changes the rows) and
/// what the view's query reads.
impl Lineage for DownsampleTable {
    fn reads(&self) -> Vec<Read> {
        let node = |n: &Resolved| Read::Node(n.id().clone(), n.path.to_string());
        match self.source() {
            DownsampleSource::Node(n) if n.kind() == Kind::View => vec![
                node(n),
                Read::Query(n.latest.attrs.query.clone().unwrap_or_default()),
            ],
            _ => self.versioned_sources().into_iter().map(node).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::IntervalMonthDayNano;

    fn at(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_nanos_opt()
            .unwrap()
    }

    fn bucket(months: i32, nanos: i64, origin: Option<&str>) -> Bucket {
        Bucket {
            interval: ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                months, 0, nanos,
            ))),
            origin: origin.map(|o| ScalarValue::TimestampNanosecond(Some(at(o)), None)),
        }
    }

    #[test]
    fn bucket_starts_are_counted_in_half_open_windows() {
        let hour = bucket(0, 3_600_000_000_000, None);
        let count = |b: &Bucket, from: &str, to: &str| b.starts_in(at(from), at(to), 1_000);
        assert_eq!(count(&hour, "2024-01-01 00:00", "2024-01-02 00:00"), 24);
        assert_eq!(count(&hour, "2024-01-01 00:30", "2024-01-02 00:30"), 24);
        assert_eq!(count(&hour, "2024-01-01 00:30", "2024-01-01 00:59"), 0);
        assert_eq!(
            hour.starts_in(at("2024-01-01 00:00"), at("2024-02-01 00:00"), 10),
            10
        );
        let shifted = bucket(0, 3_600_000_000_000, Some("2020-01-01 00:30"));
        assert_eq!(count(&shifted, "2024-01-01 00:00", "2024-01-01 03:00"), 3);
        // Calendar months start on the 1st (or the origin's day).
        let month = bucket(1, 0, None);
        assert_eq!(count(&month, "2024-01-01 00:00", "2024-04-01 00:00"), 3);
        assert_eq!(count(&month, "2024-01-15 00:00", "2024-04-01 00:00"), 2);
        assert_eq!(count(&month, "1969-11-15 00:00", "1970-02-01 00:00"), 2);
        let quarter = bucket(3, 0, None);
        assert_eq!(count(&quarter, "2024-01-01 00:00", "2025-01-01 00:00"), 4);
    }

    #[test]
    fn first_bucket_start_at_or_after_a_time() {
        let first = |b: &Bucket, t: &str| b.first_start_from(at(t));
        let hour = bucket(0, 3_600_000_000_000, None);
        assert_eq!(
            first(&hour, "2024-01-01 05:00"),
            Some(at("2024-01-01 05:00"))
        );
        assert_eq!(
            hour.first_start_from(at("2024-01-01 05:00") + 1),
            Some(at("2024-01-01 06:00"))
        );
        let shifted = bucket(0, 3_600_000_000_000, Some("2020-01-01 00:30"));
        assert_eq!(
            first(&shifted, "2024-01-01 05:00"),
            Some(at("2024-01-01 05:30"))
        );
        assert_eq!(
            first(&hour, "1969-12-31 22:30"),
            Some(at("1969-12-31 23:00"))
        );
        let month = bucket(1, 0, None);
        assert_eq!(
            first(&month, "2024-01-01 00:00"),
            Some(at("2024-01-01 00:00"))
        );
        assert_eq!(
            first(&month, "2024-01-15 00:00"),
            Some(at("2024-02-01 00:00"))
        );
        assert_eq!(
            first(&month, "2024-12-31 23:59"),
            Some(at("2025-01-01 00:00"))
        );
        let quarter = bucket(3, 0, None);
        assert_eq!(
            first(&quarter, "2024-02-10 00:00"),
            Some(at("2024-04-01 00:00"))
        );
        assert_eq!(hour.first_start_from(i64::MAX), None);
    }
}
