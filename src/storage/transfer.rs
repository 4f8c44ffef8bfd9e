//! Copying objects between two locations (a pond and its backup), each
//! object streamed, hashed on the way, and read back from the destination
//! to prove it arrived whole. Used by BACKUP and RESTORE.
//!
//! Never holds a whole object in memory: parts of [`PART`] bytes go out as
//! a multipart upload, a few in flight.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::durable;
use super::error::{Result, StorageError};
use super::location::Location;

/// Upload part size; objects up to it go in one PUT.
const PART: usize = 8 << 20;

/// What an object must hash to, when its name says (blobs, oplog data files).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expected<'a> {
    Sha256(&'a str),
    /// Whatever the source holds (Delta log files): the copy must match it.
    AsSource,
}

/// Counts what a transfer moved, for progress and the report. Shared
/// with whoever shows progress (lock-free).
#[derive(Debug, Default)]
pub struct Moved {
    objects: AtomicU64,
    bytes: AtomicU64,
    /// What the run has to look at, and what of it was already there.
    planned_objects: AtomicU64,
    planned_bytes: AtomicU64,
    skipped_bytes: AtomicU64,
}

impl Moved {
    /// (objects, bytes) sent so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.objects.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Bytes sent and bytes still to send (0 until planned).
    pub fn bytes_and_remaining(&self) -> (u64, u64) {
        let sent = self.bytes.load(Ordering::Relaxed);
        let done = sent + self.skipped_bytes.load(Ordering::Relaxed);
        let planned = self.planned_bytes.load(Ordering::Relaxed);
        (sent, planned.saturating_sub(done))
    }

    /// Objects planned.
    pub fn planned_objects(&self) -> u64 {
        self.planned_objects.load(Ordering::Relaxed)
    }

    pub(crate) fn plan(&self, sizes: impl Iterator<Item = u64>) {
        for size in sizes {
            self.planned_objects.fetch_add(1, Ordering::Relaxed);
            self.planned_bytes.fetch_add(size, Ordering::Relaxed);
        }
    }

    pub(crate) fn skip(&self, size: u64) {
        self.skipped_bytes.fetch_add(size, Ordering::Relaxed);
    }
}

/// Reads an object and returns its sha256 (hex) and size; `None` when it
/// does not exist. Reads ranges of [`PART`] bytes, a few in flight, and
/// hashes them on the blocking pool. (A streamed GET of a local file comes
/// in 8 KiB chunks, each its own hop to the blocking pool: 40 ms for a
/// 4.5 MB blob, most of a one-day query's time, docs/benchmarks.md.)
pub(crate) async fn hash_object(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<(String, u64)>> {
    let size = match store.head(path).await {
        Ok(meta) => meta.size,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let ranges = (0..size)
        .step_by(PART)
        .map(|start| start..(start + PART as u64).min(size));
    let mut parts = futures::stream::iter(ranges)
        .map(|range| store.get_range(path, range))
        .buffered(4);
    let mut hasher = Sha256::new();
    while let Some(part) = parts.next().await {
        let part = part?;
        hasher = tokio::task::spawn_blocking(move || {
            hasher.update(&part);
            hasher
        })
        .await
        .map_err(|e| StorageError::Invalid(format!("hashing {path}: {e}")))?;
    }
    Ok(Some((hex::encode(hasher.finalize()), size)))
}

/// Copies `path` from `from` to the same path in `to`, then reads the copy
/// back and checks its hash. A source that does not hash to what its name
/// says is an error naming it, and nothing is written for it.
pub(crate) async fn copy_verified(
    from: &Location,
    to: &Location,
    path: &str,
    expected: Expected<'_>,
    moved: &Moved,
) -> Result<()> {
    let object = Path::from(path);
    let stream = match from.store().get(&object).await {
        Ok(got) => got.into_stream(),
        Err(object_store::Error::NotFound { .. }) => {
            return Err(StorageError::Invalid(format!(
                "{path} is missing from {} (deleted outside pondsql?): it cannot be copied; CHECK there lists everything missing",
                from.display()
            )))
        }
        Err(err) => return Err(err.into()),
    };
    let (found, size) = put_stream(to.store().as_ref(), &object, stream, |found| {
        match expected {
            Expected::Sha256(want) if found != want => Err(StorageError::Invalid(format!(
                "{path} in {} is damaged: its bytes hash to sha256 {found}, not to the one its name says; it was not copied (CHECK there lists all such damage)",
                from.display()
            ))),
            _ => Ok(()),
        }
    })
    .await?;
    if let Some(dir) = to.local_dir() {
        durable::sync_new_file(&dir.join(path)).await?;
    }
    match hash_object(to.store().as_ref(), &object).await? {
        Some((copied, copied_size)) if copied == found && copied_size == size => {}
        _ => {
            return Err(StorageError::Invalid(format!(
                "{path} did not arrive whole in {}: its copy does not hash to sha256 {found}; run it again",
                to.display()
            )))
        }
    }
    moved.objects.fetch_add(1, Ordering::Relaxed);
    moved.bytes.fetch_add(size, Ordering::Relaxed);
    Ok(())
}

/// Streams `chunks` to `path` in `store` while hashing them: one PUT up to
/// [`PART`] bytes, a multipart upload beyond, a few parts in flight. Once
/// all is read, `accept` sees the sha256 and may refuse: then nothing is
/// completed (the upload is aborted). Returns the sha256 and size sent.
pub(crate) async fn put_stream<E>(
    store: &dyn ObjectStore,
    path: &Path,
    mut chunks: impl Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    accept: impl FnOnce(&str) -> Result<()>,
) -> Result<(String, u64)>
where
    StorageError: From<E>,
{
    let mut hasher = Sha256::new();
    let mut first = Vec::new();
    let mut upload: Option<WriteMultipart> = None;
    let mut size = 0u64;
    let sent: Result<()> = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            match &mut upload {
                Some(upload) => {
                    upload.wait_for_capacity(4).await?;
                    upload.write(&chunk);
                }
                None if first.len() + chunk.len() <= PART => first.extend_from_slice(&chunk),
                None => {
                    let mut started =
                        WriteMultipart::new_with_chunk_size(store.put_multipart(path).await?, PART);
                    started.write(&first);
                    started.write(&chunk);
                    first = Vec::new();
                    upload = Some(started);
                }
            }
        }
        Ok(())
    }
    .await;
    let found = hex::encode(hasher.finalize());
    if let Err(err) = sent.and_then(|()| accept(&found)) {
        if let Some(upload) = upload {
            let _ = upload.abort().await;
        }
        return Err(err);
    }
    match upload {
        Some(upload) => {
            upload.finish().await?;
        }
        None => {
            store.put(path, PutPayload::from(first)).await?;
        }
    }
    Ok((found, size))
}

/// A local file's bytes as a stream of chunks (for [`put_stream`]).
pub(crate) async fn file_chunks(
    path: &std::path::Path,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Unpin> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    Ok(Box::pin(futures::stream::try_unfold(
        file,
        |mut file| async move {
            let mut buffer = vec![0; 1 << 20];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok(None);
            }
            buffer.truncate(read);
            Ok(Some((Bytes::from(buffer), file)))
        },
    )))
}

/// The size of `path` in `store`, `None` when it is absent.
pub(crate) async fn size_of(store: &dyn ObjectStore, path: &str) -> Result<Option<u64>> {
    match store.head(&Path::from(path)).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
