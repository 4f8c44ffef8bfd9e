//! Nodes and node versions: the vocabulary of the oplog.
//!
//! A node is anything with a path (directory, table, view). Every change to a
//! node writes a new [`NodeVersion`], one oplog row. This module defines the
//! values; it does no IO.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

/// A stable node identity: 32 lowercase hex digits. The root has a fixed id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct NodeId(Arc<str>);

impl NodeId {
    pub(crate) const ROOT: &'static str = "00000000000000000000000000000000";

    pub(crate) fn root() -> Self {
        NodeId(Arc::from(Self::ROOT))
    }

    pub(crate) fn random() -> Self {
        NodeId(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    pub(crate) fn from_stored(text: &str) -> Self {
        NodeId(Arc::from(text))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &self.0[..8.min(self.0.len())])
    }
}

/// What a node is. More kinds will come (files, symlinks): a library
/// user's `match` needs a `_` arm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    Directory,
    Table,
    View,
    /// A stored query whose output is kept as table versions (REFRESH).
    MaterializedView,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Directory => "directory",
            Kind::Table => "table",
            Kind::View => "view",
            Kind::MaterializedView => "materialized_view",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "directory" => Some(Kind::Directory),
            "table" => Some(Kind::Table),
            "view" => Some(Kind::View),
            "materialized_view" => Some(Kind::MaterializedView),
            _ => None,
        }
    }

    /// Tables and materialized views keep rows in versions; they read alike.
    pub fn holds_rows(self) -> bool {
        matches!(self, Kind::Table | Kind::MaterializedView)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a version does to its node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum VersionOp {
    /// The node's first version.
    Create,
    /// A table chunk added on top of the live versions.
    Append,
    /// A new base: earlier versions stop being live (INSERT OVERWRITE, OR REPLACE).
    Replace,
    /// A directory listing, a view definition or a table's attributes changed.
    Update,
    /// A table chunk that holds exactly the rows of the versions in its
    /// `attrs.compacts` range, which it hides (OPTIMIZE).
    Compact,
    /// A table chunk that holds the corrected rows of the versions in its
    /// `attrs.compacts` range, which it hides (DELETE, UPDATE, upsert).
    Rewrite,
}

impl VersionOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VersionOp::Create => "create",
            VersionOp::Append => "append",
            VersionOp::Replace => "replace",
            VersionOp::Update => "update",
            VersionOp::Compact => "compact",
            VersionOp::Rewrite => "rewrite",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<VersionOp> {
        match text {
            "create" => Some(VersionOp::Create),
            "append" => Some(VersionOp::Append),
            "replace" => Some(VersionOp::Replace),
            "update" => Some(VersionOp::Update),
            "compact" => Some(VersionOp::Compact),
            "rewrite" => Some(VersionOp::Rewrite),
            _ => None,
        }
    }

    /// Does this version start a new base (hide every earlier version)?
    pub(crate) fn is_base(self) -> bool {
        matches!(self, VersionOp::Create | VersionOp::Replace)
    }
}

/// A directory's listing: name → child.
pub(crate) type Listing = BTreeMap<String, DirEntry>;

/// Whether a directory version should store its whole listing rather than
/// what changed, given `changes` entries changed since the last version that
/// stored it and `len` entries now. Often enough that reading a listing
/// replays at most a quarter of its size in changes; rarely enough that
/// storing costs O(change), amortized.
pub(crate) fn store_full_listing(changes: usize, len: usize) -> bool {
    changes > (len / 4).max(64)
}

/// One entry of a directory listing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct DirEntry {
    pub node: NodeId,
    pub kind: Kind,
}

