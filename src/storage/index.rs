//! The in-memory index of the oplog's metadata, and views of the tree over it.
//!
//! The index holds every committed node version without its content (a few
//! hundred bytes each) and is extended incrementally as Delta versions arrive,
//! so a statement never replays history. A [`View`] is the tree as of one
//! transaction, optionally with staged (uncommitted) versions on top.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::error::{Result, StorageError};
use super::node::{ContentRef, Kind, NodeId, NodeVersion, Previous, VersionOp};
use super::path::PondPath;

/// What one transaction did, derived from its rows (its SQL text is not
/// kept: `Pond::statements` reads it).
#[derive(Clone, Debug)]
pub(crate) struct TxnSummary {
    pub txn: i64,
    pub timestamp: i64,
    pub nodes: i64,
    pub rows_added: i64,
}

/// Every committed node version of a pond, as of Delta version `delta_version`.
///
/// Invariants: each node's versions are sorted by `version` (1, 2, …) and by
/// `txn`; `files` names every live oplog data file and the versions it holds.
/// `last_txn` is the newest pond transaction: oplog compactions are Delta
/// commits too, so pond txns and Delta versions part ways after the first.
#[derive(Clone, Default)]
pub(crate) struct OplogIndex {
    last_txn: i64,
    delta_version: Option<i64>,
    nodes: HashMap<NodeId, Arc<Vec<Arc<NodeVersion>>>>,
    txns: BTreeMap<i64, TxnSummary>,
    files: HashMap<Arc<str>, Arc<IndexedFile>>,
}

/// A live oplog data file: its directory partition, size, and the versions it holds.
#[derive(Debug)]
pub(crate) struct IndexedFile {
    pub part: NodeId,
    pub size: u64,
    versions: Vec<(NodeId, i64)>,
}

/// One oplog data file read for the index.
pub(crate) struct ReadFile {
    pub path: Arc<str>,
    pub part: NodeId,
    pub size: u64,
    pub versions: Vec<NodeVersion>,
}

impl OplogIndex {
    pub(crate) fn last_txn(&self) -> i64 {
        self.last_txn
    }

    /// The Delta version this index reflects (`None` before the first load).
    pub(crate) fn delta_version(&self) -> Option<i64> {
        self.delta_version
    }

    pub(crate) fn has_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<IndexedFile>)> {
        self.files.iter()
    }

    /// Moves to `delta_version`: forgets the versions of `removed` files
    /// (compacted away; their rows come back in `added`), then adds `added`
    /// and builds the listings of the directory versions among them.
    pub(crate) fn extend(
        &mut self,
        delta_version: i64,
        removed: &[Arc<str>],
        added: Vec<ReadFile>,
    ) -> Result<()> {
        let mut gone: HashMap<NodeId, HashSet<i64>> = HashMap::new();
        for path in removed {
            if let Some(file) = self.files.remove(path) {
                for (node, version) in &file.versions {
                    gone.entry(node.clone()).or_default().insert(*version);
                }
            }
        }
        for (id, versions) in gone {
            let Some(list) = self.nodes.get_mut(&id) else {
                continue;
            };
            let list = Arc::make_mut(list);
            for v in list.iter().filter(|v| versions.contains(&v.version)) {
                if let Some(summary) = self.txns.get_mut(&v.txn) {
                    summary.nodes -= 1;
                    summary.rows_added -= rows_added(v);
                }
            }
            list.retain(|v| !versions.contains(&v.version));
            if list.is_empty() {
                self.nodes.remove(&id);
            }
        }
        self.txns.retain(|_, summary| summary.nodes > 0);
        let mut touched = HashSet::new();
        for file in added {
            let keys = file
                .versions
                .iter()
                .map(|v| (v.node_id.clone(), v.version))
                .collect();
            self.files.insert(
                file.path,
                Arc::new(IndexedFile {
                    part: file.part,
                    size: file.size,
                    versions: keys,
                }),
            );
            for v in file.versions {
                let summary = self.txns.entry(v.txn).or_insert_with(|| TxnSummary {
                    txn: v.txn,
                    timestamp: v.timestamp,
                    nodes: 0,
                    rows_added: 0,
                });
                summary.nodes += 1;
                summary.rows_added += rows_added(&v);
                touched.insert(v.node_id.clone());
                Arc::make_mut(self.nodes.entry(v.node_id.clone()).or_default()).push(Arc::new(v));
            }
        }
        for id in touched {
            if let Some(list) = self.nodes.get_mut(&id) {
                let list = Arc::make_mut(list);
                list.sort_by_key(|v| v.version);
                link_listings(list)?;
            }
        }
        self.last_txn = self.txns.keys().next_back().copied().unwrap_or(0);
        self.delta_version = Some(delta_version);
        Ok(())
    }

    pub(crate) fn transactions(&self) -> impl Iterator<Item = &TxnSummary> {
        self.txns.values()
    }
}

