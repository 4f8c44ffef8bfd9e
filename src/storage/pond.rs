//! A pond on disk: creating and opening it, keeping the index current, and
//! committing transactions to the oplog Delta table.
//!
//! A commit is one Delta commit written with put-if-absent at exactly the
//! next Delta version; its pond transaction number is the newest txn plus
//! one, so txns are monotonic and gap-free. When another writer got there
//! first, the logical changes are re-applied to the newer tree and written
//! again (a real conflict, such as a name created twice, fails validation).
//!
//! Each commit adds one oplog data file per directory it touches. So that
//! opening and refreshing stay cheap, a directory's small files are merged
//! into one once there are [`COMPACT_OPLOG_AT`] of them: a Delta commit of
//! its own (no pond txn) that removes them and adds the merged file, rows
//! unchanged.

use std::collections::{HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::{ArrowWriter, ProjectionMask};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, Remove};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use tokio::sync::Mutex;

use super::committer::{Committer, DeltaCommitter};
use super::compaction::plan_oplog_merge;
use super::content::{ContentStore, Written};
use super::delta_log::{self, HidingStore};
use super::durable;
use super::error::{Result, StorageError};
use super::grace::{protect_staged_blob, IN_FLIGHT_GRACE};
use super::index::{OplogIndex, ReadFile, View};
use super::location::Location;
use super::metrics::Metrics;
use super::node::{ContentRef, NodeId, NodeVersion};
use super::oplog::{self, OplogColumns, RowToWrite};
use super::transfer::{file_chunks, put_stream};
use super::txn::{Change, Content, Staging};

mod blobs;
mod maintain;

/// Delta checkpoint every this many commits, so opening reads a checkpoint
/// plus at most this many JSON commits.
const CHECKPOINT_INTERVAL: i64 = 10;
/// Expired Delta log files (older than `delta.logRetentionDuration`, 30
/// days, and before a checkpoint) are removed every this many Delta
/// versions. delta-rs does it after every commit by default, listing the
/// whole log with a `stat` of every file: O(commits) per commit
/// (docs/benchmarks.md, `block@10000`).
const LOG_CLEANUP_INTERVAL: u64 = 100;
const MAX_COMMIT_ATTEMPTS: usize = 200;
/// Merge a directory's small oplog files once it has this many.
const COMPACT_OPLOG_AT: usize = 16;
/// A compaction commit that lost the race is tried again at the next
/// version while the files it merges are still live (busy writers starved
/// it otherwise). Not delta-rs's own retries: its conflict check let two
/// merges of the same files both land (rows read twice).
const COMPACTION_ATTEMPTS: usize = 20;
/// Files at least this big are left alone by oplog compaction.
const COMPACTED_OPLOG_FILE_BYTES: u64 = 8 << 20;

/// An open pond. Cheap to share (`Arc<Pond>`); safe to use from many tasks.
pub struct Pond {
    location: Location,
    root_store: Arc<dyn ObjectStore>,
    content: Arc<ContentStore>,
    metrics: Arc<Metrics>,
    table: Mutex<DeltaTable>,
    index: RwLock<Arc<OplogIndex>>,
    committer: Arc<dyn Committer>,
}

/// What a landed commit leaves for the maintenance after it.
struct Landed {
    /// The Delta version before the commit.
    before: u64,
    /// The directory partitions it wrote oplog files into.
    parts: Vec<String>,
}

impl std::fmt::Debug for Pond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pond({})", self.location.display())
    }
}

/// Says whether `location` holds a pond (an oplog Delta log).
pub(crate) async fn is_pond(location: &Location) -> Result<bool> {
    if let Some(dir) = location.local_dir() {
        return Ok(dir.join("oplog").join("_delta_log").is_dir());
    }
    let log = Path::from(delta_log::LOG_DIR);
    match location.store().list(Some(&log)).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(err)) => Err(location.explain(err)),
    }
}

