//! The content store as DataFusion reads it: an [`ObjectStore`] that
//! serves contents by path (read-only; writes are refused).

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use super::*;

pub(super) fn to_store_error(err: StorageError) -> object_store::Error {
    match err {
        StorageError::ObjectStore(e) => e,
        other => object_store::Error::Generic {
            store: "pond",
            source: Box::new(other),
        },
    }
}

fn read_only(operation: &str) -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: operation.to_string(),
        implementer: "pond ContentStore".to_string(),
    }
}

#[async_trait]
impl ObjectStore for ContentStore {
    async fn put_opts(
        &self,
        _: &Path,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only("put_multipart"))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.resolve(location).await.map_err(to_store_error)? {
            Located::Blob(path) => {
                let mut result = self.root.get_opts(&path, options).await?;
                result.meta.location = location.clone();
                self.count_read(location, result.range.end - result.range.start);
                Ok(result)
            }
            Located::Blocks(sum, size, blocks) => {
                if options.head {
                    let mut result = self.root.get_opts(&blob_path(&sum), options).await?;
                    result.meta.location = location.clone();
                    return Ok(result);
                }
                let range = match options.range {
                    None => 0..size,
                    Some(r) => r.as_range(size).map_err(|e| object_store::Error::Generic {
                        store: "pond",
                        source: Box::new(e),
                    })?,
                };
                let bytes = self
                    .read_checked(&sum, size, &blocks, std::slice::from_ref(&range))
                    .await
                    .map_err(to_store_error)?
                    .pop()
                    .unwrap_or_default();
                self.count_read(location, bytes.len() as u64);
                Ok(GetResult {
                    payload: GetResultPayload::Stream(
                        stream::once(async move { Ok(bytes) }).boxed(),
                    ),
                    meta: ObjectMeta {
                        location: location.clone(),
                        last_modified: chrono::DateTime::UNIX_EPOCH,
                        size,
                        e_tag: None,
                        version: None,
                    },
                    range,
                    attributes: Default::default(),
                })
            }
            Located::Bytes(bytes) => {
                let len = bytes.len() as u64;
                let range = match options.range {
                    None => 0..len,
                    Some(r) => r.as_range(len).map_err(|e| object_store::Error::Generic {
                        store: "pond",
                        source: Box::new(e),
                    })?,
                };
                let slice = bytes.slice(range.start as usize..range.end as usize);
                self.count_read(location, slice.len() as u64);
                let meta = ObjectMeta {
                    location: location.clone(),
                    last_modified: chrono::DateTime::UNIX_EPOCH,
                    size: len,
                    e_tag: None,
                    version: None,
                };
                if options.head {
                    return Ok(GetResult {
                        payload: GetResultPayload::Stream(stream::empty().boxed()),
                        meta,
                        range,
                        attributes: Default::default(),
                    });
                }
                Ok(GetResult {
                    payload: GetResultPayload::Stream(
                        stream::once(async move { Ok(slice) }).boxed(),
                    ),
                    meta,
                    range,
                    attributes: Default::default(),
                })
            }
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let total = ranges.iter().map(|r| r.end - r.start).sum();
        self.count_read(location, total);
        match self.resolve(location).await.map_err(to_store_error)? {
            Located::Blob(path) => self.root.get_ranges(&path, ranges).await,
            Located::Blocks(sum, size, blocks) => self
                .read_checked(&sum, size, &blocks, ranges)
                .await
                .map_err(to_store_error),
            Located::Bytes(bytes) => ranges
                .iter()
                .map(|r| slice_checked(location, &bytes, r))
                .collect(),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(read_only("delete"))).boxed()
    }

    fn list(&self, _: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        stream::once(async { Err(read_only("list")) }).boxed()
    }

    async fn list_with_delimiter(&self, _: Option<&Path>) -> object_store::Result<ListResult> {
        Err(read_only("list_with_delimiter"))
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(read_only("copy"))
    }
}

/// `bytes[range]`, or an error naming the content when the range falls
/// outside it (the oplog recorded a size its content does not have).
pub(super) fn slice_checked(
    location: &Path,
    bytes: &Bytes,
    range: &Range<u64>,
) -> object_store::Result<Bytes> {
    let len = bytes.len() as u64;
    if range.start > range.end || range.end > len {
        return Err(object_store::Error::Generic {
            store: "pond content",
            source: format!(
                "content {location} holds {len} bytes but a read asked for bytes {}..{}: the oplog's recorded size does not match the content; the pond is damaged",
                range.start, range.end
            )
            .into(),
        });
    }
    // In bounds of a slice already in memory, so the casts cannot truncate.
    Ok(bytes.slice(range.start as usize..range.end as usize))
}
