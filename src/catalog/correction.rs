//! DELETE and UPDATE of a pond table (DataFusion's `delete_from` and
//! `update`): the live versions that hold a matching row, and those between
//! them, are rewritten as one new version that hides them
//! (`Change::Rewrite`); every other version stays as it is. History and
//! `pond.as_of` still read the old versions.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{plan_err, Column, DFSchema, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{lit, when, Expr};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use super::contents::write_content;
use super::session_pond::SessionPond;
use super::versions_table::{VersionsTable, VERSION_COLUMN};
use crate::storage::{Change, NodeVersion, PondPath};
use crate::values::exact_cast::exact_cast;

/// What a correction does to the rows that match its filters.
#[derive(Debug, Clone)]
pub(crate) enum Correction {
    Delete,
    /// `SET column = expr, …`
    Update(Vec<(String, Expr)>),
}

impl Correction {
    fn verb(&self) -> &'static str {
        match self {
            Correction::Delete => "DELETE FROM",
            Correction::Update(_) => "UPDATE",
        }
    }
}

/// Runs one correction when executed; yields one row, `count`: the rows
/// deleted or updated.
pub(crate) struct CorrectionExec {
    run: Run,
    properties: Arc<PlanProperties>,
}

impl CorrectionExec {
    /// The correction of `path`'s live `versions`, on the rows `filters` select.
    pub(crate) fn new(
        state: SessionState,
        pond: Arc<SessionPond>,
        path: PondPath,
        schema: SchemaRef,
        versions: Vec<Arc<NodeVersion>>,
        correction: Correction,
        filters: Vec<Expr>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        let predicate = conjunction(filters).unwrap_or_else(|| lit(true));
        let run = Run {
            ctx: SessionContext::new_with_state(state),
            pond,
            path,
            schema,
            versions,
            correction,
            selection: Selection::Predicate(predicate),
        };
        CorrectionExec { run, properties }
    }
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// A correction to run: what it changes and the rows it selects.
#[derive(Clone)]
struct Run {
    ctx: SessionContext,
    pond: Arc<SessionPond>,
    path: PondPath,
    schema: SchemaRef,
    versions: Vec<Arc<NodeVersion>>,
    correction: Correction,
    selection: Selection,
}

/// Which rows a correction applies to.
#[derive(Clone)]
pub(crate) enum Selection {
    /// Those for which the predicate is true.
    Predicate(Expr),
    /// Those whose `columns` equal a row of `keys` (which has those columns):
    /// the rows an upsert replaces.
    Keys {
        columns: Vec<String>,
        keys: DataFrame,
    },
}

impl Selection {
    /// `frame`'s rows that are selected, or with `keep`, those that are not.
    fn apply(&self, frame: DataFrame, keep: bool) -> Result<DataFrame> {
        match self {
            Selection::Predicate(predicate) if keep => {
                frame.filter(predicate.clone().is_not_true())
            }
            Selection::Predicate(predicate) => frame.filter(predicate.clone()),
            Selection::Keys { columns, keys } => {
                let renamed: Vec<String> = (0..columns.len())
                    .map(|i| format!("__pond_key_{i}"))
                    .collect();
                let keys = keys.clone().select(
                    columns
                        .iter()
                        .zip(&renamed)
                        .map(|(c, r)| column(c).alias(r))
                        .collect::<Vec<_>>(),
                )?;
                let join = if keep {
                    JoinType::LeftAnti
                } else {
                    JoinType::LeftSemi
                };
                join_on_keys(frame, keys, join, columns, &renamed)
            }
        }
    }
}

/// `left` joined to `right` where each `left_keys` column equals the
/// `right_keys` column at its position. Names are taken as written (a
/// join by name strings would fold `Zeit` to `zeit`).
pub(crate) fn join_on_keys(
    left: DataFrame,
    right: DataFrame,
    join: JoinType,
    left_keys: &[String],
    right_keys: &[String],
) -> Result<DataFrame> {
    let on = left_keys
        .iter()
        .zip(right_keys)
        .map(|(l, r)| column(l).eq(column(r)))
        .collect::<Vec<_>>();
    left.join_on(right, join, on)
}

/// Deletes the rows of table `path` whose `columns` equal a row of `keys`
/// (staged with the statement); returns how many.
pub(crate) async fn delete_keys(
    ctx: &SessionContext,
    pond: &Arc<SessionPond>,
    path: &PondPath,
    schema: SchemaRef,
    columns: Vec<String>,
    keys: DataFrame,
) -> Result<u64> {
    let view = pond.view();
    let Some(table) = view.resolve(path) else {
        return plan_err!("table {path} does not exist");
    };
    Run {
        ctx: ctx.clone(),
        pond: pond.clone(),
        path: path.clone(),
        schema,
        versions: view.live_versions(table.id()),
        correction: Correction::Delete,
        selection: Selection::Keys { columns, keys },
    }
    .go()
    .await
}

impl Run {
    async fn go(self) -> Result<u64> {
        let table = |versions: Vec<Arc<NodeVersion>>| {
            VersionsTable::new(self.pond.clone(), self.schema.clone(), versions)
        };
        // Which versions hold a matching row (time filters skip the rest unopened).
        let matches = self
            .ctx
            .read_table(Arc::new(table(self.versions.clone()).with_version_column()))?;
        let matches = self
            .selection
            .apply(matches, false)?
            .aggregate(vec![column(VERSION_COLUMN)], vec![count(lit(1)).alias("n")])?
            .collect()
            .await?;
        let mut matched = 0u64;
        let mut range: Option<(i64, i64)> = None;
        for batch in &matches {
            let versions = batch.column(0).as_primitive::<Int64Type>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let v = versions.value(i);
                matched += counts.value(i) as u64;
                range = Some(range.map_or((v, v), |(a, b)| (a.min(v), b.max(v))));
            }
        }
        let Some((first, last)) = range else {
            return Ok(0);
        };
        let after = self
            .pond
            .view()
            .resolve(&self.path)
            .map_or(last, |r| r.latest.version);
        let in_range: Vec<_> = self
            .versions
            .iter()
            .filter(|v| (first..=last).contains(&v.version))
            .cloned()
            .collect();
        let frame = self.ctx.read_table(Arc::new(table(in_range)))?;
        let frame = match (&self.correction, &self.selection) {
            (Correction::Delete, selection) => selection.apply(frame, true)?,
            (Correction::Update(_), Selection::Keys { .. }) => {
                return plan_err!("{}: an UPDATE selects rows by a predicate", self.path)
            }
            (Correction::Update(assignments), Selection::Predicate(predicate)) => {
                let context = format!("UPDATE {}", self.path);
                let frame_schema: DFSchema = frame.schema().clone();
                let columns = self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let current = column(f.name());
                        let Some((_, value)) = assignments.iter().find(|(c, _)| c == f.name())
                        else {
                            return Ok(current);
                        };
                        // Fitted exactly when planned (sql/update.rs); NOT NULL here.
                        let value = exact_cast(
                            value.clone(),
                            f.data_type(),
                            !f.is_nullable(),
                            &context,
                            f.name(),
                            &frame_schema,
                        )?;
                        Ok(when(predicate.clone(), value)
                            .otherwise(current)?
                            .alias(f.name()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                frame.select(columns)?
            }
        };
        let time_column = self
            .pond
            .view()
            .resolve(&self.path)
            .and_then(|r| r.latest.attrs.time_column.clone());
        let stream = frame.execute_stream().await?;
        let content = write_content(
            &self.pond,
            self.schema.clone(),
            time_column.as_deref(),
            stream,
        )
        .await?;
        self.pond.stage(Change::Rewrite {
            path: self.path.clone(),
            after,
            first,
            last,
            content,
        })?;
        Ok(matched)
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl fmt::Debug for CorrectionExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CorrectionExec({} {})",
            self.run.correction.verb(),
            self.run.path
        )
    }
}

impl DisplayAs for CorrectionExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CorrectionExec: {} {}",
            self.run.correction.verb(),
            self.run.path
        )?;
        match &self.run.selection {
            Selection::Predicate(predicate) if *predicate != lit(true) => {
                write!(f, " WHERE {predicate}")?
            }
            _ => {}
        }
        Ok(())
    }
}

impl ExecutionPlan for CorrectionExec {
    fn name(&self) -> &str {
        "CorrectionExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue) // its filters are logical: it plans its own scans
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let run = self.run.clone();
        let schema = count_schema();
        let out = schema.clone();
        let batch = futures::stream::once(async move {
            let n = run.go().await?;
            Ok(RecordBatch::try_new(
                out,
                vec![Arc::new(UInt64Array::from(vec![n]))],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batch)))
    }
}