impl Pond {
    /// Creates a new, empty pond at `path` (a directory that may exist but
    /// must not hold a pond, or an `s3://` URL).
    pub async fn init(path: impl AsRef<FsPath>) -> Result<Pond> {
        let location = Location::parse(path.as_ref())?;
        if is_pond(&location).await? {
            return Err(StorageError::AlreadyAPond(location.display()));
        }
        if let Some(dir) = location.local_dir() {
            tokio::fs::create_dir_all(dir.join("oplog")).await?;
            tokio::fs::create_dir_all(dir.join("blobs")).await?;
        }
        let root = NodeVersion::root_directory(chrono::Utc::now().timestamp_micros());
        let add = write_partition(
            &location,
            0,
            &NodeId::root(),
            &[RowToWrite {
                version: &root,
                inline: None,
            }],
        )
        .await
        .map_err(|e| e.at(&location))?;
        create_oplog(&location, vec![add], 0, "pondsql init").await?;
        Pond::open_at(location).await
    }

    /// Opens an existing pond: a local directory or an `s3://` URL.
    pub async fn open(path: impl AsRef<FsPath>) -> Result<Pond> {
        Pond::open_at(Location::parse(path.as_ref())?).await
    }

    pub(crate) async fn open_at(location: Location) -> Result<Pond> {
        if !is_pond(&location).await? {
            return Err(StorageError::NotAPond(location.display()));
        }
        let root_store = location.store().clone();
        let mut builder = location.delta_builder()?;
        let untrusted = delta_log::unusable_checkpoint(&root_store).await?;
        if !untrusted.is_empty() {
            // Read the log without them: from an older checkpoint, or replayed.
            let hidden = untrusted
                .iter()
                .map(|p| location.in_bucket(p.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            let store = HidingStore::new(location.bucket().clone(), hidden);
            builder = location.delta_builder_over(Arc::new(store))?;
        }
        let mut table = builder.build()?;
        if let Err(err) = table.load().await {
            return Err(delta_log::explain_load_error(&root_store, &location.display(), err).await);
        }
        let metrics = Arc::new(Metrics::default());
        let pond = Pond {
            content: Arc::new(ContentStore::new(
                root_store.clone(),
                metrics.clone(),
                location.local_dir().is_some(),
            )),
            metrics,
            location,
            root_store,
            table: Mutex::new(table),
            index: RwLock::new(Arc::default()),
            committer: Arc::new(DeltaCommitter),
        };
        pond.refresh().await?;
        Ok(pond)
    }

    /// Sets a damaged newest commit aside into `damaged/` (`pondsql
    /// repair`), so the pond opens at the commit before it. Returns the
    /// file and its damage; `None` when there was nothing to repair.
    pub async fn repair(path: impl AsRef<FsPath>) -> Result<Option<(String, String)>> {
        let location = Location::parse(path.as_ref())?;
        if !is_pond(&location).await? {
            return Err(StorageError::NotAPond(location.display()));
        }
        let repaired =
            delta_log::set_aside_damaged_newest(location.store(), &location.display()).await?;
        if let (Some(_), Some(dir)) = (&repaired, location.local_dir()) {
            durable::sync(&dir.join("oplog/_delta_log")).await?;
        }
        Ok(repaired)
    }

    /// The oplog's Delta table id: names the pond (a backup target holds one).
    pub(crate) async fn pond_id(&self) -> Result<String> {
        let table = self.table.lock().await;
        let metadata = serde_json::to_value(table.snapshot()?.metadata())?;
        metadata
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                StorageError::CorruptOplog("the oplog's Delta metadata has no id".into())
            })
    }

    /// Where the pond lives.
    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    /// The pond's directory, when it is on a local disk.
    pub fn local_dir(&self) -> Option<&FsPath> {
        self.location.local_dir()
    }

    pub(crate) fn content_store(&self) -> &Arc<ContentStore> {
        &self.content
    }

