//! BACKUP and RESTORE: a pond copied to another location (any object store
//! URL or a local path), incrementally, and rebuilt from it.
//!
//! A backup target has a pond's layout (`blobs/`, `oplog/`) plus
//! `pondsql-backup.json`, the manifest, which is written last and is the
//! backup's commit point (docs/storage.md, "Backups"):
//! - contents and oplog data files are named by their sha256, so what a
//!   target lacks is a set difference against the manifest (blobs of txns
//!   after the manifest's, oplog files it does not list), never a listing
//!   of the bucket;
//! - every object is hashed while read from the pond (a damaged pond is not
//!   backed up silently) and read back from the target;
//! - the Delta log goes after the files it names, the manifest after the
//!   log: an interrupted run leaves the target restorable at its last
//!   completed backup, and the next run sends what is still missing.
//!
//! RESTORE reads only what the manifest names, into a directory beside the
//! destination that becomes the pond by one rename once CHECK passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path as FsPath, PathBuf};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::check::{self, CheckScope};
use super::error::{Result, StorageError};
use super::index::View;
use super::location::{is_url, Location};
use super::node::ContentRef;
use super::node::NodeId;
use super::oplog::{self, OplogColumns};
use super::pond::{create_oplog, is_pond, put_oplog_file, read_oplog_file, Pond};
use super::transfer::{copy_verified, hash_object, size_of, Expected, Moved};

/// The manifest at the root of a backup target.
pub(crate) const MANIFEST: &str = "pondsql-backup.json";
/// Under the pond root: one record per completed backup (`pond.system.backups`).
const RECORDS: &str = "backups";
const LOG_DIR: &str = "oplog/_delta_log";
/// Objects copied at once (each a few upload parts in flight).
const PARALLEL_OBJECTS: usize = 4;

/// What a target holds. Written first as a claim (`delta_version` -1),
/// then after each completed backup.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// The Delta table id of the pond's oplog: a target holds one pond.
    pond: String,
    /// The oplog's Delta version and the pond txn the target is complete at.
    delta_version: i64,
    txn: i64,
    /// The oplog's live data files at `delta_version` (paths under `oplog/`).
    oplog_files: BTreeSet<String>,
}

/// One completed backup, as `pond.system.backups` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BackupRecord {
    pub(crate) target: String,
    pub(crate) txn: i64,
    pub(crate) delta_version: i64,
    /// Milliseconds since the epoch.
    pub(crate) started: i64,
    pub(crate) finished: i64,
    /// Objects and bytes sent by this run (what the target lacked).
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    /// Objects the target already held (a resumed run).
    pub(crate) skipped: u64,
    /// Every object sent was read back and matched its sha256.
    pub(crate) verified: bool,
}

/// An object to send and how to check it.
struct Planned {
    path: String,
    size: u64,
    sha256: Option<String>,
}

