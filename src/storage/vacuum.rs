//! VACUUM: finding and removing files under the pond root that no committed
//! version references: blobs and oplog data files left by failed or lost
//! commits, oplog data files that oplog compaction replaced, and abandoned
//! temporary files.
//!
//! VACUUM runs beside writers in other processes, so its rules are about
//! what may still become referenced (docs/storage.md, "VACUUM"):
//! - It lists the files first and reads the Delta snapshot after: a file
//!   committed before the listing is in that snapshot, so it is kept.
//! - A file no commit references may belong to a commit still in flight, so
//!   it is kept while younger than `max(RETAIN, IN_FLIGHT_GRACE)`. A writer
//!   whose staged blob is older than half the grace renews its mtime before
//!   it commits (`storage::grace`), so the grace always covers it.
//! - An oplog data file that compaction replaced was committed; it is kept
//!   for `max(RETAIN, IN_FLIGHT_GRACE)` after the Delta log removed it (other
//!   processes and open `BEGIN` blocks may still read it), judged by the
//!   removal's timestamp, not the file's age.
//! - Only names the pond generates are candidates, only regular files, and
//!   nothing is reached through a symlink.
//! - A file is deleted by renaming it aside, re-reading its mtime, and only
//!   then unlinking it: a writer that renewed it in between wins, and the
//!   file is put back. A renewal after the rename finds no file and fails
//!   the writer's commit cleanly.
//!
//! Every version of every transaction counts as a reference, so time
//! travel is never broken.

use std::fs::{self, FileType};
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::error::Result;
use super::grace::{off_runtime, IN_FLIGHT_GRACE};
use super::index::View;
use super::oplog::PARTITION_COLUMN;
use super::pond::Pond;

/// Files younger than this are never removed unless VACUUM says otherwise (as Delta Lake).
pub(crate) const DEFAULT_RETAIN_HOURS: u64 = 168;

/// Marks a file VACUUM has renamed aside before deleting it.
const ASIDE: &str = ".vacuum-";

/// An unreferenced file, relative to the pond root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub path: String,
    /// `blob`, `oplog` or `temp`.
    pub kind: &'static str,
    pub bytes: u64,
}

/// What a file under the pond root is, judged by its place and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileRole {
    Blob,
    Oplog,
    Temp,
}

impl FileRole {
    fn as_str(self) -> &'static str {
        match self {
            FileRole::Blob => "blob",
            FileRole::Oplog => "oplog",
            FileRole::Temp => "temp",
        }
    }
}

/// A file the pond wrote, found by the listing.
struct Found {
    /// Relative to the pond root, with `/`.
    path: String,
    role: FileRole,
    bytes: u64,
    modified: SystemTime,
    /// `Some(original)` for a file an interrupted VACUUM renamed aside.
    aside_of: Option<String>,
}

impl Found {
    fn into_orphan(self) -> Orphan {
        Orphan {
            path: self.path,
            kind: self.role.as_str(),
            bytes: self.bytes,
        }
    }
}

/// Lists (and unless `dry_run`, deletes) the unreferenced files that the
/// rules above let go, as of `now`.
pub async fn vacuum(
    pond: &Pond,
    retain: Duration,
    dry_run: bool,
    now: SystemTime,
) -> Result<Vec<Orphan>> {
    let local = pond.location().local_dir().map(Path::to_path_buf);
    let found = match &local {
        Some(root) => {
            let root = root.clone();
            off_runtime(move || list_pond_files(&root)).await?
        }
        None => list_pond_objects(pond.location().store().as_ref()).await?,
    };
    // Only now the snapshot: everything committed before the listing is in it.
    let index = pond.refresh().await?;
    let removed_at = pond.removed_oplog_files().await?;
    let blobs = View::new(index.clone(), None).referenced_blobs();
    let cutoff = now
        .checked_sub(retain.max(IN_FLIGHT_GRACE))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let referenced = |role: FileRole, path: &str| match role {
        FileRole::Blob => blobs.contains(path.trim_start_matches("blobs/")),
        FileRole::Oplog => index.has_file(path.trim_start_matches("oplog/")),
        FileRole::Temp => false,
    };
    let mut settle = Vec::new();
    let mut candidates = Vec::new();
    for file in found {
        if let Some(original) = &file.aside_of {
            // A VACUUM stopped between renaming this aside and deleting it.
            let wanted = referenced(file.role, original) || file.modified >= cutoff;
            settle.push((file.path.clone(), original.clone(), wanted));
            continue;
        }
        if referenced(file.role, &file.path) {
            continue;
        }
        let removed = match file.role {
            FileRole::Oplog => removed_at
                .get(file.path.trim_start_matches("oplog/"))
                .copied(),
            _ => None,
        };
        let old = match removed {
            Some(millis) => millis_to_time(millis) < cutoff,
            None => file.modified < cutoff,
        };
        if old {
            candidates.push((file, removed.is_some()));
        }
    }
    let Some(root) = local else {
        let store = pond.location().store();
        let mut orphans = Vec::new();
        for (file, replaced) in candidates {
            if dry_run
                || delete_object_if_still_old(store.as_ref(), &file.path, cutoff, replaced).await?
            {
                orphans.push(file.into_orphan());
            }
        }
        orphans.sort_by(|a, b| a.path.cmp(&b.path));
        return Ok(orphans);
    };
    // The file work blocks: on the blocking pool.
    off_runtime(move || {
        let mut orphans = Vec::new();
        if !dry_run {
            for (aside, original, wanted) in &settle {
                settle_aside(&root, aside, original, *wanted)?;
            }
        }
        for (file, replaced) in candidates {
            if dry_run || delete_if_still_old(&root, &file.path, cutoff, replaced)? {
                orphans.push(file.into_orphan());
            }
        }
        orphans.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(orphans)
    })
    .await
}

