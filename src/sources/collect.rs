//! Collecting: a materialized view over an API source's readings
//! (`CREATE MATERIALIZED VIEW "/hydrovu/lake" AS SELECT * FROM
//! hydrovu_readings(6582334)`).
//!
//! It is append-only and the pond is its watermark: each refresh asks only
//! for readings after the newest timestamp the view holds (read from its
//! versions' recorded time ranges, nothing kept on the side), appends them
//! as one version, and stages nothing when nothing is new. A series that
//! appears later becomes a new nullable column; earlier rows read it as
//! NULL. A failed fetch fails the refresh: no partial set of pages is ever
//! staged. `max_points` bounds one refresh, so years of history arrive
//! over several runs.
//!
//! A strategy per source (`Collect`), registered with the session in
//! `sources::register`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{lit, Expr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast;

use super::readings::{show_time, ReadingsCall, ReadingsSource, WideReadings};
use crate::catalog::contents::write_content;
use crate::catalog::refresh_strategy::{only_relation, RefreshStrategy, ViewJob};
use crate::catalog::session_pond::SessionPond;
use crate::catalog::source_access::SourceAccess;
use crate::catalog::table::stored_columns;
use crate::error::user_message;
use crate::storage::content::time_column;
use crate::storage::node::{RefreshMode, StoredQuery};
use crate::storage::{Placement, PondPath, Resolved, ViewOutput};
use crate::udf::named_args::as_options;
use crate::values::constants::fold;

/// Collecting views over one source's readings function, as a refresh strategy.
#[derive(Debug)]
pub(crate) struct Collect {
    source: Arc<dyn ReadingsSource>,
}

impl Collect {
    pub(crate) fn new(source: Arc<dyn ReadingsSource>) -> Self {
        Collect { source }
    }

    /// The arguments of the query's call, when it is exactly
    /// `SELECT * FROM <function>(…)`.
    fn call_args<'q>(&self, query: &'q ast::Query) -> Option<&'q [ast::FunctionArg]> {
        let ast::TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = only_relation(query)?
        else {
            return None;
        };
        let [ast::ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return None;
        };
        ident
            .value
            .eq_ignore_ascii_case(self.source.function())
            .then_some(args.args.as_slice())
    }

    /// The call's arguments, evaluated as DataFusion would (they are constants).
    fn call(
        &self,
        ctx: &SessionContext,
        query: &ast::Query,
        path: &PondPath,
    ) -> Result<ReadingsCall> {
        let function = self.source.function();
        SourceAccess::check(ctx.state().config(), function)?;
        let Some(args) = self.call_args(query) else {
            return plan_err!(
                "REFRESH MATERIALIZED VIEW {path}: its query no longer names {function}(): recreate it with CREATE OR REPLACE MATERIALIZED VIEW"
            );
        };
        let args = as_options(function, args)?.unwrap_or_else(|| args.to_vec());
        let exprs = args
            .iter()
            .map(|arg| match arg {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(expr)) => Ok(expr.clone()),
                other => plan_err!("{function}(): {other} is not a value"),
            })
            .collect::<Result<Vec<_>>>()?;
        let what = format!("{function}(): its arguments");
        let values: Vec<Expr> = fold(&ctx.state(), &exprs, &what)?
            .into_iter()
            .map(lit)
            .collect();
        ReadingsCall::parse(function, &values)
    }
}

#[async_trait]
impl RefreshStrategy for Collect {
    fn handles(&self, mode: RefreshMode) -> bool {
        mode == RefreshMode::Collect
    }

    fn claims(&self, query: &ast::Query) -> bool {
        self.call_args(query).is_some()
    }

    async fn create(&self, job: &ViewJob<'_>) -> Result<(SchemaRef, ViewOutput)> {
        first_refresh(job, self).await
    }

    async fn refresh(
        &self,
        job: &ViewJob<'_>,
        node: &Resolved,
        full: bool,
    ) -> Result<Option<ViewOutput>> {
        refresh(job, self, node, full).await
    }
}

