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

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{plan_datafusion_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{lit, Expr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast;

use super::ingest::{only_relation, stored_query};
use super::named_args::as_options;
use crate::catalog::session_pond::SessionPond;
use crate::catalog::table::{stored_columns, write_content};
use crate::sources::readings::{show_time, ReadingsCall, ReadingsSource, WideReadings};
use crate::storage::content::time_column;
use crate::storage::node::{RefreshMode, StoredQuery};
use crate::storage::{Placement, Resolved, ViewOutput};

/// What a collecting view reads: a source and the call's arguments.
pub(super) struct Collected {
    source: Arc<dyn ReadingsSource>,
    args: Vec<ast::FunctionArg>,
}

/// The readings call of a query that is exactly `SELECT * FROM <source>_readings(…)`.
pub(super) fn readings_call(query: &ast::Query) -> Option<Collected> {
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
    let source = crate::sources::readings_source(&ident.value)?;
    Some(Collected {
        source,
        args: args.args.clone(),
    })
}

impl Collected {
    /// The call's arguments, evaluated as DataFusion would (they are constants).
    async fn call(&self, ctx: &SessionContext) -> Result<ReadingsCall> {
        let function = self.source.function();
        crate::sources::SourceAccess::check(ctx.state().config(), function)?;
        let args = as_options(function, &self.args)?.unwrap_or_else(|| self.args.clone());
        let texts: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let values = if texts.is_empty() {
            Vec::new()
        } else {
            let batches = ctx
                .sql(&format!("SELECT {}", texts.join(", ")))
                .await
                .map_err(|e| {
                    plan_datafusion_err!(
                        "{function}(): its arguments must be constants: {}",
                        super::error::user_message(&e)
                    )
                })?
                .collect()
                .await?;
            let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
                return plan_err!("{function}(): its arguments must be constants");
            };
            (0..batch.num_columns())
                .map(|i| ScalarValue::try_from_array(batch.column(i), 0).map(lit))
                .collect::<Result<Vec<Expr>>>()?
        };
        ReadingsCall::parse(function, &values)
    }
}

/// CREATE: the first collection; the view's columns are the series found.
pub(super) async fn first_refresh(
    ctx: &SessionContext,
    pond: &SessionPond,
    collected: &Collected,
) -> Result<(SchemaRef, ViewOutput)> {
    let call = collected.call(ctx).await?;
    let readings = collected.source.fetch(&call.place, &call.window).await?;
    let (schema, content) = write(pond, &readings, None).await?;
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
pub(super) async fn refresh(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    node: &Resolved,
    schema: &SchemaRef,
    full: bool,
) -> Result<Option<ViewOutput>> {
    let path = &node.path;
    let query = node.latest.attrs.query.as_deref().unwrap_or_default();
    let Some(collected) = stored_query(query).and_then(|q| readings_call(&q)) else {
        return plan_err!(
            "REFRESH MATERIALIZED VIEW {path}: its query no longer names a readings function: recreate it with CREATE OR REPLACE MATERIALIZED VIEW"
        );
    };
    let mut call = collected.call(ctx).await?;
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
    let readings = collected
        .source
        .fetch(&call.place, &call.window)
        .await
        .map_err(|e| {
            plan_datafusion_err!(
                "REFRESH MATERIALIZED VIEW {path}: {}; nothing was collected: the next REFRESH asks again for {}",
                super::error::user_message(&e),
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