    /// The SQL text of every transaction `view` sees, by txn, read from the
    /// live oplog files (the index leaves it out); with `parts`, only from
    /// the files of those directory partitions.
    pub(crate) async fn statements(
        &self,
        view: &View,
        parts: Option<&HashSet<NodeId>>,
    ) -> Result<HashMap<i64, Arc<str>>> {
        let store = &self.root_store;
        let read: Vec<Vec<(i64, Arc<str>)>> = futures::stream::iter(view.oplog_files(parts))
            .map(|(file, size)| async move {
                let mut out = Vec::new();
                for batch in read_oplog_file(store, &file, size, OplogColumns::Statements).await? {
                    out.extend(oplog::decode_statements(&batch, &file)?);
                }
                Ok::<_, StorageError>(out)
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        Ok(read.into_iter().flatten().collect())
    }

    /// This pond committing through `committer` (a test's, which loses races).
    #[cfg(test)]
    pub(crate) fn with_committer(mut self, committer: Arc<dyn Committer>) -> Self {
        self.committer = committer;
        self
    }

    /// Read counters since this process opened the pond.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The index as last refreshed.
    pub(crate) fn index(&self) -> Arc<OplogIndex> {
        // Poisoned only by a panic while held: the guards below only swap an Arc.
        self.index.read().expect("index lock poisoned").clone()
    }

    /// The oplog's live data files as of the newest commit, each as its
    /// path under `oplog/` and its size (replaced files wait for VACUUM).
    pub async fn live_oplog_files(&self) -> Result<Vec<(String, u64)>> {
        let index = self.refresh().await?;
        Ok(index
            .files()
            .map(|(path, f)| (path.to_string(), f.size))
            .collect())
    }

    /// Catches up with commits made since the last refresh (by anyone) and
    /// returns the new index. Reads only the oplog files not yet indexed.
    pub(crate) async fn refresh(&self) -> Result<Arc<OplogIndex>> {
        let mut table = self.table.lock().await;
        self.update(&mut table).await?;
        self.refresh_locked(&table).await
    }

    /// Reads the Delta log's new commits.
    async fn update(&self, table: &mut DeltaTable) -> Result<()> {
        match table.update_incremental(None).await {
            Ok(()) => Ok(()),
            Err(err) => {
                Err(
                    delta_log::explain_load_error(&self.root_store, &self.location.display(), err)
                        .await,
                )
            }
        }
    }

    async fn refresh_locked(&self, table: &DeltaTable) -> Result<Arc<OplogIndex>> {
        let snapshot = table.snapshot()?;
        let version = snapshot.version() as i64;
        let current = self.index();
        if current.delta_version() == Some(version) {
            return Ok(current);
        }
        let first_new = current.delta_version().map_or(version, |v| v + 1);
        delta_log::check_commits(
            &self.root_store,
            first_new..=version,
            &self.location.display(),
        )
        .await?;
        let mut live: HashMap<String, (NodeId, u64)> = HashMap::new();
        for f in snapshot.log_data().iter() {
            let part = f
                .partition_values_map()
                .get(oplog::PARTITION_COLUMN)
                .cloned()
                .flatten()
                .unwrap_or_default();
            live.insert(
                f.path().to_string(),
                (NodeId::from_stored(&part), f.size() as u64),
            );
        }
        let removed: Vec<Arc<str>> = current
            .files()
            .filter(|(path, _)| !live.contains_key(path.as_ref()))
            .map(|(path, _)| path.clone())
            .collect();
        let new_files: Vec<(String, NodeId, u64)> = live
            .into_iter()
            .filter(|(path, _)| !current.has_file(path))
            .map(|(path, (part, size))| (path, part, size))
            .collect();
        let store = self.root_store.clone();
        let read: Vec<ReadFile> = futures::stream::iter(new_files)
            .map(|(file, part, size)| {
                let store = store.clone();
                async move {
                    let path: Arc<str> = Arc::from(file);
                    let versions = read_partition_file(store, &path, &part, size).await?;
                    Ok::<_, StorageError>(ReadFile {
                        path,
                        part,
                        size,
                        versions,
                    })
                }
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        let mut next = (*current).clone();
        next.extend(version, &removed, read)?;
        let next = Arc::new(next);
        *self.index.write().expect("index lock poisoned") = next.clone();
        Ok(next)
    }

    /// Commits `changes` as one transaction. Returns the txn number, or
    /// `None` when the changes change nothing (nothing is committed).
    pub(crate) async fn commit(&self, changes: &[Change], sql: &str) -> Result<Option<i64>> {
        let landed = self
            .commit_attempts(changes, sql)
            .await
            .map_err(|e| e.at(&self.location))?;
        let Some((txn, landed)) = landed else {
            return Ok(None);
        };
        // The commit is durable and acknowledged; maintenance is a step of
        // its own, so writers waiting for the table get in before it.
        self.maintain(landed).await;
        Ok(Some(txn))
    }

    /// Stages, writes and lands one transaction, starting over when another
    /// writer takes the next Delta version first. Holds the table only for
    /// an attempt.
    async fn commit_attempts(
        &self,
        changes: &[Change],
        sql: &str,
    ) -> Result<Option<(i64, Landed)>> {
        for attempt in 0..MAX_COMMIT_ATTEMPTS {
            let mut table = self.table.lock().await;
            // The first attempt commits on the log as last read (a statement
            // reads it when it begins): a commit by anyone since makes this
            // one lose the race for the next Delta version, and the next
            // attempt catches up. Listing the log again here cost every
            // statement a second read of it.
            if attempt > 0 {
                self.update(&mut table).await?;
            }
            let index = self.refresh_locked(&table).await?;
            let txn = index.last_txn() + 1;
            let mut staging = Staging::new(
                View::new(index, None),
                txn,
                chrono::Utc::now().timestamp_micros(),
                sql,
            );
            for change in changes {
                staging.apply(change)?;
            }
            if staging.overlay().is_empty() {
                return Ok(None);
            }
            // From here the attempt must land within half the in-flight grace,
            // or a VACUUM may take what it references (vacuum.rs).
            let started = Instant::now();
            self.protect_staged_blobs(&staging).await?;
            let adds = self.write_rows(&staging, txn).await?;
            let properties = CommitProperties::default()
                .with_max_retries(0)
                .with_cleanup_expired_logs(Some(false))
                // Checkpoints are made below, after the commit: a failed checkpoint must
                // not turn a landed commit into an error.
                .with_create_checkpoint(false)
                .with_metadata([
                    ("pondTxn".to_string(), json!(txn)),
                    ("sql".to_string(), json!(sql)),
                    (delta_log::ACTIONS_KEY.to_string(), json!(adds.len())),
                ]);
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(vec![oplog::PARTITION_COLUMN.to_string()]),
                predicate: None,
            };
            // `None`: too slow to be safe from VACUUM; try again with fresh files.
            let result = if started.elapsed() < IN_FLIGHT_GRACE / 2 {
                Some(
                    self.committer
                        .put_version(
                            &table,
                            adds.iter().cloned().map(Action::Add).collect(),
                            properties,
                            operation,
                        )
                        .await,
                )
            } else {
                None
            };
            match result {
                Some(Ok(landed)) => {
                    // Acknowledged only once durable.
                    sync_commit(&self.location, landed.version() as i64)
                        .await
                        .map_err(|e| StorageError::NotDurable(txn, e.to_string()))?;
                    let before = table.version().unwrap_or(0);
                    // The snapshot the commit built is the log at its version:
                    // no need to read the log again.
                    table.state = Some(landed.snapshot);
                    self.refresh_locked(&table).await?;
                    let parts = adds
                        .iter()
                        .filter_map(|a| a.partition_values.values().next().cloned().flatten())
                        .collect();
                    return Ok(Some((txn, Landed { before, parts })));
                }
                Some(Err(err)) if !lost_race(&err) => return Err(err.into()),
                _ => {
                    drop(table);
                    Metrics::add(&self.metrics.commits_retried, 1);
                    for add in &adds {
                        self.delete_oplog_file(&add.path).await;
                    }
                    let jitter = rand_millis(5 + 5 * attempt.min(20) as u64);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
            }
        }
        Err(StorageError::TooManyConflicts(MAX_COMMIT_ATTEMPTS))
    }

    /// The oplog data files the Delta log removed (oplog compaction) and
    /// still remembers, with when (ms since the epoch).
    pub(crate) async fn removed_oplog_files(&self) -> Result<HashMap<String, i64>> {
        let table = self.table.lock().await;
        let mut removed = HashMap::new();
        let mut tombstones = table.snapshot()?.all_tombstones(table.log_store().as_ref());
        while let Some(tombstone) = tombstones.next().await {
            let tombstone = tombstone?;
            removed.insert(
                tombstone.path().into_owned(),
                tombstone.deletion_timestamp().unwrap_or(0),
            );
        }
        Ok(removed)
    }

    /// Writes the staged versions as one data file per partition.
    async fn write_rows(&self, staging: &Staging, txn: i64) -> Result<Vec<Add>> {
        let mut by_part: HashMap<NodeId, Vec<&NodeVersion>> = HashMap::new();
        for v in staging.overlay().versions() {
            by_part.entry(v.part_id.clone()).or_default().push(v);
        }
        let mut adds = Vec::with_capacity(by_part.len());
        for (part, mut versions) in by_part {
            versions.sort_by(|a, b| (&a.node_id, a.version).cmp(&(&b.node_id, b.version)));
            let rows: Vec<RowToWrite<'_>> = versions
                .iter()
                .map(|v| RowToWrite {
                    version: v,
                    inline: match (&v.content, &v.checksum) {
                        (ContentRef::Staged, Some(sum)) => {
                            staging.inline_content(sum).map(|b| b.as_ref())
                        }
                        _ => None,
                    },
                })
                .collect();
            adds.push(write_partition(&self.location, txn, &part, &rows).await?);
        }
        Ok(adds)
    }
}

fn lost_race(err: &DeltaTableError) -> bool {
    matches!(
        err,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
            }
    )
}

fn rand_millis(max: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(max.max(1))) as u64
}

/// Creates the oplog Delta table at `location` with the data files of
/// `adds` as its first commit, whose newest pond txn is `txn`, and makes it
/// durable (`pondsql init`, and a restore as of a txn).
pub(crate) async fn create_oplog(
    location: &Location,
    adds: Vec<Add>,
    txn: i64,
    sql: &str,
) -> Result<()> {
    let table = location.delta_builder()?.build()?;
    table
        .create()
        .with_table_name("pond_oplog")
        .with_comment("pondsql oplog: one row per node version")
        .with_columns(oplog::delta_columns())
        .with_partition_columns([oplog::PARTITION_COLUMN])
        .with_configuration_property(
            deltalake::TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        )
        .with_actions(adds.into_iter().map(Action::Add))
        .with_commit_properties(CommitProperties::default().with_metadata([
            ("pondTxn".to_string(), json!(txn)),
            ("sql".to_string(), json!(sql)),
        ]))
        .await?;
    if let Some(root_dir) = location.local_dir() {
        sync_commit(location, 0).await?;
        for dir in ["oplog", "blobs", ""] {
            durable::sync(&root_dir.join(dir)).await?;
        }
        if let Some(parent) = root_dir.parent() {
            durable::sync(parent).await?;
        }
    }
    Ok(())
}

/// Writes one oplog data file for one partition and returns its Add action.
async fn write_partition(
    location: &Location,
    txn: i64,
    part: &NodeId,
    rows: &[RowToWrite<'_>],
) -> Result<Add> {
    put_oplog_file(location, txn, part, &oplog::encode(rows)?).await
}

/// Syncs the commit file of Delta version `version` and its directory.
/// (Local disks only: an object store's PUT is durable when acknowledged.)
async fn sync_commit(location: &Location, version: i64) -> Result<()> {
    let Some(root_dir) = location.local_dir() else {
        return Ok(());
    };
    let file = root_dir.join(delta_log::commit_path(version).as_ref());
    Ok(durable::sync_new_file(&file).await?)
}

/// Stores `batch` (oplog rows of one partition) as a new, durable data
/// file named after `txn`, and returns its Add action with the file's
/// column statistics.
pub(crate) async fn put_oplog_file(
    location: &Location,
    txn: i64,
    part: &NodeId,
    batch: &RecordBatch,
) -> Result<Add> {
    // Only the long columns are compressed: the Parquet reader sets up a
    // zstd context per compressed column chunk it reads, which cost more
    // than the few bytes of the short columns, at every open.
    let zstd = Compression::ZSTD(ZstdLevel::default());
    let props = oplog::COMPRESSED_COLUMNS
        .iter()
        .fold(
            WriterProperties::builder().set_compression(Compression::UNCOMPRESSED),
            |props, name| props.set_column_compression(ColumnPath::from(*name), zstd),
        )
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    let relative = oplog::data_file_name(txn, part, &buffer);
    let size = buffer.len() as i64;
    let local = location.local_dir();
    let new_partition = local.is_some_and(|dir| {
        !dir.join("oplog")
            .join(format!("{}={part}", oplog::PARTITION_COLUMN))
            .exists()
    });
    location
        .store()
        .put(&Path::from(format!("oplog/{relative}")), buffer.into())
        .await?;
    if let Some(root_dir) = local {
        durable::sync_new_file(&root_dir.join("oplog").join(&relative)).await?;
        if new_partition {
            durable::sync(&root_dir.join("oplog")).await?;
        }
    }
    let stats = oplog::file_stats(batch)?;
    Ok(Add {
        path: relative,
        partition_values: HashMap::from([(
            oplog::PARTITION_COLUMN.to_string(),
            Some(part.to_string()),
        )]),
        size,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(stats.to_string()),
        ..Add::default()
    })
}

/// Reads one oplog data file whole (they are small), checking its size
/// against the Delta log, and decodes `columns`.
pub(crate) async fn read_oplog_file(
    store: &Arc<dyn ObjectStore>,
    file: &str,
    size: u64,
    columns: OplogColumns,
) -> Result<Vec<RecordBatch>> {
    let bytes = store
        .get_opts(&Path::from(format!("oplog/{file}")), Default::default())
        .await?
        .bytes()
        .await?;
    if bytes.len() as u64 != size {
        return Err(StorageError::CorruptOplog(format!(
            "oplog/{file} has {} bytes, the Delta log says {size}",
            bytes.len()
        )));
    }
    oplog::verify_data_file(file, &bytes)?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    if let Some(names) = columns.names() {
        let mask = ProjectionMask::columns(builder.parquet_schema(), names);
        builder = builder.with_projection(mask);
    }
    Ok(builder.build()?.collect::<std::result::Result<_, _>>()?)
}

/// Reads the columns the index keeps (`OplogColumns::Index`) of one oplog data file.
async fn read_partition_file(
    store: Arc<dyn ObjectStore>,
    file: &Arc<str>,
    part: &NodeId,
    size: u64,
) -> Result<Vec<NodeVersion>> {
    let mut out = Vec::new();
    let mut row = 0;
    for batch in read_oplog_file(&store, file, size, OplogColumns::Index).await? {
        out.extend(oplog::decode(&batch, part, file, row)?);
        row += batch.num_rows();
    }
    Ok(out)
}