fn millis_to_time(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

/// Deletes `path` unless it was renewed (or replaced by a new file) since it
/// was judged: rename aside, re-read, then unlink or put back. `committed`
/// files (replaced oplog files) are never renewed, so only their absence
/// matters. Returns whether it deleted the file.
fn delete_if_still_old(
    root: &Path,
    path: &str,
    cutoff: SystemTime,
    committed: bool,
) -> Result<bool> {
    let from = root.join(path);
    let aside = root.join(format!("{path}{ASIDE}{}", uuid::Uuid::new_v4().simple()));
    match fs::rename(&from, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let modified = fs::symlink_metadata(&aside)?.modified()?;
    if !committed && modified >= cutoff {
        put_back(&aside, &from)?;
        return Ok(false);
    }
    fs::remove_file(&aside)?;
    Ok(true)
}

/// [`delete_if_still_old`] on an object store, which cannot rename: the
/// object's age is read again just before the delete (a renewal between
/// the two requests is the one window left; docs/storage.md).
async fn delete_object_if_still_old(
    store: &dyn ObjectStore,
    path: &str,
    cutoff: SystemTime,
    committed: bool,
) -> Result<bool> {
    let path = ObjectPath::from(path);
    match store.head(&path).await {
        Ok(meta) if committed || SystemTime::from(meta.last_modified) < cutoff => {}
        Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    store.delete(&path).await?;
    Ok(true)
}

/// The objects under `blobs/` and `oplog/` that the pond wrote (as
/// [`list_pond_files`] on a local disk).
async fn list_pond_objects(store: &dyn ObjectStore) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for prefix in ["blobs", "oplog"] {
        let mut listing = store.list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let path = meta.location.to_string();
            let Some(role) = object_role(&path) else {
                continue;
            };
            found.push(Found {
                path,
                role,
                bytes: meta.size,
                modified: SystemTime::from(meta.last_modified),
                aside_of: None,
            });
        }
    }
    Ok(found)
}

/// What an object is, by its path; `None` for what the pond did not write.
fn object_role(path: &str) -> Option<FileRole> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["blobs", ".tmp", name] if is_temp_name(name) || name.ends_with(".renew") => {
            Some(FileRole::Temp)
        }
        ["blobs", name] if is_hex(name, 64) => Some(FileRole::Blob),
        ["oplog", part, name]
            if part
                .strip_prefix(PARTITION_COLUMN)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|id| is_hex(id, 32))
                && is_oplog_file_name(name) =>
        {
            Some(FileRole::Oplog)
        }
        _ => None,
    }
}

/// Finishes what an interrupted VACUUM left: puts the file back when it is
/// wanted and its name is free, deletes it otherwise.
fn settle_aside(root: &Path, aside: &str, original: &str, wanted: bool) -> Result<()> {
    let aside = root.join(aside);
    if wanted {
        put_back(&aside, &root.join(original))
    } else {
        remove_if_present(&aside)
    }
}

