//! The pond on disk: the oplog Delta table, node ids and versions, the index
//! of the tree, transactions and the content store.
//!
//! Owns every byte under the pond root. Knows nothing of SQL or DataFusion
//! plans. The catalog and the SQL layer read through [`View`] (and
//! [`content`] for table contents), write by staging [`Change`]s that
//! [`Pond::commit`] lands, and see the oplog's encoding only to show it
//! (`pond.system.oplog`). The Delta log, durability and vacuum rules stay
//! in here.

pub(crate) mod backup;
mod change;
pub(crate) mod check;
pub(crate) mod committer;
pub(crate) mod compaction;
pub(crate) mod content;
mod content_writer;
pub(crate) mod delta_log;
pub(crate) mod durable;
pub(crate) mod error;
pub(crate) mod event_time;
pub(crate) mod glob;
pub(crate) mod grace;
pub(crate) mod index;
pub(crate) mod local_listing;
pub(crate) mod location;
pub(crate) mod metrics;
pub(crate) mod node;
pub(crate) mod oplog;
pub(crate) mod path;
pub(crate) mod pond;
pub(crate) mod transfer;
pub(crate) mod txn;
pub(crate) mod vacuum;

pub use error::StorageError;
pub(crate) use glob::{GlobMatch, PathGlob};
pub(crate) use index::{Resolved, View};
pub(crate) use metrics::Metrics;
pub use node::Kind;
pub(crate) use node::{NodeId, NodeVersion};
pub use path::PondPath;
pub use pond::Pond;
pub(crate) use txn::{Change, CompactedChunk, Content, CreateMode, Placement, ViewOutput};
