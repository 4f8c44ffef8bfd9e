//! `series(levels, from, to [, max_points => N])`: the rows of one source at
//! the resolution a chart of `[from, to)` needs.
//!
//! The levels are the same readings at several resolutions: materialized
//! views (or views) that are exactly `SELECT * FROM downsample(…)`, and at
//! most one raw table. They are named by a pattern whose `{level}` capture
//! varies (`'/rollups/{level}/lake'`) or by a list of paths. The rule, which
//! the static site's charts follow too: the finest level whose points in
//! the window number at most N, where a rollup's points are the buckets that
//! start in the window (known from its bucket width, no IO) and raw data's
//! are its rows there (counted, reading at most N + 1). When none fits, the
//! coarsest. The level is chosen before planning, so the output has that
//! level's columns, plus `level` (its name) and `bucket` (its width; NULL
//! for raw data). Reads are filtered on the level's time column, so only
//! that level's versions overlapping the window are opened.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, Column, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{col, lit, Expr, LogicalPlan, LogicalPlanBuilder};

use super::downsample::{time_bound, DownsampleTable};
use crate::catalog::open_first::{plan_sql, Opening, OpensTable};
use crate::catalog::provider_for;
use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::view::session_state;
use crate::storage::content::time_column;
use crate::storage::node::RefreshMode;
use crate::storage::{Kind, PathGlob, PondPath, Resolved};

/// The points a chart gets when the call does not say.
const DEFAULT_MAX_POINTS: u64 = 1000;
/// The columns `series()` adds.
pub(crate) const LEVEL_COLUMN: &str = "level";
pub(crate) const BUCKET_COLUMN: &str = "bucket";

const USAGE: &str = "usage: series('/rollups/{level}/station' | ['/raw/station', '/rollups/1h/station', …], TIMESTAMP 'from', TIMESTAMP 'to' [, max_points => 1000])";

#[derive(Debug)]
pub(crate) struct Series {
    pond: Arc<SessionPond>,
}

impl Series {
    pub(crate) fn new(pond: Arc<SessionPond>) -> Self {
        Series { pond }
    }
}

/// One resolution of the readings.
struct Level {
    name: String,
    node: Resolved,
    time_column: String,
    time_type: DataType,
    /// `None` for raw data.
    rollup: Option<DownsampleTable>,
}

impl OpensTable for Series {
    fn name(&self) -> &str {
        "series"
    }

    /// The level is chosen before planning: it may count raw rows.
    fn prepare(&self, args: &TableFunctionArgs) -> Result<Opening> {
        let exprs = args.exprs();
        if !(3..=4).contains(&exprs.len()) {
            return plan_err!("series(): {USAGE}");
        }
        let from = timestamp_nanos("from", &exprs[1])?;
        let to = timestamp_nanos("to", &exprs[2])?;
        if to <= from {
            return plan_err!(
                "series(): the window is empty (to is not after from): give from < to"
            );
        }
        let max_points = match exprs.get(3) {
            None => DEFAULT_MAX_POINTS,
            Some(expr) => max_points(expr)?,
        };
        let state = session_state(args.session())?.clone();
        let named = self.named_levels(&exprs[0])?;
        let pond = self.pond.clone();
        Ok(Box::pin(async move {
            let levels = levels(named, &state).await?;
            let chosen = choose(&levels, from, to, max_points, &state, &pond).await?;
            let plan = level_plan(&pond, chosen, from, to)?;
            let table: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, None));
            Ok(table)
        }))
    }
}

impl Series {
    /// The levels the first argument names, with their names.
    fn named_levels(&self, spec: &Expr) -> Result<Vec<(String, Resolved)>> {
        let view = self.pond.view();
        let named: Vec<(String, Resolved)> = match spec {
            Expr::Literal(ScalarValue::Utf8(Some(pattern)), _) => {
                let glob =
                    PathGlob::parse(pattern).map_err(|e| DataFusionError::Plan(e.to_string()))?;
                if glob.captures() != [LEVEL_COLUMN.to_string()] {
                    return plan_err!(
                        "series('{pattern}'): the pattern must have one wildcard, {{level}}, naming the levels (e.g. '/rollups/{{level}}/lake'); or give a list of paths"
                    );
                }
                let matches = glob.matches(&view);
                if matches.is_empty() {
                    return plan_err!("series('{pattern}'): no table matches the pattern");
                }
                matches
                    .into_iter()
                    .map(|m| (m.captures[0].clone(), m.table))
                    .collect()
            }
            Expr::Literal(ScalarValue::List(list), _) if list.len() == 1 => {
                let values = list.value(0);
                let mut named = Vec::new();
                for i in 0..values.len() {
                    match ScalarValue::try_from_array(&values, i)? {
                        ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)) => {
                            let path = PondPath::parse(&text)
                                .map_err(|e| plan_datafusion_err!("series(): {e}"))?;
                            let node = view.require(&path).map_err(external)?;
                            named.push((text, node));
                        }
                        other => return plan_err!("series(): the list holds {other}, not a path"),
                    }
                }
                if named.is_empty() {
                    return plan_err!("series(): the list of levels is empty");
                }
                named
            }
            _ => return plan_err!("series(): {USAGE}"),
        };
        Ok(named)
    }
}

