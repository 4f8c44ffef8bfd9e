//! The pond on disk: the oplog Delta table, node ids and versions, the index
//! of the tree, transactions and the content store.
//!
//! Owns every byte under the pond root. Knows nothing of SQL or DataFusion
//! plans; the catalog and the SQL layer reach storage only through [`Pond`],
//! [`View`] and [`Change`].

pub mod compaction;
pub mod content;
pub mod delta_log;
pub mod durable;
pub mod error;
pub mod event_time;
pub mod glob;
pub mod index;
pub mod metrics;
pub mod node;
pub mod oplog;
pub mod path;
pub mod pond;
pub mod txn;
pub mod vacuum;

pub use error::StorageError;
pub use glob::{GlobMatch, PathGlob};
pub use index::{Resolved, View};
pub use metrics::ReadMetrics;
pub use node::{Kind, NodeId, NodeVersion};
pub use path::PondPath;
pub use pond::Pond;
pub use txn::{Change, CompactedChunk, Content, CreateMode, ViewOutput};
