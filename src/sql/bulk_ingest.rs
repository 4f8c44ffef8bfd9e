//! Bulk ingest (Flight SQL's `CommandStatementIngest`): a client's stream
//! of batches into a pond table, planned from the stream itself: what runs
//! is the INSERT or CREATE TABLE … AS path, never SQL text.

use std::fmt;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};

use super::{ddl, insert};
use crate::catalog::table::stored_columns;
use crate::catalog::SessionPond;
use crate::storage::{CreateMode, PondPath};

/// What an ingest does with the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestMode {
    /// A new table of the rows' columns; fails when the path exists.
    Create,
    /// Rows added to the table, fitted to its columns as an INSERT's are.
    Append,
    /// The table replaced by the rows, in one commit.
    Replace,
}

impl fmt::Display for IngestMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IngestMode::Create => "create",
            IngestMode::Append => "append",
            IngestMode::Replace => "replace",
        })
    }
}

/// Stages a create or replace; for an append, returns the INSERT plan to run.
pub(super) async fn plan(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: PondPath,
    mode: IngestMode,
    rows: Arc<dyn TableProvider>,
) -> Result<Option<LogicalPlan>> {
    let schema = stored_columns(&rows.schema());
    let source =
        LogicalPlanBuilder::scan("client_input", provider_as_source(rows), None)?.build()?;
    let create_mode = match mode {
        IngestMode::Append => {
            insert::check_target(pond, &path)?;
            let fitted = insert::fit(ctx, path, &[], source).await?;
            let plan = LogicalPlanBuilder::insert_into(
                fitted.rows,
                fitted.reference,
                provider_as_source(fitted.provider),
                InsertOp::Append,
            )?
            .build()?;
            return Ok(Some(plan));
        }
        IngestMode::Create => CreateMode::Fail,
        IngestMode::Replace => CreateMode::Replace,
    };
    ddl::create_table_from(ctx, pond, path, create_mode, schema, source).await?;
    Ok(None)
}
