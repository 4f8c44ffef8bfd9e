//! The rows of chosen versions of one table, read through DataFusion's
//! Parquet reader over the content store (scan.rs): what a table scan, a
//! correction and an incremental refresh read.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::scan::{ScanFile, VersionScan};
use super::session_pond::SessionPond;
use crate::storage::NodeVersion;

/// The column [`VersionsTable::with_version_column`] adds.
pub(crate) const VERSION_COLUMN: &str = "__pond_version";

/// Chosen versions of one table, read-only.
#[derive(Debug)]
pub(crate) struct VersionsTable {
    pond: Arc<SessionPond>,
    /// The columns as stored.
    schema: SchemaRef,
    versions: Vec<Arc<NodeVersion>>,
    /// Add [`VERSION_COLUMN`]: the version each row is stored in.
    version_column: bool,
}

impl VersionsTable {
    pub(crate) fn new(
        pond: Arc<SessionPond>,
        schema: SchemaRef,
        versions: Vec<Arc<NodeVersion>>,
    ) -> Self {
        VersionsTable {
            pond,
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

    /// The columns as stored (without the version column).
    pub(crate) fn file_schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn versions(&self) -> &[Arc<NodeVersion>] {
        &self.versions
    }

    fn constant_fields(&self) -> Vec<FieldRef> {
        if self.version_column {
            vec![Arc::new(Field::new(VERSION_COLUMN, DataType::Int64, false))]
        } else {
            Vec::new()
        }
    }
}

#[async_trait]
impl TableProvider for VersionsTable {
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
}