/// The levels, finest first.
async fn levels(named: Vec<(String, Resolved)>, state: &SessionState) -> Result<Vec<Level>> {
    let mut levels = Vec::new();
    for (name, node) in named {
        levels.push(level_of(name, node, state).await?);
    }
    levels.sort_by_key(|l| l.rollup.as_ref().map_or(i64::MIN, |r| r.bucket().nanos()));
    for pair in levels.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        match (&a.rollup, &b.rollup) {
            (None, None) => {
                return plan_err!(
                    "series(): {} and {} are both raw data (not downsample() views): give one",
                    a.node.path,
                    b.node.path
                )
            }
            (Some(x), Some(y)) if x.bucket().nanos() == y.bucket().nanos() => {
                return plan_err!(
                    "series(): {} and {} have the same bucket width: give one",
                    a.node.path,
                    b.node.path
                )
            }
            _ => {}
        }
    }
    Ok(levels)
}

/// A level: a downsample view, or raw data.
async fn level_of(name: String, node: Resolved, state: &SessionState) -> Result<Level> {
    // A materialized view is a rollup when it refreshes incrementally (only
    // downsample views do); planning an ingesting or collecting view's query
    // would read host files or call an API.
    let incremental = node.latest.attrs.refresh_mode() == Some(RefreshMode::Incremental);
    let rollup = match (node.kind(), node.latest.attrs.query.clone()) {
        (Kind::MaterializedView, Some(_)) if !incremental => None,
        (Kind::MaterializedView | Kind::View, Some(query)) => {
            DownsampleTable::of_plan(&plan_sql(state, &query).await?)
        }
        (Kind::Directory, _) => {
            return plan_err!(
                "series(): {} is a directory; a level is a table or a downsample() view",
                node.path
            )
        }
        _ => None,
    };
    let schema =
        node.latest.schema().cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("{} has no stored schema", node.path))
        })?;
    let time = match &rollup {
        Some(r) => Some(r.time_column().to_string()),
        None => node
            .latest
            .attrs
            .time_column
            .clone()
            .or_else(|| time_column(&schema)),
    };
    let Some(time) = time else {
        return plan_err!(
            "series(): {} has no timestamp column, so it cannot be a level",
            node.path
        );
    };
    let time_type = schema
        .field_with_name(&time)
        .map_err(|_| plan_datafusion_err!("series(): {} has no column '{time}'", node.path))?
        .data_type()
        .clone();
    for added in [LEVEL_COLUMN, BUCKET_COLUMN] {
        if schema.field_with_name(added).is_ok() {
            return plan_err!(
                "series(): {} has a column named '{added}', which series() adds; rename it in the level",
                node.path
            );
        }
    }
    Ok(Level {
        name,
        node,
        time_column: time,
        time_type,
        rollup,
    })
}

/// The finest level with at most `max_points` in `[from, to)`; the coarsest
/// when none has.
async fn choose<'a>(
    levels: &'a [Level],
    from: i64,
    to: i64,
    max_points: u64,
    state: &SessionState,
    pond: &Arc<SessionPond>,
) -> Result<&'a Level> {
    for level in levels {
        let points = match &level.rollup {
            Some(rollup) => rollup.bucket().starts_in(from, to, max_points + 1),
            None => match recorded_rows(pond, level, from, to) {
                // What the pond recorded decides it without reading.
                (at_least, _) if at_least > max_points => at_least,
                (_, Some(at_most)) if at_most <= max_points => at_most,
                _ => count_rows(pond, level, from, to, max_points + 1, state).await?,
            },
        };
        if points <= max_points {
            return Ok(level);
        }
    }
    levels
        .last()
        .ok_or_else(|| DataFusionError::Internal("series(): no levels".into()))
}

