//! Incremental refresh of a `downsample()` view: the source versions not
//! yet read name the (group, bucket) pairs they touch, late rows and
//! rewritten spans included; exactly those buckets are recomputed from the
//! whole source and replace the view's old rows for them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast as cast_array;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{plan_err, Column, JoinType, ScalarValue};
use datafusion::datasource::{provider_as_source, MemTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::utils::disjunction;
use datafusion::logical_expr::{cast, ident, lit, Expr, LogicalPlan, LogicalPlanBuilder};

use crate::catalog::contents::run_to_content;
use crate::catalog::session_pond::SessionPond;
use crate::catalog::versions_table::{VersionsTable, VERSION_COLUMN};
use crate::storage::event_time::from_micros;
use crate::storage::node::{SourceMark, StoredQuery, VersionOp};
use crate::storage::{NodeId, Placement, Resolved, View, ViewOutput};
use crate::udf::downsample::DownsampleTable;

/// The view being refreshed, as the pond sees it now.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub(super) ctx: &'a SessionContext,
    pub(super) pond: &'a Arc<SessionPond>,
    pub(super) view: &'a View,
    pub(super) node: &'a Resolved,
    /// The view's stored columns.
    pub(super) schema: &'a SchemaRef,
}

/// Recomputes the buckets that the sources' new versions touch. `None`
/// when the view must be recomputed in full instead: a source was dropped,
/// moved away or given a new base since the last refresh.
pub(super) async fn recompute(
    target: &Target<'_>,
    old: &StoredQuery,
    new_state: Arc<StoredQuery>,
    downsample: &DownsampleTable,
) -> Result<Option<ViewOutput>> {
    let Target {
        ctx,
        pond,
        view,
        node,
        schema,
    } = *target;
    let consumed: HashMap<&NodeId, &SourceMark> =
        old.sources.iter().map(|m| (&m.node, m)).collect();
    let now: HashMap<&NodeId, &SourceMark> =
        new_state.sources.iter().map(|m| (&m.node, m)).collect();
    for mark in &old.sources {
        match now.get(&mark.node) {
            Some(current) if current.base == mark.base => {}
            _ => return Ok(None),
        }
    }
    // The source versions not yet read: after the consumed version, except
    // compacted chunks of versions already read. Every rewrite (DELETE,
    // UPDATE) since then notes the time span of the rows it replaced, the
    // buckets there may have lost rows: also a rewrite that a later OPTIMIZE
    // compacted away, whose chunk no longer shows which rows went.
    let mut selection = HashMap::new();
    let mut replaced_spans: Vec<(i64, i64)> = Vec::new();
    for source in downsample.versioned_sources() {
        let seen = consumed.get(source.id()).map_or(0, |m| m.version);
        let new: Vec<_> = view
            .live_versions(source.id())
            .into_iter()
            .filter(|v| v.version > seen)
            .filter(|v| {
                !(v.op == VersionOp::Compact
                    && matches!(v.attrs.compacts, Some([_, last]) if last <= seen))
            })
            .collect();
        let since_base = view.versions_since_base(source.id());
        let rewrites = since_base
            .iter()
            .filter(|v| v.version > seen && v.op == VersionOp::Rewrite);
        for rewrite in rewrites {
            let Some([first, last]) = rewrite.attrs.compacts else {
                continue;
            };
            let replaced = since_base
                .iter()
                .filter(|v| (first..=last).contains(&v.version));
            for v in replaced {
                match (v.min_time, v.max_time) {
                    (Some(lo), Some(hi)) => replaced_spans.push((lo, hi)),
                    // Rows without a recorded range: every bucket may have changed.
                    _ if v.rows.unwrap_or(0) > 0 => return Ok(None),
                    _ => {}
                }
            }
        }
        if !new.is_empty() {
            selection.insert(source.id().clone(), new);
        }
    }
    let state_only = || ViewOutput {
        content: None,
        placement: Placement::Append,
        state: new_state.clone(),
        ingested: Vec::new(),
        schema: None,
    };
    if selection.is_empty() {
        return Ok(Some(state_only()));
    }
    let touched_plan = downsample.buckets(downsample.source_plan(Some(Arc::new(selection)))?)?;
    let mut touched = collect(ctx, touched_plan.clone()).await?;
    let current_table =
        || VersionsTable::new(pond.clone(), schema.clone(), view.live_versions(node.id()));
    if !replaced_spans.is_empty() {
        let buckets_schema = Arc::new(touched_plan.schema().as_arrow().clone());
        let extra = buckets_in_spans(
            ctx,
            current_table(),
            downsample,
            &buckets_schema,
            &replaced_spans,
        )
        .await?;
        // One schema for the MemTable below: the first batch's.
        let first_schema = touched.first().or(extra.first()).map(|b| b.schema());
        for batch in extra {
            let schema = first_schema.clone().unwrap_or_else(|| batch.schema());
            touched.push(RecordBatch::try_new(schema, batch.columns().to_vec())?);
        }
    }

    if touched.iter().all(|b| b.num_rows() == 0) {
        return Ok(Some(state_only()));
    }
    let keys: Vec<String> = downsample
        .groups()
        .iter()
        .cloned()
        .chain(std::iter::once(downsample.time_column().to_string()))
        .collect();
    // Not empty: all() of no batches is true, and returned above.
    let touched_schema = touched[0].schema();
    let touched_keys = || -> Result<LogicalPlan> {
        let renamed: Vec<Expr> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| ident(k).alias(format!("__touched_{i}")))
            .collect();
        let table = MemTable::try_new(touched_schema.clone(), vec![touched.clone()])?;
        LogicalPlanBuilder::scan("touched", provider_as_source(Arc::new(table)), None)?
            .project(renamed)?
            .build()
    };
    let semi = |left: LogicalPlan, join: JoinType| -> Result<LogicalPlan> {
        let left_keys: Vec<Column> = keys.iter().map(Column::new_unqualified).collect();
        let right_keys: Vec<Column> = (0..keys.len())
            .map(|i| Column::new_unqualified(format!("__touched_{i}")))
            .collect();
        LogicalPlanBuilder::from(left)
            .join(touched_keys()?, join, (left_keys, right_keys), None)?
            .build()
    };
    // Recompute the touched buckets from the whole source, reading only
    // the time ranges they cover.
    let ranges = time_ranges(&touched, downsample)?;
    let source = LogicalPlanBuilder::from(downsample.source_plan(None)?)
        .filter(ranges)?
        .build()?;
    let recomputed = semi(downsample.aggregate(source)?, JoinType::LeftSemi)?;

    // The view's versions that hold a touched bucket: the range from the
    // first to the last is rewritten (its other rows kept), the rest stays.
    // The filter on the touched span is implied by the join; it lets the
    // scan skip the view's other versions and row groups by time, so this
    // costs the new data, not the view's age.
    let versioned = LogicalPlanBuilder::scan(
        "current",
        provider_as_source(Arc::new(current_table().with_version_column())),
        None,
    )?
    .filter(touched_span(&touched, downsample, schema)?)?
    .build()?;
    let holding = LogicalPlanBuilder::from(semi(versioned, JoinType::LeftSemi)?)
        .aggregate(vec![ident(VERSION_COLUMN)], Vec::<Expr>::new())?
        .build()?;
    let mut range: Option<[i64; 2]> = None;
    for batch in collect(ctx, holding).await? {
        let versions = cast_array(batch.column(0), &DataType::Int64)?;
        for v in versions
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .flatten()
        {
            range = Some(range.map_or([v, v], |[a, b]| [a.min(v), b.max(v)]));
        }
    }
    let (plan, placement) = match range {
        None => (recomputed, Placement::Append),
        Some([first, last]) => {
            let in_range = view
                .live_versions(node.id())
                .into_iter()
                .filter(|v| (first..=last).contains(&v.version))
                .collect();
            let rewritten = LogicalPlanBuilder::scan(
                "current",
                provider_as_source(Arc::new(VersionsTable::new(
                    pond.clone(),
                    schema.clone(),
                    in_range,
                ))),
                None,
            )?
            .build()?;
            let kept = semi(rewritten, JoinType::LeftAnti)?;
            (
                LogicalPlanBuilder::from(kept).union(recomputed)?.build()?,
                Placement::Rewrite([first, last]),
            )
        }
    };
    Ok(Some(ViewOutput {
        content: run_to_content(ctx, pond, &node.path, schema, plan).await?,
        placement,
        state: new_state,
        ingested: Vec::new(),
        schema: None,
    }))
}

