//! The one step of a commit that races other writers: putting the next
//! Delta version of the oplog. A strategy (as delta-kernel's `Committer`),
//! so that a test can make commits lose races to a real rival and watch the
//! commit loop in pond.rs start over correctly.

use async_trait::async_trait;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, FinalizedCommit};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaResult, DeltaTable};

#[async_trait]
pub(crate) trait Committer: Send + Sync + std::fmt::Debug {
    /// Puts `actions` as the Delta version after `table`'s snapshot; fails
    /// with a version conflict when another writer put it first.
    async fn put_version(
        &self,
        table: &DeltaTable,
        actions: Vec<Action>,
        properties: CommitProperties,
        operation: DeltaOperation,
    ) -> DeltaResult<FinalizedCommit>;
}

/// Commits through delta-rs, as every pond does outside tests.
#[derive(Debug)]
pub(crate) struct DeltaCommitter;

#[async_trait]
impl Committer for DeltaCommitter {
    async fn put_version(
        &self,
        table: &DeltaTable,
        actions: Vec<Action>,
        properties: CommitProperties,
        operation: DeltaOperation,
    ) -> DeltaResult<FinalizedCommit> {
        CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(table.snapshot()?), table.log_store(), operation)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::storage::{Change, Pond, PondPath, View};

    /// Before each of its first `races` attempts, a rival (another handle
    /// on the same pond, as another process would be) commits first, so
    /// the attempt loses the race for the next Delta version for real.
    #[derive(Debug)]
    struct LosesRaces {
        races: AtomicUsize,
        rival: Pond,
    }

    #[async_trait]
    impl Committer for LosesRaces {
        async fn put_version(
            &self,
            table: &DeltaTable,
            actions: Vec<Action>,
            properties: CommitProperties,
            operation: DeltaOperation,
        ) -> DeltaResult<FinalizedCommit> {
            let left = self
                .races
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if let Ok(n) = left {
                self.rival
                    .commit(&[directory(&format!("/rival{n}"))], "rival")
                    .await
                    .expect("the rival commits");
            }
            DeltaCommitter
                .put_version(table, actions, properties, operation)
                .await
        }
    }

    fn directory(path: &str) -> Change {
        Change::CreateDirectory {
            path: PondPath::parse(path).unwrap(),
            if_not_exists: false,
        }
    }

    /// The `.parquet` files under `dir`, relative to it.
    fn parquet_files(dir: &std::path::Path, under: &str, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir.join(under)).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{under}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                parquet_files(dir, &name, found);
            } else if name.ends_with(".parquet") {
                found.insert(name.trim_start_matches("oplog/").to_string());
            }
        }
    }

    #[tokio::test]
    async fn a_commit_that_loses_races_starts_over_on_the_new_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pond");
        Pond::init(&path).await.unwrap();
        let rival = Pond::open(&path).await.unwrap();
        let committer = Arc::new(LosesRaces {
            races: AtomicUsize::new(3),
            rival,
        });
        let pond = Pond::open(&path).await.unwrap().with_committer(committer);

        let txn = pond.commit(&[directory("/mine")], "mine").await.unwrap();
        // The rivals took txns 1 to 3; this one starts over after each.
        assert_eq!(txn, Some(4));
        assert_eq!(pond.metrics().commits_retried.load(Ordering::Relaxed), 3);
        let view = View::new(pond.index(), None);
        for name in ["/mine", "/rival1", "/rival2", "/rival3"] {
            assert!(
                view.resolve(&PondPath::parse(name).unwrap()).is_some(),
                "{name}"
            );
        }
        // Each lost attempt's oplog file is gone: what is on disk is the log's.
        let mut on_disk = BTreeSet::new();
        parquet_files(&path, "oplog", &mut on_disk);
        let in_log: BTreeSet<String> = pond.index().files().map(|(p, _)| p.to_string()).collect();
        assert_eq!(on_disk, in_log);
    }
}