/// Copies what `target` lacks of `pond` as of its newest commit.
pub(crate) async fn backup(pond: &Pond, target: &str, moved: &Moved) -> Result<BackupRecord> {
    let started = now_millis();
    let target = Location::parse(FsPath::new(target))?;
    if target.url() == pond.location().url() {
        return Err(StorageError::Invalid(format!(
            "BACKUP TO '{}': that is the pond itself; back up to another location",
            target.display()
        )));
    }
    let index = pond.refresh().await?;
    let delta_version = index.delta_version().unwrap_or(0);
    let txn = index.last_txn();
    let id = pond.pond_id().await?;
    let manifest = match read_manifest(&target).await? {
        Some(m) if m.pond != id => {
            return Err(StorageError::Invalid(format!(
                "{} holds the backup of another pond: back this pond up to a location of its own",
                target.display()
            )))
        }
        Some(m) => m,
        None => claim(&target, &id).await?,
    };
    check_history(pond, &target, &manifest, delta_version).await?;

    let mut blobs = BTreeMap::new();
    for v in View::new(index.clone(), None).all_versions() {
        if let (ContentRef::Blob, Some(sum)) = (&v.content, &v.checksum) {
            if v.txn > manifest.txn {
                blobs.insert(sum.clone(), v.size as u64);
            }
        }
    }
    let mut files: Vec<Planned> = blobs
        .into_iter()
        .map(|(sum, size)| Planned {
            path: format!("blobs/{sum}"),
            size,
            sha256: Some(sum),
        })
        .collect();
    let live: BTreeSet<String> = index.files().map(|(path, _)| path.to_string()).collect();
    for (path, file) in index.files() {
        if !manifest.oplog_files.contains(path.as_ref()) {
            files.push(Planned {
                path: format!("oplog/{path}"),
                size: file.size,
                sha256: oplog::data_file_sha256(path).map(str::to_string),
            });
        }
    }
    let log: Vec<Planned> = log_files(pond.location(), manifest.delta_version, delta_version)
        .await?
        .into_iter()
        .map(|(_, path, size)| Planned {
            path,
            size,
            sha256: None,
        })
        .collect();
    moved.plan(files.iter().chain(&log).map(|p| p.size));

    // Contents and oplog files a few at a time; then the log, in version
    // order, so that a target never names a file it lacks.
    let from = pond.location();
    let target_ref = &target;
    // Owned items: a closure over borrowed ones is not Send-general enough
    // for the async traits that call BACKUP (a known limit of higher-ranked
    // closure lifetimes).
    let skipped_files: Vec<bool> = futures::stream::iter(files)
        .map(|item| async move { send_missing(from, target_ref, &item, moved).await })
        .buffer_unordered(PARALLEL_OBJECTS)
        .try_collect()
        .await?;
    let mut skipped = skipped_files.iter().filter(|s| **s).count() as u64;
    for item in &log {
        skipped += u64::from(send_missing(from, &target, item, moved).await?);
    }
    write_manifest(
        &target,
        &Manifest {
            format: 1,
            pond: id,
            delta_version,
            txn,
            oplog_files: live,
        },
    )
    .await?;
    let (objects, bytes) = moved.get();
    let record = BackupRecord {
        target: target.display(),
        txn,
        delta_version,
        started,
        finished: now_millis(),
        objects,
        bytes,
        skipped,
        verified: true,
    };
    let name = format!(
        "{RECORDS}/{:020}-{}.json",
        record.finished,
        uuid::Uuid::new_v4().simple()
    );
    pond.location()
        .store()
        .put(&Path::from(name), serde_json::to_vec(&record)?.into())
        .await?;
    Ok(record)
}

/// Refuses a target whose history is not this pond's past: a restored
/// copy and its original share an id, and both backing up to one target
/// would mix two histories. Their commits at the target's version differ.
async fn check_history(
    pond: &Pond,
    target: &Location,
    manifest: &Manifest,
    delta_version: i64,
) -> Result<()> {
    if manifest.delta_version < 0 {
        return Ok(());
    }
    let commit = format!("{LOG_DIR}/{:020}.json", manifest.delta_version);
    let diverged = || {
        StorageError::Invalid(format!(
            "{} holds a backup of this pond whose history has diverged from it (another copy of the pond, e.g. a restored one, backed up there): back this pond up to a new location",
            target.display()
        ))
    };
    if manifest.delta_version > delta_version {
        return Err(diverged());
    }
    let ours = hash_object(
        pond.location().store().as_ref(),
        &Path::from(commit.as_str()),
    )
    .await?;
    let theirs = hash_object(target.store().as_ref(), &Path::from(commit.as_str())).await?;
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(diverged()),
        // A commit older than the log retention is gone from the pond: nothing to compare.
        _ => Ok(()),
    }
}

/// Sends `item` unless the target has it; says whether it was there.
async fn send_missing(
    from: &Location,
    target: &Location,
    item: &Planned,
    moved: &Moved,
) -> Result<bool> {
    // Sent by an interrupted run: the same name holds the same bytes.
    if size_of(target.store().as_ref(), &item.path).await? == Some(item.size) {
        moved.skip(item.size);
        return Ok(true);
    }
    let expected = match &item.sha256 {
        Some(sum) => Expected::Sha256(sum),
        None => Expected::AsSource,
    };
    copy_verified(from, target, &item.path, expected, moved)
        .await
        .map_err(|e| e.at(target))?;
    Ok(false)
}

