//! Planning a scan of table versions: skip versions by event time, add
//! constant columns (glob captures), and hand the rest to DataFusion's
//! Parquet reader over the content store.
//!
//! Shared by [`VersionsTable`](super::versions_table::VersionsTable) and `glob()`; owns the
//! rule that a version is skipped only when its recorded time range proves
//! that no row can pass the filters.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{pruning::PruningStatistics, Column, DFSchema, ScalarValue};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::Expr;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use super::typed_reads::TypedReads;
use crate::storage::content::{self, ContentStore};
use crate::storage::event_time::from_micros;
use crate::storage::{Metrics, NodeVersion};

/// The URL under which each session registers the pond's content store.
pub(crate) const CONTENT_STORE_URL: &str = "pond://content/";

/// One table version to read, with the values of the constant columns.
pub(crate) struct ScanFile {
    pub version: Arc<NodeVersion>,
    pub constants: Vec<ScalarValue>,
}

/// A scan of table versions, before pruning.
pub(crate) struct VersionScan<'a> {
    /// The columns stored in the versions' Parquet contents.
    pub file_schema: SchemaRef,
    /// Columns with one value per version (glob captures), after the stored ones.
    pub constant_fields: Vec<FieldRef>,
    pub files: Vec<ScanFile>,
    pub metrics: &'a Metrics,
    /// Told the block checksums of the blobs the scan reads.
    pub contents: &'a ContentStore,
}

impl VersionScan<'_> {
    /// Stored columns, then constant columns.
    pub(crate) fn table_schema(file_schema: &SchemaRef, constant_fields: &[FieldRef]) -> SchemaRef {
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.extend(constant_fields.iter().cloned());
        Arc::new(Schema::new(fields))
    }

    pub(crate) async fn plan(
        self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = Self::table_schema(&self.file_schema, &self.constant_fields);
        let files: Vec<ScanFile> = self
            .files
            .into_iter()
            .filter(|f| content::object_path(&f.version).is_some())
            .collect();
        let listed = files.len();
        let files = skip_by_time(state, &schema, files, filters)?;
        Metrics::add(&self.metrics.scans, 1);
        Metrics::add(&self.metrics.versions_listed, listed as u64);
        Metrics::add(
            &self.metrics.versions_skipped_by_time,
            (listed - files.len()) as u64,
        );
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(schema.project(p)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let partitioned: Vec<PartitionedFile> = files
            .into_iter()
            .filter_map(|f| {
                let path = content::object_path(&f.version)?;
                self.contents.know_blocks(&f.version);
                Some(
                    PartitionedFile::new(path.to_string(), f.version.size as u64)
                        .with_partition_values(f.constants),
                )
            })
            .collect();
        let target = state.config().target_partitions().max(1);
        let groups = FileGroup::new(partitioned).split_files(target);
        let options = state.table_options().parquet.clone();
        let table_schema = TableSchema::builder(self.file_schema)
            .with_table_partition_cols(self.constant_fields)
            .build();
        // As ParquetFormat plans a scan, but with readers that keep a
        // failed footer fetch's type (typed_reads.rs).
        let url = ObjectStoreUrl::parse(CONTENT_STORE_URL)?;
        let store = state.runtime_env().object_store(&url)?;
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let mut source = ParquetSource::new(table_schema)
            .with_table_parquet_options(options.clone())
            .with_parquet_file_reader_factory(Arc::new(TypedReads::new(store, cache)));
        if let Some(hint) = options.global.metadata_size_hint {
            source = source.with_metadata_size_hint(hint);
        }
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// Drops the versions whose event-time range (and constant values) prove
/// that no row passes `filters`. Filters it cannot use keep every version.
fn skip_by_time(
    state: &dyn Session,
    schema: &SchemaRef,
    files: Vec<ScanFile>,
    filters: &[Expr],
) -> Result<Vec<ScanFile>> {
    let Some(filter) = conjunction(filters.iter().cloned()) else {
        return Ok(files);
    };
    if files.is_empty() {
        return Ok(files);
    }
    let df_schema = DFSchema::try_from(schema.clone())?;
    let Ok(physical) = state.create_physical_expr(filter, &df_schema) else {
        return Ok(files);
    };
    let Some(predicate) = PruningPredicateBuilder::new()
        .with_file_schema(schema.clone())
        .build(physical)
    else {
        return Ok(files);
    };
    let statistics = VersionStatistics::new(schema, &files)?;
    let keep = predicate.prune(&statistics)?;
    Ok(files
        .into_iter()
        .zip(keep)
        .filter_map(|(f, keep)| keep.then_some(f))
        .collect())
}

/// Per-version statistics for pruning: the recorded event-time range of the
/// version's time column, constant columns as min = max, and row counts.
struct VersionStatistics {
    min: HashMap<String, ArrayRef>,
    max: HashMap<String, ArrayRef>,
    rows: ArrayRef,
    count: usize,
}

impl VersionStatistics {
    fn new(schema: &SchemaRef, files: &[ScanFile]) -> Result<Self> {
        let (mut min, mut max) = (HashMap::new(), HashMap::new());
        // `files` is not empty: prune() returns before it builds statistics.
        let stored = schema.fields().len() - files[0].constants.len();
        for (i, field) in schema.fields().iter().enumerate() {
            if i >= stored {
                let values = files.iter().map(|f| f.constants[i - stored].clone());
                let array = ScalarValue::iter_to_array(values)?;
                min.insert(field.name().clone(), array.clone());
                max.insert(field.name().clone(), array);
                continue;
            }
            let DataType::Timestamp(unit, _) = field.data_type() else {
                continue;
            };
            let bound = |f: &ScanFile, round_up: bool| {
                let v = &f.version;
                let recorded = if round_up { v.max_time } else { v.min_time };
                (v.attrs.time_column.as_deref() == Some(field.name().as_str()))
                    .then_some(recorded)
                    .flatten()
                    .map(|micros| from_micros(micros, *unit, round_up))
            };
            if files.iter().all(|f| bound(f, false).is_none()) {
                continue;
            }
            let lows: Int64Array = files.iter().map(|f| bound(f, false)).collect();
            let highs: Int64Array = files.iter().map(|f| bound(f, true)).collect();
            min.insert(field.name().clone(), cast(&lows, field.data_type())?);
            max.insert(field.name().clone(), cast(&highs, field.data_type())?);
        }
        let rows: UInt64Array = files
            .iter()
            .map(|f| f.version.rows.map(|r| r as u64))
            .collect();
        Ok(VersionStatistics {
            min,
            max,
            rows: Arc::new(rows),
            count: files.len(),
        })
    }
}

impl PruningStatistics for VersionStatistics {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.min.get(column.name()).cloned()
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.max.get(column.name()).cloned()
    }

    fn num_containers(&self) -> usize {
        self.count
    }

    fn null_counts(&self, _column: &Column) -> Option<ArrayRef> {
        None
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(self.rows.clone())
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}