/// CREATE: the first collection; the view's columns are the series found.
async fn first_refresh(job: &ViewJob<'_>, collect: &Collect) -> Result<(SchemaRef, ViewOutput)> {
    let call = collect.call(job.ctx, job.query, job.path)?;
    let readings = collect.source.fetch(&call.place, &call.window).await?;
    let (schema, content) = write(job.pond, &readings, None).await?;
    let output = ViewOutput {
        content,
        placement: Placement::Replace,
        state: state(),
        ingested: Vec::new(),
        schema: None,
    };
    Ok((schema, output))
}

fn state() -> Arc<StoredQuery> {
    Arc::new(StoredQuery {
        mode: RefreshMode::Collect,
        sources: Vec::new(),
        host_pattern: None,
        not_aggregated: Vec::new(),
    })
}

/// REFRESH: appends the readings after the newest the view holds; `full`
/// collects everything again as a new base.
async fn refresh(
    job: &ViewJob<'_>,
    collect: &Collect,
    node: &Resolved,
    full: bool,
) -> Result<Option<ViewOutput>> {
    let (pond, path) = (job.pond, job.path);
    let Some(schema) = node.latest.attrs.schema.clone() else {
        return Err(DataFusionError::Internal(format!(
            "{path} has no stored schema"
        )));
    };
    let mut call = collect.call(job.ctx, job.query, path)?;
    let held = if full { None } else { newest(pond, node)? };
    if let Some(newest) = held {
        call.window.from = Some(call.window.from.map_or(newest + 1, |f| f.max(newest + 1)));
    }
    if call
        .window
        .until
        .is_some_and(|u| call.window.from.is_some_and(|f| f > u))
    {
        return Ok(None); // collected up to `until` already
    }
    let readings = collect
        .source
        .fetch(&call.place, &call.window)
        .await
        .map_err(|e| {
            plan_datafusion_err!(
                "REFRESH MATERIALIZED VIEW {path}: {}; nothing was collected: the next REFRESH asks again for {}",
                user_message(&e),
                held.map_or("every reading".into(), |t| format!("the readings after {}", show_time(t)))
            )
        })?;
    if readings.is_empty() && !full {
        return Ok(None);
    }
    let existing = (!full).then_some(schema.as_ref());
    let (widened, content) = write(pond, &readings, existing).await?;
    Ok(Some(ViewOutput {
        content,
        placement: if full {
            Placement::Replace
        } else {
            Placement::Append
        },
        state: state(),
        ingested: Vec::new(),
        schema: (widened.fields().len() != schema.fields().len() || full).then_some(widened),
    }))
}

/// The newest time in the view (µs), from its live versions' recorded ranges.
fn newest(pond: &SessionPond, node: &Resolved) -> Result<Option<i64>> {
    let mut newest = None;
    for version in pond.view().live_versions(node.id()) {
        match version.max_time {
            Some(t) => newest = newest.max(Some(t)),
            None if version.rows.unwrap_or(0) > 0 => {
                return plan_err!(
                    "REFRESH MATERIALIZED VIEW {}: version {} has rows without a recorded time range, so where collection stopped is unknown: rebuild it with REFRESH MATERIALIZED VIEW \"{}\" FULL",
                    node.path,
                    version.version,
                    node.path
                )
            }
            None => {}
        }
    }
    Ok(newest)
}

/// Writes the readings as a content of the view's columns (then any new
/// ones); returns those columns.
async fn write(
    pond: &SessionPond,
    readings: &WideReadings,
    existing: Option<&Schema>,
) -> Result<(SchemaRef, Option<crate::storage::Content>)> {
    let batch = readings.to_batch(existing)?;
    let schema = stored_columns(&batch.schema());
    let batch =
        datafusion::arrow::array::RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema.clone(),
        futures::stream::iter([Ok(batch)]),
    ));
    let content = write_content(
        pond,
        schema.clone(),
        time_column(&schema).as_deref(),
        stream,
    )
    .await?;
    Ok((schema, content))
}
