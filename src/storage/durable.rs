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
/// renamed or removed in it), to the disk.
pub(crate) fn sync(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Syncs a new file and the directory entry that names it.
pub(crate) fn sync_new_file(path: &Path) -> io::Result<()> {
    sync(path)?;
    match path.parent() {
        Some(dir) => sync(dir),
        None => Ok(()),
    }
}
