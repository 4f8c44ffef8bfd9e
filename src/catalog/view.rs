//! Views stored in the pond: their SQL is planned in the reading session, so
//! a view sees the same `pond.as_of` and staged changes as the query using it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, Column};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;

use super::lineage::{Lineage, Read};
use super::open_first::plan_sql;
use crate::storage::{NodeId, PondPath};

#[derive(Debug)]
pub(crate) struct StoredView {
    path: PondPath,
    /// Its node: a materialized view over it notices a redefinition.
    node: NodeId,
    query: String,
    schema: SchemaRef,
}

impl StoredView {
    pub(crate) fn new(path: PondPath, node: NodeId, query: String, schema: SchemaRef) -> Self {
        StoredView {
            path,
            node,
            query,
            schema,
        }
    }

    pub(crate) fn path(&self) -> &PondPath {
        &self.path
    }

    pub(crate) fn node(&self) -> &NodeId {
        &self.node
    }

    pub(crate) fn query(&self) -> &str {
        &self.query
    }
}

#[async_trait]
impl TableProvider for StoredView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.query)
    }

    /// Every filter is applied on top of the view's plan, where the
    /// optimizer pushes it on towards the pond scans (as DataFusion's
    /// `ViewTable` does): a time filter on a view prunes its sources' versions.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = session_state(state)?;
        // Views being planned around this one, outermost first. A cycle
        // (stored before definitions were checked, or made by a rename) is
        // an error here instead of endless recursion.
        let mut chain = PLANNING_VIEWS.try_with(Clone::clone).unwrap_or_default();
        if chain.contains(&self.path) {
            let names: Vec<String> = chain.iter().map(ToString::to_string).collect();
            return plan_err!(
                "view {} reads itself ({} → {}): redefine one of them with CREATE OR REPLACE VIEW",
                self.path,
                names.join(" → "),
                self.path
            );
        }
        chain.push(self.path.clone());
        PLANNING_VIEWS
            .scope(chain, async {
                let plan = plan_sql(state, &self.query).await.map_err(|e| {
                    plan_datafusion_err!(
                        "view {} no longer plans: {e}; fix its sources or recreate it with CREATE OR REPLACE VIEW",
                        self.path
                    )
                })?;
                if !same_columns(plan.schema().as_arrow(), &self.schema) {
                    return plan_err!(
                        "view {} now gives different columns than when it was created: recreate it with CREATE OR REPLACE VIEW",
                        self.path
                    );
                }
                physical_plan(state, plan, filters, projection, limit).await
            })
            .await
    }
}

tokio::task_local! {
    /// The views whose scans are being planned in this task, outermost first.
    static PLANNING_VIEWS: Vec<PondPath>;
}

/// The full session behind a `dyn Session` (views plan SQL or logical plans in it).
pub(crate) fn session_state(state: &dyn Session) -> Result<&SessionState> {
    state
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| {
            DataFusionError::Internal("pond views need a DataFusion SessionState".into())
        })
}

/// The physical plan of a view's logical plan, with the scan's filters
/// (over the view's columns), projection and limit.
pub(crate) async fn physical_plan(
    state: &SessionState,
    plan: LogicalPlan,
    filters: &[Expr],
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut builder = LogicalPlanBuilder::from(plan);
    if let Some(filter) = conjunction(filters.iter().cloned()) {
        builder = builder.filter(filter)?;
    }
    if let Some(indices) = projection {
        let columns: Vec<Expr> = indices
            .iter()
            .map(|&i| Expr::Column(Column::from(builder.schema().qualified_field(i))))
            .collect();
        builder = builder.project(columns)?;
    }
    if let Some(n) = limit {
        builder = builder.limit(0, Some(n))?;
    }
    state.create_physical_plan(&builder.build()?).await
}

/// Does a planned schema give the same columns (names and types) as `expected`?
pub(crate) fn same_columns(planned: &Schema, expected: &Schema) -> bool {
    let columns = |s: &Schema| -> Vec<(String, DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    columns(planned) == columns(expected)
}

/// A view reads its own node (redefining it changes its rows) and what its
/// query reads.
impl Lineage for StoredView {
    fn reads(&self) -> Vec<Read> {
        vec![
            Read::Node(self.node().clone(), self.path().to_string()),
            Read::Query(self.query().to_string()),
        ]
    }
}
