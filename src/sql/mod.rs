//! SQL over the pond: statement splitting, pond-specific statements, and the
//! session that runs each statement as one transaction.

mod copy_target;
pub mod error;
mod ingest;
mod maintenance;
pub mod parser;
mod references;
mod refresh;
pub mod session;

pub use error::user_message;
