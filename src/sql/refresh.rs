//! Materialized views: CREATE, REFRESH and REFRESH ALL.
//!
//! A materialized view stores its query, its output (as table versions) and
//! what it has consumed: for each pond source, the newest data version read
//! (`SourceMark`). Each refresh stages the new output and the new marks in
//! one version of the view, so both commit together or not at all.
//!
//! - `downsample()` views refresh incrementally: the new source versions
//!   name the (group, bucket) pairs they touch, late rows included; exactly
//!   those buckets are recomputed from the whole source and replace their
//!   old rows.
//! - Host-file views ingest new files (`sql::ingest`).
//! - API readings views collect what is new (`sources::collect`); both are
//!   `RefreshStrategy`s found in the session's `RefreshStrategies`.
//! - Anything else runs again in full when a source changed.
//!
//! A source's compacted chunks (OPTIMIZE) hold rows already consumed, so
//! they never make a view stale.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast as cast_array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{
    plan_datafusion_err, plan_err, tree_node::TreeNodeRecursion, Column, JoinType, ScalarValue,
};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{provider_as_source, source_as_provider, MemTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::utils::disjunction;
use datafusion::logical_expr::{cast, ident, lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::names::object_name_path;
use super::references;
use crate::catalog::fetched::FetchedTable;
use crate::catalog::open_first::{plan_sql, plan_statement};
use crate::catalog::refresh_strategy::{stored_query, RefreshStrategies, ViewJob};
use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::table::{
    check_storable, stored_columns, write_content, PondTable, VERSION_COLUMN,
};
use crate::catalog::view::{same_columns, StoredView};
use crate::storage::content::time_column;
use crate::storage::event_time::from_micros;
use crate::storage::node::{RefreshMode, SourceMark, StoredQuery, VersionOp};
use crate::storage::{
    Change, Content, CreateMode, Kind, NodeId, Placement, PondPath, Resolved, View, ViewOutput,
};
use crate::udf::downsample::{DownsampleSource, DownsampleTable};
use crate::udf::glob::GlobTable;
use crate::values::exact_cast::fit_to;

/// What REFRESH did to one view: a row of its result.
pub(super) struct Refreshed {
    pub path: PondPath,
    pub mode: RefreshMode,
    /// Did it stage a new version (`refreshed`), or find nothing new (`unchanged`)?
    pub changed: bool,
    /// Rows written to the view by this refresh.
    pub rows: i64,
}

pub(super) fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
    ]))
}

pub(super) fn result_batch(results: &[Refreshed]) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Int64Array, StringArray};
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                results.iter().map(|r| r.path.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                results.iter().map(|r| r.mode.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(results.iter().map(|r| {
                if r.changed {
                    "refreshed"
                } else {
                    "unchanged"
                }
            }))),
            Arc::new(Int64Array::from_iter_values(results.iter().map(|r| r.rows))),
        ],
    )?)
}

/// The pond nodes (and other things) a query reads.
#[derive(Default)]
pub(super) struct Sources {
    /// Pond nodes read (tables, materialized views, and the plain views in
    /// between), by id, with a path.
    nodes: BTreeMap<NodeId, String>,
    /// Host files read through a file table (not allowed outside ingestion).
    host_files: Vec<String>,
    /// Readings functions called (not allowed outside a collecting view).
    readings: Vec<String>,
    /// Reads something whose changes cannot be tracked (system tables, ls()).
    volatile: bool,
}

