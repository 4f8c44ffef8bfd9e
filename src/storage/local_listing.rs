//! The local file system as delta-rs lists the oplog's Delta log.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// `LocalFileSystem`, except that `list_with_offset` of a directory of
/// plain files (the Delta log) reads the directory's names once and asks
/// for the metadata of the names after the offset only.
///
/// object_store's own walks every entry with a `stat`: delta-rs lists the
/// log from the last checkpoint at each statement and commit, so that cost
/// O(commits) system calls each time, 12,000 `statx` per statement at
/// 10,000 transactions (docs/benchmarks.md, `commit@N`). Anything else (a
/// subdirectory, a name that is not plain) takes object_store's own walk.
/// Public for bench/'s delta-rs peer, which grows its table through it.
#[derive(Debug)]
pub struct LocalListing {
    inner: Arc<LocalFileSystem>,
}

impl LocalListing {
    pub fn new() -> Self {
        LocalListing {
            inner: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl Default for LocalListing {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for LocalListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalListing({})", self.inner)
    }
}

/// The names in `dir`, or `None` when one is a directory or not plain
/// (object_store would encode or skip it: leave those to its walk).
fn plain_file_names(dir: &PathBuf) -> std::io::Result<Option<Vec<String>>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let plain = entry.file_name().to_str().is_some_and(|name| {
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
        if !plain || entry.file_type()?.is_dir() {
            return Ok(None);
        }
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(Some(names))
}

#[async_trait]
impl ObjectStore for LocalListing {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (Some(prefix), store, offset) = (prefix.cloned(), self.inner.clone(), offset.clone())
        else {
            return self.inner.list_with_offset(prefix, offset);
        };
        let Ok(dir) = store.path_to_filesystem(&prefix) else {
            return self.inner.list_with_offset(Some(&prefix), &offset);
        };
        stream::once(async move {
            let names = tokio::task::spawn_blocking(move || plain_file_names(&dir)).await;
            let names = match names {
                Ok(Ok(Some(names))) => names,
                // A missing directory lists nothing, as object_store's walk does.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                _ => return store.list_with_offset(Some(&prefix), &offset),
            };
            let after: Vec<Path> = names
                .iter()
                .map(|name| prefix.clone().join(name.as_str()))
                .filter(|location| *location > offset)
                .collect();
            stream::iter(after)
                .then(move |location| {
                    let store = store.clone();
                    async move { store.head(&location).await }
                })
                // Removed since the directory was read (a log cleanup): not listed.
                .filter(|meta| {
                    std::future::ready(!matches!(meta, Err(object_store::Error::NotFound { .. })))
                })
                .boxed()
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn listed(store: &dyn ObjectStore, prefix: &Path, offset: &Path) -> Vec<(String, u64)> {
        let listed: Vec<ObjectMeta> = store
            .list_with_offset(Some(prefix), offset)
            .try_collect()
            .await
            .unwrap();
        let mut names: Vec<(String, u64)> = listed
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        names.sort();
        names
    }

    /// The same objects as object_store's walk, for a flat directory and
    /// for one with a subdirectory (which takes the walk).
    #[tokio::test]
    async fn lists_what_the_walk_lists_after_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("_delta_log");
        std::fs::create_dir(&log).unwrap();
        for v in 0..30 {
            std::fs::write(log.join(format!("{v:020}.json")), b"{}").unwrap();
        }
        std::fs::write(log.join("_last_checkpoint"), b"{}").unwrap();
        let prefix = Path::from_absolute_path(&log).unwrap();
        let offset = prefix.clone().join(format!("{:020}.json", 24).as_str());
        let ours = LocalListing::new();
        let walk = LocalFileSystem::new();
        let expected = listed(&walk, &prefix, &offset).await;
        assert_eq!(expected.len(), 6, "{expected:?}"); // 25..=29 and _last_checkpoint
        assert_eq!(listed(&ours, &prefix, &offset).await, expected);

        std::fs::create_dir(log.join("sub")).unwrap();
        std::fs::write(log.join("sub").join("x"), b"x").unwrap();
        assert_eq!(
            listed(&ours, &prefix, &offset).await,
            listed(&walk, &prefix, &offset).await
        );
    }
}
