//! What a pond does after a commit has landed, with the table lock taken
//! again: merge small oplog files, write checkpoints, clean the log.

use super::*;

impl Pond {
    /// After a landed commit: merges the small oplog files of the
    /// directories it wrote, writes a checkpoint and cleans the log when it
    /// crossed their intervals. Best effort: the commit has landed whatever
    /// happens here, and what is skipped the next commit retries.
    pub(super) async fn maintain(&self, landed: Landed) {
        let Landed { before, parts } = landed;
        let mut table = self.table.lock().await;
        for part in parts {
            if let Err(err) = self
                .compact_oplog(&mut table, &NodeId::from_stored(&part))
                .await
            {
                tracing::warn!("oplog compaction of partition {part} skipped (the next commit retries it): {err}");
            }
        }
        let version = table.version().unwrap_or(0);
        let interval = CHECKPOINT_INTERVAL as u64;
        if version / interval > before / interval {
            // Without it, opening reads a few more JSON commits.
            let written = match deltalake::checkpoints::create_checkpoint(&table, None).await {
                Ok(()) => self.sync_checkpoint(version as i64).await,
                Err(err) => Err(err.into()),
            };
            if let Err(err) = written {
                tracing::warn!("checkpoint at Delta version {version} not written (opening reads a few more commits until the next one): {err}");
            }
        }
        if version / LOG_CLEANUP_INTERVAL > before / LOG_CLEANUP_INTERVAL {
            // What it leaves is removed next time.
            if let Err(err) = deltalake::checkpoints::cleanup_metadata(&table, None).await {
                tracing::warn!(
                    "expired Delta log files not removed (the next cleanup retries): {err}"
                );
            }
        }
    }

    /// Merges the small oplog files of one directory partition into one, as
    /// a Delta commit of its own (`data_change: false`, no pond txn). Gives
    /// up quietly when another commit gets in first.
    async fn compact_oplog(&self, table: &mut DeltaTable, part: &NodeId) -> Result<()> {
        let index = self.index();
        let candidates: Vec<(Arc<str>, u64)> = index
            .files()
            .filter(|(_, f)| &f.part == part && f.size < COMPACTED_OPLOG_FILE_BYTES)
            .map(|(path, f)| (path.clone(), f.size))
            .collect();
        // In name order: names start with the txn, so rows stay in txn order.
        let small = plan_oplog_merge(candidates, COMPACT_OPLOG_AT);
        if small.is_empty() {
            return Ok(());
        }
        let mut batches = Vec::new();
        for (path, size) in &small {
            batches
                .extend(read_oplog_file(&self.root_store, path, *size, OplogColumns::All).await?);
        }
        let merged = datafusion::arrow::compute::concat_batches(&oplog::file_schema(), &batches)?;
        let mut add = put_oplog_file(&self.location, index.last_txn(), part, &merged).await?;
        add.data_change = false;
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions = vec![Action::Add(add.clone())];
        actions.extend(small.iter().map(|(path, size)| {
            Action::Remove(Remove {
                path: path.to_string(),
                deletion_timestamp: Some(now),
                data_change: false,
                extended_file_metadata: Some(true),
                partition_values: Some(add.partition_values.clone()),
                size: Some(*size as i64),
                ..Remove::default()
            })
        }));
        let operation = DeltaOperation::Optimize {
            predicate: Some(format!("{} = '{part}'", oplog::PARTITION_COLUMN)),
            target_size: COMPACTED_OPLOG_FILE_BYTES as i64,
        };
        let mut landed = None;
        for _ in 0..COMPACTION_ATTEMPTS {
            // The merge stays valid while every file it replaces is live:
            // appends beside it are fine, another merge of them is not.
            let snapshot = table.snapshot()?;
            let live: HashSet<String> = snapshot
                .log_data()
                .iter()
                .map(|f| f.path().to_string())
                .collect();
            if !small.iter().all(|(path, _)| live.contains(path.as_ref())) {
                break;
            }
            let properties = CommitProperties::default()
                .with_max_retries(0)
                .with_create_checkpoint(false)
                .with_cleanup_expired_logs(Some(false))
                .with_metadata([
                    ("pondOplogCompaction".to_string(), json!(part.to_string())),
                    (delta_log::ACTIONS_KEY.to_string(), json!(actions.len())),
                ]);
            let result = CommitBuilder::from(properties)
                .with_actions(actions.clone())
                .build(Some(snapshot), table.log_store(), operation.clone())
                .await;
            match result {
                Ok(commit) => {
                    landed = Some(commit.version() as i64);
                    break;
                }
                Err(err) if lost_race(&err) => self.update(table).await?,
                Err(err) => {
                    self.delete_oplog_file(&add.path).await;
                    return Err(err.into());
                }
            }
        }
        let Some(landed) = landed else {
            self.delete_oplog_file(&add.path).await;
            return Ok(());
        };
        sync_commit(&self.location, landed).await?;
        self.update(table).await?;
        self.refresh_locked(table).await?;
        Ok(())
    }

    /// Removes a data file of a commit that did not land (best effort:
    /// VACUUM finds what this misses).
    pub(super) async fn delete_oplog_file(&self, relative: &str) {
        if let Err(err) = self
            .root_store
            .delete(&Path::from(format!("oplog/{relative}")))
            .await
        {
            tracing::warn!(
                "oplog/{relative} of a commit that did not land is left for VACUUM: {err}"
            );
        }
    }

    /// Syncs the checkpoint of Delta version `version` and the hint naming it.
    async fn sync_checkpoint(&self, version: i64) -> Result<()> {
        let Some(root_dir) = self.location.local_dir() else {
            return Ok(());
        };
        let log = root_dir.join("oplog/_delta_log");
        durable::sync(&log.join(format!("{version:020}.checkpoint.parquet"))).await?;
        durable::sync(&log.join("_last_checkpoint")).await?;
        Ok(durable::sync(&log).await?)
    }
}