async fn collect(ctx: &SessionContext, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
    ctx.execute_logical_plan(plan).await?.collect().await
}

/// The (groups, bucket) keys of the view's rows whose buckets overlap the
/// time spans (µs) of replaced source rows, as `schema` (the touched keys) has them.
async fn buckets_in_spans(
    ctx: &SessionContext,
    current: VersionsTable,
    downsample: &DownsampleTable,
    schema: &SchemaRef,
    spans: &[(i64, i64)],
) -> Result<Vec<RecordBatch>> {
    let time = downsample.time_column();
    let DataType::Timestamp(unit, _) = downsample.time_type().clone() else {
        return plan_err!("downsample's time column {time} is not a timestamp");
    };
    let stored_type = current
        .schema()
        .field_with_name(time)
        .map(|f| f.data_type().clone())?;
    let width = downsample.bucket_units();
    // A value in the source's time unit, as the view's time column holds it.
    let bound = |value: i64| -> Result<Expr> {
        let value = ScalarValue::Int64(Some(value)).cast_to(downsample.time_type())?;
        Ok(lit(value.cast_to(&stored_type)?))
    };
    // A bucket labelled `start` holds [start, start + width): it overlaps
    // [lo, hi] when start > lo - width and start <= hi.
    let conditions = spans
        .iter()
        .map(|(lo, hi)| {
            let earliest = from_micros(*lo, unit, false).saturating_sub(width);
            Ok(ident(time)
                .gt(bound(earliest)?)
                .and(ident(time).lt_eq(bound(from_micros(*hi, unit, true))?)))
        })
        .collect::<Result<Vec<_>>>()?;
    let keys = schema
        .fields()
        .iter()
        .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
        .collect::<Vec<_>>();
    ctx.read_table(Arc::new(current))?
        .filter(disjunction(conditions).unwrap_or(lit(false)))?
        .select(keys)?
        .collect()
        .await
}

