//! Durability on a local disk: what must reach the disk before a commit is
//! acknowledged, so that a power loss keeps every acknowledged commit.
//!
//! The order (docs/storage.md, "Durability"): a commit's contents (blobs)
//! and oplog data files, with their directory entries, are synced before
//! the Delta commit file is written; the commit file and `_delta_log/` are
//! synced before the statement returns. So a commit file on disk never
//! names a file that a power loss could take, and only the newest commit
//! can be cut short (delta_log.rs detects that).

use std::fs::File;
use std::io;
use std::path::Path;

/// Flushes a file's data, or a directory's entries (a file created,
/// renamed or removed in it), to the disk. Blocks: for code already on the
/// blocking pool; async code calls [`sync`].
pub(crate) fn sync_now(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// [`sync_now`] on the blocking pool, off the async runtime's threads.
pub(crate) async fn sync(path: &Path) -> io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || sync_now(&path))
        .await
        .map_err(io::Error::other)?
}

/// Syncs a new file and the directory entry that names it.
pub(crate) async fn sync_new_file(path: &Path) -> io::Result<()> {
    sync(path).await?;
    match path.parent() {
        Some(dir) => sync(dir).await,
        None => Ok(()),
    }
}