/// Links each directory version that stores only what changed to the
/// version before it, where its listing is built from (on first use).
fn link_listings(versions: &mut [Arc<NodeVersion>]) -> Result<()> {
    for i in 0..versions.len() {
        let v = &versions[i];
        if v.previous.is_some() || v.attrs.entries_changed.is_none() {
            continue;
        }
        let previous = i
            .checked_sub(1)
            .map(|p| versions[p].clone())
            .filter(|p| p.version + 1 == v.version && p.kind == v.kind);
        let Some(previous) = previous else {
            return Err(StorageError::CorruptOplog(format!(
                "directory {} version {} lists changes, but version {} is missing",
                v.node_id,
                v.version,
                v.version - 1
            )));
        };
        Arc::make_mut(&mut versions[i]).previous = Some(Previous(previous));
    }
    Ok(())
}

fn rows_added(v: &NodeVersion) -> i64 {
    if v.kind.holds_rows() && !matches!(v.op, VersionOp::Compact | VersionOp::Rewrite) {
        v.rows.unwrap_or(0)
    } else {
        0
    }
}

/// Versions staged by an open transaction, not yet committed.
///
/// During a trial ([`Overlay::begin_trial`]) every push is journaled, so
/// [`Overlay::roll_back`] can take it back: checking a change against a
/// BEGIN block's staged versions then costs the change, not a copy of them.
#[derive(Clone, Default)]
pub(crate) struct Overlay {
    nodes: HashMap<NodeId, Vec<Arc<NodeVersion>>>,
    trial: Option<Vec<Undo>>,
}

/// How to take back one push.
#[derive(Clone)]
enum Undo {
    Added(NodeId),
    Replaced(NodeId, Arc<NodeVersion>),
}

impl Overlay {
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds a version. A node keeps at most one staged version per
    /// transaction unless it is a table chunk (each INSERT is its own version).
    pub(crate) fn push(&mut self, version: NodeVersion) {
        let id = version.node_id.clone();
        let list = self.nodes.entry(id.clone()).or_default();
        let undo = match list.last_mut() {
            Some(last) if last.version == version.version => {
                Undo::Replaced(id, std::mem::replace(last, Arc::new(version)))
            }
            _ => {
                list.push(Arc::new(version));
                Undo::Added(id)
            }
        };
        if let Some(journal) = &mut self.trial {
            journal.push(undo);
        }
    }

    /// Starts journaling pushes, to be taken back by [`Overlay::roll_back`].
    pub(crate) fn begin_trial(&mut self) {
        self.trial = Some(Vec::new());
    }

    /// Keeps the pushes since [`Overlay::begin_trial`].
    pub(crate) fn end_trial(&mut self) {
        self.trial = None;
    }

    /// Takes back every push since [`Overlay::begin_trial`], newest first.
    pub(crate) fn roll_back(&mut self) {
        for undo in self.trial.take().unwrap_or_default().into_iter().rev() {
            match undo {
                Undo::Added(id) => {
                    let list = self.nodes.get_mut(&id).expect("journaled push");
                    list.pop();
                    if list.is_empty() {
                        self.nodes.remove(&id);
                    }
                }
                Undo::Replaced(id, old) => {
                    let list = self.nodes.get_mut(&id).expect("journaled push");
                    *list.last_mut().expect("journaled push") = old;
                }
            }
        }
    }

