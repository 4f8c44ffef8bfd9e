//! The oplog's Delta log as pondsql checks it before trusting it.
//!
//! - A commit file that a crash or power loss cut short (empty, a partial
//!   line, fewer actions than its `commitInfo` announces) is an error naming
//!   it, never read as a shorter commit: read that way, the acknowledged
//!   rows would be gone and the next commit would reuse the txn number.
//! - A `_last_checkpoint` hint naming a checkpoint that is missing or cut
//!   short is ignored, with that checkpoint: the log is read from an older
//!   checkpoint or replayed from its JSON commits instead.
//! - `pondsql repair` sets a damaged *newest* commit aside. With the
//!   durability contract (durable.rs) the newest commit is the only one a
//!   power loss can damage, and it was never acknowledged.

use std::collections::HashSet;
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde_json::Value;

use super::error::{Result, StorageError};

/// `commitInfo` key: how many actions besides `commitInfo` the commit wrote.
pub(crate) const ACTIONS_KEY: &str = "pondActions";

pub(crate) const LOG_DIR: &str = "oplog/_delta_log";

/// The commit file of Delta version `version`, relative to the pond root.
pub(crate) fn commit_path(version: i64) -> Path {
    Path::from(format!("{LOG_DIR}/{version:020}.json"))
}

/// Why these bytes are not a whole commit, if they are not.
pub(crate) fn damage(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return Some("empty".into());
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some("not text".into());
    };
    let mut announced = None;
    let mut actions = 0;
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let action = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(action)) if action.len() == 1 => action,
            _ => return Some(format!("cut short (line {} is not a whole action)", n + 1)),
        };
        match action.get("commitInfo") {
            Some(info) => announced = info.get(ACTIONS_KEY).and_then(Value::as_i64),
            None => actions += 1,
        }
    }
    match announced {
        Some(n) if n != actions => Some(format!("cut short ({actions} of its {n} actions)")),
        _ if actions == 0 => Some("cut short (no actions)".into()),
        _ => None,
    }
}

/// Checks the commit files of `versions`; the last one is the log's newest.
/// Files already cleaned up (older than the log retention) are skipped.
pub(crate) async fn check_commits(
    store: &Arc<dyn ObjectStore>,
    versions: RangeInclusive<i64>,
    pond_root: &str,
) -> Result<()> {
    let newest = *versions.end();
    for version in versions {
        let path = commit_path(version);
        let bytes = match store.get_opts(&path, GetOptions::default()).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = damage(&bytes) {
            return Err(StorageError::DamagedCommit {
                file: path.to_string(),
                why,
                newest: version == newest,
                root: pond_root.to_string(),
            });
        }
    }
    Ok(())
}

/// The newest commit version in the log, by listing it.
pub(crate) async fn newest_commit(store: &Arc<dyn ObjectStore>) -> Result<Option<i64>> {
    let listed: Vec<ObjectMeta> = store.list(Some(&Path::from(LOG_DIR))).try_collect().await?;
    Ok(listed
        .iter()
        .filter_map(|m| m.location.filename())
        .filter_map(|name| name.strip_suffix(".json"))
        .filter(|stem| stem.len() == 20)
        .filter_map(|stem| stem.parse::<i64>().ok())
        .max())
}

/// What a Delta load error means, when it is a damaged commit: delta-rs
/// fails on a bad line before pondsql could look. The newest commit is
/// checked first (a crash cuts only that one short), then every other,
/// so the message names the file whichever it is.
pub(crate) async fn explain_load_error(
    store: &Arc<dyn ObjectStore>,
    pond_root: &str,
    err: deltalake::DeltaTableError,
) -> StorageError {
    if let Ok(Some(newest)) = newest_commit(store).await {
        for versions in [newest..=newest, 0..=newest] {
            if let Err(damaged @ StorageError::DamagedCommit { .. }) =
                check_commits(store, versions, pond_root).await
            {
                return damaged;
            }
        }
    }
    err.into()
}