/// The completed backups recorded in `pond`, oldest first.
pub(crate) async fn records(pond: &Pond) -> Result<Vec<BackupRecord>> {
    let store = pond.location().store();
    let mut listed: Vec<_> = store.list(Some(&Path::from(RECORDS))).try_collect().await?;
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::with_capacity(listed.len());
    for meta in listed {
        let bytes = store.get(&meta.location).await?.bytes().await?;
        out.push(serde_json::from_slice(&bytes)?);
    }
    Ok(out)
}

impl Pond {
    /// Rebuilds a pond from a backup at `source` (a URL or a directory)
    /// into `dest`, a new or empty local directory: as of txn `as_of`, or
    /// the backup's newest. `moved` counts what is copied, for progress.
    pub async fn restore(
        source: &str,
        dest: &FsPath,
        as_of: Option<i64>,
        moved: &Moved,
    ) -> Result<RestoreReport> {
        restore(source, dest, as_of, moved).await
    }
}

/// Rebuilds a pond in the new directory `dest` from the backup at
/// `source`, as it was at its last backup or, with `as_of`, at that txn.
pub(crate) async fn restore(
    source: &str,
    dest: &FsPath,
    as_of: Option<i64>,
    moved: &Moved,
) -> Result<RestoreReport> {
    let from = Location::parse(FsPath::new(source))?;
    if is_url(&dest.to_string_lossy()) {
        return Err(StorageError::Invalid(format!(
            "restore into a local directory, not {}: a pond on object storage is made by BACKUP TO it",
            dest.display()
        )));
    }
    let manifest = read_manifest(&from).await?.ok_or_else(|| {
        StorageError::Invalid(format!(
            "{} holds no pondsql backup (no {MANIFEST}): check the location",
            from.display()
        ))
    })?;
    if manifest.delta_version < 0 {
        return Err(StorageError::Invalid(format!(
            "the first backup to {} never finished: there is nothing to restore yet",
            from.display()
        )));
    }
    let dest = std::path::absolute(dest)?;
    let occupied = match tokio::fs::read_dir(&dest).await {
        Ok(mut entries) => entries.next_entry().await.map(|first| first.is_some()),
        Err(err) => Err(err),
    };
    match occupied {
        Ok(true) => {
            return Err(StorageError::Invalid(format!(
                "{} is not empty: restore into a new or empty directory",
                dest.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(StorageError::Invalid(format!(
                "{} is a file: restore into a new or empty directory",
                dest.display()
            )))
        }
        _ => {}
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "pond".into());
    let staging = dest.with_file_name(format!(
        ".{name}.restoring-{}",
        uuid::Uuid::new_v4().simple()
    ));
    if let Some(txn) = as_of {
        if !(0..=manifest.txn).contains(&txn) {
            return Err(StorageError::Invalid(format!(
                "--as-of {txn}: the backup at {} holds txns 0 to {}",
                from.display(),
                manifest.txn
            )));
        }
    }
    let mut restored = restore_into(&from, &manifest, &staging, moved).await;
    if let (Ok(report), Some(txn)) = (&mut restored, as_of.filter(|t| *t < manifest.txn)) {
        let cut = PathBuf::from(format!("{}.as-of", staging.display()));
        restored = match cut_at(&staging, &cut, txn).await {
            Ok(()) => {
                let _ = tokio::fs::remove_dir_all(&staging).await;
                tokio::fs::rename(&cut, &staging).await?;
                report.txn = txn;
                Ok(report.clone())
            }
            Err(err) => {
                let _ = tokio::fs::remove_dir_all(&cut).await;
                Err(err)
            }
        };
    }
    match restored {
        Ok(mut report) => {
            if tokio::fs::try_exists(&dest).await? {
                tokio::fs::remove_dir(&dest).await?;
            }
            tokio::fs::rename(&staging, &dest).await?;
            if let Some(parent) = dest.parent() {
                super::durable::sync(parent).await?;
            }
            report.dest = dest;
            Ok(report)
        }
        Err(err) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            Err(err)
        }
    }
}

/// What RESTORE rebuilt.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    pub dest: PathBuf,
    pub txn: i64,
    pub objects: u64,
    pub bytes: u64,
}

async fn restore_into(
    from: &Location,
    manifest: &Manifest,
    staging: &FsPath,
    moved: &Moved,
) -> Result<RestoreReport> {
    tokio::fs::create_dir_all(staging.join("blobs")).await?;
    let to = Location::parse(staging)?;
    let mut files: Vec<(String, Option<String>)> = manifest
        .oplog_files
        .iter()
        .map(|f| {
            (
                format!("oplog/{f}"),
                oplog::data_file_sha256(f).map(str::to_string),
            )
        })
        .collect();
    let log = log_files(from, -1, manifest.delta_version).await?;
    if !log
        .iter()
        .any(|(v, path, _)| *v == manifest.delta_version && path.ends_with(".json"))
    {
        return Err(StorageError::MissingContent(format!(
            "{LOG_DIR}/{:020}.json in {} (the commit the backup ends at)",
            manifest.delta_version,
            from.display()
        )));
    }
    files.extend(log.into_iter().map(|(_, path, _)| (path, None)));
    for (path, sha256) in &files {
        let expected = match sha256 {
            Some(sum) => Expected::Sha256(sum),
            None => Expected::AsSource,
        };
        copy_verified(from, &to, path, expected, moved).await?;
    }
    let pond = Pond::open_at(to.clone()).await?;
    let index = pond.refresh().await?;
    let blobs = View::new(index.clone(), None).referenced_blobs();
    for sum in &blobs {
        copy_verified(
            from,
            &to,
            &format!("blobs/{sum}"),
            Expected::Sha256(sum),
            moved,
        )
        .await?;
    }
    let problems = check::check(&pond, CheckScope::AllVersions, None).await?;
    if let Some(first) = problems.first() {
        return Err(StorageError::Invalid(format!(
            "the restored copy fails CHECK ({} problems; first: {} {}): nothing was restored",
            problems.len(),
            first.path,
            first.problem
        )));
    }
    let (objects, bytes) = moved.get();
    Ok(RestoreReport {
        dest: staging.to_path_buf(),
        txn: index.last_txn(),
        objects,
        bytes,
    })
}

/// Writes into the new directory `into` the pond at `from` as of `txn`: a
/// new oplog of the rows of txns up to `txn` (one data file per directory,
/// one Delta commit) and the blobs they reference (moved: `from` is a
/// staging copy). History up to `txn` is kept whole; the Delta log is new,
/// so the pond backs up to a new location.
async fn cut_at(from: &FsPath, into: &FsPath, txn: i64) -> Result<()> {
    use datafusion::arrow::array::{AsArray, BooleanArray};
    use datafusion::arrow::compute::{concat_batches, filter_record_batch};
    use datafusion::arrow::datatypes::Int64Type;

    let source = Pond::open(from).await?;
    let index = source.refresh().await?;
    tokio::fs::create_dir_all(into.join("blobs")).await?;
    let to = Location::parse(into)?;
    let mut by_part: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for (file, indexed) in index.files() {
        for batch in read_oplog_file(
            source.location().store(),
            file,
            indexed.size,
            OplogColumns::All,
        )
        .await?
        {
            let txns = batch
                .column_by_name("txn")
                .ok_or_else(|| {
                    StorageError::CorruptOplog(format!("oplog/{file} has no txn column"))
                })?
                .as_primitive::<Int64Type>();
            let keep: BooleanArray = txns
                .iter()
                .map(|t| Some(t.is_some_and(|t| t <= txn)))
                .collect();
            let kept = filter_record_batch(&batch, &keep)?;
            if kept.num_rows() > 0 {
                by_part
                    .entry(indexed.part.to_string())
                    .or_default()
                    .push(kept);
            }
        }
    }
    let mut adds = Vec::new();
    for (part, batches) in by_part {
        let batch = concat_batches(&oplog::file_schema(), &batches)?;
        adds.push(put_oplog_file(&to, txn, &NodeId::from_stored(&part), &batch).await?);
    }
    create_oplog(&to, adds, txn, &format!("pondsql restore --as-of {txn}")).await?;
    let cut = Pond::open_at(to).await?;
    for v in View::new(cut.refresh().await?, None).all_versions() {
        if let (ContentRef::Blob, Some(sum)) = (&v.content, &v.checksum) {
            let (blob, target) = (from.join("blobs").join(sum), into.join("blobs").join(sum));
            // Several versions may share a blob: moved by the first.
            if tokio::fs::try_exists(&blob).await? {
                tokio::fs::rename(&blob, &target).await?;
            }
        }
    }
    super::durable::sync(&into.join("blobs")).await?;
    let problems = check::check(&cut, CheckScope::AllVersions, None).await?;
    match problems.first() {
        Some(first) => Err(StorageError::Invalid(format!(
            "the pond as of txn {txn} fails CHECK ({}: {}): nothing was restored",
            first.path, first.problem
        ))),
        None => Ok(()),
    }
}

/// The Delta log files of versions in `(after, upto]`: commits, and
/// checkpoints after their commit. (version, path, size), in order.
async fn log_files(at: &Location, after: i64, upto: i64) -> Result<Vec<(i64, String, u64)>> {
    let listed: Vec<_> = at
        .store()
        .list(Some(&Path::from(LOG_DIR)))
        .try_collect()
        .await
        .map_err(|e| at.explain(e))?;
    let mut out = Vec::new();
    for meta in listed {
        let Some(name) = meta.location.filename() else {
            continue;
        };
        let (stem, order) = match (
            name.strip_suffix(".json"),
            name.strip_suffix(".checkpoint.parquet"),
        ) {
            (Some(stem), _) => (stem, 0),
            (_, Some(stem)) => (stem, 1),
            _ => continue,
        };
        let Ok(version) = stem.parse::<i64>() else {
            continue;
        };
        if stem.len() == 20 && version > after && version <= upto {
            out.push((version, order, format!("{LOG_DIR}/{name}"), meta.size));
        }
    }
    out.sort();
    Ok(out
        .into_iter()
        .map(|(version, _, path, size)| (version, path, size))
        .collect())
}

async fn read_manifest(target: &Location) -> Result<Option<Manifest>> {
    let got = match target.store().get(&Path::from(MANIFEST)).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(target.explain(err)),
    };
    serde_json::from_slice(&got).map(Some).map_err(|e| {
        StorageError::Invalid(format!(
            "{}/{MANIFEST} is damaged ({e}): back up to a new location",
            target.display()
        ))
    })
}

async fn write_manifest(target: &Location, manifest: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest)?;
    target
        .store()
        .put(&Path::from(MANIFEST), PutPayload::from(bytes))
        .await
        .map_err(|e| target.explain(e))?;
    if let Some(dir) = target.local_dir() {
        super::durable::sync_new_file(&dir.join(MANIFEST)).await?;
    }
    Ok(())
}

/// Makes an empty location the backup target of pond `id`.
async fn claim(target: &Location, id: &str) -> Result<Manifest> {
    if is_pond(target).await? {
        return Err(StorageError::Invalid(format!(
            "{} holds a pond, not a backup of this one: back up to a location of its own",
            target.display()
        )));
    }
    let mut listing = target.store().list(None);
    if let Some(first) = listing.try_next().await.map_err(|e| target.explain(e))? {
        return Err(StorageError::Invalid(format!(
            "{} holds other files ({}): back up to an empty location",
            target.display(),
            first.location
        )));
    }
    let manifest = Manifest {
        format: 1,
        pond: id.to_string(),
        delta_version: -1,
        txn: -1,
        oplog_files: BTreeSet::new(),
    };
    write_manifest(target, &manifest).await?;
    Ok(manifest)
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
