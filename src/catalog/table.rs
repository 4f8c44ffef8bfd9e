//! Pond tables as DataFusion tables: their rows read as the versions a
//! statement sees (versions_table.rs), and the writes DataFusion plans on
//! them: INSERT through a [`DataSink`] that stages a new table version,
//! DELETE and UPDATE as corrections (correction.rs).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::plan_err;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};

use super::contents::write_content;
use super::correction::{Correction, CorrectionExec};
use super::lineage::{Lineage, Read};
use super::session_pond::SessionPond;
use super::versions_table::VersionsTable;
use super::view::session_state;
use crate::storage::event_time::stored_type;
use crate::storage::{Change, Kind, NodeId, NodeVersion, PondPath};

/// One pond table, as resolved when a statement was planned: its versions
/// to read, and the writes DataFusion plans on it (INSERT, DELETE, UPDATE).
#[derive(Debug)]
pub(crate) struct PondTable {
    pond: Arc<SessionPond>,
    path: PondPath,
    /// Its node, for stored queries that track what they read.
    node: Option<NodeId>,
    /// The live versions (newest base onwards) at planning time.
    versions: VersionsTable,
}

impl PondTable {
    pub(crate) fn new(
        pond: Arc<SessionPond>,
        path: PondPath,
        schema: SchemaRef,
        versions: Vec<Arc<NodeVersion>>,
    ) -> Self {
        PondTable {
            versions: VersionsTable::new(pond.clone(), schema, versions),
            pond,
            path,
            node: None,
        }
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
        self.versions.schema()
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
        self.versions.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.versions.supports_filters_pushdown(filters)
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
            schema: self.versions.file_schema().clone(),
            overwrite,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

impl PondTable {
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
            self.versions.file_schema().clone(),
            self.versions.versions().to_vec(),
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

/// A table reads its own node (none before its first commit).
impl Lineage for PondTable {
    fn reads(&self) -> Vec<Read> {
        let node = self.node().cloned();
        node.map(|id| Read::Node(id, self.path().to_string()))
            .into_iter()
            .collect()
    }
}