    pub(crate) fn versions(&self) -> impl Iterator<Item = &Arc<NodeVersion>> {
        self.nodes.values().flatten()
    }
}

/// A node found by path.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub path: PondPath,
    pub latest: Arc<NodeVersion>,
}

impl Resolved {
    pub(crate) fn id(&self) -> &NodeId {
        &self.latest.node_id
    }

    pub(crate) fn kind(&self) -> Kind {
        self.latest.kind
    }
}

/// The pond tree as of one transaction, with an optional overlay of staged versions.
#[derive(Clone)]
pub(crate) struct View {
    index: Arc<OplogIndex>,
    as_of: Option<i64>,
    overlay: Arc<Overlay>,
}

impl View {
    /// A pond that holds only its root directory, as `pondsql init` leaves it.
    pub(crate) fn of_empty_pond() -> View {
        let mut index = OplogIndex::default();
        index
            .extend(
                0,
                &[],
                vec![ReadFile {
                    path: Arc::from("part_id=root/init.parquet"),
                    part: NodeId::root(),
                    size: 0,
                    versions: vec![NodeVersion::root_directory(0)],
                }],
            )
            .expect("one root version always indexes");
        View::new(Arc::new(index), None)
    }

    pub(crate) fn new(index: Arc<OplogIndex>, as_of: Option<i64>) -> Self {
        View {
            index,
            as_of,
            overlay: Arc::default(),
        }
    }

    pub(crate) fn overlay(&self) -> &Overlay {
        &self.overlay
    }

    pub(crate) fn overlay_mut(&mut self) -> &mut Overlay {
        Arc::make_mut(&mut self.overlay)
    }

    fn visible(&self, v: &NodeVersion) -> bool {
        self.as_of.is_none_or(|t| v.txn <= t)
    }

    /// Every version of a node visible in this view, oldest first.
    pub(crate) fn versions(&self, id: &NodeId) -> Vec<Arc<NodeVersion>> {
        let mut out: Vec<Arc<NodeVersion>> = self
            .index
            .nodes
            .get(id)
            .map(|list| list.iter().filter(|v| self.visible(v)).cloned().collect())
            .unwrap_or_default();
        if let Some(staged) = self.overlay.nodes.get(id) {
            out.extend(staged.iter().cloned());
        }
        out
    }

    pub(crate) fn latest(&self, id: &NodeId) -> Option<Arc<NodeVersion>> {
        if let Some(v) = self.overlay.nodes.get(id).and_then(|l| l.last()) {
            return Some(v.clone());
        }
        let list = self.index.nodes.get(id)?;
        list.iter().rev().find(|v| self.visible(v)).cloned()
    }

    /// Every version from the node's newest base (create/replace) on, oldest
    /// first, compacted ones included: what the node's rows came from.
    pub(crate) fn versions_since_base(&self, id: &NodeId) -> Vec<Arc<NodeVersion>> {
        let mut versions = self.versions(id);
        if let Some(base) = versions.iter().rposition(|v| v.op.is_base()) {
            versions.drain(..base);
        }
        versions
    }

    /// The newest version that changed the node (a compacted chunk re-packs
    /// rows and changes none).
    pub(crate) fn data_version(&self, id: &NodeId) -> Option<Arc<NodeVersion>> {
        self.versions(id)
            .into_iter()
            .rfind(|v| v.op != VersionOp::Compact)
    }

    /// The versions a read of the table sees: from the newest base on,
    /// without those a later compacted chunk replaced.
    pub(crate) fn live_versions(&self, id: &NodeId) -> Vec<Arc<NodeVersion>> {
        let versions = self.versions_since_base(id);
        // A chunk replaces the versions in its range, including older chunks
        // (whose own ranges it then replaces too): collect ranges newest first.
        let mut replaced: Vec<[i64; 2]> = Vec::new();
        let mut live: Vec<Arc<NodeVersion>> = Vec::with_capacity(versions.len());
        for v in versions.into_iter().rev() {
            let hidden = replaced.iter().any(|[a, b]| (*a..=*b).contains(&v.version));
            if let Some(range) = v.attrs.compacts {
                replaced.push(range);
            }
            if !hidden {
                live.push(v);
            }
        }
        live.reverse();
        live
    }

