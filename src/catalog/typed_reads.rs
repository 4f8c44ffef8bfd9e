//! Parquet readers over the content store that keep a failure's type.
//!
//! DataFusion's reader turns a failed footer fetch into text
//! (`ParquetError::General("Failed to fetch metadata for file …: …")`), so
//! a missing or corrupt blob met there would lose its kind (DATA_LOSS,
//! exit 3) and reach the user with three libraries' prefixes. When the
//! metadata cannot be read, the reader here asks the store for the file's
//! last bytes once more: a store failure comes back typed (the pond's own
//! error inside), anything else as DataFusion said it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::error::Result;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// DataFusion's caching reader factory, with typed metadata failures.
#[derive(Debug)]
pub(crate) struct TypedReads {
    store: Arc<dyn ObjectStore>,
    inner: CachedParquetFileReaderFactory,
}

impl TypedReads {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, cache: Arc<FileMetadataCache>) -> Self {
        TypedReads {
            inner: CachedParquetFileReaderFactory::new(store.clone(), cache),
            store,
        }
    }
}

impl ParquetFileReaderFactory for TypedReads {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let location = file.object_meta.location.clone();
        let size = file.object_meta.size;
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(TypedReader {
            inner,
            store: self.store.clone(),
            location,
            size,
        }))
    }
}

struct TypedReader {
    inner: Box<dyn AsyncFileReader + Send>,
    store: Arc<dyn ObjectStore>,
    location: Path,
    size: u64,
}

impl AsyncFileReader for TypedReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let failed = match self.inner.get_metadata(options).await {
                Ok(metadata) => return Ok(metadata),
                Err(err) => err,
            };
            // The footer's last bytes: the block a fetch of the footer reads last.
            let tail = self.size.saturating_sub(8)..self.size;
            match self.store.get_range(&self.location, tail).await {
                Err(typed) => Err(ParquetError::External(Box::new(typed))),
                Ok(_) => Err(failed),
            }
        }
        .boxed()
    }
}
