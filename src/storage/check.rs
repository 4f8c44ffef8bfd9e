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

    let mut damaged_files = HashMap::new();
    let mut inline_contents: HashMap<Arc<str>, Vec<(usize, String, i64)>> = HashMap::new();
    for (file, indexed) in index.files() {
        match read_oplog_file(&store, file, indexed.size, false).await {
            Ok(_) => {}
            Err(err) => {
                problems.push(Problem::of_file(format!("oplog/{file}"), err.to_string()));
                damaged_files.insert(file.clone(), ());
            }
        }
    }

    let (paths, versions) = versions_to_check(&view, scope, only)?;
    let name = |v: &NodeVersion| {
        paths
            .get(&v.node_id)
            .map(PondPath::to_string)
            .unwrap_or_else(|| format!("(dropped node {})", v.node_id))
    };
    for v in &versions {
        let (Some(sum), content) = (&v.checksum, &v.content) else {
            continue;
        };
        match content {
            ContentRef::Blob => {
                let blob = format!("blobs/{sum}");
                let problem = match hash_object(store.as_ref(), &Path::from(blob.clone())).await? {
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
                if let Some(problem) = problem {
                    problems.push(Problem {
                        path: name(v),
                        version: Some(v.version),
                        problem,
                    });
                }
            }
            ContentRef::Inline { oplog_file, row } => {
                if damaged_files.contains_key(oplog_file) {
                    problems.push(Problem {
                        path: name(v),
                        version: Some(v.version),
                        problem: format!("its content is in the damaged oplog/{oplog_file}"),
                    });
                    continue;
                }
                inline_contents
                    .entry(oplog_file.clone())
                    .or_default()
                    .push((*row, sum.clone(), v.version));
            }
            ContentRef::None | ContentRef::Staged => {}
        }
    }
    // Inline contents: one read of each oplog file for all its rows.
    let owners: HashMap<(Arc<str>, usize), &Arc<NodeVersion>> = versions
        .iter()
        .filter_map(|v| match &v.content {
            ContentRef::Inline { oplog_file, row } => Some(((oplog_file.clone(), *row), v)),
            _ => None,
        })
        .collect();
    for (file, wanted) in inline_contents {
        let size = index
            .files()
            .find(|(path, _)| path.as_ref() == file.as_ref())
            .map(|(_, f)| f.size);
        let Some(size) = size else {
            // An inline content of a file the log no longer lists (compacted
            // away): its rows live on in the merged file the index reads.
            continue;
        };
        let batches = read_oplog_file(&store, &file, size, false).await?;
        let mut contents = Vec::new();
        for batch in &batches {
            let Some(column) = batch.column_by_name("content") else {
                return Err(StorageError::CorruptOplog(format!(
                    "oplog/{file} has no content column"
                )));
            };
            let column = column.as_binary::<i32>();
            for i in 0..column.len() {
                contents.push((!column.is_null(i)).then(|| column.value(i).to_vec()));
            }
        }
        for (row, sum, version) in wanted {
            let owner = owners[&(file.clone(), row)];
            let problem = match contents.get(row).cloned().flatten() {
                None => Some(format!(
                    "its inline content (oplog/{file} row {row}) is missing"
                )),
                Some(bytes) if bytes.len() as i64 != owner.size => Some(format!(
                    "its inline content has {} bytes, the oplog says {}",
                    bytes.len(),
                    owner.size
                )),
                Some(bytes) => {
                    let found = hex::encode(Sha256::digest(&bytes));
                    (found != sum).then(|| {
                        format!("its inline content does not match its sha256 (found {found})")
                    })
                }
            };
            if let Some(problem) = problem {
                problems.push(Problem {
                    path: name(owner),
                    version: Some(version),
                    problem,
                });
            }
        }
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
