//! CHECK: verifies what a pond stores against what its oplog says, and
//! reports every problem as a row instead of stopping at the first.
//!
//! Checked: the Delta log (every commit file still kept, the checkpoint
//! the hint names), every live oplog data file (size per the Delta log,
//! sha256 per its name), and every content (blob or inline) of the live
//! versions, or of all versions: present, of its recorded size, hashing
//! to its recorded sha256. Reads everything it checks: the cost of CHECK is
//! one read of the pond.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use object_store::path::Path;
use sha2::{Digest, Sha256};

use super::delta_log;
use super::error::{Result, StorageError};
use super::index::View;
use super::node::{ContentRef, Kind, NodeId, NodeVersion};
use super::oplog::OplogColumns;
use super::path::PondPath;
use super::pond::{read_oplog_file, Pond};
use super::transfer::hash_object;

/// Which versions' contents to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckScope {
    /// The versions a read sees now.
    Live,
    /// Every version of every node, dropped ones too (what time travel reads).
    AllVersions,
}

/// One thing wrong: where (a pond path, or a file under the pond root),
/// which version, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: String,
    pub(crate) version: Option<i64>,
    pub(crate) problem: String,
}

impl Problem {
    fn of_file(path: impl Into<String>, problem: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            version: None,
            problem: problem.into(),
        }
    }
}

/// Checks `pond` (only the node at `only`, when given; its oplog and log
/// are checked either way).
pub(crate) async fn check(
    pond: &Pond,
    scope: CheckScope,
    only: Option<&PondPath>,
) -> Result<Vec<Problem>> {
    let store = pond.location().store().clone();
    let mut problems = Vec::new();
    if let Some(newest) = delta_log::newest_commit(&store).await? {
        if let Err(err) =
            delta_log::check_commits(&store, 0..=newest, &pond.location().display()).await
        {
            problems.push(Problem::of_file(delta_log::LOG_DIR, err.to_string()));
        }
    }
    for hidden in delta_log::unusable_checkpoint(&store).await? {
        problems.push(Problem::of_file(
            hidden.to_string(),
            "the checkpoint hint names a checkpoint that is missing or cut short (opening reads around it; the next checkpoint replaces it)",
        ));
    }
    let index = pond.refresh().await?;
    let view = View::new(index.clone(), None);
    let (paths, versions) = versions_to_check(&view, scope, only)?;
    let problem = |v: &NodeVersion, problem: String| Problem {
        path: paths
            .get(&v.node_id)
            .map(PondPath::to_string)
            .unwrap_or_else(|| format!("(dropped node {})", v.node_id)),
        version: Some(v.version),
        problem,
    };

    // Each live oplog file is read once: checked whole, then the inline
    // contents it holds for the versions checked.
    let mut inline: HashMap<&str, Vec<&NodeVersion>> = HashMap::new();
    for v in &versions {
        if let ContentRef::Inline { oplog_file, .. } = &v.content {
            inline.entry(oplog_file.as_ref()).or_default().push(v);
        }
    }
    for (file, indexed) in index.files() {
        let wanted = inline.remove(file.as_ref()).unwrap_or_default();
        let batches = match read_oplog_file(&store, file, indexed.size, OplogColumns::All).await {
            Ok(batches) => batches,
            Err(err) => {
                problems.push(Problem::of_file(format!("oplog/{file}"), err.to_string()));
                for v in wanted {
                    problems.push(problem(
                        v,
                        format!("its content is in the damaged oplog/{file}"),
                    ));
                }
                continue;
            }
        };
        if wanted.is_empty() {
            continue;
        }
        let mut contents = Vec::new();
        for batch in &batches {
            let Some(column) = batch.column_by_name("content") else {
                return Err(StorageError::CorruptOplog(format!(
                    "oplog/{file} has no content column"
                )));
            };
            let column = column.as_binary::<i32>();
            contents
                .extend((0..column.len()).map(|i| (!column.is_null(i)).then(|| column.value(i))));
        }
        for v in wanted {
            let (ContentRef::Inline { row, .. }, Some(sum)) = (&v.content, &v.checksum) else {
                continue;
            };
            let found = match contents.get(*row).copied().flatten() {
                None => Some(format!(
                    "its inline content (oplog/{file} row {row}) is missing"
                )),
                Some(bytes) if bytes.len() as i64 != v.size => Some(format!(
                    "its inline content has {} bytes, the oplog says {}",
                    bytes.len(),
                    v.size
                )),
                Some(bytes) => {
                    let found = hex::encode(Sha256::digest(bytes));
                    (&found != sum).then(|| {
                        format!("its inline content does not match its sha256 (found {found})")
                    })
                }
            };
            problems.extend(found.map(|p| problem(v, p)));
        }
    }

    for v in &versions {
        let (ContentRef::Blob, Some(sum)) = (&v.content, &v.checksum) else {
            continue;
        };
        let blob = format!("blobs/{sum}");
        let found = match hash_object(store.as_ref(), &Path::from(blob.clone())).await? {
            None => Some(format!("its content {blob} is missing")),
            Some((_, size)) if size != v.size as u64 => Some(format!(
                "its content {blob} has {size} bytes, the oplog says {}",
                v.size
            )),
            Some((found, _)) if &found != sum => Some(format!(
                "its content {blob} does not match its sha256 (found {found})"
            )),
            Some(_) => None,
        };
        problems.extend(found.map(|p| problem(v, p)));
    }
    Ok(problems)
}

/// The paths of the live nodes checked, by id.
type PathsById = HashMap<NodeId, PondPath>;

/// The versions whose contents to verify, and the paths of live nodes.
fn versions_to_check(
    view: &View,
    scope: CheckScope,
    only: Option<&PondPath>,
) -> Result<(PathsById, Vec<Arc<NodeVersion>>)> {
    let root = view.require(&PondPath::root())?;
    let mut paths = HashMap::new();
    let nodes = match only {
        Some(path) => {
            let found = view.require(path)?;
            let mut nodes = vec![found.clone()];
            if found.kind() == Kind::Directory {
                nodes.extend(view.walk(&found));
            }
            nodes
        }
        None => view.walk(&root),
    };
    for node in &nodes {
        paths.insert(node.id().clone(), node.path.clone());
    }
    let versions = match (scope, only) {
        (CheckScope::AllVersions, None) => view.all_versions(),
        (CheckScope::AllVersions, Some(_)) => {
            nodes.iter().flat_map(|n| view.versions(n.id())).collect()
        }
        (CheckScope::Live, _) => nodes
            .iter()
            .filter(|n| matches!(n.kind(), Kind::Table | Kind::MaterializedView))
            .flat_map(|n| view.live_versions(n.id()))
            .collect(),
    };
    Ok((paths, versions))
}