/// The typed attributes of a version, stored as JSON in the `attrs` column.
///
/// Directory listings and view definitions live here rather than in
/// `content` so that reading the tree never touches file contents.
#[derive(Clone, Default, PartialEq, Debug, Serialize, Deserialize)]
pub(crate) struct Attrs {
    /// Directory: the whole listing, name → child. Stored in a directory's
    /// first version and every so often ([`store_full_listing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Arc<Listing>>,
    /// Directory: what changed since its previous version, name → child or
    /// `null` for a name removed. Stored instead of `entries` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_changed: Option<BTreeMap<String, Option<DirEntry>>>,
    /// Table and view: the Arrow schema of the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaRef>,
    /// Table: the event-time column, if the table has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
    /// View: its defining query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Compacted or rewritten table chunk: the first and last version numbers it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacts: Option<[i64; 2]>,
    /// Materialized view: how it refreshes and what it has consumed, as of
    /// this version (every version of the view carries it forward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_query: Option<Arc<StoredQuery>>,
    /// Ingesting materialized view: the host files whose rows this version added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested: Option<Vec<IngestedFile>>,
    /// Version with a blob content: the sha256 of each block of the blob,
    /// so that a scan checks only the blocks it reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Arc<BlockSums>>,
}

/// The sha256 of each `size`-byte block of a blob, in order (the last
/// block may be shorter), as one hex string of 64 characters per block.
///
/// Invariant: covers the whole blob, so `sha256.len() / 64` is
/// `ceil(blob size / size)`; written with the blob, never changed. The
/// blob's name is still the sha256 of all of it (backups and CHECK use that).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct BlockSums {
    pub size: u64,
    pub sha256: String,
}

impl BlockSums {
    /// The hex sha256 of block `index`, if the blob has that block.
    pub(crate) fn block(&self, index: u64) -> Option<&str> {
        let start = usize::try_from(index).ok()?.checked_mul(64)?;
        self.sha256.get(start..start + 64)
    }

    pub(crate) fn count(&self) -> u64 {
        (self.sha256.len() / 64) as u64
    }
}

impl Attrs {
    /// How a materialized view refreshes (`None` for every other node).
    pub(crate) fn refresh_mode(&self) -> Option<RefreshMode> {
        self.stored_query.as_ref().map(|s| s.mode)
    }
}

/// How a materialized view is brought up to date.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RefreshMode {
    /// `downsample()`: recompute only the buckets that new source rows touch.
    Incremental,
    /// Host files: append the rows of files not seen before.
    Ingest,
    /// An API source's readings: append those after the newest held.
    Collect,
    /// Anything else: run the whole query again when a source changed.
    Full,
}

impl RefreshMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RefreshMode::Incremental => "incremental",
            RefreshMode::Ingest => "ingest",
            RefreshMode::Collect => "collect",
            RefreshMode::Full => "full",
        }
    }
}

/// A pond node a materialized view reads, and how far it has read it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct SourceMark {
    pub node: NodeId,
    /// Its path when last refreshed (for messages; the node id is the identity).
    pub path: String,
    /// The version number of its newest base (create/replace) then.
    pub base: i64,
    /// Its newest version that changed data (not a compacted chunk) then.
    pub version: i64,
}

/// The refresh state of a materialized view.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct StoredQuery {
    pub mode: RefreshMode,
    /// Pond sources consumed (empty for ingestion).
    #[serde(default)]
    pub sources: Vec<SourceMark>,
    /// Ingestion: the host file pattern, absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_pattern: Option<String>,
    /// Incremental (`downsample()`) views: the source columns left out
    /// because they are not numbers, as `name (type)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_aggregated: Vec<String>,
}

/// A host file an ingesting view has read: enough to notice that it changed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct IngestedFile {
    pub path: String,
    pub size: u64,
    /// Modification time, microseconds since the epoch.
    pub modified: i64,
    pub sha256: String,
}

/// Where the bytes of a table version are.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum ContentRef {
    /// No content (directories, views, empty tables).
    None,
    /// In the `content` column of an oplog data file, at a row.
    Inline { oplog_file: Arc<str>, row: usize },
    /// Written by this process and not yet committed; held by the content store.
    Staged,
    /// `blobs/<checksum>` under the pond root.
    Blob,
}

