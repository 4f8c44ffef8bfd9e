//! Scans of wide files in batches of fewer rows.
//!
//! A CSV reader holds a batch's cells for every column at once: at
//! DataFusion's 8,192 rows, a file of 10,000 columns took 1.4 GB to read
//! 3 rows. [`NarrowBatches`] scans its table with as many rows per batch as
//! keep a batch near [`CELLS_PER_BATCH`] cells, so memory follows the data.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// How many cells (rows × columns) a batch of a wide file holds at most:
/// 8,192 rows of 64 columns.
const CELLS_PER_BATCH: usize = 8192 * 64;

/// `inner`, scanned in batches of at most [`CELLS_PER_BATCH`] cells.
#[derive(Debug)]
pub(crate) struct NarrowBatches {
    inner: Arc<dyn TableProvider>,
}

impl NarrowBatches {
    /// `inner` as it is when its rows are narrow enough; else wrapped.
    pub(crate) fn wrap(inner: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        if inner.schema().fields().len() <= CELLS_PER_BATCH / 8192 {
            return inner;
        }
        Arc::new(NarrowBatches { inner })
    }
}

#[async_trait::async_trait]
impl TableProvider for NarrowBatches {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        let columns = self.inner.schema().fields().len().max(1);
        let rows = (CELLS_PER_BATCH / columns).clamp(1, state.config().batch_size());
        // The file scan takes its batch size from the task's config when
        // it runs, unless its own config names one: name it.
        plan.transform_down(|node| {
            let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
            else {
                return Ok(Transformed::no(node));
            };
            let narrow = FileScanConfigBuilder::from(config.clone())
                .with_batch_size(Some(rows))
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(narrow) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }
}