    /// Finds a node by path; `None` when any segment is missing or a parent is not a directory.
    pub(crate) fn resolve(&self, path: &PondPath) -> Option<Resolved> {
        let mut current = self.latest(&NodeId::root())?;
        for segment in path.segments() {
            let entry = current.entries()?.get(segment)?;
            current = self.latest(&entry.node)?;
        }
        Some(Resolved {
            path: path.clone(),
            latest: current,
        })
    }

    /// Like [`View::resolve`], but a missing node is an error naming the path.
    pub(crate) fn require(&self, path: &PondPath) -> Result<Resolved> {
        self.resolve(path)
            .ok_or_else(|| StorageError::NotFound(path.clone()))
    }

    pub(crate) fn require_directory(&self, path: &PondPath) -> Result<Resolved> {
        match self.resolve(path) {
            None => Err(StorageError::MissingDirectory(path.clone())),
            Some(r) if r.kind() != Kind::Directory => Err(StorageError::WrongKind {
                path: path.clone(),
                actual: r.kind().as_str(),
                expected: "directory",
            }),
            Some(r) => Ok(r),
        }
    }

    /// The direct children of a directory, by name.
    pub(crate) fn children(&self, dir: &Resolved) -> Vec<Resolved> {
        let Some(entries) = dir.latest.entries() else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|(name, entry)| {
                let latest = self.latest(&entry.node)?;
                let path = dir.path.join(name).ok()?;
                Some(Resolved { path, latest })
            })
            .collect()
    }

    /// A directory and everything below it, depth first, sorted by path.
    pub(crate) fn walk(&self, dir: &Resolved) -> Vec<Resolved> {
        let mut out = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(next) = stack.pop() {
            for child in self.children(&next) {
                if child.kind() == Kind::Directory {
                    stack.push(child.clone());
                }
                out.push(child);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Every directory path, sorted.
    pub(crate) fn directories(&self) -> Vec<PondPath> {
        let Some(root) = self.resolve(&PondPath::root()) else {
            return Vec::new();
        };
        let mut dirs: Vec<PondPath> = self
            .walk(&root)
            .into_iter()
            .filter(|r| r.kind() == Kind::Directory)
            .map(|r| r.path)
            .collect();
        dirs.insert(0, PondPath::root());
        dirs
    }

    /// Every committed version visible in this view, in (txn, node, version) order.
    pub(crate) fn all_versions(&self) -> Vec<Arc<NodeVersion>> {
        let mut out: Vec<Arc<NodeVersion>> = self
            .index
            .nodes
            .values()
            .flat_map(|l| l.iter().filter(|v| self.visible(v)).cloned())
            .collect();
        out.sort_by(|a, b| (a.txn, &a.node_id, a.version).cmp(&(b.txn, &b.node_id, b.version)));
        out
    }

    /// The blobs (by sha256) that versions visible in this view reference:
    /// what VACUUM keeps and RESTORE copies.
    pub(crate) fn referenced_blobs(&self) -> HashSet<String> {
        self.all_versions()
            .iter()
            .filter(|v| v.content == ContentRef::Blob)
            .filter_map(|v| v.checksum.clone())
            .collect()
    }

    /// The live oplog data files and their sizes (they hold every committed
    /// version, and so the SQL text of every transaction this view sees);
    /// with `parts`, only those of these directory partitions.
    pub(crate) fn oplog_files(&self, parts: Option<&HashSet<NodeId>>) -> Vec<(Arc<str>, u64)> {
        self.index
            .files()
            .filter(|(_, file)| parts.is_none_or(|p| p.contains(&file.part)))
            .map(|(path, file)| (path.clone(), file.size))
            .collect()
    }

    pub(crate) fn transactions(&self) -> Vec<TxnSummary> {
        self.index
            .transactions()
            .filter(|t| self.as_of.is_none_or(|a| t.txn <= a))
            .cloned()
            .collect()
    }
}
