//! The one integration test binary (every extra binary links DataFusion again).

mod bad_input;
mod charts;
mod cli;
mod cli_modes;
mod common;
mod compressed;
mod concurrency;
mod crash;
mod export;
mod faults;
mod flight;
mod fuzz;
mod hydrovu;
mod library_api;
mod object_store;
mod pruning;
mod repl;
mod site;
mod slt;
mod storage_format;
mod stored_queries;
mod tour;
mod vacuum;
