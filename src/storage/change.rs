//! What a statement asks of the tree ([`Change`]), with the contents it
//! already wrote: the values [`Staging`](super::txn::Staging) applies.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::{FieldRef, SchemaRef};

use super::node::{BlockSums, IngestedFile, Kind, StoredQuery};
use super::path::PondPath;

/// Table content already written: inline bytes, or a blob in `blobs/<checksum>`.
#[derive(Clone, Debug)]
pub(crate) struct Content {
    pub checksum: String,
    pub size: i64,
    pub rows: i64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// `Some` for small contents kept in the oplog row; `None` for a blob.
    pub inline: Option<Bytes>,
    /// A blob's block checksums (`None` when inline).
    pub blocks: Option<Arc<BlockSums>>,
}

/// A compacted chunk: one content holding exactly the rows of a table's
/// versions `first..=last` (OPTIMIZE).
#[derive(Clone, Debug)]
pub(crate) struct CompactedChunk {
    pub first: i64,
    pub last: i64,
    pub content: Content,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreateMode {
    Fail,
    IfNotExists,
    Replace,
}

impl CreateMode {
    /// `CREATE [OR REPLACE] … [IF NOT EXISTS]`: OR REPLACE wins.
    pub(crate) fn of(or_replace: bool, if_not_exists: bool) -> Self {
        match (or_replace, if_not_exists) {
            (true, _) => CreateMode::Replace,
            (false, true) => CreateMode::IfNotExists,
            (false, false) => CreateMode::Fail,
        }
    }
}

/// One logical change to the tree.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    CreateDirectory {
        path: PondPath,
        if_not_exists: bool,
    },
    DropDirectory {
        path: PondPath,
        if_exists: bool,
        cascade: bool,
    },
    CreateTable {
        path: PondPath,
        schema: SchemaRef,
        time_column: Option<String>,
        content: Option<Content>,
        mode: CreateMode,
    },
    /// INSERT (append) or INSERT OVERWRITE (a new base).
    WriteTable {
        path: PondPath,
        content: Option<Content>,
        overwrite: bool,
    },
    CreateView {
        path: PondPath,
        query: String,
        schema: SchemaRef,
        mode: CreateMode,
    },
    Drop {
        path: PondPath,
        kind: Kind,
        if_exists: bool,
    },
    Rename {
        from: PondPath,
        to: PondPath,
    },
    /// Adds a nullable column to a table; earlier versions read it as NULL.
    AddColumn {
        path: PondPath,
        column: FieldRef,
        if_not_exists: bool,
    },
    /// Replaces ranges of a table's live versions by compacted chunks.
    /// `base` is the version number of the table's newest base when the
    /// chunks were written; if it changed since, the chunks are stale.
    Compact {
        path: PondPath,
        base: i64,
        chunks: Vec<CompactedChunk>,
    },
    /// Replaces the live versions `first..=last` of a table by `content`,
    /// their rows as corrected (DELETE, UPDATE, upsert; `None`: no rows
    /// left). `after` is the table's newest version when the rows were
    /// read: a version since that is not an append (OPTIMIZE, another
    /// correction, an overwrite) makes the correction stale.
    Rewrite {
        path: PondPath,
        after: i64,
        first: i64,
        last: i64,
        content: Option<Content>,
    },
    /// Chooses the table's event-time column (`None`: no time column).
    SetTimeColumn {
        path: PondPath,
        column: Option<String>,
    },
    /// CREATE MATERIALIZED VIEW: the node, its first output and refresh state.
    CreateMaterializedView {
        path: PondPath,
        query: String,
        schema: SchemaRef,
        time_column: Option<String>,
        output: ViewOutput,
        mode: CreateMode,
    },
    /// REFRESH: a materialized view's new output and what it consumed, in
    /// one version, so that they commit together. `after` is the view's
    /// version the refresh started from: if another refresh committed
    /// since, this one is stale (re-applying it would add its rows twice).
    RefreshView {
        path: PondPath,
        output: ViewOutput,
        after: i64,
    },
}

/// What one refresh of a materialized view writes.
#[derive(Clone, Debug)]
pub(crate) struct ViewOutput {
    pub content: Option<Content>,
    /// Where the content goes among the view's rows.
    pub placement: Placement,
    pub state: Arc<StoredQuery>,
    /// Ingestion: the host files whose rows `content` holds.
    pub ingested: Vec<IngestedFile>,
    /// The view's columns from now on, when this output changes them (a
    /// collected series seen for the first time adds a nullable column).
    pub schema: Option<SchemaRef>,
}

/// How a refresh's content joins a materialized view's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Added to them (new buckets, new files).
    Append,
    /// Instead of all of them (a new base).
    Replace,
    /// Instead of the live versions in this range (buckets that changed,
    /// with the rest of those versions' rows): a `rewrite` version.
    Rewrite([i64; 2]),
}
