//! pondsql: a SQL-first "very small data lake" for environmental timeseries.
//!
//! A pond is a versioned tree of directories, tables and views kept in one
//! Delta Lake table (the oplog) and exposed to Apache DataFusion as the
//! catalog `pond`. Start with [`PondSession`]: every write goes through its
//! statements, one statement (or `BEGIN … COMMIT`) one atomic commit.
//! [`Pond`] is the storage beneath, for opening, repairing and vacuuming.
#![warn(unreachable_pub)]

mod catalog;
mod chart;
pub mod cli;
mod demo;
mod error;
mod flight;
mod progress;
mod runtime;
mod site;
mod sources;
mod sql;
mod storage;
mod tls;
mod udf;
mod values;

pub use catalog::host_access::HostAccess;
pub use catalog::{system::SYSTEM_SCHEMA, CATALOG};
pub use error::{error_kind, user_message, Error, ErrorKind};
pub use progress::Progress;
pub use runtime::runtime;
pub use sql::bulk_ingest::IngestMode;
pub use sql::params::Parameterised;
pub use sql::parser::Statement;
pub use sql::rollups::{RawLevel, RollupLevel, Rollups};
pub use sql::script::ScriptStatement;
pub use sql::session::{
    Described, Output, PondSession, Reply, ScriptError, SessionOptions, Tree, TreeEntry,
};
pub use storage::backup::RestoreReport;
pub use storage::grace::IN_FLIGHT_GRACE;
pub use storage::local_listing::LocalListing;
pub use storage::transfer::Moved;
pub use storage::vacuum::{vacuum, Orphan};
pub use storage::{Kind, Pond, PondPath, StorageError};
