//! Pond tables as DataFusion tables: scans through DataFusion's Parquet reader
//! over the content store, and INSERT through a [`DataSink`] that stages a
//! new table version.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{exec_datafusion_err, plan_err, ScalarValue};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;

use super::correction::{Correction, CorrectionExec};
use super::lineage::{Lineage, Read};
use super::scan::{ScanFile, VersionScan};
use super::session_pond::{external, SessionPond};
use super::view::session_state;
use crate::storage::content::ContentWriter;
use crate::storage::event_time::stored_type;
use crate::storage::{Change, Kind, NodeId, NodeVersion, PondPath, StorageError};

/// One pond table, as resolved when a statement was planned.
#[derive(Debug)]
pub(crate) struct PondTable {
    pond: Arc<SessionPond>,
    path: PondPath,
    /// Its node, for stored queries that track what they read.
    node: Option<NodeId>,
    schema: SchemaRef,
    /// The live versions (newest base onwards) at planning time.
    versions: Vec<Arc<NodeVersion>>,
    /// Add [`VERSION_COLUMN`]: the version each row is stored in.
    version_column: bool,
}

/// The column [`PondTable::with_version_column`] adds.
pub(crate) const VERSION_COLUMN: &str = "__pond_version";

impl PondTable {
    pub(crate) fn new(
        pond: Arc<SessionPond>,
        path: PondPath,
        schema: SchemaRef,
        versions: Vec<Arc<NodeVersion>>,
    ) -> Self {
        PondTable {
            pond,
            path,
            node: None,
            schema,
            versions,
            version_column: false,
        }
    }

    /// Adds a column with the version number each row is stored in.
    pub(crate) fn with_version_column(mut self) -> Self {
        self.version_column = true;
        self
    }

    pub(crate) fn of_node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    pub(crate) fn path(&self) -> &PondPath {
        &self.path
    }

    pub(crate) fn node(&self) -> Option<&NodeId> {
        self.node.as_ref()
    }
}

#[async_trait]
impl TableProvider for PondTable {
    fn schema(&self) -> SchemaRef {
        VersionScan::table_schema(&self.schema, &self.constant_fields())
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = self
            .versions
            .iter()
            .map(|v| ScanFile {
                version: v.clone(),
                constants: if self.version_column {
                    vec![ScalarValue::Int64(Some(v.version))]
                } else {
                    Vec::new()
                },
            })
            .collect();
        VersionScan {
            file_schema: self.schema.clone(),
            constant_fields: self.constant_fields(),
            files,
            metrics: self.pond.pond().metrics(),
            contents: self.pond.pond().content_store(),
        }
        .plan(state, projection, filters, limit)
        .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // DataFusion pushes them into the Parquet scan (statistics, row filters).
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.correction(state, Correction::Delete, filters)
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.correction(state, Correction::Update(assignments), filters)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let overwrite = match insert_op {
            InsertOp::Append => false,
            InsertOp::Overwrite => true,
            InsertOp::Replace => {
                return plan_err!(
                    "REPLACE INTO is not supported for {}: use INSERT INTO or INSERT OVERWRITE",
                    self.path
                )
            }
        };
        let sink = PondSink {
            pond: self.pond.clone(),
            path: self.path.clone(),
            schema: self.schema.clone(),
            overwrite,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

impl PondTable {
    fn constant_fields(&self) -> Vec<FieldRef> {
        if self.version_column {
            vec![Arc::new(Field::new(VERSION_COLUMN, DataType::Int64, false))]
        } else {
            Vec::new()
        }
    }

    /// A DELETE or UPDATE of this table: done when the plan runs (so
    /// EXPLAIN changes nothing), committed with the statement.
    fn correction(
        &self,
        state: &dyn Session,
        correction: Correction,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let kind = self.pond.view().resolve(&self.path).map(|r| r.kind());
        if kind == Some(Kind::MaterializedView) {
            return plan_err!(
                "{} is a materialized view: its rows come from its query; correct its sources, then REFRESH MATERIALIZED VIEW \"{}\"",
                self.path,
                self.path
            );
        }
        Ok(Arc::new(CorrectionExec::new(
            session_state(state)?.clone(),
            self.pond.clone(),
            self.path.clone(),
            self.schema.clone(),
            self.versions.clone(),
            correction,
            filters,
        )))
    }
}

/// Writes an INSERT's rows as one new content and stages the table version.
/// The commit happens when the statement ends (see `SessionPond`).
pub(crate) struct PondSink {
    pond: Arc<SessionPond>,
    path: PondPath,
    schema: SchemaRef,
    overwrite: bool,
}

impl fmt::Debug for PondSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PondSink({})", self.path)
    }
}

impl DisplayAs for PondSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.overwrite {
            "overwrite"
        } else {
            "append"
        };
        write!(f, "PondSink: {verb} {}", self.path)
    }
}

#[async_trait]
impl DataSink for PondSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let time_column = self
            .pond
            .view()
            .resolve(&self.path)
            .and_then(|r| r.latest.attrs.time_column.clone());
        let content = write_content(
            &self.pond,
            self.schema.clone(),
            time_column.as_deref(),
            data,
        )
        .await?;
        let rows = content.as_ref().map_or(0, |c| c.rows) as u64;
        self.pond.stage(Change::WriteTable {
            path: self.path.clone(),
            content,
            overwrite: self.overwrite,
        })?;
        Ok(rows)
    }
}

/// Declared columns (a column list) as a table stores them: in their stored
/// types (timestamps in microseconds, see [`stored_type`]), nullability as declared.
pub(crate) fn declared_columns(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(stored_type(f.data_type()))
            })
            .collect::<Vec<_>>(),
    ))
}

/// A query's columns as a table stores them: in their stored types and open
/// to NULLs, whatever the first rows happened to hold (later rows may have
/// them, as in DuckDB).
pub(crate) fn stored_columns(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        declared_columns(schema)
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// Refuses columns a table cannot keep: none at all (an empty file), or a
/// column without a type (only NULLs, as a CSV with a header and no rows gives).
pub(crate) fn check_storable(path: &PondPath, schema: &Schema) -> Result<()> {
    if schema.fields().is_empty() {
        return plan_err!("{path}: the query gives no columns (an empty file?): a table needs at least one column");
    }
    if let Some(field) = schema.fields().iter().find(|f| f.data_type().is_null()) {
        let name = field.name();
        return plan_err!(
            "{path}: column '{name}' has no type (its source gives only NULLs, e.g. a CSV with a header and no rows): cast it, e.g. CAST(\"{name}\" AS DOUBLE), or create the table with a column list"
        );
    }
    Ok(())
}

/// Streams batches into a new content, conforming each to `schema`.
pub(crate) async fn write_content(
    pond: &SessionPond,
    schema: SchemaRef,
    time_column: Option<&str>,
    mut data: SendableRecordBatchStream,
) -> Result<Option<crate::storage::Content>> {
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
    ctx: &datafusion::execution::context::SessionContext,
    pond: &SessionPond,
    path: &PondPath,
    schema: &SchemaRef,
    plan: datafusion::logical_expr::LogicalPlan,
) -> Result<Option<crate::storage::Content>> {
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

/// A table reads its own node (none before its first commit).
impl Lineage for PondTable {
    fn reads(&self) -> Vec<Read> {
        let node = self.node().cloned();
        node.map(|id| Read::Node(id, self.path().to_string()))
            .into_iter()
            .collect()
    }
}
