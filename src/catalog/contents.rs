//! Rows written as one table content: an INSERT's, a correction's, a
//! refresh's. The writer works on the blocking pool; the content lands in
//! the pond's store, to be staged by the caller.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::exec_datafusion_err;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use futures::StreamExt;

use super::session_pond::{external, SessionPond};
use crate::storage::content::ContentWriter;
use crate::storage::{Content, PondPath, StorageError};

/// Streams batches into a new content, conforming each to `schema`.
pub(crate) async fn write_content(
    pond: &SessionPond,
    schema: SchemaRef,
    time_column: Option<&str>,
    mut data: SendableRecordBatchStream,
) -> Result<Option<Content>> {
    // The writer does file IO (std::fs, the sync Parquet writer): it runs on
    // the blocking pool, so the runtime's threads keep serving other tasks.
    let (spool, name) = (pond.pond().spool_dir(), pond.pond().location().display());
    let (file_schema, time_column) = (schema.clone(), time_column.map(str::to_string));
    let mut writer =
        blocking(move || ContentWriter::new(&spool, &name, file_schema, time_column.as_deref()))
            .await?;
    while let Some(batch) = data.next().await {
        let batch = batch?;
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        let (rows, bytes) = (batch.num_rows(), batch.get_array_memory_size());
        writer = blocking(move || writer.write(&batch).map(|()| writer)).await?;
        pond.progress().add(rows, bytes);
    }
    match blocking(move || writer.finish()).await? {
        Some(written) => Ok(Some(pond.pond().land(written).await.map_err(external)?)),
        None => Ok(None),
    }
}

/// Runs storage work that blocks on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| exec_datafusion_err!("writing a table content: {e}"))?
        .map_err(external)
}

/// Runs a view's query into a content of the view's columns, cast exactly
/// to the types they are stored in.
pub(crate) async fn run_to_content(
    ctx: &SessionContext,
    pond: &SessionPond,
    path: &PondPath,
    schema: &SchemaRef,
    plan: LogicalPlan,
) -> Result<Option<Content>> {
    let plan =
        crate::values::exact_cast::fit_to(plan, schema, &format!("materialized view {path}"))?;
    let stream = ctx
        .execute_logical_plan(plan)
        .await?
        .execute_stream()
        .await?;
    write_content(
        pond,
        schema.clone(),
        crate::storage::content::time_column(schema).as_deref(),
        stream,
    )
    .await
}
