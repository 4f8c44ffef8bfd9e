//! SQL over the pond: statement splitting, pond-specific statements, and the
//! session that runs each statement as one transaction.

mod copy_target;
pub(crate) mod error;
mod exact_cast;
mod ingest;
mod insert;
mod literals;
mod maintenance;
pub(crate) mod parser;
mod references;
mod refresh;
pub(crate) mod session;

pub(crate) use error::user_message;
