//! The values a [`PondSession`](super::session::PondSession) takes and
//! gives: its options, a statement's output or streamed reply, a prepared
//! statement's description, a failed script statement.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::SendableRecordBatchStream;

use crate::catalog::host_access::HostAccess;
use crate::catalog::SessionPond;
use crate::storage::{Kind, PondPath, Resolved};

/// How a session may reach outside the pond, and whether it may write.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Which host files it reads as tables (`SELECT * FROM 'data.csv'`) and
    /// writes with `COPY … TO`: all for the local CLI; none for remote
    /// sessions unless the operator allows a directory.
    pub host_access: HostAccess,
    /// Memory for DataFusion's operators that buffer (sort, join, aggregate);
    /// past it they spill to disk or fail. Sessions given the same pool share
    /// its bound (the server's). `None`: unbounded.
    pub memory_pool: Option<Arc<dyn MemoryPool>>,
    /// Refuse every write (a `read` user of `pondsql serve`, `--read-only`).
    pub read_only: bool,
    /// Refuse API sources (`hydrovu_readings()` …), which fetch with this
    /// process's credentials: remote sessions unless the operator allows them.
    pub no_api_sources: bool,
}

impl SessionOptions {
    /// A pool of `bytes` for [`SessionOptions::memory_pool`]; its errors name
    /// the five largest consumers (as DataFusion's `--memory-limit` does).
    pub fn bounded_pool(bytes: usize) -> Arc<dyn MemoryPool> {
        Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(bytes),
            NonZeroUsize::new(5).expect("5 is not zero"),
        ))
    }
}

/// What a prepared statement returns and takes ([`PondSession::describe`]).
#[derive(Debug)]
pub struct Described {
    pub dataset: SchemaRef,
    /// `$1…$n`; `None` where the statement does not decide the type.
    pub parameters: Vec<Option<DataType>>,
}

/// What a statement returns: rows to stream, or a finished command's output.
pub enum Reply {
    /// A query's rows, computed as the stream is read. Its statement has
    /// already ended: a query stages nothing.
    Rows(SendableRecordBatchStream),
    Done(Output),
}

/// What one statement produced.
#[derive(Debug)]
pub struct Output {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The pond transaction it committed, if it committed one.
    pub txn: Option<i64>,
    /// Set when the rows say the statement failed (CHECK found problems):
    /// shown after them, and a script stops there with exit code 1.
    pub failure: Option<String>,
}

impl Output {
    pub(super) fn empty() -> Self {
        Output {
            schema: Arc::new(Schema::empty()),
            batches: Vec::new(),
            txn: None,
            failure: None,
        }
    }

    pub(super) fn of(batch: RecordBatch) -> Self {
        Output {
            schema: batch.schema(),
            batches: vec![batch],
            txn: None,
            failure: None,
        }
    }

    /// True for statements that return rows (queries), false for commands.
    pub fn has_rows(&self) -> bool {
        !self.schema.fields().is_empty()
    }
}

/// A statement of a script that failed: which one, where, and why.
#[derive(Debug, thiserror::Error)]
#[error("statement at line {line} failed: {message}\n  {text}")]
pub struct ScriptError {
    pub line: u64,
    pub text: String,
    pub message: String,
    /// What kind of failure, where known (a local statement's).
    pub kind: Option<crate::error::ErrorKind>,
}

/// One node of the tree a session sees ([`PondSession::tree`]).
#[derive(Clone, Debug)]
pub struct TreeEntry {
    pub path: PondPath,
    pub kind: Kind,
    /// The columns of a table or view.
    pub schema: Option<SchemaRef>,
}

/// A live handle on a session's tree: [`Tree::entries`] lists it as the
/// session's statements see it now (their open block included).
#[derive(Clone)]
pub struct Tree(pub(crate) Arc<SessionPond>);

impl Tree {
    /// Every node below the root, sorted by path.
    pub fn entries(&self) -> Vec<TreeEntry> {
        let view = self.0.view();
        let Some(root) = view.resolve(&PondPath::root()) else {
            return Vec::new();
        };
        view.walk(&root).into_iter().map(TreeEntry::of).collect()
    }

    /// The node at `path`, if there is one.
    pub fn get(&self, path: &PondPath) -> Option<TreeEntry> {
        self.0.view().resolve(path).map(TreeEntry::of)
    }
}

impl TreeEntry {
    fn of(node: Resolved) -> Self {
        TreeEntry {
            kind: node.kind(),
            schema: node.latest.attrs.schema.clone(),
            path: node.path,
        }
    }
}