/// The files not to trust when `_last_checkpoint` names a checkpoint that
/// is missing or cut short: the hint and that checkpoint. Empty when the
/// hint is usable or absent.
pub(crate) async fn unusable_checkpoint(store: &Arc<dyn ObjectStore>) -> Result<Vec<Path>> {
    let hint_path = Path::from(format!("{LOG_DIR}/_last_checkpoint"));
    let hint = match store.get_opts(&hint_path, GetOptions::default()).await {
        Ok(result) => result.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let hint: Value = serde_json::from_slice(&hint).unwrap_or(Value::Null);
    let Some(version) = hint.get("version").and_then(Value::as_i64) else {
        return Ok(vec![hint_path]);
    };
    if hint.get("parts").and_then(Value::as_i64).unwrap_or(1) > 1 {
        // pondsql writes single-file checkpoints; trust other writers' hints.
        return Ok(Vec::new());
    }
    let checkpoint = Path::from(format!("{LOG_DIR}/{version:020}.checkpoint.parquet"));
    let meta = match store.head(&checkpoint).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(vec![hint_path]),
        Err(e) => return Err(e.into()),
    };
    let whole = match hint.get("sizeInBytes").and_then(Value::as_u64) {
        Some(size) => meta.size == size,
        None => {
            meta.size >= 8
                && store
                    .get_range(&checkpoint, meta.size - 4..meta.size)
                    .await?
                    .as_ref()
                    == b"PAR1"
        }
    };
    Ok(if whole {
        Vec::new()
    } else {
        vec![hint_path, checkpoint]
    })
}

/// Sets a damaged newest commit aside into `damaged/` under the pond root.
/// Returns the file and what was wrong with it; `None` when the newest
/// commit is whole (nothing to repair).
pub(crate) async fn set_aside_damaged_newest(
    store: &Arc<dyn ObjectStore>,
    pond_root: &str,
) -> Result<Option<(String, String)>> {
    let Some(newest) = newest_commit(store).await? else {
        return Ok(None);
    };
    match check_commits(store, newest..=newest, pond_root).await {
        Err(StorageError::DamagedCommit { file, why, .. }) => {
            let target = Path::from(format!(
                "damaged/{}",
                commit_path(newest).filename().unwrap_or("commit.json")
            ));
            store.rename(&commit_path(newest), &target).await?;
            Ok(Some((file, why)))
        }
        other => other.map(|()| None),
    }
}

/// An object store that hides some files (an unusable checkpoint and the
/// hint naming it) from reads and listings; everything else passes through.
#[derive(Debug)]
pub(crate) struct HidingStore {
    inner: Arc<dyn ObjectStore>,
    hidden: HashSet<Path>,
}

impl HidingStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, hidden: impl IntoIterator<Item = Path>) -> Self {
        HidingStore {
            inner,
            hidden: hidden.into_iter().collect(),
        }
    }

    fn check(&self, location: &Path) -> object_store::Result<()> {
        if self.hidden.contains(location) {
            return Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "set aside: pondsql does not trust it".into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for HidingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HidingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for HidingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let hidden = self.hidden.clone();
        self.inner
            .list(prefix)
            .filter(move |meta| {
                let keep = !matches!(meta, Ok(m) if hidden.contains(&m.location));
                std::future::ready(keep)
            })
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let hidden = self.hidden.clone();
        self.inner
            .list_with_offset(prefix, offset)
            .filter(move |meta| {
                let keep = !matches!(meta, Ok(m) if hidden.contains(&m.location));
                std::future::ready(keep)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed
            .objects
            .retain(|m| !self.hidden.contains(&m.location));
        Ok(listed)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.check(from)?;
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_cut_short_are_named() {
        let info = format!(r#"{{"commitInfo":{{"operation":"WRITE","{ACTIONS_KEY}":2}}}}"#);
        let add = r#"{"add":{"path":"a.parquet","size":1}}"#;
        let whole = format!("{info}\n{add}\n{add}");
        assert_eq!(damage(whole.as_bytes()), None);
        assert_eq!(damage(b"").as_deref(), Some("empty"));
        let cut = &whole[..whole.len() - 10];
        assert!(damage(cut.as_bytes()).unwrap().contains("line 3"));
        let short = format!("{info}\n{add}\n");
        assert!(damage(short.as_bytes()).unwrap().contains("1 of its 2"));
        assert!(damage(format!("{info}\n").as_bytes()).is_some());
        // Commits of other writers (no count) are checked for whole lines only.
        assert_eq!(
            damage(format!("{{\"commitInfo\":{{}}}}\n{add}").as_bytes()),
            None
        );
    }
}
