//! SQL over the pond: the session that runs each statement as one
//! transaction (session.rs), and one module per kind of statement or check.

pub(crate) mod bulk_ingest;
mod copy_chart;
mod copy_target;
mod ddl;
mod export;
mod incremental;
mod ingest;
mod insert;
mod literals;
mod maintenance;
mod names;
mod output;
pub(crate) mod params;
pub(crate) mod parser;
mod references;
mod refresh;
pub(crate) mod rollups;
pub(crate) mod script;
pub(crate) mod session;
mod time_literals;
mod update;
mod upsert;