/// The touched buckets' starts, in units of the source's time type, sorted, once each.
fn touched_starts(touched: &[RecordBatch], downsample: &DownsampleTable) -> Result<Vec<i64>> {
    let time = downsample.time_column();
    let mut starts: Vec<i64> = Vec::new();
    for batch in touched {
        let column = batch.column_by_name(time).ok_or_else(|| {
            DataFusionError::Internal(format!("touched buckets lack column {time}"))
        })?;
        let values = cast_array(column, &DataType::Int64)?;
        let values = values.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        starts.extend(values.iter().flatten());
    }
    starts.sort_unstable();
    starts.dedup();
    Ok(starts)
}

/// A filter on the view's time column (as `view_schema` stores it) from
/// the first to the last touched bucket. Casting to the stored type keeps
/// order, so every touched bucket's row passes.
fn touched_span(
    touched: &[RecordBatch],
    downsample: &DownsampleTable,
    view_schema: &Schema,
) -> Result<Expr> {
    let time = downsample.time_column();
    let stored_type = view_schema.field_with_name(time)?.data_type().clone();
    let starts = touched_starts(touched, downsample)?;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Ok(lit(false));
    };
    let stored = |v: i64| -> Result<Expr> {
        let value = ScalarValue::Int64(Some(v)).cast_to(downsample.time_type())?;
        Ok(lit(value.cast_to(&stored_type)?))
    };
    Ok(ident(time)
        .gt_eq(stored(*first)?)
        .and(ident(time).lt_eq(stored(*last)?)))
}

/// A filter on the source's time column covering the touched buckets:
/// consecutive buckets merge into one range; many scattered ones into one span.
fn time_ranges(touched: &[RecordBatch], downsample: &DownsampleTable) -> Result<Expr> {
    const MAX_RANGES: usize = 64;
    let time = downsample.time_column();
    let time_type = downsample.time_type().clone();
    let width = downsample.bucket_units();
    let starts = touched_starts(touched, downsample)?;
    // Ends in i128: the last bucket may end past what the column holds.
    let mut ranges: Vec<(i64, i128)> = Vec::new();
    for start in starts {
        let end = i128::from(start) + i128::from(width);
        match ranges.last_mut() {
            Some((_, last_end)) if i128::from(start) <= *last_end => {
                *last_end = (*last_end).max(end)
            }
            _ => ranges.push((start, end)),
        }
    }
    if let (true, Some(first), Some(last)) =
        (ranges.len() > MAX_RANGES, ranges.first(), ranges.last())
    {
        ranges = vec![(first.0, last.1)];
    }
    let at = |v: i64| -> Result<Expr> { Ok(lit(ScalarValue::Int64(Some(v)).cast_to(&time_type)?)) };
    let conditions = ranges
        .into_iter()
        .map(|(lo, hi)| {
            let from = ident(time).gt_eq(at(lo)?);
            Ok(match i64::try_from(hi) {
                Ok(hi) => from.and(ident(time).lt(at(hi)?)),
                Err(_) => from, // the bucket runs to the end of time
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(disjunction(conditions).unwrap_or(lit(false)))
}
