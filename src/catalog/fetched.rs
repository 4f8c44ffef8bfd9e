//! The rows one call of an API table function fetched
//! (`hydrovu_readings(…)`): a table DataFusion scans, and that a
//! materialized view's refresh recognises (it refuses to re-run a fetch
//! inside a larger view: collect into a view of its own instead).

use std::sync::Arc;

use super::lineage::{Lineage, Read};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug)]
pub(crate) struct FetchedTable {
    function: &'static str,
    rows: MemTable,
}

impl FetchedTable {
    pub(crate) fn new(function: &'static str, batch: RecordBatch) -> Result<Self> {
        let rows = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(FetchedTable { function, rows })
    }

    /// The function that fetched it (`hydrovu_readings`).
    pub(crate) fn function(&self) -> &'static str {
        self.function
    }
}

#[async_trait]
impl TableProvider for FetchedTable {
    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rows.scan(state, projection, filters, limit).await
    }
}

/// Rows an API call fetched: nothing in the pond to track.
impl Lineage for FetchedTable {
    fn reads(&self) -> Vec<Read> {
        vec![Read::ApiCall(self.function().to_string())]
    }
}