/// Moves `aside` back to `to` without replacing a file that appeared there
/// meanwhile (content-addressed: a new blob of that name has the same bytes).
fn put_back(aside: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(aside, to) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    remove_if_present(aside)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The files under `blobs/` and `oplog/` that the pond wrote, with their
/// sizes and mtimes. Symlinks are never followed and never listed; files
/// that vanish while being listed are skipped.
fn list_pond_files(root: &Path) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for (name, kind) in read_dir(&root.join("blobs"))? {
        if name == ".tmp" && kind.is_dir() {
            for (temp, kind) in read_dir(&root.join("blobs/.tmp"))? {
                if kind.is_file() && is_temp_name(&temp) {
                    found.extend(stat(root, format!("blobs/.tmp/{temp}"), FileRole::Temp)?);
                }
            }
        } else if kind.is_file() {
            let (base, aside) = split_aside(&name);
            if is_hex(base, 64) {
                let mut file = stat(root, format!("blobs/{name}"), FileRole::Blob)?;
                if let (Some(f), true) = (file.as_mut(), aside) {
                    f.aside_of = Some(format!("blobs/{base}"));
                }
                found.extend(file);
            }
        }
    }
    for (part, kind) in read_dir(&root.join("oplog"))? {
        let is_partition = part
            .strip_prefix(PARTITION_COLUMN)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|id| is_hex(id, 32));
        if !is_partition || !kind.is_dir() {
            continue;
        }
        for (name, kind) in read_dir(&root.join("oplog").join(&part))? {
            if !kind.is_file() {
                continue;
            }
            let path = format!("oplog/{part}/{name}");
            let (base, aside) = split_aside(&name);
            if is_oplog_file_name(base) {
                let mut file = stat(root, path, FileRole::Oplog)?;
                if let (Some(f), true) = (file.as_mut(), aside) {
                    f.aside_of = Some(format!("oplog/{part}/{base}"));
                }
                found.extend(file);
            } else if is_interrupted_put(&name) {
                // object_store's local put writes `<name>#<n>` and renames it.
                found.extend(stat(root, path, FileRole::Temp)?);
            }
        }
    }
    Ok(found)
}

/// Size and mtime of a listed file; `None` when it vanished meanwhile.
fn stat(root: &Path, path: String, role: FileRole) -> Result<Option<Found>> {
    match fs::symlink_metadata(root.join(&path)) {
        Ok(meta) if meta.is_file() => Ok(Some(Found {
            path,
            role,
            bytes: meta.len(),
            modified: meta.modified()?,
            aside_of: None,
        })),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Names and types (not following symlinks) of a directory's entries;
/// nothing when the directory does not exist.
fn read_dir(dir: &Path) -> Result<Vec<(String, FileType)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        match entry.file_type() {
            Ok(kind) => out.push((name, kind)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn split_aside(name: &str) -> (&str, bool) {
    match name.split_once(ASIDE) {
        Some((base, id)) if is_hex(id, 32) => (base, true),
        _ => (name, false),
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<32 hex>.parquet`, as [`ContentWriter`](super::content::ContentWriter) names temp files.
fn is_temp_name(name: &str) -> bool {
    name.strip_suffix(".parquet")
        .is_some_and(|id| is_hex(id, 32))
}

/// `<txn, 20 digits>-<32 hex>[-<sha256>].parquet`, as the commit names oplog data files.
pub(crate) fn is_oplog_file_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else {
        return false;
    };
    let mut parts = stem.split('-');
    let txn = parts
        .next()
        .is_some_and(|t| t.len() == 20 && t.bytes().all(|b| b.is_ascii_digit()));
    let id = parts.next().is_some_and(|id| is_hex(id, 32));
    let sum = match parts.next() {
        None => true,
        Some(sum) => is_hex(sum, 64) && parts.next().is_none(),
    };
    txn && id && sum
}

fn is_interrupted_put(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        is_oplog_file_name(base) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generated_names_are_candidates() {
        let txn = "00000000000000000012";
        let id = "0123456789abcdef0123456789abcdef";
        let sum = "ab".repeat(32);
        assert!(is_oplog_file_name(&format!("{txn}-{id}.parquet")));
        assert!(is_oplog_file_name(&format!("{txn}-{id}-{sum}.parquet")));
        assert!(!is_oplog_file_name(&format!("{txn}-dead.parquet")));
        assert!(!is_oplog_file_name(&format!("{txn}-{id}.parquet.bak")));
        assert!(!is_oplog_file_name("notes.parquet"));
        assert!(is_interrupted_put(&format!("{txn}-{id}.parquet#3")));
        assert!(!is_interrupted_put(&format!("{txn}-{id}.parquet#")));
        assert!(is_temp_name(&format!("{id}.parquet")));
        assert!(!is_temp_name("0123.parquet"));
        assert_eq!(
            split_aside(&format!("{sum}{ASIDE}{id}")),
            (sum.as_str(), true)
        );
        assert!(!split_aside(&format!("{sum}{ASIDE}x")).1);
        assert!(!is_hex(&sum.to_uppercase(), 64));
    }
}