/// Bounds on the raw rows in the window from the versions' recorded row
/// counts and time ranges: versions wholly inside count for both, versions
/// that overlap it for the upper bound (`None`: unknown).
fn recorded_rows(pond: &Arc<SessionPond>, level: &Level, from: i64, to: i64) -> (u64, Option<u64>) {
    if !level.node.kind().holds_rows() {
        return (0, None);
    }
    let (mut at_least, mut at_most) = (0u64, Some(0u64));
    for version in pond.view().live_versions(level.node.id()) {
        let rows = version.rows.and_then(|r| u64::try_from(r).ok());
        let span = version
            .min_time
            .zip(version.max_time)
            .map(|(lo, hi)| (i128::from(lo) * 1000, i128::from(hi) * 1000));
        let (from, to) = (i128::from(from), i128::from(to));
        match (rows, span) {
            (Some(0), _) => {}
            (Some(n), Some((lo, hi))) if lo >= from && hi < to => {
                at_least += n;
                at_most = at_most.map(|m| m + n);
            }
            (Some(_), Some((lo, hi))) if hi < from || lo >= to => {}
            (Some(n), Some(_)) => at_most = at_most.map(|m| m + n),
            _ => at_most = None,
        }
    }
    (at_least, at_most)
}

/// Raw rows in the window, counting no further than `cap`.
async fn count_rows(
    pond: &Arc<SessionPond>,
    level: &Level,
    from: i64,
    to: i64,
    cap: u64,
    state: &SessionState,
) -> Result<u64> {
    let plan = LogicalPlanBuilder::from(level_plan(pond, level, from, to)?)
        .project(vec![col(Column::from_name(&level.time_column))])?
        .limit(0, Some(usize::try_from(cap).unwrap_or(usize::MAX)))?
        .build()?;
    let ctx = SessionContext::new_with_state(state.clone());
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
}

/// The level's rows in `[from, to)`, with `level` and `bucket`.
fn level_plan(pond: &Arc<SessionPond>, level: &Level, from: i64, to: i64) -> Result<LogicalPlan> {
    let provider = provider_for(pond, &level.node)?;
    let time = col(Column::from_name(&level.time_column));
    let bound = |nanos: i64| {
        time_bound(nanos, &level.time_type).ok_or_else(|| {
            plan_datafusion_err!(
                "series(): the time column of {} is {}, not a timestamp",
                level.node.path,
                level.time_type
            )
        })
    };
    let builder =
        LogicalPlanBuilder::scan(level.node.path.as_str(), provider_as_source(provider), None)?
            .filter(time.clone().gt_eq(bound(from)?).and(time.lt(bound(to)?)))?;
    let mut columns: Vec<Expr> = builder
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let bucket = match &level.rollup {
        Some(r) => r.bucket().interval().clone(),
        None => ScalarValue::IntervalMonthDayNano(None),
    };
    columns.push(lit(level.name.clone()).alias(LEVEL_COLUMN));
    columns.push(lit(bucket).alias(BUCKET_COLUMN));
    builder.project(columns)?.build()
}

/// A window bound in nanoseconds since the epoch (UTC).
fn timestamp_nanos(what: &str, expr: &Expr) -> Result<i64> {
    let bad = || {
        plan_datafusion_err!(
            "series(): {what} must be a TIMESTAMP, e.g. TIMESTAMP '2024-01-01'; {USAGE}"
        )
    };
    let Expr::Literal(value, _) = expr else {
        return Err(bad());
    };
    match value.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None)) {
        Ok(ScalarValue::TimestampNanosecond(Some(n), _))
            if matches!(value.data_type(), DataType::Timestamp(..) | DataType::Utf8) =>
        {
            Ok(n)
        }
        _ => Err(bad()),
    }
}

/// `max_points => N` (or a plain N).
fn max_points(expr: &Expr) -> Result<u64> {
    let bad = || {
        plan_datafusion_err!(
            "series(): max_points must be a positive integer, e.g. max_points => 800"
        )
    };
    let value = match expr {
        Expr::Literal(ScalarValue::Struct(options), _) => {
            let mut value = None;
            for (i, field) in options.fields().iter().enumerate() {
                if field.name() != "max_points" {
                    return plan_err!(
                        "series(): unknown option {}: it takes max_points",
                        field.name()
                    );
                }
                value = Some(ScalarValue::try_from_array(options.column(i), 0)?);
            }
            value.ok_or_else(bad)?
        }
        Expr::Literal(value, _) => value.clone(),
        _ => return Err(bad()),
    };
    match value.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(n))) if n > 0 && value.data_type().is_integer() => Ok(n as u64),
        _ => Err(bad()),
    }
}
