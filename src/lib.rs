//! pondsql: a SQL-first "very small data lake" for environmental timeseries.
//!
//! A pond is a versioned tree of directories, tables and views kept in one
//! Delta Lake table (the oplog) and exposed to Apache DataFusion as the
//! catalog `pond`. Start with [`PondSession`]: every write goes through its
//! statements, one statement (or `BEGIN … COMMIT`) one atomic commit.
//! [`Pond`] is the storage beneath, for opening, repairing and vacuuming.
#![warn(unreachable_pub)]

mod catalog;
pub mod chart;
pub mod cli;
mod demo;
pub mod flight;
mod progress;
pub mod site;
mod sources;
mod sql;
mod storage;
mod udf;

pub use catalog::host_access::HostAccess;
pub use sql::error::user_message;
pub use sql::session::{Output, PondSession, Reply, ScriptError, SessionOptions};
pub use storage::local_listing::LocalListing;
pub use storage::vacuum::{vacuum, Orphan, IN_FLIGHT_GRACE};
pub use storage::{Pond, StorageError};

/// The stack of every thread that parses, plans or runs a statement (the
/// CLI's, the runtime's workers, planning helpers). A statement's expression
/// may nest thousands deep; the walks over it (sqlparser's
/// derived Clone, Drop and Visit, pondsql's checks) recurse once per level.
/// Reserved address space; only the pages a statement touches are used.
pub(crate) const STATEMENT_STACK_BYTES: usize = 256 * 1024 * 1024;

/// The multi-threaded runtime statements run on, with workers of
/// [`STATEMENT_STACK_BYTES`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STATEMENT_STACK_BYTES)
        .build()
}

/// Chooses rustls's crypto backend before any TLS or HTTP client is made
/// (deltalake and tonic link in two; with both and none chosen, clients
/// fail to build); idempotent.
pub(crate) fn choose_tls_backend() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
