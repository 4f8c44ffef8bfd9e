//! The grace a commit in flight has against VACUUM, which runs beside
//! writers in other processes: files younger than [`IN_FLIGHT_GRACE`] are
//! never taken, and a writer renews a staged blob older than half of it
//! before committing ([`protect_staged_blob`]). The writer (pond.rs) and
//! VACUUM (vacuum.rs) both follow these rules from here.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::error::{Result, StorageError};
use super::location::Location;

/// Unreferenced files younger than this are kept whatever `RETAIN` says:
/// they may belong to a statement or `BEGIN` block that has not committed yet.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(3600);

/// Runs blocking file work on the blocking pool, off the async runtime.
pub(super) async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
}

/// Renews the mtime of a staged blob that is older than half the grace, so
/// that a VACUUM cannot take it before the commit that references it
/// lands. Fails when the blob is gone (a VACUUM took it while the
/// transaction was open): nothing may commit a reference to it.
pub(crate) async fn protect_staged_blob(
    location: &Location,
    checksum: &str,
    now: SystemTime,
) -> Result<()> {
    let Some(root) = location.local_dir() else {
        return protect_staged_object(location.store().as_ref(), checksum, now).await;
    };
    let root = root.to_path_buf();
    let checksum = checksum.to_string();
    off_runtime(move || protect_staged_file(&root, &checksum, now)).await
}

/// [`protect_staged_blob`] on an object store, which cannot touch an
/// object: a blob is renewed by copying it aside and back (server-side).
async fn protect_staged_object(
    store: &dyn ObjectStore,
    checksum: &str,
    now: SystemTime,
) -> Result<()> {
    let path = ObjectPath::from(format!("blobs/{checksum}"));
    let meta = match store.head(&path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(StorageError::StagedContentGone(format!("blobs/{checksum}")))
        }
        Err(e) => return Err(e.into()),
    };
    let modified = SystemTime::from(meta.last_modified);
    if now.duration_since(modified).unwrap_or_default() > IN_FLIGHT_GRACE / 2 {
        let aside = ObjectPath::from(format!(
            "blobs/.tmp/{}.renew",
            uuid::Uuid::new_v4().simple()
        ));
        store.copy(&path, &aside).await?;
        let renewed = store.copy(&aside, &path).await;
        let _ = store.delete(&aside).await;
        renewed?;
    }
    Ok(())
}

fn protect_staged_file(root: &Path, checksum: &str, now: SystemTime) -> Result<()> {
    let path = root.join("blobs").join(checksum);
    let file = match fs::File::options().write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(StorageError::StagedContentGone(format!("blobs/{checksum}")))
        }
        Err(e) => return Err(e.into()),
    };
    let modified = file.metadata()?.modified()?;
    if now.duration_since(modified).unwrap_or_default() > IN_FLIGHT_GRACE / 2 {
        file.set_modified(now)?;
    }
    Ok(())
}
