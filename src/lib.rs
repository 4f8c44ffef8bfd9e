//! pondsql: a SQL-first "very small data lake" for environmental timeseries.
//!
//! A pond is a versioned tree of directories, tables and views kept in one
//! Delta Lake table (the oplog) and exposed to Apache DataFusion as the
//! catalog `pond`. Start with [`PondSession`].

pub mod catalog;
pub mod cli;
pub mod demo;
pub mod progress;
pub mod sql;
pub mod storage;
pub mod udf;

pub use sql::session::PondSession;
pub use storage::Pond;