/// One oplog row: one version of one node.
#[derive(Clone, Debug)]
pub(crate) struct NodeVersion {
    /// The directory that held the node when this version was written.
    pub part_id: NodeId,
    pub node_id: NodeId,
    pub version: i64,
    pub txn: i64,
    /// Commit time, microseconds since the epoch, UTC.
    pub timestamp: i64,
    pub kind: Kind,
    pub op: VersionOp,
    pub content: ContentRef,
    /// Bytes of content (0 without content).
    pub size: i64,
    pub rows: Option<i64>,
    /// sha256 (hex) of the content.
    pub checksum: Option<String>,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub attrs: Arc<Attrs>,
    /// The SQL text of the transaction that wrote this version: set on the
    /// versions a transaction stages, `None` on those the index reads (it
    /// can be kilobytes per transaction, and only history tables show it:
    /// `Pond::statements` reads it when they are scanned).
    pub sql: Option<Arc<str>>,
    /// Directory: the whole listing as of this version, and the entries
    /// changed since the last version that stored it whole. Not stored:
    /// set from `attrs.entries`, or built on first use ([`NodeVersion::entries`]).
    pub listing: OnceLock<(Arc<Listing>, usize)>,
    /// Directory version that stores only what changed: the version before
    /// it, whose listing the changes apply to (linked by the index).
    pub previous: Option<Previous>,
}

/// The link from a directory version to the one before it. Its `Debug`
/// shows the version number only: chains are long.
#[derive(Clone)]
pub(crate) struct Previous(pub Arc<NodeVersion>);

impl fmt::Debug for Previous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "version {}", self.0.version)
    }
}

impl Drop for NodeVersion {
    /// Unlinks a chain of versions one by one: dropping it recursively
    /// could overflow the stack.
    fn drop(&mut self) {
        let mut next = self.previous.take();
        while let Some(Previous(version)) = next {
            next = match Arc::try_unwrap(version) {
                Ok(mut only_owner) => only_owner.previous.take(),
                Err(_) => None,
            };
        }
    }
}

/// The listing a version's `attrs` hold whole, if they do.
pub(crate) fn stored_listing(attrs: &Attrs) -> OnceLock<(Arc<Listing>, usize)> {
    match &attrs.entries {
        Some(listing) => OnceLock::from((listing.clone(), 0)),
        None => OnceLock::new(),
    }
}

impl NodeVersion {
    /// The root directory's first version, written by `pondsql init` (txn 0).
    pub(crate) fn root_directory(timestamp: i64) -> NodeVersion {
        NodeVersion {
            part_id: NodeId::root(),
            node_id: NodeId::root(),
            version: 1,
            txn: 0,
            timestamp,
            kind: Kind::Directory,
            op: VersionOp::Create,
            content: ContentRef::None,
            size: 0,
            rows: None,
            checksum: None,
            min_time: None,
            max_time: None,
            attrs: Arc::new(Attrs {
                entries: Some(Arc::default()),
                ..Attrs::default()
            }),
            sql: Some(Arc::from("pondsql init")),
            listing: OnceLock::from((Arc::default(), 0)),
            previous: None,
        }
    }

    pub(crate) fn schema(&self) -> Option<&SchemaRef> {
        self.attrs.schema.as_ref()
    }

    /// A directory version's listing: stored whole, or built once from the
    /// nearest version back that has one, applying the changes after it.
    pub(crate) fn entries(&self) -> Option<&Listing> {
        self.built_listing().map(|(listing, _)| &**listing)
    }

    /// Entries changed since the last version that stored the listing whole.
    pub(crate) fn listing_changes(&self) -> usize {
        self.built_listing().map_or(0, |(_, changes)| *changes)
    }

    fn built_listing(&self) -> Option<&(Arc<Listing>, usize)> {
        if let Some(built) = self.listing.get() {
            return Some(built);
        }
        // Back to the nearest version with a listing (iteratively: a chain
        // can be long), then forward through the changes once.
        let mut pending = vec![self];
        let (base, mut changes) = loop {
            let previous = &*pending.last()?.previous.as_ref()?.0;
            match previous.listing.get() {
                Some(built) => break built.clone(),
                None => pending.push(previous),
            }
        };
        let mut listing = Listing::clone(&base);
        for version in pending.iter().rev() {
            let changed = version.attrs.entries_changed.as_ref()?;
            for (name, entry) in changed {
                match entry {
                    Some(e) => listing.insert(name.clone(), e.clone()),
                    None => listing.remove(name),
                };
            }
            changes += changed.len();
        }
        Some(self.listing.get_or_init(|| (Arc::new(listing), changes)))
    }
}
