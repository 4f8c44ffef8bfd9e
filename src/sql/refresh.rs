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
//!   old rows (`sql::incremental`).
//! - Host-file views ingest new files (`sql::ingest`).
//! - API readings views collect what is new (`sources::collect`); both are
//!   `RefreshStrategy`s found in the session's `RefreshStrategies`.
//! - Anything else runs again in full when a source changed.
//!
//! A source's compacted chunks (OPTIMIZE) hold rows already consumed, so
//! they never make a view stale.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{plan_datafusion_err, plan_err, tree_node::TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::incremental::{self, Target};
use super::names::object_name_path;
use super::references;
use crate::catalog::contents::run_to_content;
use crate::catalog::lineage::{Lineages, Read};
use crate::catalog::open_first::{plan_sql, plan_statement};
use crate::catalog::refresh_strategy::{stored_query, RefreshStrategies, RefreshStrategy, ViewJob};
use crate::catalog::session_pond::{external, SessionPond};
use crate::catalog::table::{check_storable, stored_columns};
use crate::catalog::view::same_columns;
use crate::storage::content::time_column;
use crate::storage::node::{RefreshMode, SourceMark, StoredQuery};
use crate::storage::{
    Change, CreateMode, Kind, NodeId, Placement, PondPath, Resolved, View, ViewOutput,
};
use crate::udf::downsample::DownsampleTable;

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
                note_provider(ctx, &provider, &mut sources, &mut view_queries);
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

/// Notes what a scanned provider reads, as the provider reports it.
fn note_provider(
    ctx: &SessionContext,
    provider: &Arc<dyn TableProvider>,
    sources: &mut Sources,
    view_queries: &mut Vec<String>,
) {
    let Some(reads) = Lineages::of(ctx.state().config(), provider.as_ref()) else {
        // System tables, ls(), information_schema, range(): no versions to track.
        sources.volatile = true;
        return;
    };
    for read in reads {
        match read {
            Read::Node(id, path) => {
                sources.nodes.insert(id, path);
            }
            Read::Query(query) => view_queries.push(query),
            Read::ApiCall(function) => sources.readings.push(function),
            Read::HostFiles(urls) => sources.host_files.extend(urls),
        }
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
    // Planned is registered last and claims any query.
    let Some(strategy) = RefreshStrategies::claiming(ctx, &create.query) else {
        return Err(DataFusionError::Internal(format!(
            "{path}: no refresh strategy claims its query"
        )));
    };
    let job = ViewJob {
        ctx,
        pond,
        path: &path,
        query: &create.query,
    };
    let (schema, output) = strategy.create(&job).await?;
    let left_out = output.state.not_aggregated.join(", ");
    stage_create(pond, path.clone(), query, schema, output, mode)?;
    if !left_out.is_empty() {
        // Once, when the view is made; its refreshes (cron) stay quiet.
        tracing::warn!(
            "materialized view {path}: downsample() leaves out the columns that are not numbers: {left_out} (pond.system.stored_queries lists them)"
        );
    }
    Ok(())
}

/// Views over any other query, planned: refreshed in full when a source
/// changed, and `downsample()` views incrementally (`sql::incremental`).
#[derive(Debug)]
pub(super) struct Planned;

#[async_trait]
impl RefreshStrategy for Planned {
    fn handles(&self, mode: RefreshMode) -> bool {
        matches!(mode, RefreshMode::Full | RefreshMode::Incremental)
    }

    fn claims(&self, _query: &ast::Query) -> bool {
        true
    }

    async fn create(&self, job: &ViewJob<'_>) -> Result<(SchemaRef, ViewOutput)> {
        let (ctx, pond, path) = (job.ctx, job.pond, job.path);
        let view = pond.view();
        let plan = plan_sql(&ctx.state(), &job.query.to_string()).await?;
        let sources = collect_sources(ctx, &plan).await?;
        check_sources(path, &view, &sources)?;
        let downsample = DownsampleTable::of_plan(&plan);
        let refresh_mode = if downsample.is_some() {
            RefreshMode::Incremental
        } else {
            RefreshMode::Full
        };
        let not_aggregated = downsample.as_ref().map_or_else(Vec::new, not_aggregated);
        let schema = stored_columns(plan.schema().as_arrow());
        let content = run_to_content(ctx, pond, path, &schema, plan).await?;
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
        Ok((schema, output))
    }

    async fn refresh(
        &self,
        job: &ViewJob<'_>,
        node: &Resolved,
        full: bool,
    ) -> Result<Option<ViewOutput>> {
        refresh_planned(job, node, full).await
    }
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
    let (Some(state), Some(query)) = (attrs.stored_query.clone(), attrs.query.clone()) else {
        return Err(DataFusionError::Internal(format!(
            "{path} has no stored query"
        )));
    };
    let Some(strategy) = RefreshStrategies::of_mode(ctx, state.mode) else {
        return Err(DataFusionError::Internal(format!(
            "{path}: no refresh strategy for mode {}",
            state.mode.as_str()
        )));
    };
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
    let output = strategy.refresh(&job, &node, full).await?;
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

/// REFRESH of a planned view: nothing when its sources are where it left
/// them; the touched buckets of a `downsample()` view; else the whole query.
async fn refresh_planned(
    job: &ViewJob<'_>,
    node: &Resolved,
    full: bool,
) -> Result<Option<ViewOutput>> {
    let (ctx, pond, path) = (job.ctx, job.pond, job.path);
    let view = pond.view();
    let attrs = &node.latest.attrs;
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
        return Ok(None);
    }
    let downsample = DownsampleTable::of_plan(&plan);
    let new_state = Arc::new(StoredQuery {
        sources: now,
        // A widened source may have brought a text column.
        not_aggregated: downsample.as_ref().map_or_else(Vec::new, not_aggregated),
        ..state.as_ref().clone()
    });
    let incremental = match (full || widened.is_some(), downsample) {
        (false, Some(downsample)) => {
            let target = Target {
                ctx,
                pond,
                view: &view,
                node,
                schema: &schema,
            };
            incremental::recompute(&target, &state, new_state.clone(), &downsample).await?
        }
        _ => None,
    };
    Ok(match incremental {
        Some(output) => Some(output),
        None => Some(ViewOutput {
            content: run_to_content(ctx, pond, path, widened.as_ref().unwrap_or(&schema), plan)
                .await?,
            placement: Placement::Replace,
            state: new_state,
            ingested: Vec::new(),
            schema: widened.clone(),
        }),
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
    let mut statements = DFParser::parse_sql_with_dialect(query, &GenericDialect {})?; // why: a view's query is stored as text
    let (Some(statement), true) = (statements.pop_front(), statements.is_empty()) else {
        return plan_err!("a stored query must be one statement: {query}");
    };
    let state = ctx.state();
    references::check(&state, view, &statement).await?;
    plan_statement(&state, &statement).await
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