/// Collects what `plan` reads, following stored views into their queries.
pub(super) async fn collect_sources(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Sources> {
    let mut sources = Sources::default();
    let mut pending = vec![plan.clone()];
    let mut seen_views = HashSet::new();
    while let Some(plan) = pending.pop() {
        let mut view_queries = Vec::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let provider = source_as_provider(&scan.source)?;
                note_provider(&provider, &mut sources, &mut view_queries);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        for query in view_queries {
            if seen_views.insert(query.clone()) {
                pending.push(plan_sql(&ctx.state(), &query).await?);
            }
        }
    }
    Ok(sources)
}

impl Sources {
    /// Does the query read `node` (directly or through views)?
    pub(super) fn reads(&self, node: &NodeId) -> bool {
        self.nodes.contains_key(node)
    }
}

fn note_provider(
    provider: &Arc<dyn TableProvider>,
    sources: &mut Sources,
    view_queries: &mut Vec<String>,
) {
    let mut node = |resolved: &Resolved| {
        sources
            .nodes
            .insert(resolved.id().clone(), resolved.path.to_string());
    };
    if let Some(table) = provider.downcast_ref::<PondTable>() {
        if let Some(id) = table.node() {
            sources.nodes.insert(id.clone(), table.path().to_string());
        }
    } else if let Some(glob) = provider.downcast_ref::<GlobTable>() {
        glob.matches().iter().for_each(|m| node(&m.table));
    } else if let Some(downsample) = provider.downcast_ref::<DownsampleTable>() {
        match downsample.source() {
            // A view's own version counts too: redefining it changes the rows.
            DownsampleSource::Node(n) if n.kind() == Kind::View => {
                node(n);
                view_queries.push(n.latest.attrs.query.clone().unwrap_or_default())
            }
            _ => downsample.versioned_sources().into_iter().for_each(node),
        }
    } else if let Some(view) = provider.downcast_ref::<StoredView>() {
        sources
            .nodes
            .insert(view.node().clone(), view.path().to_string());
        view_queries.push(view.query().to_string());
    } else if let Some(readings) = provider.downcast_ref::<FetchedTable>() {
        sources.readings.push(readings.function().to_string());
    } else if let Some(listing) = provider.downcast_ref::<ListingTable>() {
        sources
            .host_files
            .extend(listing.table_paths().iter().map(|u| u.to_string()));
    } else {
        // System tables, ls(), information_schema, range(): no versions to track.
        sources.volatile = true;
    }
}

/// Where each source stands now: newest base, newest data version.
fn marks(view: &View, sources: &Sources) -> Vec<SourceMark> {
    sources
        .nodes
        .iter()
        .map(|(id, path)| SourceMark {
            node: id.clone(),
            path: path.clone(),
            base: view
                .versions_since_base(id)
                .first()
                .map_or(0, |v| v.version),
            version: view.data_version(id).map_or(0, |v| v.version),
        })
        .collect()
}

/// The query of `CREATE MATERIALIZED VIEW`, and how it will refresh.
pub(super) async fn create(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    create: &ast::CreateView,
) -> Result<()> {
    let path = object_name_path(&create.name)?;
    pond.require_writable()?;
    let view = pond.view();
    if let Some(existing) = view.resolve(&path) {
        if create.if_not_exists && existing.kind() == Kind::MaterializedView {
            return Ok(());
        }
    }
    let mode = CreateMode::of(create.or_replace, create.if_not_exists);
    let query = create.query.to_string();
    if let Some(strategy) = RefreshStrategies::claiming(ctx, &create.query) {
        let job = ViewJob {
            ctx,
            pond,
            path: &path,
            query: &create.query,
        };
        let (schema, output) = strategy.create(&job).await?;
        return stage_create(pond, path, query, schema, output, mode);
    }
    let plan = plan_sql(&ctx.state(), &query).await?;
    let sources = collect_sources(ctx, &plan).await?;
    check_sources(&path, &view, &sources)?;
    let downsample = DownsampleTable::of_plan(&plan);
    let refresh_mode = if downsample.is_some() {
        RefreshMode::Incremental
    } else {
        RefreshMode::Full
    };
    let not_aggregated = downsample.as_ref().map_or_else(Vec::new, not_aggregated);
    let schema = stored_columns(plan.schema().as_arrow());
    let content = run_to_content(ctx, pond, &path, &schema, plan).await?;
    let left_out = not_aggregated.join(", ");
    let output = ViewOutput {
        content,
        placement: Placement::Replace,
        state: Arc::new(StoredQuery {
            mode: refresh_mode,
            sources: marks(&view, &sources),
            host_pattern: None,
            not_aggregated,
        }),
        ingested: Vec::new(),
        schema: None,
    };
    stage_create(pond, path.clone(), query, schema, output, mode)?;
    if !left_out.is_empty() {
        // Once, when the view is made; its refreshes (cron) stay quiet.
        tracing::warn!(
            "materialized view {path}: downsample() leaves out the columns that are not numbers: {left_out} (pond.system.stored_queries lists them)"
        );
    }
    Ok(())
}

fn stage_create(
    pond: &SessionPond,
    path: PondPath,
    query: String,
    schema: SchemaRef,
    output: ViewOutput,
    mode: CreateMode,
) -> Result<()> {
    check_storable(&path, &schema)?;
    let time_column = time_column(&schema);
    pond.stage(Change::CreateMaterializedView {
        path,
        query,
        schema,
        time_column,
        output,
        mode,
    })
}

/// The columns a downsample leaves out, as `name (type)`.
fn not_aggregated(downsample: &DownsampleTable) -> Vec<String> {
    downsample
        .not_aggregated()
        .iter()
        .map(|(name, data_type)| format!("{name} ({data_type})"))
        .collect()
}

/// A materialized view reads pond nodes, never itself, and host files only by ingesting them.
fn check_sources(path: &PondPath, view: &View, sources: &Sources) -> Result<()> {
    if let Some(file) = sources.host_files.first() {
        return plan_err!(
            "materialized view {path} reads the host file {file}: only SELECT * FROM 'files' ingests host files; ingest them into their own view and query that"
        );
    }
    if let Some(function) = sources.readings.first() {
        return plan_err!(
            "materialized view {path} calls {function}() inside a larger query, which would fetch every reading again at each refresh: collect with CREATE MATERIALIZED VIEW \"/raw/…\" AS SELECT * FROM {function}(…) and query that view"
        );
    }
    if let Some(me) = view.resolve(path) {
        if sources.nodes.contains_key(me.id()) {
            return plan_err!(
                "materialized view {path} would read itself: a stored query reads other tables and views"
            );
        }
    }
    Ok(())
}

/// Runs a view's query into a content of the view's columns, cast exactly
/// to the types they are stored in.
async fn run_to_content(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: &PondPath,
    schema: &SchemaRef,
    plan: LogicalPlan,
) -> Result<Option<Content>> {
    let plan = fit_to(plan, schema, &format!("materialized view {path}"))?;
    let stream = ctx
        .execute_logical_plan(plan)
        .await?
        .execute_stream()
        .await?;
    write_content(pond, schema.clone(), time_column(schema).as_deref(), stream).await
}

/// Brings one materialized view up to date; stages its new version (if any).
pub(super) async fn refresh(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    path: &PondPath,
    full: bool,
) -> Result<Refreshed> {
    pond.require_writable()?;
    let view = pond.view();
    let node = view.require(path).map_err(external)?;
    if node.kind() != Kind::MaterializedView {
        return plan_err!(
            "{path} is a {}: REFRESH MATERIALIZED VIEW works on materialized views (see pond.system.stored_queries)",
            node.kind()
        );
    }
    let attrs = node.latest.attrs.clone();
    let (Some(state), Some(query), Some(schema)) = (
        attrs.stored_query.clone(),
        attrs.query.clone(),
        attrs.schema.clone(),
    ) else {
        return Err(DataFusionError::Internal(format!(
            "{path} has no stored query"
        )));
    };
    let failed = |what: &str, err: DataFusionError| {
        plan_datafusion_err!(
            "REFRESH MATERIALIZED VIEW {path}: {what}: {}; fix or recreate its sources, or replace it with CREATE OR REPLACE MATERIALIZED VIEW (or DROP MATERIALIZED VIEW \"{path}\")",
            crate::error::user_message(&err)
        )
    };
    let output = if let Some(strategy) = RefreshStrategies::of_mode(ctx, state.mode) {
        let Some(parsed) = stored_query(&query) else {
            return plan_err!(
                "REFRESH MATERIALIZED VIEW {path}: its stored query no longer parses: recreate it with CREATE OR REPLACE MATERIALIZED VIEW"
            );
        };
        let job = ViewJob {
            ctx,
            pond,
            path,
            query: &parsed,
        };
        strategy.refresh(&job, &node, full).await?
    } else {
        let plan = plan_stored_query(ctx, &view, &query)
            .await
            .map_err(|e| failed("its query no longer plans", e))?;
        // Views created before timestamps were stored in µs keep their types.
        let planned = plan.schema().as_arrow();
        let stored = stored_columns(planned);
        // A source that gained a column (a collected series seen for the
        // first time) widens the view: one full recompute, then as before.
        let widened = if same_columns(planned, &schema) || same_columns(&stored, &schema) {
            None
        } else if adds_columns(&stored, &schema) {
            Some(stored)
        } else {
            return plan_err!(
                "REFRESH MATERIALIZED VIEW {path}: its query now gives different columns than when it was created: recreate it with CREATE OR REPLACE MATERIALIZED VIEW"
            );
        };
        let sources = collect_sources(ctx, &plan).await?;
        check_sources(path, &view, &sources)?;
        let now = marks(&view, &sources);
        let stale = full || widened.is_some() || sources.volatile || now != state.sources;
        if !stale {
            None
        } else {
            let downsample = DownsampleTable::of_plan(&plan);
            let new_state = Arc::new(StoredQuery {
                sources: now,
                // A widened source may have brought a text column.
                not_aggregated: downsample.as_ref().map_or_else(Vec::new, not_aggregated),
                ..state.as_ref().clone()
            });
            let incremental = match (full || widened.is_some(), downsample) {
                (false, Some(downsample)) => {
                    incremental(
                        ctx,
                        pond,
                        &view,
                        &node,
                        &state,
                        new_state.clone(),
                        &downsample,
                        &schema,
                    )
                    .await?
                }
                _ => None,
            };
            match incremental {
                Some(output) => Some(output),
                None => Some(ViewOutput {
                    content: run_to_content(
                        ctx,
                        pond,
                        path,
                        widened.as_ref().unwrap_or(&schema),
                        plan,
                    )
                    .await?,
                    placement: Placement::Replace,
                    state: new_state,
                    ingested: Vec::new(),
                    schema: widened.clone(),
                }),
            }
        }
    };
    let Some(output) = output else {
        return Ok(Refreshed {
            path: path.clone(),
            mode: state.mode,
            changed: false,
            rows: 0,
        });
    };
    let rows = output.content.as_ref().map_or(0, |c| c.rows);
    pond.stage(Change::RefreshView {
        path: path.clone(),
        output,
        after: node.latest.version,
    })?;
    Ok(Refreshed {
        path: path.clone(),
        mode: state.mode,
        changed: true,
        rows,
    })
}

/// Does `planned` hold every column of `stored` (by name and type) and more?
fn adds_columns(planned: &Schema, stored: &Schema) -> bool {
    planned.fields().len() > stored.fields().len()
        && stored.fields().iter().all(|f| {
            planned
                .field_with_name(f.name())
                .is_ok_and(|p| p.data_type() == f.data_type())
        })
}

/// Plans a stored query; a source gone since is named by its path.
async fn plan_stored_query(ctx: &SessionContext, view: &View, query: &str) -> Result<LogicalPlan> {
    let mut statements = DFParser::parse_sql_with_dialect(query, &GenericDialect {})?;
    let (Some(statement), true) = (statements.pop_front(), statements.is_empty()) else {
        return plan_err!("a stored query must be one statement: {query}");
    };
    let state = ctx.state();
    references::check(&state, view, &statement).await?;
    plan_statement(&state, &statement).await
}

/// Recomputes the buckets that the sources' new versions touch. `None`
/// when the view must be recomputed in full instead: a source was dropped,
/// moved away or given a new base since the last refresh.
#[allow(clippy::too_many_arguments)]
async fn incremental(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    view: &View,
    node: &Resolved,
    old: &StoredQuery,
    new_state: Arc<StoredQuery>,
    downsample: &DownsampleTable,
    schema: &SchemaRef,
) -> Result<Option<ViewOutput>> {
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
    let current_table = || {
        PondTable::new(
            pond.clone(),
            node.path.clone(),
            schema.clone(),
            view.live_versions(node.id()),
        )
    };
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
                provider_as_source(Arc::new(PondTable::new(
                    pond.clone(),
                    node.path.clone(),
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
    current: PondTable,
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

/// Every materialized view, sources before the views that read them.
pub(super) async fn refresh_order(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
) -> Result<Vec<PondPath>> {
    let view = pond.view();
    let root = view.require(&PondPath::root()).map_err(external)?;
    let views: Vec<Resolved> = view
        .walk(&root)
        .into_iter()
        .filter(|n| n.kind() == Kind::MaterializedView)
        .collect();
    let ids: HashSet<NodeId> = views.iter().map(|v| v.id().clone()).collect();
    let mut depends: BTreeMap<PondPath, Vec<NodeId>> = BTreeMap::new();
    for v in &views {
        let query = v.latest.attrs.query.clone().unwrap_or_default();
        // Ingesting and collecting views read no pond node (and planning
        // theirs would read the files or fetch the readings).
        let reads_pond = v
            .latest
            .attrs
            .refresh_mode()
            .is_some_and(|m| m != RefreshMode::Ingest && m != RefreshMode::Collect);
        // A view whose query no longer plans still gets its turn (and its error).
        let reads = if !reads_pond {
            Vec::new()
        } else {
            match plan_sql(&ctx.state(), &query).await {
                Ok(plan) => collect_sources(ctx, &plan)
                    .await
                    .map(|s| s.nodes.into_keys().collect())
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        };
        depends.insert(
            v.path.clone(),
            reads.into_iter().filter(|id| ids.contains(id)).collect(),
        );
    }
    let path_of: HashMap<NodeId, PondPath> = views
        .iter()
        .map(|v| (v.id().clone(), v.path.clone()))
        .collect();
    let mut done: HashSet<PondPath> = HashSet::new();
    let mut order = Vec::new();
    while order.len() < views.len() {
        let ready: Vec<PondPath> = depends
            .iter()
            .filter(|(p, deps)| {
                // `depends` holds only ids of `views`, every one in path_of.
                !done.contains(*p) && deps.iter().all(|d| done.contains(&path_of[d]))
            })
            .map(|(p, _)| p.clone())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<String> = depends
                .keys()
                .filter(|p| !done.contains(*p))
                .map(|p| p.to_string())
                .collect();
            return plan_err!(
                "REFRESH ALL: materialized views {} read each other in a cycle: replace one with CREATE OR REPLACE MATERIALIZED VIEW",
                stuck.join(", ")
            );
        }
        for p in ready {
            done.insert(p.clone());
            order.push(p);
        }
    }
    Ok(order)
}
