//! VACUUM: finding and removing files under the pond root that no committed
//! version references: blobs and oplog data files left by failed or lost
//! commits, and abandoned temporary files.
//!
//! Every version of every transaction counts as a reference, so time travel
//! is never broken. Files younger than the retention period are kept: they
//! may belong to a commit still in flight in another process.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::error::Result;
use super::index::View;
use super::node::ContentRef;
use super::pond::Pond;

/// Files younger than this are never removed unless VACUUM says otherwise (as Delta Lake).
pub const DEFAULT_RETAIN_HOURS: u64 = 168;

/// An unreferenced file, relative to the pond root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub path: String,
    /// `blob`, `oplog` or `temp`.
    pub kind: &'static str,
    pub bytes: u64,
}

/// Lists (and unless `dry_run`, deletes) the unreferenced files older than `retain`.
pub async fn vacuum(pond: &Pond, retain: Duration, dry_run: bool) -> Result<Vec<Orphan>> {
    let index = pond.refresh().await?;
    let view = View::new(index.clone(), None);
    let blobs: HashSet<String> = view
        .all_versions()
        .iter()
        .filter(|v| v.content == ContentRef::Blob)
        .filter_map(|v| v.checksum.clone())
        .collect();
    let cutoff = SystemTime::now()
        .checked_sub(retain)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let root = pond.root_dir();
    let mut orphans = Vec::new();
    let mut consider = |file: &Path, kind: &'static str, referenced: bool| -> Result<()> {
        let meta = std::fs::metadata(file)?;
        if referenced || !meta.is_file() || meta.modified()? > cutoff {
            return Ok(());
        }
        let path = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        orphans.push(Orphan {
            path,
            kind,
            bytes: meta.len(),
        });
        Ok(())
    };
    for entry in read_dir(&root.join("blobs"))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        consider(
            &entry.path(),
            "blob",
            name == ".tmp" || blobs.contains(&name),
        )?;
    }
    for entry in read_dir(&root.join("blobs").join(".tmp"))? {
        consider(&entry.path(), "temp", false)?;
    }
    for part in read_dir(&root.join("oplog"))? {
        let part_name = part.file_name().to_string_lossy().into_owned();
        if !part_name.starts_with(super::oplog::PARTITION_COLUMN) || !part.path().is_dir() {
            continue;
        }
        for file in read_dir(&part.path())? {
            let relative = format!("{part_name}/{}", file.file_name().to_string_lossy());
            consider(&file.path(), "oplog", index.has_file(&relative))?;
        }
    }
    orphans.sort_by(|a, b| a.path.cmp(&b.path));
    if !dry_run {
        for orphan in &orphans {
            std::fs::remove_file(root.join(&orphan.path))?;
        }
    }
    Ok(orphans)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.collect::<std::io::Result<_>>()?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
